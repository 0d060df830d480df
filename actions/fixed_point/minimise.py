"""The classical fixed-point equation and its derivatives, solved by minimisation.

``A_FP[V] = min_U { A_FP[U] + T[U, V] }`` (P. Hasenfratz, F. Niedermayer, Nucl. Phys. B 414 (1994)
785), iterated over ``levels`` finer lattices as in K. Holland, A. Ipp, D. Müller, U. Wenger,
arXiv:2401.06481, section II:
``A_FP^(L)[V] = min_{U_L, ..., U_1} { A_0[U_L] + T[U_L, U_{L-1}] + ... + T[U_1, V] }``,
where ``U_l`` lives on the lattice ``2^l`` times finer than V and the finest level is evaluated
with an action ``A_0`` that is accurate for the smooth fields found there (default: tree-level
Symanzik, ``A_0 = S/beta``). The field on the finest lattice is smoother by ``2^L``, so the
error ``A_0`` makes there falls with every level (by 16 per level for a constant flux, where
tree-level Symanzik errs by ``phi^2/12`` with phi the flux per plaquette), and ``A_FP^(L)``
approaches the FP action as L grows.

Minimisation: every configuration of a batch on its own, by L-BFGS on the group manifold
(:mod:`.lbfgs`: steps ``U_l -> exp(i alpha d_a T_a) U_l``, algebra gradients at the current
point, backtracking to sufficient decrease with an allowance of ``rounding |F|``, the noise of
F near its minimum); convergence when the largest algebra derivative ``|dF/dw_a(x, mu)|`` over
all levels and links is below ``tolerance``. Measured on SU(3) coarse 4^4 (bench/RESULTS.md,
"FP data").

Kernels: ``"reference"`` differentiates the whole functional with autograd; ``"split"`` (eager,
for tests) and ``"compiled"`` evaluate ``A_0`` and its force by the closed-form split-layout
kernels of the planar actions (:meth:`lqcd_hmc.kernels.dynamics.SplitDynamics.action_and_force`;
compiled: 1.9x faster than autograd on the 8^4 fine lattice) and move the links by their link
update, one configuration at a time, so that the compiled kernels see one shape however many
configurations of a batch still run; the blocking terms stay with autograd. Tests pin them to
the reference to 1e-12 (bench/RESULTS.md, "FP data at the goal").

Derivatives: at the minimum only the last kernel depends on V, so
``dA_FP/dw_a(V) = dT[U_1*, V]/dw_a`` for ``V -> exp(i w_a T_a) V``: one float64 per link and
generator, the convention of :meth:`lqcd_hmc.action.Action.force`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lqcd_hmc.action import Action, build
from lqcd_hmc.field import GaugeField
from lqcd_hmc.groups import Group
from lqcd_hmc.kernels.dynamics import SplitDynamics, check_kernels, planar_terms
from lqcd_hmc.kernels.split import from_split, to_split
from lqcd_hmc.products import product

from .blocking import Blocking
from .lbfgs import Evaluate, Move, minimise


def unblock(coarse: GaugeField) -> GaugeField:
    """A start on the lattice twice as fine that blocks back to V and is gauge covariant
    (under coarse transformations spread over each block): the fine link that crosses from
    block x_B to x_B + mu is ``V_mu(x_B)``, every link inside a block is 1. Each coarse plaquette
    then sits on one fine plaquette and all others are 1; no square roots, hence no branch
    choices that could trap centre vortices."""
    V = coarse.links
    D = coarse.D
    fine = V
    for mu in range(D):
        fine = fine.repeat_interleave(2, dim=2 + mu)
    eye = torch.eye(coarse.N, dtype=V.dtype, device=V.device)
    out = []
    for mu in range(D):
        odd = torch.arange(fine.shape[2 + mu], device=V.device) % 2 == 1
        mask = odd.view(*([1] * mu), -1, *([1] * (D - mu - 1)), 1, 1)
        out.append(torch.where(mask, fine[:, mu], eye))
    return coarse.with_links(torch.stack(out, dim=1))


def algebra_gradient(links: Tensor, grad: Tensor, field: GaugeField) -> Tensor:
    """``dF/dw_a`` per link and generator from the autograd gradient ``G`` of F w.r.t. the
    links: the coordinates of ``-Pi(U G^dag)/2`` (:func:`lqcd_hmc.action.autograd_force`)."""
    return field.group.to_coords(_algebra_force(links, grad, field.group))


def _algebra_force(links: Tensor, grad: Tensor, group: Group) -> Tensor:
    return -0.5 * group.project_algebra(product(links, grad, adj_b=True))


@dataclass
class FPResult:
    """``action``: A_FP per configuration; ``derivative``: dA_FP/dw_a ``(B, D, *dims, n_gen)``;
    ``fine``: the minimising fields, coarsest first; ``gradient``: the largest algebra
    derivative of the functional at the minimum, per configuration; ``iterations`` and
    ``evaluations`` (of F and its gradient): per configuration; ``converged``: gradient <=
    tolerance for every configuration."""

    action: Tensor
    derivative: Tensor
    fine: list[GaugeField] = field(repr=False)
    gradient: Tensor
    iterations: Tensor
    evaluations: Tensor
    converged: bool


class FixedPoint:
    """Solver of the FP equation with ``levels`` finer lattices (module docstring)."""

    def __init__(
        self,
        blocking: Blocking | None = None,
        levels: int = 1,
        finest: Mapping[str, Any] | Action | None = None,
        tolerance: float = 1e-8,
        max_iterations: int = 5000,
        history: int = 50,
        rounding: float = 1e-12,
        kernels: str = "reference",
    ):
        if levels < 1:
            raise ValueError(f"the FP equation needs at least one finer level, got {levels}")
        if tolerance <= 0 or max_iterations < 1:
            raise ValueError("FP tolerance and max_iterations must be positive")
        if history < 1 or not rounding >= 0:
            raise ValueError(
                f"FP history must be >= 1 and rounding >= 0, got {history} and {rounding}"
            )
        self.blocking = blocking or Blocking()
        self.levels = int(levels)
        finest = finest or {"name": "symanzik", "beta": 1.0}
        self.finest = finest if isinstance(finest, Action) else build(finest)
        if self.finest.beta is None:
            raise ValueError("the finest-level action needs a coupling beta (A_0 = S/beta)")
        self.finest_beta: float = self.finest.beta
        self.tolerance, self.max_iterations = float(tolerance), int(max_iterations)
        self.history, self.rounding = int(history), float(rounding)
        self.kernels = check_kernels(kernels)
        self._split: dict[int, SplitDynamics] = {}  # per N
        if self.kernels != "reference":
            planar_terms(self.finest, 3)  # a one-line error for an action without planar loops

    def functional(self, levels: list[GaugeField], coarse: GaugeField) -> Tensor:
        """``A_0[U_L] + T[U_L, U_{L-1}] + ... + T[U_1, V]`` per configuration."""
        return self.finest(levels[-1]) / self.finest_beta + self._blocking_terms(levels, coarse)

    def _blocking_terms(self, levels: list[GaugeField], coarse: GaugeField) -> Tensor:
        """``T[U_L, U_{L-1}] + ... + T[U_1, V]`` per configuration."""
        T = self.blocking(levels[0], coarse)
        for fine, crs in zip(levels[1:], levels[:-1]):
            T = T + self.blocking(fine, crs)
        return T

    def _dynamics(self, N: int) -> SplitDynamics:
        if N not in self._split:
            self._split[N] = SplitDynamics([self.finest], N, compile=self.kernels == "compiled")
        return self._split[N]

    def _finest_split(self, links: Tensor, group: Group) -> tuple[Tensor, Tensor]:
        """``A_0/beta_0`` ``(B,)`` and its algebra force ``(B, D, *dims, N, N)`` by the split
        kernels, one configuration at a time (one compiled shape)."""
        dyn = self._dynamics(group.N)
        values, forces = [], []
        for b in range(links.shape[0]):
            value, force = dyn.action_and_force(0, to_split(links[b : b + 1]))
            values.append(value)
            forces.append(from_split(force))
        return torch.cat(values) / self.finest_beta, torch.cat(forces) / self.finest_beta

    def _split_move(self, group: Group) -> Move:
        """The minimiser's ``exp(i w_a T_a) U`` by the split kernels' link update, one
        configuration at a time."""
        dyn = self._dynamics(group.N)

        def move(w: Tensor, u: Tensor) -> Tensor:
            X = group.from_coords(w, u.dtype)
            return torch.cat(
                [
                    from_split(dyn.step(to_split(u[b : b + 1]), to_split(X[b : b + 1]), 1.0))
                    for b in range(u.shape[0])
                ]
            )

        return move

    def _evaluate(self, coarse: GaugeField) -> Evaluate:
        """F and its algebra gradients on the configurations ``index`` of the batch."""
        split = self.kernels != "reference"

        def evaluate(links: list[Tensor], index: Tensor) -> tuple[Tensor, list[Tensor]]:
            crs = (
                coarse if index.numel() == coarse.batch else coarse.with_links(coarse.links[index])
            )
            with torch.enable_grad():
                leaves = [u.detach().requires_grad_(True) for u in links]
                fields = [crs.with_links(u) for u in leaves]
                if split:
                    F = self._blocking_terms(fields, crs)
                else:
                    F = self.functional(fields, crs)
                grads = torch.autograd.grad(F.sum(), leaves)
            X = [_algebra_force(u.detach(), g, crs.group) for u, g in zip(leaves, grads)]
            if split:
                A0, X0 = self._finest_split(links[-1].detach(), crs.group)
                F, X[-1] = F + A0, X[-1] + X0
            return F.detach(), [crs.group.to_coords(x) for x in X]

        return evaluate

    def __call__(self, coarse: GaugeField, start: list[GaugeField] | None = None) -> FPResult:
        """Solve for a batch of coarse configurations, each on its own
        (:func:`~.lbfgs.minimise`); ``start`` (coarsest first) defaults to repeated
        :func:`unblock`."""
        if coarse.D != 4:
            raise ValueError(
                f"the FP equation A[V] = min(A[U] + T[U,V]) keeps beta fixed, which "
                f"is scale invariant only in D = 4 (got D = {coarse.D}: the "
                f"classical action of a smooth field scales by 2^(D-4) per level)"
            )
        if start is None:
            start, f = [], coarse
            for _ in range(self.levels):
                f = unblock(f)
                start.append(f)
        r = minimise(
            self._evaluate(coarse),
            [s.links for s in start],
            coarse.group,
            self.tolerance,
            self.max_iterations,
            self.history,
            rounding=self.rounding,
            move=None if self.kernels == "reference" else self._split_move(coarse.group),
        )
        fine = [coarse.with_links(u) for u in r.links]
        with torch.no_grad():
            value = self.functional(fine, coarse)
        derivative = self.derivative(fine[0], coarse)
        converged = bool((r.gradient <= self.tolerance).all())
        return FPResult(value, derivative, fine, r.gradient, r.iterations, r.evaluations, converged)

    def derivative(self, fine: GaugeField, coarse: GaugeField) -> Tensor:
        """``dT[U_1, V]/dw_a`` w.r.t. the coarse links, ``(B, D, *dims, n_gen)``."""
        with torch.enable_grad():
            V = coarse.links.detach().requires_grad_(True)
            T = self.blocking(fine.with_links(fine.links.detach()), coarse.with_links(V)).sum()
            (G,) = torch.autograd.grad(T, V)
        return algebra_gradient(V.detach(), G, coarse)

    def config(self) -> dict[str, Any]:
        """Every parameter, for the provenance of FP data."""
        return {
            "c": self.blocking.c,
            "kappa": self.blocking.kappa,
            "c_diagonal": self.blocking.c_diagonal,
            "levels": self.levels,
            "finest": self.finest.config(),
            "tolerance": self.tolerance,
            "max_iterations": self.max_iterations,
            "history": self.history,
            "rounding": self.rounding,
        }
