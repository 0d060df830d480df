"""The L-CNN's C kernels (:mod:`actions.lcnn.native`) against their definitions written as
einsums: the bilinear layer ``out_i = sum_jk a_ijk X_j Y_k``, its backward pass, its weight
gradient, its paired product and its trace (with gradients, and the traced paired product),
for SU(2) and SU(3), both precisions, adjoint and identity flags and output channels that are
no multiple of the vector width; the convolution's one-hop kernel against the reference
convolution (value, gradients); the native Laplacian; and the build
(:mod:`lqcd_hmc.kernels.native`): cached per source, off by ``LQCD_HMC_NATIVE=0``, a warning
and the PyTorch path where no compiler works. Training's double backpropagation through
them: ``tests/test_lcnn_native_training.py``."""

import pytest
import torch

from actions.lcnn import LConv, Plaq, native, use_fast_path
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.kernels import native as build

pytestmark = pytest.mark.skipif(
    not native.available(torch.empty(1, 1, 1, 3, 3, dtype=torch.complex128)),
    reason="no native kernel on this machine",
)


def definition(a, X, Y, adj_x, adj_y, id_x, id_y):
    n, _, S, N, _ = X.shape
    eye = torch.eye(N, dtype=X.dtype).expand(n, 1, S, N, N)
    X, Y = (Z.mH if adj else Z for Z, adj in ((X, adj_x), (Y, adj_y)))
    X = torch.cat([X, eye], 1) if id_x else X
    Y = torch.cat([Y, eye], 1) if id_y else Y
    return torch.einsum("ijk,bjsml,bkslp->bismp", a.to(X.dtype), X, Y)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 0, 0, 0), (1, 0, 0, 1), (0, 1, 1, 0), (1, 1, 1, 1)])
