"""Heatbath and overrelaxation: colourings, samplers against exact moments, overrelaxation
invariance and involution, exact 2D plaquettes, per-chain streams, refusal without staples."""

import math

import pytest
import torch
from helpers import random_field
from scipy.special import iv

from actions import Clover, Iwasaki, LuscherWeisz, Wilson
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.heatbath import (
    Heatbath,
    colour_masks,
    find_colouring,
    su2_heatbath_elements,
    su2_projection,
    von_mises,
)
from lqcd_hmc.paths import Sites, shift_by
from observables import gamma_method, plaquette
from observables.exact import plaquette_2d


@pytest.mark.parametrize(
    "action,dims,m",
    [
        (Wilson(1.0), (4, 4, 4, 4), 2),
        (Iwasaki(1.0), (8, 8, 8, 8), 4),
        (LuscherWeisz(1.0, -0.1, -0.02), (8, 8, 8, 8), 8),
        (Wilson(1.0), (6, 4), 2),
        (Wilson(1.0), (5, 4), 5),
    ],
)
def test_colouring_keeps_coupled_links_apart(action, dims, m):
    D = len(dims)
    for mu in range(D):
        offsets = action.coupled_offsets(D, mu)
        m_mu, w = find_colouring(dims, offsets)
        assert m_mu <= m
        masks = colour_masks(dims, m_mu, w)
        assert sum(int(k.sum()) for k in masks) == math.prod(dims)
        for mask in masks:
            for d in offsets:  # no link of a colour shares a loop with another of it
                moved = shift_by(mask[..., None, None], d, D)[..., 0, 0]
                assert not bool((mask & moved).any()), (mu, d)


def test_colouring_refuses_impossible_lattices():
    """On an extent of 2 a 1x2 rectangle wraps and holds one link twice: not linear in it."""
    with pytest.raises(ValueError, match="no colouring"):
        Heatbath(Iwasaki(1.0)).prepare((4, 4, 4, 2))


def test_heatbath_refuses_actions_without_staples():
    with pytest.raises(ValueError, match="'clover' provides no staples"):
        Heatbath(Clover(6.0))
    with pytest.raises(ValueError, match="overrelaxation"):
        Heatbath(Wilson(6.0), overrelaxation=-1)


@pytest.mark.parametrize("a", [0.3, 0.9, 1.5, 8.0])
def test_su2_sampler_moments(a):
    """x0 ~ sqrt(1 - x0^2) exp(a x0) (Creutz below a = 1, Kennedy-Pendleton above):
    <x0> = I_2(a)/I_1(a); X in SU(2); x-vector isotropic."""
    rng = ChainRNG(7, 2)
    X = su2_heatbath_elements(torch.full((2, 20000), a, dtype=torch.float64), rng)
    assert torch.allclose(X @ X.mH, torch.eye(2, dtype=X.dtype).expand_as(X), atol=1e-12)
    assert torch.allclose(torch.linalg.det(X), torch.ones(1, dtype=X.dtype), atol=1e-12)
    x0 = X[..., 0, 0].real.flatten()
    err = x0.std().item() / math.sqrt(x0.numel())
    assert abs(x0.mean().item() - iv(2, a) / iv(1, a)) < 4 * err
    x3 = X[..., 0, 0].imag.flatten()
    assert abs(x3.mean().item()) < 4 * x3.std().item() / math.sqrt(x3.numel())


@pytest.mark.parametrize("kappa", [1e-9, 0.5, 3.0, 40.0])
def test_von_mises_moments(kappa):
    rng = ChainRNG(8, 2)
    th = von_mises(torch.full((2, 20000), kappa, dtype=torch.float64), rng).flatten()
    c = torch.cos(th)
    assert th.abs().max() <= math.pi
    expect = iv(1, kappa) / iv(0, kappa)
    assert abs(c.mean().item() - expect) < 4 * c.std().item() / math.sqrt(c.numel())


@pytest.mark.parametrize(
    "action,group,D,L",
    [
        (Wilson(5.7), "SU(3)", 4, 4),
        (Iwasaki(2.5), "SU(3)", 4, 4),
        (LuscherWeisz(2.0, -0.1, -0.03), "SU(2)", 3, 8),
        (Wilson(2.2), "SU(2)", 3, 4),
        (Wilson(1.1), "U(1)", 4, 4),
    ],
)
def test_overrelaxation_keeps_action_and_is_an_involution(action, group, D, L):
    f = random_field(group, D, L=L, eps=0.9)
    hb = Heatbath(action, overrelaxation=1)
    g = hb.sweep(f, None, heatbath=False)
    S0, S1 = action(f), action(g)
    assert torch.allclose(S0, S1, rtol=1e-12), (S0, S1)
    assert (g.links - f.links).abs().max() > 1e-3  # it did move the links
    # one colour of one direction: each SU(2) step is an involution, so the steps in reverse
    # order undo the update
    links = f.links.clone()
    mask = hb.colour_masks(f.dims)[1][0]
    steps = [(i, j) for i in range(f.N) for j in range(i + 1, f.N)]
    hb.update_links(links, f.group, 1, mask, None, heatbath=False, subgroups=steps)
    assert (links - f.links).abs().max() > 1e-3
    hb.update_links(links, f.group, 1, mask, None, heatbath=False, subgroups=steps[::-1])
    assert torch.allclose(links, f.links, atol=1e-12)


