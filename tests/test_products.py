"""Batched small-matrix products (:mod:`lqcd_hmc.products`, natively on a CPU) against torch's
``matmul``: values, gradients and second derivatives (the backward pass is made of the same
products), every adjoint flag, SU(2) and SU(3) shapes, both precisions; the fallback where the
kernel does not serve."""

import pytest
import torch

from lqcd_hmc import products
from lqcd_hmc.kernels.native import SWITCH

pytestmark = pytest.mark.skipif(
    not products.available(
        *[torch.empty(1, products.MIN_PER_CHAIN, 3, 3, dtype=torch.complex128)] * 2
    ),
    reason="no native kernel on this machine",
)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """The kernel on the tests' small batches (by default they take ``torch.matmul``)."""
    monkeypatch.setattr(products, "MIN_PER_CHAIN", 1)


def dot(a, b):
    return (a.conj() * b).real.sum()


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("adj_a", [False, True])
@pytest.mark.parametrize("adj_b", [False, True])
def test_product_and_its_derivatives_equal_matmul(N, dtype, tol, adj_a, adj_b):
    """``op(A) op(B)`` on 2 x 5 x 3 matrices (a batch that is no multiple of the vector lanes),
    its gradients with a graph, and the gradients of a loss made of them and of the value."""
    torch.manual_seed(N)
    A = torch.randn(2, 5, 3, N, N, dtype=dtype, requires_grad=True)
    B = torch.randn(2, 5, 3, N, N, dtype=dtype, requires_grad=True)
    G, R1, R2 = (torch.randn_like(A) for _ in range(3))

    def run(fn):
        C = fn(A, B)
        dA, dB = torch.autograd.grad(dot(G, C), [A, B], create_graph=True)
        loss = dot(R1, dA) + dot(R2, dB) + dot(C, C)
        return (C, dA, dB, *torch.autograd.grad(loss, [A, B]))

    native = run(lambda a, b: products.product(a, b, adj_a, adj_b))
    reference = run(lambda a, b: (a.mH if adj_a else a) @ (b.mH if adj_b else b))
    assert native[0].grad_fn.name() == "_ProductBackward"
    for x, y in zip(native, reference):
        assert float((x - y).detach().abs().max() / y.detach().abs().max()) < tol


def test_product_reads_conjugate_views():
    A = torch.randn(7, 3, 3, dtype=torch.complex128).conj()
    B = torch.randn(7, 3, 3, dtype=torch.complex128).mT
    assert torch.allclose(products.product(A, B, adj_b=True), A @ B.mH, rtol=0, atol=1e-14)


def test_other_operands_take_matmul(monkeypatch):
    """U(1) (1 x 1), broadcast shapes, real dtypes and fewer than ``MIN_PER_CHAIN`` matrices
    per chain (however many chains) are torch's; so is everything with the native kernels
    switched off."""
    monkeypatch.setattr(products, "MIN_PER_CHAIN", 8)
    assert not products.available(*[torch.randn(64, 4, 3, 3, dtype=torch.complex128)] * 2)
    assert products.available(*[torch.randn(1, 2, 4, 3, 3, dtype=torch.complex128)] * 2)
    one = torch.randn(1, 8, 1, 1, dtype=torch.complex128)
    assert not products.available(one, one)
    A = torch.randn(1, 8, 3, 3, dtype=torch.complex128).requires_grad_()
    assert products.available(A, A)
    assert not products.available(A, A[:, :1])
    assert not products.available(A.real, A.real)
    monkeypatch.setenv(SWITCH, "0")
    assert not products.available(A, A)
    out = products.product(A, A, adj_a=True)
    assert out.grad_fn.name() != "_ProductBackward"
    assert torch.allclose(out, A.mH @ A, rtol=0, atol=1e-14)


def test_chains_counted_along_their_dimension(monkeypatch):
    """With ``chain_dim`` the threshold counts matrices per index of that dimension (the
    gathered rows of ``link_table``, chains second), so one chain and the same chain among
    others take the same path and give the same bits; the gradient carries it."""
    monkeypatch.setattr(products, "MIN_PER_CHAIN", 8)
    rows = torch.randn(6, 64, 3, 3, dtype=torch.complex128)
    assert not products.available(rows, rows, chain_dim=1)  # 6 rows per chain
    assert products.available(rows, rows)  # 64 per index of the first dimension
    A = torch.randn(16, 5, 3, 3, dtype=torch.complex128, requires_grad=True)
    B = torch.randn(16, 5, 3, 3, dtype=torch.complex128, requires_grad=True)
    C = products.product(A, B, chain_dim=1)
    assert C.grad_fn.name() == "_ProductBackward"
    one = products.product(A[:, 2:3], B[:, 2:3], chain_dim=1)
    assert torch.equal(one, C[:, 2:3])
    G = torch.randn_like(C)
    (dA,) = torch.autograd.grad(dot(G, C), A, create_graph=True)
    assert dA.grad_fn.name() == "_ProductBackward"  # 16 rows per chain, not 5
    A2 = A.detach().requires_grad_()
    (ref,) = torch.autograd.grad(dot(G, A2 @ B.detach()), A2)
    assert torch.allclose(dA, ref, rtol=0, atol=1e-13)
