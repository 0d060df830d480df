"""The first configuration of a new chain (``lattice.start`` of a run card): ``"cold"`` (unit
links), ``"hot"`` (Haar-random links from each chain's own generator) or a stored configuration,
``start = { file = "ensemble.h5", trajectory = 80 }`` (default: the last one stored), like a
start from a configuration file in openQCD or Chroma. A stored start is read before anything
is written; its per-chain checksums must be present and match, and its group, lattice and number
of chains must be the card's. The new ensemble records which links it started from
(``start_trajectory`` and the per-chain ``start_checksum``, docs/conventions.md, section 4).
A configuration stored in another precision is cast and projected back onto the group
(:meth:`~lqcd_hmc.groups.Group.reunitarize`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import LatticeCard, StartFile
from ..field import GaugeField
from ..groups import get_group
from ..io import Ensemble, FormatError
from ..rng import ChainRNG
from .stops import RunError


def initial_field(
    lattice: LatticeCard, rng: ChainRNG, dtype: torch.dtype, device: torch.device
) -> tuple[GaugeField, dict[str, Any]]:
    """The configuration a new chain starts from and the attributes that record it (none for
    a cold or hot start; module docstring)."""
    if lattice.start == "cold":
        return GaugeField.cold(lattice.dims, lattice.group, lattice.batch, dtype, device), {}
    if lattice.start == "hot":
        return GaugeField.hot(lattice.dims, lattice.group, rng, dtype), {}
    return stored_field(lattice.start, lattice, dtype, device)


def stored_field(
    start: StartFile, lattice: LatticeCard, dtype: torch.dtype, device: torch.device
) -> tuple[GaugeField, dict[str, Any]]:
    """The configuration ``start`` names, checked against the card, and its trajectory and
    checksums as the new ensemble's ``start_trajectory`` and ``start_checksum``; a one-line
    :class:`RunError` names what does not fit."""
    where = f"lattice.start: {start.file}"
    if not Path(start.file).is_file():
        raise RunError(f"{where}: no such file")
    try:
        ens = Ensemble(start.file)
        stored = ens.trajectories()
        if not stored and ens.is_record:
            raise ens.record_error("the links of a configuration")
        if not stored:
            raise RunError(f"{where}: the ensemble holds no configuration")
        t = stored[-1] if start.trajectory is None else start.trajectory
        if t not in stored:
            raise RunError(
                f"{where}: no configuration at trajectory {t} (stored: {stored[0]}..{stored[-1]})"
            )
        links, attrs = ens.config(t, verify=True)
    except KeyError:
        raise RunError(f"{where}: configuration {t} carries no checksum to verify") from None
    except FormatError as exc:
        raise RunError(f"lattice.start: {exc}") from None
    found = {
        "group": get_group(str(ens.attrs.get("group"))).name,
        "dims": [int(L) for L in np.asarray(ens.attrs.get("dims"))],
        "batch": int(ens.attrs["batch"]) if "batch" in ens.attrs else links.shape[0],
    }
    wanted = {"group": get_group(lattice.group).name, "dims": lattice.dims, "batch": lattice.batch}
    for key, value in wanted.items():
        if found[key] != value:
            raise RunError(f"{where}: its {key} is {found[key]}, the card's {value}")
    field = GaugeField(torch.from_numpy(links).to(device=device), lattice.group)
    provenance = {"start_trajectory": int(t), "start_checksum": np.asarray(attrs["checksum"])}
    if field.links.dtype == dtype:
        return field, provenance
    return field.with_links(field.links.to(dtype)).reunitarize(), provenance