@pytest.mark.parametrize("group,beta", [("U(1)", 1.5), ("SU(2)", 2.5), ("SU(3)", 4.0)])
def test_heatbath_reproduces_exact_2d_plaquette(group, beta):
    """2D on a 12^2 torus: the plaquette from the character expansion, within 3 standard
    errors (Gamma method over 8 chains, tau_int included). SU(3) runs the three SU(2)
    subgroups of Cabibbo-Marinari (a longer run, 16^2 and 1500 updates, gave 0.279743(160)
    against the exact 0.279619)."""
    rng = ChainRNG(21, 8)
    f = GaugeField.hot((12, 12), group, rng)
    hb = Heatbath(Wilson(beta), overrelaxation=1)
    series = []
    for n in range(260):
        f, _ = hb.update(f, rng)
        if n >= 20:
            series.append(plaquette(f))
    r = gamma_method(torch.stack(series, 1).numpy())
    exact = plaquette_2d(group, beta, 144)
    assert abs(r.mean - exact) < 3 * r.error, (r, exact)
    assert r.error < 0.004


def test_batched_chains_equal_single_chains():
    rng = ChainRNG(3, 3)
    f = GaugeField.hot((4, 4, 4), "SU(3)", rng)
    hb = Heatbath(Wilson(4.0), overrelaxation=2)
    for _ in range(2):
        f, _ = hb.update(f, rng)
    one = ChainRNG(3, [2])
    g = GaugeField.hot((4, 4, 4), "SU(3)", one)
    for _ in range(2):
        g, _ = hb.update(g, one)
    assert torch.equal(f.links[2], g.links[0])


def test_subgroup_updates_are_the_matrix_products_of_cabibbo_marinari():
    """``update_links`` rotates rows in place from the quaternion components; for one
    subgroup (0, 2) this is ``U -> r U`` on rows 0, 2 with ``r = X V^dagger`` built from the
    2x2 matrices (:func:`su2_projection` of ``W = U A``, :func:`su2_heatbath_elements` drawing
    its uniforms one draw after the other), and ``r = (V^dagger)^2`` for overrelaxation."""
    f = random_field("SU(3)", 4, eps=0.9)
    hb = Heatbath(Wilson(5.7))
    mu, mask = 1, hb.colour_masks(f.dims)[1][0]
    sites = mask.flatten().nonzero()[:, 0]
    U = f.links[:, mu].flatten(1, 4)[:, sites]
    W = U @ Wilson(5.7).staples(f, mu, Sites(sites, f.dims))
    k, V = su2_projection(W[..., [0, 2], :][..., :, [0, 2]])
    for heatbath in (True, False):
        r = su2_heatbath_elements(2 * k, ChainRNG(4, 2)) @ V.mH if heatbath else V.mH @ V.mH
        expect = U.clone()
        expect[..., [0, 2], :] = r @ U[..., [0, 2], :]
        links = f.links.clone()
        rng = ChainRNG(4, 2) if heatbath else None
        hb.update_links(links, f.group, mu, mask, rng, heatbath, subgroups=[(0, 2)])
        got = links[:, mu].flatten(1, 4)[:, sites]
        assert (got - U).abs().max() > 1e-2
        assert (got - expect).abs().max() < 1e-12


def test_one_draw_for_all_subgroups_is_a_draw_per_subgroup():
    """``update_links`` draws the Philox uniforms of all SU(2) subgroups at once; they are the
    numbers of one draw per subgroup in turn (4 per site for x0, then 2 for the direction):
    the three subgroups in one call and in three calls give the same links (to rounding: the
    calls recompute ``W = U A``) and leave the streams in the same state."""
    f = random_field("SU(3)", 4, eps=0.9)
    hb = Heatbath(Wilson(5.7))
    mask = hb.colour_masks(f.dims)[2][1]
    together, apart = f.links.clone(), f.links.clone()
    rng_t, rng_a = ChainRNG(9, 2), ChainRNG(9, 2)
    hb.update_links(together, f.group, 2, mask, rng_t, heatbath=True)
    for ij in [(0, 1), (0, 2), (1, 2)]:
        hb.update_links(apart, f.group, 2, mask, rng_a, heatbath=True, subgroups=[ij])
    assert (together - f.links).abs().max() > 1e-2  # the links moved
    assert (together - apart).abs().max() < 1e-12
    assert torch.equal(rng_t.counters, rng_a.counters)
    for g_t, g_a in zip(rng_t.generators, rng_a.generators):
        assert torch.equal(g_t.get_state(), g_a.get_state())
