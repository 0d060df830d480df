"""Gauge groups SU(N) (N >= 2) and U(1): algebra, exponential map, random elements.

Conventions (docs/conventions.md, section 3):
- Generators ``T_a`` are Hermitian, traceless for SU(N), normalised ``Tr(T_a T_b) = delta_ab / 2``
  (the generalised Gell-Mann matrices divided by 2). For U(1) the single generator is
  ``T = 1/sqrt(2)`` so that the same normalisation, and ``H = -Tr P^2 = p^2/2``, hold.
- Algebra elements are anti-Hermitian matrices ``X = i w_a T_a`` (traceless for SU(N)).
- All functions act on the last two axes and broadcast over any leading axes.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor


class Group:
    """A compact matrix Lie group of N x N unitary matrices."""

    name: str
    N: int
    n_generators: int

    # -- algebra ------------------------------------------------------------------------------
    def generators(self, dtype: torch.dtype = torch.complex128, device=None) -> Tensor:
        """The ``(n_generators, N, N)`` Hermitian generators ``T_a``."""
        return _generators(self.name, self.N).to(dtype=dtype, device=device)

    def project_algebra(self, M: Tensor) -> Tensor:
        """Anti-Hermitian (and, for SU(N), traceless) part of ``M``."""
        raise NotImplementedError

    def to_coords(self, X: Tensor) -> Tensor:
        """Real coordinates ``w_a`` of ``X = i w_a T_a``: ``w_a = 2 Im Tr(X T_a) = 2 sum_ij
        (Re X_ij Im T_a,ji + Im X_ij Re T_a,ji)``, one real product of the matrices' ``2 N^2``
        reals (1.9x faster than the complex ``einsum`` and its imaginary part on 16384 SU(3)
        matrices)."""
        M = _coords_matrix(self.name, self.N, X.real.dtype, X.device)
        return torch.view_as_real(X.resolve_conj()).flatten(-3) @ M

    def from_coords(self, w: Tensor, dtype: torch.dtype = torch.complex128) -> Tensor:
        """``X = i w_a T_a`` for real coordinates ``w`` of shape ``(..., n_generators)``."""
        T = self.generators(dtype, w.device)
        return 1j * torch.einsum("...a,aij->...ij", w.to(T.dtype), T)

    def exp(self, X: Tensor) -> Tensor:
        """Exponential map of algebra elements (differentiable)."""
        return torch.linalg.matrix_exp(X)

    # -- group elements -----------------------------------------------------------------------
    def identity(self, shape: tuple[int, ...], dtype=torch.complex128, device=None) -> Tensor:
        eye = torch.eye(self.N, dtype=dtype, device=device)
        return eye.expand(*shape, self.N, self.N).clone()

    def random_haar(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype=torch.complex128,
        device=None,
    ) -> Tensor:
        raise NotImplementedError

    def random_near_identity(
        self,
        shape: tuple[int, ...],
        eps: float,
        generator: torch.Generator | None = None,
        dtype=torch.complex128,
        device=None,
    ) -> Tensor:
        """``exp(i eps w_a T_a)`` with ``w_a ~ N(0, 1)``."""
        w = torch.randn(
            *shape, self.n_generators, generator=generator, dtype=torch.float64, device=device
        )
        return self.exp(self.from_coords(eps * w, dtype))

    def reunitarize(self, U: Tensor) -> Tensor:
        """A group element near ``U``, finite for every input (projects away rounding drift;
        the nearest element where the group's projection says so)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class SU(Group):
    """SU(N), N >= 2. Closed-form exponentials for N = 2 (Pauli) and N = 3 (Cayley-Hamilton)."""

    def __init__(self, N: int):
        if N < 2:
            raise ValueError(f"SU(N) needs N >= 2, got N = {N}")
        self.N = N
        self.name = f"SU({N})"
        self.n_generators = N * N - 1

    def project_algebra(self, M: Tensor) -> Tensor:
        A = 0.5 * (M - M.mH)
        tr = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1) / self.N
        return A - tr[..., None, None] * torch.eye(self.N, dtype=M.dtype, device=M.device)

    def exp(self, X: Tensor) -> Tensor:
        if self.N == 2:
            return _exp_su2(X)
        if self.N == 3:
            return _exp_su3(X)
        return torch.linalg.matrix_exp(X)

    def random_haar(self, shape, generator=None, dtype=torch.complex128, device=None) -> Tensor:
        """Haar measure: QR of a complex Gaussian matrix with the phases of ``diag R`` removed
        (Mezzadri, Notices AMS 54 (2007) 592), then divided by ``det^(1/N)``."""
        g = torch.randn(
            *shape, self.N, self.N, 2, generator=generator, dtype=torch.float64, device=device
        )
        Z = torch.complex(g[..., 0], g[..., 1])
        Q, R = torch.linalg.qr(Z)
        d = torch.diagonal(R, dim1=-2, dim2=-1)
        Q = Q * (d / d.abs())[..., None, :]
        return _fix_det(Q).to(dtype)

    def reunitarize(self, U: Tensor) -> Tensor:
        if self.N == 3:
            return _reunitarize_su3(U)
        W, _, Vh = torch.linalg.svd(torch.nan_to_num(U, nan=0.0, posinf=0.0, neginf=0.0))
        return _fix_det(W @ Vh)


