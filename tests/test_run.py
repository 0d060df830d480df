"""The ensemble runner: file contents, summary, resume and extension equal an uninterrupted run,
and resuming with a card that changes the chain is refused."""

import json

import numpy as np
import pytest
from cards import small_card, write_card
from click.testing import CliRunner

from lqcd_hmc.cli import main
from lqcd_hmc.config import CardError, validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import RunError, run_card
from observables import gamma_method


def ensemble_contents(path):
    """Everything in an ensemble that the Markov chain determines (not timings)."""
    ens = Ensemble(path)
    out = {
        "configs": {t: ens.config(t)[0] for t in ens.trajectories()},
        "checkpoint": ens.checkpoint(),
    }
    mc = ens.table("mc")
    out["mc"] = {k: v for k, v in mc.items() if k != "seconds"}
    out["meas"] = {n: ens.table(f"measurements/{n}") for n in ens.measurement_names()}
    return out


def assert_same_chain(a, b):
    A, B = ensemble_contents(a), ensemble_contents(b)
    assert A["configs"].keys() == B["configs"].keys()
    for t in A["configs"]:
        assert np.array_equal(A["configs"][t], B["configs"][t]), t
    assert A["checkpoint"].trajectory == B["checkpoint"].trajectory
    assert np.array_equal(A["checkpoint"].links, B["checkpoint"].links)
    assert np.array_equal(A["checkpoint"].rng, B["checkpoint"].rng)
    for part in ("mc", "meas"):
        assert A[part].keys() == B[part].keys()
    for k in A["mc"]:
        assert np.array_equal(A["mc"][k], B["mc"][k]), k
    for n in A["meas"]:
        for k in A["meas"][n]:
            assert np.array_equal(A["meas"][n][k], B["meas"][n][k]), (n, k)


def test_run_writes_what_the_card_asks(tmp_path):
    out = tmp_path / "e.h5"
    summary = run_card(validate(small_card(out)), quiet=True)
    ens = Ensemble(out)
    # production trajectories 5..16, configs every 3rd: 7, 10, 13, 16
    assert ens.trajectories() == [7, 10, 13, 16]
    mc = ens.table("mc")
    assert mc["trajectory"].tolist() == list(range(1, 17))
    assert mc["dH"].shape == (16, 2) and mc["metropolis"].tolist() == [False] * 2 + [True] * 14
    assert mc["accepted"][:2].all()
    wl = ens.table("measurements/wilson_loops")
    assert wl["trajectory"].tolist() == [6, 8, 10, 12, 14, 16] and wl["W"].shape == (6, 2, 2, 2)
    pl = ens.table("measurements/plaquette")
    assert np.allclose(pl["plaquette"], mc["plaquette"][4:])
    links, attrs = ens.config(16)
    assert np.allclose(attrs["plaquette"], mc["plaquette"][-1])
    cp = ens.checkpoint()
    assert cp.trajectory == 16 and np.array_equal(cp.links, links)
    a = ens.attrs
    assert a["format"] == "lqcd-hmc ensemble" and a["package_version"] and "[action]" in a["card"]
    # the summary is the Gamma-method analysis of the stored production plaquettes
    g = gamma_method(mc["plaquette"][4:].T)
    assert summary.plaquette == pytest.approx(g.mean) and summary.trajectories == 12
    assert summary.plaquette_error == pytest.approx(g.error)
    assert summary.acceptance == pytest.approx(mc["accepted"][4:].mean())


