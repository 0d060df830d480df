"""Gauge-invariant loop observables: average plaquette, R x T Wilson loops, Polyakov loop.

All return one value per chain, accumulated in float64 (complex128 for the Polyakov loop).
"""
from __future__ import annotations

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.loops import LineCache, average_plaquette, rectangle_re_trace


def plaquette(field: GaugeField) -> Tensor:
    """``P = < Re Tr U_{mu nu} > / N`` over sites and planes (1 on a cold field)."""
    return average_plaquette(field.links)


def wilson_loop(field: GaugeField, R: int, T: int, mu: int, nu: int,
                cache: LineCache | None = None) -> Tensor:
    """``< Re Tr W >/N`` of the planar loop with ``R`` links along ``mu`` and ``T`` along ``nu``,
    averaged over all sites; ``cache`` shares straight lines between calls on one field."""
    if mu == nu or not (0 <= mu < field.D and 0 <= nu < field.D):
        raise ValueError(f"Wilson loop needs two different directions in 0..{field.D - 1}, "
                         f"got mu={mu}, nu={nu}")
    if R < 1 or T < 1:
        raise ValueError(f"Wilson loop extents must be >= 1, got R={R}, T={T}")
    tr = rectangle_re_trace(field.links, mu, nu, R, T, cache).double()
    return tr.flatten(1).mean(1) / field.N


def wilson_loops(field: GaugeField, R: int, T: int, planes: str = "all") -> Tensor:
    """R x T Wilson loop averaged over planes.

    ``planes="all"``: every ordered pair ``mu != nu`` (R along mu, T along nu), i.e. all planes
    and both orientations; ``"temporal"``: R along each spatial direction, T along time
    (direction D-1), the loops of the static potential; ``"spatial"``: both extents spatial.
    """
    D = field.D
    t = D - 1
    if planes == "all":
        pairs = [(m, n) for m in range(D) for n in range(D) if m != n]
    elif planes == "temporal":
        pairs = [(m, t) for m in range(t)]
    elif planes == "spatial":
        pairs = [(m, n) for m in range(t) for n in range(t) if m != n]
    else:
        raise ValueError(f"planes must be 'all', 'temporal' or 'spatial', got {planes!r}")
    if not pairs:
        raise ValueError(f"no {planes} planes in D = {D}")
    cache: LineCache = {}
    return torch.stack([wilson_loop(field, R, T, m, n, cache) for m, n in pairs]).mean(0)


def polyakov_loop(field: GaugeField) -> Tensor:
    """``(1/V_s) sum_xs (1/N) Tr prod_t U_{D-1}(xs, t)``, complex, per chain (the product runs
    over time slices of the spatial volume, starting at t = 0)."""
    t = field.D - 1
    U_t = field.links[:, t]
    axis = 1 + t
    L = U_t.select(axis, 0)
    for k in range(1, field.dims[t]):
        L = L @ U_t.select(axis, k)
    tr = torch.diagonal(L, dim1=-2, dim2=-1).sum(-1).to(torch.complex128)
    return tr.flatten(1).mean(1) / field.N
