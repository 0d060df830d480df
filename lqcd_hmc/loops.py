"""Closed loops and open lines built from links by shifts and products (no loops over sites).

``links`` always has shape ``(B, D, *dims, N, N)``; per-direction fields ``(B, *dims, N, N)``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from .lattice import shift, tensor_sum
from .paths import Sites, real_trace_product, shift_by
from .products import product


def line(U_mu: Tensor, mu: int, length: int, D: int) -> Tensor:
    """Straight Wilson line ``U_mu(x) U_mu(x+mu) ... U_mu(x+(length-1)mu)``."""
    out = U_mu
    for k in range(1, length):
        out = out @ shift(U_mu, mu, k, D)
    return out


LineCache = dict[tuple[int, int], Tensor]


def cached_line(links: Tensor, mu: int, length: int, cache: LineCache | None = None) -> Tensor:
    """:func:`line` of ``links[:, mu]``, kept in ``cache`` (keyed by direction and length) so
    that loops sharing a side build it once. A cache also holds the links split by ``unbind``
    (keys ``(mu, 0)``): indexing ``links[:, mu]`` once per line would make the backward pass
    zero-fill a whole link field per index."""
    if cache is None:
        return line(links[:, mu], mu, length, links.shape[1])
    if (mu, 0) not in cache:
        cache.update({(nu, 0): U for nu, U in enumerate(links.unbind(1))})
    key = (mu, length)
    if key not in cache:
        cache[key] = line(cache[(mu, 0)], mu, length, links.shape[1])
    return cache[key]


def rectangle_halves(
    links: Tensor, mu: int, nu: int, R: int, T: int, cache: LineCache | None = None
) -> tuple[Tensor, Tensor]:
    """``(L_mu(x) L_nu(x + R mu), L_nu(x) L_mu(x + T nu))`` with straight lines L of R links
    along mu and T along nu; the R x T loop at x is the first times the second's dagger."""
    D = links.shape[1]
    Lm = cached_line(links, mu, R, cache)
    Ln = cached_line(links, nu, T, cache)
    return Lm @ shift(Ln, mu, R, D), Ln @ shift(Lm, nu, T, D)


def rectangle(links: Tensor, mu: int, nu: int, R: int = 1, T: int = 1) -> Tensor:
    """The R x T loop matrix at x, ``R`` links along ``mu`` then ``T`` along ``nu``:
    ``L_mu(x) L_nu(x + R mu) L_mu(x + T nu)^dagger L_nu(x)^dagger``."""
    a, b = rectangle_halves(links, mu, nu, R, T)
    return a @ b.mH


def rectangle_re_trace(
    links: Tensor, mu: int, nu: int, R: int = 1, T: int = 1, cache: LineCache | None = None
) -> Tensor:
    """``Re Tr`` of :func:`rectangle` per site, without the last product."""
    return real_trace_product(*rectangle_halves(links, mu, nu, R, T, cache))


def plaquette_matrix(links: Tensor, mu: int, nu: int) -> Tensor:
    """``U_{mu nu}(x) = U_mu(x) U_nu(x+mu) U_mu(x+nu)^dagger U_nu(x)^dagger``."""
    return rectangle(links, mu, nu, 1, 1)


def plaquette_halves(links: Tensor) -> tuple[Tensor, Tensor]:
    """``A = U_mu(x) U_nu(x + mu)`` and ``B = U_nu(x) U_mu(x + nu)`` of every plane ``mu < nu``
    in lexicographic order, stacked ``(B, D (D - 1) / 2, *dims, N, N)``; the plaquette is
    ``U_{mu nu}(x) = A B^dagger``. Each factor is one ``index_select`` of the links
    (:func:`_plaquette_links`) and each half one product of one batch (:func:`.products.product`,
    natively on a CPU), where :func:`rectangle_halves` per plane takes ``D (D - 1)`` matmuls,
    shifts and selections: with two backward passes (L-CNN training) half the time or less."""
    D, N = links.shape[1], links.shape[-1]
    dims = tuple(links.shape[2 : 2 + D])
    flat = links.reshape(links.shape[0], -1, N, N)  # link (mu, x) at mu V + x
    rows = _plaquette_links(dims, links.device)

    def factor(k: int) -> Tensor:
        return flat.index_select(1, rows[k]).view(links.shape[0], -1, *dims, N, N)

    return product(factor(0), factor(1)), product(factor(2), factor(3))


@functools.cache
def _plaquette_links(dims: tuple[int, ...], device: torch.device) -> Tensor:
    """``(4, D (D - 1) / 2 V)``: the flat link indices ``mu V + x`` of the factors of
    :func:`plaquette_halves` per plane and site, ``U_mu(x)``, ``U_nu(x + mu)``, ``U_nu(x)``,
    ``U_mu(x + nu)``."""
    D, V = len(dims), math.prod(dims)
    sites = Sites(torch.arange(V), dims)
    here = sites.flat
    up = [sites.moved([int(d == mu) for d in range(D)]) for mu in range(D)]  # x + mu
    planes = [(mu, nu) for mu in range(D) for nu in range(mu + 1, D)]
    factors = (
        [mu * V + here for mu, nu in planes],
        [nu * V + up[mu] for mu, nu in planes],
        [nu * V + here for mu, nu in planes],
        [mu * V + up[nu] for mu, nu in planes],
    )
    return torch.stack([torch.cat(f) for f in factors]).to(device)


def plaquette_re_trace(links: Tensor, mu: int, nu: int) -> Tensor:
    """``Re Tr U_{mu nu}(x)`` per site, shape ``(B, *dims)``."""
    return rectangle_re_trace(links, mu, nu, 1, 1)