@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_resume_and_extend_equal_one_run(tmp_path, dtype):
    lat = {"dtype": dtype}
    straight = tmp_path / "straight.h5"
    run_card(validate(small_card(straight, lattice=lat, run={"trajectories": 20})), quiet=True)
    pieces = tmp_path / "pieces.h5"
    run_card(validate(small_card(pieces, lattice=lat, run={"trajectories": 7})), quiet=True)
    # resuming a finished run with nothing to do changes nothing
    run_card(
        validate(small_card(pieces, lattice=lat, run={"trajectories": 7})), resume=True, quiet=True
    )
    run_card(
        validate(small_card(pieces, lattice=lat, run={"trajectories": 20})), resume=True, quiet=True
    )
    assert_same_chain(straight, pieces)
    assert Ensemble(pieces).config(10)[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "section,change,key",
    [
        ("action", {"beta": 2.1}, "action.beta"),
        ("lattice", {"seed": 6}, "lattice.seed"),
        ("update", {"steps": 7}, "update.steps"),
        ("run", {"thermalisation": 5}, "run.thermalisation"),
    ],
)
def test_resume_with_incompatible_card_refused(tmp_path, section, change, key):
    out = tmp_path / "e.h5"
    run_card(validate(small_card(out, run={"trajectories": 3})), quiet=True)
    before = out.read_bytes()
    with pytest.raises(RunError, match=f"changes {key}"):
        run_card(validate(small_card(out, **{section: change})), resume=True, quiet=True)
    assert out.read_bytes() == before


def test_cli_run_json_and_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    card = write_card(tmp_path / "c.toml", small_card("e.h5"))
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(card),
            "--set",
            "run.trajectories=6",
            "--set",
            "lattice.dims=[4,4]",
            "--json",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["trajectories"] == 6 and s["chains"] == 2 and 0 < s["plaquette"] < 1
    assert "run.trajectories = 6" not in Ensemble("e.h5").attrs["card"]
    assert "trajectories = 6" in Ensemble("e.h5").attrs["card"]


def test_set_levels_replaces_the_cards_integrator(tmp_path):
    """``--set update.levels=[...]`` on a card with ``integrator`` and ``steps``: the levels
    replace them (``--set`` cannot delete keys); the stored card holds the levels only."""
    from lqcd_hmc.config import load_card

    card = write_card(tmp_path / "c.toml", small_card(tmp_path / "e.h5"))
    c = load_card(card, ["update.levels=[{ steps = 4 }]"])
    assert c.update.md_levels == [("omelyan2", 4)]
    assert "integrator" not in c.to_dict()["update"] and "steps" not in c.to_dict()["update"]
    with pytest.raises(CardError, match="update.steps goes in update.levels"):
        load_card(card, ["update.levels=[{ steps = 4 }]", "update.steps=3"])


def test_plain_log_lines_off_terminal(tmp_path):
    import io

    log = io.StringIO()
    run_card(validate(small_card(tmp_path / "e.h5")), log=log)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and all(l.startswith("lqcd-hmc: trajectory") for l in lines)


def test_progress_bar_on_request(tmp_path):
    import io

    log = io.StringIO()
    run_card(
        validate(small_card(tmp_path / "e.h5", run={"trajectories": 3})), progress=True, log=log
    )
    assert "7/7" in log.getvalue() and "traj" in log.getvalue()


def test_example_cards_are_valid():
    from pathlib import Path

    from lqcd_hmc.config import load_card
    from lqcd_hmc.offline import load_spec
    from lqcd_hmc.run import Runner

    examples = Path(__file__).parent.parent / "examples"
    cards = sorted(
        p
        for p in examples.glob("*.toml")
        if p.name != "measure.toml" and not p.name.startswith(("fp_data", "compare_", "lcnn_train"))
    )
    assert len(cards) >= 4
    for p in cards:
        Runner(load_card(p))  # builds action, update and measurements
    assert load_spec(examples / "measure.toml").measure[0].name == "wilson_loops"


