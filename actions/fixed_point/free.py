"""The blocking kernel in the free-field (quadratic) limit: the pieces of the free fixed-point
action (D = 4).

For small fields ``U_mu(x) = exp(i theta_mu(x) H)`` along one generator, the action and the
kernel are quadratic, with one common factor for every group (``Tr H^2``), so we work in the
U(1) normalisation: ``A[theta] = (V/2) sum_q theta(q)^dag rho(q) theta(q)`` with
``theta(x) = sum_q e^{iqx} theta(q)``; the Wilson action has ``rho_W(q) = |q^|^2 delta - q^ q^dag``,
``q^_mu = e^{i q_mu} - 1`` (:func:`wilson_kernel`). The kernel of :class:`~.blocking.Blocking`
becomes ``T = (kappa/2) sum_{x_B, mu} (v_mu(x_B) - phi_mu(x_B))^2``, where the phase of the
blocked fat link is linear in theta: ``phi_mu(q) = sum_n M_n(q) theta(p_n)`` over the 2^D fine
momenta ``p_n = (q + 2 pi n)/2`` that alias to the coarse q, ``M_{mu nu}(p) = (1 + e^{i p_mu})
K_{mu nu}(p)`` with the staple smearing ``K_{mu mu} = 1 - 2(D-1)c + 2c sum_{nu != mu} cos p_nu``,
``K_{mu nu} = c (1 - e^{i p_mu})(1 - e^{-i p_nu})`` (:func:`blocking_map`).

The FP equation ``A'[v] = min_theta {A[theta] + T[theta, v]}`` is then a Gaussian convolution:
the propagator ``G = rho^{-1}`` (on the gauge-invariant subspace) maps as
``G'(q) = 1/kappa + 2^{-D} sum_n M_n(q) G(p_n) M_n(q)^dag`` (T. DeGrand, A. Hasenfratz,
P. Hasenfratz, F. Niedermayer, Nucl. Phys. B 454 (1995) 587; W. Bietenholz, U.-J. Wiese,
Nucl. Phys. B 464 (1996) 319). In D = 4 the continuum propagator ``1/q^2`` maps onto itself;
the white-noise part of G that the kernel adds each step must shrink, which needs the aliased
fine modes to feed a coarse momentum with total weight
``2^{-D} sum_n |M_n(q)|^2`` (:func:`noise_weight`, one step at one momentum) and, over many
steps, the spectral radius of that map (:func:`noise_growth`) must be below 1. For the staple
kernel it is 1.015 at c = 0.05 (no free fixed point), 0.87 at c = 0.06, 0.50 at c = 0.1.

:func:`blocked_kernel` is one exact step of the recursion on nested grids (the fine kernel
on the (2L)^D momenta, the result on the L^D ones); :func:`multilevel_kernel` applies it
``levels`` times from the Wilson action on the finest grid: the quadratic form of the
project's ``FixedPoint`` with that many levels, which it reproduces on small plane waves
(``tests/test_free_fixed_point.py``).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

D = 4


def momenta(L: int) -> Tensor:
    """``(L^D, D)`` lattice momenta ``2 pi m / L``, ``m`` in C order of the FFT grid."""
    k = 2 * math.pi * torch.fft.fftfreq(L, d=1.0 / L, dtype=torch.float64) / L
    grid = torch.meshgrid(*([k] * D), indexing="ij")
    return torch.stack(grid, -1).reshape(-1, D)


def hat(q: Tensor) -> Tensor:
    """``e^{i q_mu} - 1``: the gauge direction (``theta_mu -> theta_mu + chi(x+mu) - chi(x)``)."""
    return torch.polar(torch.ones_like(q), q) - 1


def transverse(rho: Tensor, q: Tensor) -> Tensor:
    """``P rho P`` with ``P = 1 - q^ q^dag / |q^|^2``: the part of a kernel that is blind to the
    gauge directions q^ exactly (``P = 1`` at q = 0, where q^ vanishes)."""
    h = hat(q)
    norm = (h.abs() ** 2).sum(-1)[..., None, None]
    P = torch.eye(D, dtype=h.dtype) - h[..., :, None] * h[..., None, :].conj() / norm.clamp_min(
        1e-300
    )
    P = torch.where(norm > 0, P, torch.eye(D, dtype=h.dtype))
    return P @ rho @ P


def wilson_kernel(q: Tensor) -> Tensor:
    """The Wilson plaquette action's ``rho(q) = |q^|^2 delta - q^ q^dag`` (D x D per momentum;
    ``theta_p = q^_mu theta_nu - q^_nu theta_mu``)."""
    h = hat(q)
    eye = torch.eye(D, dtype=h.dtype)
    return (h.abs() ** 2).sum(-1)[..., None, None] * eye - h[..., :, None] * h[..., None, :].conj()


Path = tuple[tuple[int, int], ...]


def fat_link_paths(mu: int, diagonal: bool) -> list[Path]:
    """The paths from x to x + mu of the fat link ``W_mu(x)`` of :class:`~.blocking.Blocking`,
    as ``(direction, +-1)`` steps: the 2(D-1) staples ``(s nu, mu, -s nu)`` or, with
    ``diagonal``, the 4(D-1)(D-2) diagonal staples ``(s nu, t la, mu, -t la, -s nu)`` through
    two transverse directions."""
    others = [nu for nu in range(D) if nu != mu]
    if not diagonal:
        return [((nu, s), (mu, 1), (nu, -s)) for nu in others for s in (1, -1)]
    return [
        ((nu, s), (la, t), (mu, 1), (la, -t), (nu, -s))
        for nu in others
        for la in others
        if la != nu
        for s in (1, -1)
        for t in (1, -1)
    ]


def path_phase(p: Tensor, path: Path) -> Tensor:
    """The phase of the product of links along ``path`` (from x) at first order in theta, as the
    row ``(..., D)`` of coefficients of ``theta_nu(p)``: a step +nu from y adds
    ``e^{i p y} theta_nu``, a step -nu adds ``-e^{i p (y - nu)} theta_nu``."""
    out = torch.zeros(*p.shape[:-1], D, dtype=torch.complex128)
    y = torch.zeros(D, dtype=torch.float64)
    for nu, s in path:
        if s < 0:
            y[nu] -= 1
        out[..., nu] += s * torch.polar(torch.ones_like(p[..., 0]), p @ y)
        if s > 0:
            y[nu] += 1
    return out


def fat_link_map(p: Tensor, c: float, c_diagonal: float = 0.0) -> Tensor:
    """``K_{mu nu}(p)``: the phase of ``W_mu = (1 - 2(D-1)c - 4(D-1)(D-2)c_d) U_mu +
    c sum staples + c_d sum diagonal staples`` is ``sum_nu K_{mu nu}(p) theta_nu(p)``."""
    n_s, n_d = 2 * (D - 1), 4 * (D - 1) * (D - 2)
    rows = []
    for mu in range(D):
        own = torch.zeros(D, dtype=torch.complex128)
        own[mu] = 1 - n_s * c - n_d * c_diagonal
        row = own.expand(*p.shape[:-1], D).clone()
        for weight, diagonal in ((c, False), (c_diagonal, True)):
            if weight:
                row = row + weight * sum(path_phase(p, w) for w in fat_link_paths(mu, diagonal))
        rows.append(row)
    return torch.stack(rows, -2)


def blocking_map(p: Tensor, c: float, c_diagonal: float = 0.0) -> Tensor:
    """``M_{mu nu}(p) = (1 + e^{i p_mu}) K_{mu nu}(p)``: the blocked phase from the fine field at
    momentum p (module docstring), :func:`fat_link_map` for K."""
    e = torch.polar(torch.ones_like(p), p)
    return (1 + e)[..., :, None] * fat_link_map(p, c, c_diagonal)


def noise_weight(c: float, q: Tensor | None = None, c_diagonal: float = 0.0) -> float:
    """The largest eigenvalue of ``2^{-D} sum_n M_n(q) M_n(q)^dag`` on the gauge-invariant
    (transverse) subspace at q: how much of a white-noise part of the propagator at the fine
    momenta reaches the coarse momentum q in one step, in its worst physical direction
    (default: q -> 0 along the diagonal, where the matrix is a multiple of 1 there); the free FP
    can exist only where it is below 1 at every q (module docstring). The gauge direction is
    left out: noise along it is a gauge transformation."""
    q = torch.full((D,), 1e-3, dtype=torch.float64) if q is None else q
    total = torch.zeros(D, D, dtype=torch.complex128)
    for n in itertools.product((0, 1), repeat=D):
        p = (q + 2 * math.pi * torch.tensor(n, dtype=torch.float64)) / 2
        M = blocking_map(p, c, c_diagonal)
        total = total + M @ M.mH
    u = hat(q)
    P = torch.eye(D, dtype=torch.complex128)
    if (u.abs() ** 2).sum() > 0:  # at q = 0 there is no gauge direction
        P = P - torch.outer(u, u.conj()) / (u.abs() ** 2).sum()
    return float(torch.linalg.eigvalsh(P @ total @ P / 2**D).max())


def transverse_inverse(A: Tensor, u: Tensor) -> Tensor:
    """``P (P A P + u u^dag/|u|^2)^{-1} P`` with ``P = 1 - u u^dag/|u|^2`` per momentum (zero
    where u = 0): the inverse of A on the subspace transverse to the gauge direction u. For a
    kernel rho it is the Landau-gauge propagator; for a covariance G it is the precision of the
    Gaussian with infinite variance along u, ``lim (G + l u u^dag)^{-1}`` (exactly transverse
    on both sides and well conditioned)."""
    norm2 = (u.abs() ** 2).sum(-1)
    safe = torch.where(norm2 > 0, norm2, torch.ones_like(norm2))
    Q = u[..., :, None] * u.conj()[..., None, :] / safe[..., None, None]
    P = torch.eye(A.shape[-1], dtype=A.dtype) - Q
    B = torch.where((norm2 > 0)[..., None, None], P @ A @ P + Q, P)
    out = P @ torch.linalg.inv(B) @ P
    return torch.where((norm2 > 0)[..., None, None], 0.5 * (out + out.mH), torch.zeros_like(out))


def alias_sum(fine: Tensor, L: int) -> Tensor:
    """``2^-D sum_n f(p_n)`` over the 2^D fine momenta ``p_n = (q + 2 pi n)/2`` of each coarse q:
    ``(L^D, ...)`` from ``((2L)^D, ...)`` values on the (2L)^D momenta (:func:`momenta` order)."""
    grid = fine.reshape(*[2 * L] * D, *fine.shape[1:])
    total = torch.zeros_like(grid[(slice(0, L),) * D])
    for n in itertools.product((0, 1), repeat=D):
        total += grid[tuple(slice(m * L, (m + 1) * L) for m in n)]
    return total.reshape(L**D, *fine.shape[1:]) / 2**D


def coarse_step(rho_fine: Tensor, M: Tensor, kappa: float, L: int) -> Tensor:
    """``rho'`` on the L^D momenta from ``rho`` and the map M on the (2L)^D ones."""
    G = transverse_inverse(rho_fine, hat(momenta(2 * L)))
    Gq = alias_sum(M @ G @ M.mH, L) + torch.eye(D, dtype=G.dtype) / kappa
    return transverse_inverse(Gq, hat(momenta(L)))


