"""The update interface: one Markov-chain step for a batch of chains (docs/architecture.md).

HMC (:class:`~lqcd_hmc.hmc.HMC`), the heatbath with overrelaxation
(:class:`~lqcd_hmc.heatbath.Heatbath`) and any sequence of updates (:class:`Composition`)
implement one protocol, in the spirit of NetKet's samplers with swappable rules::

    field, stats = update.update(field, rng, metropolis=True)

``stats.record()`` holds the per-chain columns the runner stores in the ensemble's ``mc/`` table
(HMC: ``metropolis``, ``dH``, ``accepted``; the heatbath none) and ``stats.seconds`` the wall
time. ``metropolis=False`` accepts every proposal (molecular-dynamics thermalisation from a cold
or hot start); an update without an accept/reject step (``accept_step = False``) ignores it.

Updates are registered under the entry-point group ``lqcd_hmc.updates``, like actions, and built
from the ``[update]`` table of a run card by :func:`build`: ``algorithm`` is a registered name,
or names joined by ``+`` (applied in that order, e.g. ``"hmc+heatbath"``); each class takes its
parameters from the table through :meth:`Update.from_config`. A third-party package adds one
with ``[project.entry-points."lqcd_hmc.updates"] myupdate = "mypkg.mod:MyUpdate"``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar

import torch

from .action import Action
from .field import GaugeField
from .registry import registered
from .rng import ChainRNG

ENTRY_POINT_GROUP = "lqcd_hmc.updates"


@dataclass
class UpdateStats:
    """What one update reports: its wall time, and the ``mc/`` columns of :meth:`record`."""

    seconds: float

    def record(self) -> dict[str, Any]:
        """Columns for the ensemble's ``mc/`` table (tensors of shape ``(B,)`` or scalars)."""
        return {}


class Update(ABC):
    """Base class of an update. Subclasses set ``name`` and ``config_keys`` (the keys of a run
    card's ``[update]`` table they take) and implement :meth:`update`."""

    name: ClassVar[str] = ""
    config_keys: ClassVar[tuple[str, ...]] = ()
    #: whether the update has an accept/reject step that ``metropolis=False`` skips (then a
    #: run card's ``run.thermalisation_md`` applies to it)
    accept_step: ClassVar[bool] = False

    @abstractmethod
    def update(
        self, field: GaugeField, rng: ChainRNG, *, metropolis: bool = True
    ) -> tuple[GaugeField, UpdateStats]:
        """One update of every chain of ``field``, random numbers from ``rng``."""

    def prepare(self, dims: Sequence[int], device: torch.device | str = "cpu") -> None:  # noqa: B027
        """Check, before any work, that the update can run on this lattice (a ``ValueError``
        with one line otherwise); by default every lattice is fine."""

    def working_memory(self) -> float:
        """Peak memory of one update beyond the link field, in units of the link field
        (:mod:`lqcd_hmc.resources`); default: that of the force of the update's ``action``."""
        action = getattr(self, "action", None)
        return action.working_memory if isinstance(action, Action) else Action.working_memory

    @classmethod
    def from_config(cls, action: Action, config: Mapping[str, Any]) -> Update:
        """The update for ``action`` from an ``[update]`` table: by default the constructor
        called with the table's entries named in ``config_keys``."""
        return cls(action, **{k: config[k] for k in cls.config_keys if k in config})  # type: ignore[call-arg]


@dataclass
class CompositionStats(UpdateStats):
    """The stats of each part of a :class:`Composition`."""

    parts: list[UpdateStats] = dataclass_field(default_factory=list)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.parts:
            out.update(p.record())
        return out


class Composition(Update):
    """The updates applied one after the other (``algorithm = "hmc+heatbath"``)."""

    name = "composition"

    def __init__(self, updates: Sequence[Update]):
        if not updates:
            raise ValueError("a composition of updates needs at least one update")
        self.updates = list(updates)

    def update(
        self, field: GaugeField, rng: ChainRNG, *, metropolis: bool = True
    ) -> tuple[GaugeField, CompositionStats]:
        stats = CompositionStats(seconds=0.0)
        for u in self.updates:
            field, st = u.update(field, rng, metropolis=metropolis)
            stats.parts.append(st)
            stats.seconds += st.seconds
        return field, stats

    def working_memory(self) -> float:
        return max(u.working_memory() for u in self.updates)

    def prepare(self, dims: Sequence[int], device: torch.device | str = "cpu") -> None:
        for u in self.updates:
            u.prepare(dims, device)


# -- registry ---------------------------------------------------------------------------------
def available() -> dict[str, Any]:
    """Registered update names -> entry points (group ``lqcd_hmc.updates``)."""
    return registered(ENTRY_POINT_GROUP)


def update_classes(algorithm: str) -> list[type[Update]]:
    """The classes of ``algorithm`` (registered names joined by ``+``), in order; an unknown
    name is a one-line ``ValueError``."""
    registry = available()
    out = []
    for name in algorithm.split("+"):
        name = name.strip()
        if name not in registry:
            known = ", ".join(sorted(registry)) or "none (is the package installed?)"
            raise ValueError(
                f"unknown update {name!r}; registered: {known} (join names "
                f"with '+' to compose them)"
            )
        out.append(registry[name].load())
    return out


def build(algorithm: str, action: Action, config: Mapping[str, Any]) -> Update:
    """The update ``algorithm`` for ``action`` from an ``[update]`` table ``config``; several
    names joined by ``+`` give a :class:`Composition`."""
    parts = [cls.from_config(action, config) for cls in update_classes(algorithm)]
    return parts[0] if len(parts) == 1 else Composition(parts)