def test_segments_are_read_packed_and_cleaned(tmp_path, monkeypatch):
    """Checkpoints are segments beside the file; readers see them, the end of the run packs
    them; stale segments (a pack killed after its rename) are ignored and cleaned, and a gap
    between segments is an error."""
    from lqcd_hmc.io import FormatError

    straight = tmp_path / "s.h5"
    run_card(validate(small_card(straight, run={"checkpoint_interval": 4})), quiet=True)
    assert not (tmp_path / "s.h5.segments").exists()

    unpacked = tmp_path / "u.h5"
    with monkeypatch.context() as m:  # killed just before the final pack
        m.setattr(Ensemble, "pack", lambda self: None)
        run_card(validate(small_card(unpacked, run={"checkpoint_interval": 4})), quiet=True)
    segs = sorted(p.name for p in (tmp_path / "u.h5.segments").iterdir())
    assert segs == [
        "00000001-00000004.h5",
        "00000005-00000008.h5",
        "00000009-00000012.h5",
        "00000013-00000016.h5",
    ]
    assert_same_chain(straight, unpacked)  # read through the segments
    Ensemble(unpacked).pack()
    assert not (tmp_path / "u.h5.segments").exists()
    assert_same_chain(straight, unpacked)

    seg = tmp_path / "s.h5.segments"
    seg.mkdir()
    for name in segs[:2]:
        (seg / name).write_bytes(b"stale")
    ens = Ensemble(straight)
    assert ens.segments == [] and len(ens.table("mc")["trajectory"]) == 16
    ens.clean()
    assert not list(seg.iterdir())
    (seg / "00000030-00000031.h5").write_bytes(b"x")
    with pytest.raises(FormatError, match="a segment is missing"):
        Ensemble(straight)


@pytest.mark.parametrize(
    "update", ["heatbath", {"algorithm": "hmc+heatbath", "steps": 4, "overrelaxation": 1}]
)
def test_heatbath_and_mixed_runs(tmp_path, update):
    card = small_card(tmp_path / "h.h5", run={"thermalisation_md": 0, "trajectories": 6})
    card["update"] = update
    s = run_card(validate(card), quiet=True)
    mc = Ensemble(tmp_path / "h.h5").table("mc")
    assert mc["trajectory"].tolist() == list(range(1, 11))
    assert ("dH" in mc) == (update != "heatbath")
    assert (s.acceptance is None) == (update == "heatbath")
    assert "n/a" in s.table() if update == "heatbath" else "n/a" not in s.table()
    # resume works for the heatbath too (its random numbers are part of the checkpoint)
    straight = tmp_path / "s.h5"
    card["run"]["output"] = str(straight)
    card["run"]["trajectories"] = 12
    run_card(validate(card), quiet=True)
    card["run"]["output"] = str(tmp_path / "h.h5")
    run_card(validate(card), resume=True, quiet=True)
    assert_same_chain(straight, tmp_path / "h.h5")


def test_split_kernels_run_the_same_chain(tmp_path):
    """``update.kernels = "split"`` (card) gives the reference run's chain: the same
    accept/reject decisions, configurations and plaquettes to 1e-12; a bad value is refused
    with one line naming the key."""
    ref = small_card(tmp_path / "r.h5")
    fast = small_card(tmp_path / "s.h5")
    fast["update"]["kernels"] = "split"
    for c in (ref, fast):
        run_card(validate(c), quiet=True)
    A, B = ensemble_contents(tmp_path / "r.h5"), ensemble_contents(tmp_path / "s.h5")
    assert np.array_equal(A["mc"]["accepted"], B["mc"]["accepted"])
    assert np.abs(A["mc"]["dH"] - B["mc"]["dH"]).max() < 1e-9
    for t in A["configs"]:
        assert np.abs(A["configs"][t] - B["configs"][t]).max() < 1e-12
    pa, pb = (x["meas"]["plaquette"]["plaquette"] for x in (A, B))
    assert np.abs(pa - pb).max() < 1e-12
    bad = small_card(tmp_path / "b.h5")
    bad["update"]["kernels"] = "triton"
    with pytest.raises(ValueError, match="update.kernels"):
        validate(bad)


def test_resume_refuses_another_random_stream_version(tmp_path):
    """A file whose chains drew from another version of the random streams (here: marked as
    version 1, the 24-bit uniforms) is not continued: one line, the file untouched."""
    import h5py

    path = tmp_path / "old.h5"
    card = validate(small_card(path))
    run_card(card, quiet=True)
    with h5py.File(path, "r+") as f:
        f.attrs["rng_streams"] = 1
    before = path.read_bytes()
    more = validate(small_card(path, run={"trajectories": 20}))
    with pytest.raises(RunError, match="random streams version 1, this version of lqcd-hmc draws"):
        run_card(more, resume=True, quiet=True)
    assert path.read_bytes() == before


