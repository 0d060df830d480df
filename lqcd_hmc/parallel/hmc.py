"""HMC on a decomposed lattice: every rank holds its block of the links and momenta.

The momenta are drawn for the whole lattice from the chains' generators (identical on every
rank) and each rank keeps its block, so a decomposed trajectory is the single-process one up to
the order of floating-point sums; the kinetic energy and the action are all-reduced, so every
rank takes the same Metropolis decision from the same random number, on the device.
"""

from __future__ import annotations

from torch import Tensor

from ..field import GaugeField
from ..hmc import HMC, kinetic_energy
from ..rng import ChainRNG
from .grid import Decomposition
from .halo import DistributedAction


class DistributedHMC(HMC):
    """:class:`~lqcd_hmc.hmc.HMC` with a :class:`DistributedAction`."""

    def __init__(self, action: DistributedAction, **kwargs):
        super().__init__(action, **kwargs)
        self.layout: Decomposition = action.layout

    def momenta(self, field: GaugeField, rng: ChainRNG) -> Tensor:
        p = rng.normal((field.D, *self.layout.dims, field.group.n_generators))
        return field.group.from_coords(self.layout.block(p, 2), field.dtype)

    def kinetic(self, P: Tensor) -> Tensor:
        return self.layout.all_reduce(kinetic_energy(P))
