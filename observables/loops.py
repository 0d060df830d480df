"""Gauge-invariant loop observables: average plaquette, R x T Wilson loops, Polyakov loop.

All return one value per chain, accumulated in float64 (complex128 for the Polyakov loop).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.lattice import shift, tensor_sum
from lqcd_hmc.loops import LineCache, average_plaquette, real_trace_product, rectangle_re_trace
from lqcd_hmc.paths import Path, path_product, shift_by


def plaquette(field: GaugeField) -> Tensor:
    """``P = < Re Tr U_{mu nu} > / N`` over sites and planes (1 on a cold field)."""
    return average_plaquette(field.links)


def wilson_loop(
    field: GaugeField, R: int, T: int, mu: int, nu: int, cache: LineCache | None = None
) -> Tensor:
    """``< Re Tr W >/N`` of the planar loop with ``R`` links along ``mu`` and ``T`` along ``nu``,
    averaged over all sites; ``cache`` shares straight lines between calls on one field."""
    if mu == nu or not (0 <= mu < field.D and 0 <= nu < field.D):
        raise ValueError(
            f"Wilson loop needs two different directions in 0..{field.D - 1}, got mu={mu}, nu={nu}"
        )
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


def polyakov_field(field: GaugeField) -> Tensor:
    """``P(xs) = (1/N) Tr prod_t U_{D-1}(xs, t)`` per spatial site, complex128 ``(B, *dims_s)``
    (the product runs over the time slices, starting at t = 0)."""
    t = field.D - 1
    U_t = field.links[:, t]
    axis = 1 + t
    L = U_t.select(axis, 0)
    for k in range(1, field.dims[t]):
        L = L @ U_t.select(axis, k)
    return torch.diagonal(L, dim1=-2, dim2=-1).sum(-1).to(torch.complex128) / field.N


def polyakov_loop(field: GaugeField) -> Tensor:
    """The volume average of :func:`polyakov_field`, complex, per chain."""
    return polyakov_field(field).flatten(1).mean(1)


def _offaxis_paths(a: int, b: int, D: int) -> list[tuple[Path, Path]]:
    """Pairs of L-shaped spatial paths (a steps along i then s*b along j, and the reverse
    order) for every ordered pair i != j of spatial directions and sign s: the cubic orbit of
    the displacement (a, b, 0) up to its overall sign."""
    out = []
    for i in range(D - 1):
        for j in range(D - 1):
            if i == j:
                continue
            for s in (1, -1):
                ai, bj = (i + 1,) * a, (s * (j + 1),) * b
                out.append((ai + bj, bj + ai))
    return out


def _step_sum(path: Path, D: int) -> list[int]:
    end = [0] * D
    for s in path:
        end[abs(s) - 1] += 1 if s > 0 else -1
    return end


def temporal_loops(
    field: GaugeField,
    shapes: list[tuple[int, int]],
    T_max: int,
    spatial_field: GaugeField | None = None,
) -> Tensor:
    """``W(r, T) = < Re Tr S(x) L_t(x + r) S(x + T t)^dag L_t(x)^dag > / N`` for spatial
    displacements ``shapes`` ``(a, b)`` (a along one axis, b along another; b = 0 on-axis)
    and T = 1..T_max, shape ``(B, len(shapes), T_max)``. S is the straight line for b = 0 and
    the mean of the two L-shaped paths otherwise, averaged over the cubic orbit of the
    displacement; the spatial lines come from ``spatial_field`` (e.g. smeared), the time lines
    from ``field``."""
    D, t = field.D, field.D - 1
    spatial = (spatial_field or field).links
    time_lines, line = [], field.links[:, t]
    for T in range(1, T_max + 1):
        time_lines.append(line)
        line = line @ shift(field.links[:, t], t, T, D)
    rows = []
    L_s = min(field.dims[:t])
    if T_max >= field.dims[t]:
        raise ValueError(f"Wilson loops need T < L_t = {field.dims[t]}, got t_max = {T_max}")
    for a, b in shapes:
        if a < 1 or b < 0 or (b > 0 and D < 3):
            raise ValueError(f"bad Wilson-loop shape ({a}, {b}) in D = {D}")
        if max(a, b) >= L_s:
            raise ValueError(
                f"Wilson-loop extent {max(a, b)} wraps the spatial extent {L_s}; use r < {L_s}"
            )
        lines: Sequence[tuple[Path, ...]]
        if b == 0:
            lines = [((i + 1,) * a,) for i in range(t)]
        else:
            lines = _offaxis_paths(a, b, D)
        acc = torch.zeros(field.batch, T_max, dtype=torch.float64, device=field.device)
        for paths in lines:
            S = tensor_sum(path_product(spatial, p) for p in paths) / len(paths)
            end = _step_sum(paths[0], D)
            for k, L in enumerate(time_lines):
                top = shift(S, t, k + 1, D)
                left = S @ shift_by(L, end, D)
                acc[:, k] += real_trace_product(left, L @ top).double().flatten(1).mean(1)
        rows.append(acc / (len(lines) * field.N))
    return torch.stack(rows, dim=1)


def polyakov_correlator(field: GaugeField, r_max: int | None = None) -> Tensor:
    """``C(r) = < Re P(x) P(x + r e_i)^* >`` over sites and spatial axes i, r = 0..r_max
    (default ``L_s/2``), with ``P(x) = Tr prod_t U_t(x, t) / N``; shape ``(B, r_max + 1)``."""
    t = field.D - 1
    P = polyakov_field(field)
    r_max = min(field.dims[:t]) // 2 if r_max is None else int(r_max)
    out = []
    for r in range(r_max + 1):
        c = tensor_sum(
            (P * torch.roll(P, -r, dims=1 + i).conj()).real.flatten(1).mean(1) for i in range(t)
        )
        out.append(c / t)
    return torch.stack(out, dim=1)
