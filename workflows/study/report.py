"""The Markdown report and PNGs of ``lqcd-hmc compare`` (``report.md``, ``plots/``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lqcd_hmc.statistics import with_error

from .card import StudyCard
from .ratios import ACTION_ENERGY, OWN, RATIOS, WILSON_FLOW
from .report_plots import classical_plot, deviation_plot, ratio_plot

SCALE_COLUMNS = [
    ("t0", "t0/a^2"),
    ("w0", "w0/a"),
    ("r0", "r0/a"),
    ("sigma", "a^2 sigma"),
    ("chi_t", "a^4 chi_t"),
]


def pm(value: float | None, error: float | None) -> str:
    """``1.2346(67)``: the value rounded to its error."""
    return with_error(value, error)


def _q(entry: dict[str, Any], key: str, flow: str = OWN) -> str:
    r = (entry.get(flow) or {}).get(key)
    return pm(r["value"], r["error"]) if r else "n/a"


def _percent(d: dict[str, float] | None) -> str:
    return pm(100 * d["value"], 100 * d["error"]) if d else "n/a"


def _mc_table(card: StudyCard, result: dict[str, Any]) -> list[str]:
    """Per ensemble: the update, HMC step size, acceptance and forces per trajectory, seconds
    per update and their ratio to Wilson's on the same lattice, tau_int of t0, the drift of
    t0 between the two halves of the production (:func:`.compare.t0_drift`), the hours of
    updates of its tuning runs and of the ensemble and the hours of their measurements
    (:func:`.compare.study_hours`); below, their total."""
    names = {a.title: a.name for a in card.action}
    wilson = {
        tuple(e["dims"]): (e["mc"] or {}).get("seconds_per_trajectory")
        for label, entries in result["actions"].items()
        if names.get(label) == "wilson"
        for e in entries
    }
    rows = []
    for label, entries in result["actions"].items():
        for e in entries:
            mc, up = e["mc"] or {}, e.get("update", {})
            sec, ref = mc.get("seconds_per_trajectory"), wilson.get(tuple(e["dims"]))
            t0 = e[OWN].get("t0", {})
            hmc = "step_size" in up
            rows.append(
                [
                    label,
                    "x".join(map(str, e["dims"])),
                    f"{up.get('algorithm', '?')}" + (f" {up['integrator']}" if hmc else ""),
                    f"{up['step_size']:.3g}" if hmc else "-",
                    f"{mc['acceptance']:.2f}" if mc.get("acceptance") is not None else "-",
                    " + ".join(map(str, [up["forces"], *up.get("forces_inner", [])]))
                    if hmc
                    else "-",
                    f"{sec:.3g}" if sec else "n/a",
                    f"{sec / ref:.3g}" if sec and ref else "n/a",
                    f"{t0['tau_int']:.2g}" if "tau_int" in t0 else "n/a",
                    f"{e['t0_drift']:+.1f}" if e.get("t0_drift") is not None else "n/a",
                    *_hours(e.get("hours")),
                ]
            )
    return _table(
        [
            "action",
            "lattice",
            "update",
            "step size",
            "acc.",
            "forces / traj.",
            "s / update",
            "s / Wilson's",
            "tau_int(t0)",
            "t0 drift [sigma]",
            "hours of updates: tuning + ensemble",
            "hours measuring",
        ],
        rows,
    ) + ["", _total_hours(result)]


def _hours(h: dict[str, float] | None) -> list[str]:
    if not h:
        return ["n/a", "n/a"]
    untimed = f" ({h['untimed']} untimed)" if h.get("untimed") else ""
    measured = f"{h['measuring']:.1f}" if h["measuring"] or not untimed else "-"
    return [f"{h['tuning']:.1f} + {h['ensemble']:.1f}", measured + untimed]


def _total_hours(result: dict[str, Any]) -> str:
    """One line: the study's hours of updates in its ensembles and tuning runs and of their
    measurements where the files timed them."""
    entries = [e for es in result["actions"].values() for e in es if e.get("hours")]
    runs = sum(len((e.get("tuning") or {}).get("points", [])) for e in entries)
    h = {k: sum(e["hours"][k] for e in entries) for k in ("ensemble", "tuning", "measuring")}
    untimed = sum(e["hours"]["untimed"] for e in entries)
    note = f"; {untimed} measurements of files written before they were timed are not counted"
    return (
        f"Updates took {h['ensemble']:.1f} h in {len(entries)} ensembles and {h['tuning']:.1f} h "
        f"in {runs} tuning runs, measurements {h['measuring']:.1f} h, wall clock as the files "
        f"record it (beside whatever else ran{note if untimed else ''})."
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def _chi(fit: dict[str, Any]) -> str:
    return f"{fit['chi2_dof']:.2f}" if math.isfinite(fit["chi2_dof"]) else "-"


def _energy_title(card: StudyCard) -> str:
    """The title of the action's-own-E column: measured in the run or on the stored
    configurations afterwards (:mod:`.stored_energy`)."""
    stored = card.study.action_energy == "stored"
    return "own flow, action's E" + (" (stored configurations)" if stored else "")


def _ratio_section(card: StudyCard, result: dict[str, Any], ratio: str, plots: Path) -> list[str]:
    """One ratio: its plot against a^2/t0, the deviations from the continuum estimate (plot),
    the values with each flow and each action's own continuum line."""
    title = RATIOS[ratio][0]
    own = "own flow" if card.study.flow == "action" else "card flow"
    if card.study.action_energy:
        own += ", clover E"
    lines = [f"## {title}", ""]
    png = ratio_plot(plots / f"{ratio}.png", ratio, result, card.study.literature)
    if png is not None:
        lines += [f"![{title} against a^2/t0](plots/{png.name})", ""]
    est = result.get("estimate", {}).get(ratio)
    if est is not None:
        png = deviation_plot(plots / f"{ratio}_deviation.png", ratio, est, own)
        if png is not None:
            lines += [f"![{title}: deviation from the continuum](plots/{png.name})", ""]
        lines += [
            f"Continuum estimate {pm(est['value'], est['error'])}: common limit of "
            f"{', '.join(card.study.continuum)} ({own}, linear in a^2/t0, "
            f"{est['points']} points, chi^2/dof {_chi(est)}); deviations R/R_0 - 1 in per cent.",
            "",
        ]
    known = card.study.literature.get(ratio)
    if known is not None:
        lines += [f"Literature (infinite volume): {pm(*known)}.", ""]
    keys = [(OWN, own)] + ([(WILSON_FLOW, "Wilson flow")] if card.study.wilson_flow else [])
    if card.study.action_energy:
        keys.append((ACTION_ENERGY, _energy_title(card)))
    header = ["action", "beta", "a^2/t0"] + [f"{title}, {name}" for _, name in keys]
    if est is not None:
        header += [f"deviation, {name} [%]" for _, name in keys]
    rows = []
    for label, entries in result["actions"].items():
        for i, e in enumerate(entries):
            row = [label, f"{e['beta']:g}", _q(e, "a2_over_t0")]
            row += [_q(e, ratio, key) for key, _ in keys]
            if est is not None:
                row += [_percent(est["deviations"][label][i].get(key)) for key, _ in keys]
            rows.append(row)
    lines += _table(header, rows) + [""]
    for key, name in keys:
        fits = result["continuum" if key == OWN else f"continuum_{key}"]
        rows = [
            [label, pm(f["value"], f["error"]), pm(f["slope"], f["slope_error"]), _chi(f)]
            for label in result["actions"]
            if (f := fits[label].get(ratio))
        ]
        if rows:
            lines += [f"Continuum limit of each action, linear in a^2/t0 ({name}):", ""]
            lines += _table(["action", "continuum", "slope", "chi^2/dof"], rows) + [""]
    return lines


