"""Continuum extrapolation of a dimensionless ratio: ``y(x) = y_0 + s x`` in ``x = a^2/t0``
(the leading artifact of every action here is O(a^2), up to logarithms), by weighted least
squares with weights ``1/dy^2``; the errors of x (from t0) are neglected against those of y.
With two points the line goes through them (no chi^2); with one there is no extrapolation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def extrapolate(x: ArrayLike, y: ArrayLike, dy: ArrayLike) -> dict[str, float] | None:
    """``{"value", "error", "slope", "slope_error", "chi2_dof", "points"}`` of the fit to the
    finite points, or None when fewer than two distinct x remain."""
    xa, ya, da = (np.asarray(v, dtype=np.float64) for v in (x, y, dy))
    ok = np.isfinite(xa) & np.isfinite(ya) & np.isfinite(da) & (da > 0)
    xa, ya, da = xa[ok], ya[ok], da[ok]
    if xa.size < 2 or np.ptp(xa) == 0:
        return None
    w = 1.0 / da**2
    X = np.stack([np.ones_like(xa), xa], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    c = cov @ X.T @ (w * ya)
    chi2 = float((w * (ya - X @ c) ** 2).sum())
    dof = xa.size - 2
    return {
        "value": float(c[0]),
        "error": float(np.sqrt(cov[0, 0])),
        "slope": float(c[1]),
        "slope_error": float(np.sqrt(cov[1, 1])),
        "chi2_dof": chi2 / dof if dof > 0 else float("nan"),
        "points": int(xa.size),
    }
