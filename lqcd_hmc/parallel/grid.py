"""Process grids: which block of the lattice a rank holds, and its neighbours.

A run with ``R`` replicas on a process grid ``(g_0, ..., g_{D-1})`` takes ``R prod(g)`` ranks:
rank ``r`` is replica ``r // prod(g)`` and holds grid position ``r % prod(g)`` (row-major,
last axis fastest). Axis ``mu`` of the lattice is cut into ``g_mu`` blocks of ``L_mu / g_mu``
sites; the block at grid coordinates ``c`` starts at ``c_mu L_mu / g_mu``. The neighbours along
``mu`` are the ranks at ``c +- e_mu`` (periodic).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor


class ParallelError(ValueError):
    """A process grid that does not fit the lattice or the process count (one line)."""


def check_grid(
    dims: Sequence[int], grid: Sequence[int], replicas: int, world: int, reach: int | None = None
) -> None:
    """Every problem of a grid as one :class:`ParallelError`."""
    if len(grid) != len(dims):
        raise ParallelError(
            f"parallel.grid {list(grid)} needs one entry per lattice axis ({len(dims)})"
        )
    if min(grid) < 1 or replicas < 1:
        raise ParallelError(
            f"parallel.grid entries and replicas must be >= 1, got {list(grid)}, {replicas}"
        )
    for mu, (L, g) in enumerate(zip(dims, grid)):
        if L % g:
            raise ParallelError(f"parallel.grid {list(grid)}: {g} does not divide L_{mu} = {L}")
        if g > 1 and reach is not None and L // g < reach:
            raise ParallelError(
                f"parallel.grid {list(grid)}: blocks of {L // g} sites along "
                f"axis {mu} are thinner than the action's reach {reach}"
            )
    if replicas * math.prod(grid) != world:
        raise ParallelError(
            f"parallel: {replicas} replica(s) x grid {list(grid)} need "
            f"{replicas * math.prod(grid)} processes, {world} were started"
        )


@dataclass
class Decomposition:
    """The block of the lattice ``dims`` this rank holds on ``grid``; ``group`` is the process
    group of its replica (None: the default group), ``ranks`` its global ranks in grid
    order, ``position`` this rank's index among them."""

    dims: tuple[int, ...]
    grid: tuple[int, ...]
    position: int
    ranks: list[int]
    group: dist.ProcessGroup | None = None
    coords: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.dims, self.grid = tuple(self.dims), tuple(self.grid)
        self.coords = self.coords_of(self.position)

    def coords_of(self, position: int) -> tuple[int, ...]:
        """Grid coordinates of grid position ``position`` (row-major, last axis fastest)."""
        c = []
        for g in reversed(self.grid):
            c.append(position % g)
            position //= g
        return tuple(reversed(c))

    @property
    def local_dims(self) -> tuple[int, ...]:
        return tuple(L // g for L, g in zip(self.dims, self.grid))

    @property
    def split_axes(self) -> list[int]:
        return [mu for mu, g in enumerate(self.grid) if g > 1]

    def neighbour(self, mu: int, step: int) -> int:
        """Global rank of the block ``step`` (+-1) along ``mu``."""
        c = list(self.coords)
        c[mu] = (c[mu] + step) % self.grid[mu]
        pos = 0
        for ci, g in zip(c, self.grid):
            pos = pos * g + ci
        return self.ranks[pos]

    def block(self, x: Tensor, first: int) -> Tensor:
        """This rank's block of a global tensor whose lattice axes start at ``first``."""
        for mu, (c, n) in enumerate(zip(self.coords, self.local_dims)):
            x = x.narrow(first + mu, c * n, n)
        return x.contiguous()

    def barrier(self) -> None:
        """Wait for the other ranks of this replica (no-op for one rank)."""
        if len(self.ranks) > 1:
            dist.barrier(group=self.group)

    def all_reduce(self, x: Tensor) -> Tensor:
        """Sum over the ranks of this replica (a new tensor; no autograd)."""
        y = x.detach().clone()
        if len(self.ranks) > 1:
            dist.all_reduce(y, group=self.group)
        return y

    def gather(self, x: Tensor, first: int) -> Tensor:
        """The global tensor from every rank's block (lattice axes from ``first``)."""
        if len(self.ranks) == 1:
            return x
        parts = [torch.empty_like(x) for _ in self.ranks]
        dist.all_gather(parts, x.contiguous(), group=self.group)
        out = torch.empty(
            *x.shape[:first],
            *self.dims,
            *x.shape[first + len(self.dims) :],
            dtype=x.dtype,
            device=x.device,
        )
        for pos, part in enumerate(parts):
            view = out
            for mu, (c, n) in enumerate(zip(self.coords_of(pos), self.local_dims)):
                view = view.narrow(first + mu, c * n, n)
            view.copy_(part)
        return out


def is_writer(grid: Sequence[int] | None) -> bool:
    """Whether this process writes and reports for its replica (grid position 0)."""
    return not dist.is_initialized() or dist.get_rank() % math.prod(grid or [1]) == 0


def leave_world(synchronise: bool = True) -> None:
    """Destroy the ``torch.distributed`` process group, after a barrier when ``synchronise``
    (so that no rank tears down while another still talks to it). Left to the interpreter's
    exit, Gloo's worker threads are destroyed still joinable and the C++ runtime aborts the
    process (SIGABRT, "terminate called without an active exception"), about one ``torchrun``
    launch in ten. Does nothing outside ``torch.distributed``."""
    if not dist.is_initialized():
        return
    if synchronise:
        dist.barrier()
    dist.destroy_process_group()


def layout_from_env(
    dims: Sequence[int],
    grid: Sequence[int] | None,
    replicas: int,
    reach: int | None = None,
    device: torch.device = torch.device("cpu"),
) -> tuple[int, Decomposition]:
    """``(replica, decomposition)`` of this process under ``torch.distributed`` (initialised
    here from torchrun's environment if needed: NCCL for a CUDA ``device``, each process on
    the GPU of its ``LOCAL_RANK``; Gloo on CPUs); a single process without torchrun is replica
    0 holding the whole lattice."""
    grid = tuple(grid or [1] * len(dims))
    if "WORLD_SIZE" not in os.environ and not dist.is_initialized():
        check_grid(dims, grid, replicas, 1, reach)
        return 0, Decomposition(tuple(dims), grid, 0, [0])
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    check_grid(dims, grid, replicas, world, reach)
    size = math.prod(grid)
    groups = [
        dist.new_group(list(range(r * size, (r + 1) * size))) if size > 1 else None
        for r in range(replicas)
    ]
    replica = rank // size
    ranks = list(range(replica * size, (replica + 1) * size))
    return replica, Decomposition(tuple(dims), grid, rank % size, ranks, groups[replica])
