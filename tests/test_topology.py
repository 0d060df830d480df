"""Topological charge: integer charge of constant abelian flux in two planes, improvement over
the clover definition, gauge invariance, and the line-based clover leaves."""

import math

import pytest
import torch
from helpers import random_field

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.loops import clover_leaves
from lqcd_hmc.paths import path_product
from lqcd_hmc.smooth import abelian_flux
from observables.topology import FIVE_LOOP, charge_density, field_strength, topological_charge


def two_plane_flux(L, group, n01, n23):
    """Flux n01 through the (0,1) planes and n23 through the (2,3) planes, both along
    H = diag(1, -1, 0...): F_01 = phi1 H, F_23 = phi2 H, so
    Q = V phi1 phi2 Tr H^2 / (4 pi^2) = 2 n01 n23 exactly in the continuum."""
    a = abelian_flux([L] * 4, group, n01, 0, 1)
    b = abelian_flux([L] * 4, group, n23, 2, 3)
    links = a.links.clone()
    links[:, 2:] = b.links[:, 2:]
    return GaugeField(links, group)


@pytest.mark.parametrize("group", ["SU(2)", "SU(3)"])
@pytest.mark.parametrize("n01,n23", [(1, 1), (1, -2), (2, 1)])
def test_flux_charge_is_the_integer(group, n01, n23):
    """Exact lattice values: clover F = sin(phi) H gives Q = 2 n01 n23 sin(phi1) sin(phi2) /
    (phi1 phi2); the improved F has no phi^3 term; both tend to 2 n01 n23, improved closer."""
    for L in (8, 12):
        f = two_plane_flux(L, group, n01, n23)
        p1, p2 = 2 * math.pi * n01 / L**2, 2 * math.pi * n23 / L**2
        exact = 2 * n01 * n23
        qc = topological_charge(f, "clover").item()
        qi = topological_charge(f, "improved").item()
        assert math.isclose(qc, exact * math.sin(p1) * math.sin(p2) / (p1 * p2), rel_tol=1e-12)
        gi = [sum(c * math.sin(m * n * p) / (m * n) for m, n, c in FIVE_LOOP) for p in (p1, p2)]
        assert math.isclose(qi, exact * gi[0] * gi[1] / (p1 * p2), rel_tol=1e-12)
        assert abs(qi - exact) < abs(qc - exact)
        assert abs(qi - exact) < 0.02 * abs(exact)
        if L == 12:
            assert round(qi) == exact and abs(qi - exact) < 1e-3 * abs(exact)


def test_five_loop_weights():
    """sum c = 1 and the tree-level O(a^2), O(a^4) conditions of de Forcrand et al."""
    c = [w for _, _, w in FIVE_LOOP]
    mn = [(m, n) for m, n, _ in FIVE_LOOP]
    assert math.isclose(sum(c), 1.0, rel_tol=1e-14)
    for fn in (lambda m, n: m * m + n * n, lambda m, n: m**4 + n**4, lambda m, n: (m * n) ** 2):
        assert abs(sum(w * fn(m, n) for w, (m, n) in zip(c, mn))) < 1e-13


@pytest.mark.parametrize("definition", ["clover", "improved"])
def test_gauge_invariant_and_parity_odd(definition):
    f = random_field("SU(3)", 4, L=4, eps=0.5)
    g = f.gauge_transform(f.random_gauge(ChainRNG(2, 2)))
    assert torch.allclose(charge_density(g, definition), charge_density(f, definition), atol=1e-12)
    F = field_strength(f, 0, 1, definition)
    assert torch.allclose(F, F.mH) and torch.allclose(
        F.diagonal(dim1=-2, dim2=-1).sum(-1), torch.zeros(1, dtype=F.dtype), atol=1e-13
    )
    # reflecting x_3 -> -x_3 flips the sign of Q
    L = f.links
    refl = torch.flip(L, dims=[5])
    refl[:, 3] = torch.roll(torch.flip(L[:, 3], dims=[4]), -1, dims=4).mH
    Qr = topological_charge(GaugeField(refl, f.group), definition)
    assert torch.allclose(Qr, -topological_charge(f, definition), atol=1e-10)


def test_cold_field_has_no_charge_and_bad_input():
    cold = GaugeField.cold([4, 4, 4, 4], "SU(3)")
    assert topological_charge(cold, "improved").abs().item() < 1e-14
    with pytest.raises(ValueError, match="D = 4"):
        topological_charge(GaugeField.cold([4, 4, 4], "SU(2)"))
    with pytest.raises(ValueError, match="definition"):
        topological_charge(cold, "wilson")


def test_line_clover_leaves_match_path_products():
    f = random_field("SU(3)", 4, L=5)
    for mu, nu, m, n in ((0, 1, 1, 1), (1, 3, 2, 3), (2, 0, 3, 1)):
        a, b = (mu + 1,) * m, (nu + 1,) * n
        na, nb = tuple(-s for s in a), tuple(-s for s in b)
        ref = sum(
            path_product(f.links, p)
            for p in (a + b + na + nb, b + na + nb + a, na + nb + a + b, nb + a + b + na)
        )
        assert torch.allclose(clover_leaves(f.links, mu, nu, m, n), ref, atol=1e-13)
