"""``lqcd-hmc measure``: run measurements on stored configurations.

The measure card holds ``[[measure]]`` tables as in a run card (``interval`` = every k-th stored
configuration) and optionally ``device``. For an HDF5 ensemble the results are committed to its
``measurements/<name>`` tables (atomically, holding the ensemble's lock), each with the schema of
its parameters; ``replace`` replaces a stored table whole. A single configuration in an exchange
format is measured and reported only. Every measurement is checked against the lattice before
any configuration is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import model_validator

from .clitools import Progress
from .config import CardError, CardSection, MeasureCard, read_toml, unique_tables, validate
from .field import GaugeField, resolve_device
from .io import Ensemble, Pending, detect, read_configuration
from .io.atomic import failure_reason
from .io.integrity import schema_text
from .io.lock import EnsembleLock
from .measurement import build as build_measurement
from .measurement import card_entry, column_statistics, parameters


class MeasureSpec(CardSection):
    measure: list[MeasureCard]
    device: str = "cpu"

    @model_validator(mode="after")
    def _unique(self) -> MeasureSpec:
        unique_tables(self.measure)
        return self


def load_spec(path: str | Path) -> MeasureSpec:
    return validate(read_toml(path, "measure card"), str(path), MeasureSpec)


ProgressFactory = Callable[[int], Progress]


def measure_file(
    path: str | Path,
    spec: MeasureSpec,
    save: bool | None = None,
    replace: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Measure every ``interval``-th configuration of ``path``; returns the summary per
    measurement and column. ``save`` (default: for an HDF5 ensemble) stores the tables;
    ``progress(n)`` makes the progress display over the n configurations."""
    hdf5 = detect(path) == "hdf5"
    if save and not hdf5:
        raise CardError(
            f"{path}: a single {detect(path)} configuration cannot hold measurements; pass "
            f"--no-save, or convert it to HDF5 (lqcd-hmc convert)"
        )
    save = hdf5 if save is None else save
    if not save:
        return _measure(path, spec, False, replace, progress)
    with EnsembleLock(path):
        return _measure(path, spec, True, replace, progress)


def _measure(
    path: str | Path,
    spec: MeasureSpec,
    save: bool,
    replace: bool,
    progress: ProgressFactory | None,
) -> dict[str, Any]:
    device = resolve_device(spec.device)
    ens = Ensemble(path) if detect(path) == "hdf5" else None
    configs: Iterable[tuple[int, np.ndarray]]
    total = 1
    if ens is None:  # one configuration in an exchange format
        c = read_configuration(path)
        group, dims = c.group, tuple(c.links.shape[1:-2])
        configs = [(c.trajectory, c.links[None])]
    else:
        total = len(ens.trajectories())
        if save:  # what the commit copies, verified first (configurations: as they are read)
            ens.verify(main_configs=False)
        group, dims = str(ens.attrs["group"]), tuple(int(d) for d in ens.attrs["dims"])
        configs = ((t, ens.config(t)[0]) for t in ens.trajectories())
    todo = []
    pending = Pending()
    for m in spec.measure:
        interval, table, cfg = card_entry(m.model_dump(exclude_none=True))
        meas = build_measurement(cfg)
        meas.check(dims, group)
        todo.append((interval, table, meas))
        pending.schemas[table] = schema_text(parameters(cfg))
    results: dict[str, dict[str, list]] = {name: {} for _, name, _ in todo}
    if ens is not None:
        clash = sorted(set(ens.measurement_names()) & set(results))
        if save and clash and not replace:
            raise CardError(
                f"{path}: already holds measurements/{clash[0]}; pass --replace to "
                f"overwrite it or --no-save"
            )
    bar = progress(total) if progress is not None else None
    for i, (t, links) in enumerate(configs):
        field = GaugeField(torch.from_numpy(links).to(device), group)
        for interval, name, meas in todo:
            if (i + 1) % interval == 0:
                cols = {k: v.detach().cpu().numpy() for k, v in meas(field).items()}
                for k, v in cols.items():
                    if not np.isfinite(v).all():
                        raise ValueError(
                            f"{path}: measurement {name} gives a non-finite {k} at trajectory "
                            f"{t}; nothing was stored"
                        )
                pending.measurements.setdefault(name, []).append((t, cols))
                for k, v in cols.items():
                    results[name].setdefault(k, []).append(v)
        if bar is not None:
            bar.step(i + 1, f"trajectory {t}", f"configuration {i + 1}/{total} (trajectory {t})")
    if bar is not None:
        bar.close()
    summary = {
        name: column_statistics({k: np.stack(v) for k, v in cols.items()})
        for name, cols in results.items()
        if cols
    }
    if ens is not None and save and pending.measurements:
        pending.replace = set(pending.measurements)
        try:
            ens.commit(pending)
        except OSError as exc:
            reason = failure_reason(exc)
            raise ValueError(
                f"{path}: cannot store the measurements: {reason}; the file is unchanged"
            ) from None
    return summary
