"""Training's double backpropagation through the L-CNN's native kernels
(:mod:`actions.lcnn.native`): the convolution's, the bilinear product's and the traced
product's differentiable backward nodes (:mod:`actions.lcnn.hopconv`,
:mod:`actions.lcnn.bilinear`, :mod:`actions.lcnn.traced`) against the reference and the
chunked PyTorch paths: values, input gradients with a graph, and the gradients of losses made
of them, with the reference fallbacks removed where the native functions serve alone."""

import pytest
import torch

from actions.lcnn import LConv, native, use_fast_path
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.kernels import native as build

pytestmark = pytest.mark.skipif(
    not native.available(torch.empty(1, 1, 1, 3, 3, dtype=torch.complex128)),
    reason="no native kernel on this machine",
)


def dot(a, b):
    return (a.conj() * b).real.sum()


@pytest.mark.parametrize(
    "group,dims", [("SU(3)", (2, 3, 4, 5)), ("SU(2)", (3, 4, 2)), ("SU(3)", (4, 3))]
)
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("doubled", [False, True])
def test_hop_convolution_training_derivatives_equal_the_reference(
    group, dims, dtype, tol, doubled, monkeypatch
):
    """Training's double backpropagation through the native convolution (trained weights):
    the links' and inputs' gradients with a graph, and the gradients of a loss made of them
    and of the value, with respect to inputs, upstream gradient and weights, against the
    reference path, on anisotropic lattices. Where the loss gradient goes to those alone (as
    :func:`workflows.training.losses.backpropagate` sends it) the native tangent kernels give
    it; the links' second derivatives come from the reference transports. ``doubled``: the
    convolution of ``(W, W^dagger)`` from 5 channels, whose kernels copy half the transports
    and fold the inputs' gradient."""
    import actions.lcnn.hopconv as hopconv

    f = GaugeField.hot(list(dims), group, ChainRNG(3, 2), dtype=dtype)
    torch.manual_seed(0)
    N = f.links.shape[-1]
    U = f.links.clone().requires_grad_(True)
    C = 5 if doubled else 4
    W = torch.randn(2, C, *dims, N, N, dtype=dtype, requires_grad=True)
    G = torch.randn(2, 5, *dims, N, N, dtype=dtype, requires_grad=True)
    R1, R2, G2 = torch.randn_like(U), torch.randn_like(W), torch.randn_like(G)
    conv = LConv(2 * C if doubled else C, 5, 2, len(dims))
    assert conv._native(W, conv.weight)

    def run(links):
        y = conv(U, W, doubled=doubled)
        dU, dW = torch.autograd.grad(dot(G, y), [U, W], create_graph=True)
        loss = dot(R1, dU) + dot(R2, dW) + dot(G2, y)
        inputs = [W, G, *conv.parameters()] + ([U] if links else [])
        return (y, dU, dW, *torch.autograd.grad(loss, inputs))

    reference = hopconv.reference_gradients
    for links in (False, True):
        if not links:  # the native kernels alone
            monkeypatch.setattr(hopconv, "reference_gradients", None)
        fast = run(links)
        monkeypatch.setattr(hopconv, "reference_gradients", reference)
        use_fast_path(conv, False)
        ref = run(links)
        use_fast_path(conv, True)
        assert len(fast) == 8 + links
        for a, b in zip(fast, ref):
            assert float((a - b).detach().abs().max() / b.detach().abs().max()) < tol


@pytest.mark.parametrize("alone", ["links", "inputs"])
@pytest.mark.parametrize("doubled", [False, True])
def test_hop_convolution_one_gradient_trains_natively(alone, doubled, monkeypatch):
    """Where the first pass takes one input gradient of the convolution (the links' or the
    inputs'), its own native function serves (:class:`actions.lcnn.hopconv._LinkGradient`, the
    adjoint convolution, folded where the convolution is of ``(W, W^dagger)``) and the loss
    gradient equals the reference path's."""
    import actions.lcnn.hopconv as hopconv

    f = GaugeField.hot([3, 4, 2, 3], "SU(3)", ChainRNG(5, 2))
    torch.manual_seed(1)
    U = f.links.clone().requires_grad_(True)
    W = torch.randn(2, 4, 3, 4, 2, 3, 3, 3, dtype=torch.complex128, requires_grad=True)
    G = torch.randn(2, 5, 3, 4, 2, 3, 3, 3, dtype=torch.complex128, requires_grad=True)
    R = torch.randn_like(U if alone == "links" else W)
    conv = LConv(8 if doubled else 4, 5, 2, 4)

    def run():
        y = conv(U, W, doubled=doubled)
        (d,) = torch.autograd.grad(dot(G, y), [U if alone == "links" else W], create_graph=True)
        inputs = [W, G, *conv.parameters()]  # dW is free of W, dU of the bias and w0
        return (d, *torch.autograd.grad(dot(R, d), inputs, allow_unused=True))

    monkeypatch.setattr(hopconv, "reference_gradients", None)  # the native kernels alone
    fast = run()
    use_fast_path(conv, False)
    ref = run()
    assert sum(b is not None for b in ref) >= 4
    for a, b in zip(fast, ref):
        if b is None:  # unused: the native path may give zeros (the local weights for dU)
            assert a is None or not a.any()
        else:
            assert float((a - b).detach().abs().max() / b.detach().abs().max()) < 1e-12