def test_kernel_equals_the_definition(N, dtype, tol, flags):
    torch.manual_seed(N)
    J, K, I = 5, 7, 3  # I = 3: the kernel's vectors are padded past the output channels
    adj_x, adj_y, id_x, id_y = flags
    X = torch.randn(2, J - id_x, 11, N, N, dtype=dtype)
    Y = torch.randn(2, K - id_y, 11, N, N, dtype=dtype)
    a = torch.randn(I, J, K, dtype=torch.float64)
    out = native.bilinear(a, X, Y, *map(bool, flags))
    ref = definition(a, X, Y, *flags)
    assert out.shape == (2, I, 11, N, N)
    assert float((out - ref).abs().max() / ref.abs().max()) < tol


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 0), (1, 1), (1, 0)])
def test_traced_kernel_equals_the_definition(N, dtype, tol, flags):
    """``sum_jk a_ijk Re Tr(X_j Y_k)`` and its gradients with respect to X, Y and the weights
    (autograd of the einsum)."""
    torch.manual_seed(N)
    id_x, id_y = flags
    X = torch.randn(2, 6, 7, N, N, dtype=dtype, requires_grad=True)
    Y = torch.randn(2, 5, 7, N, N, dtype=dtype, requires_grad=True)
    a = torch.randn(3, 6 + id_x, 5 + id_y, dtype=torch.float64, requires_grad=True)
    ref = definition(a, X, Y, 0, 0, id_x, id_y).diagonal(dim1=-2, dim2=-1).sum(-1).real
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(ref, [X, Y, a], g)
    out = native.trace_bilinear(a, X, Y, *map(bool, flags))
    dX, dY = native.trace_bilinear_backward(a, X, Y, g, *map(bool, flags))
    da = native.trace_bilinear_weight_grad(X, Y, g, *map(bool, flags))
    onlyX, noY = native.trace_bilinear_backward(a, X, Y, g, *map(bool, flags), (True, False))
    noX, onlyY = native.trace_bilinear_backward(a, X, Y, g, *map(bool, flags), (False, True))
    assert noX is None and noY is None
    assert torch.equal(onlyX, dX) and torch.equal(onlyY, dY)  # each alone, the same numbers
    for mine, theirs in zip((out, dX, dY, da), (ref, *grads)):
        assert float((mine - theirs).detach().abs().max() / theirs.detach().abs().max()) < tol


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 0), (1, 1), (0, 1)])
def test_backward_kernel_equals_autograd_of_the_definition(N, dtype, tol, flags):
    """Both input gradients from one weight contraction, ``H_jk = sum_i a_ijk G_i``."""
    torch.manual_seed(N)
    id_a, id_b = flags
    A = torch.randn(2, 7 - id_a, 11, N, N, dtype=dtype, requires_grad=True)
    B = torch.randn(2, 6 - id_b, 11, N, N, dtype=dtype, requires_grad=True)
    a = torch.randn(5, 7, 6, dtype=torch.float64)
    out = definition(a, A, B, 0, 0, id_a, id_b)
    G = torch.randn_like(out)
    grads = torch.autograd.grad((out * G.conj()).real.sum(), [A, B])
    mine = native.bilinear_backward(a, A, B, G, *map(bool, flags))
    for m, r in zip(mine, grads):
        assert float((m - r).abs().max() / r.abs().max()) < tol


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 0), (1, 1), (1, 0), (0, 1)])
def test_weight_gradient_kernel_equals_autograd_of_the_definition(N, dtype, tol, flags):
    """``da_ijk = Re sum_x <A_j, G_i B_k^dagger>`` summed over configurations and sites, with
    output channels (5) that are no multiple of the vector width and more input channels than
    one block of rows (9 = 2 x 4 + 1)."""
    torch.manual_seed(N)
    id_a, id_b = flags
    A = torch.randn(2, 9 - id_a, 13, N, N, dtype=dtype)
    B = torch.randn(2, 6 - id_b, 13, N, N, dtype=dtype)
    a = torch.randn(5, 9, 6, dtype=torch.float64, requires_grad=True)
    out = definition(a, A, B, 0, 0, id_a, id_b)
    G = torch.randn_like(out)
    (ref,) = torch.autograd.grad((out * G.conj()).real.sum(), [a])
    mine = native.bilinear_weight_grad(A, B, G, *map(bool, flags))
    assert mine.shape == a.shape and mine.dtype == A.real.dtype
    assert float((mine - ref).abs().max() / ref.abs().max()) < tol


def padded(X, C, identity):
    """``X`` extended by the identity where ``identity``, then by zero to ``C`` channels."""
    n, c, S, N, _ = X.shape
    eye = torch.eye(N, dtype=X.dtype).expand(n, int(identity), S, N, N)
    return torch.cat([X, eye, X.new_zeros(n, C - c - int(identity), S, N, N)], 1)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 1, 1, 0), (0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 0, 1)])
