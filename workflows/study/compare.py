"""``lqcd-hmc compare``: several actions at matched lattice spacings, their dimensionless
ratios with errors, continuum extrapolations and the classical artifacts, as ``results.json``
and a Markdown report with PNGs in the study's output directory.

Per action and spacing: the betas of the card, or (with ``[match]``) the beta that
:func:`workflows.study.tune.tune_beta` finds for the target (its runs under ``tuning/``);
the ensemble ``ensembles/<label>_b<beta>_<dims>.h5`` is generated, continued or, when
complete, reused untouched (:func:`workflows.study.tune.ensure_shared`; a file made from
another card is an error, one that another live process writes is waited for: two calls with
the same ``--only`` share an action's tuning runs, and the second then waits); its quantities
come from :func:`workflows.study.ratios.ensemble_quantities` (with ``wilson_flow`` also from the
Wilson-flow table, with ``action_energy`` also from the action's own E) and its Monte Carlo
summary from :func:`lqcd_hmc.summary.run_summary` (with ``action_energy = "stored"`` the own
E from its stored configurations, :mod:`workflows.study.stored_energy`, cached beside the
records), both after its thermalisation and the
action's ``skip`` at that spacing, and its update figures (HMC step size, forces per
trajectory) from its card. Every ratio is extrapolated linearly in ``a^2/t0``
(:mod:`workflows.study.continuum`), per action and flow; with ``study.continuum`` the listed
actions give a common estimate and every ensemble its deviation from it (:func:`estimate`).
With ``study.records`` the ensembles missing from the output directory are restored from their
records first, and each complete ensemble's record is written as soon as it is there
(:mod:`workflows.study.records`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lqcd_hmc.action import build as build_action
from lqcd_hmc.clitools import json_text
from lqcd_hmc.config import Card
from lqcd_hmc.integrators import forces_per_trajectory
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import stored_card
from lqcd_hmc.summary import run_summary
from observables.classical import flux_deviations, plane_wave_deviations

from . import stored_energy
from .card import StudyAction, StudyCard
from .continuum import Points, deviation, extrapolate, joint
from .ratios import ACTION_ENERGY, OWN, WILSON_FLOW, ensemble_quantities
from .records import ensure_links, restore, save
from .tune import ensemble_path, ensure_shared, tune_beta


def _ensemble(
    card: StudyCard,
    action: StudyAction,
    i: int,
    beta: float,
    out: Path,
    run_options: dict[str, Any],
    start: str | None = None,
) -> dict[str, Any]:
    """The ensemble of ``action`` at spacing ``i``, from the first guess ``beta``, its chains
    (and its tuning runs') started from the ensemble file ``start`` if given."""
    dims, tuning = card.dims(i), None
    if card.match is not None:
        m = card.match
        first = card.ensemble_card(
            action, beta, i, out / "tuning" / "first.h5", trajectories=m.trajectories, start=start
        )
        step = action.step_at(card.action_spacings(action).index(i)) or m.step
        res = tune_beta(
            first,
            m.observable,
            m.targets[i],
            out / "tuning",
            step=step,
            max_runs=m.max_runs,
            within=action.within,
            label=action.title,
            dims=dims,
            **run_options,
        )
        beta, tuning = round(res.beta, 4), res.as_dict()
    path = ensemble_path(out / "ensembles", action.title, beta, dims)
    run_card = card.ensemble_card(action, beta, i, path, start=start)
    generated = ensure_shared(run_card, **run_options)
    ens = Ensemble(path)
    analysed_after = int(ens.attrs.get("thermalisation", 0)) + action.skip.get(i, 0)
    mc = run_summary(ens, analysed_after)
    options: dict[str, Any] = {
        "plateau": card.study.plateau,
        "r_min": card.study.r_min,
        "r_max": card.study.r_max,
        "after": analysed_after,
    }
    q = ensemble_quantities(path, **options)
    drift = t0_drift(path, analysed_after, ens.checkpoint_trajectory())
    entry = {
        "beta": beta,
        "dims": dims,
        "ensemble": str(path),
        "generated": generated,
        "tuning": tuning,
        "skip": action.skip.get(i, 0),
        "mc": dataclasses.asdict(mc) if mc else None,
        "t0_drift": drift,
        "update": _update_figures(stored_card(ens)),  # what made it (maybe another card's)
        "hours": study_hours(path, [p["ensemble"] for p in (tuning or {}).get("points", [])]),
        OWN: q,
    }
    if card.study.action_energy is True:
        entry[ACTION_ENERGY] = ensemble_quantities(path, **options, energy="action")
    elif card.study.action_energy == "stored":
        cache = Path(card.study.records or out) / "stored_energy"
        entry[ACTION_ENERGY] = stored_energy.quantities(path, q, cache)
    if card.study.wilson_flow:  # Wilson's own flow is the Wilson flow
        own = action.name == "wilson"
        entry[WILSON_FLOW] = (
            q if own else ensemble_quantities(path, **options, flow_table=WILSON_FLOW)
        )
    return entry


def run_hours(path: str | Path) -> tuple[float, float, int]:
    """Wall-clock hours of an ensemble's or record's updates (its ``mc/seconds``,
    thermalisation included) and of its measurements (``timing/measure_seconds``), and how many
    measurements no ``timing`` row covers (those of files written before ``/timing`` existed,
    docs/conventions.md, section 4). A measurement is a production update with any table."""
    ens = Ensemble(path)
    updates = float(np.sum(ens.table("mc")["seconds"])) / 3600
    timing = ens.table("timing")
    measured = {
        int(t)
        for n in ens.measurement_names()
        for t in ens.table(f"measurements/{n}", ["trajectory"])["trajectory"]
    }
    spans = zip(timing.get("first", []), timing.get("trajectory", []))
    timed = {t for first, last in spans for t in measured if first <= t <= last}
    return updates, float(np.sum(timing.get("measure_seconds", 0.0))) / 3600, len(measured - timed)


def study_hours(path: str | Path, tuning: list[str]) -> dict[str, float]:
    """The ``hours`` of a report entry: of updates in its tuning runs and in the ensemble, of
    measurements in both where timed, and the number of ``untimed`` measurements
    (:func:`run_hours`)."""
    runs = [run_hours(p) for p in tuning]
    updates, measuring, untimed = run_hours(path)
    return {
        "tuning": sum(r[0] for r in runs),
        "ensemble": updates,
        "measuring": measuring + sum(r[1] for r in runs),
        "untimed": untimed + sum(r[2] for r in runs),
    }


def t0_drift(path: Path, after: int, last: int) -> float | None:
    """``(t0_2 - t0_1) / sqrt(err_1^2 + err_2^2)`` of the two halves of the analysed production
    (trajectories ``after + 1 .. last``), each with its Gamma-method error: a thermalisation
    check on the slowest observable measured (beyond about 3, the ensemble's long-distance
    modes were still drifting). None where a half has too few measurements for an error."""
    mid = after + (last - after) // 2
    halves = [ensemble_quantities(path, after=a, until=b) for a, b in ((after, mid), (mid, last))]
    if not all("t0" in h for h in halves):
        return None
    one, two = halves[0]["t0"], halves[1]["t0"]
    err = math.hypot(one["error"], two["error"])
    if not (math.isfinite(err) and err > 0):
        return None
    return float((two["value"] - one["value"]) / err)


def _update_figures(run_card: Card) -> dict[str, Any]:
    """The update of an ensemble: algorithm, and for HMC the integrator, the (outermost)
    step size and the force evaluations per trajectory of each time scale
    (:func:`~lqcd_hmc.integrators.forces_per_trajectory`; ``steps x forces per step + 1`` for
    one: the first force of a trajectory is not shared with the previous one)."""
    up = run_card.update
    out: dict[str, Any] = {"algorithm": up.algorithm}
    if up.uses_hmc:
        forces = forces_per_trajectory(up.md_levels)
        out.update(
            integrator=up.describe_md(),
            step_size=up.tau / up.md_levels[0][1],
            forces=forces[0],
            forces_inner=forces[1:],
        )
    return out


def _continuum(
    card: StudyCard, actions: dict[str, list[dict[str, Any]]], key: str
) -> dict[str, dict[str, Any]]:
    """Per action and ratio, the linear extrapolation of the points ``entry[key]``."""
    out: dict[str, dict[str, Any]] = {}
    for label, entries in actions.items():
        out[label] = {}
        for r in card.study.ratios:
            pts = [_point(e.get(key), r) for e in entries]
            fit = extrapolate(*zip(*pts)) if pts else None
            if fit:
                out[label][r] = fit
    return out


def _point(q: dict[str, Any] | None, ratio: str) -> tuple[float, float, float]:
    """``(a^2/t0, ratio, error)`` of one ensemble's quantities (NaN where missing)."""
    q = q or {}
    x = q.get("a2_over_t0", {}).get("value", math.nan)
    r = q.get(ratio, {})
    return x, r.get("value", math.nan), r.get("error", math.nan)


def estimate(card: StudyCard, actions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per ratio, the common continuum value of the actions ``study.continuum`` (each with its
    own flow; :func:`.continuum.joint`) and every ensemble's deviation from it, ``R / R_0 - 1``,
    with its own flow, (``wilson_flow``) with the Wilson flow and (``action_energy``) with its
    own flow and its own energy density."""
    out: dict[str, Any] = {}
    for r in card.study.ratios:
        series: dict[str, Points] = {}
        for t in card.study.continuum:
            if t in actions:
                xs, ys, ds = zip(*[_point(e[OWN], r) for e in actions[t]])
                series[t] = (xs, ys, ds)
        fit = joint(series)
        if fit is None:
            continue
        devs: dict[str, list[dict[str, Any]]] = {}
        for label, entries in actions.items():
            for e in entries:
                row: dict[str, Any] = {}
                for key in (OWN, WILSON_FLOW, ACTION_ENERGY):
                    x, y, dy = _point(e.get(key), r)
                    if math.isfinite(y):
                        d, dd = deviation(y, dy, fit["value"], fit["error"])
                        row[key] = {"a2_over_t0": x, "value": d, "error": dd}
                devs.setdefault(label, []).append(row)
        out[r] = {**fit, "deviations": devs}
    return out


def classical_artifacts(card: StudyCard) -> dict[str, Any]:
    """Plane-wave and constant-flux deviations of every action of the study (beta = 1)."""
    c = card.classical
    if c is None:
        raise ValueError("the study card has no [classical] section")
    group, D = card.lattice.group, len(card.lattice.dims)
    out: dict[str, Any] = {
        "L": c.L,
        "amplitude": c.amplitude,
        "flux_dims": c.flux_dims,
        "actions": {},
    }
    for a in card.action:
        act = build_action({**a.params(), "beta": 1.0})
        res = {"plane_wave": plane_wave_deviations(act, 1.0, group, c.L, c.modes, c.amplitude, D=D)}
        if len(c.flux_dims) == D:
            res["flux"] = flux_deviations(act, 1.0, group, c.flux_dims, c.flux_quanta)
        out["actions"][a.title] = res
    return out


def run_study(
    card: StudyCard,
    classical_only: bool = False,
    only: list[str] | None = None,
    spacings: list[int] | None = None,
    **run_options: Any,
) -> dict[str, Any]:
    """Everything of the module docstring; returns the ``results.json`` content (also
    written, with ``report.md`` and ``plots/``, to ``study.output``). ``only``: the labels of
    the actions to run (their ensembles alone; two processes can share a study this way, and a
    last call without it reports them all); ``spacings``: the indices (from 0, in the order of
    ``study.dims``) of the spacings to run, e.g. the coarsest first (each action at those of
    its own ``spacings``)."""
    from .report import write_report

    if classical_only and card.classical is None:
        raise ValueError("--classical-only needs a [classical] section in the study card")
    titles = [a.title for a in card.action]
    unknown = [t for t in only or [] if t not in titles]
    if unknown:
        raise ValueError(f"--only {unknown[0]!r}: the card's actions are {', '.join(titles)}")
    bad = [i for i in spacings or [] if not 0 <= i < card.spacings]
    if bad:
        raise ValueError(f"--spacing {bad[0]}: the card has spacings 0..{card.spacings - 1}")
    for a in card.action:  # a start from another action's ensemble needs it in this call
        for i, name in a.starts.items():
            wanted = (not only or a.title in only) and (spacings is None or i in spacings)
            if wanted and name in titles and only and name not in only:
                card.start_of(a, i, {})  # raises: the source will not run in this call
    out = Path(card.study.output)
    out.mkdir(parents=True, exist_ok=True)
    records = None if card.study.records is None else Path(card.study.records)
    restored = [] if records is None else restore(records, out)
    result: dict[str, Any] = {
        "output": str(out),
        "records": {"restored": restored, "written": [], "kept": []},
        "group": card.lattice.group,
        "ratios": card.study.ratios,
        "actions": {},
        "continuum": {},
    }
    if not classical_only:
        ensembles: dict[int, dict[str, str]] = {}  # spacing -> label -> ensemble file
        for a in card.action:
            if only and a.title not in only:
                continue
            entries = []
            for i, beta in zip(card.action_spacings(a), a.betas):
                if spacings is None or i in spacings:
                    start = card.start_of(a, i, ensembles.get(i, {}))
                    opts = dict(run_options)
                    if start is not None:
                        opts["prepare_start"] = partial(ensure_links, Path(start), **run_options)
                    entries.append(_ensemble(card, a, i, beta, out, opts, start))
                    ensembles.setdefault(i, {})[a.title] = entries[-1]["ensemble"]
                    if records is not None:
                        saved = save(out, records)
                        result["records"]["written"] += saved.written
                        kept = result["records"]["kept"]  # each save sees every file again
                        kept += [k for k in saved.kept if k not in kept]
            result["actions"][a.title] = entries
        result["continuum"] = _continuum(card, result["actions"], OWN)
        if card.study.wilson_flow:
            result["continuum_" + WILSON_FLOW] = _continuum(card, result["actions"], WILSON_FLOW)
        if card.study.action_energy:
            result["continuum_" + ACTION_ENERGY] = _continuum(
                card, result["actions"], ACTION_ENERGY
            )
        if card.study.continuum:
            result["estimate"] = estimate(card, result["actions"])
    if card.classical is not None:
        result["classical"] = classical_artifacts(card)
    result["report"] = str(write_report(card, result, out))
    (out / "results.json").write_text(json_text(result, indent=1))
    return result