def native_equals_torch(module, run, tol, monkeypatch):
    """``run()`` with the native functions alone (``module``'s reference fallback removed)
    against the chunked PyTorch path (``LQCD_HMC_NATIVE=0``), each result within ``tol``."""
    monkeypatch.setattr(module, "reference_gradients", None)
    fast = run()
    monkeypatch.setenv(build.SWITCH, "0")
    ref = run()
    for x, y in zip(fast, ref):
        assert float((x - y).detach().abs().max() / y.detach().abs().max()) < tol


def training_operands(N, dtype, flags):
    """``A (2, 6 - id_a, 3, 4, N, N)``, ``B (2, 5 - id_b, ...)`` and weights ``a (4, 6, 5)``,
    all requiring gradients, seeded by ``N``."""
    torch.manual_seed(N)
    id_a, id_b = flags
    A = torch.randn(2, 6 - id_a, 3, 4, N, N, dtype=dtype, requires_grad=True)
    B = torch.randn(2, 5 - id_b, 3, 4, N, N, dtype=dtype, requires_grad=True)
    a = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    return A, B, a


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(1, 1), (0, 1), (1, 0), (0, 0)])
def test_bilinear_training_derivatives_equal_the_torch_path(N, dtype, tol, flags, monkeypatch):
    """Training's double backpropagation through the bilinear product: the native
    differentiable backward (:class:`actions.lcnn.bilinear._BilinearGradient`, one weight
    contraction for both input gradients, its own backward by the paired product) against the
    chunked PyTorch path (``LQCD_HMC_NATIVE=0``): the value, the input gradients with a graph,
    and the gradients of a loss made of them with respect to weights, inputs and the upstream
    gradient."""
    import actions.lcnn.bilinear as bilinear

    A, B, a = training_operands(N, dtype, flags)
    id_a, id_b = flags
    G = torch.randn(2, 4, 3, 4, N, N, dtype=dtype, requires_grad=True)
    RA, RB, G2 = torch.randn_like(A), torch.randn_like(B), torch.randn_like(G)

    def run():
        out = bilinear.bilinear(a, A, B, bool(id_a), bool(id_b))
        dA, dB = torch.autograd.grad(dot(G, out), [A, B], create_graph=True)
        loss = dot(RA, dA) + dot(RB, dB) + dot(G2, out)
        return (out, dA, dB, *torch.autograd.grad(loss, [a, A, B, G]))

    native_equals_torch(bilinear, run, tol, monkeypatch)


def test_bilinear_third_derivative_comes_from_the_reference():
    """A backward pass of the native differentiable backward that is itself differentiated
    (a third derivative) runs through PyTorch's products and equals the chunked path's."""
    import actions.lcnn.bilinear as bilinear

    torch.manual_seed(0)
    A = torch.randn(1, 3, 4, 3, 3, dtype=torch.complex128, requires_grad=True)
    B = torch.randn(1, 2, 4, 3, 3, dtype=torch.complex128, requires_grad=True)
    a = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    G = torch.randn(1, 2, 4, 3, 3, dtype=torch.complex128)
    R, S = torch.randn_like(A), torch.randn_like(B)

    def third():
        out = bilinear.bilinear(a, A, B, True, True)
        dA, dB = torch.autograd.grad(dot(G, out), [A, B], create_graph=True)
        (da,) = torch.autograd.grad(dot(R, dA) + dot(S, dB), [a], create_graph=True)
        return torch.autograd.grad((da**2).sum(), [A, B])

    fast = third()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(build.SWITCH, "0")
        ref = third()
    for x, y in zip(fast, ref):
        assert float((x - y).abs().max() / y.abs().max()) < 1e-12


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(1, 1), (0, 1), (1, 0), (0, 0)])
def test_traced_training_derivatives_equal_the_torch_path(N, dtype, tol, flags, monkeypatch):
    """Training's double backpropagation through the last layer's traced product: the native
    differentiable backward (:class:`actions.lcnn.traced._TraceBackward`) against the chunked
    PyTorch path (``LQCD_HMC_NATIVE=0``), for the value, the input gradients with a graph,
    and the gradients of a loss made of them with respect to weights, inputs and the upstream
    gradient."""
    import actions.lcnn.traced as traced

    A, B, a = training_operands(N, dtype, flags)
    id_a, id_b = flags
    g = torch.randn(2, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    RA, RB, g2 = torch.randn_like(A), torch.randn_like(B), torch.randn_like(g)

    def run():
        out = traced.trace_bilinear(a, A, B, bool(id_a), bool(id_b))
        dA, dB = torch.autograd.grad((out * g.to(out.dtype)).sum(), [A, B], create_graph=True)
        loss = dot(RA, dA) + dot(RB, dB) + (out * g2.to(out.dtype)).sum()
        return (out, dA, dB, *torch.autograd.grad(loss, [a, A, B, g]))

    native_equals_torch(traced, run, tol, monkeypatch)
