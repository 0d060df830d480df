"""The L-CNN's input layers: the plaquettes in both orientations (:class:`Plaq`, with the
channel permutation to their adjoints, :func:`plaquette_adjoint`) and the Polyakov loops
(:class:`Poly`), channel fields of shape ``(B, C, *dims, N, N)`` that transform locally
(docs/conventions.md, section 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lqcd_hmc.loops import line, plaquette_halves
from lqcd_hmc.products import product

from . import native


class Plaq(nn.Module):
    """All plaquettes at x in both orientations: channels ``U_{mu nu}(x)`` for ``mu < nu`` in
    lexicographic order, then ``U_{nu mu}(x) = U_{mu nu}(x)^dagger`` in the same order;
    ``D (D - 1)`` channels."""

    def forward(self, U: Tensor) -> Tensor:
        return with_adjoints(self.oriented(U))

    @staticmethod
    def oriented(U: Tensor) -> Tensor:
        """The first half of the channels: ``U_{mu nu}(x)`` for ``mu < nu``, the product of
        :func:`lqcd_hmc.loops.plaquette_halves` (three products of one batch each, natively
        on a CPU)."""
        return product(*plaquette_halves(U), adj_b=True)


def cat_adjoints(W: Tensor) -> Tensor:
    """``(W, W^dagger)`` along the channels by ``torch.cat``: what :func:`with_adjoints`
    computes in one pass, for the reference paths (autograd differentiates it)."""
    return torch.cat([W, W.mH.resolve_conj()], dim=1)


def with_adjoints(P: Tensor) -> Tensor:
    """``(P, P^dagger)`` along the channels: the layout :func:`plaquette_adjoint` describes
    (and the L-CB layers' ``W~``). Differentiable to any order by :class:`_WithAdjoints`."""
    return _WithAdjoints.apply(P)


def fold_adjoints(G: Tensor) -> Tensor:
    """``G_1 + G_2^dagger`` of the two halves of the channels: :func:`with_adjoints`'s adjoint
    (the gradient of ``W`` from that of ``(W, W^dagger)``), differentiable to any order."""
    return _FoldAdjoints.apply(G)


class _WithAdjoints(torch.autograd.Function):
    """``apply(P) = (P, P^dagger)`` along the channels. The map is real-linear, its adjoint
    ``(G_1, G_2) -> G_1 + G_2^dagger`` (:class:`_FoldAdjoints`) and the adjoint of that this
    map again: each backward pass is the other function, so training's second derivatives
    take one fused operation per pass where ``cat`` and ``mH`` would record slices that
    differentiate to zero-filled tensors, transposed copies and adds."""

    @staticmethod
    def forward(ctx: object, P: Tensor) -> Tensor:
        return native.with_adjoints(P) if native.available(P) else cat_adjoints(P)

    @staticmethod
    def backward(ctx: object, G: Tensor) -> Tensor:
        return _FoldAdjoints.apply(G)


class _FoldAdjoints(torch.autograd.Function):
    """``apply(G) = G_1 + G_2^dagger`` of the two halves of the channels: the backward pass of
    :class:`_WithAdjoints`, whose forward is its own backward."""

    @staticmethod
    def forward(ctx: object, G: Tensor) -> Tensor:
        if native.available(G):
            return native.fold_adjoints(G)
        C = G.shape[1] // 2
        return G[:, :C] + G[:, C:].mH

    @staticmethod
    def backward(ctx: object, R: Tensor) -> Tensor:
        return _WithAdjoints.apply(R)


class Poly(nn.Module):
    """Polyakov loops through x in every direction,
    ``W_mu(x) = U_mu(x) U_mu(x+mu) ... U_mu(x+(L_mu-1) mu)``; ``D`` channels."""

    def forward(self, U: Tensor) -> Tensor:
        D = U.shape[1]
        return torch.stack([line(U[:, mu], mu, U.shape[2 + mu], D) for mu in range(D)], dim=1)


def plaquette_adjoint(D: int) -> list[int]:
    """The channel permutation taking :class:`Plaq`'s output to its adjoint: ``U_{mu nu}``
    and ``U_{nu mu} = U_{mu nu}^dagger`` trade places."""
    n = D * (D - 1) // 2
    return [*range(n, 2 * n), *range(n)]
