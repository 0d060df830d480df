"""Gauge-field files: the native HDF5 ensemble and the NERSC, ILDG/LIME and openQCD exchange
formats. :func:`read_configuration` and :func:`write_configuration` move one configuration
between any of them;
:class:`~.hdf5.Ensemble` is the run's own file."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import lime, nersc, openqcd
from .atomic import replacing
from .errors import FormatError
from .hdf5 import Ensemble, is_hdf5
from .layout import Checkpoint, Pending
from .su3 import array_plaquette, require_su3_4d

FORMATS = ("hdf5", "nersc", "ildg", "openqcd")
EXTENSIONS = {
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".nersc": "nersc",
    ".lime": "ildg",
    ".ildg": "ildg",
    ".openqcd": "openqcd",
}


@dataclass
class GaugeConfiguration:
    """One configuration: links ``(D, *dims, N, N)`` complex128, its group and metadata."""

    links: np.ndarray
    group: str
    trajectory: int = 0
    meta: dict = field(default_factory=dict)


def detect(path: str | os.PathLike) -> str:
    """The format of an existing file, from its first bytes (openQCD has no magic number: it is
    what remains, and its reader checks sizes and the plaquette)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    if is_hdf5(path):
        return "hdf5"
    if nersc.is_nersc(path):
        return "nersc"
    if lime.is_lime(path):
        return "ildg"
    return "openqcd"


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise FormatError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        return fmt
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise FormatError(
            f"{path}: cannot tell the format from the extension {ext!r}; pass "
            f"--to ({', '.join(FORMATS)})"
        )
    return EXTENSIONS[ext]


def read_configuration(
    path: str | os.PathLike, trajectory: int | None = None, chain: int = 0
) -> GaugeConfiguration:
    """One configuration from any supported file; for an HDF5 ensemble the one at
    ``trajectory`` (default: the last stored) of chain ``chain``."""
    fmt = detect(path)
    if fmt == "hdf5":
        ens = Ensemble(path)
        trajs = ens.trajectories()
        if not trajs:
            raise FormatError(f"{path}: ensemble holds no configurations")
        t = trajs[-1] if trajectory is None else int(trajectory)
        links, attrs = ens.config(t)
        if not 0 <= chain < links.shape[0]:
            raise FormatError(f"{path}: chain {chain} out of range (batch {links.shape[0]})")
        return GaugeConfiguration(
            links[chain].astype(np.complex128),
            str(ens.attrs["group"]),
            t,
            {"format": fmt, "checksum": int(attrs["checksum"][chain])},
        )
    reader = {"nersc": nersc.read, "ildg": lime.read, "openqcd": openqcd.read}[fmt]
    U, meta = reader(path)
    traj = int(meta.get("SEQUENCE_NUMBER", 0)) if fmt == "nersc" else 0
    return GaugeConfiguration(U, "SU(3)", traj, {"format": fmt, **meta})


def write_configuration(
    path: str | os.PathLike,
    cfg: GaugeConfiguration,
    fmt: str,
    *,
    precision: int = 64,
    two_row: bool = False,
    byte_order: str = "big",
) -> None:
    """Write one configuration atomically; exchange formats take SU(3) in D = 4 only."""
    U = cfg.links
    dims = tuple(U.shape[1:-2])
    if fmt != "hdf5":
        require_su3_4d(fmt, cfg.group, dims)
    if fmt == "hdf5":
        write_single(
            path,
            U[None],
            cfg.group,
            cfg.trajectory,
            np.array([array_plaquette(U)]),
            {"source_format": cfg.meta.get("format", "")},
        )
        return
    with replacing(path) as tmp:
        if fmt == "nersc":
            nersc.write(
                tmp,
                U,
                two_row=two_row,
                precision=precision,
                byte_order=byte_order,
                sequence_number=cfg.trajectory,
            )
        elif fmt == "ildg":
            lime.write(tmp, U, precision=precision)
        else:
            openqcd.write(tmp, U)


def write_single(
    path: str | os.PathLike,
    links: np.ndarray,
    group: str,
    trajectory: int,
    plaquette: np.ndarray,
    attrs: Mapping[str, Any],
) -> None:
    """An ensemble file holding one configuration (``convert`` from an exchange format),
    written atomically over ``path``."""
    from .. import __version__  # the package imports io: resolved at call time

    Ensemble.create(
        path,
        {
            "package_version": __version__,
            "group": group,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dims": list(links.shape[2:-2]),
            "batch": links.shape[0],
            "dtype": str(links.dtype),
            "card": "",
            **attrs,
        },
        pending=Pending(configs=[(trajectory, links, plaquette)]),
        overwrite=True,
    )


__all__ = [
    "Checkpoint",
    "GaugeConfiguration",
    "Ensemble",
    "FORMATS",
    "FormatError",
    "Pending",
    "detect",
    "format_for",
    "read_configuration",
    "write_configuration",
]
