"""Gradient flow (M. Lüscher, JHEP 08 (2010) 071, arXiv:1006.4518) and its energy density.

``dV_mu(x)/dt = Z(V) V_mu(x)``, ``Z = -g0^2 d_{x,mu} S_flow(V)`` with ``g0^2 = 2N/beta`` of the
flow action, so the flow does not depend on the beta it is built with. In this package's
conventions ``d_{x,mu} S`` is the HMC force (:meth:`lqcd_hmc.action.Action.force`), so every
registered action with a force defines a flow: ``"wilson"``, ``"symanzik"`` (tree-level
Lüscher-Weisz), ``"zeuthen"`` (A. Ramos, S. Sint, Eur. Phys. J. C 76 (2016) 15,
arXiv:1508.05552: the Symanzik force times ``1 + (a^2/12) nabla*_mu nabla_mu``, removing all
O(a^2) effects of the flow), or any action table ``{"name": ..., "beta": ...}``.

Integrator: Lüscher's third-order Runge-Kutta scheme (ibid., appendix C), with
``Z_i = eps Z(W_i)``:
``W1 = exp(Z0/4) V``, ``W2 = exp(8/9 Z1 - 17/36 Z0) W1``,
``V(t + eps) = exp(3/4 Z2 - 8/9 Z1 + 17/36 Z0) W2``.
Adaptive steps (P. Fritzsch, A. Ramos, JHEP 10 (2013) 008, arXiv:1301.4388, section 4.2):
the same stages give the second-order ``V2 = exp(2 Z1 - Z0) V``; the distance
``d = max_x,mu ||V(t+eps) - V2||`` estimates the local error ``O(eps^3)``, a step with
``d > tol`` is repeated, and the next step is ``eps (tol/d)^(1/3)`` times 0.9 (at most twice the
old one). Output times are hit exactly.

Energy density per site, averaged over the lattice:
``E_plaq = 2 sum_{mu<nu} Re Tr(1 - U_{mu nu}) = D(D-1) N (1 - P)`` and
``E_clover = sum_{mu<nu} Tr F_{mu nu}^2`` with the clover F; both ``a^4 E(t)`` of
``E = (1/2) sum_{mu,nu} Tr G_{mu nu} G_{mu nu}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lqcd_hmc.action import Action
from lqcd_hmc.action import build as build_action
from lqcd_hmc.field import GaugeField
from lqcd_hmc.groups import Group
from lqcd_hmc.kernels import Dynamics, check_kernels, make_dynamics
from lqcd_hmc.lattice import shift
from lqcd_hmc.loops import average_plaquette, clover_energy

NAMED = {
    "wilson": {"name": "wilson", "beta": 6.0},
    "symanzik": {"name": "symanzik", "beta": 6.0},
    "zeuthen": {"name": "symanzik", "beta": 6.0},
}
FORMS = ("plaquette", "clover")


def energy_density(field: GaugeField, form: str = "clover") -> Tensor:
    """``a^4 E`` averaged over sites, per configuration (module docstring)."""
    D, N = field.D, field.N
    if form == "plaquette":
        return D * (D - 1) * N * (1 - average_plaquette(field.links))
    if form != "clover":
        raise ValueError(f"unknown energy-density form {form!r}; use one of {FORMS}")
    return clover_energy(field.links).flatten(1).mean(1)


def zeuthen_operator(X: Tensor, links: Tensor) -> Tensor:
    """``(1 + nabla*_mu nabla_mu / 12) X_mu(x)`` for a Lie-algebra field ``X`` on the links:
    ``X + (V_mu(x) X_mu(x+mu) V_mu(x)^dag - 2 X_mu(x) + V_mu(x-mu)^dag X_mu(x-mu) V_mu(x-mu))/12``
    (Ramos and Sint, eq. (2.10))."""
    D = links.shape[1]
    out = []
    for mu in range(D):
        V, Xm = links[:, mu], X[:, mu]
        fwd = V @ shift(Xm, mu, 1, D) @ V.mH
        bwd = shift(V.mH @ Xm @ V, mu, -1, D)
        out.append(Xm + (fwd - 2 * Xm + bwd) / 12)
    return torch.stack(out, dim=1)


@dataclass
class FlowStats:
    """Bookkeeping of one :meth:`Flow.run`: accepted and rejected steps, force evaluations."""

    steps: int = 0
    rejected: int = 0
    forces: int = 0


class Flow:
    """A gradient flow: ``Flow("wilson")``, ``Flow("zeuthen")``, ``Flow({"name": "iwasaki",
    "beta": 2.6})`` or ``Flow(action)``; ``g0sq`` is needed only for an action without a
    ``beta``. ``kernels``: ``"reference"``, or ``"split"``/``"compiled"`` to integrate in the
    split real layout of :mod:`lqcd_hmc.kernels` (planar-loop flow actions, not Zeuthen)."""

    def __init__(
        self,
        action: str | Mapping[str, Any] | Action = "wilson",
        g0sq: float | None = None,
        kernels: str = "reference",
    ):
        self.zeuthen = action == "zeuthen"
        self.kernels = check_kernels(kernels)
        if self.zeuthen and kernels != "reference":
            raise ValueError("the Zeuthen flow has no split kernels; use kernels = 'reference'")
        if isinstance(action, str):
            if action not in NAMED:
                raise ValueError(
                    f"unknown flow {action!r}; use one of {sorted(NAMED)} or an action table"
                )
            action = NAMED[action]
        self.action = action if isinstance(action, Action) else build_action(action)
        if g0sq is None and self.action.beta is None:
            raise ValueError(f"flow action {self.action.name!r} has no coupling beta; give g0sq")
        self._g0sq = g0sq
        self._dynamics: dict[str, Dynamics] = {}

    def dynamics(self, group: Group) -> Dynamics:
        """Force and ``exp(h Z) U`` on the layout of ``kernels`` (built once per group)."""
        if group.name not in self._dynamics:
            self._dynamics[group.name] = make_dynamics([self.action], group, self.kernels)
        return self._dynamics[group.name]

    def g0sq(self, N: int) -> float:
        if self._g0sq is not None:
            return float(self._g0sq)
        assert self.action.beta is not None  # checked in __init__
        return 2.0 * N / self.action.beta

    def generator(self, links: Tensor, field: GaugeField) -> Tensor:
        """``Z(V) = -g0^2 d S(V)`` (Zeuthen: with the operator applied) for links ``V`` of
        ``field``'s group, in the layout of ``kernels`` (complex ``(B, D, *dims, N, N)`` for
        the reference)."""
        Z = -self.g0sq(field.N) * self.dynamics(field.group).force(0, links)
        return zeuthen_operator(Z, links) if self.zeuthen else Z

    def _stages(
        self, field: GaugeField, dyn: Dynamics, U: Tensor, eps: float, stats: FlowStats
    ) -> tuple[Tensor, Tensor]:
        """One RK3 step from ``U`` (in ``dyn``'s layout): ``(V(t + eps), V2)`` with the
        embedded second-order V2."""

        def Z(W: Tensor) -> Tensor:
            return eps * self.generator(W, field)

        Z0 = Z(U)
        W1 = dyn.step(U, Z0, 0.25)
        Z1 = Z(W1)
        W2 = dyn.step(W1, 8 / 9 * Z1 - 17 / 36 * Z0, 1.0)
        Z2 = Z(W2)
        V3 = dyn.step(W2, 0.75 * Z2 - 8 / 9 * Z1 + 17 / 36 * Z0, 1.0)
        stats.forces += 3
        return V3, dyn.step(U, 2 * Z1 - Z0, 1.0)

    def step(self, field: GaugeField, eps: float) -> GaugeField:
        """One fixed RK3 step of size ``eps``."""
        dyn = self.dynamics(field.group)
        V, _ = self._stages(field, dyn, dyn.to_layout(field.links), eps, FlowStats())
        return field.with_links(dyn.from_layout(V))

    def run(
        self,
        field: GaugeField,
        times: np.ndarray | list[float],
        eps: float = 0.01,
        adaptive: bool = False,
        tolerance: float = 1e-6,
        observe: Callable[[float, GaugeField], None] | None = None,
    ) -> tuple[GaugeField, FlowStats]:
        """Flow ``field`` through the increasing ``times`` (from t = 0), calling
        ``observe(t, V(t))`` at each; fixed steps ``eps`` (the last one before an output time
        shortened to hit it) or adaptive steps starting at ``eps``."""
        times = np.asarray(times, dtype=np.float64)
        if times.size and (times[0] < 0 or np.any(np.diff(times) <= 0)):
            raise ValueError("flow times must be non-negative and increasing")
        if eps <= 0 or tolerance <= 0:
            raise ValueError(f"flow step and tolerance must be positive, got {eps}, {tolerance}")
        dyn = self.dynamics(field.group)
        stats, U, t, h = FlowStats(), dyn.to_layout(field.links), 0.0, float(eps)
        for target in times:
            while target - t > 1e-12:
                step = min(h, target - t)
                V3, V2 = self._stages(field, dyn, U, step, stats)
                if adaptive:
                    d = float(dyn.max_abs_difference(V3, V2))
                    grow = 0.9 * (tolerance / max(d, 1e-300)) ** (1 / 3)
                    if d > tolerance:
                        stats.rejected += 1
                        h = step * max(grow, 0.1)
                        continue
                    if step == h:
                        h = step * min(grow, 2.0)
                U, t = V3, t + step
                stats.steps += 1
            if observe is not None:
                observe(float(target), field.with_links(dyn.from_layout(U)))
        return field.with_links(dyn.from_layout(U)), stats
