"""``table = "..."`` in a ``[[measure]]`` entry: one measurement taken twice with other parameters
(here two gradient flows), each into its own table, in a run and in ``lqcd-hmc measure``; the
analysis finds the measurement of a table from its stored schema; two entries in one table and a
bad table name are one-line errors."""

import json

import h5py
import numpy as np
import pytest
from cards import small_card, write_card
from click.testing import CliRunner

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.cli import main

FLOW = {"name": "gradient_flow", "interval": 2, "epsilon": 0.05, "t_max": 0.4, "spacing": 0.1}


def flows(*extra):
    return [FLOW, {**FLOW, "flow": "symanzik", "table": "flow_symanzik"}, *extra]


def run_card(tmp_path, measure=None):
    card = small_card(tmp_path / "e.h5")
    if measure is not None:
        card["measure"] = measure
    return write_card(tmp_path / "c.toml", card)


def test_a_run_measures_into_each_table(tmp_path):
    res = CliRunner().invoke(main, ["run", str(run_card(tmp_path, flows())), "--quiet"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "e.h5") as f:
        m = f["measurements"]
        assert set(m) == {"gradient_flow", "flow_symanzik"}
        schema = json.loads(m["flow_symanzik"].attrs["schema"])
        assert schema["name"] == "gradient_flow" and schema["flow"] == "symanzik"
        assert "table" not in schema
        E_w, E_s = (m[k]["E_clover"][()] for k in ("gradient_flow", "flow_symanzik"))
    # same configurations, other flows: equal at t = 0, different after
    assert np.array_equal(E_w[..., 0], E_s[..., 0]) and not np.allclose(E_w[..., -1], E_s[..., -1])
    out = analyze_ensemble(tmp_path / "e.h5")["measurements"]
    assert set(out["flow_symanzik"]) >= {"clover", "plaquette"}
    assert out["flow_symanzik"]["clover"]["t0"] != out["gradient_flow"]["clover"]["t0"]


def test_offline_measure_into_a_named_table(tmp_path):
    assert CliRunner().invoke(main, ["run", str(run_card(tmp_path)), "--quiet"]).exit_code == 0
    meas = tmp_path / "m.toml"
    meas.write_text(
        '[[measure]]\nname = "gradient_flow"\ntable = "flow_b"\nt_max = 0.2\nspacing = 0.1\n'
    )
    res = CliRunner().invoke(main, ["measure", str(tmp_path / "e.h5"), "--card", str(meas)])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "e.h5") as f:
        assert json.loads(f["measurements/flow_b"].attrs["schema"])["t_max"] == 0.2


@pytest.mark.parametrize(
    "measure,message",
    [
        ([FLOW, FLOW], "measurement table 'gradient_flow' appears twice"),
        (flows({**FLOW, "table": "flow_symanzik"}), "table 'flow_symanzik' appears twice"),
        ([{**FLOW, "table": "a/b"}], "measure.0.table: String should match pattern"),
    ],
)
def test_bad_tables(tmp_path, measure, message):
    res = CliRunner().invoke(main, ["run", str(run_card(tmp_path, measure))])
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "e.h5").exists()
