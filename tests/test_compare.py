"""``lqcd-hmc compare`` and ``lqcd-hmc tune-beta`` on a tiny SU(2) 4^4 study: end to end, the
second call reuses every ensemble untouched, the numbers equal ``analyze``'s, ratios carry
correlated errors, the continuum line goes through two points; bad study cards; the tuning
fit against an exactly linear ln s and its error against resampling."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.cli import main
from lqcd_hmc.config import dump_card
from workflows.study.card import load_study
from workflows.study.continuum import extrapolate
from workflows.study.tune import TunePoint, solve

STUDY = """
[study]
output = "{out}"
{extra_study}
[classical]
L = 16
modes = [1, 2, 3]
[lattice]
dims = [4, 4, 4, 4]
group = "SU(2)"
batch = 4
seed = 11
start = "hot"
[update]
algorithm = "hmc"
integrator = "omelyan2"
steps = 5
[run]
thermalisation = 6
trajectories = 12
save_interval = 12
checkpoint_interval = 6
[[measure]]
name = "gradient_flow"
interval = 2
epsilon = 0.1
t_max = 1.5
spacing = 0.1
topology = true
[[measure]]
name = "wilson_loops"
interval = 2
r_max = 2
t_max = 3
shapes = [[1, 1], [2, 1], [2, 2]]
[[action]]
name = "wilson"
betas = [2.0, 2.2]
[[action]]
name = "symanzik"
label = "LW"
betas = [1.7, 1.9]
{extra_action}
"""


def write_study(path, out, extra_study="", extra_action=""):
    path.write_text(
        STUDY.format(out=out.as_posix(), extra_study=extra_study, extra_action=extra_action)
    )
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    # a plateau set by hand (on 4^4 the automatic test cannot find one): r0 and sigma defined
    card = write_study(d / "study.toml", d / "out", "plateau = 1")
    res = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert res.exit_code == 0, res.output
    return card, json.loads(res.output)


def test_compare_writes_report_results_and_plots(study):
    card, res = study
    out = card.parent / "out"
    assert (out / "report.md").exists() and json.loads((out / "results.json").read_text())
    assert set(res["actions"]) == {"wilson", "LW"}
    assert all(e["generated"] for entries in res["actions"].values() for e in entries)
    report = (out / "report.md").read_text()
    for title in (
        "sqrt(t0)/r0",
        "w0/sqrt(t0)",
        "t0^2 chi_t",
        "Classical artifacts",
        "Continuum limit",
    ):
        assert title in report
    assert (out / "plots" / "plane_waves.png").exists()
    assert (out / "plots" / "sqrt_t0_over_r0.png").exists()


def test_second_call_reuses_every_ensemble(study):
    card, first = study
    paths = [e["ensemble"] for entries in first["actions"].values() for e in entries]
    before = {p: (open(p, "rb").read(), __import__("os").stat(p).st_mtime_ns) for p in paths}
    res = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.output)
    assert not any(e["generated"] for entries in again["actions"].values() for e in entries)
    for p in paths:
        assert (open(p, "rb").read(), __import__("os").stat(p).st_mtime_ns) == before[p]
    assert again["actions"] == first["actions"] | {
        k: [dict(e, generated=False) for e in v] for k, v in first["actions"].items()
    }


def test_numbers_equal_those_of_analyze(study):
    _, res = study
    checked = 0
    for entries in res["actions"].values():
        for e in entries:
            a = analyze_ensemble(e["ensemble"], plateau=1)["measurements"]
            q = e["quantities"]
            pairs = [
                ("t0", a["gradient_flow"]["clover"]["t0"]),
                ("w0", a["gradient_flow"]["clover"]["w0"]),
                ("chi_t", a["gradient_flow"]["topology_improved"]["chi_t"]),
            ]
            if "potential" in a["wilson_loops"] and "r0" in a["wilson_loops"]["potential"]:
                pairs += [
                    ("r0", a["wilson_loops"]["potential"]["r0"]),
                    ("sigma", a["wilson_loops"]["potential"]["sigma"]),
                ]
            for key, ref in pairs:
                for part in ("value", "error"):
                    x, y = q[key][part], ref[part]
                    y = None if y is not None and math.isnan(y) else y
                    if x is None or y is None:
                        assert x is None and y is None
                        continue
                    assert x == pytest.approx(y, rel=1e-9, abs=1e-14), (key, part)
                    checked += 1
            t0 = q["t0"]["value"]
            if t0 is not None and q["w0"]["value"] is not None:
                assert q["w0_over_sqrt_t0"]["value"] == pytest.approx(
                    q["w0"]["value"] / math.sqrt(t0), rel=1e-12
                )
                assert q["a2_over_t0"]["value"] == pytest.approx(1 / t0, rel=1e-12)
    assert checked >= 12


def test_ratio_errors_are_correlated(study):
    """w0 and t0 come from the same flow, so the error of R = w0/sqrt(t0) carries their
    correlation: with relative errors a (w0) and b (sqrt(t0)), sigma_R^2 = R^2 (a^2 + b^2 -
    2 rho a b). The rho this implies must be clearly positive: an analysis that ignored the
    correlation would give rho = 0 to rounding. (It may exceed 1 somewhat: each of the three
    Gamma-method errors has its own summation window.)"""
    _, res = study
    seen = 0
    for entries in res["actions"].values():
        for e in entries:
            q = e["quantities"]
            if None in (q["w0"]["value"], q["t0"]["value"], q["w0_over_sqrt_t0"]["error"]):
                continue
            a = q["w0"]["error"] / q["w0"]["value"]
            b = 0.5 * q["t0"]["error"] / q["t0"]["value"]
            r = q["w0_over_sqrt_t0"]["error"] / q["w0_over_sqrt_t0"]["value"]
            rho = (a * a + b * b - r * r) / (2 * a * b)
            assert rho > 0.1, rho
            seen += 1
    assert seen >= 1


def test_continuum_line_through_two_points(study):
    _, res = study
    entries = res["actions"]["wilson"]
    pts = [
        (e["quantities"]["a2_over_t0"]["value"], e["quantities"]["w0_over_sqrt_t0"]["value"])
        for e in entries
    ]
    fit = res["continuum"]["wilson"]["w0_over_sqrt_t0"]
    if any(v is None for p in pts for v in p):
        assert fit is None
        return
    (x1, y1), (x2, y2) = pts
    assert fit["value"] == pytest.approx(y1 - x1 * (y2 - y1) / (x2 - x1), rel=1e-9)


def test_extrapolation_recovers_a_known_line():
    x = np.array([0.1, 0.2, 0.3, 0.4])
    y = 1.5 - 0.7 * x
    fit = extrapolate(x, y, np.full(4, 0.01))
    assert fit["value"] == pytest.approx(1.5) and fit["slope"] == pytest.approx(-0.7)
    assert fit["chi2_dof"] == pytest.approx(0.0, abs=1e-20)
    # error of the intercept of a weighted line fit: sigma^2 sum x^2 / (n sum x^2 - (sum x)^2)
    assert fit["error"] == pytest.approx(
        0.01 * math.sqrt((x**2).sum() / (4 * (x**2).sum() - x.sum() ** 2))
    )
    assert extrapolate([0.1], [1.0], [0.1]) is None


def test_tune_beta_reuses_the_study_ensembles(study, tmp_path):
    """tune-beta with the card of the Wilson ensembles, their betas and directory: no new
    run, the target between the two t0 values, beta* between the betas."""
    card, res = study
    entries = res["actions"]["wilson"]
    t0 = [e["quantities"]["t0"]["value"] for e in entries]
    assert None not in t0 and t0[0] < t0[1]
    sc = load_study(card)
    run_card = sc.ensemble_card(sc.action[0], 2.0, 0, tmp_path / "unused.h5")
    (tmp_path / "wilson.toml").write_text(dump_card(run_card))
    before = [open(e["ensemble"], "rb").read() for e in entries]
    target = math.sqrt(t0[0] * t0[1])
    out = CliRunner().invoke(
        main,
        [
            "tune-beta",
            "--action",
            str(tmp_path / "wilson.toml"),
            "--target",
            f"t0={target}",
            "--betas",
            "2.0,2.2",
            "--directory",
            str(card.parent / "out" / "ensembles"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    r = json.loads(out.output)
    assert r["bracketed"] and 2.0 < r["beta"] < 2.2 and r["error"] > 0
    assert before == [open(e["ensemble"], "rb").read() for e in entries]
    assert [p["value"] for p in r["points"]] == pytest.approx(t0, rel=1e-12)
    # geometric mean of the two t0: the middle of the betas (ln t0 linear in beta)
    assert r["beta"] == pytest.approx(2.1, abs=1e-9)


def test_tuning_fit_and_its_error():
    """Exactly linear ln s: beta* is exact; the delta-method error matches resampling."""
    rng = np.random.default_rng(5)
    betas, c0, c1 = [5.8, 5.9, 6.0], -13.0, 2.4
    true = [math.exp(c0 + c1 * b) for b in betas]
    pts = [TunePoint(b, s, 0.01 * s, "") for b, s in zip(betas, true)]
    target = math.exp(c0 + c1 * 5.93)
    beta, err = solve(pts, target)
    assert beta == pytest.approx(5.93, abs=1e-12)
    samples = [
        solve(
            [
                TunePoint(b, s * math.exp(0.01 * rng.standard_normal()), 0.01 * s, "")
                for b, s in zip(betas, true)
            ],
            target,
        )[0]
        for _ in range(2000)
    ]
    assert err == pytest.approx(np.std(samples), rel=0.1)


def test_tuning_fit_falls_back_to_every_point():
    """Noise can turn the slope of the three runs nearest the target negative (it did on 10^4
    with 3 flow measurements per run); then every run is fitted, and with two runs it is an
    error."""
    pts = [TunePoint(b, s, 0.02 * s, "") for b, s in [(5.6, 0.9), (5.7, 1.1), (5.75, 1.05)]]
    pts.append(TunePoint(5.8, 1.02, 0.0204, ""))
    beta, _ = solve(pts, 1.05)
    b = np.array([p.beta for p in pts])
    c1, c0 = np.polyfit(b, np.log([p.value for p in pts]), 1)  # equal relative errors
    assert beta == pytest.approx((math.log(1.05) - c0) / c1, rel=1e-12)
    with pytest.raises(ValueError, match="does not grow with beta"):
        solve(pts[2:], 1.05)


@pytest.mark.parametrize(
    "extra_study,extra_action,message",
    [
        ("", '[[action]]\nname = "iwasaki"\nbetas = [2.0]', "betas has 1 entries for 2 spacings"),
        ('ratios = ["nope"]', "", "unknown ratio 'nope'"),
        ("", '[[action]]\nname = "nonesuch"\nbetas = [1.0, 2.0]', "unknown action 'nonesuch'"),
        ("", '[[action]]\nname = "wilson"\nbetas = [1.0, 2.0]', "two actions are labelled"),
        ("", '[[action]]\nname = "iwasaki"\nbeta = 2.0\nbetas = [1.0, 2.0]', "not beta"),
        ('continuum = ["nope"]', "", "study.continuum: no action is labelled 'nope'"),
        ("wilson_flow = true", "", 'wilson_flow = true needs flow = "action"'),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nflow = { epsilon = 0.01 }',
            'flow needs study.flow = "action"',
        ),
        ("literature = { nope = [1.0, 0.1] }", "", "unknown ratio 'nope'"),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nrun = { output = "x.h5" }',
            "run.output is named by the study",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nlattice = { dims = [4, 4] }',
            "the lattice dims are the same for every action",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1, 0]\nbetas = [1.0, 2.0]',
            "spacings must be distinct increasing indices 0..1, got [1, 0]",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [2]\nbetas = [1.0]',
            "spacings must be distinct increasing indices 0..1, got [2]",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [1.0, 2.0]',
            "betas has 2 entries for 1 spacings",
        ),
        ("flow_t_max = [1.5]", "", "study.flow_t_max has 1 entries for 2 spacings"),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [1.0]\nstarts = { 0 = "a.h5" }',
            "starts names spacing 0, which it does not run at ([1])",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nskip = { 2 = 4 }',
            "skip names spacing 2, which it does not run at ([0, 1])",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nstarts = { 1 = "b.h5" }\n'
            'lattice = { start = "cold" }',
            "give starts or lattice.start, not both",
        ),
        ("flow_t_max = [1.5, -1.0]", "", "greater than 0"),
    ],
)
def test_bad_study_cards_are_one_line_errors(tmp_path, extra_study, extra_action, message):
    card = write_study(tmp_path / "s.toml", tmp_path / "out", extra_study, extra_action)
    res = CliRunner().invoke(main, ["compare", str(card)])
    assert res.exit_code == 1 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option,message",
    [
        (["--only", "Iwasaki"], "--only 'Iwasaki': the card's actions are wilson, LW"),
        (["--spacing", "2"], "--spacing 2: the card has spacings 0..1"),
    ],
)
def test_bad_study_selections(tmp_path, option, message):
    card = write_study(tmp_path / "s.toml", tmp_path / "out")
    res = CliRunner().invoke(main, ["compare", str(card), *option])
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bad_tune_targets(tmp_path, study):
    card, _ = study
    sc = load_study(card)
    (tmp_path / "c.toml").write_text(
        dump_card(sc.ensemble_card(sc.action[0], 2.0, 0, tmp_path / "x.h5"))
    )
    for target, message in [
        ("t1=2", "unknown target 't1'"),
        ("t0=abc", "expected t0=VALUE"),
        ("t0=-1", "must be positive"),
    ]:
        res = CliRunner().invoke(
            main,
            [
                "tune-beta",
                "--action",
                str(tmp_path / "c.toml"),
                "--target",
                target,
                "--directory",
                str(tmp_path),
            ],
        )
        assert res.exit_code == 1 and message in res.output, res.output


def test_example_study_cards_are_valid():
    """Every example study card builds every action (the FP actions from the shipped model
    and its fp-param fit); the CPU and GPU cards hold the six actions with both flows, the
    CPU card the continuum anchors at three spacings and the others at the two coarse ones."""
    from pathlib import Path

    examples = Path(__file__).parent.parent / "examples"
    laptop = load_study(examples / "compare_su3_laptop.toml")
    assert laptop.spacings == 2 and laptop.match is not None
    for name, spacings in (("cpu", 3), ("gpu", 3)):
        card = load_study(examples / f"compare_su3_{name}.toml")
        assert card.spacings == spacings and card.study.wilson_flow
        assert [a.name for a in card.action] == [
            "wilson",
            "symanzik",
            "iwasaki",
            "dbw2",
            "fp-param",
            "lcnn",
        ]
    cpu = load_study(examples / "compare_su3_cpu.toml")
    assert [cpu.action_spacings(a) for a in cpu.action] == [[0, 1, 2]] * 2 + [[0, 1]] * 4


def test_an_actions_flow_options_stay_with_its_own_flow():
    """Iwasaki's adaptive steps go into its own flow only; its Wilson flow keeps the card's
    fixed steps, and Wilson's ensembles are flowed once, with the card's steps."""
    from pathlib import Path

    card = load_study(Path(__file__).parent.parent / "examples" / "compare_su3_cpu.toml")
    by_name = {a.name: a for a in card.action}

    def flows(name: str) -> dict:
        run = card.ensemble_card(by_name[name], 2.3, 0, Path("x.h5")).to_dict()
        return {m.get("table", m["name"]): m for m in run["measure"] if "flow" in m}

    iwasaki = flows("iwasaki")
    own, wilson = iwasaki["gradient_flow"], iwasaki["gradient_flow_wilson"]
    assert own["flow"]["name"] == "iwasaki" and own["adaptive"] and own["tolerance"] == 1e-5
    assert wilson["flow"] == "wilson" and not wilson.get("adaptive") and wilson["epsilon"] == 0.1
    (only,) = flows("wilson").values()
    assert only["flow"]["name"] == "wilson" and not only.get("adaptive")


def test_tuning_iterates_extrapolates_and_bisects(monkeypatch, tmp_path):
    """The tuning loop with the runs replaced by t0 = exp(c0 + c1 beta), undefined (NaN)
    above beta = 6.05: it walks out to bracket the target, bisects away from undefined betas,
    and returns the exact root; every run is one new beta."""
    from lqcd_hmc.config import validate
    from workflows.study import tune

    c0, c1 = -13.0, 2.4
    runs = {}

    def fake_run(card, **_):
        runs[card.run.output] = card.action_config()["beta"]
        return True

    def fake_scale(path, observable):
        b = runs[str(path)]
        return (
            (math.exp(c0 + c1 * b), 0.01 * math.exp(c0 + c1 * b))
            if b < 6.05
            else (math.nan, math.nan)
        )

    monkeypatch.setattr(tune, "ensure_ensemble", fake_run)
    monkeypatch.setattr(tune, "measure_scale", fake_scale)
    card = validate(
        {
            "lattice": {"dims": [4, 4, 4, 4]},
            "action": {"name": "wilson", "beta": 5.7},
            "run": {"trajectories": 2, "output": "x.h5"},
            "measure": [{"name": "gradient_flow"}],
        }
    )
    target = math.exp(c0 + c1 * 5.95)
    r = tune.tune_beta(card, "t0", target, tmp_path, step=0.05, max_runs=6)
    assert r.bracketed and r.beta == pytest.approx(5.95, abs=1e-9)
    assert len(runs) == len(set(runs.values())) <= 6
    # starting on both sides of the undefined edge: the bisection brings in a defined beta
    runs.clear()
    r = tune.tune_beta(card, "t0", target, tmp_path, betas=[5.9, 6.1], max_runs=4)
    assert r.bracketed and r.beta == pytest.approx(5.95, abs=1e-9)
    assert sorted(runs.values()) == [5.9, 6.0, 6.1]
    with pytest.raises(tune.TuneError, match="undefined at every beta"):
        tune.tune_beta(card, "t0", target, tmp_path, betas=[6.1, 6.2])
    # defined below the target's beta, undefined above it: a step down, no bisection upward
    # (on 12^4 the first guess 5.88 gave t0/a^2 above the target and 5.94 none)
    runs.clear()
    low = math.exp(c0 + c1 * 5.85)
    r = tune.tune_beta(card, "t0", low, tmp_path, betas=[5.9, 6.1], step=0.06, max_runs=4)
    assert r.bracketed and r.beta == pytest.approx(5.85, abs=1e-9)
    assert sorted(runs.values()) == [5.84, 5.9, 6.1]


def test_flow_with_each_action(tmp_path):
    """``flow = "action"``: every ensemble's gradient flow is its own action's (for a
    fixed-point action the classically perfect flow)."""
    card = write_study(tmp_path / "s.toml", tmp_path / "out", 'flow = "action"')
    sc = load_study(card)
    for a in sc.action:
        c = sc.ensemble_card(a, 1.5, 0, tmp_path / "x.h5")
        flow = next(m for m in c.measure_configs() if m["name"] == "gradient_flow")["flow"]
        assert flow == {"name": a.name, "beta": 1.5}
    # an action's own flow options (a stiffer flow needs shorter steps)
    sc.action[1].flow = {"epsilon": 0.01}
    m = sc.ensemble_card(sc.action[1], 1.5, 0, tmp_path / "x.h5").measure_configs()[0]
    assert m["epsilon"] == 0.01 and m["flow"] == {"name": "symanzik", "beta": 1.5}


def test_actions_run_at_their_own_spacings(monkeypatch, tmp_path):
    """An action with ``spacings = [1]`` has one ensemble, at spacing 1 from its one beta and
    its one stored start, and ``--spacing 0`` leaves it out; ``study.flow_t_max`` sets each
    spacing's flow length, and a card whose flow it would set needs a gradient flow."""
    from workflows.study import compare

    card = write_study(
        tmp_path / "s.toml",
        tmp_path / "out",
        "dims = [[4, 4, 4, 4], [6, 6, 6, 6]]\nflow_t_max = [1.5, 2.5]",
        '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [2.3]\nstarts = { 1 = "w.h5" }',
    )
    sc = load_study(card)
    calls = []

    def fake(card, action, i, beta, out, run_options):
        run = card.ensemble_card(action, beta, i, out / "x.h5")
        (flow,) = [m for m in run.measure_configs() if m["name"] == "gradient_flow"]
        start = run.lattice.start if isinstance(run.lattice.start, str) else run.lattice.start.file
        calls.append((action.title, i, beta, run.lattice.dims, flow["t_max"], start))
        entry = {"beta": beta, "dims": run.lattice.dims, "mc": None, "update": {}, "tuning": None}
        return {**entry, "ensemble": "x.h5", "generated": False, "quantities": {}}

    monkeypatch.setattr(compare, "_ensemble", fake)
    compare.run_study(sc, only=["iwasaki", "LW"])
    assert calls == [
        ("LW", 0, 1.7, [4, 4, 4, 4], 1.5, "hot"),
        ("LW", 1, 1.9, [6, 6, 6, 6], 2.5, "hot"),
        ("iwasaki", 1, 2.3, [6, 6, 6, 6], 2.5, "w.h5"),
    ]
    calls.clear()
    res = compare.run_study(sc, only=["iwasaki"], spacings=[0])
    assert calls == [] and res["actions"] == {"iwasaki": []}
    text = card.read_text().replace('name = "gradient_flow"', 'name = "plaquette"')
    (tmp_path / "t.toml").write_text(text)
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "t.toml")])
    assert res.exit_code == 1 and "flow_t_max needs a gradient_flow measurement" in res.output


