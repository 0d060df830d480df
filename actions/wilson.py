"""Wilson plaquette action ``S_W = (beta/N) sum_x sum_{mu<nu} Re Tr(1 - U_{mu nu}(x))``.

K. G. Wilson, Phys. Rev. D 10 (1974) 2445; ``beta = 2N/g^2``. For U(1) (N = 1) this is
``beta sum (1 - cos theta_p)``. Closed-form force: in ``U_mu(x)`` the action is
``-(beta/N) Re Tr(U_mu A_mu) + const`` with the staple sum ``A_mu``, so
``dS/dw_a = -(beta/N) Re Tr(i T_a U_mu A_mu)`` and ``F_mu = (beta/2N) Pi(U_mu A_mu)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lqcd_hmc.action import Action
from lqcd_hmc.field import GaugeField
from lqcd_hmc.lattice import shift
from lqcd_hmc.loops import plaquette_halves, plaquette_matrix, plaquette_staples
from lqcd_hmc.paths import Sites, coupled_offsets, plaquette_paths, real_trace_product, staples


class Wilson(Action):
    name = "wilson"
    beta: float
    reach = 1

    def __init__(self, beta: float):
        self.beta = float(beta)

    def params(self) -> dict:
        return {"beta": self.beta}

    def density(self, field: GaugeField) -> Tensor:
        """``(beta/N) sum_{mu<nu} Re Tr(1 - U_{mu nu}(x))`` per site, float64: ``Re Tr(A
        B^dagger)`` of :func:`lqcd_hmc.loops.plaquette_halves`, all planes at once."""
        N = field.N
        re_trace = real_trace_product(*plaquette_halves(field.links)).double()
        return (self.beta / N) * (N - re_trace).sum(1)

    def staples(self, field: GaugeField, mu: int, sites: Sites | None = None) -> Tensor:
        """``(beta/N) A_mu`` with the plaquette staple sum ``A_mu``; at ``sites`` only if
        given (the heatbath's parity colours: gathered, :func:`lqcd_hmc.paths.staples`)."""
        if sites is not None:
            paths = [(self.beta / field.N, p) for p in plaquette_paths(field.D)]
            return staples(field.links, paths, mu, sites)
        return (self.beta / field.N) * plaquette_staples(field.links, mu)

    def coupled_offsets(self, D: int, mu: int) -> set[tuple[int, ...]]:
        return coupled_offsets(plaquette_paths(D), mu, D)

    def planar_loops(self, N: int) -> dict[tuple[int, int], float]:
        return {(1, 1): self.beta / N}

    def force(self, field: GaugeField) -> Tensor:
        """``F_mu = (beta/2N) Pi(U_mu A_mu)``, building each plaquette once: with
        ``P = U_{mu nu}(x)`` (mu < nu), ``U_mu A_mu`` collects ``P(x)`` and
        ``U_nu(x-nu)^dag P(x-nu)^dag U_nu(x-nu)``, and ``U_nu A_nu`` collects ``P(x)^dag`` and
        ``U_mu(x-mu)^dag P(x-mu) U_mu(x-mu)`` (7 products per plane instead of 2 x 4 for the
        staples of each link)."""
        links, D = field.links, field.D
        M = [torch.zeros_like(links[:, 0]) for _ in range(D)]
        for mu in range(D):
            for nu in range(mu + 1, D):
                U_mu, U_nu = links[:, mu], links[:, nu]
                P = plaquette_matrix(links, mu, nu)
                M[mu] = M[mu] + P + shift(U_nu.mH @ P.mH @ U_nu, nu, -1, D)
                M[nu] = M[nu] + P.mH + shift(U_mu.mH @ P @ U_mu, mu, -1, D)
        return (self.beta / (2 * field.N)) * field.group.project_algebra(torch.stack(M, dim=1))
