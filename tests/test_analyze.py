"""``lqcd-hmc analyze`` end to end: a run card with every measurement of the observables
package, the JSON and text reports, plots, and bad input."""

import hashlib
import json
import re

import numpy as np
import pytest
from cards import write_card
from click.testing import CliRunner

from lqcd_hmc.cli import main
from lqcd_hmc.io import Ensemble
from lqcd_hmc.plotting import png_text
from lqcd_hmc.statistics import gamma_method
from observables.scales import flow_analysis


def card(output):
    return {
        "lattice": {"dims": [4, 4, 4, 4], "group": "SU(3)", "batch": 2, "seed": 3, "start": "hot"},
        "action": {"name": "wilson", "beta": 5.8},
        "update": {"algorithm": "heatbath", "overrelaxation": 1},
        "run": {
            "thermalisation": 3,
            "trajectories": 8,
            "save_interval": 4,
            "checkpoint_interval": 4,
            "output": str(output),
        },
        "measure": [
            {"name": "plaquette", "interval": 1},
            {
                "name": "wilson_loops",
                "interval": 1,
                "r_max": 2,
                "t_max": 3,
                "shapes": [[1, 1], [2, 1]],
                "smearing": {"method": "ape", "alpha": 0.5, "steps": 2},
            },
            {
                "name": "gradient_flow",
                "interval": 2,
                "t_max": 0.6,
                "spacing": 0.1,
                "epsilon": 0.05,
                "topology": True,
            },
            {"name": "topological_charge", "interval": 2, "flow_time": 0.3, "flow": "zeuthen"},
            {"name": "polyakov_correlator", "interval": 1},
        ],
    }


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    d = tmp_path_factory.mktemp("analyze")
    path = d / "e.h5"
    res = CliRunner().invoke(main, ["run", str(write_card(d / "c.toml", card(path))), "--quiet"])
    assert res.exit_code == 0, res.output
    return path


