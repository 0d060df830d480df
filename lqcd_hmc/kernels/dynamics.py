"""Molecular dynamics on split-layout fields (:mod:`.split`): forces of planar-loop actions
and the link update ``U -> exp(h P) U``, eager or compiled with ``torch.compile``.

The reference path (:class:`ReferenceDynamics`: complex tensors, each action's own ``force``)
stays the definition; :class:`SplitDynamics` computes the same numbers (tests: 1e-12 in
complex128) in a layout Inductor can fuse. Wilson and the plaquette-and-rectangle actions
(tree-level Symanzik, Iwasaki, DBW2) use closed-form forces from the staples of one plane at a
time, one compiled kernel for every plane (:func:`.planar.plane_force`); other planar-loop
actions differentiate :func:`.planar.loop_action` with autograd (compiled forward and
backward).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..action import Action
from ..field import GaugeField
from ..groups import Group
from .planar import (
    Loops,
    gradient_force,
    loop_action,
    plane_action_force,
    plane_force,
    plane_plaquette_loops,
    plane_plaquette_staples,
    plane_rectangle_loops,
    plane_rectangle_staples,
    staple_force,
)
from .split import exp_algebra, from_split, mul, to_split

KERNELS = ("reference", "split", "compiled")
_COMPILED: dict[Callable, Callable] = {}


def check_kernels(kernels: str) -> str:
    if kernels not in KERNELS:
        raise ValueError(f"unknown kernels {kernels!r}; choose one of {', '.join(KERNELS)}")
    return kernels


CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def compile_cache() -> Path:
    """The folder where compiled kernels persist between processes: ``$TORCHINDUCTOR_CACHE_DIR``
    if set, else ``$XDG_CACHE_HOME/lqcd-hmc/inductor`` (``~/.cache/lqcd-hmc/inductor``; torch's
    own default, ``/tmp/torchinductor_<user>``, does not survive a reboot). Inductor's FX-graph
    and AOTAutograd caches live there, so a second process compiles nothing new for a shape and
    dtype seen before (``python -m bench.compile_cache``). Deleting the folder clears it. Where
    that folder cannot be created (no writable home), torch's default stays."""
    if CACHE_ENV not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "lqcd-hmc", "inductor")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            from torch._inductor.runtime.cache_dir_utils import default_cache_dir

            return Path(default_cache_dir())
        os.environ[CACHE_ENV] = path
    return Path(os.environ[CACHE_ENV])


def compiled(fn: Callable) -> Callable:
    """``torch.compile(fn, dynamic=False, fullgraph=True)``, one per function per process,
    cached on disk in :func:`compile_cache`. Static shapes: each lattice shape, batch size and
    dtype compiles once (a run has one), because with symbolic sizes every periodic shift costs
    integer divisions per element (measured: 16^4 Wilson force no faster than the reference
    with dynamic shapes)."""
    compile_cache()
    if fn not in _COMPILED:
        # dynamo's default of 8 compilations per function would silently fall back to eager
        # after 8 shapes and dtypes (a benchmark over volumes and batches passes that)
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _COMPILED[fn] = torch.compile(fn, dynamic=False, fullgraph=True)
    return _COMPILED[fn]


def planar_terms(action: Action, N: int) -> tuple[Loops, list[float]]:
    """The action's planar loops and coefficients, or a one-line error naming the action."""
    loops = action.planar_loops(N)
    if not loops:
        raise ValueError(
            f"action {action.name!r} is not a sum of planar loops; the split and "
            "compiled kernels cover wilson and the Lüscher-Weisz family without "
            "parallelograms (use kernels = 'reference')"
        )
    return tuple(loops), list(loops.values())


def _link_step(U: Tensor, P: Tensor, h: float) -> Tensor:
    return mul(exp_algebra(h * P), U)


def _planar_gradient_force(
    U: Tensor, loops: Loops, k: Tensor, action: Callable, project: Callable
) -> Tensor:
    with torch.enable_grad():
        V = U.detach().requires_grad_(True)
        (G,) = torch.autograd.grad(action(V, loops, k).sum(), V)
    return project(V.detach(), G)


RECTANGLES: Loops = ((1, 1), (2, 1), (1, 2))  # of :func:`.planar.plane_rectangle_staples`


