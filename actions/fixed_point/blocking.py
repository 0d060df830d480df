"""The RG blocking kernel of the fixed-point (FP) action, blocking factor 2.

``T[U, V] = -(kappa/N) sum_{x_B, mu} [Re Tr(V_mu(x_B) Q_mu(x_B)^dag)
                                     - max_{W in SU(N)} Re Tr(W Q_mu(x_B)^dag)]``
(T. DeGrand, A. Hasenfratz, P. Hasenfratz, F. Niedermayer, Nucl. Phys. B 454 (1995) 587,
hep-lat/9506030, eqs. (2.2)-(2.5)); the max term is the exact normalisation of the classical
limit, so ``T >= 0`` with equality iff V is the projection of Q.

The blocked link is the product of two "fat" links along the blocked direction,
``Q_mu(x_B) = W_mu(2 x_B) W_mu(2 x_B + mu)``, with
``W_mu(x) = (1 - 2(D-1) c - 4(D-1)(D-2) c_d) U_mu(x) + c sum (staples) + c_d sum (diagonal
staples)``: the 2(D-1) staples through one transverse direction and the 4(D-1)(D-2) five-link
diagonal staples ``nu, la, mu, -la, -nu`` through two, the path family of DHHN
(:func:`~.free.fat_link_paths`). The default kernel is the one whose free FP action is most
local (smallest decay length of its couplings) in the scan of ``bench/fp_locality.py``
(bench/RESULTS.md); every FP data set stores its kernel.

The maximum over SU(N) is found by Cabibbo-Marinari sweeps over the SU(2) subgroups, each of
which maximises exactly (:func:`max_trace_projection`); U(1) and SU(2) have closed forms. Its
derivative uses the envelope theorem: at the maximiser W*, ``d max / dQ = d Re Tr(W* Q^dag) / dQ``
with W* held fixed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.groups import project_to_group
from lqcd_hmc.heatbath import su2_projection
from lqcd_hmc.loops import real_trace_product, staple


def max_trace_projection(Q: Tensor, N: int, sweeps: int = 50, tol: float = 1e-15) -> Tensor:
    """``argmax_{W in SU(N)} Re Tr(W Q^dag)`` (U(1) for N = 1); no gradient flows through it."""
    with torch.no_grad():
        if N == 1:
            return Q / Q.abs().clamp_min(1e-300)
        if N == 2:
            return su2_projection(Q.mH)[1].mH
        W = project_to_group(Q, N)  # polar start, then exact subgroup steps
        best = real_trace_product(W, Q).sum()
        for _ in range(sweeps):
            for i, j in itertools.combinations(range(N), 2):
                idx = torch.tensor([i, j], device=Q.device)
                rows = W.index_select(-2, idx)  # rows i, j of W
                m = rows @ Q.mH.index_select(-1, idx)  # block (i, j) of W Q^dag
                W = W.index_copy(-2, idx, su2_projection(m)[1].mH @ rows)
            now = real_trace_product(W, Q).sum()
            if now - best <= tol * now.abs():
                break
            best = now
        return W


@dataclass(frozen=True)
class Blocking:
    """The blocking kernel (module docstring) with staple weight ``c``, diagonal-staple weight
    ``c_diagonal`` and strength ``kappa``."""

    c: float = 0.08
    kappa: float = 16.0
    c_diagonal: float = 0.005

    def __post_init__(self) -> None:
        """A kernel must be a positive quadratic penalty (``kappa > 0``) of a fat link whose
        weights are those of an average (``c, c_d >= 0``, ``1 - 6c - 24c_d >= 0`` in D = 4)."""
        if not (math.isfinite(self.kappa) and self.kappa > 0):
            raise ValueError(f"blocking kernel: kappa must be positive, got {self.kappa}")
        if not (math.isfinite(self.c) and 0 <= self.c <= 1 / 6):
            raise ValueError(
                f"blocking kernel: c must be in [0, 1/6] (the fat link's own weight 1 - 6c "
                f"stays >= 0), got {self.c}"
            )
        if not (math.isfinite(self.c_diagonal) and 0 <= self.c_diagonal <= (1 - 6 * self.c) / 24):
            raise ValueError(
                f"blocking kernel: c_diagonal must be in [0, (1 - 6c)/24] = "
                f"[0, {(1 - 6 * self.c) / 24:.4g}] (the fat link's own weight 1 - 6c - 24c_d "
                f"stays >= 0), got {self.c_diagonal}"
            )

    def fat_links(self, links: Tensor) -> list[Tensor]:
        """``W_mu(x)`` for every fine link, one ``(B, *dims, N, N)`` tensor per direction (the
        links are split by ``unbind``: indexing them once per staple made the backward pass
        zero-fill a whole link field per index)."""
        D = links.shape[1]
        U = links.unbind(1)
        out = []
        for mu in range(D):
            others = [nu for nu in range(D) if nu != mu]
            W = (1 - 2 * (D - 1) * self.c - 4 * (D - 1) * (D - 2) * self.c_diagonal) * U[mu]
            if self.c:
                W = W + self.c * sum(staple(U[nu], U[mu], mu, nu, D) for nu in others)
            if self.c_diagonal:
                for la in others:  # staples through la, then carried along nu != la
                    S = staple(U[la], U[mu], mu, la, D)
                    W = W + self.c_diagonal * sum(
                        staple(U[nu], S, mu, nu, D) for nu in others if nu != la
                    )
            out.append(W)
        return out

    def blocked(self, fine: Tensor) -> Tensor:
        """``Q_mu(x_B)`` on the coarse lattice, ``(B, D, *dims/2, N, N)``: the product of the
        two fat links is taken on the even sites only."""
        D = fine.shape[1]
        if any(L % 2 for L in fine.shape[2 : 2 + D]):
            raise ValueError(f"blocking by 2 needs even extents, got {list(fine.shape[2 : 2 + D])}")
        even = (slice(None),) + (slice(None, None, 2),) * D
        Q = [
            W[even] @ torch.roll(W, -1, dims=1 + mu)[even]
            for mu, W in enumerate(self.fat_links(fine))
        ]
        return torch.stack(Q, dim=1)

    def __call__(self, fine: GaugeField, coarse: GaugeField) -> Tensor:
        """``T[U, V]`` per configuration, float64 ``(B,)``; differentiable in both."""
        if tuple(2 * L for L in coarse.dims) != fine.dims or coarse.group != fine.group:
            raise ValueError(
                f"blocking needs a fine lattice twice the coarse one in each "
                f"direction, got fine {list(fine.dims)} and coarse "
                f"{list(coarse.dims)}"
            )
        Q = self.blocked(fine.links)
        Wmax = max_trace_projection(Q, fine.N)
        gap = real_trace_product(Wmax, Q) - real_trace_product(coarse.links, Q)
        return (self.kappa / fine.N) * gap.double().flatten(1).sum(1)
