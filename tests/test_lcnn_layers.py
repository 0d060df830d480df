"""L-CNN layers: gauge and translation equivariance (complex128, 1e-10), the memory-lean
convolution against a direct sum over transported copies, a hand-built 1x2 Wilson loop, and the
L-CNN action's invariances, cold-field value, Wilson limit and force."""

import pytest
import torch
from helpers import check_force, check_gauge_invariance, random_field

from actions import Wilson
from actions.lcnn import (
    LCNN,
    Architecture,
    LAct,
    LBilin,
    LCNNAction,
    LCNNFixedPoint,
    LConv,
    LConvBilin,
    LExp,
    Plaq,
    Poly,
    Trace,
    laplacian,
    transport,
    transport_hops,
)
from actions.lcnn.transport import transport_matrices
from lqcd_hmc.lattice import shift
from lqcd_hmc.loops import rectangle
from lqcd_hmc.rng import ChainRNG

CASES = [("SU(2)", 2), ("SU(3)", 4), ("U(1)", 3)]


def local(O, W):
    """``O(x) W(x) O(x)^dagger`` on a channel field."""
    return O.unsqueeze(1) @ W @ O.unsqueeze(1).mH


def transformed(f, seed=5):
    O = f.random_gauge(ChainRNG(seed, f.batch))
    return O, f.gauge_transform(O)


def layer_outputs(U, D, group, complex_weights):
    """Every layer applied to the links: name -> (output, transformation law)."""
    torch.manual_seed(3)
    W = Plaq()(U)
    C = W.shape[1]
    exp = LExp(C, D, group)
    torch.nn.init.normal_(exp.weight, std=0.3)
    act = LAct(C)
    torch.nn.init.normal_(act.shift)
    return {
        "plaq": (W, "local"),
        "poly": (Poly()(U), "local"),
        "lconv": (LConv(C, 3, 3, D, complex_weights=complex_weights)(U, W), "local"),
        "lconv_wide": (LConv(C, 2 * C, 2, D, complex_weights=complex_weights)(U, W), "local"),
        "lbilin": (LBilin(C, C, 2, complex_weights=complex_weights)(W, W.mH), "local"),
        "lconvbilin": (LConvBilin(C, 4, 2, D, complex_weights)(U, W), "local"),
        "lact": (act(W), "local"),
        "relu": (LAct(C, "relu")(W), "local"),
        "lexp": (exp(U, W), "links"),
        "trace": (Trace()(W), "invariant"),
    }


@pytest.mark.parametrize("complex_weights", [False, True])
@pytest.mark.parametrize("group,D", CASES)
def test_layers_are_gauge_equivariant(group, D, complex_weights):
    f = random_field(group, D, L=3, batch=2)
    O, g = transformed(f)
    before = layer_outputs(f.links, D, group, complex_weights)
    after = layer_outputs(g.links, D, group, complex_weights)
    for name, (out, law) in before.items():
        if law == "local":
            expect = local(O, out)
        elif law == "links":
            expect = f.with_links(out).gauge_transform(O).links
        else:
            expect = out
        assert (after[name][0] - expect).abs().max() < 1e-10, name
        assert out.abs().max() > 1e-3, name  # not trivially zero


@pytest.mark.parametrize("group,D", CASES)
def test_layers_are_translation_equivariant(group, D):
    f = random_field(group, D, L=3, batch=2)
    moved = f.with_links(shift(f.links, 1, 1, D))  # U'(x) = U(x + e_1)
    before = layer_outputs(f.links, D, group, False)
    after = layer_outputs(moved.links, D, group, False)
    for name, (out, law) in before.items():
        if law == "invariant":
            expect = torch.roll(out, -1, dims=out.dim() - D + 1)
        else:
            expect = shift(out, 1, 1, D)
        assert (after[name][0] - expect).abs().max() < 1e-12, name


