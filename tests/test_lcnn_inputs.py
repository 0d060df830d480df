"""The L-CNN's inputs and the channel doubling ``W~ = (W, W^dagger)``: the stacked plaquettes
(:func:`lqcd_hmc.loops.plaquette_halves`, natively multiplied on a CPU) against the per-plane
loop matrices, the Wilson density built on them against the per-plane traces, and
``with_adjoints``'s derivatives to second order against ``cat``."""

import pytest
import torch
from helpers import GROUPS_DIMS, random_field

from actions.lcnn import Plaq
from actions.lcnn.inputs import with_adjoints
from actions.wilson import Wilson
from lqcd_hmc import products
from lqcd_hmc.field import GaugeField
from lqcd_hmc.loops import plaquette_matrix, plaquette_re_trace
from lqcd_hmc.rng import ChainRNG


@pytest.fixture(params=["native", "matmul"])
def product_path(request, monkeypatch):
    """Both paths of :func:`lqcd_hmc.products.product`: the kernel on these small lattices
    (by default they take ``torch.matmul``) and ``torch.matmul``."""
    monkeypatch.setattr(products, "MIN_PER_CHAIN", 1 if request.param == "native" else 10**9)
    return request.param


@pytest.mark.parametrize("group,D", GROUPS_DIMS)
def test_plaquette_channels_are_the_loop_matrices(group, D, product_path):
    """Channel ``k`` of :class:`Plaq` is the plaquette of the k-th plane ``mu < nu``, channel
    ``k + D (D - 1) / 2`` its adjoint, on a lattice of unequal extents."""
    dims = [3, 4, 2, 5][:D]
    f = GaugeField.hot(dims, group, ChainRNG(3, 2))
    P = Plaq()(f.links)
    planes = [(mu, nu) for mu in range(D) for nu in range(mu + 1, D)]
    assert P.shape == (2, 2 * len(planes), *dims, f.N, f.N)
    for k, (mu, nu) in enumerate(planes):
        loop = plaquette_matrix(f.links, mu, nu)
        assert (P[:, k] - loop).abs().max() < 1e-14
        assert (P[:, k + len(planes)] - loop.mH).abs().max() < 1e-14


@pytest.mark.parametrize("group,D", GROUPS_DIMS)
def test_wilson_density_is_the_sum_over_planes(group, D, product_path):
    f = random_field(group, D, L=3)
    N = f.N
    planes = [(mu, nu) for mu in range(D) for nu in range(mu + 1, D)]
    expected = sum((N - plaquette_re_trace(f.links, mu, nu)).double() for mu, nu in planes)
    assert (Wilson(2.3).density(f) - 2.3 / N * expected).abs().max() < 1e-12


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
def test_with_adjoints_and_its_derivatives_to_second_order(N, dtype, tol):
    """``(W, W^dagger)``, the gradient of a loss of it (made with a graph) and the gradient of
    a loss of that gradient, against ``torch.cat`` and ``mH``: the custom pair of functions
    (one pass each in C where the kernels run) are each other's backward passes."""
    torch.manual_seed(N)
    W = torch.randn(2, 3, 4, 5, N, N, dtype=dtype, requires_grad=True)
    G, R = torch.randn(2, 6, 4, 5, N, N, dtype=dtype), torch.randn_like(W)

    def run(double):
        Wt = double(W)
        (dW,) = torch.autograd.grad(
            (Wt * G.conj()).real.sum() + (Wt.abs() ** 4).sum(), W, create_graph=True
        )
        (second,) = torch.autograd.grad((dW * R.conj()).real.sum(), W)
        return Wt, dW, second

    fast = run(with_adjoints)
    ref = run(lambda W: torch.cat([W, W.mH.resolve_conj()], dim=1))
    assert torch.equal(fast[0], ref[0])
    for a, b in zip(fast, ref):
        assert (a - b).detach().abs().max() <= tol * b.detach().abs().max()
