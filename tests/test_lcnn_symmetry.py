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
