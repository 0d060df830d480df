"""Plug-in registries through entry points: a third-party package registers an action
(group ``lqcd_hmc.actions``) or a measurement (group ``lqcd_hmc.measurements``) in its own
``pyproject.toml`` and it becomes usable from run cards, without touching this package."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any


def registered(group: str) -> dict[str, EntryPoint]:
    """Registered names -> entry points of ``group``."""
    return {ep.name: ep for ep in entry_points(group=group)}


def build_registered(group: str, kind: str, config: Mapping[str, Any]) -> Any:
    """Instantiate ``{"name": ..., **parameters}`` from ``group``; unknown names and bad
    parameters are one-line ``ValueError``s."""
    config = dict(config)
    name = config.pop("name", None)
    if name is None:
        raise ValueError(f"{kind} config needs a 'name'")
    registry = registered(group)
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none (is the package installed?)"
        raise ValueError(f"unknown {kind} {name!r}; registered: {known}")
    cls = registry[name].load()
    try:
        return cls(**config)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {kind} {name!r}: {exc}") from None
