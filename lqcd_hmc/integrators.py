"""Symmetric symplectic integrators on the group manifold, with multiple time scales.

Molecular dynamics (docs/conventions.md, section 3): ``dU/dt = P U`` and
``dP/dt = -F(U)``. A scheme of k
stages alternates momentum and link steps ``P(p_0) U(u_0) P(p_1) ... U(u_{k-1}) P(p_k)``
(coefficients in units of the step size); the last momentum step of one step and the first of
the next are merged, so a scheme costs k force evaluations per step.

- ``leapfrog``: ``P(1/2) U(1) P(1/2)``, second order.
- ``omelyan2`` (2MN): ``P(l) U(1/2) P(1-2l) U(1/2) P(l)``, ``l = 0.1931833275037836``,
  Omelyan, Mryglod, Folk, Comput. Phys. Commun. 151 (2003) 272, eq. (31).
- ``omelyan4`` (4MN5FV): fourth order, five forces per step, same paper eq. (71);
  Takaishi and de Forcrand, Phys. Rev. E 73 (2006) 036706.

Multiple time scales (Sexton and Weingarten, Nucl. Phys. B 380 (1992) 665): the action is a sum
of terms, level 0 the outermost (cheap-to-skip, slowly varying) one; each link step of level l
is a full integration of level l+1 over that sub-interval, and the innermost level's link steps
are ``U -> exp(h P) U``. An integration of level l+1 ends with a force at the links the next
one starts from (level l only kicks the momenta in between), so that force is reused, not
evaluated again (:func:`forces_per_trajectory`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from .action import Action
from .groups import Group
from .kernels import Dynamics, check_kernels, make_dynamics


@dataclass(frozen=True)
class Scheme:
    name: str
    p: tuple[float, ...]
    u: tuple[float, ...]
    order: int

    def __post_init__(self) -> None:
        if (
            len(self.p) != len(self.u) + 1
            or abs(sum(self.p) - 1) > 1e-14
            or abs(sum(self.u) - 1) > 1e-14
            or self.p != self.p[::-1]
            or self.u != self.u[::-1]
        ):
            raise ValueError(f"scheme {self.name!r} is not a consistent symmetric splitting")

    @property
    def forces_per_step(self) -> int:
        return len(self.u)


_L2 = 0.1931833275037836
_TH, _RHO, _LAM, _MU = (
    0.08398315262876693,
    0.2539785108410595,
    0.6822365335719091,
    -0.03230286765269967,
)
_MID = 0.5 * (1 - 2 * (_LAM + _TH))

SCHEMES: dict[str, Scheme] = {
    "leapfrog": Scheme("leapfrog", (0.5, 0.5), (1.0,), 2),
    "omelyan2": Scheme("omelyan2", (_L2, 1 - 2 * _L2, _L2), (0.5, 0.5), 2),
    "omelyan4": Scheme(
        "omelyan4",
        (_TH, _LAM, _MID, _MID, _LAM, _TH),
        (_RHO, _MU, 1 - 2 * (_MU + _RHO), _MU, _RHO),
        4,
    ),
}
_ALIASES = {"lf": "leapfrog", "2mn": "omelyan2", "omelyan": "omelyan2", "4mn5fv": "omelyan4"}


def get_scheme(name: str | Scheme) -> Scheme:
    if isinstance(name, Scheme):
        return name
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in SCHEMES:
        raise ValueError(f"unknown integrator {name!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[key]


def forces_per_trajectory(levels: Sequence[tuple[str | Scheme, int]]) -> list[int]:
    """Force evaluations of each level in one trajectory, for levels ``(scheme, steps)``
    outermost first: level l is integrated ``c_l`` times (``c_0 = 1``, ``c_{l+1} = c_l n_l
    k_l``, once per link step of level l; k_l forces per step) and costs ``c_l n_l k_l + 1``:
    one force per step, the first of the trajectory, and none at the start of a later
    integration, whose links are those its predecessor ended on."""
    out, calls = [], 1
    for scheme, steps in levels:
        k = get_scheme(scheme).forces_per_step
        out.append(calls * steps * k + 1)
        calls *= steps * k
    return out


@dataclass(init=False)
class Level:
    """One time scale: an action term, its number of steps per enclosing step, its scheme
    (a :class:`Scheme` or its name)."""

    action: Action
    n_steps: int
    scheme: Scheme

    def __init__(self, action: Action, n_steps: int, scheme: str | Scheme):
        self.action, self.n_steps = action, n_steps
        self.scheme = get_scheme(scheme)
        if int(self.n_steps) < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        self.n_steps = int(self.n_steps)


class Integrator:
    """Nested symmetric integrator; ``levels[0]`` is the outermost time scale.

    ``kernels``: ``"reference"`` (complex fields, each action's ``force``), ``"split"`` or
    ``"compiled"`` (the real split layout of :mod:`lqcd_hmc.kernels`, eager or fused by
    ``torch.compile``; planar-loop actions only)."""

    def __init__(self, levels: Sequence[Level], kernels: str = "reference"):
        if not levels:
            raise ValueError("an integrator needs at least one level")
        self.levels = list(levels)
        self.kernels = check_kernels(kernels)
        self.force_evaluations = [0] * len(self.levels)
        self._dynamics: dict[str, Dynamics] = {}
        # per level, the links (and their version) of its last force, and that force
        self._last: list[tuple[Tensor, int, Tensor] | None] = [None] * len(self.levels)

    def dynamics(self, group: Group) -> Dynamics:
        """The force/update provider for this group (built once per group)."""
        if group.name not in self._dynamics:
            self._dynamics[group.name] = make_dynamics(
                [lv.action for lv in self.levels], group, self.kernels
            )
        return self._dynamics[group.name]

    def __call__(self, U: Tensor, P: Tensor, group: Group, tau: float) -> tuple[Tensor, Tensor]:
        """Integrate ``(U, P)`` over molecular-dynamics time ``tau`` (which may be negative)."""
        dyn = self.dynamics(group)
        try:
            U, P = self._integrate(0, dyn.to_layout(U), dyn.to_layout(P), dyn, tau)
        finally:
            self._last = [None] * len(self.levels)
        return dyn.from_layout(U), dyn.from_layout(P)

    def _integrate(
        self, l: int, U: Tensor, P: Tensor, dyn: Dynamics, tau: float
    ) -> tuple[Tensor, Tensor]:
        level = self.levels[l]
        h = tau / level.n_steps
        p, u = level.scheme.p, level.scheme.u
        pending = 0.0
        for _ in range(level.n_steps):
            for j, uj in enumerate(u):
                P = P - (p[j] + (pending if j == 0 else 0.0)) * h * self._force(l, U, dyn)
                U, P = self._links(l, U, P, dyn, uj * h)
            pending = p[-1]
        P = P - pending * h * self._force(l, U, dyn)
        return U, P

    def _links(
        self, l: int, U: Tensor, P: Tensor, dyn: Dynamics, h: float
    ) -> tuple[Tensor, Tensor]:
        if l + 1 < len(self.levels):
            return self._integrate(l + 1, U, P, dyn, h)
        return dyn.step(U, P, h), P

    def _force(self, l: int, U: Tensor, dyn: Dynamics) -> Tensor:
        """Level l's force at ``U``; the last one again when ``U`` is the very tensor it was
        evaluated at, unmodified."""
        last = self._last[l]
        if last is not None and last[0] is U and last[1] == U._version:
            return last[2]
        self.force_evaluations[l] += 1
        F = dyn.force(l, U)
        self._last[l] = (U, U._version, F)
        return F
