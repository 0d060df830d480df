"""Monte Carlo histories for the community's analysis library pyerrors (F. Joswig, S. Kuberski,
J. T. Kuhlmann, J. Neuendorf, Comput. Phys. Commun. 288 (2023) 108750): ``lqcd-hmc analyze
--export pyerrors OUT.json.gz``.

Every observable becomes a ``pyerrors.Obs`` whose replicas are the chains: name
``"<ensemble>|c<b>"`` (``"<ensemble>|r<r>c<b>"`` for chain b of replica file r), configuration
numbers (``idl``) the trajectory numbers. Keys: ``plaquette`` (the production part of ``mc/``)
and ``<measurement>.<column>`` for scalar columns, ``<measurement>.<column>[i,j]`` for each
element of an array column; columns that are constant (distances, flow times, the volume) are
left out. The file is pyerrors' JSON dictionary format
(``pyerrors.input.json.load_json_dict`` reads it back).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import Ensemble


def _histories(ens: Ensemble, thermalisation: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Key -> (trajectories (n,), series (n, B)) of every exported observable."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    mc = ens.table("mc")
    if mc:
        keep = mc["trajectory"] > thermalisation
        out["plaquette"] = (mc["trajectory"][keep], mc["plaquette"][keep])
    for name in ens.measurement_names():
        table = ens.table(f"measurements/{name}")
        traj = table["trajectory"]
        for col, a in table.items():
            if col == "trajectory" or a.ndim < 2 or np.ptp(a, axis=(0, 1)).max() == 0:
                continue  # the index, and constant columns (distances, flow times, volume)
            if a.ndim == 2:
                out[f"{name}.{col}"] = (traj, a)
                continue
            for idx in np.ndindex(*a.shape[2:]):
                out[f"{name}.{col}[{','.join(map(str, idx))}]"] = (traj, a[(..., *idx)])
    return out


def export_pyerrors(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Write the histories of the ensemble ``paths`` (one file, or replica files of one run)
    to ``out`` as pyerrors Obs; returns the path written."""
    try:
        import pyerrors as pe
    except ImportError:
        raise ValueError("the pyerrors export needs pyerrors: pip install pyerrors") from None
    members = [Ensemble(p) for p in paths]
    label = Path(paths[0]).stem.split(".replica")[0]
    samples: dict[str, tuple[list[np.ndarray], list[str], list[list[int]]]] = {}
    for r, ens in enumerate(members):
        therm = int(ens.attrs.get("thermalisation", 0))
        tag = f"r{r}" if len(members) > 1 else ""
        for key, (traj, series) in _histories(ens, therm).items():
            s, names, idl = samples.setdefault(key, ([], [], []))
            for b in range(series.shape[1]):
                s.append(np.asarray(series[:, b], dtype=np.float64))
                names.append(f"{label}|{tag}c{b}")
                idl.append([int(t) for t in traj])
    if not samples:
        raise ValueError(f"{paths[0]}: nothing to export (no production trajectories)")
    obs: dict[str, Any] = {
        key: pe.Obs(s, names, idl=idl) for key, (s, names, idl) in samples.items()
    }
    target = str(out)
    pe.input.json.dump_dict_to_json(
        obs, target.removesuffix(".gz").removesuffix(".json"), description=f"lqcd-hmc {label}"
    )
    return Path(target.removesuffix(".gz").removesuffix(".json") + ".json.gz")
