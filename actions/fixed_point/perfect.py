"""Classical perfection as constraints on parametrised FP actions.

A parametrisation inherits classical perfection at quadratic order when its free-field part is
the free FP action (:mod:`.free_fixed_point`). We impose it as a hard constraint: the quadratic
part is carried by planar ``1 x n`` Wilson loops (both orientations, n = 1..3),

    ``A_2[U] = (1/N) sum_x sum_{mu<nu} sum_n a_n sum_{orient} Re Tr(1 - W^{1 x n}_{mu nu}(x))``,

with ``a_n`` fitted once, linearly, to the FP kernel (:func:`loop_coefficients`), and every
other term of the parametrisation starts at quartic order (products of plaquette variables), so
it cannot change the quadratic part; FP data then fit only those. A loss term would leave the
quadratic part as good as the optimiser gets it; a hard constraint makes it exact up to the loop
fit (1e-4 along the axes, tests), whatever the data. Along an axis, a plane wave of wave number k
sees ``4 sin^2(n k/2)`` from the ``1 x n`` loops and ``4 n^2 sin^2(k/2)`` from the ``n x 1``
ones, a cosine series in k like the FP kernel's, whose couplings fall by about 1.3 decades per
lattice spacing along the axes (bench/RESULTS.md); three loops reach 1e-4.

The smooth-field values known exactly: for a classical solution the FP action equals the
continuum action (DeGrand et al., Nucl. Phys. B 454 (1995) 587); constant abelian flux on a
torus is one (:func:`flux_targets`), and its exact values are used as fit rows with a large
weight (``actions.fixed_point.parametrisation.fit``). Small plane waves have the exact FP value
``(Tr H^2/N) (V/4) eps^2 rho_00(k e_1)`` (:func:`plane_wave_fp`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.groups import get_group
from lqcd_hmc.loops import rectangle_re_trace
from lqcd_hmc.smooth import abelian_flux, trace_h2

from .free import D, path_phase
from .free_fixed_point import FreeFixedPoint

LOOPS = (1, 2, 3)


def _orientations(n: int) -> list[tuple[int, int]]:
    """``(R, T)`` extents along (mu, nu) of the 1 x n loops of one plane, each loop once."""
    return [(1, 1)] if n == 1 else [(n, 1), (1, n)]


def loop_kernel(q: Tensor, n: int) -> Tensor:
    """Quadratic kernel ``(..., D, D)`` of ``sum_x sum_{mu<nu} sum_orient (1 - cos phi)`` for the
    ``1 x n`` loops (U(1) normalisation of :mod:`.free`): ``conj(l) l^T`` summed, l the loop's
    linear phase (:func:`.free.path_phase`)."""
    out = torch.zeros(*q.shape[:-1], D, D, dtype=torch.complex128)
    for mu in range(D):
        for nu in range(mu + 1, D):
            for R, T in _orientations(n):
                path = ((mu, 1),) * R + ((nu, 1),) * T + ((mu, -1),) * R + ((nu, -1),) * T
                ell = path_phase(q, path)
                out = out + ell.conj()[..., :, None] * ell[..., None, :]
    return out


def loop_densities(field: GaugeField, loops: Sequence[int] = LOOPS) -> Tensor:
    """``(1/N) sum_{mu<nu} sum_orient (N - Re Tr W^{1 x n}_{mu nu}(x))`` per site and loop,
    ``(B, len(loops), *dims)`` float64."""
    N, D_ = field.N, field.D
    out = []
    for n in loops:
        acc = torch.zeros(field.links.shape[:1] + field.dims, dtype=torch.float64)
        acc = acc.to(field.device)
        for mu in range(D_):
            for nu in range(mu + 1, D_):
                for R, T in _orientations(n):
                    acc = acc + (N - rectangle_re_trace(field.links, mu, nu, R, T).double())
        out.append(acc / N)
    return torch.stack(out, dim=1)


def axis_kernel(fp: FreeFixedPoint, k: Tensor) -> Tensor:
    """``rho_00(k e_1)``: the FP kernel for a plane wave along axis 1 polarised along 0, from the
    couplings (explicit sum over the box)."""
    L = fp.L
    r = torch.tensor([x if x <= (L - 1) // 2 else x - L for x in range(L)], dtype=torch.float64)
    line = fp.couplings[..., 0, 0].sum(dim=(0, 2, 3))  # sum over r_0, r_2, r_3
    return (line[None, :] * torch.cos(k[:, None] * r[None, :])).sum(-1)


def loop_coefficients(fp: FreeFixedPoint, loops: Sequence[int] = LOOPS, size: int = 64) -> Tensor:
    """``a_n`` of the module docstring: least squares of the loops' axis kernels against
    ``rho_00(k e_1)`` at ``k = 2 pi m / size``, ``0 < k <= pi``, relative to the FP value."""
    k = 2 * math.pi * torch.arange(1, size // 2 + 1, dtype=torch.float64) / size
    q = torch.zeros(len(k), D, dtype=torch.float64)
    q[:, 1] = k
    X = torch.stack([loop_kernel(q, n)[:, 0, 0].real for n in loops], dim=-1)
    y = axis_kernel(fp, k)
    return torch.linalg.lstsq(X / y[:, None], torch.ones_like(y)[:, None]).solution[:, 0]


def plane_wave_fp(
    fp: FreeFixedPoint, dims: Sequence[int], group: str, n: int, amplitude: float
) -> float:
    """The exact FP action of the small plane wave ``lqcd_hmc.smooth.plane_wave(dims, group, n,
    amplitude)`` (mode along axis 1, polarised along 0), to O(amplitude^4)."""
    k = torch.tensor([2 * math.pi * n / dims[1]], dtype=torch.float64)
    N = get_group(group).N
    return trace_h2(group) / N * math.prod(dims) / 4 * amplitude**2 * float(axis_kernel(fp, k)[0])


def flux_targets(
    group: str, quanta: Sequence[int] = (1, 2), dims: Sequence[int] = (4, 4, 2, 2), dtype=None
) -> tuple[GaugeField, Tensor]:
    """Constant flux of ``quanta`` through the (0, 1) planes, one configuration each, and its
    exact FP action, the continuum ``V phi^2 Tr H^2 / (2N)`` (``phi = 2 pi n / (L_0 L_1)``)."""
    kw = {} if dtype is None else {"dtype": dtype}
    fields = [abelian_flux(dims, group, n, **kw) for n in quanta]
    N, V = get_group(group).N, math.prod(dims)
    phis = [2 * math.pi * n / (dims[0] * dims[1]) for n in quanta]
    exact = torch.tensor([V * p**2 * trace_h2(group) / (2 * N) for p in phis], dtype=torch.float64)
    return GaugeField(torch.cat([f.links for f in fields]), fields[0].group), exact
