"""Classical artifacts of smooth fields: plane waves against the tree-level formula of the
plaquette + rectangle family, its (ka)^2 and (ka)^4 coefficients, and the fixed-point action on
constant flux (a classical solution) below Wilson's deviation at every flux tested."""

import math

import pytest
import torch

from actions import Wilson
from actions.fixed_point import FixedPoint
from lqcd_hmc import ChainRNG, build
from lqcd_hmc.smooth import plane_wave, plane_wave_continuum
from observables.classical import flux_deviations, plane_wave_deviations, tree_level_plane_wave

FAMILY = [("wilson", 0.0), ("symanzik", -1 / 12), ("iwasaki", -0.331), ("dbw2", -1.4088)]


@pytest.mark.parametrize("group", ["U(1)", "SU(2)", "SU(3)"])
@pytest.mark.parametrize("name,c1", FAMILY)
def test_plane_waves_follow_the_tree_level_formula(group, name, c1):
    """eps = 1e-3: the O(eps^2) corrections to S/S_cont are ~1e-7."""
    res = plane_wave_deviations(build({"name": name, "beta": 2.5}), 2.5, group, 16, [1, 2, 3, 5, 7])
    for r in res:
        assert r["deviation"] == pytest.approx(tree_level_plane_wave(r["ka"], c1), abs=2e-6)


def test_wilson_deviation_falls_like_ka_squared_over_12():
    """eps = 2e-3: at k a = 0.098 the rounding of Re Tr(1 - U) is the same at every site of the
    wave, so it does not average out; it moved deviation / (ka)^2 by up to 1e-6 at eps = 1e-3
    (the tolerance there: 9.6e-7) with the order of the trace's sum, and falls like 1 / eps^2,
    while the O(eps^2) nonlinearity stays at -2.5e-7."""
    res = plane_wave_deviations(Wilson(1.0), 1.0, "SU(3)", 64, [1, 2, 4], D=2, amplitude=2e-3)
    for r in res:
        k = r["ka"]
        assert r["deviation"] / k**2 == pytest.approx(-1 / 12 + k**2 / 360, abs=1e-4 * k**2)
    ratio = res[0]["deviation"] / res[1]["deviation"]  # k halves: 1/4
    assert ratio == pytest.approx(0.25, abs=0.002)


def test_symanzik_deviation_falls_like_ka_to_the_fourth_over_90():
    """eps = 3e-3 keeps the O((eps k)^2) nonlinearity below 1 % of (ka)^4/90 at k = 2 pi/64
    while the rounding of Re Tr(1 - U) stays far below it."""
    res = plane_wave_deviations(
        build({"name": "symanzik", "beta": 1.0}), 1.0, "SU(2)", 64, [1, 2, 4], amplitude=3e-3, D=2
    )
    for r in res:
        k = r["ka"]
        assert r["deviation"] / k**4 == pytest.approx(-1 / 90, rel=0.02 + k**2)
    assert res[0]["deviation"] / res[1]["deviation"] == pytest.approx(1 / 16, abs=0.002)


def test_plane_wave_action_is_gauge_invariant_and_continuum_is_exact():
    """The continuum value is the analytic integral; the lattice action of a gauge transform
    of the plane wave is the same."""
    f = plane_wave([2, 8, 2, 2], "SU(2)", 1, 0.3, batch=2)
    O = f.random_gauge(ChainRNG(3, 2))
    assert torch.allclose(Wilson(1.0)(f), Wilson(1.0)(f.gauge_transform(O)), rtol=1e-12)
    k = 2 * math.pi / 8
    assert plane_wave_continuum([2, 8, 2, 2], "SU(2)", 1, 0.3) == pytest.approx(
        (1 / 2) * (0.3 * k) ** 2 * 64 / 2
    )
    with pytest.raises(ValueError, match="n < L_nu/2"):
        plane_wave([2, 8], "SU(2)", 4, 0.1)


@pytest.mark.slow
def test_fixed_point_action_beats_wilson_on_constant_flux():
    """A_FP (one level) against Wilson on flux n = 1, 2 through (4, 4, 2, 2): the FP deviation
    is the finest tree-level Symanzik error phi_f^2/12, phi_f = phi/4, Wilson's -phi^2/12."""
    dims = [4, 4, 2, 2]
    fp = FixedPoint(tolerance=1e-9)
    res_fp = flux_deviations(lambda f: fp(f).action, 1.0, "SU(2)", dims, [1, 2])
    res_w = flux_deviations(Wilson(1.0), 1.0, "SU(2)", dims, [1, 2])
    for a, w in zip(res_fp, res_w):
        assert abs(a["deviation"]) < abs(w["deviation"]) / 8
        assert w["deviation"] == pytest.approx(2 * (1 - math.cos(w["phi"])) / w["phi"] ** 2 - 1)
