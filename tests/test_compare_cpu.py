"""The six-action SU(3) study card ``examples/compare_su3_cpu.toml`` shrunk to seconds (4^4, one
chain, a few updates, no tuning) and run in two calls sharing the study (``--only``, then every
action; both ``--spacing 0``): each ensemble flowed with its own action and with the Wilson flow,
the Monte Carlo table, the report; the common continuum estimate and the deviations from it
against exact lines (two spacings end to end: ``tests/test_compare.py``)."""

import json
import math
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.cli import main
from lqcd_hmc.config import read_toml
from lqcd_hmc.io import Ensemble
from workflows.study.card import load_study
from workflows.study.compare import estimate
from workflows.study.continuum import joint

# the study card run twice in its fixture (about a minute on one core): CI's slow stage
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parent.parent / "examples"
FP = ("FP (parametrised)", "FP (rectangles)", "FP (L-CNN)")


def shrunk_card(tmp: Path) -> Path:
    tree = read_toml(EXAMPLES / "compare_su3_cpu.toml", "study card")
    del tree["match"]
    n = len(tree["study"]["dims"])
    tree["study"].update(
        output=str(tmp / "out"),
        records=str(tmp / "records"),
        dims=[[4, 4, 4, 4]] * n,
        flow_t_max=[0.3] * n,
    )
    tree["lattice"]["batch"] = 1
    tree["run"].update(thermalisation=1, trajectories=4, save_interval=4, checkpoint_interval=2)
    for m in tree["measure"]:
        m["interval"] = 2
    tree["measure"][0].update(t_max=0.3, spacing=0.1)
    tree["measure"][1].update(r_max=2, t_max=2)
    for a in tree["action"]:
        if a["name"] == "fp-param":
            a["file"] = str(EXAMPLES.parent / a["file"])
        if "levels" in a.get("update", {}):
            a["update"]["levels"] = [{"steps": 1}, {"steps": 1}]
        elif "update" in a:
            a["update"]["steps"] = 2
        if "update" in a:
            a["run"] = {"thermalisation_md": 1}
    path = tmp / "study.toml"
    path.write_text(tomli_w.dumps(tree))
    return path


@pytest.fixture(scope="module")
def cpu_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cpu")
    card = shrunk_card(tmp)
    run = CliRunner().invoke(
        main,
        ["compare", str(card), "--spacing", "0", "--json"]
        + ["--only", "Wilson"]
        + [x for label in FP for x in ("--only", label)],
    )
    assert run.exit_code == 0, run.output
    first = json.loads(run.output)
    run = CliRunner().invoke(main, ["compare", str(card), "--spacing", "0", "--json"])
    assert run.exit_code == 0, run.output
    return card, first, json.loads(run.output)


def test_a_partial_call_runs_its_ensembles_alone(cpu_study):
    """The FP call (with Wilson, whose ensemble starts `fp-param`'s chains) alone, then every
    action: the first call's ensembles are reused, the chains of both `fp-param` fits started
    from the last configuration of Wilson's ensemble and the L-CNN's from the rectangle fit's
    (the card's ``starts``), and every ensemble has its record."""
    card_path, first, res = cpu_study
    assert list(first["actions"]) == ["Wilson", *FP]
    assert all(len(v) == 1 for v in first["actions"].values())
    assert set(res["actions"]) == {a.title for a in load_study(card_path).action}
    assert all(len(v) == 1 for v in res["actions"].values())
    generated = {k: v[0]["generated"] for k, v in res["actions"].items()}
    assert not any(generated.pop(k) for k in first["actions"])
    assert all(generated.values())
    for label, source in ((FP[0], "Wilson"), (FP[1], "Wilson"), (FP[2], FP[1])):
        card = tomllib.loads(Ensemble(res["actions"][label][0]["ensemble"]).attrs["card"])
        assert card["lattice"]["start"] == {"file": res["actions"][source][0]["ensemble"]}
    records = Path(load_study(card_path).study.records or "")
    assert sorted(p.name for p in (records / "ensembles").glob("*.h5")) == sorted(
        Path(v[0]["ensemble"]).name for v in res["actions"].values()
    )