def coarsest_summary(card: StudyCard, result: dict[str, Any]) -> list[str]:
    """The deviations from the continuum estimate at the coarsest spacing (the first of
    ``study.dims``), per ratio and flow, the actions ordered by the size of the deviation with
    their own flow, and one line per flow: the smallest deviation and the actions whose
    central value lies within 1 %, and of those the ones within 1 % by two standard errors."""
    dims = card.dims(0)
    lines: list[str] = []
    for ratio in result["ratios"]:
        est = result.get("estimate", {}).get(ratio)
        if est is None:
            continue
        keys = [(OWN, "own flow")]
        keys += [(WILSON_FLOW, "Wilson flow")] if card.study.wilson_flow else []
        keys += [(ACTION_ENERGY, _energy_title(card))] if card.study.action_energy else []
        devs: dict[str, dict[str, Any]] = {}
        for label, entries in result["actions"].items():
            for i, e in enumerate(entries):
                if list(e["dims"]) == dims:
                    devs[label] = est["deviations"][label][i]
        if not devs:
            continue
        size = {label: abs(d[OWN]["value"]) if OWN in d else math.inf for label, d in devs.items()}
        order = sorted(devs, key=size.__getitem__)
        title = RATIOS[ratio][0]
        lines += [f"{title} on {'x'.join(map(str, dims))}, deviation from the continuum [%]:", ""]
        lines += _table(
            ["action"] + [name for _, name in keys],
            [[label] + [_percent(devs[label].get(k)) for k, _ in keys] for label in order],
        )
        lines.append("")
        for key, name in keys:
            got = {label: d[key] for label, d in devs.items() if key in d}
            if not got:
                continue
            best = min(got, key=lambda label: abs(got[label]["value"]))
            within = [label for label in order if label in got and abs(got[label]["value"]) < 0.01]
            sure = [
                label
                for label in within
                if abs(got[label]["value"]) + 2 * got[label]["error"] < 0.01
            ]
            lines.append(
                f"- {name}: smallest {best} ({_percent(got[best])} %); within 1 %: "
                f"{', '.join(within) or 'none'}; of these within 1 % by two standard errors: "
                f"{', '.join(sure) or 'none'}."
            )
        lines.append("")
    if lines:
        lines = ["## At the coarsest spacing", ""] + lines
    return lines


