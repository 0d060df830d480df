"""The L-CNN's fast path against its reference path (the definition), complex128, to 1e-12
relative: the bilinear layer (both contraction orders, every gradient and the double backward
of training), the convolution (kernel sizes 2 and 3), the whole action's value, force and
training gradients, the site chunking, the complex64 path's accuracy, and the bilinear layer's
choice of path by its output channels."""

import pytest
import torch
from helpers import random_field

import actions.lcnn.bilinear as bilinear_module
from actions.lcnn import (
    Architecture,
    LBilin,
    LCNNAction,
    LCNNFixedPoint,
    LConv,
    LConvBilin,
    Plaq,
    laplacian,
    native,
    plaquette_adjoint,
    transport_hops,
    use_fast_path,
)
from lqcd_hmc.field import GaugeField
from lqcd_hmc.kernels.native import SWITCH
from workflows.training.losses import backpropagate, losses


@pytest.fixture(autouse=True)
def fast_path_everywhere(monkeypatch):
    """These tests pin the fast path on small layers, where ``LBilin`` would otherwise take the
    reference path (:func:`actions.lcnn.bilinear.pays`); the dispatch has its own test."""
    monkeypatch.setattr(bilinear_module, "FAST_ROWS_CPU", {})


@pytest.fixture(params=["native", "torch"])
def bilinear_kernel(request, monkeypatch):
    """The bilinear layer's fast path with the C kernel (:mod:`actions.lcnn.native`, skipped
    where it cannot be built) and with the chunked PyTorch path that serves elsewhere."""
    if request.param == "torch":
        monkeypatch.setenv(SWITCH, "0")
    elif not native.available(torch.empty(1, 1, 1, 3, 3, dtype=torch.complex128)):
        pytest.skip("no native kernel on this machine")
    return request.param


def rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max()) if a is not None else 0.0


def both_paths(module, fn):
    """``fn()`` on the fast path and on the reference path."""
    use_fast_path(module, True)
    fast = fn()
    use_fast_path(module, False)
    ref = fn()
    use_fast_path(module, True)
    return fast, ref


def channels(n, C, seed):
    torch.manual_seed(seed)
    return torch.randn(n, C, 3, 2, 4, 3, 3, 3, dtype=torch.complex128, requires_grad=True)


@pytest.mark.parametrize("ca,cb,out", [(7, 3, 4), (3, 7, 4), (5, 5, 2)])
@pytest.mark.parametrize("identity", [True, False])
def test_bilinear_fast_path_equals_reference(ca, cb, out, identity, bilinear_kernel):
    """Value, gradients of inputs and weights, and the gradient of a function of the input
    gradients with respect to the weights (what training's derivative loss needs); the input
    gradients also as a force takes them, with no graph (the native kernel's adjoint flags)."""
    torch.manual_seed(0)
    layer = LBilin(ca, cb, out, identity=identity)
    A, B = channels(2, ca, 1), channels(2, cb, 2)
    G = torch.randn(2, out, 3, 2, 4, 3, 3, 3, dtype=torch.complex128)

    def run():
        y = layer(A, B)
        dA, dB, da = torch.autograd.grad(
            (y * G.conj()).real.sum(), [A, B, layer.weight], create_graph=True
        )
        (dd,) = torch.autograd.grad((dA.abs() ** 2).sum() + (dB.abs() ** 2).sum(), layer.weight)
        force = torch.autograd.grad((layer(A, B) * G.conj()).real.sum(), [A, B])
        return y, dA, dB, da, dd, *force

    for fast, ref in zip(*both_paths(layer, run)):
        assert rel(fast, ref) < 1e-12


@pytest.mark.parametrize("chunk_bytes", [1 << 30, 2 * 5 * 4 * 8 * 7])
def test_traced_bilinear_equals_the_trace_of_the_reference(monkeypatch, chunk_bytes):
    """``Re Tr W''_i / N`` from the Gram matrices of the inputs (what the last layer computes)
    against the trace of the reference layer's output: value, gradients of inputs and weights,
    and the double backward of training; in one chunk and in chunks of 7 sites."""
    monkeypatch.setattr(bilinear_module, "CHUNK_BYTES", chunk_bytes)
    torch.manual_seed(0)
    layer = LBilin(4, 3, 5)
    A, B = channels(2, 4, 1), channels(2, 3, 2)
    g = torch.randn(2, 5, 3, 2, 4, 3, dtype=torch.float64)

    def run(trace):
        t = trace()
        dA, dB, da = torch.autograd.grad((t * g).sum(), [A, B, layer.weight], create_graph=True)
        (dd,) = torch.autograd.grad((dA.abs() ** 2).sum() + (dB.abs() ** 2).sum(), layer.weight)
        return t, dA, dB, da, dd

    fast = run(lambda: layer.real_trace(A, B))
    use_fast_path(layer, False)
    ref = run(lambda: torch.diagonal(layer(A, B), dim1=-2, dim2=-1).sum(-1).real / 3)
    assert fast[0].shape == (2, 5, 3, 2, 4, 3)
    for f, r in zip(fast, ref):
        assert rel(f, r) < 1e-12