def plaquette_staples(links: Tensor, mu: int) -> Tensor:
    """Sum of the 2(D-1) plaquette staples of ``U_mu(x)``, so that the plaquettes containing
    ``U_mu(x)`` sum to ``Re Tr(U_mu(x) A_mu(x))``:
    ``A_mu(x) = sum_{nu != mu} U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag
                             + U_nu(x+mu-nu)^dag U_mu(x-nu)^dag U_nu(x-nu)``."""
    D = links.shape[1]
    U_mu = links[:, mu]
    A = None
    for nu in range(D):
        if nu == mu:
            continue
        U_nu = links[:, nu]
        U_nu_xpmu = shift(U_nu, mu, 1, D)
        upper = U_nu_xpmu @ (U_nu @ shift(U_mu, nu, 1, D)).mH
        lower = shift(U_nu_xpmu.mH @ U_mu.mH @ U_nu, nu, -1, D)
        term = upper + lower
        A = term if A is None else A + term
    assert A is not None
    return A


def average_plaquette(links: Tensor) -> Tensor:
    """``P = < Re Tr U_{mu nu} > / N`` over all sites and the D(D-1)/2 planes, per chain,
    accumulated in float64 (1 on a cold field)."""
    D, N = links.shape[1], links.shape[-1]
    total = tensor_sum(
        plaquette_re_trace(links, mu, nu).double().flatten(1).sum(1)
        for mu in range(D)
        for nu in range(mu + 1, D)
    )
    n_plaquettes = math.prod(links.shape[2 : 2 + D]) * D * (D - 1) // 2
    return total / (n_plaquettes * N)


def staple(arm: Tensor, mid: Tensor, mu: int, nu: int, D: int) -> Tensor:
    """Forward and backward staple from x to x + mu through direction nu, arms taken from
    ``arm`` (links along nu) and the far side from ``mid`` (links along mu):
    ``arm(x) mid(x+nu) arm(x+mu)^dag + arm(x-nu)^dag mid(x-nu) arm(x-nu+mu)``.
    With ``arm = U_nu``, ``mid = U_mu`` it is the dagger of the plaquette staple."""
    up = arm @ shift(mid, nu, 1, D) @ shift(arm, mu, 1, D).mH
    down = shift(arm.mH @ mid @ shift(arm, mu, 1, D), nu, -1, D)
    return up + down


def clover_leaves(
    links: Tensor, mu: int, nu: int, m: int = 1, n: int = 1, cache: LineCache | None = None
) -> Tensor:
    """``Q^{(m,n)}_{mu nu}(x)``: the four m x n loops (m links along mu, n along nu) in the
    (mu, nu) plane that start and end at x, one per quadrant, all oriented like
    ``U_{mu nu}(x)``. With straight lines ``A = L_mu^{(m)}``, ``C = L_nu^{(n)}`` and
    ``f[a, b] = f(x + a mu + b nu)``:
    ``A C[m,0] A[0,n]^+ C^+ + C A[-m,n]^+ C[-m,0]^+ A[-m,0]
    + A[-m,0]^+ C[-m,-n]^+ A[-m,-n] C[0,-n] + C[0,-n]^+ A[0,-n] C[m,-n] A^+``."""
    D = links.shape[1]
    A = cached_line(links, mu, m, cache)
    C = cached_line(links, nu, n, cache)

    def at(f: Tensor, a: int, b: int) -> Tensor:
        off = [0] * D
        off[mu], off[nu] = a, b
        return shift_by(f, off, D)

    Am, Cm, An, Cn = at(A, -m, 0), at(C, -m, 0), at(A, 0, -n), at(C, 0, -n)
    return (
        A @ at(C, m, 0) @ (C @ at(A, 0, n)).mH
        + C @ (Cm @ at(A, -m, n)).mH @ Am
        + (at(C, -m, -n) @ Am).mH @ at(A, -m, -n) @ Cn
        + Cn.mH @ An @ at(C, m, -n) @ A.mH
    )


def clover_field_strength(
    links: Tensor, mu: int, nu: int, m: int = 1, n: int = 1, cache: LineCache | None = None
) -> Tensor:
    """Hermitian ``F_{mu nu}(x) = (Q - Q^dag)/(8i mn)`` from the m x n clover
    :func:`clover_leaves` (traceless part for N > 1); ``a^2 g F_{mu nu}`` of the continuum up
    to O(a^2) (exact for a constant abelian field up to ``sin(mn phi)/(mn)``)."""
    Q = clover_leaves(links, mu, nu, m, n, cache)
    F = (Q - Q.mH) / (8j * m * n)
    N = links.shape[-1]
    if N > 1:
        tr = F.diagonal(dim1=-2, dim2=-1).sum(-1) / N
        F = F - tr[..., None, None] * torch.eye(N, dtype=F.dtype, device=F.device)
    return F


def clover_energy(links: Tensor) -> Tensor:
    """``sum_{mu<nu} Tr F_{mu nu}(x)^2`` per site with the clover F, float64 ``(B, *dims)``
    (the clover action density times ``2N/beta``, the clover energy density of the flow)."""
    D = links.shape[1]
    cache: LineCache = {}
    return tensor_sum(
        (F.real.double() ** 2 + F.imag.double() ** 2).sum((-2, -1))
        for F in (
            clover_field_strength(links, mu, nu, cache=cache)
            for mu in range(D)
            for nu in range(mu + 1, D)
        )
    )
