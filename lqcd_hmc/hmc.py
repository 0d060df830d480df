"""Hybrid Monte Carlo (Duane, Kennedy, Pendleton, Roweth, Phys. Lett. B 195 (1987) 216).

Momenta ``P = i p_a T_a`` with ``p_a ~ N(0, 1)`` per link, ``H = -sum Tr P^2 + S = sum p^2/2 + S``
(float64 per chain), molecular dynamics by :class:`Integrator`, then a Metropolis test per chain
``accept if r < exp(-dH)``, taken on the device with ``torch.where`` (no host sync, no Python loop
over chains).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .action import Action, SumAction
from .field import GaugeField
from .integrators import Integrator, Level
from .rng import ChainRNG
from .update import Update, UpdateStats


@dataclass
class TrajectoryStats(UpdateStats):
    """Per-chain results of one trajectory (tensors of shape ``(B,)``)."""

    dH: Tensor
    accepted: Tensor
    metropolis: bool = True

    @property
    def exp_minus_dH(self) -> Tensor:
        return torch.exp(-self.dH)

    def record(self) -> dict[str, Any]:
        return {"metropolis": self.metropolis, "dH": self.dH, "accepted": self.accepted}


def split_levels(action: Action, levels: Sequence[Mapping[str, Any]]) -> list[Level]:
    """The integrator levels of a card's ``levels`` tables: level l integrates the l-th term
    of ``action.time_scales()`` (one level: the whole action)."""
    terms = action.time_scales() if len(levels) > 1 else [action]
    if len(terms) != len(levels):
        raise ValueError(
            f"update.levels has {len(levels)} levels, but action {action.name!r} splits into "
            f"{len(terms)} time scale{'s' if len(terms) > 1 else ''}"
        )
    return [
        Level(t, int(lv["steps"]), str(lv.get("integrator", "omelyan2")))
        for t, lv in zip(terms, levels)
    ]


def kinetic_energy(P: Tensor) -> Tensor:
    """``-sum Tr P^2 = sum |P_ij|^2`` per chain, float64 (P anti-Hermitian)."""
    return (P.real.double() ** 2 + P.imag.double() ** 2).flatten(1).sum(1)


class HMC(Update):
    """HMC update for a batch of chains (:class:`~lqcd_hmc.update.Update` ``"hmc"``).

    Either ``HMC(action, integrator="omelyan2", n_steps=10, tau=1.0)`` or, for multiple time
    scales, ``HMC(levels=[Level(slow, 4, "omelyan2"), Level(fast, 3, "omelyan2")], tau=1.0)``
    where the action is the sum of the levels' actions. ``kernels`` picks the molecular
    dynamics' arithmetic (:class:`~lqcd_hmc.integrators.Integrator`); the Hamiltonian of the
    Metropolis test is always the action's own (reference) value. In a run card's ``[update]``
    table: ``integrator``, ``steps``, ``tau``, ``reunitarize``, ``kernels``, or for multiple
    time scales ``levels = [{integrator, steps}, ...]`` in place of ``integrator`` and
    ``steps``, one per term of ``action.time_scales()`` (outermost first).
    """

    name = "hmc"
    accept_step = True
    config_keys = ("integrator", "steps", "tau", "reunitarize", "kernels", "levels")

    def __init__(
        self,
        action: Action | None = None,
        *,
        integrator: str = "omelyan2",
        n_steps: int = 10,
        tau: float = 1.0,
        levels: Sequence[Level] | None = None,
        reunitarize: bool = True,
        kernels: str = "reference",
    ):
        if levels is None:
            if action is None:
                raise ValueError("HMC needs an action or a list of levels")
            levels = [Level(action, n_steps, integrator)]
        elif action is None:
            action = (
                levels[0].action if len(levels) == 1 else SumAction([lv.action for lv in levels])
            )
        if tau <= 0:
            raise ValueError(f"trajectory length tau must be > 0, got {tau}")
        self.action = action
        self.integrator = Integrator(levels, kernels)
        self.tau = float(tau)
        self.reunitarize = reunitarize
        self._last: tuple[weakref.ref[Tensor], int, Tensor] | None = None

    @classmethod
    def from_config(cls, action: Action, config: Mapping[str, Any]) -> HMC:
        c = {k: config[k] for k in cls.config_keys if config.get(k) is not None}
        if "steps" in c:
            c["n_steps"] = c.pop("steps")
        if "levels" in c:  # the card has no integrator or steps then (UpdateCard)
            c["levels"] = split_levels(action, c["levels"])
        return cls(action, **c)

    def momenta(self, field: GaugeField, rng: ChainRNG) -> Tensor:
        """Gaussian momenta ``P = i p_a T_a``, chain b from generator b."""
        p = rng.normal((field.D, *field.dims, field.group.n_generators))
        return field.group.from_coords(p, field.dtype)

    def kinetic(self, P: Tensor) -> Tensor:
        """``sum p^2/2`` per chain (:func:`kinetic_energy`)."""
        return kinetic_energy(P)

    def hamiltonian(self, field: GaugeField, P: Tensor) -> Tensor:
        return self.kinetic(P) + self.action(field)

    def _cached_action(self, field: GaugeField) -> Tensor:
        """``S`` of ``field``: the value the last trajectory computed for the field it returned
        (each chain's action of its accepted or kept links, the same numbers), when ``field``
        holds that very tensor unmodified; otherwise evaluated. Saves one of the two action
        evaluations per trajectory."""
        last = self._last
        if last is not None and last[0]() is field.links and last[1] == field.links._version:
            return last[2]
        return self.action(field)

    def molecular_dynamics(
        self, field: GaugeField, P: Tensor, tau: float | None = None
    ) -> tuple[GaugeField, Tensor]:
        """Integrate the equations of motion over ``tau`` (default: the trajectory length)."""
        U, P = self.integrator(field.links, P, field.group, self.tau if tau is None else tau)
        return field.with_links(U), P

    def update(
        self, field: GaugeField, rng: ChainRNG, *, metropolis: bool = True
    ) -> tuple[GaugeField, TrajectoryStats]:
        """One trajectory (:meth:`trajectory`), the update interface."""
        return self.trajectory(field, rng, metropolis)

    def trajectory(
        self, field: GaugeField, rng: ChainRNG, metropolis: bool = True
    ) -> tuple[GaugeField, TrajectoryStats]:
        """One HMC trajectory with a Metropolis test per chain. ``metropolis=False`` accepts
        every trajectory (molecular-dynamics thermalisation from a cold or hot start, where
        ``dH`` grows with the volume and HMC would reject everything); the random number
        is drawn either way, so the chain's stream does not depend on the choice."""
        t0 = time.perf_counter()
        P = self.momenta(field, rng)
        S0 = self._cached_action(field)
        H0 = self.kinetic(P) + S0
        new, P = self.molecular_dynamics(field, P)
        if self.reunitarize:
            new = new.reunitarize()
        S1 = self.action(new)
        dH = self.kinetic(P) + S1 - H0
        r = rng.uniform()
        accepted = r < torch.exp(-dH) if metropolis else torch.ones_like(r, dtype=torch.bool)
        mask = accepted.view(-1, *([1] * (field.links.dim() - 1)))
        out = field.with_links(torch.where(mask, new.links, field.links))
        self._last = (weakref.ref(out.links), out.links._version, torch.where(accepted, S1, S0))
        if field.device.type == "cuda":
            torch.cuda.synchronize(field.device)
        return out, TrajectoryStats(
            seconds=time.perf_counter() - t0, dH=dH, accepted=accepted, metropolis=metropolis
        )