def direct_lconv(conv, U, W):
    """The convolution as a plain sum over every transported copy of every input channel."""
    D, K = conv.D, conv.kernel_size
    eye = torch.eye(W.shape[-1], dtype=W.dtype)
    out = (
        torch.einsum("oc,bc...->bo...", conv.weight0.to(W.dtype), W)
        + conv.bias.to(W.dtype).view(-1, *[1] * (W.dim() - 2)) * eye
    )
    for mu in range(D):
        for si, sign in enumerate((1, -1)):
            Y = W
            for k in range(K - 1):
                Y = transport(U, Y, mu, sign)
                out = out + torch.einsum("oc,bc...->bo...", conv.weight[mu, si, k].to(W.dtype), Y)
    return out


@pytest.mark.parametrize("c_in,c_out", [(6, 2), (2, 6)])
def test_lean_lconv_equals_the_direct_sum(c_in, c_out):
    """Both contraction orders (mix then transport, Horner-fashion; transport then mix) equal
    the direct sum over all ``2 D (K-1)`` transported copies."""
    torch.manual_seed(0)
    f = random_field("SU(3)", 4, L=4, batch=2)
    W = Plaq()(f.links)[:, :c_in]
    conv = LConv(c_in, c_out, 3, 4)
    assert (conv(f.links, W) - direct_lconv(conv, f.links, W)).abs().max() < 1e-12


def test_transport_along_minus_mu_undoes_plus_mu():
    f = random_field("SU(3)", 4, L=3)
    W = Plaq()(f.links)
    back = transport(f.links, transport(f.links, W, 2, 1), 2, -1)
    assert (back - W).abs().max() < 1e-12


def test_hop_matrices_transport_and_their_derivatives():
    """The hop matrix applied to ``vec W`` is the transport; its hand-written backward (and the
    backward's own derivative, which training's double backpropagation takes) against finite
    differences."""
    f = random_field("SU(3)", 4, L=2, eps=0.8)
    W = Plaq()(f.links)[:, :2]
    for mu, sign in ((1, 1), (3, -1)):
        R = transport_hops(f.links)[2 * mu + (sign < 0)]
        Wc = shift(W, mu, sign, 4).flatten(-2).movedim(1, -1)
        got = (R @ Wc).movedim(-1, 1).unflatten(-1, (3, 3))
        assert (got - transport(f.links, W, mu, sign)).abs().max() < 1e-14
    V = f.links[:, 1, :1, :1, :1, :2].clone().requires_grad_(True)
    hop = lambda V: transport_matrices(V, 1, -1)  # noqa: E731
    assert torch.autograd.gradcheck(hop, (V,))
    assert torch.autograd.gradgradcheck(hop, (V,))


def test_rectangle_from_lconv_and_lbilin():
    """A 1x2 Wilson loop (two links along mu = 0, one along nu = 1) from hand-set weights:
    LConv transports the (0, 1) plaquette from x + e_0, LBilin multiplies it with the plaquette
    at x: ``U_mu(x) P(x + mu) U_mu(x)^dagger P(x) = R_{2x1}(x)``."""
    f = random_field("SU(3)", 4, L=4, batch=2)
    D = 4
    W = Plaq()(f.links)  # channel 0: U_{01}
    C = W.shape[1]
    conv = LConv(C, 1, 2, D)
    bil = LBilin(1, C, 1)
    with torch.no_grad():
        for p in (conv.weight0, conv.weight, conv.bias, bil.weight):
            p.zero_()
        conv.weight[0, 0, 0, 0, 0] = 1.0  # mu = 0, sign +, k = 1, from channel 0
        bil.weight[0, 0, 0] = 1.0  # (transported plaquette) x (plaquette)
    R = bil(conv(f.links, W), W)[:, 0]
    exact = rectangle(f.links, 0, 1, 2, 1)
    assert (R - exact).abs().max() < 1e-12
    # the combined layer holds the same loop among its terms: weights on W~_0 x conv_0
    cb = LConvBilin(C, 1, 2, D)
    with torch.no_grad():
        for p in cb.parameters():
            p.zero_()
        cb.conv.weight[0, 0, 0, 0, 0] = 1.0
        cb.bilin.weight[0, 0, 0] = 1.0  # W~_0 (plaquette) x conv_0 (its transport)
    Rt = cb(f.links, W)[:, 0]
    # P(x) T_{+0} P(x) is the loop read from the other corner: same trace as R
    tr = lambda M: torch.diagonal(M, dim1=-2, dim2=-1).sum(-1)
    assert (tr(Rt) - tr(exact)).abs().max() < 1e-12


