import math

import pytest
import torch
from helpers import GROUPS_DIMS, check_force, random_field

from actions import Wilson, build
from lqcd_hmc.field import GaugeField
from lqcd_hmc.lattice import shift
from lqcd_hmc.loops import plaquette_staples
from lqcd_hmc.rng import ChainRNG
from lqcd_hmc.smooth import abelian_flux
from observables import plaquette


def test_cold_field_shapes_and_values():
    f = GaugeField.cold([4, 3, 2, 5], "SU(3)", batch=3)
    assert f.links.shape == (3, 4, 4, 3, 2, 5, 3, 3)
    assert (f.batch, f.D, f.dims, f.N, f.volume) == (3, 4, (4, 3, 2, 5), 3, 120)
    assert torch.allclose(plaquette(f), torch.ones(3, dtype=torch.float64))
    assert torch.all(Wilson(6.0)(f) == 0)
    f64 = f.to(dtype="complex64")
    assert f64.dtype == torch.complex64 and Wilson(6.0)(f64).dtype == torch.float64


def test_hot_field_in_group_and_bad_input():
    f = random_field("SU(3)", 4)
    assert f.unitarity_violation().max() < 1e-13
    with pytest.raises(ValueError):
        GaugeField.cold([4, 1], "SU(2)")
    with pytest.raises(ValueError):
        GaugeField.cold([4, 4, 4, 4, 4], "SU(2)")
    with pytest.raises(ValueError):
        GaugeField(torch.zeros(1, 2, 4, 4, 3, 3, dtype=torch.complex128), "SU(2)")
    with pytest.raises(ValueError):
        GaugeField.cold([4, 4], "SU(2)", dtype="float32")


@pytest.mark.parametrize("group,D", GROUPS_DIMS)
def test_gauge_invariance(group, D):
    """Wilson action and plaquette unchanged by a random gauge transformation (1e-12 rel.)."""
    f = random_field(group, D)
    O = f.random_gauge(ChainRNG(99, 2))
    g = f.gauge_transform(O)
    assert not torch.allclose(g.links, f.links)
    S, Sg = Wilson(2.0)(f), Wilson(2.0)(g)
    assert torch.allclose(Sg, S, rtol=1e-12, atol=0)
    assert torch.allclose(plaquette(g), plaquette(f), rtol=1e-12, atol=0)
    # the force transforms covariantly: F(x) -> O(x) F(x) O(x)^dagger
    F, Fg = Wilson(2.0).force(f), Wilson(2.0).force(g)
    assert torch.allclose(Fg, O[:, None] @ F @ O[:, None].mH, atol=1e-12)


@pytest.mark.parametrize("group,D", [("SU(3)", 4), ("U(1)", 2)])
def test_translation_invariance(group, D):
    f = random_field(group, D)
    for mu in range(D):
        shifted = f.with_links(torch.roll(f.links, 1, dims=2 + mu))
        assert torch.allclose(Wilson(3.0)(shifted), Wilson(3.0)(f), rtol=1e-13)


@pytest.mark.parametrize("group,N", [("U(1)", 1), ("SU(2)", 2), ("SU(3)", 3)])
def test_constant_flux_exact_action(group, N):
    """Constant abelian flux: every (0,1) plaquette is exp(i phi H), the others are 1, so
    S_W = (beta/N) V (2 - 2 cos phi) for SU(N) and beta V (1 - cos phi) for U(1)."""
    dims, n, beta = [6, 4, 3, 2], 2, 5.0
    f = abelian_flux(dims, group, n)
    phi = 2 * math.pi * n / (dims[0] * dims[1])
    V = math.prod(dims)
    per_plaq = (1 - math.cos(phi)) if N == 1 else 2 * (1 - math.cos(phi))
    assert math.isclose(Wilson(beta)(f).item(), beta / N * V * per_plaq, rel_tol=1e-13)
    expect_P = 1 - per_plaq / (N * 6)  # one of the six planes carries the flux
    assert math.isclose(plaquette(f).item(), expect_P, rel_tol=1e-14)


@pytest.mark.parametrize("group,D", GROUPS_DIMS + [("SU(4)", 3)])
def test_wilson_force_closed_form_autograd_and_finite_differences(group, D):
    """Closed form = autograd force = central differences with O(h^2) convergence."""
    check_force(Wilson(4.0), random_field(group, D, eps=0.5))


def test_staples_reproduce_action():
    """Staples carry beta/N, and sum_x,mu Re Tr(U_mu A_mu) counts each plaquette four times:
    S_W = (beta/N) N n_plaq - (1/4) sum_x,mu Re Tr(U_mu A_mu)."""
    f = random_field("SU(3)", 4)
    W = Wilson(5.5)
    total = sum(
        (f[mu] @ W.staples(f, mu)).diagonal(dim1=-2, dim2=-1).sum(-1).real.flatten(1).sum(1)
        for mu in range(4)
    )
    n_plaq = f.volume * 6
    assert torch.allclose(W(f), 5.5 * n_plaq - total / 4, rtol=1e-13)
    assert W.has_staples
    # and the force is the projected staple product F_mu = Pi(U_mu A_mu)/2
    UA = torch.stack([f[mu] @ W.staples(f, mu) for mu in range(4)], dim=1)
    assert torch.allclose(W.force(f), 0.5 * f.group.project_algebra(UA), atol=1e-13)


def test_staple_is_covariant():
    f = random_field("SU(2)", 3)
    O = f.random_gauge(ChainRNG(5, 2))
    g = f.gauge_transform(O)
    for mu in range(3):
        A, Ag = plaquette_staples(f.links, mu), plaquette_staples(g.links, mu)
        # A_mu(x) -> O(x+mu) A_mu(x) O(x)^dagger
        assert torch.allclose(Ag, shift(O, mu, 1, 3) @ A @ O.mH, atol=1e-13)


def test_complex64_accumulates_in_float64():
    f = random_field("SU(3)", 4, eps=0.3)
    S128 = Wilson(6.0)(f)
    S64 = Wilson(6.0)(f.to(dtype="complex64"))
    assert S64.dtype == torch.float64
    assert torch.allclose(S64, S128, rtol=1e-6)


def test_registry_builds_wilson():
    a = build({"name": "wilson", "beta": 5.7})
    assert isinstance(a, Wilson) and a.beta == 5.7
    assert a.config() == {"name": "wilson", "beta": 5.7}
    with pytest.raises(ValueError, match="unknown action"):
        build({"name": "no-such-action"})
    with pytest.raises(ValueError, match="bad parameters"):
        build({"name": "wilson", "kappa": 1})
    s = build(
        {"name": "sum", "terms": [{"name": "wilson", "beta": 1.0}, {"name": "wilson", "beta": 2.0}]}
    )
    f = random_field("SU(2)", 2)
    assert torch.allclose(s(f), Wilson(3.0)(f)) and torch.allclose(s.force(f), Wilson(3.0).force(f))
