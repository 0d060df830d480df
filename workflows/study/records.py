"""A study's records (``study.records``): the measurements of its ensembles and tuning runs
without their configurations (:mod:`lqcd_hmc.io.record`), in a directory that can be
committed, so that the study's report survives the loss of its output directory.

``<records>/ensembles/<file>`` and ``<records>/tuning/<file>`` mirror the output directory.
:func:`restore` copies every record whose ensemble is missing into the output directory, where
``lqcd-hmc compare`` reuses it like the complete ensemble it summarises, or continues it from a
resumable record. A record cannot be started from: where a new chain is about to start from
one, :func:`ensure_links` runs its card again first (a report from complete records needs none
of their configurations). :func:`save` writes the record of every complete ensemble, and with
``partial`` (``compare --save-records``, before the machine goes) resumable records of those in
progress. An ensemble regenerated from the card of an existing record reproduces it bit for
bit from the same start, on as many CPU threads, with the same code; one that does not leaves
the record as it is.
"""

from __future__ import annotations

import shutil
import tomllib
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from lqcd_hmc.config import Card, validate
from lqcd_hmc.io import Ensemble, FormatError
from lqcd_hmc.io.atomic import replacing
from lqcd_hmc.io.lock import lock_path
from lqcd_hmc.io.record import divergence, reproduction_difference, write_record
from lqcd_hmc.run import card_change, ensure_ensemble

PARTS = ("ensembles", "tuning")


def restore(records: Path, out: Path) -> list[str]:
    """Copy the records of ensembles missing from ``out`` into it (each verified first);
    the names of those copied."""
    copied = []
    for part in PARTS:
        for rec in sorted((records / part).glob("*.h5")):
            dest = out / part / rec.name
            if dest.exists():
                continue
            ens = Ensemble(rec)
            if not ens.is_record:
                raise FormatError(f"{rec}: not a record (lqcd-hmc record writes them)")
            ens.verify()
            dest.parent.mkdir(parents=True, exist_ok=True)
            with replacing(dest) as tmp:
                shutil.copyfile(rec, tmp)
            copied.append(f"{part}/{rec.name}")
    return copied


def _card(ens: Ensemble) -> Card:
    return validate(tomllib.loads(str(ens.attrs["card"])), str(ens.path))


def ensure_links(path: Path, **run_options: Any) -> None:
    """Make the ensemble file ``path`` hold its configurations: a record that stores none is
    replaced by its ensemble, run again from the record's card after its own start file (the
    record itself stays in the records directory, and :func:`save` checks the two agree)."""
    if not path.is_file():
        return  # the new chain's run names the missing start file
    ens = Ensemble(path)
    if not ens.is_record or ens.trajectories():
        return
    card = _card(ens)
    start = card.lattice.start
    path.unlink()
    prepare = (
        None if isinstance(start, str) else partial(ensure_links, Path(start.file), **run_options)
    )
    ensure_ensemble(card, prepare_start=prepare, **run_options)


def complete(ens: Ensemble) -> bool:
    """Whether ``ens`` has every trajectory its stored card asks for."""
    run = tomllib.loads(str(ens.attrs.get("card", ""))).get("run", {})
    wanted = int(run.get("thermalisation", 0)) + int(run.get("trajectories", 0))
    return not ens.segments and ens.checkpoint_trajectory() >= wanted > 0


class Saved(NamedTuple):
    """What :func:`save` did: the records written, and the regenerated ensembles that are other
    chains than their records (where, and why) and left the records as they were."""

    written: list[str]
    kept: list[str]


def save(out: Path, records: Path, partial: bool = False) -> Saved:
    """Write the records of the complete ensembles of ``out`` that no writer holds (new or
    changed ones); with ``partial`` also resumable records of those in progress (running
    ones at their last checkpoint), except where the records hold the complete ensemble (a
    regeneration in progress, e.g. to start another chain from it). A regenerated ensemble
    that differs from its record (same card and progress) leaves the record as it is: where it
    started from other links, ran on other threads or was made by other code
    (:func:`~lqcd_hmc.io.record.divergence`) it is listed in ``kept``, otherwise, after the
    other records are written, it is a :class:`FormatError` (the same start, threads and code
    must reproduce the record bit for bit)."""
    written: list[str] = []
    kept: list[str] = []
    defects: list[str] = []
    for part in PARTS:
        for path in sorted((out / part).glob("*.h5")):
            if lock_path(path).exists() and not partial:
                continue
            ens = Ensemble(path)
            if ens.is_record and ens.checkpoint_trajectory() == ens.attrs["record_trajectory"]:
                continue  # restored, nothing added
            done = complete(ens)
            if not done and not partial:
                continue
            dest = records / part / path.name
            if not done and dest.exists() and complete(Ensemble(dest)):
                continue  # a regeneration in progress never replaces the complete record
            if dest.exists() and done:
                old = Ensemble(dest)
                same = card_change(ens, _card(old)) is None
                if same and old.checkpoint_trajectory() == ens.checkpoint_trajectory():
                    diff = reproduction_difference(ens, old)
                    if diff:
                        why, explained = divergence(ens, old)
                        text = f"{path} is another chain than its record {dest}: {diff}; {why}"
                        (kept if explained else defects).append(text)
                        continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if write_record(path, dest, resumable=not done):
                written.append(f"{part}/{path.name}")
    if defects:
        raise FormatError(
            f"{defects[0]}: the same start and code do not reproduce the record (remove the "
            f"record to keep the new ensemble)"
        )
    return Saved(written, kept)
