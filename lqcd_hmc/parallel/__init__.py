"""Runs beyond one process, on ``torch.distributed`` (Gloo on CPUs, NCCL on GPUs), launched by
``torchrun``: replicas (independent ensembles, one seed each) and domain decomposition (one
lattice split over a process grid, halo exchange with autograd, global sums by all-reduce)."""

from .grid import Decomposition, ParallelError, layout_from_env, leave_world
from .halo import DistributedAction, DistributedPlaquette, extend
from .hmc import DistributedHMC

__all__ = [
    "Decomposition",
    "ParallelError",
    "layout_from_env",
    "leave_world",
    "DistributedAction",
    "DistributedPlaquette",
    "extend",
    "DistributedHMC",
]