@pytest.mark.parametrize("wanted", [(True, True), (True, False), (False, True)])
def test_pair_kernel_equals_the_definition(N, dtype, tol, flags, wanted):
    """``out_i = sum_jk a_ijk P_jk`` and ``da_ijk = Re sum_x <P_jk, G_i>`` with ``P_jk = X_j
    Y_k + X2_j Y2_k``: operands with fewer stored channels than the weights (the identity,
    then zeros), 9 x 7 channels (more rows of ``da`` than one block, no multiple of the vector
    width), 5 outputs, each output alone or both."""
    torch.manual_seed(N)
    J, K, I = 9, 7, 5
    stored = (J - 1, K - flags[1], J - flags[2], K - 2)
    X, Y, X2, Y2 = (torch.randn(2, c, 6, N, N, dtype=dtype) for c in stored)
    a = torch.randn(I, J, K, dtype=torch.float64)
    G = torch.randn(2, I, 6, N, N, dtype=dtype)
    x, y, x2, y2 = (padded(Z, C, bool(f)) for Z, C, f in zip((X, Y, X2, Y2), (J, K, J, K), flags))
    P = x[:, :, None] @ y[:, None] + x2[:, :, None] @ y2[:, None]  # (n, J, K, S, N, N)
    out_ref = torch.einsum("ijk,njkspq->nispq", a.to(dtype), P)
    da_ref = torch.einsum("njkspq,nispq->ijk", P.conj(), G).real
    out, da = native.bilinear_pair(a, X, Y, X2, Y2, G, tuple(map(bool, flags)), *wanted)
    assert (out is None, da is None) == (not wanted[0], not wanted[1])
    for mine, ref in ((out, out_ref), (da, da_ref)):
        if mine is not None:
            assert mine.shape == ref.shape and mine.dtype == ref.dtype
            assert float((mine - ref).abs().max() / ref.abs().max()) < tol


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("flags", [(0, 1, 1, 0), (0, 0, 0, 0), (1, 1, 1, 1)])
@pytest.mark.parametrize("wanted", [(True, True), (True, False), (False, True)])
def test_traced_pair_kernel_equals_the_definition(N, dtype, tol, flags, wanted):
    """``out_i = sum_jk a_ijk P_jk`` and ``da_ijk = sum_x g_i P_jk`` with ``P_jk = Re Tr(X_j
    Y_k) + Re Tr(X2_j Y2_k)``: stored channels, identities and zeros as in the paired product,
    13 sites (blocks of 2N sites and a remainder), each output alone or both."""
    torch.manual_seed(N)
    J, K, I = 9, 7, 5
    stored = (J - 1, K - flags[1], J - flags[2], K - 2)
    X, Y, X2, Y2 = (torch.randn(2, c, 13, N, N, dtype=dtype) for c in stored)
    a = torch.randn(I, J, K, dtype=torch.float64)
    g = torch.randn(2, I, 13, dtype=X.real.dtype)
    x, y, x2, y2 = (padded(Z, C, bool(f)) for Z, C, f in zip((X, Y, X2, Y2), (J, K, J, K), flags))
    tr = torch.einsum("njsml,nkslm->njks", x, y) + torch.einsum("njsml,nkslm->njks", x2, y2)
    P = tr.real.to(torch.float64)
    out_ref = torch.einsum("ijk,njks->nis", a, P)
    da_ref = torch.einsum("njks,nis->ijk", P, g.to(torch.float64))
    out, da = native.trace_bilinear_pair(a, X, Y, X2, Y2, g, tuple(map(bool, flags)), *wanted)
    assert (out is None, da is None) == (not wanted[0], not wanted[1])
    for mine, ref in ((out, out_ref), (da, da_ref)):
        if mine is not None:
            assert mine.shape == ref.shape and mine.dtype == X.real.dtype
            assert float((mine.double() - ref).abs().max() / ref.abs().max()) < tol


def test_kernel_reads_conjugate_views_and_many_channels():
    """Inputs that are lazy conjugates or strided views, and a layer of the default size."""
    torch.manual_seed(0)
    X = torch.randn(1, 25, 6, 3, 3, dtype=torch.complex128).conj()
    Y = torch.randn(1, 24, 6, 3, 3, dtype=torch.complex128).transpose(-1, -2)
    a = torch.randn(24, 25, 25, dtype=torch.float64)
    ref = definition(a, X, Y, 0, 0, 0, 1)
    assert float((native.bilinear(a, X, Y, id_y=True) - ref).abs().max() / ref.abs().max()) < 1e-13


def test_switch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(build.SWITCH, "0")
    assert not native.available(torch.empty(1, 1, 1, 3, 3, dtype=torch.complex128))


