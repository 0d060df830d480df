"""The PNGs of a study's report (:mod:`.report`): each ratio against ``a^2/t0`` with the fit
lines and the literature band, the deviations from the continuum estimate, and the classical
artifacts of plane waves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lqcd_hmc.plotting import pyplot, save_figure
from lqcd_hmc.statistics import with_error as pm

from .ratios import ACTION_ENERGY, OWN, RATIOS, WILSON_FLOW


def _points(
    entries: list[dict[str, Any]], ratio: str, flow: str = OWN
) -> list[tuple[float, float, float]]:
    """``(a^2/t0, ratio, error)`` of the entries where both are finite, measured with
    ``flow`` (the same flow's a^2/t0)."""
    pts = []
    for e in entries:
        q = e.get(flow) or {}
        if "a2_over_t0" in q and ratio in q:
            p = (q["a2_over_t0"]["value"], q[ratio]["value"], q[ratio]["error"])
            if all(math.isfinite(v) for v in p[:2]):
                pts.append(p)
    return pts


def ratio_plot(
    path: Path, ratio: str, result: dict[str, Any], literature: dict[str, Any]
) -> Path | None:
    """Ratio against a^2/t0 per action with its continuum line, own flow filled, Wilson flow
    open, own flow with the action's own E as triangles; None when nothing is finite."""
    series = {label: _points(entries, ratio) for label, entries in result["actions"].items()}
    if not any(series.values()):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    xmax = 0.0
    for k, (label, pts) in enumerate(series.items()):
        if not pts:
            continue
        x, y, dy = (np.array(v, dtype=float) for v in zip(*pts))
        xmax = max(xmax, float(x.max()))
        bars = ax.errorbar(x, y, dy, fmt="o", capsize=3, label=label)
        wilson = _points(result["actions"][label], ratio, WILSON_FLOW)
        if wilson and wilson != pts:  # Wilson's own flow is the Wilson flow: drawn once
            xw, yw, dyw = (np.array(v, dtype=float) for v in zip(*wilson))
            ax.errorbar(xw, yw, dyw, fmt="o", mfc="none", capsize=3, color=bars[0].get_color())
        perfect = _points(result["actions"][label], ratio, ACTION_ENERGY)
        if perfect:
            xa, ya, dya = (np.array(v, dtype=float) for v in zip(*perfect))
            xmax = max(xmax, float(xa.max()))
            ax.errorbar(xa, ya, dya, fmt="^", capsize=3, color=bars[0].get_color())
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
    known = literature.get(ratio)
    if known is not None:
        ax.axhspan(known[0] - known[1], known[0] + known[1], color="gray", alpha=0.2)
        ax.axhline(known[0], color="gray", lw=1, label="literature (infinite volume)")
    ax.set_xlim(left=-0.02 * max(xmax, 1e-3))
    ax.set_xlabel("a^2 / t0")
    ax.set_ylabel(RATIOS[ratio][0])
    ax.set_title(f"{RATIOS[ratio][0]}: own flow (filled), Wilson flow (open)", fontsize=9)
    if any(_points(e, ratio, ACTION_ENERGY) for e in result["actions"].values()):
        ax.set_title(
            f"{RATIOS[ratio][0]}: own flow, clover E (filled), Wilson flow (open), "
            "own flow and action's E (triangles)",
            fontsize=8,
        )
    _legend_outside(fig, ax)
    return save_figure(fig, path)


def _legend_outside(fig, ax, handles: list | None = None) -> None:
    """The legend right of the axes, where it hides no point."""
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False
    )
    fig.subplots_adjust(left=0.1, right=0.68, bottom=0.13, top=0.9)


def deviation_plot(path: Path, ratio: str, estimate: dict[str, Any], own: str) -> Path | None:
    """``R / R_0 - 1`` in per cent against a^2/t0, every action in its colour: own flow filled,
    Wilson flow open, own flow with the action's own E as triangles; the band is the error of
    the estimate ``R_0``. The legend names the actions by colour and the columns by marker."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    colors: dict[str, str] = {}
    styles: dict[str, tuple[str, str | None]] = {}
    for label, rows in estimate["deviations"].items():
        for key, fmt, fill, name in (
            (OWN, "o", None, own),
            (WILSON_FLOW, "o", "none", "Wilson flow"),
            (ACTION_ENERGY, "^", None, "own flow, action's E"),
        ):
            pts = [r[key] for r in rows if key in r and math.isfinite(r[key]["a2_over_t0"])]
            if not pts or (key == WILSON_FLOW and all(r.get(key) == r.get(OWN) for r in rows)):
                continue  # Wilson's own flow is the Wilson flow: drawn once
            x = [p["a2_over_t0"] for p in pts]
            y = [100 * p["value"] for p in pts]
            dy = [100 * p["error"] for p in pts]
            bars = ax.errorbar(x, y, dy, fmt=fmt, mfc=fill, color=colors.get(label), capsize=3)
            colors.setdefault(label, bars[0].get_color())
            styles.setdefault(name, (fmt, fill))
    if not colors:
        plt.close(fig)
        return None
    rel = 100 * estimate["error"] / abs(estimate["value"])
    ax.axhspan(-rel, rel, color="gray", alpha=0.2)
    ax.axhline(0, color="gray", lw=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("a^2 / t0")
    ax.set_ylabel(f"{RATIOS[ratio][0]} / continuum - 1 [%]")
    ax.set_title(f"{RATIOS[ratio][0]}: deviation from {pm(estimate['value'], estimate['error'])}")
    handles = [Line2D([], [], color=c, marker="s", ls="", label=a) for a, c in colors.items()]
    handles += [
        Line2D([], [], color="0.35", marker=fmt, mfc=fill, ls="", label=name)
        for name, (fmt, fill) in styles.items()
    ]
    _legend_outside(fig, ax, handles)
    return save_figure(fig, path)


def classical_plot(path: Path, classical: dict[str, Any]) -> Path:
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
