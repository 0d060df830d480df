"""The Markdown report and PNGs of ``lqcd-hmc compare`` (``report.md``, ``plots/``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lqcd_hmc.plotting import pyplot, save_figure
from lqcd_hmc.statistics import with_error

from .card import StudyCard
from .ratios import RATIOS

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


def _q(entry: dict[str, Any], key: str) -> str:
    r = entry["quantities"].get(key)
    return pm(r["value"], r["error"]) if r else "n/a"


def _points(entries: list[dict[str, Any]], ratio: str) -> list[tuple[float, float, float]]:
    """``(a^2/t0, ratio, error)`` of the entries where both are finite."""
    pts = []
    for e in entries:
        q = e["quantities"]
        if "a2_over_t0" in q and ratio in q:
            p = (q["a2_over_t0"]["value"], q[ratio]["value"], q[ratio]["error"])
            if all(math.isfinite(v) for v in p[:2]):
                pts.append(p)
    return pts


def _ratio_plot(path: Path, ratio: str, result: dict[str, Any]) -> Path | None:
    """Ratio against a^2/t0 per action with its continuum line; None when nothing is finite."""
    series = {label: _points(entries, ratio) for label, entries in result["actions"].items()}
    if not any(series.values()):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xmax = 0.0
    for k, (label, pts) in enumerate(series.items()):
        if not pts:
            continue
        x, y, dy = (np.array(v, dtype=float) for v in zip(*pts))
        xmax = max(xmax, float(x.max()))
        bars = ax.errorbar(x, y, dy, fmt="o", capsize=3, label=label)
        fit = result["continuum"][label].get(ratio)
        if fit:
            xs = np.linspace(0, 1.1 * x.max(), 20)
            ax.plot(xs, fit["value"] + fit["slope"] * xs, "--", color=bars[0].get_color(), lw=1)
            ax.errorbar(
                [0.002 * k],
                [fit["value"]],
                [fit["error"]],
                fmt="s",
                mfc="none",
                color=bars[0].get_color(),
                capsize=3,
            )
    ax.set_xlim(left=-0.02 * max(xmax, 1e-3))
    ax.set_xlabel("a^2 / t0")
    ax.set_ylabel(RATIOS[ratio][0])
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _classical_plot(path: Path, classical: dict[str, Any]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, res in classical["actions"].items():
        ka = [p["ka"] for p in res["plane_wave"]]
        dev = [abs(p["deviation"]) for p in res["plane_wave"]]
        ax.loglog(ka, dev, "o-", label=label)
    k = np.array([p["ka"] for p in next(iter(classical["actions"].values()))["plane_wave"]])
    ax.loglog(k, k**2 / 12, ":", color="gray", label="(ka)^2/12")
    ax.loglog(k, k**4 / 90, "-.", color="gray", label="(ka)^4/90")
    ax.set_xlabel("k a")
    ax.set_ylabel("|S / S_cont - 1| (plane wave)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def write_report(card: StudyCard, result: dict[str, Any], out: Path) -> Path:
    """``out/report.md`` (and its PNGs in ``out/plots``)."""
    plots = out / "plots"
    lat, up = card.lattice, card.update
    labels = list(result["actions"]) or [a.title for a in card.action]
    lines = [
        f"# Lattice artifacts: {', '.join(labels)}",
        "",
        f"{lat.group}, {lat.batch} chains per ensemble, update {up.algorithm}"
        + (f" ({up.integrator}, {up.steps} steps, tau {up.tau:g})" if up.uses_hmc else "")
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
                        f"{mc.get('trajectories')} x {mc.get('chains')}",
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
        for ratio in result["ratios"]:
            title = RATIOS[ratio][0]
            png = _ratio_plot(plots / f"{ratio}.png", ratio, result)
            lines += [f"## {title}", ""]
            if png is not None:
                lines += [f"![{title} against a^2/t0](plots/{png.name})", ""]
            rows = [
                [label, f"{e['beta']:g}", _q(e, "a2_over_t0"), _q(e, ratio)]
                for label, entries in result["actions"].items()
                for e in entries
            ]
            lines += _table(["action", "beta", "a^2/t0", title], rows) + [""]
            rows = []
            for label in result["actions"]:
                fit = result["continuum"][label].get(ratio)
                if fit:
                    chi = "-" if not math.isfinite(fit["chi2_dof"]) else f"{fit['chi2_dof']:.2f}"
                    rows.append(
                        [
                            label,
                            pm(fit["value"], fit["error"]),
                            pm(fit["slope"], fit["slope_error"]),
                            chi,
                        ]
                    )
            if rows:
                lines += ["Continuum limit, linear in a^2/t0:", ""]
                lines += _table(["action", "continuum", "slope", "chi^2/dof"], rows) + [""]
    classical = result.get("classical")
    if classical:
        png = _classical_plot(plots / "plane_waves.png", classical)
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
