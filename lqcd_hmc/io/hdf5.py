"""The native ensemble file: one HDF5 file per ensemble (docs/conventions.md, section 4).

Layout::

    /                      attrs: format, format_version, package_version, git_revision, created,
                                  card (resolved TOML), card_crc32, group, dims, batch, dtype,
                                  device, rng_streams
    /configs/<trajectory>  links (B, D, *dims, N, N); attrs plaquette (B,), checksum (B,) crc32
    /mc/                   trajectory (n,), metropolis (n,), seconds (n,), dH, accepted,
                           plaquette (n, B)
    /measurements/<name>/  trajectory (n,), one dataset (n, B, ...) per column; attrs schema
    /checkpoint/           links, checksum, rng (B, state bytes); attrs trajectory

and every dataset has ``attrs["crc32"]`` (:mod:`.integrity`; format version 2). Reading a
configuration, a table or the checkpoint verifies the checksums of what is read;
:meth:`Ensemble.verify` verifies everything.

Crash safety. No file is ever modified in place. While a run is going, each checkpoint writes
one *segment*: a small HDF5 file ``<file>.segments/<first>-<last>.h5`` with the same layout,
holding what trajectories first..last produced and the checkpoint after ``last``; it is written
to a temporary name, fsynced and renamed (:mod:`.atomic`), so it exists completely or not at all,
and its cost is that of the new data. When the run ends, :meth:`Ensemble.pack` merges the segments
into the main file by one copy-on-write commit and removes them. Readers see the main file plus
its segments, so an ensemble killed mid-run is complete up to its last segment; segments already
contained in the main file (a pack killed before it removed them) are recognised by their
trajectory range and ignored.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import replacing, require_space, temporary_sibling
from .errors import FormatError
from .integrity import Integrity, seal_card, verify_dataset, verify_file
from .layout import (
    Checkpoint,
    Pending,
    checksums,
    merge_segment,
    write_pending,
)

FORMAT = "lqcd-hmc ensemble"
SEGMENT_FORMAT = "lqcd-hmc ensemble segment"
FORMAT_VERSION = 2
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == HDF5_SIGNATURE


class Ensemble:
    """An ensemble on disk: the main file and its segments (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.segment_dir = self.path.with_name(self.path.name + ".segments")
        self._load()

    def _load(self) -> None:
        main = self._open(self.path, lambda f: dict(f.attrs))
        if main.get("format") != FORMAT:
            raise FormatError(f"{self.path}: HDF5 file is not an lqcd-hmc ensemble")
        if int(main.get("format_version", 0)) > FORMAT_VERSION:
            raise FormatError(
                f"{self.path}: ensemble format version {main['format_version']} "
                f"is newer than this package's {FORMAT_VERSION}"
            )
        self.segments = self._segments()
        self._index: dict[int, Path] | None = None
        self.attrs = dict(main)
        if self.segments:
            self.attrs.update(
                self._open(
                    self.segments[-1],
                    lambda f: {
                        k: v for k, v in f.attrs.items() if k not in ("format", "first", "last")
                    },
                )
            )

    @staticmethod
    def _open(path: Path, fn: Callable[[h5py.File], Any]) -> Any:
        try:
            with h5py.File(path, "r") as f:
                return fn(f)
        except FormatError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(
                f"{path}: unreadable HDF5 ensemble (truncated or corrupted: "
                f"{str(exc).splitlines()[0]})"
            ) from None

    def _files(self) -> list[Path]:
        return [self.path, *self.segments]

    def _segments(self) -> list[Path]:
        """The segments after the main file's checkpoint, in order; they must chain."""
        if not self.segment_dir.is_dir():
            return []
        done = self._open(
            self.path,
            lambda f: int(f["checkpoint"].attrs["trajectory"]) if "checkpoint" in f else 0,
        )
        found = []
        for p in self.segment_dir.glob("*.h5"):
            try:
                first, last = (int(x) for x in p.stem.split("-"))
            except ValueError:
                continue
            if last > done:
                found.append((first, last, p))
        found.sort()
        expected = done + 1
        for first, last, p in found:
            if first != expected:
                raise FormatError(
                    f"{self.path}: segment {p.name} does not follow trajectory "
                    f"{expected - 1} (a segment is missing)"
                )
            expected = last + 1
        return [p for _, _, p in found]

    # -- writing ------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        attrs: Mapping[str, Any],
        pending: Pending | None = None,
        checkpoint: Checkpoint | None = None,
        overwrite: bool = False,
    ) -> Ensemble:
        """Create a new ensemble file atomically; an existing file is replaced (atomically)
        only with ``overwrite``."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FormatError(f"{path}: exists already")

        def build(f: h5py.File) -> None:
            f.attrs.update(seal_card({"format": FORMAT, "format_version": FORMAT_VERSION, **attrs}))
            write_pending(f, pending or Pending(), checkpoint)

        write_new(path, build)
        if pending is not None:
            pending.clear()
        return cls(path)

    def append(
        self, pending: Pending, checkpoint: Checkpoint, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write a segment with ``pending`` and the checkpoint after it (cost: the new data)."""
        first = self.checkpoint_trajectory() + 1
        seg = self.segment_dir / f"{first:08d}-{checkpoint.trajectory:08d}.h5"
        self.segment_dir.mkdir(exist_ok=True)
        head = {"format": SEGMENT_FORMAT, "first": first, "last": checkpoint.trajectory}

        def build(f: h5py.File) -> None:
            f.attrs.update(seal_card({**head, **(attrs or {})}))
            write_pending(f, pending, checkpoint)

        write_new(seg, build)
        pending.clear()
        self.segments.append(seg)
        self._index = None
        if attrs:
            self.attrs.update(attrs)

    def commit(
        self,
        pending: Pending,
        checkpoint: Checkpoint | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Pack, then add ``pending`` (and a checkpoint, attributes) to the main file by one
        copy-on-write commit."""
        self.pack()
        require_space(self.path, self.path.stat().st_size + pending.nbytes())
        with replacing(self.path, copy_existing=True) as tmp:
            with h5py.File(tmp, "a") as f:
                write_pending(f, pending, checkpoint)
                f.attrs.update(seal_card(attrs or {}))
        pending.clear()
        self._load()

    def pack(self) -> None:
        """Verify the segments, merge them into the main file (one copy-on-write commit), then
        remove them."""
        for seg in self.segments:
            self._open(seg, lambda f: verify_file(f, str(seg)))
        if self.segments:
            size = self.path.stat().st_size + sum(p.stat().st_size for p in self.segments)
            require_space(self.path, size)
            with replacing(self.path, copy_existing=True) as tmp:
                with h5py.File(tmp, "a") as dst:
                    for seg in self.segments:
                        with h5py.File(seg, "r") as src:
                            merge_segment(dst, src)
        if self.segment_dir.is_dir():
            shutil.rmtree(self.segment_dir)
        self._load()

    def clean(self) -> None:
        """Remove leftovers of killed writers: temporary files and stale segments."""
        temporary_sibling(self.path).unlink(missing_ok=True)
        if self.segment_dir.is_dir():
            keep = set(self.segments)
            for p in self.segment_dir.iterdir():
                if p not in keep:
                    p.unlink()

    # -- reading ------------------------------------------------------------------------------
    def verify(self, main_configs: bool = True) -> Integrity:
        """Verify every checksum of the main file and its segments (a mismatch raises
        :class:`FormatError`); ``main_configs=False`` skips the main file's configurations,
        which a resumed run neither reads nor rewrites."""
        report = Integrity()
        for p in self._files():
            configs = main_configs or p != self.path
            report.add(self._open(p, lambda f: verify_file(f, str(p), configs)))
        return report

    @property
    def is_record(self) -> bool:
        """A record: the configurations up to ``record_trajectory`` are kept as checksums only
        (:mod:`.record`); one written with its checkpoint can be continued."""
        return bool(self.attrs.get("record", 0))

    def record_error(self, what: str) -> FormatError:
        return FormatError(
            f"{self.path}: a record holds measurements and checksums only, not {what}; "
            f"regenerate the ensemble from its card"
        )

    def read(self, fn: Callable[[h5py.File], Any]) -> Any:
        """``fn`` of the open main file (a damaged file is a :class:`FormatError`)."""
        return self._open(self.path, fn)

    def checkpoint_trajectory(self) -> int:
        done = self._open(
            self._files()[-1],
            lambda f: int(f["checkpoint"].attrs["trajectory"]) if "checkpoint" in f else None,
        )
        if done is None:
            return int(self.attrs["record_trajectory"]) if self.is_record else 0
        return done

    def has_checkpoint(self) -> bool:
        return self._open(self._files()[-1], lambda f: "checkpoint" in f)

    def checkpoint(self) -> Checkpoint:
        if self.is_record and not self.has_checkpoint():
            raise self.record_error("a checkpoint to continue from")

        def load(f: h5py.File) -> Checkpoint:
            if "checkpoint" not in f:
                raise FormatError(f"{self.path}: ensemble has no checkpoint to resume from")
            g = f["checkpoint"]
            for name in ("links", "checksum", "rng"):
                verify_dataset(g[name], str(self.path))
            cp = Checkpoint(int(g.attrs["trajectory"]), g["links"][()], g["rng"][()])
            if not np.array_equal(checksums(cp.links), g["checksum"][()]):
                raise FormatError(f"{self.path}: checkpoint links fail their checksum")
            return cp

        return self._open(self._files()[-1], load)

    def _where(self) -> dict[int, Path]:
        """Trajectory -> the file (main or segment) holding its configuration; listed once
        per state of the ensemble, not per configuration read."""
        if self._index is None:
            self._index = {}
            for p in self._files():
                for k in self._open(p, lambda f: list(f["configs"]) if "configs" in f else []):
                    self._index[int(k)] = p
        return self._index

    def trajectories(self) -> list[int]:
        """Trajectory numbers of the stored configurations, ascending."""
        return sorted(self._where())

    def config(self, trajectory: int, verify: bool = True) -> tuple[np.ndarray, dict]:
        """Links ``(B, D, *dims, N, N)`` of one stored configuration and its attributes;
        the per-chain checksums are verified."""
        where = self._where()
        if int(trajectory) not in where and self.is_record:
            raise self.record_error(f"the links of configuration {trajectory}")
        if int(trajectory) not in where:
            raise FormatError(f"{self.path}: no configuration at trajectory {trajectory}")
        key = f"{int(trajectory):08d}"

        def load(f: h5py.File) -> tuple[np.ndarray, dict]:
            ds = f["configs"][key]
            if verify:
                verify_dataset(ds, str(self.path))
            return ds[()], dict(ds.attrs)

        links, attrs = self._open(where[int(trajectory)], load)
        if verify and not np.array_equal(checksums(links), attrs["checksum"]):
            raise FormatError(f"{self.path}: configuration {trajectory} fails its checksum")
        return links, attrs

    def config_attributes(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(trajectory, per-chain checksum, plaquette) of every stored configuration, from
        their attributes (no links are read)."""

        def load(f: h5py.File, t: int) -> tuple[int, np.ndarray, np.ndarray]:
            a = f["configs"][f"{t:08d}"].attrs
            return t, a["checksum"], a["plaquette"]

        return [self._open(p, lambda f: load(f, t)) for t, p in sorted(self._where().items())]

    def checkpoint_checksum(self) -> np.ndarray:
        """The per-chain crc32 of the checkpoint's links (verified dataset)."""

        def load(f: h5py.File) -> np.ndarray:
            if "checkpoint" not in f:
                raise FormatError(f"{self.path}: ensemble has no checkpoint")
            verify_dataset(f["checkpoint/checksum"], str(self.path))
            return f["checkpoint/checksum"][()]

        return self._open(self._files()[-1], load)

    def table(self, group: str, columns: Collection[str] | None = None) -> dict[str, np.ndarray]:
        """The datasets of ``mc`` or ``measurements/<name>`` (all, or those named in
        ``columns``), concatenated over the segments; their checksums are verified."""
        parts: dict[str, list[np.ndarray]] = {}

        def load(f: h5py.File, where: str) -> dict[str, np.ndarray]:
            if group not in f:
                return {}
            wanted = {k: ds for k, ds in f[group].items() if columns is None or k in columns}
            for ds in wanted.values():
                verify_dataset(ds, where)
            return {k: ds[()] for k, ds in wanted.items()}

        for p in self._files():
            got = self._open(p, lambda f: load(f, str(p)))
            for k, v in got.items():
                parts.setdefault(k, []).append(v)
        try:
            return {k: np.concatenate(v) for k, v in parts.items()}
        except ValueError:
            shapes = {k: sorted({a.shape[1:] for a in v}) for k, v in parts.items()}
            bad = next(k for k, s in shapes.items() if len(s) > 1)
            raise FormatError(
                f"{self.path}: {group}/{bad} has rows of shapes {shapes[bad]} in its parts "
                f"(file and segments)"
            ) from None

    def schemas(self) -> dict[str, str]:
        """Measurement name -> the schema its table records (tables of format version 1 have
        none and are left out)."""
        out: dict[str, str] = {}
        for p in self._files():
            got = self._open(
                p,
                lambda f: {
                    k: str(g.attrs["schema"])
                    for k, g in (f["measurements"].items() if "measurements" in f else [])
                    if "schema" in g.attrs
                },
            )
            out.update(got)
        return out

    def measurement_names(self) -> list[str]:
        names: set[str] = set()
        for p in self._files():
            names |= set(
                self._open(p, lambda f: list(f["measurements"]) if "measurements" in f else [])
            )
        return sorted(names)


def write_new(path: Path, build: Callable[[h5py.File], None]) -> None:
    """Write a new HDF5 file by ``build``: staged in memory (what it holds is in memory
    already), then written to disk by plain file IO, so a full disk is a clean ``OSError``
    naming ``path`` (:func:`.atomic.replacing`) and never a failure inside HDF5."""
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        build(f)
    with replacing(path) as tmp:
        tmp.write_bytes(image.getbuffer())
