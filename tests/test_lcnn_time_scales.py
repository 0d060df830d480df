"""The L-CNN action on two time scales (:meth:`actions.lcnn.LCNNAction.time_scales`): the
network's term plus ``beta b_0 A_pre`` is the action, in value and force, also symmetrised;
on the levels of a multiple-time-scale integrator the molecular dynamics is reversible and
second order in the outer step."""

import pytest
import torch
from helpers import random_field
from test_lcnn_symmetry import random_model

from actions.lcnn import LCNNAction
from lqcd_hmc import HMC, ChainRNG, Level


@pytest.mark.parametrize("symmetrise", ["identity", "reflections"])
def test_terms_sum_to_the_action_and_its_force(symmetrise):
    f = random_field("SU(3)", 4, L=2, eps=0.6, batch=2)
    model = random_model()
    with torch.no_grad():
        model.b0.fill_(0.8)
    action = LCNNAction(2.0, model=model, symmetrise=symmetrise)
    net, pre = action.time_scales()
    assert pre.beta == pytest.approx(1.6) and pre.name == "wilson"
    S = action(f)
    assert ((net(f) + pre(f) - S) / S).abs().max() < 1e-13
    F, parts = action.force(f), net.force(f) + pre.force(f)
    assert (parts - F).abs().max() < 1e-12 * F.abs().max()
    assert net.force(f).abs().max() > 0.05 * F.abs().max()  # the network's term matters


@pytest.mark.parametrize("inner", ["omelyan2", "leapfrog"])
def test_two_time_scales_are_reversible_and_second_order(inner):
    """Outer level the network's term, inner level the preconditioner (its steps a fraction
    of the outer ones, its error negligible), Omelyan or leapfrog inside: back and forth
    returns to the start, and halving the outer step divides |dH| by 4 (log2 ratio within
    0.3; |dH| ~ 0.03 and 0.007, where the steps are small enough for the asymptotic law)."""
    f = random_field("SU(3)", 4, L=2, eps=0.3, batch=2)
    model = random_model()
    with torch.no_grad():
        model.b.mul_(0.05)  # the network's force as large as Wilson's
    action = LCNNAction(1.0, model=model)
    net, pre = action.time_scales()
    dH = []
    for n in (16, 32):
        hmc = HMC(action, levels=[Level(net, n, "omelyan2"), Level(pre, 4, inner)])
        P = hmc.momenta(f, ChainRNG(4, 2))
        g, P1 = hmc.molecular_dynamics(f, P)
        dH.append((hmc.hamiltonian(g, P1) - hmc.hamiltonian(f, P)).abs())
        h, _ = hmc.molecular_dynamics(g, -P1)
        assert (h.links - f.links).abs().max() < 1e-10
    slope = torch.log2(dH[0] / dH[1])
    assert torch.all((slope - 2).abs() < 0.3), slope
