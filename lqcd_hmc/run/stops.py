"""Why a run stops early: an input or file problem (:class:`RunError`), Ctrl-C
(:class:`RunInterrupted`), or a non-finite number in what a trajectory produced
(:func:`non_finite`). Each says in one line what the ensemble keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class RunError(ValueError):
    """A run that cannot start or continue (one-line message)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says where the ensemble stands and how to go on
    (``command``: the command that continues it, set by the CLI)."""

    def __init__(self, path: Path, trajectory: int, command: str = "lqcd-hmc run CARD --resume"):
        super().__init__(path, trajectory)
        self.path, self.trajectory, self.command = path, trajectory, command

    def __str__(self) -> str:
        return (
            f"interrupted; {self.path} keeps its last checkpoint (trajectory "
            f"{self.trajectory}); continue with: {self.command}"
        )


def non_finite(record: dict[str, Any]) -> str | None:
    """The first column of an ``mc/`` record or a measurement with a NaN or infinite entry, as
    ``"dH of chain 1 is nan"`` (a non-finite link shows in the plaquette); None when all are
    finite. A NaN dH would otherwise be a silent rejection (``r < exp(-nan)`` is false)."""
    for name, value in record.items():
        a = np.asarray(value)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            if a.ndim == 0:
                return f"{name} is {a}"
            where = tuple(np.argwhere(~np.isfinite(a))[0])
            return f"{name} of chain {where[0]} is {a[where]}"
    return None