def test_skip_leaves_production_out_of_the_analysis(study, tmp_path, monkeypatch):
    """``skip = { spacing = n }``: the analysis starts n production trajectories later; the
    quantities are those of the ensemble's tables cut at that trajectory (checked against a
    table reader that cuts them), and the Monte Carlo summary counts the kept trajectories."""
    import shutil

    from lqcd_hmc.io import Ensemble
    from workflows.study.ratios import ensemble_quantities

    card, res = study
    path = res["actions"]["wilson"][0]["ensemble"]
    full = ensemble_quantities(path)
    assert ensemble_quantities(path, after=6) == full  # thermalisation 6: nothing cut
    cut = ensemble_quantities(path, after=12)
    assert cut["t0"]["value"] != full["t0"]["value"]
    table = Ensemble.table

    def cut_table(self, group):
        t = table(self, group)
        return {k: v[t["trajectory"] > 12] for k, v in t.items()} if "trajectory" in t else t

    monkeypatch.setattr(Ensemble, "table", cut_table)
    assert ensemble_quantities(path) == cut
    monkeypatch.undo()
    shutil.copytree(card.parent / "out", tmp_path / "out")
    text = card.read_text().replace(str(card.parent / "out"), str(tmp_path / "out"))
    (tmp_path / "s.toml").write_text(
        text.replace("betas = [2.0, 2.2]", "betas = [2.0, 2.2]\nskip = { 0 = 6 }")
    )
    out = CliRunner().invoke(
        main, ["compare", str(tmp_path / "s.toml"), "--only", "wilson", "--json"]
    )
    assert out.exit_code == 0, out.output
    first, second = json.loads(out.output)["actions"]["wilson"]
    assert not first["generated"] and first["skip"] == 6 and first["mc"]["trajectories"] == 6
    assert first["quantities"]["t0"] == cut["t0"] and second["mc"]["trajectories"] == 12