def test_every_ensemble_has_its_own_flow_and_the_wilson_flow(cpu_study):
    _, _, res = cpu_study
    for label, entries in res["actions"].items():
        for e in entries:
            with h5py.File(e["ensemble"]) as f:
                schemas = {k: json.loads(g.attrs["schema"]) for k, g in f["measurements"].items()}
            own = schemas["gradient_flow"]["flow"]
            name = own if isinstance(own, str) else own["name"]
            if label == "Wilson":
                assert name == "wilson" and "gradient_flow_wilson" not in schemas
                assert e["gradient_flow_wilson"] == e["quantities"]
            else:
                assert name != "wilson" and own["beta"] == e["beta"]
                assert schemas["gradient_flow_wilson"]["flow"] == "wilson"
                assert schemas["gradient_flow_wilson"]["name"] == "gradient_flow"
                assert set(e["gradient_flow_wilson"]) == set(e["quantities"])


def test_analyze_knows_a_table_by_its_measurement(cpu_study):
    """``gradient_flow_wilson`` is analysed as a gradient flow (t0, w0 of both forms)."""
    _, _, res = cpu_study
    path = res["actions"][FP[0]][0]["ensemble"]
    out = analyze_ensemble(path)["measurements"]
    assert set(out["gradient_flow_wilson"]) >= {"clover", "plaquette"}
    assert set(out["gradient_flow_wilson"]["clover"]) == set(out["gradient_flow"]["clover"])


def test_monte_carlo_table_and_report(cpu_study):
    """The HMC figures, the L-CNN's on two time scales (the network's term on the outer level,
    3 forces in a trajectory, the preconditioner 2 x 2 + 1 on the inner one)."""
    card, _, res = cpu_study
    for label in FP[:2]:
        up = res["actions"][label][0]["update"]
        assert up == {
            "algorithm": "hmc",
            "integrator": "omelyan2 x 2",
            "step_size": 0.5,
            "forces": 5,
            "forces_inner": [],
        }
    assert res["actions"][FP[2]][0]["update"] == {
        "algorithm": "hmc",
        "integrator": "omelyan2 x 1 / omelyan2 x 1",
        "step_size": 1.0,
        "forces": 3,
        "forces_inner": [5],
    }
    assert res["actions"]["Wilson"][0]["update"] == {"algorithm": "heatbath"}
    report = (Path(res["output"]) / "report.md").read_text()
    assert "## Monte Carlo" in report and "s / Wilson's" in report
    rows = [r for r in report.splitlines() if r.startswith("| FP (rectangles) | 4x4x4x4 | hmc")]
    assert len(rows) == 1 and "| 0.5 |" in rows[0] and "| 5 |" in rows[0]
    rows = [r for r in report.splitlines() if r.startswith("| FP (L-CNN) | 4x4x4x4 | hmc")]
    assert len(rows) == 1 and "omelyan2 x 1 / omelyan2 x 1 | 1 |" in rows[0]
    assert "| 3 + 5 |" in rows[0]
    assert "w0/sqrt(t0), Wilson flow" in report and "sqrt(t_0.2/t0), own flow" in report
    assert "Literature (infinite volume): 1.0195(87)." in report


def test_joint_continuum_estimate_recovers_exact_lines():
    """Two actions on lines with a common limit 1.02 and slopes 0.3, -0.1: the joint fit
    returns them exactly; a third line's deviation at x is its slope x / 1.02."""
    x = [0.4, 0.64, 1.0]
    series = {
        "a": (x, [1.02 + 0.3 * v for v in x], [0.01] * 3),
        "b": (x[:2], [1.02 - 0.1 * v for v in x[:2]], [0.02] * 2),
    }
    fit = joint(series)
    assert fit["value"] == pytest.approx(1.02, abs=1e-12) and fit["points"] == 5
    assert fit["slopes"]["a"][0] == pytest.approx(0.3) and fit["slopes"]["b"][0] == pytest.approx(
        -0.1
    )
    assert fit["chi2_dof"] == pytest.approx(0, abs=1e-20)
    # the error of the common limit: weighted least squares by hand (one series)
    one = joint({"a": series["a"]})
    X = [[1, v] for v in x]
    cov = np.linalg.inv(np.array(X).T @ np.array(X) / 0.01**2)
    assert one["error"] == pytest.approx(math.sqrt(cov[0, 0]))
    assert joint({"a": ([0.5], [1.0], [0.1])}) is None


