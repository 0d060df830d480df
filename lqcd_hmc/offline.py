"""``lqcd-hmc measure``: run measurements on stored configurations.

The measure card holds ``[[measure]]`` tables as in a run card (``interval`` = every k-th stored
configuration) and optionally ``device``. For an HDF5 ensemble the results are committed to its
``measurements/<name>`` tables (atomically); a single configuration in any format is measured and
reported only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import CardError, CardSection, MeasureCard, read_toml, validate
from .field import GaugeField, resolve_device
from .io import Ensemble, Pending, detect, read_configuration
from .measurement import build as build_measurement
from .measurement import column_statistics


class MeasureSpec(CardSection):
    measure: list[MeasureCard]
    device: str = "cpu"


def load_spec(path: str | Path) -> MeasureSpec:
    return validate(read_toml(path, "measure card"), str(path), MeasureSpec)


def measure_file(
    path: str | Path, spec: MeasureSpec, save: bool = True, replace: bool = False
) -> dict[str, Any]:
    """Measure every ``interval``-th configuration of ``path``; returns the summary per
    measurement and column."""
    device = resolve_device(spec.device)
    todo = []
    for m in spec.measure:
        cfg = m.model_dump()
        todo.append((cfg.pop("interval"), m.name, build_measurement(cfg)))
    results: dict[str, dict[str, list]] = {name: {} for _, name, _ in todo}
    ens = Ensemble(path) if detect(path) == "hdf5" else None
    if ens is None:  # one configuration in an exchange format
        c = read_configuration(path)
        configs: Iterable[tuple[int, np.ndarray]]
        group, configs = c.group, [(c.trajectory, c.links[None])]
    else:
        clash = sorted(set(ens.measurement_names()) & set(results))
        if save and clash and not replace:
            raise CardError(
                f"{path}: already holds measurements/{clash[0]}; pass --replace to "
                f"overwrite it or --no-save"
            )
        group = str(ens.attrs["group"])
        configs = ((t, ens.config(t)[0]) for t in ens.trajectories())
    pending = Pending()
    for i, (t, links) in enumerate(configs):
        field = GaugeField(torch.from_numpy(links).to(device), group)
        for interval, name, meas in todo:
            if (i + 1) % interval == 0:
                cols = {k: v.detach().cpu().numpy() for k, v in meas(field).items()}
                pending.measurements.setdefault(name, []).append((t, cols))
                for k, v in cols.items():
                    results[name].setdefault(k, []).append(v)
    summary = {
        name: column_statistics({k: np.stack(v) for k, v in cols.items()})
        for name, cols in results.items()
        if cols
    }
    if ens is not None and save and pending.measurements:
        pending.replace = set(pending.measurements)
        ens.commit(pending)
    return summary