class U1(Group):
    """U(1) as 1 x 1 complex matrices; generator ``T = 1/sqrt(2)``."""

    def __init__(self) -> None:
        self.N = 1
        self.name = "U(1)"
        self.n_generators = 1

    def project_algebra(self, M: Tensor) -> Tensor:
        return 0.5 * (M - M.conj())

    def exp(self, X: Tensor) -> Tensor:
        return torch.polar(torch.ones_like(X.imag), X.imag)

    def random_haar(self, shape, generator=None, dtype=torch.complex128, device=None) -> Tensor:
        phi = (
            2
            * math.pi
            * torch.rand(*shape, 1, 1, generator=generator, dtype=torch.float64, device=device)
        )
        return torch.polar(torch.ones_like(phi), phi).to(dtype)

    def reunitarize(self, U: Tensor) -> Tensor:
        r = U.abs()
        ok = torch.isfinite(r) & (r > 0)
        return torch.where(ok, U / torch.where(ok, r, 1), torch.ones_like(U))


def project_to_group(M: Tensor, N: int) -> Tensor:
    """Gauge-covariant projection of matrices ``(..., N, N)`` onto the group: the unitary
    polar factor ``M (M^dag M)^{-1/2}`` divided by ``det^{1/N}`` for SU(N) (the phase for
    U(1)); ``O M O'^dag`` projects to ``O P(M) O'^dag``."""
    if N == 1:
        return U1().reunitarize(M)
    W, _, Vh = torch.linalg.svd(torch.nan_to_num(M, nan=0.0, posinf=0.0, neginf=0.0))
    return _fix_det(W @ Vh)


def get_group(name: str | Group) -> Group:
    """``"SU(3)"``, ``"su3"``, ``"SU3"``, ``"U(1)"``, ``"u1"`` -> group object."""
    if isinstance(name, Group):
        return name
    key = name.strip().lower().replace("(", "").replace(")", "").replace(" ", "")
    if key == "u1":
        return U1()
    if key.startswith("su") and key[2:].isdigit():
        return SU(int(key[2:]))
    raise ValueError(f"unknown gauge group {name!r} (use 'SU(N)' with N >= 2 or 'U(1)')")


# ---------------------------------------------------------------------------------------------
@cache
def _generators(name: str, N: int) -> Tensor:
    if N == 1:
        return torch.full((1, 1, 1), 1 / math.sqrt(2), dtype=torch.complex128)
    gens = []
    for j in range(N):  # off-diagonal symmetric and antisymmetric
        for k in range(j + 1, N):
            S = torch.zeros(N, N, dtype=torch.complex128)
            S[j, k] = S[k, j] = 0.5
            A = torch.zeros(N, N, dtype=torch.complex128)
            A[j, k], A[k, j] = complex(0, -0.5), complex(0, 0.5)  # type: ignore[assignment]
            gens += [S, A]
    for l in range(1, N):  # diagonal (Cartan) generators
        D = torch.zeros(N, N, dtype=torch.complex128)
        D[torch.arange(l), torch.arange(l)] = 1.0
        D[l, l] = -l
        gens.append(D / math.sqrt(2 * l * (l + 1)))
    return torch.stack(gens)