def small_model(group="SU(3)", D=4, seed=0, **kw):
    torch.manual_seed(seed)
    m = LCNNFixedPoint(Architecture(D=D, group=group, channels=[4, 4], kernel_sizes=[2, 1], **kw))
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.3, -0.1, 0.02]))
    return m


@pytest.mark.parametrize("group,D", [("SU(2)", 4), ("SU(3)", 4)])
def test_lcnn_action_invariances_and_force(group, D):
    """Gauge and translation invariance of A; zero on the cold field; the autograd force
    matches central differences."""
    act = LCNNAction(2.0, model=small_model(group, D, polyakov=True, smearing=[2]))
    with torch.no_grad():
        torch.nn.init.normal_(act.model.net.smear_exp[0].weight, std=0.2)
    f = random_field(group, D, L=3, eps=0.5)
    check_gauge_invariance(act, f)
    moved = f.with_links(shift(f.links, 3, 1, D))
    assert torch.allclose(act(moved), act(f), rtol=1e-12)
    assert act(f).dtype == torch.float64
    cold = f.with_links(f.group.identity(f.links.shape[:-2]))
    assert act(cold).abs().max() < 1e-12
    check_force(act, f, rtol=1e-7)


def test_laplacian_inputs_keep_constant_flux_exact():
    """``inputs = "laplacians"``: the action is gauge and translation invariant, its force
    matches central differences, and on constant flux (covariantly constant) the network's
    deviation vanishes, so A is its preconditioner's there; with plaquette inputs it does not."""
    from actions.fixed_point.perfect import flux_targets

    f = random_field("SU(3)", 4, L=3, eps=0.5)
    model = small_model(inputs="laplacians")
    with torch.no_grad():  # deviations of order 1, as the trainer normalises them
        model.get_buffer("scale").fill_(float(model.deviation(f.links).std()))
    act = LCNNAction(2.0, model=model)
    assert model.reach == 3  # plaquettes 1, Laplacians 1, one kernel of size 2
    check_gauge_invariance(act, f)
    moved = f.with_links(shift(f.links, 1, 1, 4))
    assert torch.allclose(act(moved), act(f), rtol=1e-12)
    check_force(act, f, rtol=1e-7)
    assert act.model.deviation(f.links).abs().max() > 1e-3
    flux, _ = flux_targets("SU(3)", dtype=torch.complex128)
    assert act.model.deviation(flux.links).abs().max() < 1e-13
    assert small_model().deviation(flux.links).abs().max() > 1e-4
    # the hop matrices give the Laplacian of the reference transports
    W = Plaq()(f.links)
    ref = sum(transport(f.links, W, mu, s) for mu in range(4) for s in (1, -1)) / 8 - W
    assert (laplacian(W, transport_hops(f.links)) - ref).abs().max() < 1e-13
    with pytest.raises(ValueError, match="inputs"):
        Architecture(D=4, group="SU(3)", inputs="loops")


