"""The tuning of ``lqcd-hmc tune-beta``: the fit against an exactly linear ln s and its error
against resampling, the fallback to every point, the iteration (extrapolation, bisection away
from undefined runs, steps toward the target), runs reused at their stored beta, and two calls
sharing one tuning through the ensembles' locks."""

import json
import math
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from lqcd_hmc.config import validate
from lqcd_hmc.io.lock import lock_path
from lqcd_hmc.run import RunError
from workflows.study import tune
from workflows.study.tune import TunePoint, solve


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


def test_tuning_iterates_extrapolates_and_bisects(monkeypatch, tmp_path):
    """The tuning loop with the runs replaced by t0 = exp(c0 + c1 beta), undefined (NaN)
    above beta = 6.05: it walks out to bracket the target, bisects away from undefined betas,
    and returns the exact root; every run is one new beta."""
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


def test_a_run_named_by_a_beta_is_reused_at_its_stored_beta(tmp_path):
    """A first guess plus a step (5.85 + 0.06 = 5.909999999999999) names the file of an
    earlier run at 5.91: the tuner takes that run's stored beta instead of refusing the file
    as made from another card."""
    from cards import small_card

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


def test_a_run_flowed_with_its_own_action_is_reused_from_another_first_guess(tmp_path):
    """With ``flow = "action"`` every tuning run of one call flows with the action at the first
    guess's beta; a run made as the first guess of an earlier call (its flow at its own beta) is
    the same chain, since the flow does not depend on its action's beta. A flow with another
    action is another card."""
    from cards import small_card

    from lqcd_hmc.run import ensure_ensemble

    path = tmp_path / "w.h5"
    flow = {"name": "gradient_flow", "interval": 2, "t_max": 0.2, "epsilon": 0.05}
    card = small_card(path, action={"beta": 2.2}, run={"trajectories": 2})
    card["measure"] = [{**flow, "flow": {"name": "wilson", "beta": 2.2}}]
    ensure_ensemble(validate(card), quiet=True)
    before = path.read_bytes()
    card["measure"] = [{**flow, "flow": {"name": "wilson", "beta": 2.1}}]
    assert not ensure_ensemble(validate(card), quiet=True) and path.read_bytes() == before
    card["measure"] = [{**flow, "flow": {"name": "symanzik", "beta": 2.2}}]
    with pytest.raises(RunError, match="measure.0.flow.name"):
        ensure_ensemble(validate(card), quiet=True)


def _wilson_card():
    return validate(
        {
            "lattice": {"dims": [4, 4, 4, 4]},
            "action": {"name": "wilson", "beta": 5.9},
            "run": {"trajectories": 2, "output": "x.h5"},
            "measure": [{"name": "gradient_flow"}],
        }
    )


def _sleeper():
    """A live process that is not this one (the other writer)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _hold_lock(path, pid):
    """Write ``path``'s lock as held by the live process ``pid`` on this host."""
    lock_path(path).write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "command": "other", "since": "t"})
    )


def test_two_calls_share_a_tuning(monkeypatch, tmp_path, capsys):
    """A first guess that another live process is writing (its lock) is made last and waited
    for: the second of two calls makes the other guess, then takes the first call's run as
    it is once that process is gone; neither guess is made twice."""
    c0, c1 = -13.0, 2.4
    made, runs = [], {}
    other = _sleeper()
    busy = tune.ensemble_path(tmp_path, "wilson", 5.9, [4, 4, 4, 4])
    _hold_lock(busy, other.pid)

    def fake_run(card, **_):
        assert tune.live_writer(card.run.output) is None  # never while the other writes it
        made.append(card.action_config()["beta"])
        runs[card.run.output] = made[-1]
        if len(made) == 1:  # the other process ends while this one makes its guess
            other.kill()
            other.wait()
        return True

    monkeypatch.setattr(tune, "ensure_ensemble", fake_run)
    monkeypatch.setattr(tune, "measure_scale", lambda p, o: (math.exp(c0 + c1 * runs[str(p)]),) * 2)
    try:
        r = tune.tune_beta(
            _wilson_card(), "t0", math.exp(c0 + c1 * 5.93), tmp_path, step=0.05, poll=0.01
        )
    finally:
        other.kill()
        other.wait()
    assert made == [5.95, 5.9]
    assert r.bracketed and sorted(p.beta for p in r.points) == [5.9, 5.95]
    # both busy: the order stays, and the wait names the writer
    first, second = (_sleeper() for _ in range(2))
    for beta, proc in [(6.1, first), (6.15, second)]:
        _hold_lock(tune.ensemble_path(tmp_path, "wilson", beta, [4, 4, 4, 4]), proc.pid)
    made.clear()

    def end_both(card, **_):
        made.append(card.action_config()["beta"])
        runs[card.run.output] = made[-1]
        second.kill()
        second.wait()
        return True

    monkeypatch.setattr(tune, "ensure_ensemble", end_both)
    threading.Timer(0.3, lambda: (first.kill(), first.wait())).start()
    try:
        tune.tune_beta(
            _wilson_card(),
            "t0",
            math.exp(c0 + c1 * 6.12),
            tmp_path,
            betas=[6.1, 6.15],
            poll=0.01,
            max_runs=2,
        )
    finally:
        for p in (first, second):
            p.kill()
            p.wait()
    assert made == [6.1, 6.15]
    assert f"waiting for pid {first.pid}" in capsys.readouterr().err


