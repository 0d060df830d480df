"""Random numbers: one stream per chain.

(docs/conventions.md, section 6.) Not one generator per run: one stream per *chain*, keyed by
``(run seed, chain index)``, so that chain ``b`` of a batched run is bit-for-bit the chain that a
run with the same seed and only chain ``b`` produces, whatever else shares the batch (this is
what makes batched runs, resumed runs with more chains and replica runs agree).

Each chain has two sources, both seeded from its key:

- a counter-based Philox4x32-10 stream (Salmon, Moraes, Dror, Shaw, "Parallel random numbers:
  as easy as 1, 2, 3", SC'11), evaluated for all chains at once with integer tensor
  arithmetic on the device: :meth:`ChainRNG.uniform` and :meth:`ChainRNG.normal`, used inside
  trajectories and sweeps (no per-chain Python work, no host synchronisation);
- a ``torch.Generator`` for the rest (:meth:`ChainRNG.per_chain`: start fields, gauge
  transformations, the heatbath's rejection re-draws of single sites).

The run's RNG state, which checkpoints store, is per chain the generator's state followed by
the 8 bytes of the Philox block counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


def chain_seed(seed: int, chain: int) -> int:
    """A 63-bit seed for chain ``chain`` of a run, from numpy's SeedSequence (well mixed)."""
    return int(
        np.random.SeedSequence([int(seed), int(chain)]).generate_state(1, np.uint64)[0]
        >> np.uint64(1)
    )


#: version of the random streams, stored with every ensemble; a run refuses to continue a file
#: drawn from another version (1: uniforms with 24 bits, 1.0 possible; 2: 53 bits in [0, 1))
RNG_STREAMS = 2

_MASK = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments


def _mulhilo(m: int, x: Tensor) -> tuple[Tensor, Tensor]:
    """High and low 32 bits of ``m x`` for 32-bit ``x`` held in int64 (the product, below
    2^64, wraps in int64; its bit pattern, hence both halves, is exact)."""
    p = x * m
    return (p >> 32) & _MASK, p & _MASK


def philox4x32(counter: Sequence[Tensor], key: Sequence[Tensor], rounds: int = 10) -> list[Tensor]:
    """Philox4x32 of four 32-bit counter words under a two-word key (int64 tensors holding
    values in [0, 2^32), broadcast together); returns the four output words."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return [c0, c1, c2, c3]


class ChainRNG:
    """Per-chain streams; draws return tensors with a leading batch axis."""

    def __init__(self, seed: int, chains: Sequence[int] | int, device: str | torch.device = "cpu"):
        self.seed = int(seed)
        self.chains = list(range(chains)) if isinstance(chains, int) else [int(c) for c in chains]
        self.device = torch.device(device)
        self.generators = []
        seeds = [chain_seed(self.seed, c) for c in self.chains]
        for s in seeds:
            g = torch.Generator(device=self.device)
            g.manual_seed(s)
            self.generators.append(g)
        self.keys = torch.tensor(
            [[s & _MASK, s >> 32] for s in seeds], dtype=torch.int64, device=self.device
        ).view(-1, 2)
        self.counters = torch.zeros(len(seeds), dtype=torch.int64, device=self.device)

    @property
    def batch(self) -> int:
        return len(self.chains)

    def per_chain(self, draw: Callable[[torch.Generator], Tensor]) -> Tensor:
        """``draw(generator_b)`` for every chain b, stacked along a new leading batch axis."""
        return torch.stack([draw(g) for g in self.generators])

    def bits(self, n: int) -> Tensor:
        """``(B, n)`` random 32-bit words (int64) from each chain's Philox stream: blocks
        ``counter, counter + 1, ...`` of four words, then the counter moves past them."""
        blocks = -(-n // 4)
        ctr = self.counters[:, None] + torch.arange(blocks, device=self.device)
        zero = torch.zeros_like(ctr)
        out = philox4x32([ctr & _MASK, ctr >> 32, zero, zero], [self.keys[:, :1], self.keys[:, 1:]])
        self.counters = self.counters + blocks
        return torch.stack(out, dim=-1).flatten(1)[:, :n]

    def uniform(self, shape: Sequence[int] = (), dtype=torch.float64) -> Tensor:
        """``(B, *shape)`` uniform numbers in [0, 1): 53 random bits from two words for
        float64, 24 from one for float32."""
        n = math.prod(shape)
        if dtype == torch.float64:
            w = self.bits(2 * n)
            k = (w[:, 0::2] >> 5) * 2**26 + (w[:, 1::2] >> 6)  # int64 in [0, 2^53)
        else:
            k = self.bits(n) >> 8  # [0, 2^24)
        # the integers convert to float64 exactly; an int tensor times a Python float would
        # be computed in float32 (torch's default dtype): 24 bits, and u = 1.0 possible
        u = k.to(torch.float64) * 2.0 ** -(53 if dtype == torch.float64 else 24)
        return u.to(dtype).view(self.batch, *shape)

    def normal(self, shape: Sequence[int], dtype=torch.float64) -> Tensor:
        """``(B, *shape)`` standard normal numbers by Box-Muller from float64 uniforms."""
        n = math.prod(shape)
        m = -(-n // 2)
        u = self.uniform((2 * m,))
        r = torch.sqrt(-2.0 * torch.log1p(-u[:, :m]))
        phi = 2.0 * math.pi * u[:, m:]
        z = torch.cat((r * torch.cos(phi), r * torch.sin(phi)), dim=1)[:, :n]
        return z.to(dtype).view(self.batch, *shape)

    def get_state(self) -> list[Tensor]:
        counters = self.counters.cpu()
        return [
            torch.cat((g.get_state(), counters[b : b + 1].view(torch.uint8)))
            for b, g in enumerate(self.generators)
        ]

    def set_state(self, states: Sequence[Tensor]) -> None:
        if len(states) != len(self.generators):
            raise ValueError(f"RNG state holds {len(states)} chains, this run has {self.batch}")
        size = self.generators[0].get_state().numel() + 8
        if any(s.numel() != size for s in states):
            raise ValueError(
                f"RNG state of {states[0].numel()} bytes per chain, expected "
                f"{size} (written by another version of lqcd-hmc?)"
            )
        for g, s in zip(self.generators, states):
            g.set_state(s[:-8].contiguous())
        self.counters = torch.cat([s[-8:].contiguous().view(torch.int64) for s in states]).to(
            self.device
        )
