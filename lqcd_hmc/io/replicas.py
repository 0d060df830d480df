"""Replica ensembles read as one: ``lqcd-hmc run`` with ``parallel.replicas = R`` writes
``<stem>.replica<r>.h5`` (seed + r) and the index ``<stem>.replicas.json`` listing them;
:class:`ReplicaSet` gives their tables with the chains of all replicas side by side, at the
trajectories every replica holds, so the Gamma method (chains as replicas) combines them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import replacing
from .errors import FormatError
from .hdf5 import Ensemble


def common_rows(tables: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Every table (columns indexed by their ``trajectory`` column) at the trajectories all of
    them hold."""
    common = reduce(np.intersect1d, [t["trajectory"] for t in tables])
    return [{k: v[np.isin(t["trajectory"], common)] for k, v in t.items()} for t in tables]


def index_path(output: str | os.PathLike) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.replicas.json")


def write_index(output: str | os.PathLike, files: Sequence[str], seeds: Sequence[int]) -> Path:
    """The replica index of the run whose card names ``output`` (atomic)."""
    path = index_path(output)
    with replacing(path) as tmp:
        tmp.write_text(
            json.dumps(
                {"format": "lqcd-hmc replicas", "files": list(files), "seeds": list(seeds)},
                indent=1,
            )
        )
    return path


def read_index(path: str | os.PathLike) -> list[Path]:
    """The replica files of an index (relative to the index's directory)."""
    try:
        spec = json.loads(Path(path).read_text())
        files = spec["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{path}: not a replica index: {exc}") from None
    return [Path(path).parent / Path(f).name for f in files]


class ReplicaSet:
    """Several ensembles of one card (replicas) with the reading interface of
    :class:`~lqcd_hmc.io.Ensemble` that ``analyze`` uses."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self.members = [Ensemble(p) for p in paths]
        self.path = " + ".join(str(p) for p in paths)
        first = self.members[0].attrs
        for m in self.members[1:]:
            for key in ("group", "dims", "thermalisation"):
                if np.any(np.asarray(m.attrs.get(key)) != np.asarray(first.get(key))):
                    raise FormatError(
                        f"{m.path}: {key} differs from {self.members[0].path}; "
                        f"not replicas of one run"
                    )
        self.attrs: dict[str, Any] = dict(first)

    def measurement_names(self) -> list[str]:
        names = [set(m.measurement_names()) for m in self.members[1:]]
        return [n for n in self.members[0].measurement_names() if all(n in s for s in names)]

    def schemas(self) -> dict[str, str]:
        """The first replica's (replicas share the card)."""
        return self.members[0].schemas()

    def table(self, group: str) -> dict[str, np.ndarray]:
        tables = [m.table(group) for m in self.members]
        if not all(tables):
            return {}
        tables = common_rows(tables)
        return {
            k: np.concatenate([t[k] for t in tables], axis=1) if v.ndim >= 2 else v
            for k, v in tables[0].items()
        }
