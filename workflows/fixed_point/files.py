"""FP data files on disk: their format tag, content hash, and reading one or several as one
(the layout is in :mod:`.data`, which writes them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField

FORMAT = "lqcd-hmc fp data"

DEFINING = ("c", "kappa", "c_diagonal", "levels", "finest", "tolerance")
"""The FP parameters that define the data's A_FP (blocking kernel, levels, finest action,
convergence tolerance); the rest of a file's ``parameters`` (``max_iterations`` and the
minimiser's own settings, which changed with the minimiser) only say how the minimum was
found."""


def sha256(path: str | Path) -> str:
    """The content hash of a data file (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def read_fp_data(path: str | Path) -> dict[str, Any]:
    """Everything in an FP data file, with ``fields`` as one GaugeField."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not an FP data file")
        out: dict[str, Any] = {k: torch.from_numpy(f[k][()]) for k in f if k != "source"}
        if "source" in f:
            out["source"] = [x.decode() for x in f["source"][()]]
        out["group"] = str(f.attrs["group"])
        out["card"] = str(f.attrs["card"])
        out["parameters"] = json.loads(f.attrs["parameters"])
    out["fields"] = GaugeField(out.pop("links"), out["group"])
    return out


def read_fp_datasets(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Several FP data files as one (:func:`read_fp_data`, rows concatenated in the order of
    ``paths``): they must share the group, the coarse lattice and the FP parameters that define
    A_FP (:data:`DEFINING`), so that their A_FP is one function. The result's ``parameters``
    are the files' own where all agree, else the defining ones."""
    if not paths:
        raise ValueError("no FP data files given")
    parts = [read_fp_data(p) for p in paths]
    first = parts[0]
    for path, d in zip(paths[1:], parts[1:], strict=True):
        if d["group"] != first["group"] or d["fields"].dims != first["fields"].dims:
            raise ValueError(
                f"{path}: {d['group']} on {list(d['fields'].dims)} differs from {paths[0]}: "
                f"{first['group']} on {list(first['fields'].dims)}"
            )
        if defining(d["parameters"]) != defining(first["parameters"]):
            raise ValueError(f"{path}: its FP parameters differ from those of {paths[0]}")
    if len(parts) == 1:
        return first
    same = all(d["parameters"] == first["parameters"] for d in parts)
    out: dict[str, Any] = {
        k: torch.cat([d[k] for d in parts]) for k, v in first.items() if isinstance(v, Tensor)
    }
    out["fields"] = GaugeField(torch.cat([d["fields"].links for d in parts]), first["group"])
    out["source"] = [s for d in parts for s in d.get("source", [])]
    out.update(
        group=first["group"],
        parameters=first["parameters"] if same else defining(first["parameters"]),
    )
    out["card"] = "\n".join(d["card"] for d in parts)
    return out


def defining(parameters: dict[str, Any]) -> dict[str, Any]:
    """The entries of :data:`DEFINING` in a file's FP parameters."""
    return {k: parameters[k] for k in DEFINING if k in parameters}
