"""Continuum extrapolation of a dimensionless ratio: ``y(x) = y_0 + s x`` in ``x = a^2/t0``
(the leading artifact of every action here is O(a^2), up to logarithms), by weighted least
squares with weights ``1/dy^2``; the errors of x (from t0) are neglected against those of y.
With two points the line goes through them (no chi^2); with one there is no extrapolation.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def extrapolate(x: Sequence[float], y: Sequence[float], dy: Sequence[float]
                ) -> dict[str, float] | None:
    """``{"value", "error", "slope", "slope_error", "chi2_dof", "points"}`` of the fit to the
    finite points, or None when fewer than two distinct x remain."""
    x, y, dy = (np.asarray(v, dtype=np.float64) for v in (x, y, dy))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(dy) & (dy > 0)
    x, y, dy = x[ok], y[ok], dy[ok]
    if x.size < 2 or np.ptp(x) == 0:
        return None
    w = 1.0 / dy ** 2
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    c = cov @ X.T @ (w * y)
    chi2 = float((w * (y - X @ c) ** 2).sum())
    dof = x.size - 2
    return {"value": float(c[0]), "error": float(np.sqrt(cov[0, 0])), "slope": float(c[1]),
            "slope_error": float(np.sqrt(cov[1, 1])),
            "chi2_dof": chi2 / dof if dof > 0 else float("nan"), "points": int(x.size)}
