"""Smooth classical test fields with exactly known loops and actions.

Constant abelian flux (a classical solution on the periodic torus): in the plane (mu, nu) of
extents (L_mu, L_nu), with ``n`` flux quanta, every plaquette in that plane equals
``exp(i phi H)``, ``phi = 2 pi n / (L_mu L_nu)``, with ``H = diag(1, -1, 0, ...)`` for SU(N) and
``H = 1`` for U(1); plaquettes in other planes are 1. Construction:
``U_nu(x) = exp(i phi x_mu H)``, ``U_mu(x) = exp(-i phi L_mu x_nu H)`` on the last slice
``x_mu = L_mu - 1`` and 1 elsewhere (the twist closes the flux through the boundary).

Abelian plane wave of wave number ``k = 2 pi n / L_nu``: ``U_mu(x) = exp(i eps cos(k x_nu) H)``,
every other link 1. These are the exact parallel transporters of the continuum field
``A_mu(y) = eps cos(k y_nu) H`` (constant along mu), whose only field strength is
``F_{nu mu} = -eps k sin(k y_nu) H``; with ``S = (beta/N) sum_{x, mu<nu} Re Tr(1 - U_{mu nu})``
normalised as in docs/conventions.md (section 3), its continuum action is
``S/beta = (Tr H^2 / 2N) (eps k)^2 V / 2``
for ``0 < n < L_nu/2`` (the mean of sin^2 over the periods is 1/2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .field import GaugeField, resolve_dtype
from .groups import Group, get_group
from .lattice import check_dims, coordinates


def _diagonal_links(angles: torch.Tensor, N: int, batch: int, dtype) -> torch.Tensor:
    """Links ``exp(i angle H)`` from link angles ``(D, *dims)``."""
    h = torch.zeros(N, dtype=torch.float64)
    h[0] = 1.0
    if N > 1:
        h[1] = -1.0
    diag = torch.polar(torch.ones(*angles.shape, N, dtype=torch.float64), angles[..., None] * h)
    links = torch.diag_embed(diag).to(resolve_dtype(dtype))
    return links.expand(batch, *links.shape).clone()


def trace_h2(group: str | Group) -> float:
    """``Tr H^2`` of the embedding generator: 2 for SU(N), 1 for U(1)."""
    return 2.0 if get_group(group).N > 1 else 1.0


def plane_wave(
    dims: Sequence[int],
    group: str | Group,
    n: int,
    amplitude: float,
    mu: int = 0,
    nu: int = 1,
    batch: int = 1,
    dtype=torch.complex128,
) -> GaugeField:
    """Abelian plane wave ``U_mu(x) = exp(i amplitude cos(2 pi n x_nu / L_nu) H)``."""
    dims, group = check_dims(dims), get_group(group)
    if mu == nu:
        raise ValueError("plane wave needs two different directions")
    if not 0 < n < dims[nu] / 2:
        raise ValueError(f"plane wave needs 0 < n < L_nu/2 = {dims[nu] / 2}, got n = {n}")
    x = coordinates(dims)
    ang = torch.zeros(len(dims), *dims, dtype=torch.float64)
    ang[mu] = amplitude * torch.cos(2 * math.pi * n * x[nu].double() / dims[nu])
    return GaugeField(_diagonal_links(ang, group.N, batch, dtype), group)


def plane_wave_continuum(
    dims: Sequence[int], group: str | Group, n: int, amplitude: float, nu: int = 1
) -> float:
    """``S/beta`` of the continuum plane wave (module docstring)."""
    k = 2 * math.pi * n / dims[nu]
    return trace_h2(group) / (2 * get_group(group).N) * (amplitude * k) ** 2 * math.prod(dims) / 2


def abelian_flux(
    dims: Sequence[int],
    group: str | Group,
    n: int,
    mu: int = 0,
    nu: int = 1,
    batch: int = 1,
    dtype=torch.complex128,
) -> GaugeField:
    """Constant flux of ``n`` quanta through the (mu, nu) plane; see the module docstring."""
    dims, group = check_dims(dims), get_group(group)
    D, N = len(dims), group.N
    if mu == nu:
        raise ValueError("flux plane needs two different directions")
    phi = 2 * math.pi * n / (dims[mu] * dims[nu])
    x = coordinates(dims)
    ang = torch.zeros(D, *dims, dtype=torch.float64)
    ang[nu] = phi * x[mu].double()
    ang[mu] = torch.where(
        x[mu] == dims[mu] - 1,
        -phi * dims[mu] * x[nu].double(),
        torch.zeros(dims, dtype=torch.float64),
    )
    return GaugeField(_diagonal_links(ang, N, batch, dtype), group)
