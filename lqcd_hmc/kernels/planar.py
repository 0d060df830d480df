"""Planar-loop gauge actions and their forces on split-layout links (:mod:`.split`).

An action of planar R x T loops (Wilson, the Lüscher-Weisz family without parallelograms) is
``S = sum_x sum_{mu<nu} sum_{(R,T)} k_RT [N - Re Tr W^{RT}_{mu nu}(x)]`` with
``W^{RT}_{mu nu}(x) = L_mu^R(x) L_nu^T(x + R mu) L_mu^R(x + T nu)^dag L_nu^T(x)^dag`` and
``k_RT`` including ``beta/N`` (see :meth:`lqcd_hmc.action.Action.planar_loops`). Links have
shape ``(2, N, N, B, D, *dims)``.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from .split import dag, mul, project_algebra, re_trace_dag, roll

Loops = tuple[tuple[int, int], ...]


def _line(U_mu: Tensor, mu: int, length: int, D: int) -> Tensor:
    out = U_mu
    for k in range(1, length):
        out = mul(out, roll(U_mu, mu, k, D))
    return out


def loop_action(U: Tensor, loops: Loops, k: Tensor) -> Tensor:
    """``S`` per configuration, shape ``(B,)``, float64; ``k[i]`` is the coefficient of
    ``loops[i] = (R, T)``. Each loop's trace is ``Re Tr(a b^dag)`` of its two halves, with
    the straight lines shared between loops."""
    D, N = U.shape[4], U.shape[1]
    volume = U[0, 0, 0, 0, 0].numel()
    lines: dict[tuple[int, int], Tensor] = {}

    def line(mu: int, n: int) -> Tensor:
        if (mu, n) not in lines:
            lines[(mu, n)] = _line(U[:, :, :, :, mu], mu, n, D)
        return lines[(mu, n)]

    acc = torch.zeros(U.shape[3], dtype=torch.float64, device=U.device)
    for mu in range(D):
        for nu in range(mu + 1, D):
            for (R, T), kRT in zip(loops, k):
                Lm, Ln = line(mu, R), line(nu, T)
                a = mul(Lm, roll(Ln, mu, R, D))
                b = mul(Ln, roll(Lm, nu, T, D))
                tr = re_trace_dag(a, b).double().flatten(1).sum(1)
                acc = acc + kRT * (N * volume - tr)
    return acc


def wilson_force(U: Tensor, k: Tensor) -> Tensor:
    """Closed-form force of ``k sum (N - Re Tr U_p)``: ``F_mu = (k/2) Pi(M_mu)`` where, with
    ``P = U_{mu nu}(x)``, ``M_mu`` collects ``P(x)`` and ``U_nu(x-nu)^dag P(x-nu)^dag
    U_nu(x-nu)`` and ``M_nu`` collects ``P(x)^dag`` and ``U_mu(x-mu)^dag P(x-mu) U_mu(x-mu)``
    (the same 7 products per plane as :meth:`actions.wilson.Wilson.force`)."""
    D = U.shape[4]
    M: list[Tensor | None] = [None] * D
    for mu in range(D):
        for nu in range(mu + 1, D):
            U_mu, U_nu = U[:, :, :, :, mu], U[:, :, :, :, nu]
            P = mul(mul(U_mu, roll(U_nu, mu, 1, D)), dag(mul(U_nu, roll(U_mu, nu, 1, D))))
            m_mu = P + roll(mul(mul(dag(U_nu), dag(P)), U_nu), nu, -1, D)
            m_nu = dag(P) + roll(mul(mul(dag(U_mu), P), U_mu), mu, -1, D)
            M_mu, M_nu = M[mu], M[nu]
            M[mu] = m_mu if M_mu is None else M_mu + m_mu
            M[nu] = m_nu if M_nu is None else M_nu + m_nu
    return (0.5 * k).to(U.dtype) * project_algebra(torch.stack(cast(list[Tensor], M), dim=4))


def rectangle_force(U: Tensor, k: Tensor) -> Tensor:
    """Closed-form force of the plaquettes and 2x1 rectangles, ``k = (k_11, k_21, k_12)``
    (:meth:`lqcd_hmc.action.Action.planar_loops`): ``F_mu = Pi(U_mu V_mu)/2`` with the staple
    sum ``V_mu`` such that each loop through ``U_mu(x)`` is ``U_mu(x)`` times its staple.

    Per ordered pair ``(mu, nu)`` and side (``+nu``, then ``-nu`` with ``nu`` reversed), from
    the 1x1 staple ``S(x) = U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag`` and the plaquettes
    ``P = U_mu S``, ``Q = S U_mu`` that it closes, the three rectangle staples are (the links
    between neighbouring staples cancel)::

        P(x+mu) S(x)                  U_mu(x) in front of a 2x1 rectangle along mu
        S(x) Q(x-mu)                  U_mu(x) behind it
        U_nu(x+mu) S(x+nu) U_nu(x)^dag    U_mu(x) at the foot of a 1x2 rectangle along nu

    8 products per ordered pair and side, 4 shared between the staples of two planes' links:
    184 SU(N) products per site in 4D against 42 for :func:`wilson_force` (the autograd force
    of :func:`loop_action`, the generic path, runs the loop products three times over)."""
    D = U.shape[4]
    k11, k21, k12 = k[0].to(U.dtype), k[1].to(U.dtype), k[2].to(U.dtype)
    V: list[Tensor | None] = [None] * D

    def add(mu: int, term: Tensor) -> None:
        V_mu = V[mu]
        V[mu] = term if V_mu is None else V_mu + term

    def rectangles(U_mu: Tensor, U_nu: Tensor, S: Tensor, mu: int, nu: int, up: bool) -> Tensor:
        """The staples of ``U_mu(x)`` on one side of the plane: 1x1, 2x1 along mu, 1x2."""
        along, across = (k21, k12) if mu < nu else (k12, k21)
        P, Q = mul(U_mu, S), mul(S, U_mu)
        long = mul(roll(P, mu, 1, D), S) + mul(S, roll(Q, mu, -1, D))
        if up:
            tall = mul(mul(roll(U_nu, mu, 1, D), roll(S, nu, 1, D)), dag(U_nu))
        else:  # U_nu(x+mu-nu)^dag S(x-nu) U_nu(x-nu): built at y = x - nu, moved to x
            tall = roll(mul(mul(dag(roll(U_nu, mu, 1, D)), S), U_nu), nu, -1, D)
        return k11 * S + along * long + across * tall

    for mu in range(D):
        for nu in range(mu + 1, D):
            U_mu, U_nu = U[:, :, :, :, mu], U[:, :, :, :, nu]
            # pair products shared by the staples of the mu and the nu links of the plane
            A = mul(dag(roll(U_mu, nu, 1, D)), dag(U_nu))  # U_mu(x+nu)^dag U_nu(x)^dag
            B = mul(dag(roll(U_nu, mu, 1, D)), dag(U_mu))  # U_nu(x+mu)^dag U_mu(x)^dag
            S_mu_up = mul(roll(U_nu, mu, 1, D), A)
            S_nu_dn_at = mul(A, U_mu)  # at y: the -mu staple of U_nu(y + mu)
            S_nu_up = mul(roll(U_mu, nu, 1, D), B)
            S_mu_dn_at = mul(B, U_nu)  # at y: the -nu staple of U_mu(y + nu)
            S_mu_dn, S_nu_dn = roll(S_mu_dn_at, nu, -1, D), roll(S_nu_dn_at, mu, -1, D)
            add(mu, rectangles(U_mu, U_nu, S_mu_up, mu, nu, True))
            add(mu, rectangles(U_mu, U_nu, S_mu_dn, mu, nu, False))
            add(nu, rectangles(U_nu, U_mu, S_nu_up, nu, mu, True))
            add(nu, rectangles(U_nu, U_mu, S_nu_dn, nu, mu, False))
    M = [mul(U[:, :, :, :, mu], cast(Tensor, V[mu])) for mu in range(D)]
    return 0.5 * project_algebra(torch.stack(M, dim=4))


def gradient_force(U: Tensor, G: Tensor) -> Tensor:
    """``F = -Pi(U G^dag)/2`` from the real gradient ``G = (dS/dRe U, dS/dIm U)`` (the
    convention of :func:`lqcd_hmc.action.autograd_force`)."""
    return -0.5 * project_algebra(mul(U, dag(G)))
