"""PNG plots for ``lqcd-hmc analyze --plots DIR`` (matplotlib, non-interactive Agg backend).

Helpers the measurements' :meth:`~lqcd_hmc.measurement.Measurement.plot` methods build on:
Monte Carlo histories (one line per chain), curves with error bars and fits, histograms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def history(path: Path, trajectory: np.ndarray, series: np.ndarray, label: str) -> Path:
    """Monte Carlo history of ``series`` ``(n, B)`` against ``trajectory``, one line a chain."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for b in range(series.shape[1]):
        ax.plot(
            trajectory, series[:, b], lw=0.8, label=f"chain {b}" if series.shape[1] <= 8 else None
        )
    ax.set_xlabel("trajectory")
    ax.set_ylabel(label)
    if series.shape[1] <= 8:
        ax.legend(fontsize=7, ncol=min(series.shape[1], 4))
    return save_figure(fig, path)


def histories(name: str, table: Mapping[str, np.ndarray], directory: Path) -> list[Path]:
    """Histories of every scalar column of a measurement table."""
    out = []
    traj = np.asarray(table["trajectory"])
    for col, a in table.items():
        a = np.asarray(a)
        if col == "trajectory" or a.ndim != 2 or np.ptp(a) == 0:
            continue
        out.append(history(Path(directory) / f"{name}_{col}_history.png", traj, a, f"{name}.{col}"))
    return out


def curve(
    path: Path,
    x: ArrayLike,
    y: ArrayLike,
    dy: ArrayLike | None,
    xlabel: str,
    ylabel: str,
    fit: Callable[[np.ndarray], np.ndarray] | None = None,
    fit_label: str = "fit",
    hline: float | None = None,
) -> Path:
    """Points with error bars, an optional fitted curve and horizontal reference line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if dy is None:
        ax.plot(xa, ya, "-", lw=1.2)
    else:
        ax.errorbar(xa, ya, yerr=np.asarray(dy, dtype=float), fmt="o", ms=3, capsize=2)
    if fit is not None:
        xs = np.linspace(xa.min(), xa.max(), 200)
        ax.plot(xs, fit(xs), "-", lw=1, label=fit_label)
        ax.legend(fontsize=8)
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return save_figure(fig, path)


def histogram(path: Path, values: np.ndarray, xlabel: str, bins: int | str = "auto") -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(np.ravel(values), bins=bins)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return save_figure(fig, path)
