"""Parallel transport of L-CNN channel fields (docs/conventions.md, section 2).

``T_{+mu} W(x) = U_mu(x) W(x+mu) U_mu(x)^dagger`` and
``T_{-mu} W(x) = U_mu(x-mu)^dagger W(x-mu) U_mu(x-mu)``: one hop, every channel at once
(:func:`transport`), or as one ``N^2 x N^2`` matrix per site and hop acting on ``vec W``
(:func:`transport_matrices`), built once per network evaluation and shared by its layers
(:func:`transport_hops`), whose product with channel-last fields is one small matrix product per
site for all channels. :func:`laplacian` is the covariant Laplacian from those matrices.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import torch
from torch import Tensor

from lqcd_hmc.lattice import shift


def transport(U: Tensor, W: Tensor, mu: int, sign: int) -> Tensor:
    """One hop: ``T_{+mu} W(x) = U_mu(x) W(x+mu) U_mu(x)^dagger`` (sign > 0) or
    ``T_{-mu} W(x) = U_mu(x-mu)^dagger W(x-mu) U_mu(x-mu)`` (sign < 0), every channel at once."""
    D = U.shape[1]
    Um = U[:, mu].unsqueeze(1)
    if sign > 0:
        return torch.einsum("bx...mn,bc...np,bx...qp->bc...mq", Um, shift(W, mu, 1, D), Um.conj())
    return shift(torch.einsum("bx...nm,bc...np,bx...pq->bc...mq", Um.conj(), W, Um), mu, -1, D)


class _Kron(torch.autograd.Function):
    """``R_{mq,np} = V_mn V^*_qp`` per site. Its backward is one ``N^2 x N^2`` by ``N^2`` product
    per site, ``dvec V = (G + G^dagger) vec V`` with ``G_{mn,qp} = dR_{mq,np}`` (torch's gradient
    convention for complex tensors), made of differentiable operations (training's double
    backward); autograd through the broadcast product took 2.5-3x longer (8^4, both dtypes)."""

    @staticmethod
    def forward(V: Tensor) -> Tensor:
        N = V.shape[-1]
        return torch.einsum("...mn,...qp->...mqnp", V, V.conj()).reshape(*V.shape[:-2], N * N, -1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx: Any, dR: Tensor) -> Tensor:
        (V,) = ctx.saved_tensors
        N = V.shape[-1]
        G = dR.unflatten(-1, (N, N)).unflatten(-3, (N, N)).transpose(-3, -2)  # m n q p
        G = G.reshape(*V.shape[:-2], N * N, N * N)
        return ((G + G.mH) @ V.reshape(*V.shape[:-2], N * N, 1)).view_as(V)


def transport_matrices(U_mu: Tensor, mu: int, sign: int) -> Tensor:
    """The hop ``T_{sign mu}`` as a ``N^2 x N^2`` matrix per site acting on ``vec W`` (row-major),
    ``T W(x) = R(x) vec W(x + sign mu)``: ``R = V (x) V^*`` with ``V = U_mu(x)`` (sign > 0) or
    ``V = U_mu(x - mu)^dagger`` (sign < 0), so ``(V W V^dagger)_{mq} = sum V_mn W_np V^*_qp``.
    ``U_mu``: the links of direction mu, ``(B, *dims, N, N)``. Shape ``(B, *dims, N^2, N^2)``;
    one matrix per site serves every channel."""
    D = U_mu.dim() - 3
    V = U_mu if sign > 0 else shift(U_mu, mu, -1, D).mH
    return _Kron.apply(V.resolve_conj())


def transport_hops(U: Tensor) -> list[Tensor]:
    """:func:`transport_matrices` of every hop, in the order ``(mu, +), (mu, -)`` for
    ``mu = 0, ..., D - 1``: computed once per network evaluation and shared by its layers."""
    links = U.unbind(1)  # unbind, not indexing: its backward is one stack, not D zero fills
    return [transport_matrices(links[mu], mu, sign) for mu in range(U.shape[1]) for sign in (1, -1)]


def laplacian(W: Tensor, hops: list[Tensor]) -> Tensor:
    """Covariant Laplacian per channel, ``sum_mu (T_{+mu} + T_{-mu} - 2) W(x) / (2 D)``, with the
    hops of :func:`transport_hops` (one ``N^2 x N^2`` product per site and hop on
    channel-last fields)."""
    n, C, *dims, N, _ = W.shape
    D = len(dims)
    Wc = W.flatten(-2).movedim(1, -1)  # (n, *dims, N^2, C)
    total = reduce(
        torch.add,
        (
            hops[2 * mu + si] @ shift(Wc, mu, sign, D)
            for mu in range(D)
            for si, sign in ((0, 1), (1, -1))
        ),
    )
    return total.movedim(-1, 1).unflatten(-1, (N, N)) / (2 * D) - W
