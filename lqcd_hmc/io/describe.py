"""``lqcd-hmc info``: what a gauge-field file holds, with its checks re-done."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import detect, read_configuration
from .hdf5 import Ensemble
from .su3 import array_plaquette, link_trace


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Format, lattice, group, trajectories, plaquette and checksum status of a file. Reading
    it verifies every checksum (a failure raises :class:`FormatError`); ``checksums`` says
    "verified" only when every checksum was present and matched, else which are absent."""
    fmt = detect(path)
    if fmt != "hdf5":
        cfg = read_configuration(path)
        meta = {k: v for k, v in cfg.meta.items() if k != "format"}
        info = {
            "file": str(path),
            "format": fmt,
            "group": cfg.group,
            "dims": list(cfg.links.shape[1:-2]),
            "trajectories": [cfg.trajectory],
            "plaquette": array_plaquette(cfg.links),
            "link_trace": link_trace(cfg.links),
            "checksums": cfg.meta.get("checksums", "none in format"),
        }
        if fmt == "nersc":
            info.update(
                {
                    "datatype": meta.get("DATATYPE"),
                    "floating_point": meta.get("FLOATING_POINT"),
                    "header_plaquette": float(meta["PLAQUETTE"]) if "PLAQUETTE" in meta else None,
                    "checksum": meta.get("CHECKSUM"),
                }
            )
        elif fmt == "ildg":
            a, b = meta.get("scidac_checksum", (None, None))
            info.update(
                {
                    "precision": meta["precision"],
                    "scidac_checksum": None if a is None else f"{a:08x} {b:08x}",
                }
            )
        else:
            info.update({"header_plaquette": meta["plaquette"]})
        return info
    ens = Ensemble(path)
    integrity = ens.verify()  # every dataset of the file and its segments
    trajs = ens.trajectories()
    last = None
    for t in trajs:
        links, attrs = ens.config(t)  # and the per-chain checksums of the links
        last = attrs
    mc = ens.table("mc")
    a = ens.attrs
    return {
        "file": str(path),
        "format": "hdf5",
        "format_version": int(a["format_version"]),
        "package_version": str(a.get("package_version", "")),
        "git_revision": str(a.get("git_revision", "")),
        "group": str(a["group"]),
        "dims": [int(d) for d in a["dims"]],
        "batch": int(a["batch"]),
        "dtype": str(a["dtype"]),
        "start": _start(a),
        "configurations": len(trajs),
        "trajectories": trajs,
        "mc_trajectories": int(len(mc.get("trajectory", []))),
        "record": ens.is_record,  # measurements and checksums only (lqcd_hmc.io.record)
        "checkpoint_trajectory": ens.checkpoint_trajectory() if ens.has_checkpoint() else None,
        "record_trajectory": int(a["record_trajectory"]) if ens.is_record else None,
        "unpacked_segments": len(ens.segments),
        "plaquette": None if last is None else [float(p) for p in np.atleast_1d(last["plaquette"])],
        "measurements": ens.measurement_names(),
        "checksums": integrity.text(),
        "datasets_verified": integrity.checked,
        "checksums_absent": integrity.absent,
    }


def _start(attrs: Any) -> dict[str, Any] | None:
    """The stored configuration a chain started from (its trajectory and per-chain
    checksums), None for a cold or hot start or a file older than this record."""
    if "start_checksum" not in attrs:
        return None
    return {
        "trajectory": int(attrs["start_trajectory"]),
        "checksums": [int(c) for c in np.atleast_1d(attrs["start_checksum"])],
    }
