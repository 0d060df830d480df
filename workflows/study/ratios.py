"""Scales and dimensionless ratios of one ensemble, with correlated Gamma-method errors.

The gradient-flow energy ``E_clover(t)`` (or another measured form), the Wilson loops
``W(r, T)`` and the squared charge ``Q_improved^2`` of the same configurations are the
primaries of one
:func:`lqcd_hmc.statistics.derived` call (Wolff, Comput. Phys. Commun. 156 (2004) 143,
section 3.3), so every ratio carries the correlation of its numerator and denominator and
their autocorrelations. The functions of the means are exactly those of ``lqcd-hmc analyze``
(:func:`observables.scales.scales_function`, :func:`observables.potential.cornell_model`), so
``t0``, ``w0``, ``r0``, ``sigma`` and ``chi_t`` equal its values and errors, the excited-state
systematic of the potential's plateau included: every quantity that depends on the Cornell fit
is also evaluated with the fit at T* + 1, and ``|q(T*) - q(T* + 1)|`` is added in quadrature
(``error_stat``, ``error_sys``).

Quantities (lattice units, a = 1): ``t0``, ``w0``, ``t02`` (the flow time of ``t^2 E = 0.2``),
``r0``, ``sigma`` (a^2 sigma), ``chi_t`` (a^4 chi_t = <Q^2>/V at the flow's t_max); ratios
``a2_over_t0`` = a^2/t0 (the x axis of the scaling plots), ``sqrt_t0_over_r0``,
``w0_over_sqrt_t0``, ``sqrt_t02_over_t0`` = sqrt(t_0.2/t0) (two flow scales), ``sqrt_sigma_t0``,
``r0_sqrt_sigma``, ``t0sq_chi_t`` = t0^2 chi_t.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lqcd_hmc.io import Ensemble
from lqcd_hmc.io.replicas import common_rows
from lqcd_hmc.statistics import derived
from observables.potential import cornell_model
from observables.scales import scales_function

RATIOS = {
    "sqrt_t0_over_r0": ("sqrt(t0)/r0", ("t0", "r0"), lambda q: np.sqrt(q["t0"]) / q["r0"]),
    "w0_over_sqrt_t0": ("w0/sqrt(t0)", ("t0", "w0"), lambda q: q["w0"] / np.sqrt(q["t0"])),
    "sqrt_t02_over_t0": (
        "sqrt(t_0.2/t0)",
        ("t0", "t02"),
        lambda q: np.sqrt(q["t02"] / q["t0"]),
    ),
    "sqrt_sigma_t0": ("sqrt(sigma t0)", ("t0", "sigma"), lambda q: np.sqrt(q["sigma"] * q["t0"])),
    "r0_sqrt_sigma": ("r0 sqrt(sigma)", ("r0", "sigma"), lambda q: q["r0"] * np.sqrt(q["sigma"])),
    "t0sq_chi_t": ("t0^2 chi_t", ("t0", "chi_t"), lambda q: q["t0"] ** 2 * q["chi_t"]),
}


OWN = "quantities"  # a study entry's key for the quantities with the card's (or own) flow
WILSON_FLOW = "gradient_flow_wilson"  # the study's second flow table (``wilson_flow = true``)
ACTION_ENERGY = "quantities_action_energy"  # own flow, the action's own E (``action_energy``)
T02 = 0.2  # the second reference value of t^2 E (t0: 0.3)


def ensemble_quantities(
    path: str | Path,
    plateau: int | None = None,
    r_min: float | None = None,
    r_max: float | None = None,
    flow_table: str = "gradient_flow",
    after: int = 0,
    until: int | None = None,
    energy: str = "clover",
) -> dict[str, dict[str, float]]:
    """``{name: {"value", "error", "tau_int"}}`` of the module docstring for the HDF5 ensemble
    ``path``, the flow quantities from the column ``E_<energy>`` of
    ``measurements/<flow_table>`` (``"clover"``, ``"plaquette"``, or ``"action"`` where the
    flow measured its action's density), from the measurements after trajectory ``after`` (up
    to ``until``); quantities whose measurement is missing (or whose fit fails) are left out."""
    ens = Ensemble(path)
    names = ens.measurement_names()
    sources = {
        kind: ens.table(f"measurements/{n}")
        for kind, n in (("gradient_flow", flow_table), ("wilson_loops", "wilson_loops"))
        if n in names
    }
    if "wilson_loops" in sources and "r" not in sources["wilson_loops"]:
        del sources["wilson_loops"]  # not the temporal loops of V(r)
    if not sources:
        return {}
    last = math.inf if until is None else until
    sources = {
        k: {name: v[(t["trajectory"] > after) & (t["trajectory"] <= last)] for name, v in t.items()}
        for k, t in sources.items()
    }
    tables = dict(zip(sources, common_rows(list(sources.values()))))
    if next(iter(tables.values()))["trajectory"].size < 2:
        return {}
    blocks: list[tuple[np.ndarray, Callable[[np.ndarray], dict[str, float]]]] = []
    if "gradient_flow" in tables and f"E_{energy}" in tables["gradient_flow"]:
        flow = tables["gradient_flow"]
        scales = scales_function(flow["t"][0, 0])
        scales02 = scales_function(flow["t"][0, 0], T02)
        blocks.append(
            (
                flow[f"E_{energy}"].transpose(2, 1, 0),
                lambda m: {**dict(zip(("t0", "w0"), scales(m)[[0, 2]])), "t02": scales02(m)[0]},
            )
        )
        if "Q_improved" in flow:
            V = float(flow["volume"][0, 0])
            blocks.append(((flow["Q_improved"] ** 2).T[None], lambda m: {"chi_t": m[0] / V}))
    later = None  # the Cornell fit at the plateau T + 1: the excited-state systematic
    if "wilson_loops" in tables:
        loops = tables["wilson_loops"]
        try:
            model = cornell_model(loops["W"], loops["r"][0, 0], plateau, r_min, r_max)
            sigma, r0 = model.f(model.prim.mean(axis=(1, 2)))[[2, 3]]
            if model.passed and sigma > 0 and np.isfinite(r0):  # else undefined, as in analyze
                blocks.append(
                    (model.prim, lambda m: dict(zip(("sigma", "r0"), model.f(m)[[2, 3]])))
                )
                if model.plateau + 1 < loops["W"].shape[3]:
                    later = cornell_model(
                        loops["W"], loops["r"][0, 0], model.plateau + 1, r_min, r_max
                    )
        except ValueError:
            pass
    sizes = np.cumsum([0] + [b[0].shape[0] for b in blocks])
    prim = np.concatenate([b[0] for b in blocks])

    def quantities(m: np.ndarray, fit_at_next: bool = False) -> dict[str, float]:
        q: dict[str, float] = {}
        for (_, fn), lo, hi in zip(blocks, sizes[:-1], sizes[1:]):
            q.update(fn(m[lo:hi]))
        if fit_at_next and later is not None:
            q.update(zip(("sigma", "r0"), later.f(m[sizes[-2] : sizes[-1]])[[2, 3]]))
        return q

    names_out = list(quantities(prim.mean(axis=(1, 2))))
    if "t0" in names_out:
        names_out.append("a2_over_t0")
    names_out += [k for k, (_, need, _) in RATIOS.items() if set(need) <= set(names_out)]

    def f(m: np.ndarray, fit_at_next: bool = False) -> np.ndarray:
        q = quantities(m, fit_at_next)
        with np.errstate(divide="ignore", invalid="ignore"):
            if "t0" in q:
                q["a2_over_t0"] = 1.0 / q["t0"]
            for k, (_, need, fn) in RATIOS.items():
                if set(need) <= set(q):
                    q[k] = fn(q)
        return np.array([q[k] for k in names_out], dtype=np.float64)

    out = {
        k: {"value": g.mean, "error": g.error, "tau_int": g.tau_int}
        for k, g in zip(names_out, derived(f, prim))
    }
    if later is not None:  # as static_potential: error = sqrt(stat^2 + |q(T) - q(T + 1)|^2)
        means = prim.mean(axis=(1, 2))
        for k, a, b in zip(names_out, f(means), f(means, fit_at_next=True)):
            if a != b and np.isfinite(b):
                r = out[k]
                r["error_stat"], r["error_sys"] = r["error"], float(abs(a - b))
                r["error"] = float(np.hypot(r["error"], a - b))
    return out
