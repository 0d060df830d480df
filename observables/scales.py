"""Scales from the gradient flow and the topological susceptibility, with Gamma-method errors.

- ``t0``: ``t^2 <E(t)> = 0.3`` (M. Lüscher, JHEP 08 (2010) 071, eq. (3.1)).
- ``w0``: ``W(t) = t d/dt (t^2 <E(t)>) = 0.3`` at ``t = w0^2`` (S. Borsányi et al.,
  JHEP 09 (2012) 010, arXiv:1203.4469, eq. (2.4)).
``t^2 <E>`` is a cubic spline through the measured flow times (not-a-knot), W its derivative
times t; the root is bracketed by the first sign change on the grid.
- ``chi_t = <Q^2>/V`` (``<Q> = 0`` assumed, as in a periodic box) with the error of a derived
  quantity of ``<Q^2>``.
Chains are replicas of the Gamma method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq

from lqcd_hmc.statistics import derived, gamma_method

REFERENCE = 0.3


def _root(fn, grid: np.ndarray, ref: float) -> float:
    vals = fn(grid) - ref
    idx = np.nonzero((vals[:-1] < 0) & (vals[1:] >= 0))[0]
    if idx.size == 0:
        return float("nan")
    k = idx[0]
    return float(brentq(lambda x: fn(x) - ref, grid[k], grid[k + 1]))


def flow_scales(t: np.ndarray, E: np.ndarray, ref: float = REFERENCE) -> tuple[float, float]:
    """``(t0, w0)`` from one curve ``<E(t)>`` on the grid ``t`` (NaN where not reached)."""
    t = np.asarray(t, dtype=np.float64)
    cs = CubicSpline(t, t * t * np.asarray(E, dtype=np.float64))
    d = cs.derivative()
    t0 = _root(cs, t, ref)
    ts = _root(lambda x: x * d(x), t[1:], ref)
    return t0, float(np.sqrt(ts)) if np.isfinite(ts) else float("nan")


def scales_function(t: np.ndarray, ref: float = REFERENCE) -> Callable[[np.ndarray], np.ndarray]:
    """``<E>`` on the grid ``t`` -> ``(t0, sqrt(8 t0), w0)``, for
    :func:`lqcd_hmc.statistics.derived`."""

    def f(m: np.ndarray) -> np.ndarray:
        t0, w0 = flow_scales(t, m, ref)
        return np.array([t0, np.sqrt(8 * t0), w0])

    return f


def flow_analysis(t: np.ndarray, E: np.ndarray, ref: float = REFERENCE) -> dict[str, Any]:
    """t0/a^2, sqrt(8 t0)/a and w0/a with errors from ``E`` ``(n, B, n_t)`` on the grid ``t``."""
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 3 or E.shape[2] != len(t) or len(t) < 4:
        raise ValueError(
            f"flow analysis needs E of shape (n, chains, n_t >= 4) on the flow times, got {E.shape}"
        )
    t0, s8, w0 = derived(scales_function(t, ref), E.transpose(2, 1, 0))
    mean = E.mean((0, 1))
    err = [
        gamma_method(E[:, :, k].T).error if E.shape[0] > 1 else float("nan") for k in range(len(t))
    ]
    return {
        "t": np.asarray(t).tolist(),
        "E": mean.tolist(),
        "E_error": err,
        "t2E": (np.asarray(t) ** 2 * mean).tolist(),
        "t0": {"value": t0.mean, "error": t0.error, "tau_int": t0.tau_int},
        "sqrt_8t0": {"value": s8.mean, "error": s8.error},
        "w0": {"value": w0.mean, "error": w0.error, "tau_int": w0.tau_int},
    }


def susceptibility(Q: np.ndarray, volume: float) -> dict[str, Any]:
    """``<Q>``, ``<Q^2>`` and ``chi_t = <Q^2>/V`` with errors and tau_int, ``Q`` ``(n, B)``."""
    Q = np.asarray(Q, dtype=np.float64)
    q = gamma_method(Q.T)
    (q2,) = derived(lambda m: m, (Q**2).T[None])
    return {
        "Q": {"value": q.mean, "error": q.error, "tau_int": q.tau_int},
        "Q2": {"value": q2.mean, "error": q2.error, "tau_int": q2.tau_int},
        "chi_t": {"value": q2.mean / volume, "error": q2.error / volume},
    }
