"""Random numbers: one ``torch.Generator`` per chain.

DESIGN.md asks for one seeded generator per run. We keep one generator per *chain*, each seeded
from ``(run seed, chain index)``, so that chain ``b`` of a batched run is bit-for-bit the chain
that a run with the same seed and only chain ``b`` produces, whatever else shares the batch (this
is what makes batched runs, resumed runs with more chains and replica runs agree). The whole set
of generator states is the run's RNG state and is what checkpoints store.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


def chain_seed(seed: int, chain: int) -> int:
    """A 63-bit seed for chain ``chain`` of a run, from numpy's SeedSequence (well mixed)."""
    return int(np.random.SeedSequence([int(seed), int(chain)]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


class ChainRNG:
    """Per-chain generators; draws return tensors with a leading batch axis."""

    def __init__(self, seed: int, chains: Sequence[int] | int, device: str | torch.device = "cpu"):
        self.seed = int(seed)
        self.chains = list(range(chains)) if isinstance(chains, int) else [int(c) for c in chains]
        self.device = torch.device(device)
        self.generators = []
        for c in self.chains:
            g = torch.Generator(device=self.device)
            g.manual_seed(chain_seed(self.seed, c))
            self.generators.append(g)

    @property
    def batch(self) -> int:
        return len(self.chains)

    def per_chain(self, draw: Callable[[torch.Generator], Tensor]) -> Tensor:
        """``draw(generator_b)`` for every chain b, stacked along a new leading batch axis."""
        return torch.stack([draw(g) for g in self.generators])

    def normal(self, shape: Sequence[int], dtype=torch.float64) -> Tensor:
        """``(B, *shape)`` standard normal numbers, chain b from generator b."""
        return self.per_chain(lambda g: torch.randn(tuple(shape), generator=g, dtype=dtype,
                                                    device=self.device))

    def uniform(self, shape: Sequence[int] = (), dtype=torch.float64) -> Tensor:
        """``(B, *shape)`` uniform numbers in [0, 1)."""
        return self.per_chain(lambda g: torch.rand(tuple(shape), generator=g, dtype=dtype,
                                                   device=self.device))

    def get_state(self) -> list[Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: Sequence[Tensor]) -> None:
        if len(states) != len(self.generators):
            raise ValueError(f"RNG state holds {len(states)} chains, this run has {self.batch}")
        for g, s in zip(self.generators, states):
            g.set_state(s)
