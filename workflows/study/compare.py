"""``lqcd-hmc compare``: several actions at matched lattice spacings, their dimensionless
ratios with errors, continuum extrapolations and the classical artifacts, as ``results.json``
and a Markdown report with PNGs in the study's output directory.

Per action and spacing: the betas of the card, or (with ``[match]``) the beta that
:func:`workflows.study.tune.tune_beta` finds for the target (its runs under ``tuning/``);
the ensemble ``ensembles/<label>_b<beta>_<dims>.h5`` is generated, continued or, when
complete, reused untouched (:func:`lqcd_hmc.run.ensure_ensemble`; a file made from another
card is an error); its quantities come from :func:`workflows.study.ratios.ensemble_quantities`
and its Monte Carlo summary from :func:`lqcd_hmc.summary.run_summary`. Every ratio is extrapolated
linearly in ``a^2/t0`` (:mod:`workflows.study.continuum`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from lqcd_hmc.action import build as build_action
from lqcd_hmc.clitools import json_text
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import ensure_ensemble
from lqcd_hmc.summary import run_summary
from observables.classical import flux_deviations, plane_wave_deviations

from .card import StudyAction, StudyCard
from .continuum import extrapolate
from .ratios import ensemble_quantities
from .tune import ensemble_path, tune_beta


def _ensemble(
    card: StudyCard, action: StudyAction, i: int, out: Path, run_options: dict[str, Any]
) -> dict[str, Any]:
    dims = card.dims(i)
    beta, tuning = action.betas[i], None
    if card.match is not None:
        m = card.match
        first = card.ensemble_card(
            action, beta, dims, out / "tuning" / "first.h5", trajectories=m.trajectories
        )
        step = action.step or m.step
        res = tune_beta(
            first,
            m.observable,
            m.targets[i],
            out / "tuning",
            betas=[beta, beta + step],
            step=step,
            max_runs=m.max_runs,
            label=action.title,
            dims=dims,
            **run_options,
        )
        beta, tuning = round(res.beta, 4), res.as_dict()
    path = ensemble_path(out / "ensembles", action.title, beta, dims)
    generated = ensure_ensemble(card.ensemble_card(action, beta, dims, path), **run_options)
    ens = Ensemble(path)
    mc = run_summary(ens, int(ens.attrs.get("thermalisation", 0)))
    q = ensemble_quantities(
        path, plateau=card.study.plateau, r_min=card.study.r_min, r_max=card.study.r_max
    )
    return {
        "beta": beta,
        "dims": dims,
        "ensemble": str(path),
        "generated": generated,
        "tuning": tuning,
        "mc": dataclasses.asdict(mc) if mc else None,
        "quantities": q,
    }


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


def run_study(card: StudyCard, classical_only: bool = False, **run_options: Any) -> dict[str, Any]:
    """Everything of the module docstring; returns the ``results.json`` content (also
    written, with ``report.md`` and ``plots/``, to ``study.output``)."""
    from .report import write_report

    if classical_only and card.classical is None:
        raise ValueError("--classical-only needs a [classical] section in the study card")
    out = Path(card.study.output)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "output": str(out),
        "group": card.lattice.group,
        "ratios": card.study.ratios,
        "actions": {},
        "continuum": {},
    }
    if not classical_only:
        for a in card.action:
            entries = [_ensemble(card, a, i, out, run_options) for i in range(card.spacings)]
            result["actions"][a.title] = entries
            result["continuum"][a.title] = {
                r: extrapolate(
                    *zip(
                        *[
                            (
                                e["quantities"].get("a2_over_t0", {}).get("value", math.nan),
                                e["quantities"].get(r, {}).get("value", math.nan),
                                e["quantities"].get(r, {}).get("error", math.nan),
                            )
                            for e in entries
                        ]
                    )
                )
                for r in card.study.ratios
            }
    if card.classical is not None:
        result["classical"] = classical_artifacts(card)
    result["report"] = str(write_report(card, result, out))
    (out / "results.json").write_text(json_text(result, indent=1))
    return result
