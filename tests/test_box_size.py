"""``bench.box_size``: a study ensemble's card at other box sizes, with only the lattice, the
run's length and the flow measurement changed, run and analysed with each form of E."""

import pytest
from cards import small_card

from bench.box_size import box_card, main
from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import run_card
from lqcd_hmc.run.chain import stored_card

FLOW = {"name": "gradient_flow", "interval": 2, "epsilon": 0.05, "t_max": 0.5, "spacing": 0.1}


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "Wilson_b2.0_4x4.h5"
    card = small_card(path, run={"trajectories": 4, "checkpoint_interval": 4})
    card["measure"].append(FLOW)
    run_card(validate(card), quiet=True)
    return path


def test_only_the_box_the_length_and_the_flow_change(source, tmp_path):
    card = box_card(source, 6, tmp_path / "out", 1, 8, "reference")
    old = stored_card(Ensemble(source)).model_dump(exclude_none=True)
    new = card.model_dump(exclude_none=True)
    assert new["lattice"] == {**old["lattice"], "dims": [6, 6]}
    assert new["action"] == old["action"] and new["update"] == old["update"]
    assert new["run"] == {
        **old["run"],
        "trajectories": 8,
        "checkpoint_interval": 8,
        "output": str(tmp_path / "out" / "Wilson_b2.0_6x6.h5"),
    }
    (flow,) = new["measure"]
    (before,) = [m for m in old["measure"] if m["name"] == "gradient_flow"]
    changed = {"interval": 1, "kernels": "reference", "action_energy": True, "topology": False}
    assert flow == {**before, **changed}


def test_runs_every_size_and_prints_both_energies(source, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(source), "--sizes", "4,6", "--trajectories", "4", "--out", str(out)]) == 0
    for L in (4, 6):
        ens = Ensemble(out / f"Wilson_b2.0_{L}x{L}.h5")
        assert ens.attrs["dims"].tolist() == [L, L]
        table = ens.table("measurements/gradient_flow")
        assert {"E_clover", "E_action"} <= set(table)
    text = capsys.readouterr().out
    assert text.count("| w0/sqrt(t0) |") == 2 and text.count("| sqrt(t_0.2/t0) |") == 2


def test_a_missing_ensemble_is_one_line_and_status_1(tmp_path, capsys):
    assert main([str(tmp_path / "none.h5")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such ensemble" in err


def test_a_card_that_starts_from_a_file_needs_a_start_of_each_size(source, tmp_path, capsys):
    fp = tmp_path / "FP_b2.0_4x4.h5"
    card = small_card(fp, run={"trajectories": 4, "checkpoint_interval": 4})
    card["lattice"]["start"] = {"file": str(source)}
    card["measure"].append(FLOW)
    run_card(validate(card), quiet=True)
    new = box_card(fp, 6, tmp_path, 1, 8, "reference", str(tmp_path / "W_{L}x{L}.h5"))
    assert new.lattice.start.file == str(tmp_path / "W_6x6.h5")
    with pytest.raises(ValueError, match="starts from a stored configuration: give --start"):
        box_card(fp, 6, tmp_path, 1, 8, "reference")
    assert main([str(fp), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing written before the cards are valid
    assert main([str(source), "--sizes", "4,six", "--out", str(tmp_path / "out")]) == 1
    assert "invalid literal" in capsys.readouterr().err and not (tmp_path / "out").exists()
