"""The static potential from Wilson loops: effective masses, plateau, Cornell fit, r0, r1, sigma.

Input: Monte Carlo series of ``W(r, T)`` for the spatial distances ``r`` (on- and off-axis)
and ``T = 1..T_max`` (observables.measurements.WilsonLoops with temporal planes).

- ``aV(r, T) = ln W(r, T)/W(r, T+1)``; the plateau ``T*`` (unless given) is the smallest
  ``T >= 2`` at which the steps ``d_r = aV(r, T) - aV(r, T+1)`` of the n fitted distances are
  compatible with zero: ``sum_r (d_r/err d_r)^2 <= n + 2 sqrt(2n)`` (the chi^2 mean plus two of
  its standard deviations, correlations between distances ignored). T = 1 is never chosen
  automatically: with smeared lines ``aV(r, 1)`` often agrees with ``aV(r, 2)`` within errors
  while still carrying excited states (it moved r0 by 10 % in ``bench/scales_wilson.py``).
  When no T passes, the T >= 2 with the smallest step chi^2 is taken and
  ``plateau_test_passed`` is false: check the table of ``aV(r, T)`` or give ``--plateau``.
- Cornell fit ``V(r) = V0 - alpha/r + sigma r`` to ``aV(r, T*)``, correlated:
  ``chi^2 = (V - f)^T C^{-1} (V - f)`` with C the covariance of the ``aV(r, T*)``
  (:func:`lqcd_hmc.statistics.covariance`; pseudo-inverse where it is singular);
  the model is linear in ``(V0, alpha, sigma)``, so the minimum is the generalised least-squares
  solution ``p = (X^T C^-1 X)^-1 X^T C^-1 V``.
- Force ``F(r) = alpha/r^2 + sigma`` at the fitted distances; Sommer scale ``r0^2 F(r0) = 1.65``
  (R. Sommer, Nucl. Phys. B 411 (1994) 839), ``r1^2 F(r1) = 1.0`` (C. Bernard et al.,
  Phys. Rev. D 62 (2000) 034503): ``r_c = sqrt((c - alpha)/sigma)``.
- Excited states: every fit quantity q is also fitted at the plateau T* + 1; its ``error`` is
  ``sqrt(error_stat^2 + error_sys^2)`` with ``error_sys = |q(T*) - q(T* + 1)|`` (what the
  plateau choice moves it by; ``tests/test_potential.py`` shows on synthetic loops with two
  excited states that this covers the bias the statistical error alone misses). Without a
  T* + 1 below T_max the systematic is not estimated and ``systematic`` says so.
- sigma, r0 and r1 are reported as undefined, with the reason (``fit_undefined``), when the
  automatic plateau test failed, sigma is not positive, or r0 has no solution.
- Creutz ratios ``chi(R, T) = -ln[W(R,T) W(R-1,T-1) / (W(R,T-1) W(R-1,T))]`` (on-axis).

Every error is the Gamma-method error of a derived quantity of the loop averages
(:func:`lqcd_hmc.statistics.derived`); chains are replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lqcd_hmc.statistics import GammaResult, covariance, derived, with_error


def _series(W: np.ndarray) -> np.ndarray:
    """``(n, B, *shape)`` -> ``(prod(shape), B, n)`` primaries for :func:`derived`."""
    n, B = W.shape[:2]
    return W.reshape(n, B, -1).transpose(2, 1, 0)


def _derived_grid(W: np.ndarray, f, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Values and Gamma-method errors of ``f(w)`` (``w`` the ``(n_r, T_max)`` loop means),
    reshaped to ``out_shape``."""
    shape = W.shape[2:]

    def flat(m: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return f(m.reshape(shape)).ravel()

    res = derived(flat, _series(W))
    return (
        np.reshape([x.mean for x in res], out_shape),
        np.reshape([x.error for x in res], out_shape),
    )


def _log_ratio(w: np.ndarray) -> np.ndarray:
    return np.log(w[:, :-1] / w[:, 1:])


def effective_masses(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``aV(r, T)`` and errors, shape ``(n_r, T_max - 1)``, from ``W`` ``(n, B, n_r, T_max)``."""
    n_r, T = W.shape[2:]
    return _derived_grid(W, _log_ratio, (n_r, T - 1))


def plateau_steps(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``d(r, T) = aV(r, T) - aV(r, T+1)`` and its errors, shape ``(n_r, T_max - 2)``."""
    n_r, T = W.shape[2:]
    return _derived_grid(W, lambda w: -np.diff(_log_ratio(w), axis=1), (n_r, T - 2))


def choose_plateau(W: np.ndarray, V: np.ndarray, rows: np.ndarray) -> tuple[int, bool]:
    """``(T, passed)``: the smallest T >= 2 (1-based; T = 1 when T_max = 2) whose steps to
    T+1 pass the test of the module docstring; if none passes, the T >= 2 with the smallest
    step chi^2 per distance, with ``passed = False``."""
    if W.shape[3] < 3:
        return 1, False
    d, dd = plateau_steps(W)
    n = rows.size
    best, best_chi2 = 2, np.inf
    for T in range(1, d.shape[1]):
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = float(((d[rows, T] / dd[rows, T]) ** 2).sum())
        if not (np.isfinite(chi2) and np.isfinite(V[rows, T]).all()):
            continue
        if chi2 <= n + 2 * np.sqrt(2 * n):
            return T + 1, True
        if chi2 < best_chi2:
            best, best_chi2 = T + 1, chi2
    return best, False


def cornell_gls(r: np.ndarray, V: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, float]:
    """``(V0, alpha, sigma)`` and ``chi^2`` of the correlated fit (module docstring)."""
    X = np.stack([np.ones_like(r), -1.0 / r, r], axis=1)
    Ci = np.linalg.pinv(C, hermitian=True)
    p = np.linalg.solve(X.T @ Ci @ X, X.T @ Ci @ V)
    res = V - X @ p
    return p, float(res @ Ci @ res)


def scale_from_fit(p: np.ndarray, c: float) -> float:
    """``r_c`` with ``r_c^2 F(r_c) = c`` for the Cornell parameters ``p``."""
    _, alpha, sigma = p
    x = (c - alpha) / sigma
    return float(np.sqrt(x)) if sigma > 0 and x > 0 else float("nan")


def creutz_ratios(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``chi(R, T)`` for R, T >= 2 and errors, from on-axis ``W`` ``(n, B, R_max, T_max)``;
    entry ``[R-2, T-2]``."""
    R, T = W.shape[2:]
    return _derived_grid(
        W, lambda w: -np.log(w[1:, 1:] * w[:-1, :-1] / (w[1:, :-1] * w[:-1, 1:])), (R - 1, T - 1)
    )


def _result(g: GammaResult) -> dict[str, Any]:
    return {"value": g.mean, "error": g.error}


@dataclass
class CornellModel:
    """The Cornell fit of one ensemble as a function of the loop averages: ``f`` maps the
    means of the primaries ``prim`` ``(n_r T_max, B, n)`` to ``(V0, alpha, sigma, r0, r1,
    F(r) at the fitted r)``, the fit's covariance ``C`` held fixed (module docstring), so that
    :func:`lqcd_hmc.statistics.derived` gives the errors, also of quantities that combine it
    with other measurements of the same configurations."""

    prim: np.ndarray
    f: Callable[[np.ndarray], np.ndarray]
    r: np.ndarray
    rows: np.ndarray
    plateau: int
    passed: bool
    V: np.ndarray
    dV: np.ndarray
    chi2: float


def cornell_model(
    W: np.ndarray,
    r: np.ndarray,
    plateau: int | None = None,
    r_min: float | None = None,
    r_max: float | None = None,
) -> CornellModel:
    """Effective masses, plateau and fit range of ``W`` ``(n, B, n_r, T_max)`` at distances
    ``r`` ``(n_r,)``. Fit range ``r_min <= r <= r_max``: by default from r = 2 when that leaves
    at least four distances, else all."""
    W = np.asarray(W, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    if W.ndim != 4 or W.shape[2] != r.size or W.shape[3] < 2:
        raise ValueError(
            f"static potential needs W of shape (n, chains, {r.size}, T >= 2), got {W.shape}"
        )
    V, dV = effective_masses(W)
    if r_min is None:
        r_min = 2.0 if (r >= 2.0).sum() >= 4 else 0.0
    rows = np.nonzero((r >= r_min) & (r <= (np.inf if r_max is None else r_max)))[0]
    if rows.size < 4:
        upper = "" if r_max is None else f" and r <= {r_max}"
        raise ValueError(
            f"the Cornell fit needs at least 4 distances, r >= {r_min}{upper} leaves {rows.size}"
        )
    T, passed = choose_plateau(W, V, rows) if plateau is None else (int(plateau), True)
    if not 1 <= T < W.shape[3]:
        raise ValueError(f"plateau T = {T} outside 1..{W.shape[3] - 1}")
    prim = _series(W)
    idx = np.arange(W.shape[2] * W.shape[3]).reshape(W.shape[2:])
    num, den = idx[rows, T - 1], idx[rows, T]
    # covariance of aV(r, T*): fluctuations projected on d aV / d W
    means = prim.mean(axis=(1, 2))
    proj = prim[num] / means[num, None, None] - prim[den] / means[den, None, None]
    C = covariance(proj)
    rf = r[rows]

    def f(m: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(m[num] / m[den])
        p, _ = cornell_gls(rf, v, C)
        return np.array(
            [*p, scale_from_fit(p, 1.65), scale_from_fit(p, 1.0), *(p[1] / rf**2 + p[2])]
        )

    with np.errstate(divide="ignore", invalid="ignore"):
        _, chi2 = cornell_gls(rf, np.log(means[num] / means[den]), C)
    return CornellModel(prim, f, r, rows, T, passed, V, dV, chi2)


def fit_undefined(out: dict[str, Any]) -> str | None:
    """Why the Cornell fit does not define sigma, r0 and r1 (None when it does): no plateau
    was found, sigma is not positive, or r_c^2 F(r_c) = c has no solution."""
    if not out["plateau_test_passed"]:
        return (
            f"no plateau: the effective masses still change beyond T = {out['plateau']} "
            f"(plateau test failed); give --plateau after checking aV(r, T)"
        )
    sigma = out["sigma"]
    if not sigma["value"] > 0:
        return (
            f"sigma = {with_error(sigma['value'], sigma['error'])} is not positive: no linear "
            f"rise in the fit range r/a = {out['fit_r'][0]:g}..{out['fit_r'][-1]:g}"
        )
    if not np.isfinite(out["r0"]["value"]):
        return "r0^2 F(r0) = 1.65 has no solution for the fitted alpha and sigma"
    return None


def static_potential(
    W: np.ndarray,
    r: np.ndarray,
    plateau: int | None = None,
    r_min: float | None = None,
    r_max: float | None = None,
) -> dict[str, Any]:
    """The full analysis (module docstring) of ``W`` ``(n, B, n_r, T_max)`` at distances
    ``r`` ``(n_r,)`` (fit range as in :func:`cornell_model`)."""
    W = np.asarray(W, dtype=np.float64)
    m = cornell_model(W, r, plateau, r_min, r_max)
    r, rf, T = m.r, m.r[m.rows], m.plateau
    V0, alpha, sigma, r0, r1, *force = derived(m.f, m.prim)
    fits = {"V0": V0, "alpha": alpha, "sigma": sigma, "r0": r0, "r1": r1}
    results = {k: _result(g) for k, g in fits.items()}
    if T + 1 < W.shape[3]:  # the excited-state systematic: the same fit at T + 1
        later = cornell_model(W, r, T + 1, r_min, r_max)
        shifted = later.f(later.prim.mean(axis=(1, 2)))
        for i, key in enumerate(fits):
            res = results[key]
            sys = abs(res["value"] - shifted[i])
            res["error_stat"] = res["error"]
            res["error_sys"] = float(sys) if np.isfinite(sys) else None  # undefined at T + 1
            res["error"] = float(np.hypot(res["error"], sys)) if np.isfinite(sys) else res["error"]
    else:
        for res in results.values():
            res["error_stat"], res["error_sys"] = res["error"], None
    out: dict[str, Any] = {
        "r": r.tolist(),
        "V": m.V.tolist(),
        "V_error": m.dV.tolist(),
        "plateau": T,
        "plateau_test_passed": m.passed,
        "fit_r": rf.tolist(),
        "chi2_dof": m.chi2 / max(m.rows.size - 3, 1),
        **results,
        "systematic": (
            f"error includes |q(T) - q(T + 1)| at T = {T} (excited states)"
            if T + 1 < W.shape[3]
            else f"no T + 1 = {T + 1} < T_max: the excited-state systematic is not estimated"
        ),
        "force": {
            "r": rf.tolist(),
            "value": [x.mean for x in force],
            "error": [x.error for x in force],
        },
    }
    reason = fit_undefined(out)
    if reason:
        out["fit_undefined"] = reason
        for key in ("sigma", "r0", "r1"):
            out[key] = {"value": None, "error": None, "undefined": reason}
    off = r != np.arange(1, r.size + 1)  # the leading rows r = 1, 2, ...
    on_axis = int(np.argmax(off)) if off.any() else r.size
    if on_axis >= 2:
        chi, dchi = creutz_ratios(W[:, :, :on_axis])
        out["creutz"] = {"value": chi.tolist(), "error": dchi.tolist()}
    return out
