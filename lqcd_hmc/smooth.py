"""Smooth classical test fields with exactly known loops and actions.

Constant abelian flux (a classical solution on the periodic torus): in the plane (mu, nu) of
extents (L_mu, L_nu), with ``n`` flux quanta, every plaquette in that plane equals
``exp(i phi H)``, ``phi = 2 pi n / (L_mu L_nu)``, with ``H = diag(1, -1, 0, ...)`` for SU(N) and
``H = 1`` for U(1); plaquettes in other planes are 1. Construction:
``U_nu(x) = exp(i phi x_mu H)``, ``U_mu(x) = exp(-i phi L_mu x_nu H)`` on the last slice
``x_mu = L_mu - 1`` and 1 elsewhere (the twist closes the flux through the boundary).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .field import GaugeField, resolve_dtype
from .groups import Group, get_group
from .lattice import check_dims, coordinates


def abelian_flux(dims: Sequence[int], group: str | Group, n: int, mu: int = 0, nu: int = 1,
                 batch: int = 1, dtype=torch.complex128) -> GaugeField:
    """Constant flux of ``n`` quanta through the (mu, nu) plane; see the module docstring."""
    dims, group = check_dims(dims), get_group(group)
    D, N = len(dims), group.N
    if mu == nu:
        raise ValueError("flux plane needs two different directions")
    phi = 2 * math.pi * n / (dims[mu] * dims[nu])
    x = coordinates(dims)
    h = torch.zeros(N, dtype=torch.float64)
    h[0] = 1.0
    if N > 1:
        h[1] = -1.0
    ang = torch.zeros(D, *dims, dtype=torch.float64)
    ang[nu] = phi * x[mu].double()
    ang[mu] = torch.where(x[mu] == dims[mu] - 1, -phi * dims[mu] * x[nu].double(),
                          torch.zeros(dims, dtype=torch.float64))
    diag = torch.polar(torch.ones(D, *dims, N, dtype=torch.float64), ang[..., None] * h)
    links = torch.diag_embed(diag).to(resolve_dtype(dtype))
    return GaugeField(links.expand(batch, *links.shape).clone(), group)
