"""The hypercubic group acting on gauge fields: permutations of the axes and reflections.

An element ``g = (perm, flips)`` first reflects every axis a with ``flips[a]``, ``x_a -> -x_a``
(mod L), then moves axis mu to axis ``perm[mu]``. On links (shape ``(B, D, *dims, N, N)``):

- reflection of axis a: ``U'_a(x) = U_a(R x - a)^dagger`` (the link from ``Rx`` to
  ``Rx - a``, traversed forwards from the new site x) and ``U'_mu(x) = U_mu(R x)`` for
  ``mu != a``, with ``(R x)_a = -x_a``;
- permutation: ``U'_{perm[mu]}(x') = U_mu(x)`` with ``x'_{perm[mu]} = x_mu``.

Every gauge action built from closed loops (Wilson, Lüscher-Weisz, FP actions) is invariant;
per-site scalar fields move with :func:`transform_sites`, which maps the site x to ``g x``.
The full group has ``2^D D!`` elements (384 in D = 4); permutations that exchange axes of
unequal extent are not symmetries of the lattice and are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor

Element = tuple[tuple[int, ...], tuple[bool, ...]]
SUBGROUPS = ("full", "reflections", "permutations", "identity")


def elements(dims: Sequence[int], subgroup: str = "full") -> list[Element]:
    """The elements of ``subgroup`` (one of :data:`SUBGROUPS`) that map a lattice of extents
    ``dims`` onto itself, the identity first."""
    if subgroup not in SUBGROUPS:
        raise ValueError(f"unknown subgroup {subgroup!r}; choose one of {', '.join(SUBGROUPS)}")
    D = len(dims)
    perms = [
        p for p in itertools.permutations(range(D)) if all(dims[p[m]] == dims[m] for m in range(D))
    ]
    flips = list(itertools.product((False, True), repeat=D))
    if subgroup in ("identity", "reflections"):
        perms = [tuple(range(D))]
    if subgroup in ("identity", "permutations"):
        flips = [(False,) * D]
    return [(p, f) for p in perms for f in flips]


def _reflect_sites(x: Tensor, axis: int, shift: int) -> Tensor:
    """``x(-i - shift)`` along tensor ``axis`` (periodic): a flip is ``i -> L - 1 - i``."""
    return torch.roll(torch.flip(x, dims=(axis,)), shifts=1 - shift, dims=axis)


def transform(links: Tensor, g: Element) -> Tensor:
    """The links of ``g U`` (module docstring)."""
    perm, flips = g
    D = links.shape[1]
    U = list(links.unbind(1))
    for a, flip in enumerate(flips):
        if not flip:
            continue
        for mu in range(D):  # lattice axis a is tensor axis 1 + a of U[mu]
            if mu == a:
                U[mu] = _reflect_sites(U[mu], 1 + a, 1).mH
            else:
                U[mu] = _reflect_sites(U[mu], 1 + a, 0)
    inverse = [perm.index(j) for j in range(D)]
    order = (0, *(1 + inverse[j] for j in range(D)), D + 1, D + 2)
    return torch.stack([U[inverse[j]].permute(order) for j in range(D)], dim=1)


def transform_sites(field: Tensor, g: Element) -> Tensor:
    """A per-site field ``(B, *dims)`` moved with ``g``: ``s'(g x) = s(x)``."""
    perm, flips = g
    D = len(perm)
    for a, flip in enumerate(flips):
        if flip:
            field = _reflect_sites(field, 1 + a, 0)
    inverse = [perm.index(j) for j in range(D)]
    return field.permute(0, *(1 + inverse[j] for j in range(D)))


def inverse(g: Element) -> Element:
    """``g^-1``: with ``g = P F`` (reflect, then permute), ``g^-1 = P^-1 (P F P^-1)``."""
    perm, flips = g
    inv = tuple(perm.index(j) for j in range(len(perm)))
    return inv, tuple(flips[i] for i in inv)
