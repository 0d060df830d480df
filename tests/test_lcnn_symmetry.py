"""Hypercubic symmetry of the L-CNN action: a random model is not invariant (the kernel-2
convolutions have a direction), the symmetrised evaluation (``symmetrise``) is invariant under
its subgroup exactly, and its force is the derivative of its value."""

import pytest
import torch
from helpers import check_force, random_field

from actions.lcnn import Architecture, LCNNAction, LCNNFixedPoint
from lqcd_hmc.symmetry import elements, transform


def random_model(seed=0):
    torch.manual_seed(seed)
    m = LCNNFixedPoint(Architecture(4, "SU(3)", [4, 4], [2, 1]), order=2)
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.7, -0.4], dtype=torch.float64))
        for p in m.net.parameters():  # spread the weights so the network matters
            p.mul_(1.5)
    return m


def relative_changes(action, field, subgroup):
    S = action(field)
    return torch.stack(
        [
            ((action(field.with_links(transform(field.links, g))) - S) / S).abs().max()
            for g in elements(field.dims, subgroup)
        ]
    )


@pytest.mark.parametrize("subgroup", ["reflections", "permutations"])
def test_symmetrised_action_is_invariant(subgroup):
    f = random_field("SU(3)", 4, L=2, eps=0.6, batch=2)
    plain = LCNNAction(2.0, model=random_model())
    sym = LCNNAction(2.0, model=random_model(), symmetrise=subgroup)
    assert relative_changes(plain, f, subgroup).max() > 1e-4
    assert relative_changes(sym, f, subgroup).max() < 1e-13
    # the symmetrised density sums to the symmetrised action
    assert torch.allclose(sym.density(f).flatten(1).sum(1), sym(f), rtol=1e-13)


def test_symmetrised_force_is_the_derivative_of_its_value():
    """Against autograd and O(h^2) central differences (``helpers.check_force``)."""
    f = random_field("SU(3)", 4, L=2, eps=0.6, batch=1)
    check_force(LCNNAction(2.0, model=random_model(1), symmetrise="reflections"), f, rtol=1e-6)


def test_unknown_subgroup_is_refused():
    with pytest.raises(ValueError, match="symmetrise must be one of"):
        LCNNAction(2.0, model=random_model(), symmetrise="rotations")


def test_locality_response_of_the_wilson_force_ends_at_its_plaquettes():
    """bench.fp_properties: the Wilson force responds to U_0(0) only on the links of the
    plaquettes through it (midpoints within distance 1; not the collinear U_0(+-e_0) at
    distance 1), and the largest response at distance 0 is the link's own."""
    from actions import Wilson
    from bench.fp_properties import midpoint_distances, profile, response

    f = random_field("SU(3)", 4, L=4, eps=0.5, batch=1)
    act = Wilson(6.0)
    R = response(lambda g: g.group.to_coords(act.force(g)), f)
    dist = midpoint_distances([4] * 4)
    assert R[dist > 1.01].max() < 1e-9 * R.max()
    assert R[(dist > 0.7) & (dist < 0.71)].min() > 1e-3 * R.max()  # the 12 transverse links
    assert R[0, 1, 0, 0, 0] < 1e-9 * R.max() and R[0, -1, 0, 0, 0] < 1e-9 * R.max()
    rows, _ = profile(R + 1e-300, dist)
    assert rows[0] == (0.0, 1.0)
