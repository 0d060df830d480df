"""Temporal Wilson loops (on- and off-axis, smeared spatial lines), Polyakov-loop correlators
and the exact 2D area law on a torus (U(1) and SU(2), heatbath ensembles)."""

import math

import pytest
import torch
from helpers import random_field

from actions import Wilson
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.smearing import ape
from lqcd_hmc.smooth import abelian_flux
from lqcd_hmc.statistics import gamma_method
from observables.exact import plaquette_2d, wilson_loop_2d
from observables.loops import polyakov_correlator, polyakov_loop, temporal_loops, wilson_loops

SHAPES = [(1, 0), (2, 0), (1, 1), (2, 1), (3, 2)]


def test_cold_field_gives_one():
    cold = GaugeField.cold([4, 4, 4, 6], "SU(3)", batch=2)
    assert torch.allclose(temporal_loops(cold, SHAPES, 3), torch.ones(2, 5, 3, dtype=torch.float64))
    assert torch.allclose(polyakov_correlator(cold), torch.ones(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("group,D", [("SU(3)", 4), ("SU(2)", 3), ("U(1)", 3)])
def test_gauge_invariant_with_and_without_smearing(group, D):
    f = random_field(group, D, eps=0.7)
    O = f.random_gauge(ChainRNG(3, 2))
    g = f.gauge_transform(O)
    assert torch.allclose(temporal_loops(g, SHAPES, 3), temporal_loops(f, SHAPES, 3), atol=1e-13)
    sf, sg = ape(f, 0.5, 3, spatial=True), ape(g, 0.5, 3, spatial=True)
    smeared = temporal_loops(f, SHAPES, 3, sf)
    assert torch.allclose(temporal_loops(g, SHAPES, 3, sg), smeared, atol=1e-12)
    assert not torch.allclose(smeared, temporal_loops(f, SHAPES, 3))
    assert torch.allclose(polyakov_correlator(g), polyakov_correlator(f), atol=1e-13)


def test_on_axis_agrees_with_the_rectangle_loops():
    """Two implementations: the line-and-shift R x T loops and the path-product loops."""
    f = random_field("SU(3)", 4, eps=0.8)
    W = temporal_loops(f, [(1, 0), (2, 0), (3, 0)], 3)
    for r in (1, 2, 3):
        for T in (1, 2, 3):
            assert torch.allclose(W[:, r - 1, T - 1], wilson_loops(f, r, T, "temporal"), atol=1e-14)


def test_off_axis_loops_on_temporal_flux():
    """Constant flux phi in the (0, 3) plane: a loop with spatial displacement (a, b) along
    axes (i, j) encloses flux a T phi in plane (i, 3) when i = 0, none otherwise; the orbit
    average over the 12 displacements a e_i + s b e_j (b along 0 in 4 of them) gives
    [4 cos(a T phi) + 4 cos(b T phi) + 4] / 12 for SU(2) (Re Tr e^{i x H}/2 = cos x)."""
    L = 6
    f = abelian_flux([L, L, L, L], "SU(2)", 1, 0, 3)
    phi = 2 * math.pi / L**2
    W = temporal_loops(f, [(2, 1), (1, 0)], 2)
    for T in (1, 2):
        expect = (4 * math.cos(2 * T * phi) + 4 * math.cos(T * phi) + 4) / 12
        assert math.isclose(W[0, 0, T - 1].item(), expect, rel_tol=1e-12)
        assert math.isclose(W[0, 1, T - 1].item(), (math.cos(T * phi) + 2) / 3, rel_tol=1e-12)


def test_polyakov_correlator_at_zero_distance():
    f = random_field("SU(3)", 4, eps=0.9)
    C = polyakov_correlator(f, 2)
    P = polyakov_loop(f)
    assert C.shape == (2, 3)
    # C(0) = <|P(x)|^2> >= |<P(x)>|^2
    assert (C[:, 0] >= P.abs() ** 2 - 1e-14).all()


@pytest.mark.parametrize("group,beta", [("U(1)", 2.0), ("SU(2)", 3.0)])
def test_2d_exact_area_law_on_the_torus(group, beta):
    """2D Wilson theory on a 6 x 6 torus: W(R, T) against the exact character sum (torus
    corrections included) within 3 standard errors (Gamma method, 16 chains as replicas)."""
    L = 6
    rng = ChainRNG(21, 16)
    f = GaugeField.hot([L, L], group, rng)
    hb = Heatbath(Wilson(beta), overrelaxation=1)
    hb.prepare([L, L])
    for _ in range(30):
        f, _ = hb.update(f, rng)
    shapes = [(1, 0), (2, 0), (3, 0)]
    series = []
    for _ in range(300):
        f, _ = hb.update(f, rng)
        series.append(temporal_loops(f, shapes, 3))
    data = torch.stack(series).numpy()  # (n, B, R, T)
    for i, (R, _) in enumerate(shapes):
        for T in (1, 2, 3):
            r = gamma_method(data[:, :, i, T - 1].T)
            exact = wilson_loop_2d(group, beta, L * L, R * T)
            assert abs(r.mean - exact) < 3 * r.error, (R, T, r, exact)
    assert math.isclose(
        wilson_loop_2d(group, beta, L * L, 1), plaquette_2d(group, beta, L * L), rel_tol=1e-12
    )


def test_exact_2d_loops_limits():
    from scipy.special import iv

    for beta in (1.0, 3.0):
        assert math.isclose(
            wilson_loop_2d("U(1)", beta, 10**6, 3), (iv(1, beta) / iv(0, beta)) ** 3, rel_tol=1e-9
        )
        assert math.isclose(
            wilson_loop_2d("SU(2)", beta, 10**6, 3), (iv(2, beta) / iv(1, beta)) ** 3, rel_tol=1e-9
        )
        assert wilson_loop_2d("SU(2)", beta, 36, 0) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError):
        wilson_loop_2d("SU(3)", 1.0, 36, 2)
    with pytest.raises(ValueError):
        wilson_loop_2d("U(1)", 1.0, 36, 40)


def test_bad_shapes():
    f = GaugeField.cold([4, 4], "U(1)")
    with pytest.raises(ValueError):
        temporal_loops(f, [(1, 1)], 2)
    with pytest.raises(ValueError):
        temporal_loops(f, [(0, 0)], 2)
    with pytest.raises(ValueError, match="wraps"):
        temporal_loops(f, [(4, 0)], 2)
    with pytest.raises(ValueError, match="T < L_t"):
        temporal_loops(f, [(1, 0)], 4)


def test_polyakov_correlator_exact_on_abelian_temporal_links():
    """SU(2) time links exp(i theta(x_0) H) on the t = 0 slice only: P(x) = cos theta(x_0), so
    C(r) = (1/3)[mean_x cos th(x0) cos th(x0 + r) + 2 mean_x cos^2 th(x0)] exactly."""
    L = 6
    theta = torch.linspace(0.1, 2.9, L, dtype=torch.float64)
    f = GaugeField.cold([L, 4, 4, 5], "SU(2)")
    links = f.links.clone()
    ph = torch.polar(torch.ones(L, dtype=torch.float64), theta)
    U = torch.diag_embed(torch.stack([ph, ph.conj()], -1))  # (L, 2, 2)
    links[0, 3, :, :, :, 0] = U[:, None, None]
    f = f.with_links(links)
    c = torch.cos(theta)
    expect = [((c * torch.roll(c, -r)).mean() + 2 * (c * c).mean()) / 3 for r in range(3)]
    assert torch.allclose(polyakov_correlator(f)[0], torch.stack(expect), atol=1e-14)
