"""``lqcd-hmc tune-beta``: the beta at which an action has a wanted lattice spacing.

The scale ``s`` (``t0/a^2`` from the gradient flow or ``r0/a`` from the static potential, as
``lqcd-hmc analyze`` gives them) is measured in short runs at a few betas; ``ln s`` is taken
linear in beta between the (up to three) points nearest the target in ``ln s`` (weighted least
squares, weights from the Gamma-method errors), and solved for the target. Until the target
lies between measured scales, the next beta is that solution, but at least half a step and at
most twice the span of the measured betas beyond them (on the side the target lies). A beta
where the scale is undefined (t0 beyond the flow's t_max, or a box so small that t^2 E never
reaches 0.3) is replaced by the midpoint toward the nearest defined one, unless it lies beyond
the defined ones on the side away from the target (then it is dropped, and a single defined run
is followed by a step toward the target). The error of beta*
is the fit's statistical error propagated to the root: ``beta* = (ln s* - c0)/c1``,
``var = J Cov(c) J^T`` with ``J = -(1, beta*)/c1`` (first order). Ensembles are kept
(``<directory>/<label>_b<beta>_<dims>.h5``) and reused by later calls and by
``lqcd-hmc compare``. Two calls can share a tuning: a run another live process is writing (its
lock, :mod:`lqcd_hmc.io.lock`) is taken last and waited for, so the second call makes the
second first guess while the first makes the first, and each then reuses the other's run. A
call that finds the first guess's run complete and no run of the second makes the second on
the target's side of the first (:func:`first_guesses`).
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lqcd_hmc.action import build as build_action
from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.config import Card, validate
from lqcd_hmc.io import Ensemble, FormatError
from lqcd_hmc.io.lock import live_writer, wait_for_writer
from lqcd_hmc.run import RunError, ensure_ensemble
from lqcd_hmc.run.chain import stored_progress, wanted
from lqcd_hmc.statistics import with_error

SCALES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, float]]]] = {
    "t0": ("gradient_flow", lambda m: m["clover"]["t0"]),
    "r0": ("wilson_loops", lambda m: m["potential"]["r0"]),
}


class TuneError(ValueError):
    """A tuning that cannot start or does not converge (one-line message)."""


@dataclass
class TunePoint:
    beta: float
    value: float
    error: float
    ensemble: str


@dataclass
class TuneResult:
    observable: str
    target: float
    beta: float
    error: float
    bracketed: bool
    points: list[TunePoint] = field(default_factory=list)
    within: float | None = None  # the run taken lies within this many errors of the target

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        unit = "t0/a^2" if self.observable == "t0" else "r0/a"
        rows = [f"{'beta':>10} {unit:>12}  ensemble"]
        rows += [
            f"{p.beta:10.5f} {with_error(p.value, p.error):>12}  {p.ensemble}"
            for p in sorted(self.points, key=lambda p: p.beta)
        ]
        how = "interpolated" if self.bracketed else "EXTRAPOLATED (target outside the runs)"
        if self.within is not None:
            errors = "standard error" if self.within == 1 else "standard errors"
            how = f"the run within {self.within:g} {errors} of the target"
        rows.append(
            f"beta at {self.observable} = {self.target:g}: {with_error(self.beta, self.error)} "
            f"({how})"
        )
        return "\n".join(rows)


def card_at(card: Card, beta: float, output: Path, dims: Sequence[int] | None = None) -> Card:
    """``card`` with ``action.beta = beta``, ``run.output = output`` (and ``lattice.dims``)."""
    tree = card.to_dict()
    tree["action"]["beta"] = float(beta)
    tree["run"]["output"] = str(output)
    if dims is not None:
        tree["lattice"]["dims"] = list(dims)
    return validate(tree, f"card at beta {beta}")


def stored_beta(path: Path, beta: float) -> float:
    """The beta of the run already at ``path`` (whose name holds beta to 6 digits), else
    ``beta``: a first guess plus a step (``5.85 + 0.06 = 5.909999999999999``) and a bisection
    (5.91) that name the same file are the same run."""
    if not path.exists():
        return beta
    try:
        return float(tomllib.loads(Ensemble(path).attrs["card"])["action"]["beta"])
    except (FormatError, KeyError, ValueError, tomllib.TOMLDecodeError):
        return beta  # not a run of this tuner: ensure_ensemble names the problem


def label_slug(label: str) -> str:
    """An action's label reduced to ``[A-Za-z0-9.+-]`` for file names."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_") or "action"


def ensemble_path(directory: Path, label: str, beta: float, dims: Sequence[int]) -> Path:
    """``<directory>/<label>_b<beta>_<dims>.h5`` (the label by :func:`label_slug`)."""
    return Path(directory) / f"{label_slug(label)}_b{beta:.6g}_{'x'.join(map(str, dims))}.h5"