def write_report(card: StudyCard, result: dict[str, Any], out: Path) -> Path:
    """``out/report.md`` (and its PNGs in ``out/plots``)."""
    plots = out / "plots"
    lat, up = card.lattice, card.update
    labels = list(result["actions"]) or [a.title for a in card.action]
    lines = [
        f"# Lattice artifacts: {', '.join(labels)}",
        "",
        f"{lat.group}, {lat.batch} chains per ensemble, update {up.algorithm}"
        + (f" ({up.describe_md()}, tau {up.tau:g})" if up.uses_hmc else "")
        + f", {card.run.get('trajectories')} production trajectories after "
        f"{card.run.get('thermalisation', 0)}. Errors: Gamma method, chains as replicas; "
        f"ratios are derived quantities of the same configurations.",
        "",
    ]
    if card.match is not None:
        lines += [
            f"Betas tuned to {card.match.observable} = "
            f"{', '.join(f'{t:g}' for t in card.match.targets)} (one per spacing; "
            f"`lqcd-hmc tune-beta`, runs in `tuning/`); the beta column gives the "
            f"tuning error.",
            "",
        ]
    if result["actions"]:
        lines += ["## Ensembles", ""]
        rows = []
        for label, entries in result["actions"].items():
            for e in entries:
                mc = e["mc"] or {}
                acc = mc.get("acceptance")
                tuned = e["tuning"]
                beta = (
                    f"{e['beta']:g}"
                    if tuned is None
                    else pm(e["beta"], tuned["error"])
                    + ("" if tuned["bracketed"] else " (extrapolated)")
                )
                rows.append(
                    [
                        label,
                        beta,
                        "x".join(map(str, e["dims"])),
                        f"{mc.get('trajectories')} x {mc.get('chains')}"
                        + (f" (after {e['skip']} skipped)" if e.get("skip") else ""),
                        pm(mc.get("plaquette"), mc.get("plaquette_error")),
                        f"{acc:.2f}" if acc is not None else "-",
                    ]
                    + [_q(e, k) for k, _ in SCALE_COLUMNS]
                )
        lines += _table(
            ["action", "beta", "lattice", "traj x chains", "plaquette", "acc."]
            + [h for _, h in SCALE_COLUMNS],
            rows,
        ) + [""]
        lines += ["## Monte Carlo", ""] + _mc_table(card, result) + [""]
        lines += coarsest_summary(card, result)
        for ratio in result["ratios"]:
            lines += _ratio_section(card, result, ratio, plots)
    classical = result.get("classical")
    if classical:
        png = classical_plot(plots / "plane_waves.png", classical)
        lines += [
            "## Classical artifacts",
            "",
            f"Abelian plane waves exp(i eps cos(k x_1) H) on links in direction 0, "
            f"eps = {classical['amplitude']:g}, L_1 = {classical['L']}: S/S_cont - 1. "
            f"Tree level: Wilson -(ka)^2/12, tree-level Symanzik -(ka)^4/90. Plane waves "
            f"are not classical solutions, so fixed-point actions are not perfect on "
            f"them.",
            "",
            f"![plane waves](plots/{png.name})",
            "",
        ]
        acts = classical["actions"]
        first = next(iter(acts.values()))["plane_wave"]
        rows = [
            [f"{p['ka']:.4f}"] + [f"{acts[a]['plane_wave'][i]['deviation']:+.3e}" for a in acts]
            for i, p in enumerate(first)
        ]
        lines += _table(["k a"] + list(acts), rows) + [""]
        if all("flux" in r for r in acts.values()):
            first = next(iter(acts.values()))["flux"]
            lines += [
                f"Constant flux phi per plaquette through the (0, 1) planes of "
                f"{'x'.join(map(str, classical['flux_dims']))} (a classical solution): "
                f"S/S_cont - 1.",
                "",
            ]
            rows = [
                [f"{p['phi']:.4f}"] + [f"{acts[a]['flux'][i]['deviation']:+.3e}" for a in acts]
                for i, p in enumerate(first)
            ]
            lines += _table(["phi"] + list(acts), rows) + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
