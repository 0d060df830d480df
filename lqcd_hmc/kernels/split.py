"""Matrix fields in the split real layout: one real tensor ``S`` of shape ``(2, N, N, *rest)``
holding ``Re M`` in ``S[0]`` and ``Im M`` in ``S[1]``, colour indices in front and the batch and
lattice axes last (structure of arrays: consecutive sites are consecutive in memory).

Every operation here is real element-wise arithmetic and sums over a colour axis, so
``torch.compile`` (Inductor) can fuse a whole force into a few loops over sites, which it cannot
do with complex tensors and ``@`` on 3 x 3 matrices. Products:
``(A B)_ik = sum_j (Ar_ij Br_jk - Ai_ij Bi_jk) + i (Ar_ij Bi_jk + Ai_ij Br_jk)``.
The lattice axis of direction ``mu`` is ``mu - D`` (counted from the end), as for complex
fields in :mod:`lqcd_hmc.lattice`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups import su3_exp_coefficients


def to_split(M: Tensor) -> Tensor:
    """Complex ``(*rest, N, N)`` -> split ``(2, N, N, *rest)`` (contiguous)."""
    r = torch.view_as_real(M.resolve_conj())
    n = M.dim()
    return r.permute(n, n - 2, n - 1, *range(n - 2)).contiguous()


def from_split(S: Tensor) -> Tensor:
    """Split ``(2, N, N, *rest)`` -> complex ``(*rest, N, N)``."""
    n = S.dim()
    return torch.complex(S[0], S[1]).permute(*range(2, n - 1), 0, 1).contiguous()


def mul(A: Tensor, B: Tensor) -> Tensor:
    """Matrix product ``A B``."""
    ar, ai, br, bi = A[0].unsqueeze(2), A[1].unsqueeze(2), B[0].unsqueeze(0), B[1].unsqueeze(0)
    return torch.stack(((ar * br - ai * bi).sum(1), (ar * bi + ai * br).sum(1)))


def dag(A: Tensor) -> Tensor:
    """Hermitian conjugate ``A^dagger``."""
    return torch.stack((A[0].transpose(0, 1), -A[1].transpose(0, 1)))


def re_trace_dag(A: Tensor, B: Tensor) -> Tensor:
    """``Re Tr(A B^dagger) = sum_ij Re(A_ij conj(B_ij))``, shape ``rest``."""
    return (A * B).sum((0, 1, 2))


def trace(A: Tensor) -> Tensor:
    """``(Re Tr A, Im Tr A)`` stacked, shape ``(2, *rest)``."""
    return A.diagonal(dim1=1, dim2=2).sum(-1)


def real_eye(A: Tensor) -> Tensor:
    """The real unit matrix ``(1, N, N, 1, ...)``, broadcastable against ``A``; a complex
    scalar field ``c`` of shape ``(2, 1, 1, *rest)`` times it is ``c 1``."""
    N = A.shape[1]
    return torch.eye(N, dtype=A.dtype, device=A.device).view(1, N, N, *([1] * (A.dim() - 3)))


def roll(A: Tensor, mu: int, n: int, D: int) -> Tensor:
    """``A(x + n mu)`` with periodic boundaries."""
    return torch.roll(A, shifts=-n, dims=mu - D)


def project_algebra(M: Tensor) -> Tensor:
    """Traceless anti-Hermitian part ``(M - M^dag)/2 - Tr(...)/N`` (for N = 1: ``i Im M``)."""
    A = 0.5 * (M - dag(M))
    N = M.shape[1]
    if N == 1:
        return A
    return A - (trace(A) / N)[:, None, None] * real_eye(M)


def scalar_mul(c: Tensor, A: Tensor) -> Tensor:
    """Complex scalar field ``c = (Re c, Im c)`` (shape ``(2, *rest)``) times matrix field."""
    cr, ci = c[0][None, None], c[1][None, None]
    return torch.stack((cr * A[0] - ci * A[1], cr * A[1] + ci * A[0]))


def exp_su2(X: Tensor) -> Tensor:
    """``exp(X) = cos(a) 1 + sin(a)/a X``, ``a^2 = -Tr(X^2)/2``, for X in su(2)."""
    a = torch.sqrt((0.5 * (X * X).sum((0, 1, 2))).clamp_min(0))
    c = torch.cos(a)
    s = torch.sinc(a / math.pi)
    return (
        torch.stack((c[None, None], torch.zeros_like(c)[None, None])) * real_eye(X)
        + s[None, None, None] * X
    )


def exp_su3(X: Tensor) -> Tensor:
    """Cayley-Hamilton ``exp(iQ) = f0 + f1 Q + f2 Q^2`` for ``X = iQ`` in su(3), with the
    coefficients of :func:`lqcd_hmc.groups.su3_exp_coefficients` (Morningstar and Peardon,
    Phys. Rev. D 69 (2004) 054501)."""
    Q = torch.stack((X[1], -X[0]))  # Q = -i X, Hermitian
    Q2 = mul(Q, Q)
    c1 = 0.5 * trace(Q2)[0]
    c0 = re_trace_dag(Q2, Q) / 3.0  # Re Tr(Q2 Q^dag) = Tr Q^3
    f0, f1, f2 = (torch.stack(f) for f in su3_exp_coefficients(c0, c1))
    return f0[:, None, None] * real_eye(Q) + scalar_mul(f1, Q) + scalar_mul(f2, Q2)


def exp_algebra(X: Tensor) -> Tensor:
    """Exponential of an su(2), su(3) or u(1) algebra field in split layout."""
    N = X.shape[1]
    if N == 3:
        return exp_su3(X)
    if N == 2:
        return exp_su2(X)
    if N == 1:
        phi = X[1]
        return torch.stack((torch.cos(phi), torch.sin(phi)))
    raise ValueError(f"split-layout kernels support U(1), SU(2) and SU(3), not N = {N}")
