"""Improved gauge actions: gauge invariance, forces, staples, the Wilson limit and the
continuum normalisation on constant abelian flux."""

import math

import pytest
import torch
from helpers import check_force, check_gauge_invariance, random_field

from actions import (
    DBW2,
    Clover,
    Iwasaki,
    LoopAction,
    LuscherWeisz,
    Symanzik,
    TadpoleSymanzik,
    Wilson,
    build,
)
from lqcd_hmc.action import staple_force
from lqcd_hmc.field import GaugeField
from lqcd_hmc.paths import Sites
from lqcd_hmc.rng import ChainRNG
from lqcd_hmc.smooth import abelian_flux

ACTIONS = [
    LuscherWeisz(5.0, -0.2, -0.05),
    Symanzik(4.2),
    TadpoleSymanzik(7.0, 0.87, True),
    Iwasaki(2.6),
    DBW2(1.0),
    Clover(6.0),
]
IDS = [a.name for a in ACTIONS]


@pytest.mark.parametrize("action", ACTIONS, ids=IDS)
@pytest.mark.parametrize("group,D", [("SU(3)", 4), ("SU(2)", 3), ("U(1)", 3)])
def test_gauge_invariance_and_force(action, group, D):
    f = random_field(group, D, eps=0.6)
    check_gauge_invariance(action, f)
    check_force(action, f)


@pytest.mark.parametrize(
    "action", [a for a in ACTIONS if a.has_staples], ids=[a.name for a in ACTIONS if a.has_staples]
)
def test_staples_give_the_change_of_one_link(action):
    """Linear in each link: replacing U_mu(x) by V changes S by -Re Tr((V - U) A_mu(x))."""
    f = random_field("SU(3)", 4, L=4, batch=1)
    g = torch.Generator().manual_seed(3)
    for mu, x in ((0, (1, 2, 3, 0)), (3, (0, 0, 1, 2))):
        A = action.staples(f, mu)[(0, *x)]
        U = f.links[(0, mu, *x)]
        V = f.group.random_haar((), g)
        links = f.links.clone()
        links[(0, mu, *x)] = V
        dS = action(f.with_links(links)) - action(f)
        expect = -((V - U) @ A).diagonal().sum().real
        assert torch.allclose(dS, expect.unsqueeze(0), rtol=1e-10, atol=1e-10)
    # and the force from the staples is the action's force
    f = random_field("SU(2)", 3, eps=0.7)
    assert torch.allclose(staple_force(action, f), action.force(f), atol=1e-12)