def blocked_kernel(rho_fine: Tensor, c: float, kappa: float, c_diagonal: float = 0.0) -> Tensor:
    """One exact RG step: ``rho'(q)`` on the L^D momenta (:func:`momenta` order) from the fine
    kernel ``rho_fine`` ``((2L)^D, D, D)`` on the (2L)^D momenta, for the kernel
    (c, kappa, c_diagonal): ``G' = 1/kappa + 2^-D sum_n M_n G(p_n) M_n^dag`` with the
    Landau-gauge G, inverted on the coarse transverse subspace (module docstring)."""
    size = round(rho_fine.shape[0] ** (1 / D))
    return coarse_step(rho_fine, blocking_map(momenta(size), c, c_diagonal), kappa, size // 2)


def multilevel_kernel(
    L: int, levels: int, c: float, kappa: float, c_diagonal: float = 0.0
) -> Tensor:
    """The quadratic kernel ``rho(q)`` on the L^D momenta of the FP equation solved with
    ``levels`` finer lattices and the Wilson action on the finest (``FixedPoint(levels=...,
    finest=wilson)``): ``levels`` exact steps from the Wilson kernel on the (2^levels L)^D
    momenta."""
    rho = wilson_kernel(momenta(L * 2**levels))
    for _ in range(levels):
        rho = blocked_kernel(rho, c, kappa, c_diagonal)
    return rho


def noise_growth(c: float, c_diagonal: float = 0.0, steps: int = 25) -> float:
    """The factor by which the white-noise part of the propagator grows per RG step in the long
    run: the spectral radius of ``G -> 2^{-D} sum_n M_n G(p_n) M_n^dag`` on the transverse
    part, by power iteration from ``G = 1``. The map keeps trigonometric polynomials of
    frequencies within a width 4 in each component, so the 9^4 grid represents it exactly. The
    noise the kernel adds every step sums to a finite propagator, and a free FP exists, only if
    it is below 1 (:func:`noise_weight` is its first step at one momentum)."""
    from .free_fixed_point import couplings, kernel_at  # the box tools live with the FP

    L = 9
    u = hat(momenta(L))
    norm2 = (u.abs() ** 2).sum(-1)
    safe = torch.where(norm2 > 0, norm2, torch.ones_like(norm2))
    P = (
        torch.eye(D, dtype=torch.complex128)
        - u[..., :, None] * u.conj()[..., None, :] / safe[..., None, None]
    )
    M = blocking_map(momenta(2 * L), c, c_diagonal)
    G = torch.eye(D, dtype=torch.complex128).expand(L**D, D, D).clone()
    growth = 1.0
    for _ in range(steps):
        new = alias_sum(M @ kernel_at(couplings(G), 2 * L) @ M.mH, L)
        size = float((P @ new @ P).abs().max())
        growth, G = size / float((P @ G @ P).abs().max()), new / size
    return growth