@pytest.mark.parametrize("inputs", ["plaquettes", "laplacians"])
def test_reach_is_the_range_of_dependence(inputs):
    """``LCNN.reach`` (the halo depth of domain decomposition): changing every link on sites
    farther than it (Chebyshev distance, periodic) from x leaves the output at x unchanged,
    changing those at exactly that distance does not."""
    net = small_model(inputs=inputs).net
    f = random_field("SU(3)", 4, L=9, eps=0.5)
    r = net.reach
    assert r == (3 if inputs == "laplacians" else 2)
    d = torch.arange(9)
    d = torch.minimum(d, 9 - d)
    cheb = torch.stack(torch.meshgrid(*[d] * 4, indexing="ij")).amax(0)
    g = torch.Generator().manual_seed(4)
    X = f.group.project_algebra(torch.randn(f.links.shape, dtype=f.links.dtype, generator=g))
    V = f.group.exp(0.3 * X) @ f.links
    at_x = lambda links: net(links)[:, 0, 0, 0, 0, 0]
    N0 = at_x(f.links)
    for dist, changes in ((r + 1, False), (r, True)):
        moved = torch.where((cheb >= dist)[None, None, ..., None, None], V, f.links)
        assert bool((at_x(moved) - N0).abs().max() > 1e-6) is changes


def test_untrained_polynomial_is_the_preconditioner():
    """``b = 0``: A is the Wilson density at beta = 1 (the default preconditioner)."""
    m = small_model()
    with torch.no_grad():
        m.b.zero_()
    f = random_field("SU(3)", 4, L=3)
    assert torch.allclose(LCNNAction(5.0, model=m)(f), Wilson(5.0)(f), rtol=1e-13)


def test_complex64_action_accumulates_in_float64():
    m = small_model()
    f = random_field("SU(3)", 4, L=3, eps=0.5)
    S128 = LCNNAction(3.0, model=m)(f)
    S64 = LCNNAction(3.0, model=m)(f.to(dtype="complex64"))
    assert S64.dtype == torch.float64
    assert torch.allclose(S64, S128, rtol=1e-5)


def test_network_output_shape_and_charge_conjugation():
    """``(B, outputs, *dims)``; with real weights ``U -> U*`` leaves N unchanged."""
    torch.manual_seed(1)
    net = LCNN(Architecture(D=4, group="SU(3)", channels=[3, 5], kernel_sizes=[2, 2], outputs=2))
    f = random_field("SU(3)", 4, L=3)
    N = net(f.links)
    assert N.shape == (2, 2, 3, 3, 3, 3)
    assert (net(f.links.conj()) - N).abs().max() < 1e-12


def test_max_batch_chunks_give_the_same_action_and_force():
    m = small_model()
    f = random_field("SU(3)", 4, L=3, eps=0.5, batch=5)
    whole, chunked = LCNNAction(2.0, model=m), LCNNAction(2.0, model=m, max_batch=2)
    assert torch.equal(chunked(f), whole(f))
    assert (chunked.force(f) - whole.force(f)).abs().max() < 1e-13
    with pytest.raises(ValueError, match="max_batch"):
        LCNNAction(2.0, model=m, max_batch=0)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-13), (torch.complex64, 1e-5)])
def test_re_trace_and_its_derivatives_to_third_order(N, dtype, tol):
    """The activation's ``Re Tr W`` (a pair of functions, each the other's backward) against
    ``torch.diagonal``: value, and the gradients of losses of it, of its gradient and of that
    gradient's gradient."""
    from actions.lcnn.sitewise import re_trace

    torch.manual_seed(N)
    W = torch.randn(2, 3, 5, N, N, dtype=dtype, requires_grad=True)
    R1, R2 = torch.randn(2, 3, 5, dtype=W.real.dtype), torch.randn_like(W)

    def run(trace):
        x = trace(W)
        (g,) = torch.autograd.grad((R1 * torch.sin(x)).sum(), W, create_graph=True)
        (h,) = torch.autograd.grad((R2.conj() * g).real.sum() + (x**3).sum(), W, create_graph=True)
        (k,) = torch.autograd.grad((h.abs() ** 2).sum(), W)
        return x, g, h, k

    fast = run(re_trace)
    ref = run(lambda W: torch.diagonal(W, dim1=-2, dim2=-1).sum(-1).real)
    for a, b in zip(fast, ref):
        assert float((a - b).detach().abs().max() / b.detach().abs().max()) < tol
