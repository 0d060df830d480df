"""The native ensemble file: one HDF5 file per ensemble (DESIGN.md section 5).

Layout::

    /                      attrs: format, format_version, package_version, git_revision, created,
                                  card (resolved TOML), group, dims, batch, dtype
    /configs/<trajectory>  links (B, D, *dims, N, N); attrs plaquette (B,), checksum (B,) crc32
    /mc/                   trajectory (n,), metropolis (n,), seconds (n,), dH, accepted,
                           plaquette (n, B)
    /measurements/<name>/  trajectory (n,), one dataset (n, B, ...) per column
    /checkpoint/           links, checksum, rng (B, state bytes); attrs trajectory

Every change is a commit: copy the file, append to the copy, fsync, rename it over the original
(:mod:`.atomic`), so a run killed at any moment leaves the last committed file intact. The cost
of a commit is one file copy; see ``bench/io_commit.py``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import h5py
import numpy as np

from .atomic import replacing
from .checksums import chain_crc32
from .errors import FormatError

FORMAT = "lqcd-hmc ensemble"
FORMAT_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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
    replace: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.configs.clear()
        self.mc.clear()
        self.measurements.clear()
        self.replace.clear()


def is_hdf5(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == HDF5_SIGNATURE


def _checksums(links: np.ndarray) -> np.ndarray:
    return np.array([chain_crc32(c) for c in links], dtype=np.uint32)


def _append(group: h5py.Group, name: str, rows: np.ndarray) -> None:
    """Append ``rows`` along axis 0 of a resizable dataset, creating it on first use."""
    if name not in group:
        group.create_dataset(name, data=rows, maxshape=(None, *rows.shape[1:]),
                             chunks=(max(1, min(len(rows), 256)), *rows.shape[1:]))
        return
    ds = group[name]
    if ds.shape[1:] != rows.shape[1:]:
        raise FormatError(f"{group.file.filename}: {group.name}/{name} has rows of shape "
                          f"{ds.shape[1:]}, new rows {rows.shape[1:]}")
    n = ds.shape[0]
    ds.resize(n + len(rows), axis=0)
    ds[n:] = rows


def _write_checkpoint(f: h5py.File, cp: Checkpoint) -> None:
    if "checkpoint" in f:
        del f["checkpoint"]
    g = f.create_group("checkpoint")
    g.create_dataset("links", data=cp.links)
    g.create_dataset("checksum", data=_checksums(cp.links))
    g.create_dataset("rng", data=cp.rng)
    g.attrs["trajectory"] = cp.trajectory


def _apply(f: h5py.File, pending: Pending, checkpoint: Checkpoint | None) -> None:
    for traj, links, plaq in pending.configs:
        ds = f["configs"].create_dataset(f"{traj:08d}", data=links)
        ds.attrs.update({"trajectory": traj, "plaquette": plaq, "checksum": _checksums(links)})
    if pending.mc:
        for key in pending.mc[0]:
            _append(f["mc"], key, np.stack([np.asarray(r[key]) for r in pending.mc]))
    for name in pending.replace:
        if name in f["measurements"]:
            del f["measurements"][name]
    for name, rows in pending.measurements.items():
        g = f["measurements"].require_group(name)
        _append(g, "trajectory", np.array([t for t, _ in rows], dtype=np.int64))
        for col in rows[0][1]:
            _append(g, col, np.stack([np.asarray(v[col]) for _, v in rows]))
    if checkpoint is not None:
        _write_checkpoint(f, checkpoint)


class Ensemble:
    """An ensemble file on disk. Reads open and close the file each time; writes are commits."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.attrs = self._read(lambda f: dict(f.attrs))
        if self.attrs.get("format") != FORMAT:
            raise FormatError(f"{self.path}: HDF5 file is not an lqcd-hmc ensemble")
        if int(self.attrs.get("format_version", 0)) > FORMAT_VERSION:
            raise FormatError(f"{self.path}: ensemble format version "
                              f"{self.attrs['format_version']} is newer than this package's "
                              f"{FORMAT_VERSION}")

    def _read(self, fn):
        try:
            with h5py.File(self.path, "r") as f:
                return fn(f)
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{self.path}: unreadable HDF5 ensemble (truncated or corrupted: "
                              f"{str(exc).splitlines()[0]})") from None

    # -- creation and commits -----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, attrs: Mapping[str, Any],
               pending: Pending | None = None, checkpoint: Checkpoint | None = None
               ) -> "Ensemble":
        """Create a new ensemble file atomically (never over an existing one)."""
        path = Path(path)
        if path.exists():
            raise FormatError(f"{path}: exists already")
        with replacing(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, **attrs})
                for name in ("configs", "mc", "measurements"):
                    f.create_group(name)
                _apply(f, pending or Pending(), checkpoint)
        if pending is not None:
            pending.clear()
        return cls(path)

    def commit(self, pending: Pending, checkpoint: Checkpoint | None = None,
               attrs: Mapping[str, Any] | None = None) -> None:
        """Append ``pending`` (and replace the checkpoint and root attributes) in one atomic
        step; ``pending`` is cleared afterwards."""
        with replacing(self.path, copy_existing=True) as tmp:
            with h5py.File(tmp, "a") as f:
                _apply(f, pending, checkpoint)
                if attrs:
                    f.attrs.update(attrs)
        self.attrs = self._read(lambda f: dict(f.attrs))
        pending.clear()

    # -- reading ------------------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        def load(f: h5py.File) -> Checkpoint:
            if "checkpoint" not in f:
                raise FormatError(f"{self.path}: ensemble has no checkpoint to resume from")
            g = f["checkpoint"]
            cp = Checkpoint(int(g.attrs["trajectory"]), g["links"][()], g["rng"][()])
            if not np.array_equal(_checksums(cp.links), g["checksum"][()]):
                raise FormatError(f"{self.path}: checkpoint links fail their checksum")
            return cp
        return self._read(load)

    def trajectories(self) -> list[int]:
        """Trajectory numbers of the stored configurations, ascending."""
        return self._read(lambda f: sorted(int(k) for k in f["configs"]))

    def config(self, trajectory: int, verify: bool = True) -> tuple[np.ndarray, dict]:
        """Links ``(B, D, *dims, N, N)`` of one stored configuration and its attributes;
        the per-chain checksums are verified."""
        def load(f: h5py.File):
            key = f"{int(trajectory):08d}"
            if key not in f["configs"]:
                raise FormatError(f"{self.path}: no configuration at trajectory {trajectory}")
            ds = f["configs"][key]
            return ds[()], dict(ds.attrs)
        links, attrs = self._read(load)
        if verify and not np.array_equal(_checksums(links), attrs["checksum"]):
            raise FormatError(f"{self.path}: configuration {trajectory} fails its checksum")
        return links, attrs

    def table(self, group: str) -> dict[str, np.ndarray]:
        """All datasets of ``mc`` or ``measurements/<name>`` as arrays."""
        def load(f: h5py.File):
            if group not in f:
                return {}
            return {k: v[()] for k, v in f[group].items()}
        return self._read(load)

    def measurement_names(self) -> list[str]:
        return self._read(lambda f: sorted(f["measurements"]))


def write_single(path: str | os.PathLike, links: np.ndarray, group: str, trajectory: int,
                 plaquette: np.ndarray, attrs: Mapping[str, Any]) -> None:
    """An ensemble file holding one configuration (``convert`` from an exchange format)."""
    from .. import __version__

    Ensemble.create(path, {"package_version": __version__, "group": group,
                           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "dims": list(links.shape[2:-2]), "batch": links.shape[0],
                           "dtype": str(links.dtype), "card": "", **attrs},
                    pending=Pending(configs=[(trajectory, links, plaquette)]))


def iter_configs(ens: Ensemble, trajectories: Iterable[int] | None = None):
    """``(trajectory, links)`` for the stored configurations, in order."""
    for t in ens.trajectories() if trajectories is None else trajectories:
        yield t, ens.config(t)[0]
