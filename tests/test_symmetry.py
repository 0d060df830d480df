"""The hypercubic group on gauge fields (lqcd_hmc.symmetry): loops map to the loops of the
image plane, the clover energy moves with its site, g^-1 undoes g, and the group has 384
elements in D = 4 (fewer on a lattice with unequal extents)."""

import pytest
import torch
from helpers import random_field

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.loops import clover_energy, rectangle_re_trace
from lqcd_hmc.symmetry import elements, inverse, transform, transform_sites


def test_group_orders():
    assert len(elements([4] * 4)) == 384
    assert len(elements([4] * 4, "reflections")) == 16
    assert len(elements([4] * 4, "permutations")) == 24
    assert elements([4] * 4, "identity") == [((0, 1, 2, 3), (False,) * 4)]
    # axes 1 and 2 of equal extent may be exchanged, no other pair: 2 permutations
    assert len(elements([2, 4, 4, 6])) == 2 * 16
    with pytest.raises(ValueError, match="unknown subgroup"):
        elements([4] * 4, "rotations")


@pytest.mark.parametrize("dims", [[4, 4, 4, 4], [2, 4, 4, 6], [3, 3, 5]])
def test_rectangles_map_to_rectangles_of_the_image_plane(dims):
    """sum_x Re Tr of the R x T loop in plane (mu, nu) of U equals that of the R x T loop in
    plane (perm[mu], perm[nu]) of gU, for every element; the sums differ between planes, so a
    wrong axis or direction map would show."""
    U = GaugeField.hot(dims, "SU(3)", ChainRNG(3, 2)).links
    D = len(dims)
    sums = {
        (mu, nu, R, T): rectangle_re_trace(U, mu, nu, R, T).flatten(1).sum(1)
        for mu in range(D)
        for nu in range(D)
        if mu != nu
        for R, T in ((1, 1), (2, 1))
    }
    assert not torch.allclose(sums[0, 1, 2, 1], sums[1, 0, 2, 1])
    for g in elements(dims):
        V = transform(U, g)
        perm = g[0]
        for (mu, nu, R, T), s in sums.items():
            image = rectangle_re_trace(V, perm[mu], perm[nu], R, T).flatten(1).sum(1)
            assert torch.allclose(image, s, rtol=1e-12, atol=1e-10), (g, mu, nu, R, T)


def test_site_fields_move_with_the_links_and_inverse_undoes():
    """The clover energy (a site-local, hypercubic-invariant density) of gU is the clover
    energy of U moved by g; transform by g^-1 restores U exactly."""
    U = random_field("SU(2)", 4, L=4, eps=0.8).links
    E = clover_energy(U)
    for g in elements([4] * 4)[::7]:
        V = transform(U, g)
        assert torch.allclose(clover_energy(V), transform_sites(E, g), rtol=1e-12)
        assert torch.equal(transform(V, inverse(g)), U)
        assert torch.equal(transform_sites(transform_sites(E, g), inverse(g)), E)