def test_a_run_named_by_a_beta_is_reused_at_its_stored_beta(tmp_path):
    """A first guess plus a step (5.85 + 0.06 = 5.909999999999999) names the file of an
    earlier run at 5.91: the tuner takes that run's stored beta instead of refusing the file
    as made from another card."""
    from cards import small_card

    from lqcd_hmc.config import validate
    from lqcd_hmc.run import ensure_ensemble
    from workflows.study.tune import ensemble_path, stored_beta

    beta = 5.85 + 0.06
    assert beta != 5.91
    path = ensemble_path(tmp_path, "w", 5.91, [4, 4])
    assert path == ensemble_path(tmp_path, "w", beta, [4, 4]) and stored_beta(path, beta) == beta
    card = small_card(path, action={"beta": 5.91}, run={"trajectories": 2})
    ensure_ensemble(validate(card), quiet=True)
    before = path.read_bytes()
    assert stored_beta(path, beta) == 5.91
    card["action"]["beta"] = stored_beta(path, beta)
    assert not ensure_ensemble(validate(card), quiet=True) and path.read_bytes() == before


def test_t0_drift_flags_a_production_that_is_not_stationary(study, monkeypatch):
    """``t0_drift``: t0 of the second half of the production against the first, in units of
    their combined error. The study's ensembles (stationary after thermalisation, up to noise)
    stay within 3; the same measurements with the flow energy of the second half raised by 30 %
    (a field that keeps roughening, as the cold-started FP ensemble did) fall far below -3."""
    from lqcd_hmc.io import Ensemble
    from workflows.study.compare import t0_drift
    from workflows.study.ratios import ensemble_quantities

    card, res = study
    entry = res["actions"]["wilson"][0]
    path, last = entry["ensemble"], Ensemble(entry["ensemble"]).checkpoint_trajectory()
    assert ensemble_quantities(path, after=6, until=last) == ensemble_quantities(path)
    calm = t0_drift(path, 6, last)
    assert calm is not None and abs(calm) < 3 and entry["t0_drift"] == calm
    table = Ensemble.table

    def rougher(self, group):
        t = table(self, group)
        if group == "measurements/gradient_flow":
            late = t["trajectory"] > 12
            t["E_clover"] = t["E_clover"] * np.where(late, 1.3, 1.0)[:, None, None]
        return t

    monkeypatch.setattr(Ensemble, "table", rougher)
    assert t0_drift(path, 6, last) < -3
    report = (card.parent / "out" / "report.md").read_text()
    assert "t0 drift [sigma]" in report and f"{calm:+.1f}" in report
