"""Loop observables and the Gamma method."""

import math

import numpy as np
import pytest
import scipy.signal
import torch
from helpers import random_field

from actions import Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.smooth import abelian_flux
from observables import gamma_method, plaquette, polyakov_loop, wilson_loop, wilson_loops


def test_cold_field_loops_are_one():
    f = GaugeField.cold([4, 4, 4, 6], "SU(3)")
    for R, T in [(1, 1), (2, 3), (3, 2)]:
        assert torch.allclose(wilson_loops(f, R, T), torch.ones(1, dtype=torch.float64))
    assert torch.allclose(polyakov_loop(f), torch.ones(1, dtype=torch.complex128))


@pytest.mark.parametrize("group,D", [("SU(3)", 4), ("SU(2)", 3), ("U(1)", 2)])
def test_loops_gauge_invariant(group, D):
    f = random_field(group, D, eps=0.7)
    g = f.gauge_transform(f.random_gauge(ChainRNG(3, 2)))
    for R, T in [(1, 1), (2, 1), (1, 3), (2, 2)]:
        assert torch.allclose(wilson_loops(g, R, T), wilson_loops(f, R, T), atol=1e-13)
    assert torch.allclose(polyakov_loop(g), polyakov_loop(f), atol=1e-13)


def test_one_by_one_loop_is_the_plaquette():
    f = random_field("SU(3)", 4)
    assert torch.allclose(wilson_loops(f, 1, 1), plaquette(f), rtol=1e-13)
    # planes: "all" averages both orientations; R x T and T x R agree in the "all" average
    assert torch.allclose(wilson_loops(f, 2, 1), wilson_loops(f, 1, 2), rtol=1e-13)


def test_flux_field_loops_exact():
    """Constant abelian flux phi per plaquette in the (0, 1) plane: an R x T loop there encloses
    flux phi R T, so Re Tr W / N = (2 cos(phi R T) + N - 2)/N; loops in other planes are 1."""
    dims, n = [6, 4, 4, 4], 1
    f = abelian_flux(dims, "SU(3)", n, mu=0, nu=1)
    phi = 2 * math.pi * n / (dims[0] * dims[1])
    for R, T in [(1, 1), (2, 1), (2, 3), (3, 2)]:
        expect = (2 * math.cos(phi * R * T) + 1) / 3
        assert math.isclose(wilson_loop(f, R, T, 0, 1).item(), expect, abs_tol=1e-13)
        assert math.isclose(wilson_loop(f, R, T, 1, 0).item(), expect, abs_tol=1e-13)
        assert math.isclose(wilson_loop(f, R, T, 2, 3).item(), 1.0, abs_tol=1e-13)


def test_polyakov_loop_of_constant_temporal_links():
    """U_t = diag(e^{i a}, e^{-i a}, 1) everywhere: P = (2 cos(a L_t) + 1)/3; a center
    twist of one time slice multiplies it by exp(2 pi i/3)."""
    dims, a = [4, 4, 4, 5], 0.3
    f = GaugeField.cold(dims, "SU(3)")
    diag = torch.tensor([complex(math.cos(a), math.sin(a)), complex(math.cos(a), -math.sin(a)), 1])
    f.links[:, 3] = torch.diag(diag)
    expect = (2 * math.cos(a * dims[3]) + 1) / 3
    assert torch.allclose(polyakov_loop(f), torch.tensor([expect], dtype=torch.complex128))
    z = complex(math.cos(2 * math.pi / 3), math.sin(2 * math.pi / 3))
    f.links[:, 3, :, :, :, 0] *= z
    assert torch.allclose(polyakov_loop(f), torch.tensor([expect * z], dtype=torch.complex128))


def test_bad_loop_arguments():
    f = GaugeField.cold([4, 4], "U(1)")
    with pytest.raises(ValueError):
        wilson_loop(f, 1, 1, 0, 0)
    with pytest.raises(ValueError):
        wilson_loop(f, 0, 1, 0, 1)
    with pytest.raises(ValueError):
        wilson_loops(f, 1, 1, planes="spatial")


