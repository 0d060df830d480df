"""Records: an ensemble's measurements without its configurations (docs/conventions.md,
section 4).

The configurations of a study are too large for git (an 8^4 SU(3) configuration of 2 chains
is 4.7 MB), but what its analysis reads, the ``mc`` table and the measurement tables, is a
few kB. A record is a file of the ensemble layout that holds those tables, the root
attributes (the resolved run card among them), and in place of the links their content
hashes::

    /                    attrs: as the ensemble's, and record = 1, record_trajectory
    /configs/            empty (a resumed run stores its later configurations here)
    /mc/, /measurements/ as the ensemble's (segments merged), each dataset sealed
    /timing/             as the ensemble's, where it has one (wall seconds per checkpoint)
    /record/configs/     trajectory (n,), checksum (n, B) crc32, plaquette (n, B)
    /record/checkpoint/  checksum (B,) crc32 of the links after record_trajectory
    /checkpoint/         only if resumable: as the ensemble's

A record reads like its ensemble for the analysis (tables, schemas, progress). It cannot be
started from; one written ``resumable`` keeps ``/checkpoint`` (the links and generator states,
the size of one configuration), and its run continues from it, bit for bit, adding the later
configurations to the file: a long run carried across machines that keep nothing else.
The run card regenerates the configurations bit for bit (section 6), and
:func:`reproduction_difference` checks them against the record's checksums.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from .errors import FormatError
from .hdf5 import Ensemble, write_new
from .integrity import seal_card, verify_dataset
from .layout import append_rows, create_sealed, write_checkpoint


def record_hashes(record: Ensemble) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hashes a record was written with (its ``/record`` group, verified): trajectories,
    per-chain checksums and plaquettes of the configurations, checksum of the last links."""

    names = ("configs/trajectory", "configs/checksum", "configs/plaquette", "checkpoint/checksum")

    def load(f: h5py.File) -> tuple[np.ndarray, ...]:
        for name in names:
            verify_dataset(f["record"][name], str(record.path))
        return tuple(f["record"][name][()] for name in names)

    return record.read(load)


def configuration_hashes(ens: Ensemble) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Trajectories, per-chain checksums and plaquettes of the configurations (the recorded
    ones of a record, then those stored), and the checksum of the last links; only attributes
    and the small checksum datasets are read."""
    rows = ens.config_attributes()
    batch = int(ens.attrs["batch"])
    traj = np.array([t for t, _, _ in rows], dtype=np.int64)
    crc = np.array([c for _, c, _ in rows], dtype=np.uint32).reshape(len(rows), batch)
    plaq = np.array([p for _, _, p in rows], dtype=np.float64).reshape(len(rows), batch)
    if not ens.is_record:
        return traj, crc, plaq, ens.checkpoint_checksum()
    old = record_hashes(ens)
    last = ens.checkpoint_checksum() if ens.has_checkpoint() else old[3]
    return (
        np.concatenate([old[0], traj]),
        np.concatenate([old[1], crc]),
        np.concatenate([old[2], plaq]),
        last,
    )


def _same_record(
    old: Ensemble, ens: Ensemble, done: int, last: np.ndarray, resumable: bool
) -> bool:
    """Whether ``old`` is already the record of ``ens`` at trajectory ``done``."""
    return (
        old.is_record
        and old.checkpoint_trajectory() == done
        and str(old.attrs.get("card")) == str(ens.attrs.get("card"))
        and old.has_checkpoint() == resumable
        and np.array_equal(configuration_hashes(old)[3], last)
    )


def write_record(
    source: str | os.PathLike, dest: str | os.PathLike, resumable: bool = False
) -> bool:
    """Write the record of the ensemble ``source`` to ``dest`` (atomically); with
    ``resumable`` the checkpoint (links and generator states) too, so that the run continues
    from the record. False when ``dest`` holds that record already. Every table read is
    verified on the way."""
    ens = Ensemble(source)
    dest = Path(dest)
    traj, crc, plaq, last = configuration_hashes(ens)
    done = ens.checkpoint_trajectory()
    if dest.exists() and _same_record(Ensemble(dest), ens, done, last, resumable):
        return False
    checkpoint = ens.checkpoint() if resumable else None  # read only when it is written
    tables = {"mc": ens.table("mc")}
    if timing := ens.table("timing"):  # files of older versions have none
        tables["timing"] = timing
    schemas = ens.schemas()
    for name in ens.measurement_names():
        tables[f"measurements/{name}"] = ens.table(f"measurements/{name}")
    attrs = {k: v for k, v in ens.attrs.items() if k != "card_crc32"}
    attrs.update(record=1, record_trajectory=done)

    def build(f: h5py.File) -> None:
        f.attrs.update(seal_card(attrs))
        f.require_group("configs")  # the layout's, empty: configurations later stored go here
        f.require_group("measurements")
        for where, cols in tables.items():
            g = f.require_group(where)
            name = where.split("/", 1)[-1]
            if where.startswith("measurements/") and name in schemas:
                g.attrs["schema"] = schemas[name]
            for col, values in cols.items():
                append_rows(g, col, values)  # resizable, as a resumed run appends rows
        g = f.require_group("record/configs")
        create_sealed(g, "trajectory", traj)
        create_sealed(g, "checksum", crc)
        create_sealed(g, "plaquette", plaq)
        create_sealed(f.require_group("record/checkpoint"), "checksum", last)
        if checkpoint is not None:
            write_checkpoint(f, checkpoint)

    write_new(dest, build)
    return True


def reproduction_difference(ensemble: Ensemble, record: Ensemble) -> str | None:
    """The first way in which a regenerated ``ensemble`` differs from ``record`` (progress,
    a configuration's or the checkpoint's checksums); None when it reproduces it. Whether
    their cards define the same chain is the caller's check (``lqcd_hmc.run.card_change``)."""
    if not record.is_record:
        raise FormatError(f"{record.path}: not a record")
    if ensemble.checkpoint_trajectory() != record.checkpoint_trajectory():
        return (
            f"trajectory {ensemble.checkpoint_trajectory()} reached, the record's "
            f"{record.checkpoint_trajectory()}"
        )
    mine, theirs = configuration_hashes(ensemble), configuration_hashes(record)
    if not np.array_equal(mine[0], theirs[0]):
        return "other configurations stored"
    for t, a, b in zip(mine[0], mine[1], theirs[1], strict=True):
        if not np.array_equal(a, b):
            return f"configuration {int(t)} differs (checksums {a.tolist()} vs {b.tolist()})"
    if not np.array_equal(mine[3], theirs[3]):
        return "the last links differ"
    return None


