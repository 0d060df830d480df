import math

import pytest
import torch

from lqcd_hmc.groups import SU, U1, get_group, project_to_group


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), SU(5), U1()])
def test_generators_normalised_hermitian_traceless(G):
    T = G.generators()
    n = G.n_generators
    assert T.shape == (n, G.N, G.N)
    gram = torch.einsum("aij,bji->ab", T, T)
    assert torch.allclose(gram, 0.5 * torch.eye(n, dtype=gram.dtype), atol=1e-15)
    assert torch.allclose(T, T.mH)
    if isinstance(G, SU):
        assert torch.diagonal(T, dim1=-2, dim2=-1).sum(-1).abs().max() < 1e-15


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
def test_coords_roundtrip_and_projection(G):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(50, G.n_generators, generator=g, dtype=torch.float64)
    X = G.from_coords(w)
    assert torch.allclose(G.to_coords(X), w, atol=1e-14)
    assert torch.allclose(G.project_algebra(X), X, atol=1e-15)  # already in the algebra
    M = torch.randn(50, G.N, G.N, 2, generator=g, dtype=torch.float64)
    A = G.project_algebra(torch.complex(M[..., 0], M[..., 1]))
    assert torch.allclose(A, -A.mH)
    assert torch.allclose(G.project_algebra(A), A)


@pytest.mark.parametrize("G", [SU(2), SU(3)])
@pytest.mark.parametrize("scale", [1e-7, 1e-4, 1e-3, 0.1, 1.0, 3.0])
def test_closed_form_exp_matches_pade(G, scale):
    """Closed forms (Pauli for SU(2), Cayley-Hamilton for SU(3)) agree with torch's Pade
    matrix exponential to 1e-14 in complex128, across the small-|X| Taylor branch too."""
    g = torch.Generator().manual_seed(int(1 / scale) % 1000)
    X = G.from_coords(scale * torch.randn(500, G.n_generators, generator=g, dtype=torch.float64))
    assert (G.exp(X) - torch.linalg.matrix_exp(X)).abs().max() < 1e-14


def test_su3_exp_degenerate_eigenvalues():
    G = SU(3)
    g = torch.Generator().manual_seed(5)
    a = torch.linspace(-3, 3, 201, dtype=torch.float64)
    for split in (0.0, 1e-12, 1e-6):
        Q = torch.diag_embed(torch.stack([a, a + split, -2 * a - split], -1)).to(torch.complex128)
        V = G.random_haar((201,), g)
        X = 1j * V @ Q @ V.mH
        assert (G.exp(X) - torch.linalg.matrix_exp(X)).abs().max() < 1e-14
        # c0 < 0 branch: exp(-X) = exp(X)^dagger
        assert (G.exp(-X) - G.exp(X).mH).abs().max() < 1e-14


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
def test_haar_elements_in_group(G):
    U = G.random_haar((2000,), torch.Generator().manual_seed(7))
    eye = torch.eye(G.N, dtype=U.dtype)
    assert (U @ U.mH - eye).abs().max() < 1e-13
    if isinstance(G, SU):
        assert (torch.linalg.det(U) - 1).abs().max() < 1e-13


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4)])
def test_haar_moments(G):
    """Haar moments: E[Tr U] = 0, E[|Tr U|^2] = 1 (one irreducible representation), and
    E[|U_11|^2] = 1/N; 4 standard errors."""
    n = 20000
    U = G.random_haar((n,), torch.Generator().manual_seed(11))
    tr = torch.diagonal(U, dim1=-2, dim2=-1).sum(-1)
    for x, expect in [
        (tr.real, 0.0),
        (tr.imag, 0.0),
        (tr.abs() ** 2, 1.0),
        (U[:, 0, 0].abs() ** 2, 1.0 / G.N),
    ]:
        assert abs(x.mean().item() - expect) < 4 * x.std().item() / math.sqrt(n)


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
def test_reunitarize(G):
    g = torch.Generator().manual_seed(13)
    U = G.random_haar((300,), g)
    assert torch.allclose(G.reunitarize(U), U, atol=1e-14)  # idempotent on the group
    noise = torch.randn(300, G.N, G.N, 2, generator=g, dtype=torch.float64)
    V = G.reunitarize(U + 1e-4 * torch.complex(noise[..., 0], noise[..., 1]))
    assert (V @ V.mH - torch.eye(G.N, dtype=V.dtype)).abs().max() < 1e-14
    assert (V - U).abs().max() < 1e-3
    if isinstance(G, SU):
        assert (torch.linalg.det(V) - 1).abs().max() < 1e-14


