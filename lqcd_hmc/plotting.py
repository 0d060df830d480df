"""PNG plots for ``lqcd-hmc analyze --plots DIR`` (matplotlib, non-interactive Agg backend, the
package's style ``lqcd.mplstyle``: colour-blind-safe colours, inward ticks, light grid).

Helpers the measurements' :meth:`~lqcd_hmc.measurement.Measurement.plot` methods build on:
Monte Carlo histories (one thin line per chain, the production mean with its Gamma-method error
band, thermalisation shaded), curves with error bars and fits (a fit that is not valid is not
drawn: the plot says why), histograms. Every plot has a title naming the ensemble and axis
labels with their units (``a`` the lattice spacing; dimensionless quantities say so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .statistics import gamma_method, with_error

STYLE = Path(__file__).with_name("lqcd.mplstyle")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use(str(STYLE))
    return plt


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as PNG with its title, axis labels, legend entries and notes in the PNG's
    text chunks (``Title``, ``Description``, ``Comment``), so what a plot says can be checked
    without looking at it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ax = fig.axes[0]
    legend = ax.get_legend()
    entries = [t.get_text() for t in legend.get_texts()] if legend is not None else []
    notes = [t.get_text() for t in ax.texts]
    meta = {
        "Title": ax.get_title(),
        "Description": f"x: {ax.get_xlabel()}; y: {ax.get_ylabel()}",
        "Comment": " | ".join(entries + notes),
    }
    fig.savefig(path, metadata=meta)
    pyplot().close(fig)
    return path


def png_text(path: Path) -> dict[str, str]:
    """The text chunks :func:`save_figure` wrote."""
    from PIL import Image

    with Image.open(path) as im:
        return {str(k): v for k, v in im.info.items() if isinstance(v, str)}


def history(
    path: Path,
    trajectory: np.ndarray,
    series: np.ndarray,
    label: str,
    title: str = "",
    thermalisation: int = 0,
) -> Path:
    """Monte Carlo history of ``series`` ``(n, B)`` against ``trajectory``: one thin line a
    chain, the mean of the production part (trajectory > ``thermalisation``) with its
    Gamma-method error band (chains as replicas), the thermalisation shaded."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    traj = np.asarray(trajectory)
    series = np.asarray(series, dtype=np.float64)
    for b in range(series.shape[1]):
        ax.plot(traj, series[:, b], lw=0.6, alpha=0.55, label=f"chain {b}" if b < 4 else None)
    prod = traj > thermalisation
    if thermalisation > 0 and (~prod).any():
        ax.axvspan(traj.min(), thermalisation, color="0.85", zorder=0, label="thermalisation")
    if prod.sum() >= 2:
        r = gamma_method(series[prod].T)
        x = [traj[prod].min(), traj[prod].max()]
        ax.fill_between(x, r.mean - r.error, r.mean + r.error, color="k", alpha=0.2, lw=0)
        ax.plot(x, [r.mean, r.mean], "k-", lw=1.0, label=f"mean {with_error(r.mean, r.error)}")
    ax.set_xlabel("trajectory")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.legend(ncol=3, loc="best")
    return save_figure(fig, path)


def histories(
    name: str,
    table: Mapping[str, np.ndarray],
    directory: Path,
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> list[Path]:
    """Histories of every scalar column of a measurement table, the axis labelled by
    ``labels[column]`` (else ``"<name>: <column>"``)."""
    out = []
    traj = np.asarray(table["trajectory"])
    for col, a in table.items():
        a = np.asarray(a)
        if col == "trajectory" or a.ndim != 2 or np.ptp(a) == 0:
            continue
        label = (labels or {}).get(col, f"{name}: {col}")
        out.append(history(Path(directory) / f"{name}_{col}_history.png", traj, a, label, title))
    return out


@dataclass
class Series:
    """Points with error bars for :func:`curve`; ``band``: a line with an error band (for
    dense curves such as a flow history)."""

    x: ArrayLike
    y: ArrayLike
    dy: ArrayLike | None = None
    label: str | None = None
    band: bool = False


def curve(
    path: Path,
    series: Sequence[Series],
    xlabel: str,
    ylabel: str,
    title: str = "",
    fit: Callable[[np.ndarray], np.ndarray] | None = None,
    fit_label: str = "fit",
    no_fit: str | None = None,
    hline: tuple[float, str] | None = None,
    vlines: Sequence[tuple[float, float | None, str]] = (),
) -> Path:
    """Points with error bars (several ``series``), an optional fitted curve (``no_fit``:
    the reason a fit is not drawn, written on the plot), a labelled horizontal reference line
    ``(y, label)`` and vertical markers ``(x, error, label)`` with their error bands."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs_all = []
    for s in series:
        xa, ya = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
        xs_all.append(xa)
        if s.dy is None:
            ax.plot(xa, ya, "-", label=s.label)
        elif s.band:
            (line,) = ax.plot(xa, ya, "-", label=s.label)
            dy = np.asarray(s.dy, dtype=float)
            ax.fill_between(xa, ya - dy, ya + dy, color=line.get_color(), alpha=0.25, lw=0)
        else:
            ax.errorbar(xa, ya, yerr=np.asarray(s.dy, dtype=float), fmt="o", label=s.label)
    if fit is not None:
        x = np.concatenate(xs_all)
        xs = np.linspace(x.min(), x.max(), 200)
        ax.plot(xs, fit(xs), "-", color="k", lw=1, label=fit_label)
    if no_fit:
        ax.text(
            0.03,
            0.97,
            f"no fit drawn: {no_fit}",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            color="#D55E00",
            wrap=True,
        )
    if hline is not None:
        ax.axhline(hline[0], color="0.4", lw=0.8, ls="--", label=hline[1])
    for at, width, label in vlines:
        ax.axvline(at, color="0.3", lw=0.8, ls=":", label=label)
        if width is not None and np.isfinite(width):
            ax.axvspan(at - width, at + width, color="0.5", alpha=0.15, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    return save_figure(fig, path)


def histogram(
    path: Path, values: np.ndarray, xlabel: str, title: str = "", bins: int | str = "auto"
) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(np.ravel(values), bins=bins, color="#0072B2", alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("configurations x chains")
    ax.set_title(title)
    return save_figure(fig, path)