@cache
def _coords_matrix(name: str, N: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2 N^2, n_generators)``: row ``(i, j, re)`` holds ``2 Im T_a,ji``, row ``(i, j, im)``
    ``2 Re T_a,ji`` (:meth:`Group.to_coords`)."""
    T = _generators(name, N).transpose(-1, -2)
    M = 2 * torch.stack([T.imag, T.real], dim=-1).flatten(1).T
    return M.to(dtype=dtype, device=device).contiguous()


def _fix_det(U: Tensor) -> Tensor:
    """Divide a unitary matrix by the principal N-th root of its determinant."""
    N = U.shape[-1]
    phase = torch.angle(torch.linalg.det(U)) / N
    return U * torch.polar(torch.ones_like(phase), -phase)[..., None, None].to(U.dtype)


def _exp_su2(X: Tensor) -> Tensor:
    """``exp(X) = cos(a) 1 + sin(a)/a X`` with ``a^2 = -Tr(X^2)/2`` for X in su(2).

    Both coefficients are functions of ``a^2``; below ``a^2 = 1e-4`` they are their Taylor
    series to ``a^8`` (error below ``a^10/10! < 1e-26``), so that the derivative stays finite
    at ``X = 0`` (``sqrt`` has an infinite one there, which made autograd return NaN through
    stout smearing and L-Exp layers at the identity). The closed form sees ``a^2 = 1`` where
    the series is used (both branches of ``torch.where`` are differentiated)."""
    a2 = (-0.5 * torch.einsum("...ij,...ji->...", X, X).real).clamp_min(0)
    small = a2 < 1e-4
    a = torch.sqrt(torch.where(small, torch.ones_like(a2), a2))
    cos_a = torch.where(
        small, 1 - a2 / 2 * (1 - a2 / 12 * (1 - a2 / 30 * (1 - a2 / 56))), torch.cos(a)
    )
    sinc_a = torch.where(
        small, 1 - a2 / 6 * (1 - a2 / 20 * (1 - a2 / 42 * (1 - a2 / 72))), torch.sin(a) / a
    )
    eye = torch.eye(2, dtype=X.dtype, device=X.device)
    return cos_a.to(X.dtype)[..., None, None] * eye + sinc_a.to(X.dtype)[..., None, None] * X


def _cmul(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Product of complex numbers held as (real, imaginary) pairs."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def su3_exp_coefficients(c0: Tensor, c1: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``(Re f_j, Im f_j)``, j = 0, 1, 2, of the Cayley-Hamilton exponential
    ``exp(iQ) = f0 + f1 Q + f2 Q^2`` of a traceless Hermitian Q, from ``c0 = Tr Q^3 / 3`` and
    ``c1 = Tr Q^2 / 2`` (real tensors): Morningstar and Peardon, Phys. Rev. D 69 (2004) 054501,
    eqs. (23)-(34), with ``f_j(-c0) = (-1)^j conj(f_j(c0))``; for ``c1 < 1e-6``, where the
    closed form loses digits, the Taylor series from ``Q^3 = c1 Q + c0`` to order Q^6 (error
    below |Q|^7/7! < 1e-24). Real arithmetic only, so the split kernels use it too."""
    small = c1 < 1e-6
    c1s = torch.where(small, torch.ones_like(c1), c1)
    c0s = torch.where(small, torch.zeros_like(c0), c0)
    c0max = 2.0 * (c1s / 3.0) ** 1.5
    theta = torch.acos(torch.clamp(c0s.abs() / c0max, -1.0, 1.0))
    u = torch.sqrt(c1s / 3.0) * torch.cos(theta / 3.0)
    w = torch.sqrt(c1s) * torch.sin(theta / 3.0)
    u2, w2 = u * u, w * w
    cw = torch.cos(w)
    xi0 = torch.sinc(w / math.pi)
    e2iu = (torch.cos(2 * u), torch.sin(2 * u))
    emiu = (torch.cos(u), -torch.sin(u))
    h0 = _cmul(emiu, (8 * u2 * cw, 2 * u * (3 * u2 + w2) * xi0))
    h0 = ((u2 - w2) * e2iu[0] + h0[0], (u2 - w2) * e2iu[1] + h0[1])
    h1 = _cmul(emiu, (2 * u * cw, -(3 * u2 - w2) * xi0))
    h1 = (2 * u * e2iu[0] - h1[0], 2 * u * e2iu[1] - h1[1])
    h2 = _cmul(emiu, (cw, 3 * u * xi0))
    h2 = (e2iu[0] - h2[0], e2iu[1] - h2[1])
    den = 9 * u2 - w2
    sign = torch.where(c0s < 0, -1.0, 1.0).to(u.dtype)  # c0 < 0: f_j -> (-1)^j conj(f_j)
    closed = [
        (h0[0] / den, sign * h0[1] / den),
        (sign * h1[0] / den, h1[1] / den),
        (h2[0] / den, sign * h2[1] / den),
    ]
    taylor = [
        (1 - c0 * c0 / 720, -c0 / 6 + c0 * c1 / 120),
        (c0 / 24 - c0 * c1 / 360, 1 - c1 / 6 + c1 * c1 / 120),
        (-0.5 + c1 / 24 - c1 * c1 / 720, c0 / 120),
    ]
    return [
        (torch.where(small, t[0], e[0]), torch.where(small, t[1], e[1]))
        for t, e in zip(taylor, closed)
    ]