def test_near_identity_and_exp_in_group():
    for G in (SU(2), SU(3), SU(4)):
        U = G.random_near_identity((100,), 0.5, torch.Generator().manual_seed(1))
        assert (U @ U.mH - torch.eye(G.N, dtype=U.dtype)).abs().max() < 1e-14
        assert (torch.linalg.det(U) - 1).abs().max() < 1e-14


def test_get_group_names():
    assert get_group("SU(3)") == SU(3) and get_group("su2") == SU(2)
    assert get_group("U(1)") == U1()
    for bad in ("SU(1)", "SO(3)", "foo"):
        with pytest.raises(ValueError):
            get_group(bad)


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
def test_exp_is_differentiable_at_the_identity(G):
    """``d/dw_a Re Tr(M exp(i w_b T_b))`` at ``w = 0`` is ``Re Tr(M i T_a)`` exactly, finite
    for every group (the SU(2) closed form had ``sqrt(a^2)``, whose derivative is infinite at
    0: NaN through stout smearing and L-Exp at a cold field)."""
    g = torch.Generator().manual_seed(5)
    M = torch.complex(*torch.randn(2, G.N, G.N, generator=g, dtype=torch.float64))
    w = torch.zeros(G.n_generators, dtype=torch.float64, requires_grad=True)
    (G.exp(G.from_coords(w)) @ M).diagonal().sum().real.backward()
    expect = torch.einsum("ij,aji->a", M, 1j * G.generators()).real
    assert torch.allclose(w.grad, expect, rtol=0, atol=1e-14)


@pytest.mark.parametrize("scale", [1e-8, 0.99e-2, 1.01e-2, 0.3])
def test_su2_exp_on_both_sides_of_its_series_threshold(scale):
    """The SU(2) exponential switches to its Taylor series at a^2 = 1e-4: on both sides it
    equals ``torch.linalg.matrix_exp`` to 1e-15, and so does its derivative (finite
    differences of the closed form are not needed: autograd of matrix_exp is the reference)."""
    G = SU(2)
    g = torch.Generator().manual_seed(6)
    w = torch.randn(40, 3, generator=g, dtype=torch.float64)
    w = scale * w / w.norm(dim=1, keepdim=True) * math.sqrt(2)  # a = |w|/sqrt(2) = scale
    X = G.from_coords(w)
    assert torch.allclose(G.exp(X), torch.linalg.matrix_exp(X), rtol=0, atol=1e-15)
    M = torch.complex(*torch.randn(2, 2, 2, generator=g, dtype=torch.float64))
    grads = []
    for fn in (G.exp, torch.linalg.matrix_exp):
        wr = w.clone().requires_grad_(True)
        (fn(G.from_coords(wr)) @ M).diagonal(dim1=-2, dim2=-1).sum().real.backward()
        grads.append(wr.grad)
    assert torch.allclose(grads[0], grads[1], rtol=0, atol=1e-14)