def test_2d_area_law_u1():
    """2D U(1): plaquettes are independent in infinite volume, so W(R,T) = (I1/I0)^(RT)
    up to torus corrections; on a 16x16 torus at beta = 1 these are < 1e-6. HMC within 3 sigma."""
    from scipy.special import iv

    rng = ChainRNG(17, 16)
    f = GaugeField.hot([16, 16], "U(1)", rng)
    hmc = HMC(Wilson(1.0), integrator="omelyan2", n_steps=5)
    for _ in range(20):
        f, _ = hmc.trajectory(f, rng)
    series = {(1, 1): [], (2, 1): [], (2, 2): []}
    for _ in range(100):
        f, _ = hmc.trajectory(f, rng)
        for (R, T), s in series.items():
            s.append(wilson_loops(f, R, T))
    p = iv(1, 1.0) / iv(0, 1.0)
    for (R, T), s in series.items():
        r = gamma_method(torch.stack(s, 1).numpy())
        assert abs(r.mean - p ** (R * T)) < 3 * r.error, ((R, T), r, p ** (R * T))


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_gamma_method_ar1(rho):
    """AR(1) x_t = rho x_{t-1} + e_t has tau_int = (1 + rho)/(2(1 - rho)) and
    var(mean) = 2 tau_int var(x)/N; both estimates within 3 of their errors."""
    rs = np.random.default_rng(1)
    e = rs.standard_normal((4, 20000))
    x = scipy.signal.lfilter([1.0], [1.0, -rho], e, axis=1)
    r = gamma_method(x)
    tau = (1 + rho) / (2 * (1 - rho))
    assert abs(r.tau_int - tau) < 3 * r.tau_int_error, r
    assert abs(r.mean) < 3 * r.error
    true_err = math.sqrt(2 * tau / (1 - rho**2) / x.size)
    assert abs(r.error - true_err) < 0.15 * true_err


def test_gamma_method_constant_and_bad_input():
    r = gamma_method(np.ones(10))
    assert r.mean == 1 and r.error == 0
    with pytest.raises(ValueError):
        gamma_method(np.ones(1))


def test_exact_2d_formulas_limits():
    """The character sums themselves: infinite volume gives I1/I0 (U(1)) and I2/I1 (SU(2)); a
    single-plaquette U(1) torus has U_p = U V U^* V^* = 1 identically; the SU(N) sum reduces
    to SU(2)'s at N = 2 and to the strong-coupling beta/(2N^2) at small beta."""
    from scipy.special import iv

    from observables.exact import _plaquette_2d_sun, plaquette_2d

    for beta in (0.5, 2.0, 5.0):
        assert math.isclose(
            plaquette_2d("U(1)", beta, 10**6), iv(1, beta) / iv(0, beta), rel_tol=1e-12
        )
        assert math.isclose(
            plaquette_2d("SU(2)", beta, 10**6), iv(2, beta) / iv(1, beta), rel_tol=1e-12
        )
        assert math.isclose(plaquette_2d("U(1)", beta, 1), 1.0, rel_tol=1e-12)
        # the SU(N) determinant sum, run at N = 2, is the SU(2) formula
        assert math.isclose(
            _plaquette_2d_sun(2, beta, 10**6, 60), iv(2, beta) / iv(1, beta), rel_tol=1e-12
        )
    # strong coupling: <Re Tr U/N> = beta/(2 N^2) + O(beta^2) for N >= 3
    for N in (3, 4):
        assert math.isclose(plaquette_2d(f"SU({N})", 1e-4, 10**6), 1e-4 / (2 * N * N), rel_tol=1e-3)
    with pytest.raises(ValueError, match="finite-volume terms"):
        plaquette_2d("SU(3)", 1.0, 4)


def test_run_card_measurements_on_constant_flux():
    """The registered measurements on a spatial constant flux (plane (0, 1) of 4^4, SU(3)):
    temporal plaquettes and loops are 1, spatial ones carry the flux, the plaquette is the
    mean of its six planes; the Polyakov loop of links that are 1 in time is 1."""
    import math

    from lqcd_hmc.measurement import build as build_measurement
    from lqcd_hmc.smooth import abelian_flux

    f = abelian_flux([4, 4, 4, 4], "SU(3)", 1, 0, 1)
    phi = 2 * math.pi / 16
    flux_plane = (2 * math.cos(phi) + 1) / 3
    p = build_measurement({"name": "plaquette"})(f)
    assert torch.allclose(p["temporal"], torch.ones(1, dtype=torch.float64))
    assert torch.allclose(p["spatial"], torch.tensor([(flux_plane + 2) / 3], dtype=torch.float64))
    assert torch.allclose(p["plaquette"], (p["spatial"] + p["temporal"]) / 2)
    W = build_measurement({"name": "wilson_loops", "r_max": 2, "t_max": 3})(f)["W"]
    assert W.shape == (1, 2, 3) and torch.allclose(W, torch.ones_like(W))
    P = build_measurement({"name": "polyakov_loop"})(f)
    assert (
        torch.allclose(P["re"], torch.ones(1, dtype=torch.float64)) and P["im"].abs().max() < 1e-14
    )
