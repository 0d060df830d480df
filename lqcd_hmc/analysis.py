"""``lqcd-hmc analyze``: every stored observable of an ensemble with errors, plus plots.

The Monte Carlo summary (plaquette, acceptance, ``<exp(-dH)>``) comes from ``mc/``; each
``measurements/<name>`` table goes to the registered measurement's
:meth:`~lqcd_hmc.measurement.Measurement.analyze` (and ``plot``), so a plug-in measurement brings
its own analysis. Results are plain dicts (JSON-ready); :func:`report` renders the text table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import plotting
from .clitools import Progress
from .io import Ensemble, FormatError, detect
from .io.replicas import ReplicaSet, read_index
from .measurement import Measurement, measurement_class
from .statistics import with_error
from .summary import run_summary


def ensemble_files(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
) -> list[str | os.PathLike]:
    """The files of one ensemble or of replicas (several files, or a ``.replicas.json``
    index)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        return list(read_index(paths[0]))
    return paths


def open_ensembles(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> Ensemble | ReplicaSet:
    """One HDF5 ensemble, or replicas: several files or a ``.replicas.json`` index."""
    paths = ensemble_files(paths)
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"{p}: no such file")
        if detect(p) != "hdf5":
            raise FormatError(f"{p}: analyze needs an HDF5 ensemble (convert it first)")
    return Ensemble(paths[0]) if len(paths) == 1 else ReplicaSet(paths)


def plot_title(ens: Ensemble | ReplicaSet) -> str:
    """``"e.h5: SU(3) 4x4x4x4, wilson beta = 5.7, 4 chains"``, from the stored card."""
    a = ens.attrs
    text = f"{Path(str(ens.path).split(' + ')[0]).name}: {a.get('group', '')} " + "x".join(
        str(int(d)) for d in a.get("dims", [])
    )
    try:
        action = tomllib.loads(str(a.get("card", "")))["action"]
        text += f", {action['name']}"
        if "beta" in action:
            text += f" beta = {action['beta']:g}"
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
        pass
    return text + f", {int(a.get('batch', 1))} chains"


def analyze_ensemble(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    plots: str | os.PathLike | None = None,
    progress: Callable[[int], Progress] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Analysis of the HDF5 ensemble ``path`` (or of replicas: a list of files or their index,
    chains of all replicas combined); PNGs go to ``plots`` when given. ``options``
    (``plateau``, ``r_min``, ``r_max``) reach every measurement's analysis; ``progress(n)``
    makes the progress display over the n measurements."""
    ens = open_ensembles(path)
    therm = int(ens.attrs.get("thermalisation", 0))
    summary = run_summary(ens, therm)
    out: dict[str, Any] = {
        "ensemble": str(ens.path),
        "mc": dataclasses.asdict(summary) if summary else None,
        "measurements": {},
    }
    pdir = Path(plots) if plots is not None else None
    title = plot_title(ens)
    if pdir is not None:
        pdir.mkdir(parents=True, exist_ok=True)
        mc = ens.table("mc")
        if mc:
            out["mc_plots"] = [
                str(
                    plotting.history(
                        pdir / "plaquette_history.png",
                        mc["trajectory"],
                        mc["plaquette"],
                        "plaquette <Re Tr U_p>/N (dimensionless)",
                        title,
                        therm,
                    )
                )
            ]
    names = ens.measurement_names()
    schemas = ens.schemas()
    bar = progress(len(names)) if progress is not None else None
    for i, name in enumerate(names):
        table = ens.table(f"measurements/{name}")
        kind = json.loads(schemas[name]).get("name", name) if name in schemas else name
        cls = measurement_class(kind) or Measurement
        res = cls.analyze(table, **options)
        if pdir is not None:
            res["plots"] = [str(p) for p in cls.plot(table, res, pdir, title=title)]
        out["measurements"][name] = res
        if bar is not None:
            bar.step(i + 1, name, f"{name} analysed ({i + 1}/{len(names)})")
    if bar is not None:
        bar.close()
    return out


def _fmt(value: float, error: float) -> str:
    """The value rounded to its error (:func:`~lqcd_hmc.statistics.with_error`)."""
    if value is None or not np.isfinite(value):
        return "n/a (not reached or undefined; see --json)"
    return with_error(value, error)


def _lines(prefix: str, obj: Any) -> list[tuple[str, str]]:
    """Scalar results of a nested result dict as (label, text) rows; curves are left to JSON
    and the plots."""
    rows: list[tuple[str, str]] = []
    if not isinstance(obj, dict):
        return rows
    if "undefined" in obj:
        return [(prefix, f"undefined: {obj['undefined']}")]
    if "value" in obj and "error" in obj:
        if isinstance(obj["value"], list):
            return [(prefix, f"array {np.shape(obj['value'])} (see --json)")]
        tau = (
            f"  (tau_int {obj['tau_int']:.2f})"
            if obj.get("tau_int") is not None and np.isfinite(obj["tau_int"])
            else ""
        )
        if obj.get("error_sys") is not None:
            tau += f"  [stat {obj['error_stat']:.2g}, sys {obj['error_sys']:.2g}]"
        elif "error_sys" in obj:
            tau += "  [stat only: the excited-state systematic could not be estimated]"
        return [(prefix, _fmt(obj["value"], obj["error"]) + tau)]
    if "mean" in obj and "error" in obj:
        if isinstance(obj["mean"], list):
            return [(prefix, f"array {np.shape(obj['mean'])} (see --json)")]
        tau = obj["tau_int"]
        dtau = obj.get("tau_int_error")
        return [
            (
                prefix,
                _fmt(obj["mean"], obj["error"])
                + (f"  (tau_int {with_error(tau, dtau)})" if np.isfinite(tau) else ""),
            )
        ]
    for k, v in obj.items():
        label = f"{prefix}.{k}" if prefix else k
        if k in (
            "plateau",
            "plateau_test_passed",
            "chi2_dof",
            "skipped",
            "t",
            "fit_undefined",
            "systematic",
        ):
            if not isinstance(v, list):
                rows.append((label, f"{v:.4g}" if isinstance(v, float) else str(v)))
            continue
        rows += _lines(label, v)
    return rows


def report(result: dict[str, Any]) -> str:
    """The text table of :func:`analyze_ensemble`'s result."""
    rows = [("ensemble", result["ensemble"])]
    mc = result.get("mc")
    if mc:
        rows += [
            ("trajectories x chains", f"{mc['trajectories']} x {mc['chains']}"),
            (
                "plaquette",
                _fmt(mc["plaquette"], mc["plaquette_error"])
                + f"  (tau_int {mc['plaquette_tau_int']:.2f})",
            ),
        ]
        if mc.get("acceptance") is not None:
            rows += [
                ("acceptance", f"{mc['acceptance']:.3f}"),
                ("<exp(-dH)>", _fmt(mc["exp_minus_dH"], mc["exp_minus_dH_error"])),
            ]
    for name, res in result["measurements"].items():
        rows += _lines(name, {k: v for k, v in res.items() if k != "plots"})
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