def _say(run_options: dict[str, Any]) -> Callable[[str], None] | None:
    if run_options.get("quiet", False):
        return None
    return lambda line: print(f"lqcd-hmc: {line}", file=sys.stderr, flush=True)


def _try_ensure(card: Card, run_options: dict[str, Any]) -> bool | None:
    """:func:`lqcd_hmc.run.ensure_ensemble` of ``card`` (True when trajectories were added),
    or None when another live process writes its file (also one that took the lock between
    the check and this run's start)."""
    if live_writer(card.run.output) is not None:
        return None
    try:
        return ensure_ensemble(card, **run_options)
    except RunError:
        if live_writer(card.run.output) is None:
            raise
        return None


def _make_shared(cards: Sequence[Card], poll: float, run_options: dict[str, Any]) -> None:
    """Make or reuse the run of every card; those another live process is writing come after
    the others, and are waited for when nothing else is left (two calls tuning one action
    make the first guesses side by side)."""
    left = list(cards)
    while left:
        left = [c for c in left if _try_ensure(c, run_options) is None]
        if left:
            wait_for_writer(left[0].run.output, poll, _say(run_options))


def ensure_shared(card: Card, poll: float = 30.0, **run_options: Any) -> bool:
    """:func:`lqcd_hmc.run.ensure_ensemble` of ``card`` once no other live process writes its
    file: that run is then reused, or continued if that process was stopped. ``poll``:
    seconds between checks."""
    while (generated := _try_ensure(card, run_options)) is None:
        wait_for_writer(card.run.output, poll, _say(run_options))
    return generated


def measure_scale(path: Path, observable: str) -> tuple[float, float]:
    """``(value, error)`` of ``observable`` in the analysis of ``path``."""
    name, pick = SCALES[observable]
    res = analyze_ensemble(path)["measurements"]
    if name not in res:
        raise TuneError(
            f"{path}: no {name} measurement; the card must measure {name} for {observable}"
        )
    try:
        r = pick(res[name])
    except KeyError:
        raise TuneError(f"{path}: the {name} analysis gives no {observable}") from None
    return float(r["value"]), float(r["error"])


def solve(points: Sequence[TunePoint], target: float) -> tuple[float, float]:
    """``(beta*, error)``: the weighted linear fit of ``ln s`` in beta through the (up to
    three) points nearest the target, solved for ``ln target`` (module docstring). Where the
    noise of short runs turns that slope negative, every point is fitted instead."""
    y0 = math.log(target)
    near = sorted(points, key=lambda p: abs(math.log(p.value) - y0))[:3]
    try:
        return _solve(near, y0, target)
    except TuneError:
        if len(points) <= len(near):
            raise
        return _solve(points, y0, target)


