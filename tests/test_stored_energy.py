"""``study.action_energy = "stored"`` (:mod:`workflows.study.stored_energy`): the action's own E
from the stored configurations flowed again equals, configuration by configuration, what the
same chain measured in the run with ``action_energy = true``; the entry is the in-run clover
value plus the mean paired difference; the flows are cached per configuration under their
checksums, reused by a later call and by the records alone, and redone where a checksum
changed."""

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from study_cards import write_study

from lqcd_hmc.cli import main
from lqcd_hmc.io import Ensemble
from workflows.study import stored_energy
from workflows.study.ratios import ACTION_ENERGY

ONE = ["--only", "LW", "--spacing", "0", "--json"]  # one ensemble: tree-level Symanzik, 4^4


def _compare(tmp_path, name, energy):
    records = tmp_path / f"{name}-records"
    extra = f'flow = "action"\naction_energy = {energy}\nrecords = "{records.as_posix()}"'
    card = write_study(tmp_path / f"{name}.toml", tmp_path / name, extra)
    # six stored configurations of four chains: a jackknife of 24 curves
    card.write_text(card.read_text().replace("save_interval = 12", "save_interval = 2"))
    res = CliRunner().invoke(main, ["compare", str(card), *ONE])
    assert res.exit_code == 0, res.output
    (entry,) = json.loads(res.output)["actions"]["LW"]
    return card, records, entry


@pytest.mark.slow  # 30-50 s on one core: CI's slow stage
def test_stored_configurations_give_the_runs_own_e(tmp_path, monkeypatch):
    card, records, entry = _compare(tmp_path, "stored", '"stored"')
    _, _, measured = _compare(tmp_path, "in-run", "true")  # the same chain, E_action in run
    cache = records / "stored_energy" / f"{Ensemble(entry['ensemble']).path.name}.json"
    curves = json.loads(cache.read_text())
    assert list(curves["configs"]) == ["8", "10", "12", "14", "16", "18"]  # production
    table = Ensemble(measured["ensemble"]).table("measurements/gradient_flow")
    for t, c in curves["configs"].items():
        row = list(table["trajectory"]).index(int(t))
        for form in ("clover", "action"):
            assert np.allclose(c[form], table[f"E_{form}"][row], rtol=1e-12, atol=0)
    # the entry: in-run clover value + the difference of the mean curves' ratios (single
    # curves on 4^4 need not reach t0: the mean curve does)
    res = stored_energy.form_results(curves)
    q, clover = entry[ACTION_ENERGY], entry["quantities"]
    t_flow = np.asarray(curves["t"])
    for r in stored_energy.RATIOS:
        ratio = {
            f: stored_energy.curve_ratios(t_flow, res[f]["E"].mean(0)[None])[r][0]
            for f in ("action", "clover")
        }
        d = ratio["action"] - ratio["clover"]
        assert q[r]["value"] == pytest.approx(clover[r]["value"] + d, rel=1e-12)
        assert q[r]["error"] > clover[r]["error"] and math.isfinite(q[r]["error"])
        assert abs(d) > 1e-3  # Symanzik's own E is not the clover form
    assert q["configurations"] == 24
    report = (tmp_path / "stored" / "report.md").read_text()
    assert "own flow, action's E (stored configurations)" in report

    # a second call, and the records alone, reuse the cache: nothing is flowed again
    def refuse(*args):
        raise AssertionError("flowed again")

    monkeypatch.setattr(stored_energy, "_flowed", refuse)
    res = CliRunner().invoke(main, ["compare", str(card), *ONE])
    assert json.loads(res.output)["actions"]["LW"][0][ACTION_ENERGY] == q
    shutil.rmtree(tmp_path / "stored")
    res = CliRunner().invoke(main, ["compare", str(card), *ONE])
    assert res.exit_code == 0, res.output
    again = json.loads(res.output)["actions"]["LW"][0]
    assert Ensemble(again["ensemble"]).is_record and again[ACTION_ENERGY] == q
    # a cached configuration whose checksum is not the ensemble's is not used
    for c in curves["configs"].values():
        c["checksum"][0] += 1
    cache.write_text(json.dumps(curves))
    res = CliRunner().invoke(main, ["compare", str(card), *ONE])
    assert json.loads(res.output)["actions"]["LW"][0][ACTION_ENERGY] == {}
