"""Planar-loop gauge actions and their forces on split-layout links (:mod:`.split`).

An action of planar R x T loops (Wilson, the Lüscher-Weisz family without parallelograms) is
``S = sum_x sum_{mu<nu} sum_{(R,T)} k_RT [N - Re Tr W^{RT}_{mu nu}(x)]`` with
``W^{RT}_{mu nu}(x) = L_mu^R(x) L_nu^T(x + R mu) L_mu^R(x + T nu)^dag L_nu^T(x)^dag`` and
``k_RT`` including ``beta/N`` (see :meth:`lqcd_hmc.action.Action.planar_loops`). Links have
shape ``(2, N, N, B, D, *dims)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .split import dag, mul, project_algebra, re_trace_dag, roll, trace

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


def plane_rectangle_staples(U_a: Tensor, U_b: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """The plaquette and rectangle staples in one plane, ``k = (k_11, k_21, k_12)``
    (:meth:`lqcd_hmc.action.Action.planar_loops`): ``(V_a, V_b)`` for the links ``U_a``, ``U_b``
    of shape ``(2, N, N, B, *dims)`` whose directions are the first two site axes, so that
    one compiled kernel serves every plane (:func:`plane_force` moves each plane there).
    Each loop through ``U_a(x)`` is ``U_a(x)`` times its staple.

    Per link direction ``mu`` of the plane, other direction ``nu`` and side (``+nu``, then
    ``-nu`` with ``nu`` reversed), from the 1x1 staple
    ``S(x) = U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag`` and the plaquettes ``P = U_mu S`` and
    ``Q = S U_mu`` that it closes, the three rectangle staples are (the links between
    neighbouring staples cancel)::

        P(x+mu) S(x)                      U_mu(x) in front of a 2x1 rectangle along mu
        S(x) Q(x-mu)                      U_mu(x) behind it
        U_nu(x+mu) S(x+nu) U_nu(x)^dag    U_mu(x) at the foot of a 1x2 rectangle along nu

    6 products per side and 6 for the four 1x1 staples, whose pair products the ``a`` and
    ``b`` links share: 30 per plane, 184 SU(N) products per site in 4D with the final
    ``U V``, against 40 for :func:`plane_plaquette_staples`."""
    V_a, V_b, _ = _rectangle_plane(U_a, U_b, k, False)
    return V_a, V_b


def plane_rectangle_loops(U_a: Tensor, U_b: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`plane_rectangle_staples` and the plane's weighted loop traces
    ``sum_x [k_11 Re Tr P + k_21 Re Tr R_21 + k_12 Re Tr R_12]`` per configuration, ``(B,)``
    float64, from the plaquettes ``P = U_a S`` of the ``+b`` side and the rectangles
    ``U_mu(x) P(x+mu) S(x)`` in front of each direction's ``+nu`` side (each loop once): three
    traces of products, no further product."""
    return _rectangle_plane(U_a, U_b, k, True)


