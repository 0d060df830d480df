"""``lqcd-hmc compare`` and ``lqcd-hmc tune-beta`` on a tiny SU(2) 4^4 study: end to end, the
second call reuses every ensemble untouched, the numbers equal ``analyze``'s, ratios carry
correlated errors, the continuum line goes through two points, production left out of the
analysis (``skip``) and the drift check of t0; tune-beta reuses the study's ensembles."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from study_cards import write_study

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.cli import main
from lqcd_hmc.config import dump_card
from lqcd_hmc.io import Ensemble
from workflows.study.card import load_study
from workflows.study.continuum import extrapolate


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
    # the hours of updates (each ensemble's mc seconds) and of measurements (its timing table,
    # every measurement timed), their totals under the Monte Carlo table
    entries = [e for entries in res["actions"].values() for e in entries]
    for e in entries:
        ens = Ensemble(e["ensemble"])
        seconds, timing = ens.table("mc")["seconds"], ens.table("timing")
        assert e["hours"] == {
            "tuning": 0,
            "ensemble": pytest.approx(sum(seconds) / 3600),
            "measuring": pytest.approx(sum(timing["measure_seconds"]) / 3600),
            "untimed": 0,
        }
        assert 0 < e["hours"]["measuring"] < sum(timing["seconds"]) / 3600
    total = sum(e["hours"]["ensemble"] for e in entries)
    measuring = sum(e["hours"]["measuring"] for e in entries)
    assert (
        f"Updates took {total:.1f} h in 4 ensembles and 0.0 h in 0 tuning runs, measurements "
        f"{measuring:.1f} h" in report
    )


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
    assert "| 6 x 4 (after 6 skipped) |" in (tmp_path / "out" / "report.md").read_text()


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


@pytest.mark.slow  # 30-50 s on one core: CI's slow stage
def test_action_energy_column(tmp_path):
    """``action_energy = true``: every ensemble's own flow also measures the action's own E, and
    the ratios from it are a third column (results, continuum fits, report). For Wilson, whose
    own E is the plaquette form, they equal the plaquette form's analysis; for LW they differ
    from the clover column."""
    from workflows.study.ratios import ACTION_ENERGY, ensemble_quantities

    card = write_study(
        tmp_path / "s.toml", tmp_path / "out", 'flow = "action"\naction_energy = true'
    )
    res = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for label, entries in out["actions"].items():
        for e in entries:
            q, own = e[ACTION_ENERGY], e["quantities"]
            if label == "wilson":  # after the card's 6 thermalisation trajectories
                plaq = ensemble_quantities(e["ensemble"], after=6, energy="plaquette")
                for k in ("t0", "w0", "w0_over_sqrt_t0"):
                    # E_action = E_plaquette to rounding; the errors' central differences
                    # (steps of 1e-4 standard errors) turn that into about 1e-9 relative
                    assert q[k]["value"] == pytest.approx(plaq[k]["value"], rel=1e-12)
                    assert q[k]["error"] == pytest.approx(plaq[k]["error"], rel=1e-8)
            else:
                assert q["t0"]["value"] != own["t0"]["value"]
    assert set(out[f"continuum_{ACTION_ENERGY}"]) == {"wilson", "LW"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "own flow, action's E" in report and "own flow, clover E" in report


def test_flow_observables_bench_on_a_study_ensemble(study):
    """``bench.flow_observables`` on the tiny study's Wilson ensemble: its stored
    configurations flowed again with the ensemble's own flow give the action form equal to the
    plaquette form (Wilson's own E), and the in-run clover value is the study's."""
    from bench.flow_observables import analyse

    _, res = study
    e = res["actions"]["wilson"][0]
    r = analyse(Path(e["ensemble"]))
    assert r["configurations"] == 4  # one stored production configuration of 4 chains
    for ratio in ("w0_over_sqrt_t0", "sqrt_t02_over_t0"):
        assert r["action"][ratio] == pytest.approx(r["plaquette"][ratio], rel=1e-12)
        clover = r["in_run_clover"][ratio][0]
        assert clover == pytest.approx(e["quantities"][ratio]["value"])
        d = r["in_run_plus_difference"][ratio][0] - clover
        assert d == pytest.approx(r["action_minus_clover"][ratio][0], rel=1e-12)


@pytest.mark.slow  # 30-50 s on one core: CI's slow stage
def test_two_calls_share_one_tuning(tmp_path):
    """Two identical ``compare`` calls with ``[match]`` at once: each makes one of the two first
    guesses (no tuning run is written by both, one call waits for the other's), one makes the
    production, and both finish with the report."""
    import subprocess
    import sys

    card = write_study(
        tmp_path / "s.toml",
        tmp_path / "out",
        extra_study="[match]\ntargets = [0.8, 1.0]\nstep = 0.2\ntrajectories = 30\n",
    )
    cmd = [sys.executable, "-m", "lqcd_hmc", "compare", str(card), "--only", "wilson"]
    calls = [
        subprocess.Popen(
            [*cmd, "--spacing", "0", "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    out = [p.communicate(timeout=600) for p in calls]
    assert [p.returncode for p in calls] == [0, 0], [err[-2000:] for _, err in out]
    assert all("report:" in o for o, _ in out)
    written = [
        {line.split("written to ")[1] for line in err.splitlines() if "written to" in line}
        for _, err in out
    ]
    tuning = [{p for p in w if "/tuning/" in p} for w in written]
    assert tuning[0] and tuning[1] and not tuning[0] & tuning[1]
    assert len(tuning[0] | tuning[1]) == len(list((tmp_path / "out" / "tuning").glob("*.h5")))
    production = [{p for p in w if "/ensembles/" in p} for w in written]
    assert len(production[0] | production[1]) == 1 and not production[0] & production[1]
    assert "waiting for pid" in out[0][1] + out[1][1]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["actions"]["wilson"][0]["tuning"]["bracketed"]
