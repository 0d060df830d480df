"""Lattice geometry: periodic shifts on tensors whose last D + 2 axes are
``(L_0, ..., L_{D-1}, N, N)``.

Coordinate ``x_mu`` of a per-site field of shape ``(..., L_0, ..., L_{D-1}, N, N)`` lives on axis
``mu - D - 2`` (counted from the end), so the same code serves link components ``U[:, mu]``
(shape ``(B, *dims, N, N)``) and channel fields ``(B, C, *dims, N, N)``.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor


def lattice_axis(mu: int, D: int) -> int:
    """Tensor axis (negative, from the end) of coordinate ``x_mu`` for a matrix-valued field."""
    return mu - D - 2


def shift(field: Tensor, mu: int, n: int, D: int) -> Tensor:
    """``field(x + n mu)`` with periodic boundaries: ``shift(f, mu, 1, D)[x] = f[x + mu]``."""
    return torch.roll(field, shifts=-n, dims=lattice_axis(mu, D))


def check_dims(dims: Sequence[int]) -> tuple[int, ...]:
    """Validate lattice extents: D in {2, 3, 4}, every ``L_mu >= 2``."""
    dims = tuple(int(L) for L in dims)
    if len(dims) not in (2, 3, 4):
        raise ValueError(f"lattice must have D = 2, 3 or 4 dimensions, got dims = {list(dims)}")
    if any(L < 2 for L in dims):
        raise ValueError(f"every lattice extent must be >= 2, got dims = {list(dims)}")
    return dims


def volume(dims: Sequence[int]) -> int:
    return math.prod(dims)


def coordinates(dims: Sequence[int], device=None) -> list[Tensor]:
    """Integer coordinate fields ``x_mu`` of shape ``dims`` (for smooth test fields)."""
    grids = torch.meshgrid(*[torch.arange(L, device=device) for L in dims], indexing="ij")
    return list(grids)


def tensor_sum(terms: Iterable[Tensor]) -> Tensor:
    """The sum of one or more tensors, ``t_0 + t_1 + ...`` (the builtin ``sum`` starts from the
    integer 0, which a type checker cannot tell from a tensor)."""
    return functools.reduce(operator.add, terms)