def _exp_su3(X: Tensor) -> Tensor:
    """Cayley-Hamilton exponential ``exp(iQ) = f0 + f1 Q + f2 Q^2`` for ``X = iQ`` in su(3)
    (coefficients from :func:`su3_exp_coefficients`)."""
    Q = -1j * X
    Q2 = Q @ Q
    c1 = 0.5 * torch.diagonal(Q2, dim1=-2, dim2=-1).sum(-1).real
    c0 = torch.einsum("...ij,...ji->...", Q2, Q).real / 3.0
    f0, f1, f2 = (
        torch.complex(*f).to(X.dtype)[..., None, None] for f in su3_exp_coefficients(c0, c1)
    )
    eye = torch.eye(3, dtype=X.dtype, device=X.device)
    return f0 * eye + f1 * Q + f2 * Q2


def _row_norm(x: Tensor) -> Tensor:
    """``|x|`` of complex rows ``(..., N)`` as ``(..., 1)``, summed over real planes
    (``linalg.vector_norm`` of strided complex rows is 13x slower)."""
    return torch.view_as_real(x).square().sum((-2, -1)).sqrt()[..., None]


def _reunitarize_su3(U: Tensor) -> Tensor:
    """Gram-Schmidt on the first two rows, third row ``conj(r0 x r1)`` (det = 1): cheap and,
    for a matrix that drifted from SU(3) by rounding, within rounding of the nearest element.
    Finite and in SU(3) for every input: where the first row is zero or non-finite, r0 is the
    unit vector e0; where the second is (nearly) dependent on r0, r1 is built from the unit
    vector e_k farthest from r0 (``|r0_k|`` smallest, so ``|e_k - r0_k^* r0|^2 >= 2/3``)."""
    row0, row1 = U[..., 0, :], U[..., 1, :]
    eye = torch.eye(3, dtype=U.dtype, device=U.device)

    def usable(n: Tensor, scale: Tensor | float) -> Tensor:
        return torch.isfinite(n) & (n > 1e-300) & (n > 1e-6 * scale)

    n0 = _row_norm(row0)
    r0 = torch.where(usable(n0, 0.0), row0 / n0, eye[0])
    p1 = row1 - (r0.conj() * row1).sum(-1, keepdim=True) * r0
    s1 = _row_norm(p1)
    k = r0.abs().argmin(-1)
    pk = eye[k] - r0.gather(-1, k[..., None]).conj() * r0
    fallback = pk / _row_norm(pk)
    n1 = _row_norm(row1)
    r1 = torch.where(usable(s1, n1), p1 / s1, fallback)
    r2 = torch.linalg.cross(r0, r1).conj()
    return torch.stack([r0, r1, r2], dim=-2)