@pytest.mark.parametrize("a", [1e-9, 5.7e-4, 5.8e-4, 1e-3, 0.1, 1.0, math.pi / 2, 3.0])
def test_su3_exp_at_its_branch_points(a):
    """``exp(iQ)`` by Cayley-Hamilton against ``matrix_exp`` to 1e-14 where its closed form
    branches: degenerate eigenvalues (``|c0| = c0_max``, the arccos argument at 1, both signs),
    a zero eigenvalue (``c0 = 0``), nearly degenerate ones, and ``c1 = Tr Q^2/2`` on both sides
    of the Taylor threshold 1e-6 (``c1 = 3 a^2``: a = 5.7e-4 and 5.8e-4 straddle it)."""
    g = torch.Generator().manual_seed(8)
    M = torch.complex(*torch.randn(2, 3, 3, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(M)
    eigs = [
        [a, a, -2 * a],
        [-a, -a, 2 * a],
        [a, -a, 0.0],
        [a, a * (1 + 1e-12), -a * (2 + 1e-12)],
        [a, a * (1 - 1e-7), -a * (2 - 1e-7)],
    ]
    Q = torch.stack([V @ torch.diag(torch.tensor(e, dtype=torch.complex128)) @ V.mH for e in eigs])
    X = 1j * Q
    U = SU(3).exp(X)
    assert torch.isfinite(U).all()
    assert (U - torch.linalg.matrix_exp(X)).abs().max() < 1e-14


def _exact_exp(X: torch.Tensor) -> torch.Tensor:
    """``exp(X)`` of the float64 input in 40-digit arithmetic (mpmath, a dependency of
    torch's sympy)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(40):
        out = [
            mpmath.expm(mpmath.matrix([[mpmath.mpc(complex(v)) for v in r] for r in x.tolist()]))
            for x in X
        ]
        n = X.shape[-1]
        return torch.tensor(
            [[[complex(E[i, j]) for j in range(n)] for i in range(n)] for E in out],
            dtype=torch.complex128,
        )


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3, 1e5])
def test_exp_accurate_for_large_arguments(G, scale):
    """Against the exact exponential of the same float64 input: within 10 ulp times the size
    of the argument. No method that starts from the invariants of X (a^2 = -Tr X^2/2, det X)
    does better: they carry a relative rounding error, i.e. an absolute phase error |X| eps."""
    g = torch.Generator().manual_seed(int(scale) % 97)
    X = G.from_coords(scale * torch.randn(12, G.n_generators, generator=g, dtype=torch.float64))
    size = X.abs().amax((-2, -1))
    err = (G.exp(X) - _exact_exp(X)).abs().amax((-2, -1))
    assert (err <= 10 * 2.2e-16 * size.clamp_min(1)).all(), (err / size.clamp_min(1)).max()


@pytest.mark.parametrize("G", [SU(2), SU(3), SU(4), U1()])
def test_projections_are_finite_and_in_the_group_for_any_input(G):
    """``reunitarize`` and the polar projection of smearing: zero, rank-deficient, non-finite,
    huge and tiny matrices all give group elements (unitary and det 1 to 1e-14); a group
    element is kept to 1e-14."""
    g = torch.Generator().manual_seed(4)
    N = G.N
    M = torch.complex(*torch.randn(2, 7, N, N, generator=g, dtype=torch.float64))
    M[0] = 0
    M[1, 0] = M[1, -1]  # dependent rows (the first two, for N = 2)
    M[2, :] = 0
    M[2, -1] = 1.0  # rank one
    M[3, 0, 0] = float("nan")
    M[4, -1] = float("inf")
    M[5] *= 1e150
    M[6] *= 1e-150
    U = G.random_haar((100,), g)
    eye = torch.eye(N, dtype=U.dtype)
    for project in (G.reunitarize, lambda A: project_to_group(A, N)):
        V = project(M)
        assert torch.isfinite(V).all()
        assert (V @ V.mH - eye).abs().max() < 1e-14
        if isinstance(G, SU):
            assert (torch.linalg.det(V) - 1).abs().max() < 1e-14
        assert (project(U) - U).abs().max() < 1e-14