def test_deviations_from_the_estimate(tmp_path):
    card = load_study(shrunk_card(tmp_path))
    card.study.ratios = ["w0_over_sqrt_t0"]

    def entry(x, y):
        q = {"a2_over_t0": {"value": x}, "w0_over_sqrt_t0": {"value": y, "error": 0.001}}
        return {"quantities": q}

    acts = {
        "Wilson": [entry(1.0, 1.02 - 0.05), entry(0.64, 1.02 - 0.032)],
        "tree-level Symanzik": [entry(1.0, 1.02 + 0.01), entry(0.64, 1.02 + 0.0064)],
        "FP (L-CNN)": [entry(1.0, 1.02 * 1.003)],
    }
    est = estimate(card, acts)["w0_over_sqrt_t0"]
    assert est["value"] == pytest.approx(1.02)
    d = est["deviations"]["FP (L-CNN)"][0]["quantities"]
    assert d["value"] == pytest.approx(0.003) and d["a2_over_t0"] == 1.0
    assert d["error"] == pytest.approx(math.hypot(0.001 / 1.02, 1.003 * est["error"] / 1.02))
    assert "gradient_flow_wilson" not in est["deviations"]["Wilson"][0]


def test_summary_at_the_coarsest_spacing(tmp_path):
    """The report's coarsest-spacing section: the first spacing's ensembles only, ordered by
    the size of their deviation with their own flow, and per flow the smallest deviation and
    the actions within 1 % (central value) and within 1 % by two standard errors."""
    from workflows.study.ratios import ACTION_ENERGY, OWN, WILSON_FLOW
    from workflows.study.report import coarsest_summary

    card = load_study(shrunk_card(tmp_path))
    card.study.ratios = ["w0_over_sqrt_t0"]
    coarse, fine = card.dims(0), [6, 6, 6, 6]
    card.study.dims = [coarse, fine, fine]

    def dev(own, wilson, energy=None):
        return {
            OWN: {"value": own[0], "error": own[1]},
            WILSON_FLOW: {"value": wilson, "error": 0.002},
        } | ({ACTION_ENERGY: {"value": energy[0], "error": energy[1]}} if energy else {})

    actions = {
        "Wilson": [{"dims": coarse}, {"dims": fine}],
        "DBW2": [{"dims": coarse}],
        "FP (L-CNN)": [{"dims": coarse}],
        "FP (rectangles)": [{"dims": coarse}],
    }
    deviations = {
        "Wilson": [dev((0.18, 0.03), -0.06), dev((0.001, 0.001), 0.0)],  # the fine one: ignored
        "DBW2": [dev((-0.098, 0.009), -0.11)],
        "FP (L-CNN)": [dev((0.006, 0.001), -0.03, (0.007, 0.010))],  # the card's stored E
        "FP (rectangles)": [dev((0.001, 0.011), -0.033)],
    }
    result = {
        "ratios": ["w0_over_sqrt_t0"],
        "actions": actions,
        "estimate": {"w0_over_sqrt_t0": {"deviations": deviations}},
    }
    lines = coarsest_summary(card, result)
    assert lines[:2] == ["## At the coarsest spacing", ""]
    rows = [line for line in lines if line.startswith("| ") and "action" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == [
        "FP (rectangles)",
        "FP (L-CNN)",
        "DBW2",
        "Wilson",
    ]
    assert rows[1] == "| FP (L-CNN) | 0.60(10) | -3.00(20) | 0.7(10) |"
    assert rows[0].endswith("| n/a |")  # no own E where none was at hand
    own = next(line for line in lines if line.startswith("- own flow"))
    assert own == (
        "- own flow: smallest FP (rectangles) (0.1(11) %); within 1 %: FP (rectangles), "
        "FP (L-CNN); of these within 1 % by two standard errors: FP (L-CNN)."
    )
    wilson = next(line for line in lines if line.startswith("- Wilson flow"))
    assert wilson.startswith("- Wilson flow: smallest FP (L-CNN) (-3.00(20) %); within 1 %: none")
    energy = next(line for line in lines if line.startswith("- own flow, action's E"))
    assert energy.startswith(
        "- own flow, action's E (stored configurations): smallest FP (L-CNN) (0.7(10) %); "
        "within 1 %: FP (L-CNN)"
    )
    result["estimate"] = {}
    assert coarsest_summary(card, result) == []