def test_bilinear_takes_the_fast_path_where_it_pays(monkeypatch):
    """On a CPU without the native kernel the chunked path serves layers from a number of
    output channels on (here 8 in float64 and 12 in float32; :data:`FAST_ROWS_CPU` holds the
    measured ones) and the reference path the smaller ones; the result is the same either
    way. The native kernel serves every size."""
    monkeypatch.setattr(bilinear_module, "FAST_ROWS_CPU", {torch.float64: 8, torch.float32: 12})
    like = torch.empty(1, 1, 1, 3, 3, dtype=torch.complex64)
    assert bilinear_module.pays(1, like) == native.available(like)
    monkeypatch.setenv(SWITCH, "0")
    calls = []
    real = bilinear_module.bilinear
    monkeypatch.setattr(
        "actions.lcnn.layers.bilinear", lambda *a: calls.append(a[0].shape[0]) or real(*a)
    )
    for out, dtype, fast in (
        (7, torch.complex128, False),
        (8, torch.complex128, True),
        (8, torch.complex64, False),
        (12, torch.complex64, True),
    ):
        calls.clear()
        layer = LBilin(3, 2, out)
        A, B = (channels(1, c, s).to(dtype) for c, s in ((3, 1), (2, 2)))
        y = layer(A, B)
        assert calls == ([out] if fast else [])
        use_fast_path(layer, False)
        tol = 1e-12 if dtype == torch.complex128 else 1e-5
        assert rel(y, layer(A, B)) < tol
    # off the CPU (a GPU: one chunk is one kernel launch) the fast path serves every size
    assert bilinear_module.pays(1, torch.empty(1, dtype=torch.complex64, device="meta"))


def test_bilinear_chunks_do_not_change_the_result(monkeypatch):
    """Many small chunks (a ragged last one) against one chunk for all sites (the PyTorch
    path; the native kernel takes one site at a time)."""
    monkeypatch.setenv(SWITCH, "0")
    torch.manual_seed(0)
    layer = LBilin(6, 4, 3)
    A, B = channels(2, 6, 1), channels(2, 4, 2)
    monkeypatch.setattr(bilinear_module, "CHUNK_BYTES", 1 << 30)
    whole = layer(A, B)
    gw = torch.autograd.grad(whole.real.sum() + whole.imag.sum(), [A, B])
    monkeypatch.setattr(bilinear_module, "CHUNK_BYTES", 7 * 2 * 4 * 5 * 9 * 16)
    cpu = torch.device("cpu")
    assert bilinear_module.site_chunk(2, 72, 4 * 5 * 9 * 16, cpu) == 7
    # a GPU takes whole-lattice chunks up to GPU_CHUNK_BYTES (a chunk is a kernel launch)
    assert bilinear_module.site_chunk(2, 72, 4 * 5 * 9 * 16, torch.device("meta")) == 72
    part = layer(A, B)
    gp = torch.autograd.grad(part.real.sum() + part.imag.sum(), [A, B])
    assert rel(part, whole) < 1e-14
    assert all(rel(p, w) < 1e-14 for p, w in zip(gp, gw))


@pytest.mark.parametrize("kernel", [2, 3])
def test_convolution_fast_path_equals_reference(kernel):
    torch.manual_seed(0)
    f = random_field("SU(3)", 4, L=3, batch=2)
    U = f.links.clone().requires_grad_(True)
    W = Plaq()(f.links).detach().requires_grad_(True)
    conv = LConv(W.shape[1], 5, kernel, 4)

    def run():
        y = conv(U, W)
        return (y, *torch.autograd.grad(y.real.sum(), [U, W, conv.weight, conv.weight0]))

    for fast, ref in zip(*both_paths(conv, run)):
        assert rel(fast, ref) < 1e-12


def model(seed=0):
    torch.manual_seed(seed)
    m = LCNNFixedPoint(Architecture(D=4, group="SU(3)", channels=[4, 6, 5], kernel_sizes=[2, 2, 1]))
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.3, -0.1, 0.02]))
    return m


def test_action_force_and_training_gradients_equal_the_reference(bilinear_kernel):
    m = model()
    f = random_field("SU(3)", 4, L=3, eps=0.7, batch=2)
    act = LCNNAction(2.5, model=m)
    for fast, ref in zip(*both_paths(m, lambda: (act(f), act.force(f)))):
        assert rel(fast, ref) < 1e-12
    trained = model().train()
    A = torch.tensor([40.0, 55.0], dtype=torch.float64)
    dA = torch.randn(2, 4, 3, 3, 3, 3, 8, dtype=torch.float64)

    def grads():
        L1, L2 = losses(trained, f, A, dA, create_graph=True)
        # the kernel-size-1 layer's hop weights are empty and unused
        return torch.autograd.grad(L1 + L2, list(trained.parameters()), allow_unused=True)

    fast, ref = both_paths(trained, grads)
    assert [g is None for g in fast] == [g is None for g in ref]
    assert sum(g is not None for g in fast) >= 10
    for a, b in zip(fast, ref):
        assert rel(a, b) < 1e-12


