"""The fast path of the bilinear layer: ``out_i = sum_{j,k} a_ijk A_j B_k`` with real weights.

Cost (per site): the weight contraction ``M = sum a A`` (or ``sum a B``) takes
``I J K x 9`` complex-times-real multiply-adds and is one dense real matrix product over all
sites (``torch.matmul`` in float64 or float32); the rest is one small complex matrix product
per site, ``(3 I x 3 K) (3 K x 3)`` (or ``(3 x 3 J) (3 J x 3 I)``). ``M`` holds
``I x min(J, K)`` matrices per site, which at 8^4 is hundreds of MB, so the sites are taken in
chunks that keep ``M`` in the core's cache (:data:`CHUNK_BYTES`), and nothing but the inputs is
kept for the backward pass:

``dA_j = sum_{ik} a_ijk G_i B_k^dagger``, ``dB_k = sum_{ij} a_ijk A_j^dagger G_i``,
``da_ijk = Re sum_x <A_j B_k, G_i>`` (Frobenius product; ``G_i`` the gradient of ``out_i`` in
torch's convention for complex tensors). The first two are this same bilinear map with permuted
weights, so the backward is itself differentiable (double backpropagation in training).

The reference path (``LBilin`` with ``fast=False``) is the definition; tests pin this one to it
to 1e-12 in complex128.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

CHUNK_BYTES = 1 << 20
"""Bytes of the per-chunk mixed tensor ``M`` (about half the 2 MiB L2 cache of the cores we
measured on; ``bench.lcnn`` scans it)."""


def _chunk(batch: int, sites: int, per_site: int) -> int:
    return max(1, min(sites, CHUNK_BYTES // max(1, batch * per_site)))


def _planar(X: Tensor, order: tuple[int, ...]) -> Tensor:
    """Real and imaginary planes of ``X (n, C, c, N, N)``: ``view_as_real`` permuted by
    ``order`` (the plane index is axis 5)."""
    return torch.view_as_real(X).permute(order)


def _forward(a: Tensor, A: Tensor, B: Tensor) -> Tensor:
    """``A (n, J, S, N, N)``, ``B (n, K, S, N, N)``, ``a (I, J, K)`` real -> ``(n, I, S, N, N)``.

    The weight product runs on the real and imaginary planes (rows ordered plane first), so
    the per-site matrices are gathered from it in runs of ``K`` (or ``J``) numbers, and the
    per-site product is one real product of the stacked planes, ``(2 x 3 I, 3 K) (3 K, 2 x 3)``,
    whose four blocks make the complex result."""
    A, B = A.resolve_conj(), B.resolve_conj()
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], a.shape[0]
    out = A.new_empty(n, I, S, N, N)
    if J >= K:  # M_ik = sum_j a_ijk A_j; out_i = sum_k M_ik B_k
        w = a.permute(0, 2, 1).reshape(I * K, J).t()  # MKL: faster than the (J, I K) copy
        c = _chunk(n, S, I * K * N * N * A.element_size())
        for s in range(0, S, c):
            e = min(S, s + c)
            x = _planar(A[:, :, s:e], (5, 0, 2, 3, 4, 1)).reshape(-1, J)  # re n c m l | J
            M = (x @ w).view(2, n, e - s, N, N, I, K)  # re n c m l i k
            Bc = _planar(B[:, :, s:e], (0, 2, 3, 1, 5, 4)).reshape(1, n, e - s, 1, N, K, 2 * N)
            Y = (M @ Bc).sum(4).view(2, n, e - s, N, I, 2, N)  # re n c m i re' p
            y = torch.complex(Y[0, ..., 0, :] - Y[1, ..., 1, :], Y[0, ..., 1, :] + Y[1, ..., 0, :])
            out[:, :, s:e] = y.permute(0, 3, 1, 2, 4)
        return out
    w = a.reshape(I * J, K).t()  # M_ij = sum_k a_ijk B_k
    c = _chunk(n, S, I * J * N * N * A.element_size())
    for s in range(0, S, c):
        e = min(S, s + c)
        x = _planar(B[:, :, s:e], (5, 0, 2, 3, 4, 1)).reshape(-1, K)  # re n c l p | K
        M = (x @ w).view(2, n, e - s, N, N, I, J)  # re n c l p i j
        At = _planar(A[:, :, s:e], (0, 2, 4, 1, 5, 3)).reshape(1, n, e - s, N, 1, J, 2 * N)
        Y = (M @ At).sum(3).view(2, n, e - s, N, I, 2, N)  # re n c p i re' m
        y = torch.complex(Y[0, ..., 0, :] - Y[1, ..., 1, :], Y[0, ..., 1, :] + Y[1, ..., 0, :])
        out[:, :, s:e] = y.permute(0, 3, 1, 4, 2)  # n c p i m -> n i c m p
    return out


def _weight_grad(A: Tensor, B: Tensor, G: Tensor) -> Tensor:
    """``da_ijk = Re sum_{n,x} <A_j B_k, G_i>``, chunked like the forward pass."""
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], G.shape[1]
    da = torch.zeros(I, J, K, dtype=A.real.dtype, device=A.device)
    c = _chunk(n, S, I * J * N * N * A.element_size())
    for s in range(0, S, c):
        e = min(S, s + c)
        # X[(j l), (i p)] = sum_m conj(A_j[m, l]) G_i[m, p] per site
        Ah = A[:, :, s:e].conj().permute(0, 2, 1, 4, 3).reshape(n, e - s, J * N, N)
        Gr = G[:, :, s:e].permute(0, 2, 3, 1, 4).reshape(n, e - s, N, I * N)
        X = (Ah @ Gr).view(n, e - s, J, N, I, N)
        da = da + torch.einsum("bsjlip,bkslp->ijk", X, B[:, :, s:e].conj()).real
    return da


class _Bilinear(torch.autograd.Function):
    @staticmethod
    def forward(a: Tensor, A: Tensor, B: Tensor) -> Tensor:
        return _forward(a, A, B)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        a, A, B = ctx.saved_tensors
        da = dA = dB = None
        if ctx.needs_input_grad[1]:
            dA = bilinear(a.permute(1, 0, 2), G, B.mH)
        if ctx.needs_input_grad[2]:
            dB = bilinear(a.permute(2, 1, 0), A.mH, G)
        if ctx.needs_input_grad[0]:
            da = _weight_grad(A, B, G)
        return da, dA, dB


def bilinear(a: Tensor, A: Tensor, B: Tensor) -> Tensor:
    """``out_i = sum_{j,k} a_ijk A_j B_k`` per site: ``a (I, J, K)`` real, ``A (n, J, *dims,
    N, N)`` and ``B (n, K, *dims, N, N)`` complex, result ``(n, I, *dims, N, N)``."""
    n, J, *dims, N, _ = A.shape
    out = _Bilinear.apply(
        a.to(A.real.dtype), A.reshape(n, J, -1, N, N), B.reshape(n, B.shape[1], -1, N, N)
    )
    return out.view(n, a.shape[0], *dims, N, N)