def divergence(ensemble: Ensemble, record: Ensemble) -> tuple[str, bool]:
    """Where and why a regenerated ``ensemble``'s chains part from ``record``'s: the first
    update whose plaquettes differ and by how much, and whether the chains started from other
    links (``start_checksum``), ran on another number of CPU threads (``threads``), were made
    by other code (``git_revision``) or were resumed by other code or on other threads than
    they began with (``resumes``). The flag says whether such a cause was found. A chain is
    regenerated bit for bit only from the record's start, with its thread count and its
    revision's arithmetic (docs/conventions.md, section 6); a change of rounding parts the
    chains by 1e-16 at the first update, and they drift apart from there."""
    a, b = ensemble.table("mc"), record.table("mc")
    n = min(len(a["trajectory"]), len(b["trajectory"]))
    pa, pb = np.asarray(a["plaquette"])[:n], np.asarray(b["plaquette"])[:n]
    parted = np.flatnonzero((pa != pb).reshape(n, -1).any(axis=1))
    where = (
        f"the plaquettes part at update {int(a['trajectory'][parted[0]])} by "
        f"{np.abs(pa[parted[0]] - pb[parted[0]]).max():.1e}"
        if parted.size
        else "the plaquettes agree"
    )
    causes = []
    starts = [e.attrs.get("start_checksum") for e in (ensemble, record)]
    if starts[0] is not None and starts[1] is not None:
        if not np.array_equal(starts[0], starts[1]):
            causes.append("it started from other links than the record's chains")
    elif starts[0] is not None or starts[1] is not None:
        causes.append("whether they started from the same links is not recorded")
    threads = [e.attrs.get("threads") for e in (ensemble, record)]
    if None not in threads and threads[0] != threads[1]:
        causes.append(f"it ran on {threads[0]} threads, the record on {threads[1]}")
    revs = [str(e.attrs.get("git_revision", "")) or "unknown" for e in (ensemble, record)]
    if revs[0] != revs[1] or "unknown" in revs:
        causes.append(f"it was made at revision {revs[0]}, the record at {revs[1]}")
    for e, who in ((ensemble, "it"), (record, "the record")):
        for r in json.loads(str(e.attrs.get("resumes", "[]"))):
            if (r["git_revision"], r["threads"]) != (
                e.attrs.get("git_revision"),
                e.attrs.get("threads"),
            ):
                causes.append(
                    f"{who} was resumed after trajectory {r['trajectory']} at revision "
                    f"{r['git_revision'] or 'unknown'} on {r['threads']} threads"
                )
    return "; ".join([where, *causes]), bool(causes)
