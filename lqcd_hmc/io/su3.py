"""What the exchange formats share: SU(3) in four dimensions, the (x, y, z, t) site order with x
fastest, and the plaquette and link trace their headers carry.

A configuration is handled here as a numpy array ``U`` of shape ``(4, Lx, Ly, Lz, Lt, 3, 3)``,
the engine's layout without the batch axis (direction 3 and axis 4 are time).
"""

from __future__ import annotations

import numpy as np
import torch

from ..loops import average_plaquette
from .errors import FormatError


def require_su3_4d(fmt: str, group: str, dims: tuple[int, ...]) -> None:
    """NERSC, ILDG and openQCD store SU(3) fields in D = 4 only."""
    if group != "SU(3)" or len(dims) != 4:
        raise FormatError(
            f"the {fmt} format holds SU(3) gauge fields in D = 4; this field is "
            f"{group} in D = {len(dims)} (use HDF5)"
        )


def array_plaquette(U: np.ndarray) -> float:
    """Average plaquette ``<Re Tr U_p> / N`` of one configuration (1 on a cold field)."""
    return float(average_plaquette(torch.from_numpy(np.ascontiguousarray(U))[None])[0])


def link_trace(U: np.ndarray) -> float:
    """Average ``Re Tr U_mu(x) / 3`` over all links (the NERSC ``LINK_TRACE``)."""
    return float(np.trace(U, axis1=-2, axis2=-1).real.mean() / 3.0)


def third_row(rows: np.ndarray) -> np.ndarray:
    """Complete two stored rows ``(..., 2, 3)`` to SU(3): ``r2 = (r0 x r1)^*``."""
    r2 = np.conj(np.cross(rows[..., 0, :], rows[..., 1, :]))
    return np.concatenate([rows, r2[..., None, :]], axis=-2)


def to_tzyx(U: np.ndarray) -> np.ndarray:
    """``(mu, x, y, z, t, a, b)`` -> ``(t, z, y, x, mu, a, b)``: the NERSC/ILDG site order."""
    return np.ascontiguousarray(U.transpose(4, 3, 2, 1, 0, 5, 6))


def from_tzyx(A: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_tzyx`."""
    return np.ascontiguousarray(A.transpose(4, 3, 2, 1, 0, 5, 6))


def require_finite(path, U: np.ndarray) -> None:
    """Links with NaN or infinite entries are refused on read (they would give a NaN plaquette
    and poison every measurement)."""
    bad = ~np.isfinite(U).all(axis=(-2, -1))
    if bad.any():
        raise FormatError(f"{path}: {int(bad.sum())} links hold NaN or infinite entries")


def read_exact(f, n: int, what: str, path) -> bytes:
    """``n`` bytes or a :class:`FormatError` naming the truncated part."""
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"{path}: truncated {what} ({len(data)} of {n} bytes)")
    return data


def check_close(path, what: str, stored: float, computed: float, tol: float) -> None:
    if not abs(stored - computed) <= tol:
        raise FormatError(f"{path}: {what} mismatch: header {stored!r}, data {computed!r}")