def _closed_form(loops: Loops, k: list[float]) -> tuple[str, Loops, list[float]]:
    """The force a level's loops take: ``wilson``, ``rectangles`` (coefficients in the order
    of :data:`RECTANGLES`, 0 for a missing loop) or ``loops`` (autograd)."""
    if loops == ((1, 1),):
        return "wilson", loops, k
    if set(loops) <= set(RECTANGLES):
        kk = dict(zip(loops, k))
        return "rectangles", RECTANGLES, [kk.get(RT, 0.0) for RT in RECTANGLES]
    return "loops", loops, k


class SplitDynamics:
    """Force per integrator level and link update on split fields ``(2, N, N, B, D, *dims)``."""

    def __init__(self, actions: Sequence[Action], N: int, compile: bool):
        self.terms = [_closed_form(*planar_terms(a, N)) for a in actions]
        self._k: dict[tuple[int, torch.device], Tensor] = {}
        wrap = compiled if compile else (lambda f: f)
        self._plaquettes, self._rectangles = (
            wrap(plane_plaquette_staples),
            wrap(plane_rectangle_staples),
        )
        self._plaquette_loops, self._rectangle_loops = (
            wrap(plane_plaquette_loops),
            wrap(plane_rectangle_loops),
        )
        self._finish = wrap(staple_force)
        self._action = wrap(loop_action)
        self._project, self._step = wrap(gradient_force), wrap(_link_step)

    to_layout = staticmethod(to_split)
    from_layout = staticmethod(from_split)

    def force(self, level: int, U: Tensor) -> Tensor:
        kind, loops, k = self.terms[level]
        kt = self._coefficients(level, k, U.device)
        if kind == "wilson":
            return plane_force(U, kt, self._plaquettes, self._finish)
        if kind == "rectangles":
            return plane_force(U, kt, self._rectangles, self._finish)
        return _planar_gradient_force(U, loops, kt, self._action, self._project)

    def action_and_force(self, level: int, U: Tensor) -> tuple[Tensor, Tensor]:
        """The level's action per configuration, ``(B,)`` float64, and its force: for the
        closed forms the loop traces come with the staples (:func:`.planar.plane_action_force`),
        otherwise :func:`.planar.loop_action` and its gradient."""
        kind, loops, k = self.terms[level]
        kt = self._coefficients(level, k, U.device)
        if kind == "loops":
            return self._action(U, loops, kt), self.force(level, U)
        if kind == "wilson":
            return plane_action_force(U, kt, self._plaquette_loops, self._finish)
        return plane_action_force(U, kt, self._rectangle_loops, self._finish)

    def _coefficients(self, level: int, k: list[float], device: torch.device) -> Tensor:
        kt = self._k.get((level, device))
        if kt is None:
            kt = self._k[(level, device)] = torch.tensor(k, dtype=torch.float64, device=device)
        return kt

    def step(self, U: Tensor, P: Tensor, h: float) -> Tensor:
        return self._step(U, P, h)

    @staticmethod
    def max_abs_difference(A: Tensor, B: Tensor) -> Tensor:
        """``max |A_ij - B_ij|`` (complex modulus) over the whole field."""
        d = A - B
        return torch.sqrt(d[0] ** 2 + d[1] ** 2).amax()


class ReferenceDynamics:
    """Force and link update on complex fields: each action's own ``force`` and
    ``U -> group.exp(h P) U`` (the definition the fast kernels are tested against)."""

    def __init__(self, actions: Sequence[Action], group: Group):
        self.actions, self.group = list(actions), group

    @staticmethod
    def to_layout(M: Tensor) -> Tensor:
        return M

    from_layout = to_layout

    def force(self, level: int, U: Tensor) -> Tensor:
        return self.actions[level].force(GaugeField(U, self.group))

    def step(self, U: Tensor, P: Tensor, h: float) -> Tensor:
        return self.group.exp(h * P) @ U

    @staticmethod
    def max_abs_difference(A: Tensor, B: Tensor) -> Tensor:
        """``max |A_ij - B_ij|`` over the whole field."""
        return (A - B).abs().amax()


Dynamics = ReferenceDynamics | SplitDynamics


def make_dynamics(actions: Sequence[Action], group: Group, kernels: str) -> Dynamics:
    """The force/update provider of ``kernels`` for one action per integrator level."""
    if check_kernels(kernels) == "reference":
        return ReferenceDynamics(actions, group)
    return SplitDynamics(actions, group.N, compile=kernels == "compiled")
