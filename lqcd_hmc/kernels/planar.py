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


def gradient_force(U: Tensor, G: Tensor) -> Tensor:
    """``F = -Pi(U G^dag)/2`` from the real gradient ``G = (dS/dRe U, dS/dIm U)`` (the
    convention of :func:`lqcd_hmc.action.autograd_force`)."""
    return -0.5 * project_algebra(mul(U, dag(G)))
