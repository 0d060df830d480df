"""The figures of the measurements' analyses (``lqcd-hmc analyze --plots``), built on
:mod:`lqcd_hmc.plotting`: the static potential with its Cornell fit (or the reason none is
drawn), ``t^2 E(t)`` of both energy densities with t0 and w0 marked, and the topological
charge's history and histogram at its flow time."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lqcd_hmc import plotting
from lqcd_hmc.statistics import with_error


def potential(pot: Mapping[str, Any], directory: Path, title: str) -> list[Path]:
    """``aV(r)`` at the plateau with the Cornell fit, unless the analysis left it undefined."""
    if "V0" not in pot:
        return []
    T = pot["plateau"]
    V = np.asarray(pot["V"])[:, T - 1]
    dV = np.asarray(pot["V_error"])[:, T - 1]
    V0, alpha, sigma = (pot[k]["value"] for k in ("V0", "alpha", "sigma"))
    undefined = pot.get("fit_undefined")
    r0 = pot["r0"]
    return [
        plotting.curve(
            directory / "static_potential.png",
            [plotting.Series(pot["r"], V, dV, f"aV(r, T = {T})")],
            "r/a",
            "aV(r) (lattice units)",
            title,
            fit=None if undefined else (lambda r: V0 - alpha / r + sigma * r),
            fit_label=""
            if undefined
            else f"Cornell fit, r0/a = {with_error(r0['value'], r0['error'])}",
            no_fit=undefined,
        )
    ]


def _marks(form: str, r: Mapping[str, Any]) -> list[tuple[float, float | None, str]]:
    """t0/a^2 and w0^2/a^2 of one energy density, where defined."""
    out = []
    t0, w0 = r.get("t0", {}), r.get("w0", {})
    if t0.get("value") is not None and np.isfinite(t0["value"]):
        out.append(
            (t0["value"], t0["error"], f"t0/a^2 = {with_error(t0['value'], t0['error'])} ({form})")
        )
    if w0.get("value") is not None and np.isfinite(w0["value"]):
        w2, dw2 = w0["value"] ** 2, 2 * w0["value"] * w0["error"]
        out.append((w2, dw2, f"w0^2/a^2 = {with_error(w2, dw2)} ({form})"))
    return out


def flow(
    table: Mapping[str, np.ndarray], result: Mapping[str, Any], directory: Path, title: str
) -> list[Path]:
    """``t^2 E(t)`` in every measured form with t0 and w0 marked; the charge at t_max when
    measured."""
    series, marks = [], []
    for form in ("clover", "plaquette", "action"):
        r = result.get(form)
        if r is None:
            continue
        t = np.asarray(r["t"])
        dE = np.asarray(r["E_error"]) * t**2
        series.append(plotting.Series(t, r["t2E"], dE, f"E ({form})", band=True))
        marks += _marks(form, r)
    if not series:
        return []
    out = [
        plotting.curve(
            directory / "flow_t2E.png",
            series,
            "flow time t/a^2",
            "t^2 <E(t)> (dimensionless)",
            title,
            hline=(0.3, "0.3: t0 (t^2 E), w0 (t d/dt t^2 E)"),
            vlines=marks,
        )
    ]
    if "Q_improved" in table:
        t_max = float(np.asarray(series[0].x)[-1])
        out += charges(table, directory, "flow_", title, f"at flow time t/a^2 = {t_max:g}")
    return out


def charges(
    table: Mapping[str, np.ndarray], directory: Path, prefix: str, title: str, when: str
) -> list[Path]:
    """History and histogram of the improved charge; ``when`` says at which smoothing."""
    Q = table["Q_improved"]
    label = f"Q (improved) {when}"
    return [
        plotting.history(
            directory / f"{prefix}topological_charge_history.png",
            table["trajectory"],
            Q,
            label,
            title,
        ),
        plotting.histogram(
            directory / f"{prefix}topological_charge_histogram.png", Q, label, title
        ),
    ]
