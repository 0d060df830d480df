"""The ``Action`` interface and the action registry (docs/architecture.md; normalisations in
docs/conventions.md, section 3).

An action maps a :class:`GaugeField` to one float64 number per configuration. The HMC force is
the Lie-algebra derivative ``F = i sum_a (dS/dw_a) T_a`` for ``U -> exp(i w_a T_a) U``; the
momentum equation is ``dP/dt = -F``.

From autograd: for real S, torch returns ``G = dS/dRe U + i dS/dIm U``, so
``dS/dw_a = Re Tr(G^dagger i T_a U) = Re Tr(i U G^dagger T_a)``. Writing
``Pi(M)`` for the traceless anti-Hermitian part of ``M = U G^dagger`` and ``Pi(M) = i m_a T_a``,
``Re Tr(i M T_a) = Tr(i Pi(M) T_a) = -m_a / 2``, hence ``F = -Pi(U G^dagger) / 2``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from .field import GaugeField
from .lattice import tensor_sum
from .paths import Sites
from .registry import build_registered, registered

ENTRY_POINT_GROUP = "lqcd_hmc.actions"


class Action:
    """Base class. Subclasses set ``name`` and implement ``density`` (or ``__call__``);
    ``force`` comes free."""

    name: ClassVar[str] = ""
    #: the density at x depends only on links U_mu(y) with max_mu |y_mu - x_mu| <= reach
    #: (None: not stated, or not local); the halo depth of a domain-decomposed action
    reach: int | None = None
    #: the coupling ``beta = 2N/g0^2`` (docs/conventions.md, section 3): the action is
    #: ``beta`` times a functional of the links alone, ``S[U; beta] = beta S[U; 1]``, and
    #: ``beta`` is the constructor parameter of that name. None: the action has no single
    #: coupling (a sum of actions, a fixed functional); the gradient flow then needs ``g0sq``
    #: and ``tune-beta`` refuses it.
    beta: float | None = None
    #: whether ``beta`` must be positive (a run refuses ``beta <= 0`` otherwise); an action
    #: for which a negative coupling means something sets this False
    positive_beta: ClassVar[bool] = True
    #: peak memory of one force evaluation beyond the link field, in units of the link field
    #: (``bench/memory.py``; the run's memory estimate, :mod:`lqcd_hmc.resources`); the
    #: default is the autograd force of the plaquette action
    working_memory: float = 12.0
    #: configurations per force pass (None: all the chains at once); the working memory
    #: scales with it
    max_batch: int | None = None

    def __call__(self, field: GaugeField) -> Tensor:
        """Action of each configuration, shape ``(B,)``, float64: the site sum of
        :meth:`density` unless a subclass computes it otherwise."""
        return self.density(field).flatten(1).sum(1)

    def density(self, field: GaugeField) -> Tensor:
        """Per-site contribution ``(B, *dims)`` whose site sum is the action (optional)."""
        raise NotImplementedError(f"action {self.name!r} provides no density")

    def force(self, field: GaugeField) -> Tensor:
        """HMC force ``F = -Pi(U G^dagger) / 2`` from autograd (see module docstring)."""
        return autograd_force(self, field)

    def time_scales(self) -> list[Action]:
        """The action as a sum of terms for the levels of a multiple-time-scale integrator
        (:mod:`lqcd_hmc.integrators`), the costliest and most slowly varying first; their sum
        is the action. An action that does not split is its own single term."""
        return [self]

    def staples(self, field: GaugeField, mu: int, sites: Sites | None = None) -> Tensor:
        """``A_mu(x)``, coefficients included, with ``S = const - sum_x Re Tr(U_mu(x) A_mu(x))``
        as a function of the links ``U_mu`` (only for actions linear in each link; used by the
        heatbath). Then the force is ``F_mu = Pi(U_mu A_mu)/2``. ``(B, *dims, N, N)``, or at
        ``sites`` only, ``(B, n, N, N)``."""
        raise NotImplementedError(
            f"action {self.name!r} is not linear in each link and "
            "provides no staples; the heatbath cannot update it"
        )

    def coupled_offsets(self, D: int, mu: int) -> set[tuple[int, ...]]:
        """Offsets ``y - x`` of the links ``U_mu(y)`` that share a term of the action with
        ``U_mu(x)`` (goes with :meth:`staples`; the heatbath colours the lattice by them)."""
        raise NotImplementedError(f"action {self.name!r} provides no link couplings")

    @property
    def has_staples(self) -> bool:
        return type(self).staples is not Action.staples

    def planar_loops(self, N: int) -> dict[tuple[int, int], float] | None:
        """Coefficients ``{(R, T): k_RT}`` (``beta/N`` included) when the action is
        ``sum_x sum_{mu<nu} sum_{(R,T)} k_RT [N - Re Tr W^{RT}_{mu nu}(x)]`` over planar loops of
        R links along mu and T along nu, which the split-layout kernels evaluate
        (:mod:`lqcd_hmc.kernels`); None for any other action."""
        return None

    def params(self) -> dict[str, Any]:
        """Parameters that rebuild the action with :func:`build`."""
        return {}

    def config(self) -> dict[str, Any]:
        """The parameter table ``{"name": ..., **params}`` that :func:`build` takes."""
        return {"name": self.name, **self.params()}

    def with_beta(self, beta: float) -> Action:
        """The same action at coupling ``beta`` (a ``ValueError`` for one without a coupling)."""
        if self.beta is None:
            raise ValueError(f"action {self.name!r} has no coupling beta")
        return build({**self.config(), "beta": float(beta)})

    def __add__(self, other: Action) -> SumAction:
        return SumAction([*_terms(self), *_terms(other)])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class SumAction(Action):
    """``S = sum_i S_i``; its terms can go on different time scales of the integrator."""

    name = "sum"

    def __init__(self, terms: list[Action]):
        if not terms:
            raise ValueError("a sum of actions needs at least one term")
        self.terms = list(terms)

    def __call__(self, field: GaugeField) -> Tensor:
        return tensor_sum(t(field) for t in self.terms)

    def density(self, field: GaugeField) -> Tensor:
        return tensor_sum(t.density(field) for t in self.terms)

    @property
    def reach(self) -> int | None:  # type: ignore[override]
        r = [t.reach for t in self.terms]
        return None if None in r else max(x for x in r if x is not None)

    def force(self, field: GaugeField) -> Tensor:
        return tensor_sum(t.force(field) for t in self.terms)

    def time_scales(self) -> list[Action]:
        """Its terms, in the order given."""
        return list(self.terms)

    def planar_loops(self, N: int) -> dict[tuple[int, int], float] | None:
        out: dict[tuple[int, int], float] = {}
        for t in self.terms:
            loops = t.planar_loops(N)
            if loops is None:
                return None
            for RT, k in loops.items():
                out[RT] = out.get(RT, 0.0) + k
        return out

    @property
    def has_staples(self) -> bool:
        return all(t.has_staples for t in self.terms)

    def staples(self, field: GaugeField, mu: int, sites: Sites | None = None) -> Tensor:
        if not self.has_staples:
            return Action.staples(self, field, mu)
        return tensor_sum(t.staples(field, mu, sites) for t in self.terms)

    def coupled_offsets(self, D: int, mu: int) -> set[tuple[int, ...]]:
        return set().union(*(t.coupled_offsets(D, mu) for t in self.terms))

    def params(self) -> dict[str, Any]:
        return {"terms": [t.config() for t in self.terms]}


def _terms(a: Action) -> list[Action]:
    return a.terms if isinstance(a, SumAction) else [a]


def autograd_force(action: Callable[[GaugeField], Tensor], field: GaugeField) -> Tensor:
    """The force of any differentiable action (an :class:`Action`, or any function of the
    field giving ``S`` per configuration), ``F = -Pi(U G^dagger)/2``, ``G = dS/dU*``-style
    gradient from ``torch.autograd``."""
    with torch.enable_grad():
        links = field.links.detach().requires_grad_(True)
        S = action(field.with_links(links)).sum()
        (G,) = torch.autograd.grad(S, links)
    return -0.5 * field.group.project_algebra(links.detach() @ G.mH)


def staple_force(action: Action, field: GaugeField) -> Tensor:
    """``F_mu = Pi(U_mu A_mu)/2`` from the staples of an action linear in each link."""
    UA = torch.stack(
        [field.links[:, mu] @ action.staples(field, mu) for mu in range(field.D)], dim=1
    )
    return 0.5 * field.group.project_algebra(UA)


# -- registry ---------------------------------------------------------------------------------
def available() -> dict[str, Any]:
    """Registered action names -> entry points (group ``lqcd_hmc.actions``)."""
    return registered(ENTRY_POINT_GROUP)


def build(config: Mapping[str, Any]) -> Action:
    """Build an action from ``{"name": ..., **parameters}``; ``{"name": "sum", "terms": [...]}``
    adds actions. Names come from entry points (:mod:`.registry`)."""
    if config.get("name") == "sum":
        extra = sorted(set(config) - {"name", "terms"})
        if extra:
            raise ValueError(
                f"bad parameters for action 'sum': {', '.join(extra)} (only 'terms'; set each "
                f"term's own parameters)"
            )
        return SumAction([build(t) for t in config.get("terms", [])])
    return build_registered(ENTRY_POINT_GROUP, "action", config)
