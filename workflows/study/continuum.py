"""Continuum extrapolation of a dimensionless ratio: ``y(x) = y_0 + s x`` in ``x = a^2/t0``
(the leading artifact of every action here is O(a^2), up to logarithms), by weighted least
squares with weights ``1/dy^2``; the errors of x (from t0) are neglected against those of y.
With two points the line goes through them (no chi^2); with one there is no extrapolation.
:func:`joint` fits several actions at once with a common ``y_0`` and a slope each (a constrained
continuum limit, e.g. of Wilson and Symanzik), so that the deviation of any action at finite
spacing, ``y / y_0 - 1``, is measured against the same estimate; the ensembles are independent,
so the points are uncorrelated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

Points = tuple[ArrayLike, ArrayLike, ArrayLike]


def joint(series: Mapping[str, Points]) -> dict[str, Any] | None:
    """``{"value", "error", "slopes": {label: (slope, error)}, "chi2_dof", "points"}`` of
    ``y = y_0 + s_label x`` over the finite points of every series ``(x, y, dy)``; a series
    with fewer than two distinct x is left out; None when none remains."""
    kept = {}
    for label, pts in series.items():
        xa, ya, da = (np.asarray(v, dtype=np.float64) for v in pts)
        ok = np.isfinite(xa) & np.isfinite(ya) & np.isfinite(da) & (da > 0)
        if ok.sum() >= 2 and np.ptp(xa[ok]) > 0:
            kept[label] = (xa[ok], ya[ok], da[ok])
    if not kept:
        return None
    n = len(kept)
    rows, y, w = [], [], []
    for i, (xa, ya, da) in enumerate(kept.values()):
        X = np.zeros((xa.size, n + 1))
        X[:, 0], X[:, 1 + i] = 1.0, xa
        rows.append(X)
        y.append(ya)
        w.append(1.0 / da**2)
    X, Y, W = np.concatenate(rows), np.concatenate(y), np.concatenate(w)
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    c = cov @ X.T @ (W * Y)
    chi2 = float((W * (Y - X @ c) ** 2).sum())
    dof = Y.size - (n + 1)
    err = np.sqrt(np.diag(cov))
    return {
        "value": float(c[0]),
        "error": float(err[0]),
        "slopes": {k: (float(c[1 + i]), float(err[1 + i])) for i, k in enumerate(kept)},
        "chi2_dof": chi2 / dof if dof > 0 else float("nan"),
        "points": int(Y.size),
    }


def extrapolate(x: ArrayLike, y: ArrayLike, dy: ArrayLike) -> dict[str, Any] | None:
    """``{"value", "error", "slope", "slope_error", "chi2_dof", "points"}`` of the fit to the
    finite points of one action, or None when fewer than two distinct x remain."""
    fit = joint({"": (x, y, dy)})
    if fit is None:
        return None
    fit["slope"], fit["slope_error"] = fit.pop("slopes")[""]
    return fit


def deviation(y: float, dy: float, y0: float, dy0: float) -> tuple[float, float]:
    """``y / y0 - 1`` and its error (``y`` and ``y0`` independent)."""
    return y / y0 - 1, float(np.hypot(dy / y0, y * dy0 / y0**2))