def _solve(near: Sequence[TunePoint], y0: float, target: float) -> tuple[float, float]:
    b = np.array([p.beta for p in near])
    y = np.log([p.value for p in near])
    dy = np.array([p.error / p.value for p in near])
    if np.ptp(b) == 0:
        raise TuneError("the runs nearest the target share one beta")
    w = 1.0 / np.where(np.isfinite(dy) & (dy > 0), dy, np.nan) ** 2
    if not np.isfinite(w).all():
        w = np.ones_like(b)  # no errors (one trajectory): unweighted
    X = np.stack([np.ones_like(b), b], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    c = cov @ X.T @ (w * y)
    if c[1] <= 0:
        raise TuneError(
            f"ln {target:g} does not grow with beta near beta = {b.min():g} .. "
            f"{b.max():g}; check the runs (more trajectories?)"
        )
    beta = (y0 - c[0]) / c[1]
    J = np.array([-1.0 / c[1], -beta / c[1]])
    return float(beta), float(np.sqrt(J @ cov @ J))


def _beyond(beta: float, points: Sequence[TunePoint], target: float) -> bool:
    """Whether an undefined run lies beyond the defined ones on the side away from the target
    (e.g. t0 too large for the box above a beta whose t0 already exceeds the target): it
    cannot help to bracket the target, so no bisection goes toward it."""
    if not points:
        return False
    lo, hi = min(points, key=lambda p: p.beta), max(points, key=lambda p: p.beta)
    return (beta > hi.beta and target <= hi.value) or (beta < lo.beta and target >= lo.value)


def step_toward(beta: float, value: float, target: float, step: float) -> float:
    """``beta`` moved by ``|step|`` toward ``target`` from a run that measured ``value`` (the
    scale grows with beta), rounded as run names are."""
    return round(beta + (abs(step) if target > value else -abs(step)), 6)


def first_guesses(
    card: Card,
    beta0: float,
    step: float,
    directory: Path,
    label: str,
    dims: Sequence[int],
    aim: tuple[str, float],
) -> list[float]:
    """``[beta0, beta0 + step]``, made side by side (two calls share them), unless the run of
    ``beta0`` is complete and none of ``beta0 + step`` exists: then the second guess is
    ``|step|`` from ``beta0`` toward the target ``aim = (observable, value)``, which that run
    tells (a second guess beyond the first on the target's far side costs a third run)."""
    first = ensemble_path(directory, label, beta0, dims)
    if ensemble_path(directory, label, beta0 + step, dims).exists() or live_writer(first):
        return [beta0, beta0 + step]
    at = card_at(card, beta0, first, dims)
    if (stored_progress(at) or 0) < wanted(at):
        return [beta0, beta0 + step]
    value, _ = measure_scale(first, aim[0])
    if not (math.isfinite(value) and value > 0):
        return [beta0, beta0 + step]
    return [beta0, step_toward(beta0, value, aim[1], step)]


def tune_beta(
    card: Card,
    observable: str,
    target: float,
    directory: Path,
    betas: Sequence[float] | None = None,
    step: float = 0.1,
    max_runs: int = 5,
    label: str | None = None,
    dims: Sequence[int] | None = None,
    poll: float = 30.0,
    within: float | None = None,
    **run_options: Any,
) -> TuneResult:
    """Run (or reuse) ensembles of ``card`` until ``target`` lies between measured scales, or
    (``within``) while it does not, until a run's scale lies within ``within`` standard errors
    of it: that run's beta is the answer (its error the fit's at the target), and no run
    beyond the measured ones is made; ``run_options`` go to :func:`lqcd_hmc.run.run_card`
    (progress, quiet). Runs that another process is writing come last, and are waited for
    (every ``poll`` seconds) when needed."""
    if observable not in SCALES:
        raise TuneError(f"unknown target {observable!r}; use t0=VALUE or r0=VALUE")
    if not target > 0:
        raise TuneError(f"the target {observable} must be positive, got {target}")
    if SCALES[observable][0] not in [m.name for m in card.measure]:
        raise TuneError(f"the card must measure {SCALES[observable][0]} to tune {observable}")
    beta0 = build_action(card.action_config()).beta
    if beta0 is None:
        raise TuneError(f"action {card.action.name!r} has no coupling beta to tune")
    label = label or card.action.name
    dims = list(dims or card.lattice.dims)
    if betas:
        todo = list(betas)
    else:
        todo = first_guesses(card, beta0, step, directory, label, dims, (observable, target))
    points: list[TunePoint] = []
    undefined: list[float] = []
    runs = 0
    while True:
        paths = [ensemble_path(directory, label, beta, dims) for beta in todo]
        cards = [card_at(card, stored_beta(p, b), p, dims) for b, p in zip(todo, paths)]
        _make_shared(cards, poll, run_options)
        for beta, path in zip(todo, paths):
            runs += 1
            beta = stored_beta(path, beta)
            value, error = measure_scale(path, observable)
            if math.isfinite(value) and value > 0:
                points.append(TunePoint(float(beta), value, error, str(path)))
            else:
                undefined.append(float(beta))
        if not points:
            raise TuneError(
                f"{observable} is undefined at every beta run "
                f"({', '.join(f'{b:g}' for b in undefined)}): for t0, t^2 E(t) "
                f"stays below 0.3 up to the flow's t_max (raise it, or start "
                f"at another beta)"
            )
        undefined = [b for b in undefined if not _beyond(b, points, target)]
        if undefined or len(points) < 2:
            if runs >= max_runs:
                raise TuneError(
                    f"{observable} is defined at {len(points)} of {runs} betas "
                    f"run; raise max_runs or the flow's t_max"
                )
            if undefined:  # bisect from the undefined beta toward the nearest defined one
                bad = undefined.pop(0)
                near = min(points, key=lambda p: abs(p.beta - bad)).beta
                todo = [round((bad + near) / 2, 6)]
            else:  # one defined run: a step toward the target (s grows with beta)
                p0 = points[0]
                todo = [step_toward(p0.beta, p0.value, target, step)]
            continue
        values = [p.value for p in points]
        bracketed = min(values) <= target <= max(values)
        beta, err = solve(points, target)
        if bracketed or runs >= max_runs:
            return TuneResult(observable, target, beta, err, bracketed, points)
        close = [p for p in points if within and abs(p.value - target) <= within * p.error]
        if close:
            run = min(close, key=lambda p: abs(p.value - target) / p.error)
            return TuneResult(observable, target, run.beta, err, False, points, within)
        lo, hi = min(p.beta for p in points), max(p.beta for p in points)
        span, gap = max(hi - lo, abs(step)), abs(step) / 2
        # s grows with beta: go below the runs for a smaller target, above for a larger one
        nxt = min(beta, lo - gap) if target < min(values) else max(beta, hi + gap)
        todo = [round(float(np.clip(nxt, lo - 2 * span, hi + 2 * span)), 6)]