def test_backpropagate_gives_the_parameters_their_full_gradients():
    """The trainer's :func:`backpropagate` (the loss's gradient carried to the parameters
    alone) equals a plain ``backward``, which also differentiates to the links."""
    f = random_field("SU(3)", 4, L=3, eps=0.7, batch=2)
    A = torch.tensor([40.0, 55.0], dtype=torch.float64)
    dA = torch.randn(2, 4, 3, 3, 3, 3, 8, dtype=torch.float64)
    grads = []
    for step in (lambda L: L.backward(), lambda L: backpropagate(L, m.parameters())):
        m = model().train()
        L1, L2 = losses(m, f, A, dA, create_graph=True)
        step(L1 + L2)
        grads.append([p.grad for p in m.parameters()])
    assert [g is None for g in grads[0]] == [g is None for g in grads[1]]
    for a, b in zip(*grads):
        assert a is None or rel(b, a) < 1e-13


@pytest.mark.parametrize("kernel_size", [2, 1])
def test_folded_first_layer_equals_the_unfolded_one(kernel_size):
    """On inputs that hold their own adjoints (the plaquettes), ``LConvBilin`` with
    ``adjoint`` runs on half the channels with summed weights: value, traced value and the
    gradients of links, inputs and weights as without it, and as on the reference path (of
    kernel size 1 the traced value is one traced product of the inputs with themselves,
    folded or with the rows of the adjoints moved, ``LConvBilin._local_trace``)."""
    torch.manual_seed(0)
    f = random_field("SU(3)", 4, L=3, eps=0.7, batch=2)
    U = f.links.clone().requires_grad_(True)
    layer = LConvBilin(12, 5, kernel_size, 4)
    params = list(layer.parameters())

    def run(adjoint):
        W = Plaq()(U)
        y, t = layer(U, W, adjoint=adjoint), layer.real_trace(U, W, adjoint=adjoint)
        loss = (y.abs() ** 2).sum() + t.sum()
        return y, t, *torch.autograd.grad(loss, [U, *params], allow_unused=True)

    folded, full = run(plaquette_adjoint(4)), run(None)
    _, ref = both_paths(layer, lambda: run(None))
    for a, b, c in zip(folded, full, ref):
        assert (a is None) == (b is None) == (c is None)
        assert rel(a, c) < 1e-12 and rel(b, c) < 1e-12


@pytest.mark.parametrize("arch", [dict(inputs="laplacians"), dict(smearing=[3])])
def test_laplacian_inputs_and_smearing_equal_the_reference(arch):
    """The folded first layer on Laplacian inputs and in a smearing step, the whole action's
    value and force against the reference path."""
    torch.manual_seed(2)
    m = LCNNFixedPoint(
        Architecture(D=4, group="SU(3)", channels=[4, 5], kernel_sizes=[2, 1], **arch)
    )
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.3, -0.1, 0.02]))
        for e in m.net.smear_exp:
            e.weight.normal_(0, 0.1)
    f = random_field("SU(3)", 4, L=3, eps=0.7)
    act = LCNNAction(2.5, model=m)
    for fast, ref in zip(*both_paths(m, lambda: (act(f), act.force(f)))):
        assert rel(fast, ref) < 1e-12
    if arch.get("inputs") == "laplacians":  # only the plaquettes are transported, not adjoints
        every = laplacian(Plaq()(f.links), transport_hops(f.links))
        assert rel(m.net.features(f.links)[1], every) < 1e-12


def test_complex64_force_keeps_single_precision_accuracy():
    """The complex64 fast path against complex128: the force to 2e-6 relative (measured 1.7e-7,
    a few float32 roundings), the value, accumulated in float64, to 1e-7 (measured 3e-9)."""
    m = model(1)
    f = random_field("SU(3)", 4, L=4, eps=0.7)
    act = LCNNAction(2.5, model=m)
    F64, S64 = act.force(f), act(f)
    single: GaugeField = f.to(dtype="complex64")
    assert rel(act.force(single).to(F64.dtype), F64) < 2e-6
    assert rel(act(single), S64) < 1e-7


def test_complex64_training_gradients_keep_single_precision_accuracy():
    """The loss gradient of a training step (double backpropagation) from complex64 fields
    against complex128, per parameter tensor to 1e-5 relative (measured 5e-10 to 2.5e-6 here,
    and the same range for the default 12/24/24 model on 4^4, stop 54): float32 products,
    float64 accumulation of the action and the losses."""
    m = model(1).train()
    f = random_field("SU(3)", 4, L=4, eps=0.7, batch=2)
    A = torch.tensor([40.0, 55.0], dtype=torch.float64)
    dA = torch.randn(2, 4, 4, 4, 4, 4, 8, dtype=torch.float64)
    grads = []
    for dtype in ("complex128", "complex64"):
        L1, L2 = losses(m, f.to(dtype=dtype), A, dA, create_graph=True)
        grads.append(torch.autograd.grad(L1 + L2, list(m.parameters()), allow_unused=True))
    checked = 0
    for a, b in zip(*grads):
        if a is not None and a.numel():
            assert rel(b, a) < 1e-5
            checked += 1
    assert checked >= 10
