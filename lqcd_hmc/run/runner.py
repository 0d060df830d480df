"""The ensemble runner behind ``lqcd-hmc run``: thermalise, update, measure, save, checkpoint.

Updates ("trajectories": HMC trajectories, heatbath updates or both, as the card's
``update.algorithm`` says) are numbered 1, 2, ... from the start; the first
``run.thermalisation`` are thermalisation (of which the first ``run.thermalisation_md`` skip the
Metropolis test of HMC), then ``run.trajectories`` production updates. With
``n = trajectory - thermalisation > 0``, a measurement with interval k runs when
``n % k == 0`` and a configuration is stored when
``n % run.save_interval == 0``. Everything produced is committed to the ensemble file (with the
links and per-chain RNG states) every ``run.checkpoint_interval`` trajectories and at the end,
so a run killed at any moment and resumed from its last checkpoint continues the same Markov
chain, bit for bit on the same device and dtype. Checkpoints are segments of the ensemble file
(their cost is the new data); the segments are packed into the file when the run completes
(:mod:`lqcd_hmc.io.hdf5`).

Before any work or file, the card is validated as a whole: the action's coupling, every
measurement against the lattice, and the memory and disk the run needs
(:mod:`lqcd_hmc.resources`). The writing process holds the ensemble's lock
(:mod:`lqcd_hmc.io.lock`) for the whole run; a resumed run first verifies the checksums of
what it continues (:meth:`~lqcd_hmc.io.Ensemble.verify`) and continues every measurement table
with the parameters it records (its schema, :mod:`lqcd_hmc.io.integrity`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from ..action import build as build_action
from ..allocator import loaded
from ..config import Card, dump_card
from ..field import GaugeField, resolve_device, resolve_dtype
from ..groups import get_group
from ..io import Checkpoint, Ensemble, FormatError, Pending
from ..io.atomic import failure_reason
from ..io.lock import EnsembleLock
from ..io.replicas import write_index
from ..loops import average_plaquette
from ..parallel import (
    DistributedAction,
    DistributedHMC,
    DistributedPlaquette,
    ParallelError,
    layout_from_env,
)
from ..resources import check_run_resources
from ..rng import RNG_STREAMS, ChainRNG
from ..summary import RunSummary, run_summary
from ..update import Update
from ..update import build as build_update
from .chain import card_change, git_revision, replica_card, resumed, stored_progress, wanted
from .measuring import RunMeasurements
from .start import initial_field
from .stops import RunError, RunInterrupted, non_finite


class Runner:
    """Runs one card. ``progress``: a tqdm bar (on a terminal), else log lines at each
    checkpoint to ``log``; ``quiet`` silences both.

    Under ``torch.distributed`` (the card's ``[parallel]`` section, launched by torchrun) this
    process runs replica ``r`` (seed + r, file ``<stem>.replica<r>.h5``) on its block of the
    process grid: HMC with the decomposed action (:mod:`lqcd_hmc.parallel`), the plaquette by
    all-reduce, and the links gathered to the block at grid position 0, which alone measures,
    writes and reports."""

    def __init__(
        self,
        card: Card,
        resume: bool = False,
        progress: bool | None = None,
        quiet: bool = False,
        log: TextIO | None = None,
    ):
        action = build_action(card.action_config())
        if action.positive_beta and action.beta is not None and not action.beta > 0:
            raise RunError(f"action {action.name!r}: beta must be positive, got {action.beta:g}")
        par = card.parallel
        self.replica, self.layout = layout_from_env(
            card.lattice.dims,
            par.grid,
            par.replicas,
            action.reach,
            resolve_device(card.lattice.device),
        )
        if par.replicas > 1 and self.layout.position == 0 and self.replica == 0:
            write_index(
                card.run.output,
                [replica_card(card, r).run.output for r in range(par.replicas)],
                [card.lattice.seed + r for r in range(par.replicas)],
            )
        self.card = card = replica_card(card, self.replica)
        self.segment_attrs = {"card": dump_card(card)}  # and, once resumed, ``resumes``
        self.writer = self.layout.position == 0
        self.resume = resume
        self.log = log or sys.stderr
        self.quiet = quiet or not self.writer
        self.progress = (self.log.isatty() if progress is None else progress) and not self.quiet
        self.device = resolve_device(card.lattice.device)
        self.dtype = resolve_dtype(card.lattice.dtype)
        up = card.update
        self.split = bool(self.layout.split_axes)
        self.update: Update
        self.plaquette: Callable[[GaugeField], Tensor]
        if self.split:
            if up.algorithm != "hmc":
                raise ParallelError(
                    f"domain decomposition runs HMC only, not "
                    f"{up.algorithm!r}; use update algorithm hmc with "
                    f"parallel.grid"
                )
            action = DistributedAction(action, self.layout)
            self.update = DistributedHMC.from_config(action, up.config())
            self.plaquette = DistributedPlaquette(self.layout)
        else:
            self.update = build_update(up.algorithm, action, up.config())
            self.plaquette = lambda field: average_plaquette(field.links)
        self.update.prepare(card.lattice.dims, self.device)
        self.action = action
        self.measurements = RunMeasurements(
            card.measure_configs(), card.lattice.dims, card.lattice.group
        )
        self.path = Path(card.run.output)
        self.total = card.run.thermalisation + card.run.trajectories
        lat = card.lattice
        if self.writer:
            check_run_resources(
                dims=self.layout.local_dims,
                N=get_group(lat.group).N,
                batch=lat.batch,
                dtype=self.dtype,
                device=self.device,
                factor=self.update.working_memory(),
                per_pass=action.max_batch or lat.batch,
                configurations=card.run.trajectories // card.run.save_interval,
                output=self.path,
            )

    # -- state --------------------------------------------------------------------------------
    def _attrs(self) -> dict[str, Any]:
        lat = self.card.lattice
        return {
            "package_version": __version__,
            "git_revision": git_revision(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "card": dump_card(self.card),
            "group": lat.group,
            "dims": list(lat.dims),
            "batch": lat.batch,
            "dtype": lat.dtype,
            "device": str(self.device),
            "thermalisation": self.card.run.thermalisation,
            "replica": self.replica,
            "rng_streams": RNG_STREAMS,
            "threads": torch.get_num_threads(),  # a CPU's reductions round by thread count
            "allocator": loaded(),  # the wall times' context, not the arithmetic's
        }

    @staticmethod
    def _checkpoint(t: int, field: GaugeField, rng: ChainRNG) -> Checkpoint:
        states = np.stack([s.cpu().numpy() for s in rng.get_state()])
        return Checkpoint(t, field.links.cpu().numpy(), states)

    def _global(self, field: GaugeField) -> GaugeField:
        """The whole lattice (collective under domain decomposition)."""
        return field.with_links(self.layout.gather(field.links, 2)) if self.split else field

    def _local(self, field: GaugeField) -> GaugeField:
        return field.with_links(self.layout.block(field.links, 2)) if self.split else field

    def _fresh(self) -> tuple[Ensemble | None, GaugeField, ChainRNG, int]:
        lat = self.card.lattice
        rng = ChainRNG(lat.seed, lat.batch, self.device)
        field, provenance = initial_field(lat, rng, self.dtype, self.device)
        ens = None
        if self.writer:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            seg = self.path.with_name(self.path.name + ".segments")
            if seg.exists():
                raise RunError(f"{seg} exists without its ensemble file {self.path}; move it away")
            try:
                ens = Ensemble.create(
                    self.path,
                    self._attrs() | provenance,
                    checkpoint=self._checkpoint(0, field, rng),
                )
            except OSError as exc:
                raise RunError(
                    f"{self.path}: cannot create the ensemble: {failure_reason(exc)}"
                ) from None
        return ens, self._local(field), rng, 0

    def _resumed(self) -> tuple[Ensemble | None, GaugeField, ChainRNG, int]:
        ens = Ensemble(self.path)
        if self.writer:
            ens.verify(main_configs=False)
        diff = card_change(ens, self.card)
        if diff:
            raise RunError(f"cannot resume {self.path}: {diff}")
        streams = int(ens.attrs.get("rng_streams", 1))
        if streams != RNG_STREAMS:
            raise RunError(
                f"cannot resume {self.path}: its chains drew from random streams version "
                f"{streams}, this version of lqcd-hmc draws from version {RNG_STREAMS} "
                f"(docs/conventions.md, section 6); start a new ensemble"
            )
        if self.writer:
            self.measurements.continue_tables(ens, None if self.quiet else self.log)
            self.segment_attrs |= resumed(ens, ens.checkpoint_trajectory())
        self.layout.barrier()  # every rank has checked before the writer cleans
        if self.writer:
            ens.clean()
        self.layout.barrier()
        cp = ens.checkpoint()
        lat = self.card.lattice
        field = GaugeField(torch.from_numpy(cp.links).to(self.device), lat.group)
        rng = ChainRNG(lat.seed, lat.batch, self.device)
        rng.set_state([torch.from_numpy(s.copy()) for s in cp.rng])
        return (ens if self.writer else None), self._local(field), rng, cp.trajectory

    def _start(self) -> tuple[Ensemble | None, GaugeField, ChainRNG, int]:
        exists = self.path.exists()
        self.layout.barrier()  # every rank has looked before the writer creates it
        if exists:
            if not self.resume:
                raise RunError(
                    f"{self.path} exists already; pass --resume to continue it or "
                    f"set run.output to a new file"
                )
            return self._resumed()
        return self._fresh()

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> RunSummary | None:
        """The run; the summary (None on the ranks that do not write). The writer holds the
        ensemble's lock throughout."""
        if not self.writer:
            return self._run()
        with EnsembleLock(self.path):
            return self._run()

    def _run(self) -> RunSummary | None:
        ens, field, rng, t = self._start()
        pending = Pending(schemas=dict(self.measurements.schemas))
        try:
            return self._loop(ens, field, rng, t, pending)
        except KeyboardInterrupt:
            done = ens.checkpoint_trajectory() if ens is not None else t
            raise RunInterrupted(self.path, done) from None

    def _loop(
        self, ens: Ensemble | None, field: GaugeField, rng: ChainRNG, t: int, pending: Pending
    ) -> RunSummary | None:
        run = self.card.run
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=self.total,
                initial=t,
                file=self.log,
                unit="traj",
                desc=self.path.name,
                dynamic_ncols=True,
            )
        started = since = time.perf_counter()
        t_first = last_commit = t
        measuring = 0.0  # seconds spent measuring since the last checkpoint
        while t < self.total:
            t += 1
            field, record = self._update(field, rng, t)
            plaq = self.plaquette(field)
            record["plaquette"] = plaq.cpu().numpy()
            problem = non_finite(record)
            if problem:
                if bar is not None:
                    bar.close()
                raise RunError(
                    f"{self.path}: trajectory {t}: {problem}; the run stops, the ensemble keeps "
                    f"its last checkpoint (trajectory {last_commit})"
                )
            if self.writer:
                pending.mc.append(record)
            n = t - run.thermalisation
            due = self.measurements.due(n)
            save = n > 0 and n % run.save_interval == 0
            commit = t % run.checkpoint_interval == 0 or t == self.total
            whole = self._global(field) if due or save or commit else None
            if ens is not None and whole is not None:
                for name, meas in due:
                    t_meas = time.perf_counter()
                    cols = {k: v.detach().cpu().numpy() for k, v in meas(whole).items()}
                    measuring += time.perf_counter() - t_meas
                    problem = non_finite(cols)
                    if problem:
                        raise RunError(
                            f"{self.path}: trajectory {t}: measurement {name}: {problem}; the "
                            f"run stops, the ensemble keeps its last checkpoint "
                            f"(trajectory {last_commit})"
                        )
                    pending.measurements.setdefault(name, []).append((t, cols))
                if save:
                    pending.configs.append((t, whole.links.cpu().numpy(), plaq.cpu().numpy()))
                if commit:
                    now = time.perf_counter()
                    pending.timed(last_commit + 1, t, now - since, measuring)
                    since, measuring = now, 0.0
                    self._write(
                        lambda: ens.append(
                            pending,
                            self._checkpoint(t, whole, rng),
                            attrs=self.segment_attrs,
                        ),
                        f"the checkpoint at trajectory {t}",
                        last_commit,
                    )
                    last_commit = t
                    self._report(t, plaq, started, t_first)
            if bar is not None:
                bar.set_postfix(plaquette=f"{float(plaq.mean()):.5f}", refresh=False)
                bar.update(1)
        if bar is not None:
            bar.close()
        if ens is None:  # not the writing rank
            return None
        self._write(ens.pack, "the final pack of its segments", last_commit)
        return run_summary(ens, run.thermalisation)

    def _write(self, write: Callable[[], None], what: str, kept: int) -> None:
        """Write to the ensemble; a full disk or a permission error becomes one line that names
        the file and says what was kept (every write is atomic, so the ensemble stays
        resumable)."""
        try:
            write()
        except OSError as exc:
            reason = failure_reason(exc)
            raise RunError(
                f"{self.path}: cannot write {what}: {reason}; the ensemble keeps its "
                f"checkpoint at trajectory {kept} and continues with --resume"
            ) from None

    def _update(
        self, field: GaugeField, rng: ChainRNG, t: int
    ) -> tuple[GaugeField, dict[str, Any]]:
        """One update of the card's algorithm; the ``mc/`` record of it (without the
        plaquette). The first ``run.thermalisation_md`` updates skip the Metropolis test."""
        t0 = time.perf_counter()
        field, stats = self.update.update(
            field, rng, metropolis=t > self.card.run.thermalisation_md
        )
        record: dict[str, Any] = {"trajectory": np.int64(t)}
        record.update(
            {k: v.cpu().numpy() if isinstance(v, Tensor) else v for k, v in stats.record().items()}
        )
        record["seconds"] = time.perf_counter() - t0
        return field, record

    def _report(self, t: int, plaq: torch.Tensor, started: float, t_first: int) -> None:
        if self.quiet or self.progress:
            return
        rate = (time.perf_counter() - started) / max(t - t_first, 1)
        print(
            f"lqcd-hmc: trajectory {t}/{self.total}, plaquette {float(plaq.mean()):.6f}, "
            f"{rate:.3f} s/trajectory, checkpoint written to {self.path}",
            file=self.log,
            flush=True,
        )


def ensure_ensemble(
    card: Card, prepare_start: Callable[[], None] | None = None, **kwargs: Any
) -> bool:
    """Generate ``card``'s ensemble, continue it, or reuse it when it is complete; True when
    trajectories were added. ``prepare_start`` is called just before a new chain reads its
    ``lattice.start`` file (to regenerate one kept only as a record, say), not otherwise."""
    done = stored_progress(card)
    if done is not None and done >= wanted(card):
        return False
    if done is None and prepare_start is not None:
        prepare_start()
    run_card(card, resume=done is not None, **kwargs)
    return True


def run_card(card: Card, resume: bool = False, **kwargs: Any) -> RunSummary | None:
    """Run a validated card (``lqcd-hmc run``)."""
    try:
        return Runner(card, resume=resume, **kwargs).run()
    except FormatError as exc:
        raise RunError(str(exc)) from None