def test_a_run_whose_lock_another_call_took_first_is_waited_for(monkeypatch, tmp_path):
    """Two calls that check a guess at the same moment: the one refused by the other's lock
    waits for it and then takes its run; a refusal with no live writer is an error."""
    other = _sleeper()
    calls = []

    def refused_once(card, **_):
        calls.append(card.action_config()["beta"])
        if len(calls) == 1:
            _hold_lock(card.run.output, other.pid)  # the other call took it just now
            threading.Timer(0.2, lambda: (other.kill(), other.wait())).start()
            raise RunError("is being written by pid ...")
        return True

    monkeypatch.setattr(tune, "ensure_ensemble", refused_once)
    path = tune.ensemble_path(tmp_path, "wilson", 5.9, [4, 4, 4, 4])
    try:
        tune.ensure_shared(tune.card_at(_wilson_card(), 5.9, path), 0.01, quiet=True)
    finally:
        other.kill()
        other.wait()
    assert calls == [5.9, 5.9]

    def refused(card, **_):
        raise RunError("exists without its ensemble file")

    monkeypatch.setattr(tune, "ensure_ensemble", refused)
    with pytest.raises(RunError, match="without its ensemble"):
        tune.ensure_shared(tune.card_at(_wilson_card(), 5.9, path), 0.01, quiet=True)


def test_a_complete_first_guess_aims_the_second(monkeypatch, tmp_path):
    """A first guess whose run is complete before the second is made sends the second toward
    the target (here below it, although the step is +0.05), so two runs bracket it; where the
    first is not complete, or a run of the card's second guess exists, the second guess is the
    card's, and here a third run is needed."""
    c0, c1 = -13.0, 2.4
    runs = {}
    first = tune.ensemble_path(tmp_path, "wilson", 5.9, [4, 4, 4, 4])

    def fake_run(card, **_):
        runs[card.run.output] = card.action_config()["beta"]
        return True

    monkeypatch.setattr(tune, "ensure_ensemble", fake_run)
    monkeypatch.setattr(
        tune, "measure_scale", lambda p, o: (math.exp(c0 + c1 * runs[str(p)]), 0.01)
    )
    target = math.exp(c0 + c1 * 5.88)
    whole = tune.wanted(tune.card_at(_wilson_card(), 5.9, first))
    for done, made in [(whole, [5.85, 5.9]), (whole - 1, [5.875, 5.9, 5.95])]:
        runs.clear()
        runs[str(first)] = 5.9  # made before, complete or not
        monkeypatch.setattr(
            tune, "stored_progress", lambda c, d=done: d if c.run.output == str(first) else None
        )
        r = tune.tune_beta(_wilson_card(), "t0", target, tmp_path, step=0.05, max_runs=4)
        assert r.bracketed and r.beta == pytest.approx(5.88, abs=1e-9)
        assert sorted(runs.values()) == made
    second = tune.ensemble_path(tmp_path, "wilson", 5.95, [4, 4, 4, 4])
    second.touch()  # another call's second guess: shared, not replaced
    monkeypatch.setattr(tune, "stored_progress", lambda c: whole)
    assert tune.first_guesses(
        _wilson_card(), 5.9, 0.05, tmp_path, "wilson", [4, 4, 4, 4], ("t0", target)
    ) == [5.9, 5.95]


def test_compare_tunes_through_first_guesses(monkeypatch, tmp_path):
    """``compare``'s tuning takes its first guesses from :func:`tune.first_guesses` (no fixed
    pair), so a complete first run aims the second there too."""
    from study_cards import write_study

    from workflows.study import compare
    from workflows.study.card import load_study

    extra = "[match]\ntargets = [0.8, 1.0]\nstep = 0.2\n"
    card = load_study(write_study(tmp_path / "s.toml", tmp_path / "out", extra_study=extra))
    a = card.action[0]

    class Aimed(Exception):
        pass

    def aimed(*args):
        raise Aimed(*args)

    monkeypatch.setattr(tune, "first_guesses", aimed)
    with pytest.raises(Aimed) as caught:
        compare._ensemble(card, a, 0, a.betas[0], tmp_path / "out", {})
    assert caught.value.args[1:3] == (a.betas[0], 0.2)


def test_a_run_within_its_error_of_the_target_ends_the_tuning(monkeypatch, tmp_path):
    """``within``: two runs below the target, the nearer within 1 standard error of it (the
    L-CNN's 10^4 tuning: 1.445(27) at 2.64, 1.512(74) at 2.72 against 1.5625), end the tuning
    at the nearer run's beta instead of a third run beyond them; with a tighter ``within``, or
    none, the tuning walks on; runs that bracket the target are interpolated either way."""
    measured = {2.64: (1.445, 0.027), 2.72: (1.512, 0.074), 2.78: (1.70, 0.05)}
    runs = {}

    def fake_run(card, **_):
        runs[card.run.output] = card.action_config()["beta"]
        return True

    monkeypatch.setattr(tune, "ensure_ensemble", fake_run)
    monkeypatch.setattr(tune, "measure_scale", lambda p, o: measured[runs[str(p)]])
    monkeypatch.setattr(tune, "solve", lambda points, target: (2.78, 0.05))  # beyond the runs
    card = _wilson_card()
    r = tune.tune_beta(card, "t0", 1.5625, tmp_path, betas=[2.64, 2.72], within=1.0)
    assert (r.beta, r.bracketed, r.within) == (2.72, False, 1.0)
    assert sorted(runs.values()) == [2.64, 2.72]
    assert "the run within 1 standard error of the target" in r.table()
    for within in (0.5, None):
        runs.clear()
        r = tune.tune_beta(card, "t0", 1.5625, tmp_path, betas=[2.64, 2.72], within=within)
        assert r.bracketed and r.within is None and sorted(runs.values()) == [2.64, 2.72, 2.78]
    runs.clear()
    r = tune.tune_beta(card, "t0", 1.5625, tmp_path, betas=[2.64, 2.78], within=1.0)
    assert r.bracketed and r.within is None
