"""What a run needs in memory and on disk, estimated from its card before any work, and refused
in one line when the machine does not have it.

* Memory: the link field ``B D V N^2`` complex numbers, plus the link field of the chains one
  force pass takes (``Action.max_batch``, default all) times the update's working-memory factor
  (:meth:`lqcd_hmc.update.Update.working_memory`: the peak growth of one update in units of
  the link field, measured by ``bench/memory.py``).
* Disk: the ensemble file at the end (stored configurations and the checkpoint) twice, as the
  final pack writes a complete copy before it replaces the file (:mod:`lqcd_hmc.io.atomic`),
  less what the file already holds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

GB = 1e9


def _gb(nbytes: float) -> str:
    """``"12,000 GB"``, ``"14.7 GB"``, ``"0.0012 GB"``."""
    x = nbytes / GB
    return f"{x:,.0f} GB" if x >= 100 else f"{x:.3g} GB"


def link_bytes(dims: Sequence[int], N: int, batch: int, dtype: torch.dtype) -> int:
    """Bytes of a link field ``(B, D, *dims, N, N)`` of ``dtype``."""
    volume = 1
    for d in dims:
        volume *= int(d)
    itemsize = torch.empty((), dtype=dtype).element_size()
    return batch * len(dims) * volume * N * N * itemsize


def available_memory(device: torch.device) -> int | None:
    """Free memory of ``device`` in bytes (None when it cannot be told)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk(path: Path) -> int:
    """Free bytes on the file system that holds (or will hold) ``path``."""
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    return shutil.disk_usage(parent).free


def check_run_resources(
    *,
    dims: Sequence[int],
    N: int,
    batch: int,
    dtype: torch.dtype,
    device: torch.device,
    factor: float,
    per_pass: int,
    configurations: int,
    output: Path,
) -> None:
    """Refuse (``ValueError``, one line with the estimate) a run whose links plus ``factor``
    times the links of ``per_pass`` chains exceed the free memory, or whose ``configurations``
    stored configurations (plus the checkpoint) exceed the free disk of ``output``."""
    links = link_bytes(dims, N, batch, dtype)
    working = factor * link_bytes(dims, N, min(batch, per_pass), dtype)
    lattice = f"{'x'.join(map(str, dims))} x {batch} chains"
    need = links + working
    have = available_memory(device)
    if have is not None and need > have:
        raise ValueError(
            f"{lattice} needs about {_gb(need)} of {device.type} memory (links "
            f"{_gb(links)}, {_gb(working)} while updating), {_gb(have)} available"
        )
    final = (configurations + 1) * links
    existing = output.stat().st_size if output.exists() else 0
    disk = 2 * final - existing
    free = free_disk(output)
    if disk > free:
        raise ValueError(
            f"{output}: {configurations} configurations of {lattice} need about "
            f"{_gb(disk)} of disk (the file {_gb(final)}, twice while it is packed), "
            f"{_gb(free)} free"
        )
