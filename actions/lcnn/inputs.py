"""The L-CNN's input layers: the plaquettes in both orientations (:class:`Plaq`, with the
channel permutation to their adjoints, :func:`plaquette_adjoint`) and the Polyakov loops
(:class:`Poly`), channel fields of shape ``(B, C, *dims, N, N)`` that transform locally
(docs/conventions.md, section 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lqcd_hmc.lattice import shift
from lqcd_hmc.loops import line


class Plaq(nn.Module):
    """All plaquettes at x in both orientations: channels ``U_{mu nu}(x)`` for ``mu < nu`` in
    lexicographic order, then ``U_{nu mu}(x) = U_{mu nu}(x)^dagger`` in the same order;
    ``D (D - 1)`` channels."""

    def forward(self, U: Tensor) -> Tensor:
        return with_adjoints(self.oriented(U))

    @staticmethod
    def oriented(U: Tensor) -> Tensor:
        """The first half of the channels: ``U_{mu nu}(x)`` for ``mu < nu``."""
        D = U.shape[1]
        links = U.unbind(1)
        loops = []
        for mu in range(D):
            for nu in range(mu + 1, D):
                Un = shift(links[nu], mu, 1, D)
                Um = shift(links[mu], nu, 1, D)
                loops.append(links[mu] @ Un @ Um.mH @ links[nu].mH)
        return torch.stack(loops, dim=1)


def with_adjoints(P: Tensor) -> Tensor:
    """``(P, P^dagger)`` along the channels: the layout :func:`plaquette_adjoint` describes."""
    return torch.cat([P, P.mH.resolve_conj()], dim=1)


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
