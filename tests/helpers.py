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


def check_force(action, f, seed=4, rtol=1e-8):
    """The action's force against autograd, anti-Hermiticity, and central differences of S
    along random algebra directions X: for U -> exp(t X) U, dS/dt at t = 0 is
    2 sum_links Re Tr(F^dagger X) (F = i dS/dw_a T_a, X = i w_a T_a), with an O(h^2)
    remainder (halving h divides it by 4)."""
    from lqcd_hmc.action import autograd_force

    F = action.force(f)
    Fa = autograd_force(action, f)
    assert torch.allclose(F, Fa, atol=1e-12 * F.abs().max().item())
    assert torch.allclose(F, -F.mH)
    g = torch.Generator().manual_seed(seed)

    def central_difference(X, h):
        Sp = action(f.with_links(f.group.exp(h * X) @ f.links))
        Sm = action(f.with_links(f.group.exp(-h * X) @ f.links))
        return (Sp - Sm) / (2 * h)

    for _ in range(2):
        w = torch.randn(*f.links.shape[:-2], f.group.n_generators, generator=g, dtype=torch.float64)
        X = f.group.from_coords(w)
        analytic = 2 * (F.conj() * X).real.flatten(1).sum(1)
        # rounding of S itself limits the difference quotient to ~ eps |S| / h
        roundoff = 50 * torch.finfo(torch.float64).eps * action(f).abs() / 1e-5
        assert torch.all(
            (central_difference(X, 1e-5) - analytic).abs() <= rtol * analytic.abs() + roundoff
        )
        e1 = (central_difference(X, 2e-3) - analytic).abs()
        e2 = (central_difference(X, 1e-3) - analytic).abs()
        assert torch.all((e1 / e2 - 4).abs() < 0.1)


def check_gauge_invariance(action, f, seed=5):
    O = f.random_gauge(ChainRNG(seed, f.batch))
    S, Sg = action(f), action(f.gauge_transform(O))
    assert torch.allclose(S, Sg, rtol=1e-12, atol=1e-10)