def _rectangle_plane(
    U_a: Tensor, U_b: Tensor, k: Tensor, traces: bool
) -> tuple[Tensor, Tensor, Tensor]:
    D = U_a.dim() - 4
    k11, k21, k12 = k[0].to(U_a.dtype), k[1].to(U_a.dtype), k[2].to(U_a.dtype)

    def side(
        U_mu: Tensor, U_nu: Tensor, S: Tensor, mu: int, nu: int, up: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The staples of ``U_mu(x)`` on one side of the plane (1x1, 2x1 along mu, 1x2), the
        plaquettes ``P`` and the 2x1 staples in front."""
        along, across = (k21, k12) if mu < nu else (k12, k21)
        P, Q = mul(U_mu, S), mul(S, U_mu)
        front = mul(roll(P, mu, 1, D), S)
        long = front + mul(S, roll(Q, mu, -1, D))
        if up:
            tall = mul(mul(roll(U_nu, mu, 1, D), roll(S, nu, 1, D)), dag(U_nu))
        else:  # U_nu(x+mu-nu)^dag S(x-nu) U_nu(x-nu): built at y = x - nu, moved to x
            tall = roll(mul(mul(dag(roll(U_nu, mu, 1, D)), S), U_nu), nu, -1, D)
        return k11 * S + along * long + across * tall, P, front

    a, b = 0, 1
    A = mul(dag(roll(U_a, b, 1, D)), dag(U_b))  # U_a(x+b)^dag U_b(x)^dag
    B = mul(dag(roll(U_b, a, 1, D)), dag(U_a))  # U_b(x+a)^dag U_a(x)^dag
    S_a_up, S_b_up = mul(roll(U_b, a, 1, D), A), mul(roll(U_a, b, 1, D), B)
    # at y: the -b staple of U_a(y + b), the -a staple of U_b(y + a)
    S_a_dn, S_b_dn = roll(mul(B, U_b), b, -1, D), roll(mul(A, U_a), a, -1, D)
    up_a, P, front_a = side(U_a, U_b, S_a_up, a, b, True)
    up_b, _, front_b = side(U_b, U_a, S_b_up, b, a, True)
    V_a = up_a + side(U_a, U_b, S_a_dn, a, b, False)[0]
    V_b = up_b + side(U_b, U_a, S_b_dn, b, a, False)[0]
    if not traces:
        return V_a, V_b, P.new_zeros(())
    tr = (
        k[0] * _site_sum(trace(P)[0])
        + k[1] * _site_sum(re_trace_dag(U_a, dag(front_a)))
        + k[2] * _site_sum(re_trace_dag(U_b, dag(front_b)))
    )
    return V_a, V_b, tr


def _site_sum(x: Tensor) -> Tensor:
    """``(B, *dims)`` -> ``(B,)``, summed in float64."""
    return x.double().flatten(1).sum(1)


def plane_plaquette_staples(U_a: Tensor, U_b: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """The plaquette staples in one plane (``k = (k_11,)``), laid out as in
    :func:`plane_rectangle_staples`: the four 1x1 staples from two shared pair products, 6
    products per plane, 40 per site in 4D with the final ``U V``."""
    V_a, V_b, _ = _plaquette_plane(U_a, U_b, k, False)
    return V_a, V_b


def plane_plaquette_loops(U_a: Tensor, U_b: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`plane_plaquette_staples` and ``k_11 sum_x Re Tr P`` per configuration, ``(B,)``
    float64 (one trace of a product)."""
    return _plaquette_plane(U_a, U_b, k, True)


def _plaquette_plane(
    U_a: Tensor, U_b: Tensor, k: Tensor, traces: bool
) -> tuple[Tensor, Tensor, Tensor]:
    D = U_a.dim() - 4
    k11 = k[0].to(U_a.dtype)
    a, b = 0, 1
    A = mul(dag(roll(U_a, b, 1, D)), dag(U_b))  # U_a(x+b)^dag U_b(x)^dag
    B = mul(dag(roll(U_b, a, 1, D)), dag(U_a))  # U_b(x+a)^dag U_a(x)^dag
    S_a_up = mul(roll(U_b, a, 1, D), A)
    V_a = S_a_up + roll(mul(B, U_b), b, -1, D)
    V_b = mul(roll(U_a, b, 1, D), B) + roll(mul(A, U_a), a, -1, D)
    tr = k[0] * _site_sum(re_trace_dag(U_a, dag(S_a_up))) if traces else U_a.new_zeros(())
    return k11 * V_a, k11 * V_b, tr


def staple_force(U: Tensor, V: Tensor) -> Tensor:
    """``F_mu = Pi(U_mu V_mu)/2`` from the staple sums ``V`` (the layout of ``U``)."""
    return 0.5 * project_algebra(mul(U, V))


PlaneStaples = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, ...]]
Finish = Callable[[Tensor, Tensor], Tensor]


def plane_force(U: Tensor, k: Tensor, plane: PlaneStaples, finish: Finish = staple_force) -> Tensor:
    """Closed-form force from one plane's staples, ``plane`` = :func:`plane_plaquette_staples`
    or :func:`plane_rectangle_staples` (``k`` as there), eager or compiled: each plane's links
    moved so that its directions are the first two site axes (one compiled kernel then serves
    every plane of a hypercubic lattice: a small graph, which compiles in a fraction of the
    whole force's time), their staples moved back and summed, and ``finish`` the force."""
    V, _ = _over_planes(U, k, plane)
    return finish(U, V)


def plane_action_force(
    U: Tensor, k: Tensor, plane: PlaneStaples, finish: Finish = staple_force
) -> tuple[Tensor, Tensor]:
    """The action ``S = sum_planes sum_x sum_RT k_RT [N - Re Tr W_RT]`` per configuration,
    ``(B,)`` float64, and its force, as :func:`plane_force` with ``plane`` =
    :func:`plane_plaquette_loops` or :func:`plane_rectangle_loops` (the loop traces come from
    products the staples already hold: :func:`loop_action` costs 40 % of the force)."""
    V, traces = _over_planes(U, k, plane)
    N, D, volume = U.shape[1], U.shape[4], U[0, 0, 0, 0, 0].numel()
    loops = N * volume * (D * (D - 1) // 2) * k.sum()
    return loops - traces, finish(U, V)


def _over_planes(U: Tensor, k: Tensor, plane: PlaneStaples) -> tuple[Tensor, Tensor]:
    """The staple sums of every plane's links, and the sum of the planes' traces where
    ``plane`` returns them (0 otherwise)."""
    D = U.shape[4]
    V = torch.zeros_like(U)
    traces = torch.zeros(U.shape[3], dtype=torch.float64, device=U.device)
    for mu in range(D):
        for nu in range(mu + 1, D):
            order = [mu, nu, *(x for x in range(D) if x not in (mu, nu))]
            to_plane = [0, 1, 2, 3, *(4 + x for x in order)]
            back = [0, 1, 2, 3, *(4 + order.index(x) for x in range(D))]
            V_mu, V_nu, *tr = plane(
                U[:, :, :, :, mu].permute(to_plane).contiguous(),
                U[:, :, :, :, nu].permute(to_plane).contiguous(),
                k,
            )
            V[:, :, :, :, mu] += V_mu.permute(back)
            V[:, :, :, :, nu] += V_nu.permute(back)
            if tr:
                traces += tr[0]
    return V, traces


def gradient_force(U: Tensor, G: Tensor) -> Tensor:
    """``F = -Pi(U G^dag)/2`` from the real gradient ``G = (dS/dRe U, dS/dIm U)`` (the
    convention of :func:`lqcd_hmc.action.autograd_force`)."""
    return -0.5 * project_algebra(mul(U, dag(G)))
