"""The batched L-BFGS on the group manifold (:mod:`actions.fixed_point.lbfgs`): an exact
minimum, independence of the configurations of a batch, and the FP solver built on it."""

import pytest
import torch

from actions.fixed_point import FixedPoint, max_trace_projection
from actions.fixed_point.lbfgs import minimise
from actions.fixed_point.minimise import algebra_gradient
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.groups import get_group
from lqcd_hmc.loops import real_trace_product


def trace_problem(A: torch.Tensor, group: str):
    """``F[U] = -sum_x Re Tr(U_x A_x^dag)``, whose minimiser per site is
    ``argmax Re Tr(W A^dag)`` (:func:`max_trace_projection`); also the minimum."""
    G = get_group(group)
    top = real_trace_product(max_trace_projection(A, G.N), A).flatten(1).sum(1)

    def evaluate(links, index):
        with torch.enable_grad():
            (u,) = [x.detach().requires_grad_(True) for x in links]
            F = -real_trace_product(u, A[index]).flatten(1).sum(1)
            (grad,) = torch.autograd.grad(F.sum(), u)
        field = GaugeField(u.detach(), group)
        return F.detach(), [algebra_gradient(u.detach(), grad, field)]

    return G, evaluate, top


def test_lbfgs_finds_the_exact_minimum_of_each_configuration():
    """SU(2) (whose maximiser of Re Tr(U A^dag) is A projected, in closed form), 3
    configurations of one batch with A of different strength (so different conditioning): each
    reaches its own maximiser to the tolerance, and each
    takes the iterations and evaluations it takes alone, with the same minimiser."""
    rng = ChainRNG(5, 3)
    A = GaugeField.hot([4, 4], "SU(2)", rng).links
    A = A * torch.tensor([0.3, 1.0, 4.0], dtype=torch.float64).view(3, 1, 1, 1, 1, 1)
    A = A + 0.5 * GaugeField.hot([4, 4], "SU(2)", ChainRNG(6, 3)).links
    G, evaluate, top = trace_problem(A, "SU(2)")
    start = GaugeField.hot([4, 4], "SU(2)", ChainRNG(7, 3)).links
    r = minimise(evaluate, [start], G, 1e-10, 500)
    assert (r.gradient <= 1e-10).all()
    assert torch.allclose(r.value, -top, rtol=1e-14, atol=0)
    W = max_trace_projection(A, 2)
    assert (r.links[0] - W).abs().max() < 1e-9
    assert len(set(r.iterations.tolist())) > 1  # the configurations differ in difficulty
    for b in range(3):
        _, alone, _ = trace_problem(A[b : b + 1], "SU(2)")
        s = minimise(alone, [start[b : b + 1]], G, 1e-10, 500)
        assert s.iterations.item() == r.iterations[b] and s.evaluations.item() == r.evaluations[b]
        assert (s.links[0][0] - r.links[0][b]).abs().max() < 1e-12


def test_fp_solver_batch_equals_solving_alone():
    """The FP equation for a batch of a smooth and a rough SU(2) configuration: each
    configuration's A_FP and derivatives are those of its solve alone, and each stops at its own
    iteration count."""
    smooth = GaugeField.near_identity([2] * 4, "SU(2)", ChainRNG(3, 1), 0.3).links
    rough = GaugeField.hot([2] * 4, "SU(2)", ChainRNG(3, 1)).links
    V = GaugeField(torch.cat([smooth, rough]), "SU(2)")
    fp = FixedPoint(tolerance=1e-9)
    both = fp(V)
    assert both.converged and both.iterations[0] < both.iterations[1]
    for b in range(2):
        alone = fp(V.with_links(V.links[b : b + 1]))
        assert alone.iterations.item() == both.iterations[b]
        assert torch.allclose(alone.action, both.action[b : b + 1], rtol=1e-12)
        assert (alone.derivative[0] - both.derivative[b]).abs().max() < 1e-10


def test_rounding_allowance_reaches_the_minimum_of_plain_backtracking():
    """With ``rounding = 0`` (plain sufficient decrease) the solver takes at least as many
    evaluations and reaches the same minimum (value 1e-10, derivatives 1e-7)."""
    V = GaugeField.near_identity([2] * 4, "SU(2)", ChainRNG(3, 1), 0.5)
    a = FixedPoint(tolerance=1e-9)(V)
    b = FixedPoint(tolerance=1e-9, rounding=0.0)(V)
    assert a.converged and b.converged
    assert b.evaluations.item() >= a.evaluations.item()
    assert torch.allclose(a.action, b.action, rtol=1e-10)
    assert (a.derivative - b.derivative).abs().max() < 1e-7


def test_bad_solver_settings_are_refused():
    for bad in ({"history": 0}, {"rounding": -1e-12}, {"rounding": float("nan")}):
        with pytest.raises(ValueError, match="history must be >= 1 and rounding >= 0"):
            FixedPoint(**bad)