@pytest.mark.parametrize("action", [Wilson(5.7), *[a for a in ACTIONS if a.has_staples]])
def test_staples_at_sites_are_the_whole_lattice_staples_there(action):
    """``staples(field, mu, sites)`` (the heatbath's colours, gathered loop by loop) equals the
    whole-lattice staples indexed at ``sites`` to rounding, for a quarter, half and five of
    the sites, in a batch of two chains on 4x4x6x4."""
    f = GaugeField.hot([4, 4, 6, 4], "SU(3)", ChainRNG(6, 2))
    g = torch.Generator().manual_seed(6)
    V = 4 * 4 * 6 * 4
    for mu in range(4):
        full = action.staples(f, mu).flatten(1, 4)
        for n in (V // 4, V // 2, 5):
            sites = torch.randperm(V, generator=g)[:n]
            part = action.staples(f, mu, Sites(sites, f.dims))
            assert part.shape == (2, n, 3, 3)
            assert (part - full[:, sites]).abs().max() < 1e-13


def test_family_members_and_wilson_limit():
    f = random_field("SU(3)", 4, eps=0.8)
    assert torch.allclose(LuscherWeisz(5.5, 0.0)(f), Wilson(5.5)(f), rtol=1e-13)
    assert torch.allclose(LuscherWeisz(5.5, 0.0).staples(f, 2), Wilson(5.5).staples(f, 2))
    # the family's fast evaluation (shared lines) equals the generic path products
    lw = LuscherWeisz(5.5, -0.2, -0.05)
    assert torch.allclose(lw(f), LoopAction.density(lw, f).flatten(1).sum(1), rtol=1e-13)
    for a, c1 in ((Symanzik(4.0), -1 / 12), (Iwasaki(4.0), -0.331), (DBW2(4.0), -1.4088)):
        assert torch.allclose(a(f), LuscherWeisz(4.0, c1)(f), rtol=1e-13)
        assert math.isclose(a.c0, 1 - 8 * c1)
    # tadpole improvement: tree level at u0 = 1 is Symanzik; one loop adds the parallelogram
    assert torch.allclose(TadpoleSymanzik(4.0, 1.0)(f), Symanzik(4.0)(f), rtol=1e-13)
    t = TadpoleSymanzik(4.0, 0.86, one_loop=True)
    a_s = -4 * math.log(0.86) / 3.06839
    assert math.isclose(t.c1 / t.c0, -(1 + 0.4805 * a_s) / (20 * 0.86**2))
    assert math.isclose(t.c2 / t.c0, -0.03325 * a_s / 0.86**2)
    assert math.isclose(t.c0 + 8 * t.c1 + 8 * t.c2, 1.0)
    for name in ("symanzik", "iwasaki", "dbw2", "clover"):
        assert build({"name": name, "beta": 3.0}).config() == {"name": name, "beta": 3.0}
    assert build(
        {"name": "luscher_weisz", "beta": 3.0, "c1": -0.1, "c2": 0.01}
    ).c0 == pytest.approx(1 - 8 * (-0.1) - 8 * 0.01)
    with pytest.raises(ValueError, match="u0"):
        TadpoleSymanzik(4.0, 1.3)


def test_cold_field_has_zero_action():
    f = GaugeField.cold([4, 4, 4, 4], "SU(3)")
    for a in ACTIONS:
        assert a(f).abs().max() < 1e-12


@pytest.mark.parametrize("action", ACTIONS + [Wilson(5.0)], ids=IDS + ["wilson"])
@pytest.mark.parametrize("group", ["SU(3)", "U(1)"])
def test_continuum_normalisation_on_constant_flux(action, group):
    """For a constant abelian flux with plaquette angle phi * H, every action approaches
    the continuum (beta/N) V sum_c (phi h_c)^2 / 2 with relative corrections O(phi^2)."""
    dims = [16, 16, 2, 2]
    hsq = 2.0 if group != "U(1)" else 1.0
    N = 3 if group == "SU(3)" else 1
    dev = []
    for n in (1, 2):
        f = abelian_flux(dims, group, n, 0, 1)
        phi = 2 * math.pi * n / 256
        cont = action.beta / N * 1024 * phi**2 * hsq / 2
        dev.append(abs(action(f).item() / cont - 1))
        assert dev[-1] < 5 * (1 + 8 * abs(getattr(action, "c1", 0))) * phi**2
        assert action(f).item() == pytest.approx(
            exact_flux_action(action, phi, group, 1024), rel=1e-12
        )
    assert 3.0 < dev[1] / dev[0] < 5.0  # O(phi^2): doubling the flux quadruples it


def exact_flux_action(action, phi, group, V):
    """Closed forms on the constant flux phi * h in the (0, 1) plane of a D = 4 lattice: each
    abelian loop carries the flux of its projected area. Per site and colour: plaquette
    1 - cos(phi h); two rectangles 1 - cos(2 phi h); eight parallelograms (triples (0,1,2),
    (0,1,3), four each) 1 - cos(phi h); clover F = sin(phi h), S = Tr F^2 / 2."""
    h = [1.0, -1.0, 0.0] if group == "SU(3)" else [1.0]
    N = len(h)
    per_site = 0.0
    for hc in h:
        one = 1 - math.cos(phi * hc)
        if isinstance(action, Clover):
            per_site += math.sin(phi * hc) ** 2 / 2
        elif isinstance(action, LuscherWeisz):
            per_site += (
                action.c0 * one + 2 * action.c1 * (1 - math.cos(2 * phi * hc)) + 8 * action.c2 * one
            )
        else:
            per_site += one
    return action.beta / N * V * per_site
