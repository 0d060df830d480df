"""Shared test helpers (tests/ is on sys.path under pytest's default import mode)."""
import torch

from lqcd_hmc.field import GaugeField
from lqcd_hmc.rng import ChainRNG

GROUPS_DIMS = [("SU(2)", 2), ("SU(2)", 4), ("SU(3)", 2), ("SU(3)", 4), ("U(1)", 2), ("U(1)", 4)]


def random_field(group, D, L=4, eps=None, seed=1, batch=2, dtype=torch.complex128):
    """Haar-random (eps=None) or near-identity links on an L^D lattice."""
    rng = ChainRNG(seed, batch)
    if eps is None:
        return GaugeField.hot([L] * D, group, rng, dtype=dtype)
    return GaugeField.near_identity([L] * D, group, rng, eps, dtype=dtype)
