"""Gradient flow: trivial on classical solutions, gauge covariant, in the group, third order
in the step, adaptive steps within tolerance, decreasing Wilson action, energy densities."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_field

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.smooth import abelian_flux
from observables.flow import Flow, energy_density, zeuthen_operator

FLOWS = ["wilson", "symanzik", "zeuthen"]


@pytest.mark.parametrize("name", FLOWS)
def test_cold_and_flux_fields_do_not_flow(name):
    cold = GaugeField.cold([4, 4, 4, 4], "SU(3)")
    V, _ = Flow(name).run(cold, [0.3], 0.05)
    assert torch.equal(V.links, cold.links)
    flux = abelian_flux([4, 4, 4, 4], "SU(3)", 1, 0, 1)  # a classical solution
    V, _ = Flow(name).run(flux, [0.3], 0.05)
    assert torch.allclose(V.links, flux.links, atol=1e-13)


@pytest.mark.parametrize("name", FLOWS)
def test_covariant_and_in_group(name):
    f = random_field("SU(3)", 4, eps=0.6)
    O = f.random_gauge(ChainRNG(8, 2))
    fl = Flow(name)
    a, _ = fl.run(f, [0.2], 0.05)
    b, _ = fl.run(f.gauge_transform(O), [0.2], 0.05)
    assert torch.allclose(b.links, a.gauge_transform(O).links, atol=1e-12)
    assert a.unitarity_violation().max() < 1e-12
    det = torch.linalg.det(a.links)
    assert torch.allclose(det, torch.ones_like(det), atol=1e-12)


@pytest.mark.parametrize("name", FLOWS)
def test_rk3_is_third_order(name):
    """Global error O(eps^3): differences of successive halvings shrink by 8."""
    f = random_field("SU(3)", 4, eps=0.3, batch=1)
    fl = Flow(name)
    V = [fl.run(f, [0.2], e)[0].links for e in (0.02, 0.01, 0.005)]
    d1, d2 = (V[0] - V[1]).abs().max(), (V[1] - V[2]).abs().max()
    assert 7.0 < d1 / d2 < 9.5, (d1, d2)


def test_generator_is_minus_g0sq_times_force():
    """Z = -g0^2 dS with g0^2 = 2N/beta: independent of the beta the flow is built with."""
    from lqcd_hmc.action import build

    f = random_field("SU(2)", 4, eps=0.5)
    for beta in (1.0, 2.3):
        fl = Flow({"name": "wilson", "beta": beta})
        Z = fl.generator(f.links, f)
        assert torch.allclose(Z, -(4 / beta) * build({"name": "wilson", "beta": beta}).force(f))
    assert torch.allclose(
        Flow({"name": "wilson", "beta": 1.0}).generator(f.links, f),
        Flow("wilson").generator(f.links, f),
    )


def test_zeuthen_operator():
    """(1 + nabla* nabla / 12) is the identity on a covariantly constant field and is gauge
    covariant."""
    f = random_field("SU(3)", 4, eps=0.4)
    X = torch.zeros_like(f.links)
    X[..., 0, 0], X[..., 1, 1] = 1j, -1j  # constant Cartan field, unit links
    cold = GaugeField.cold([4, 4, 4, 4], "SU(3)", batch=2)
    assert torch.allclose(zeuthen_operator(X, cold.links), X)
    Xr = f.group.project_algebra(random_field("SU(3)", 4, seed=3).links)
    O = f.random_gauge(ChainRNG(4, 2))
    g = f.gauge_transform(O)
    OX = O[:, None] @ Xr @ O[:, None].mH
    assert torch.allclose(
        zeuthen_operator(OX, g.links),
        O[:, None] @ zeuthen_operator(Xr, f.links) @ O[:, None].mH,
        atol=1e-12,
    )


def test_adaptive_steps_track_the_tolerance():
    """Against fine fixed steps: the global error stays below the tolerance and falls with it
    (local error O(eps^3), so ten times the tolerance is about ten times the error)."""
    f = random_field("SU(3)", 4, eps=0.5, batch=1)
    fl = Flow("wilson")
    ref, _ = fl.run(f, [0.1, 0.4], 0.0025)
    errors = []
    for tol in (1e-4, 1e-5):
        seen = []
        V, stats = fl.run(
            f, [0.1, 0.4], 0.05, adaptive=True, tolerance=tol, observe=lambda t, W: seen.append(t)
        )
        assert seen == [0.1, 0.4]
        assert stats.forces == 3 * (stats.steps + stats.rejected)
        errors.append((V.links - ref.links).abs().max().item())
        assert errors[-1] < tol
    assert errors[0] / errors[1] > 4


def test_wilson_flow_decreases_the_wilson_action():
    """The Wilson flow is the steepest descent of S_W, i.e. of E_plaq."""
    f = random_field("SU(3)", 4, eps=1.0)
    E = []
    Flow("wilson").run(
        f,
        np.arange(1, 11) * 0.05,
        0.025,
        observe=lambda t, V: E.append(energy_density(V, "plaquette")),
    )
    E = torch.stack(E)
    assert (E[1:] < E[:-1]).all()


def test_energy_density_on_constant_flux():
    """Flux phi in one plane: E_plaq = 2 (N - Re Tr e^{i phi H}) / sites-per-plane... per site
    2 Re Tr(1 - P) over the one plane, E_clover = Tr F^2 = 2 sin(phi)^2 (F = sin(phi) H)."""
    L = 6
    f = abelian_flux([L, L, L, L], "SU(3)", 1, 0, 1)
    phi = 2 * math.pi / L**2
    assert math.isclose(
        energy_density(f, "plaquette").item(), 2 * 2 * (1 - math.cos(phi)), rel_tol=1e-12
    )
    assert math.isclose(energy_density(f, "clover").item(), 2 * math.sin(phi) ** 2, rel_tol=1e-12)
    with pytest.raises(ValueError):
        energy_density(f, "cube")


def test_bad_flow_input():
    with pytest.raises(ValueError, match="unknown flow"):
        Flow("gradient")
    with pytest.raises(ValueError, match="unknown action"):
        Flow({"name": "nope", "beta": 1.0})
    f = GaugeField.cold([4, 4], "U(1)")
    with pytest.raises(ValueError, match="increasing"):
        Flow("wilson").run(f, [0.2, 0.1])
    with pytest.raises(ValueError, match="positive"):
        Flow("wilson").run(f, [0.2], eps=0.0)


def test_flow_scales_of_a_known_curve():
    """t^2 E = a t + b t^2 (exact for the cubic spline): t0 solves a t + b t^2 = 0.3 and
    w0^2 solves t (a + 2 b t) = 0.3."""
    from observables.scales import flow_scales

    a, b = 0.2, 0.15
    t = np.linspace(0.0, 2.0, 41)
    E = np.zeros_like(t)  # t^2 E = 0 at t = 0 whatever E(0) is
    E[1:] = a / t[1:] + b
    t0, w0 = flow_scales(t, E)
    assert t0 == pytest.approx((-a + math.sqrt(a * a + 4 * b * 0.3)) / (2 * b), rel=1e-10)
    assert w0**2 == pytest.approx((-a + math.sqrt(a * a + 8 * b * 0.3)) / (4 * b), rel=1e-10)


def test_stiffness_of_the_wilson_flow_and_the_rk3_bound():
    """bench.flow_stiffness: on the cold 4^4 field the Wilson flow's Jacobian has the free
    eigenvalue of largest modulus, -16 (-4 sum_mu sin^2(p_mu/2) at p = (pi, pi, pi, pi)); RK3
    steps below 2.51/16 damp a small perturbation of the cold field, steps above it amplify
    it (the bound the bench prints)."""
    from bench.flow_stiffness import RK3_BOUND, largest_eigenvalue

    cold = GaugeField.cold([4, 4, 4, 4], "SU(3)", batch=1)
    lam = largest_eigenvalue(Flow("wilson"), cold, iterations=40)
    assert lam == pytest.approx(-16.0, rel=1e-3)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(cold.links.shape, dtype=torch.complex128, generator=g)
    X = 1e-6 * cold.group.project_algebra(noise)
    start = cold.with_links(torch.linalg.matrix_exp(X))
    for factor, grows in ((0.95, False), (1.05, True)):
        eps = factor * RK3_BOUND / 16
        V, _ = Flow("wilson").run(start, [40 * eps], eps)
        dist = lambda f: (f.links - cold.links).abs().max()
        assert (dist(V) > dist(start)) == grows, (factor, dist(V), dist(start))


def test_action_energy_is_the_flow_actions_density():
    """``action_energy``: ``E_action = g0^2 S(V)/V``. For the Wilson flow it is the plaquette
    form at every flow time; for the tree-level Symanzik flow on a constant flux phi in one
    plane (which does not flow) it is ``4 (c0 (1 - cos phi) + 2 c1 (1 - cos 2 phi))``, c0 = 5/3,
    c1 = -1/12, i.e. 2 phi^2 + phi^4/6 against the continuum 2 phi^2; the analysis reports it
    as a third form."""
    from observables.measurements import GradientFlow

    f = random_field("SU(3)", 4, eps=0.6)
    out = GradientFlow("wilson", epsilon=0.05, t_max=0.4, spacing=0.1, action_energy=True)(f)
    assert torch.allclose(out["E_action"], out["E_plaquette"], rtol=1e-12, atol=0)
    assert "E_action" not in GradientFlow("wilson", t_max=0.2)(f)
    L = 6
    flux = abelian_flux([L, L, L, L], "SU(3)", 1, 0, 1)
    phi = 2 * math.pi / L**2
    m = GradientFlow("symanzik", epsilon=0.1, t_max=0.2, spacing=0.1, action_energy=True)
    E = m(flux)["E_action"]
    expected = 4 * (5 / 3 * (1 - math.cos(phi)) - 2 / 12 * (1 - math.cos(2 * phi)))
    assert torch.allclose(E, torch.full_like(E, expected), rtol=1e-12, atol=0)
    m = GradientFlow("symanzik", epsilon=0.1, t_max=0.5, spacing=0.1, action_energy=True)
    rows = m(random_field("SU(3)", 4, eps=0.3))
    table = {k: np.stack([v.numpy()] * 3) for k, v in rows.items()}
    assert {"clover", "plaquette", "action"} <= set(GradientFlow.analyze(table))


@pytest.mark.parametrize("quanta", [1, 2])
def test_action_energy_of_an_fp_action_is_perfect_on_constant_flux(quanta):
    """The shipped rectangle fit of the FP action is exact on the constant fluxes of a 4^4 box
    (its fit constraint), so its own E there is the continuum ``E = 2 phi^2`` to rounding, where
    the clover form is 5 % (one quantum) and 19 % (two) below it."""
    from observables.measurements import GradientFlow

    examples = Path(__file__).parent.parent / "examples"
    fp = {"name": "fp-param", "file": str(examples / "fp_param_su3_4x4_o4rr.json"), "beta": 2.57}
    f = abelian_flux([4, 4, 4, 4], "SU(3)", quanta, 0, 1)
    phi = 2 * math.pi * quanta / 16
    out = GradientFlow(fp, epsilon=0.1, t_max=0.1, spacing=0.1, action_energy=True)(f)
    assert out["E_action"][0, 0].item() == pytest.approx(2 * phi**2, rel=1e-12)
    assert out["E_clover"][0, 0].item() / (2 * phi**2) - 1 < -0.04
