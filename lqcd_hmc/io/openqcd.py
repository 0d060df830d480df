"""openQCD gauge-field files (M. Lüscher, openQCD ``modules/archive/archive.c``), SU(3), D = 4.

Little-endian throughout: int32 ``N0 N1 N2 N3`` (N0 is time), float64 plaquette
``<Re tr U_p>`` (3 on a cold field), then for every *odd* point x, in lexicographic order with x0
(time) slowest and x3 fastest, the eight matrices ``U_0(x), U_0(x-0), U_1(x), U_1(x-1), ...,
U_3(x-3)``, each 3x3 complex double row-major. Each link touches one odd point, so this covers
the lattice once. openQCD direction 0 is our direction 3 (time); 1, 2, 3 are our 0, 1, 2.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from .errors import FormatError
from .su3 import array_plaquette, check_close, read_exact, require_finite

_HEAD = struct.Struct("<4id")
_OUR_DIR = (3, 0, 1, 2)  # openQCD direction k is our direction _OUR_DIR[k]


def _txyz(U: np.ndarray) -> np.ndarray:
    """``(mu, x, y, z, t, a, b)`` -> ``(t, x, y, z, k, a, b)`` with openQCD direction k."""
    return U[list(_OUR_DIR)].transpose(4, 1, 2, 3, 0, 5, 6)


def _odd_mask(N: tuple[int, ...]) -> np.ndarray:
    x = np.indices(N).sum(0)
    return (x % 2) == 1


def read(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Links ``(4, Lx, Ly, Lz, Lt, 3, 3)`` complex128 and ``{"plaquette", "dims"}``; checks the
    file size and the header plaquette."""
    with open(path, "rb") as f:
        *N, plaq = _HEAD.unpack(read_exact(f, _HEAD.size, "openQCD header", path))
        if min(N) < 2 or max(N) > 4096 or any(n % 2 for n in N):
            raise FormatError(f"{path}: not an openQCD file (lattice sizes {N})")
        n_odd = int(np.prod(N)) // 2
        need = n_odd * 8 * 9 * 16
        raw = f.read(need + 1)
    if len(raw) != need:
        raise FormatError(
            f"{path}: openQCD data holds {len(raw)} bytes, {need} expected "
            f"for a {'x'.join(map(str, N))} lattice"
        )
    blocks = np.frombuffer(raw, "<c16").reshape(n_odd, 4, 2, 3, 3)
    N0, N1, N2, N3 = N
    V = np.zeros((N0, N1, N2, N3, 4, 3, 3), np.complex128)
    odd = _odd_mask(tuple(N))
    for k in range(4):
        fwd = np.zeros((N0, N1, N2, N3, 3, 3), np.complex128)
        bwd = np.zeros_like(fwd)
        fwd[odd] = blocks[:, k, 0]
        bwd[odd] = blocks[:, k, 1]
        # the backward link stored at odd y is U_k(y - k): move it to its base point y - k
        V[..., k, :, :] = fwd + np.roll(bwd, -1, axis=k)
    U = np.ascontiguousarray(V.transpose(4, 1, 2, 3, 0, 5, 6)[list(np.argsort(_OUR_DIR))])
    require_finite(path, U)
    check_close(path, "plaquette", plaq, 3.0 * array_plaquette(U), 1e-10)
    return U, {"plaquette": plaq / 3.0, "dims": (N1, N2, N3, N0)}


def write(path: str | os.PathLike, U: np.ndarray) -> None:
    """Write ``U`` (``(4, Lx, Ly, Lz, Lt, 3, 3)``) in openQCD's layout; lattice sizes even."""
    Lx, Ly, Lz, Lt = U.shape[1:5]
    N = (Lt, Lx, Ly, Lz)
    if any(n % 2 for n in N):
        raise FormatError(f"openQCD needs even lattice sizes, got {Lx}x{Ly}x{Lz}x{Lt}")
    V = _txyz(U)
    odd = _odd_mask(N)
    blocks = np.empty((int(odd.sum()), 4, 2, 3, 3), np.complex128)
    for k in range(4):
        blocks[:, k, 0] = V[..., k, :, :][odd]
        blocks[:, k, 1] = np.roll(V[..., k, :, :], 1, axis=k)[odd]
    with open(path, "wb") as f:
        f.write(_HEAD.pack(*N, 3.0 * array_plaquette(U)))
        f.write(blocks.astype("<c16").tobytes())
