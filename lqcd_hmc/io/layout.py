"""Writes into an open HDF5 file of the ensemble layout (docs/conventions.md, section 4):
what one commit holds (:class:`Pending`, :class:`Checkpoint`), appending rows to resizable
tables, and merging a segment into the main file. Every dataset written here is sealed with its
checksum and every measurement table records its schema (:mod:`.integrity`). :mod:`.hdf5`
decides which file a commit goes to and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .checksums import crc32_le
from .errors import FormatError
from .integrity import CRC, schema_difference, seal


@dataclass
class Checkpoint:
    """Everything the Markov chain needs to continue: links and per-chain RNG states after
    ``trajectory`` updates."""

    trajectory: int
    links: np.ndarray
    rng: np.ndarray


@dataclass
class Pending:
    """Data produced since the last commit."""

    configs: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    mc: list[dict[str, Any]] = field(default_factory=list)
    measurements: dict[str, list[tuple[int, dict[str, np.ndarray]]]] = field(default_factory=dict)
    schemas: dict[str, str] = field(default_factory=dict)
    replace: set[str] = field(default_factory=set)
    timing: list[dict[str, Any]] = field(default_factory=list)
    """Rows of ``/timing``: per checkpoint the updates ``first .. trajectory`` it commits, the
    wall ``seconds`` they took since the previous checkpoint (or the run's start) and the
    ``measure_seconds`` of them spent measuring."""

    def nbytes(self) -> int:
        """Bytes of the data held."""
        n = sum(links.nbytes for _, links, _ in self.configs)
        n += sum(np.asarray(v).nbytes for r in (*self.mc, *self.timing) for v in r.values())
        for rows in self.measurements.values():
            n += sum(np.asarray(v).nbytes for _, cols in rows for v in cols.values())
        return n

    def timed(self, first: int, trajectory: int, seconds: float, measure_seconds: float) -> None:
        """Add the ``/timing`` row of the checkpoint at ``trajectory``."""
        self.timing.append(
            {
                "first": np.int64(first),
                "trajectory": np.int64(trajectory),
                "seconds": np.float64(seconds),
                "measure_seconds": np.float64(measure_seconds),
            }
        )

    def clear(self) -> None:
        """Forget the rows (the schemas stay: they belong to the run)."""
        self.configs.clear()
        self.mc.clear()
        self.measurements.clear()
        self.replace.clear()
        self.timing.clear()


def checksums(links: np.ndarray) -> np.ndarray:
    return np.array([crc32_le(c) for c in links], dtype=np.uint32)


def create_sealed(group: h5py.Group, name: str, data: np.ndarray, **kwargs: Any) -> h5py.Dataset:
    ds = group.create_dataset(name, data=data, **kwargs)
    seal(ds)
    return ds


def append_rows(group: h5py.Group, name: str, rows: np.ndarray) -> None:
    """Append ``rows`` along axis 0 of a resizable dataset, creating it on first use, and seal
    it (a dataset of format version 1, which has no checksum, is not given one: its old rows
    were never verified)."""
    if name not in group:
        create_sealed(
            group,
            name,
            rows,
            maxshape=(None, *rows.shape[1:]),
            chunks=(max(1, min(len(rows), 256)), *rows.shape[1:]),
        )
        return
    ds = group[name]
    if ds.shape[1:] != rows.shape[1:]:
        raise FormatError(
            f"{group.file.filename}: {group.name}/{name} has rows of shape "
            f"{ds.shape[1:]}, new rows {rows.shape[1:]}"
        )
    n = ds.shape[0]
    ds.resize(n + len(rows), axis=0)
    ds[n:] = rows
    if CRC in ds.attrs:
        seal(ds)


def measurement_group(parent: h5py.Group, name: str, schema: str | None) -> h5py.Group:
    """The group of table ``name``, created with ``schema``; rows of another schema are refused
    with the first parameter that differs."""
    if name not in parent:
        g = parent.create_group(name)
        if schema is not None:
            g.attrs["schema"] = schema
        return g
    g = parent[name]
    stored = g.attrs.get("schema")
    if stored is not None and schema is not None:
        diff = schema_difference(str(stored), schema)
        if diff:
            raise FormatError(
                f"{parent.file.filename}: measurements/{name} was measured with other "
                f"parameters: {diff}"
            )
    return g


def write_checkpoint(f: h5py.File, cp: Checkpoint) -> None:
    if "checkpoint" in f:
        del f["checkpoint"]
    g = f.create_group("checkpoint")
    create_sealed(g, "links", cp.links)
    create_sealed(g, "checksum", checksums(cp.links))
    create_sealed(g, "rng", cp.rng)
    g.attrs["trajectory"] = cp.trajectory


def write_pending(f: h5py.File, pending: Pending, checkpoint: Checkpoint | None) -> None:
    """Write ``pending`` (and the checkpoint) into an open file of the ensemble layout."""
    for name in ("configs", "mc", "measurements"):
        f.require_group(name)
    for traj, links, plaq in pending.configs:
        ds = create_sealed(f["configs"], f"{traj:08d}", links)
        ds.attrs.update({"trajectory": traj, "plaquette": plaq, "checksum": checksums(links)})
    for name, table in (("mc", pending.mc), ("timing", pending.timing)):
        for key in table[0] if table else ():
            append_rows(f.require_group(name), key, np.stack([np.asarray(r[key]) for r in table]))
    for name in pending.replace:
        if name in f["measurements"]:
            del f["measurements"][name]
    for name, rows in pending.measurements.items():
        g = measurement_group(f["measurements"], name, pending.schemas.get(name))
        append_rows(g, "trajectory", np.array([t for t, _ in rows], dtype=np.int64))
        for col in rows[0][1]:
            append_rows(g, col, np.stack([np.asarray(v[col]) for _, v in rows]))
    if checkpoint is not None:
        write_checkpoint(f, checkpoint)


def merge_segment(dst: h5py.File, src: h5py.File) -> None:
    """Append a segment's configurations, tables and checkpoint to ``dst``."""
    for key in src["configs"]:
        src.copy(src["configs"][key], dst["configs"], key)
    for name in ("mc", "timing"):
        for key, ds in src[name].items() if name in src else ():
            append_rows(dst.require_group(name), key, ds[()])
    for name, g in src["measurements"].items():
        schema = g.attrs.get("schema")
        dg = measurement_group(dst["measurements"], name, None if schema is None else str(schema))
        for col, ds in g.items():
            append_rows(dg, col, ds[()])
    if "checkpoint" in src:
        if "checkpoint" in dst:
            del dst["checkpoint"]
        src.copy(src["checkpoint"], dst, "checkpoint")
    dst.attrs.update({k: v for k, v in src.attrs.items() if k not in ("format", "first", "last")})