def test_build_is_cached_and_a_missing_compiler_warns(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(build, "_LOADED", {})
    assert build.load(native.SOURCE) is not None
    (built,) = (tmp_path / "lqcd-hmc" / "native").glob("lcnn-*.so")
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(build, "_LOADED", {})
    assert build.load(native.SOURCE) is not None
    assert built.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    monkeypatch.setattr(build, "_LOADED", {})
    monkeypatch.setenv("CC", "false")  # a compiler that always fails: a new cache key
    with pytest.warns(RuntimeWarning, match="lcnn.c unavailable"):
        assert build.load(native.SOURCE) is None
    assert not native.available(torch.empty(1, 1, 1, 3, 3, dtype=torch.complex128))
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no partial file left


@pytest.mark.parametrize(
    "group,dims", [("SU(3)", (2, 3, 4, 5)), ("SU(2)", (3, 4, 2)), ("SU(3)", (4, 3))]
)
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 2e-6)])
def test_hop_convolution_equals_the_reference(group, dims, dtype, tol):
    """Frozen weights take the native kernels (:mod:`actions.lcnn.hopconv`): value and the
    gradients of links and inputs against the reference path, on anisotropic lattices (every
    direction's neighbours and boundaries), 4, 3 and 2 dimensions."""
    f = GaugeField.hot(list(dims), group, ChainRNG(3, 2), dtype=dtype)
    U = f.links.clone().requires_grad_(True)
    W = Plaq()(f.links).detach().requires_grad_(True)
    torch.manual_seed(0)
    conv = LConv(W.shape[1], 5, 2, len(dims)).requires_grad_(False)
    G = torch.randn(2, 5, *dims, *W.shape[-2:], dtype=dtype)
    assert conv._native(W, conv.weight) and not conv.uses_hops(W)

    def run():
        y = conv(U, W)
        return (y, *torch.autograd.grad((y * G.conj()).real.sum(), [U, W]))

    fast = run()
    use_fast_path(conv, False)
    for a, b in zip(fast, run()):
        assert float((a - b).detach().abs().max() / b.detach().abs().max()) < tol


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
@pytest.mark.parametrize("C,Cp", [(5, 8), (12, 12), (13, 16)])
def test_layout_changes_are_the_permutation(dtype, C, Cp):
    """:func:`native.channels_last` is ``permute`` to ``(n, S, N^2, 2, C)`` with zero channels
    up to ``Cp``, whatever the tiles' remainders (``2 * 3 * 5 * 7`` sites); ``channels_first``
    undoes it, also on a conjugate view."""
    torch.manual_seed(C)
    W = torch.randn(2, C, 2, 3, 5, 7, 3, 3, dtype=dtype)
    X = native.channels_last(W.conj(), Cp)
    expected = torch.view_as_real(W.conj().resolve_conj()).reshape(2, C, -1, 9, 2)
    assert torch.equal(X[..., :C], expected.permute(0, 2, 3, 4, 1))
    assert not X[..., C:].any()
    assert torch.equal(native.channels_first(X, C, W), W.conj().resolve_conj())


def dot(a, b):
    return (a.conj() * b).real.sum()


@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
def test_native_laplacian_equals_the_hop_matrices(dtype, tol):
    """The Laplacian inputs as the native convolution (:func:`actions.lcnn.hopconv.hop_laplacian`)
    against the hop matrices (:func:`actions.lcnn.laplacian`): value, the links' gradient, and
    a second derivative (a loss of that gradient), on an anisotropic lattice."""
    from actions.lcnn import laplacian, transport_hops
    from actions.lcnn.hopconv import hop_laplacian

    f = GaugeField.hot([2, 3, 4, 3], "SU(3)", ChainRNG(5, 2), dtype=dtype)
    torch.manual_seed(1)
    G = torch.randn(2, 6, 2, 3, 4, 3, 3, 3, dtype=dtype)

    def run(fn):
        U = f.links.clone().requires_grad_(True)
        out = fn(U, Plaq().oriented(U))
        (dU,) = torch.autograd.grad(dot(G, out), U, create_graph=True)
        return out, dU, torch.autograd.grad((dU.abs() ** 2).sum(), U)[0]

    native_path = run(hop_laplacian)
    hop_matrices = run(lambda U, P: laplacian(P, transport_hops(U)))
    for a, b in zip(native_path, hop_matrices):
        assert float((a - b).detach().abs().max() / b.detach().abs().max()) < tol