def test_analyze_json_matches_the_tables(ensemble, tmp_path):
    before = hashlib.sha256(ensemble.read_bytes()).hexdigest()
    res = CliRunner().invoke(
        main, ["analyze", str(ensemble), "--json", "--plots", str(tmp_path / "plots")]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    ens = Ensemble(ensemble)
    m = out["measurements"]
    assert set(m) == {
        "plaquette",
        "wilson_loops",
        "gradient_flow",
        "topological_charge",
        "polyakov_correlator",
    }
    plaq = ens.table("measurements/plaquette")["plaquette"]
    ref = gamma_method(plaq.T)
    assert m["plaquette"]["columns"]["plaquette"]["mean"] == pytest.approx(ref.mean, rel=1e-12)
    assert m["plaquette"]["columns"]["plaquette"]["error"] == pytest.approx(ref.error, rel=1e-9)
    flow = ens.table("measurements/gradient_flow")
    assert flow["E_clover"].shape == (4, 2, 7) and flow["Q_improved"].shape == (4, 2)
    fa = flow_analysis(flow["t"][0, 0], flow["E_clover"])
    assert m["gradient_flow"]["clover"]["E"] == pytest.approx(fa["E"], rel=1e-12)
    for key in ("t0", "w0", "sqrt_8t0"):
        assert key in m["gradient_flow"]["clover"]
    assert {"Q", "Q2", "chi_t"} <= set(m["topological_charge"]["improved"])
    pot = m["wilson_loops"]["potential"]
    assert pot["r"] == pytest.approx([1, 2, np.sqrt(2), np.sqrt(5)])
    assert {"V0", "alpha", "sigma", "r0", "r1", "creutz", "plateau"} <= set(pot)
    assert len(m["polyakov_correlator"]["potential"]["V"]) == 3
    plots = [p for r in m.values() for p in r.get("plots", [])] + out["mc_plots"]
    names = {p.split("/")[-1] for p in plots}
    assert {
        "static_potential.png",
        "flow_t2E.png",
        "topological_charge_history.png",
        "topological_charge_histogram.png",
        "plaquette_history.png",
    } <= names
    for p in plots:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        text = png_text(p)
        assert text["Title"] == "e.h5: SU(3) 4x4x4x4, wilson beta = 5.8, 2 chains", p
        assert re.search(
            r"y: .*(dimensionless|lattice units|chains|flow time)", text["Description"]
        )
        assert "nan" not in text["Comment"], p  # no internal column names like polyakov_loop.re:
        assert not re.search(r"[a-z_]+\.[a-z_]+", text["Description"]), p
    by_name = {p.split("/")[-1]: png_text(p) for p in plots}
    assert "mean " in by_name["plaquette_history.png"]["Comment"]
    assert "thermalisation" in by_name["plaquette_history.png"]["Comment"]
    assert {"E (clover)", "E (plaquette)"} <= set(by_name["flow_t2E.png"]["Comment"].split(" | "))
    assert "flow time t/a^2 = 0.6" in by_name["flow_topological_charge_history.png"]["Description"]
    fit = by_name["static_potential.png"]["Comment"]
    if pot.get("fit_undefined"):
        assert f"no fit drawn: {pot['fit_undefined']}" in fit and "Cornell" not in fit
        assert pot["r0"] == {"value": None, "error": None, "undefined": pot["fit_undefined"]}
    else:
        assert "Cornell fit, r0/a = " in fit
    assert hashlib.sha256(ensemble.read_bytes()).hexdigest() == before


def test_analyze_text_report(ensemble):
    res = CliRunner().invoke(main, ["analyze", str(ensemble), "--plateau", "1", "--r-min", "1"])
    assert res.exit_code == 0, res.output
    for label in (
        "plaquette",
        "wilson_loops.potential.r0",
        "gradient_flow.clover.t0",
        "topological_charge.improved.chi_t",
    ):
        assert label in res.output, res.output
    assert re.search(r"wilson_loops\.potential\.plateau +1\n", res.output)
    chi2 = float(re.search(r"chi2_dof +(\S+)", res.output).group(1))
    assert chi2 >= 0


def test_long_commands_report_progress(ensemble, tmp_path):
    """Off a terminal, ``measure`` logs one line per configuration and ``analyze`` one per
    measurement (on stderr); ``--quiet`` and ``--json`` silence them."""
    n = len(Ensemble(ensemble).trajectories())
    names = Ensemble(ensemble).measurement_names()
    meas = tmp_path / "m.toml"
    meas.write_text('[[measure]]\nname = "polyakov_loop"\n')
    res = CliRunner().invoke(main, ["measure", str(ensemble), "--card", str(meas), "--no-save"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.startswith("measure: configuration")]
    assert len(lines) == n and lines[-1].startswith(f"measure: configuration {n}/{n}")
    res = CliRunner().invoke(main, ["analyze", str(ensemble)])
    assert res.exit_code == 0, res.output
    logged = [x for x in res.output.splitlines() if x.startswith("analyze: ")]
    assert logged == [
        f"analyze: {name} analysed ({i + 1}/{len(names)})" for i, name in enumerate(names)
    ]
    for args in (["analyze", str(ensemble), "--quiet"], ["analyze", str(ensemble), "--json"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0 and "analyze: " not in res.output


def test_analyze_bad_input(tmp_path, ensemble):
    from lqcd_hmc.io import GaugeConfiguration, write_configuration

    for args, expect in (([tmp_path / "none.h5"], "no such file"),):
        res = CliRunner().invoke(main, ["analyze", *map(str, args)])
        assert res.exit_code == 1 and expect in res.output, res.output
    U = np.broadcast_to(np.eye(3, dtype=complex), (4, 2, 2, 2, 2, 3, 3)).copy()
    nersc = tmp_path / "c.nersc"
    write_configuration(nersc, GaugeConfiguration(U, "SU(3)"), "nersc")
    res = CliRunner().invoke(main, ["analyze", str(nersc)])
    assert res.exit_code == 1 and "needs an HDF5 ensemble" in res.output
    trunc = tmp_path / "t.h5"
    trunc.write_bytes(ensemble.read_bytes()[:3000])
    res = CliRunner().invoke(main, ["analyze", str(trunc)])
    assert (
        res.exit_code == 1
        and res.output.startswith("Error:")
        and len(res.output.strip().splitlines()) == 1
    ), res.output
    res = CliRunner().invoke(main, ["analyze", str(ensemble), "--plateau", "9"])
    assert res.exit_code == 0 and "skipped" in res.output


@pytest.mark.parametrize(
    "measure,expect",
    [
        ({"name": "gradient_flow", "t_max": 0.1, "spacing": 0.2}, "spacing <= t_max"),
        ({"name": "gradient_flow", "flow": "ricci"}, "unknown flow"),
        (
            {"name": "topological_charge", "flow_time": 1.0, "smearing": {"method": "ape"}},
            "not both",
        ),
        ({"name": "wilson_loops", "planes": "all", "shapes": [[1, 1]]}, "temporal Wilson loops"),
        ({"name": "wilson_loops", "shapes": [[1]]}, "off-axis shape"),
    ],
)
def test_bad_measurement_parameters(tmp_path, measure, expect):
    c = card(tmp_path / "x.h5")
    c["measure"] = [{"interval": 1, **measure}]
    res = CliRunner().invoke(main, ["run", str(write_card(tmp_path / "c.toml", c))])
    assert res.exit_code == 1 and expect in res.output, res.output
    assert not (tmp_path / "x.h5").exists()


def test_pyerrors_export_round_trip(tmp_path):
    """``analyze --export pyerrors``: pyerrors reads every history back (one replica per
    chain, trajectory numbers as configuration numbers) and its Gamma method gives our means
    exactly and our errors within 5 %."""
    pe = pytest.importorskip("pyerrors")
    from cards import small_card

    out = tmp_path / "e.h5"
    run = {"thermalisation": 20, "trajectories": 400, "save_interval": 400}
    cfg = small_card(out, lattice={"batch": 4}, run={**run, "checkpoint_interval": 420})
    cfg["measure"] = [
        {"name": "plaquette", "interval": 1},
        {"name": "wilson_loops", "interval": 2, "r_max": 1, "t_max": 1},
    ]
    path = write_card(tmp_path / "card.toml", cfg)
    assert CliRunner().invoke(main, ["run", str(path), "--quiet"]).exit_code == 0
    res = CliRunner().invoke(
        main, ["analyze", str(out), "--json", "--export", "pyerrors", str(tmp_path / "h.json.gz")]
    )
    assert res.exit_code == 0, res.output
    ours = json.loads(res.output.splitlines()[-1])
    obs = pe.input.json.load_json_dict(str(tmp_path / "h.json.gz"), verbose=False)
    assert set(obs) == {"plaquette", "plaquette.plaquette", "wilson_loops.W[0,0]"}
    assert obs["plaquette"].names == [f"e|c{b}" for b in range(4)]
    assert obs["wilson_loops.W[0,0]"].idl["e|c0"] == range(22, 421, 2)
    checks = [
        (obs["plaquette"], ours["mc"]["plaquette"], ours["mc"]["plaquette_error"]),
    ]
    col = ours["measurements"]["wilson_loops"]["columns"]["W"]
    checks.append((obs["wilson_loops.W[0,0]"], col["mean"][0][0], col["error"][0][0]))
    for o, mean, err in checks:
        o.gamma_method(S=1.5)
        assert o.value == pytest.approx(mean, rel=1e-12, abs=1e-15)
        assert o.dvalue == pytest.approx(err, rel=0.05)