def test_complete_ensemble_of_another_device_is_reused_not_continued(tmp_path):
    """An ensemble made on another device (here: marked as made on a GPU) is reused as it is
    when complete; continuing it is refused in one line, the file untouched."""
    import h5py

    from lqcd_hmc.run import card_change, ensure_ensemble, stored_card

    path = tmp_path / "gpu.h5"
    card = validate(small_card(path))
    run_card(card, quiet=True)
    with h5py.File(path, "r+") as f:
        f.attrs["device"] = "cuda"  # what a run with lattice.device = "cuda" stores
        f.attrs["card"] = f.attrs["card"].replace('device = "cpu"', 'device = "cuda"')
    assert 'device = "cuda"' in Ensemble(path).attrs["card"]
    # its own card names the same chain, also where CUDA is not available (records.save)
    assert card_change(Ensemble(path), stored_card(Ensemble(path))) is None
    before = path.read_bytes()
    assert ensure_ensemble(card, quiet=True) is False
    more = validate(small_card(path, run={"trajectories": 20}))
    with pytest.raises(RunError, match=r"changes lattice\.device \('cuda' in the file"):
        ensure_ensemble(more, quiet=True)
    with pytest.raises(RunError, match="another card"):
        ensure_ensemble(validate(small_card(path, action={"beta": 2.1})), quiet=True)
    assert path.read_bytes() == before


def test_complete_ensemble_of_another_integrator_is_reused_not_continued(tmp_path):
    """HMC samples the same distribution whatever its molecular dynamics: an ensemble made
    with omelyan2 x 6 is reused as it is by a card that integrates on levels; continuing it
    with those levels is refused in one line, the file untouched."""
    from lqcd_hmc.run import ensure_ensemble

    path = tmp_path / "md.h5"
    run_card(validate(small_card(path)), quiet=True)
    before = path.read_bytes()

    def leveled(**changes) -> dict:
        card = small_card(path, **changes)
        del card["update"]["integrator"], card["update"]["steps"]
        card["update"]["levels"] = [{"integrator": "leapfrog", "steps": 9}]
        return card

    assert ensure_ensemble(validate(leveled()), quiet=True) is False
    with pytest.raises(RunError, match=r"changes update\."):
        ensure_ensemble(validate(leveled(run={"trajectories": 20})), quiet=True)
    assert path.read_bytes() == before


def test_md_levels_bench_on_a_sum_action(tmp_path, capsys):
    """``python -m bench.md_levels``: one trajectory per spec from an ensemble's checkpoint,
    with the forces of each level that :func:`forces_per_trajectory` counts."""
    from bench import md_levels

    path = tmp_path / "sum.h5"
    terms = [{"name": "wilson", "beta": 1.2}, {"name": "wilson", "beta": 0.8}]
    card = small_card(path)
    card["action"] = {"name": "sum", "terms": terms}
    run_card(validate(card), quiet=True)
    capsys.readouterr()
    md_levels.main([str(path), "4", "2/2", "--seeds", "1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[4:]]
    assert [r[:2] for r in rows] == [["4", "9"], ["2/2", "5+17"]]
    assert all(float(x) < 1 for r in rows for x in r[2:4])  # |dH| of two chains
    # other actions on the same configuration and momenta: the same sum as one Wilson term
    # has the same dH; its seconds are relative to the first action's
    md_levels.main(
        [str(path), "4", "--seeds", "1"]
        + [
            "--action",
            '{name = "sum", terms = [{name = "wilson", beta = 1.2}, '
            '{name = "wilson", beta = 0.8}]}',
            "--action",
            '{name = "wilson", beta = 2.0}',
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert [line.startswith("action {") for line in out].count(True) == 2
    one, two = out[4].split(), out[8].split()
    assert one[:2] == two[:2] == ["4", "9"]
    assert float(one[2]) == pytest.approx(float(two[2]), rel=1e-8)
    with pytest.raises(SystemExit):
        md_levels.main([str(path), "4", "--action", "name = wilson"])
