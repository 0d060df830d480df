"""The last L-CNN layer's traced bilinear product, ``out_i = sum_{j,k} a_ijk Re Tr(A_j B_k)``
per site, with real weights, from the Gram matrices ``G_jk = Re Tr(A_j B_k)`` (never the
products themselves): natively on a CPU (:mod:`.native`, ``trace_impl.h``), else on chunks of
sites in PyTorch (:mod:`.bilinear`'s chunking). Backward, with ``g`` the gradient of ``out``:
``dG_jk = sum_i g_i a_ijk``, ``dA_j = sum_k dG_jk B_k^dagger``, ``dB_k = sum_j dG_jk
A_j^dagger``, ``da_ijk = sum_x g_i G_jk``. Training differentiates that backward pass again:
natively through :class:`_TraceBackward`. Tests pin both paths to the reference layer
(``LBilin`` and ``Re Tr``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .autograd import differentiable, reference_gradients
from .bilinear import WeightedGradient, WeightedProduct, extended, site_chunk, weight_operand


def _trace_planes(A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """``A (n, J, S, N, N)``, ``B (n, K, S, N, N)`` -> real ``(n, S, J, 2 N^2)`` and
    ``(n, S, 2 N^2, K)`` whose product per site is ``Re Tr(A_j B_k)``: entry ``(m, l, re)`` of
    the first holds ``(Re, Im) A_j(m, l)``, of the second ``(Re, -Im) B_k(l, m)``."""
    n, J, S, N, _ = A.shape
    Ar = torch.view_as_real(A.resolve_conj()).transpose(1, 2).reshape(n, S, J, 2 * N * N)
    Bt = torch.view_as_real(B.mT.conj().resolve_conj()).permute(0, 2, 3, 4, 5, 1)
    return Ar, Bt.reshape(n, S, 2 * N * N, B.shape[1])


def _trace_forward(a: Tensor, A: Tensor, B: Tensor) -> Tensor:
    """``(n, I, S)``: per chunk of sites the Gram matrices ``G_jk = Re Tr(A_j B_k)`` (one
    ``(J x 2 N^2) (2 N^2 x K)`` product per site), then ``sum_jk a_ijk G_jk``, one dense
    product over the chunk's sites."""
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], a.shape[0]
    Ar, Bt = _trace_planes(A, B)
    w = a.reshape(I, J * K).t()
    c = site_chunk(n, S, J * K * Ar.element_size(), A.device)
    parts = [(Ar[:, s : s + c] @ Bt[:, s : s + c]).flatten(2) @ w for s in range(0, S, c)]
    return torch.cat(parts, dim=1).transpose(1, 2)


class _TraceBilinear(WeightedProduct):
    """``apply(a, A, B, id_a, id_b)`` (:class:`.bilinear.WeightedProduct`): natively where
    the kernels run, its backward pass :class:`_TraceBackward` where that is differentiated,
    else the native backward and weight gradient; elsewhere the chunked PyTorch path, whose
    backward is made of differentiable operations (G recomputed per chunk)."""

    @staticmethod
    def forward(a: Tensor, A: Tensor, B: Tensor, id_a: bool, id_b: bool) -> Tensor:
        if native.available(A):
            return native.trace_bilinear(a, A, B, id_a, id_b)
        return _trace_forward(a, extended(A, id_a), extended(B, id_b))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, A, B, id_a, id_b, want = WeightedProduct.unpack(ctx)
        da = dA = dB = None
        if native.available(A) and not (torch.is_grad_enabled() and want[0]):
            if torch.is_grad_enabled():
                dA, dB = _TraceBackward.apply(a, A, B, g, id_a, id_b)
            elif want[1] or want[2]:
                dA, dB = native.trace_bilinear_backward(a, A, B, g, id_a, id_b, (want[1], want[2]))
            if want[0]:
                da = native.trace_bilinear_weight_grad(A, B, g, id_a, id_b)
        else:
            da, dA, dB = _trace_backward(a, extended(A, id_a), extended(B, id_b), g, want)
            dA = None if dA is None else dA[:, : A.shape[1]]
            dB = None if dB is None else dB[:, : B.shape[1]]
        return da, dA if want[1] else None, dB if want[2] else None, None, None


class _TraceBackward(WeightedGradient):
    """``apply(a, A, B, g, id_a, id_b)``: ``(dA, dB)`` of :class:`_TraceBilinear` for the
    stored channels (:func:`.native.trace_bilinear_backward`), differentiable. It is linear in
    each input, and with ``R_A``, ``R_B`` the gradients of its results, ``<R_A, dA> + <R_B,
    dB> = sum_i g_i [t_i(R_A, B) + t_i(A, R_B)]``, ``t`` the traced product with the weights of
    the stored channels (``<R, B^dagger> = Re Tr(R B)``). So ``dg`` and ``da`` are the two
    contractions of the sum of two Gram matrices, ``Re Tr(R_A,j B_k) + Re Tr(A_j R_B,k)``
    (:func:`.native.trace_bilinear_pair`), and ``dA``, ``dB`` the two results of one traced
    backward pass on ``(R_A, R_B)`` (all native); a backward pass of this one that is itself
    differentiated comes from the PyTorch path."""

    @staticmethod
    def forward(a: Tensor, A: Tensor, B: Tensor, g: Tensor, id_a: bool, id_b: bool) -> tuple:
        return native.trace_bilinear_backward(a, A, B, g, id_a, id_b)

    @staticmethod
    def backward(ctx: Any, RA: Tensor, RB: Tensor) -> tuple[Tensor | None, ...]:
        a, A, B, g, id_a, id_b, want = WeightedGradient.unpack(ctx)
        if torch.is_grad_enabled():

            def reference(a: Tensor, A: Tensor, B: Tensor, g: Tensor) -> tuple[Tensor, ...]:
                A, B = differentiable(A), differentiable(B)
                out = _trace_forward(a, extended(A, id_a), extended(B, id_b))
                return torch.autograd.grad(out, (A, B), g, create_graph=True)

            return (*reference_gradients(reference, (a, A, B, g), want, (RA, RB)), None, None)
        Ja, Kb = A.shape[1], B.shape[1]  # R_A, R_B have no identity channel
        da = dA = dB = dg = None
        if want[0] or want[3]:  # both sums over the Gram matrices of (R_A, B) and (A, R_B)
            identity = (False, id_b, id_a, False)
            dg, da = native.trace_bilinear_pair(a, RA, B, A, RB, g, identity, want[3], want[0])
        if want[1] or want[2]:  # dA' = sum_k dG_jk R_B,k^dagger, dB' = sum_j dG_jk R_A,j^dagger
            dA, dB = native.trace_bilinear_backward(
                a[:, :Ja, :Kb], RA, RB, g, False, False, (want[1], want[2])
            )
        return da, dA, dB, dg, None, None


def _trace_backward(
    a: Tensor, A: Tensor, B: Tensor, g: Tensor, want: list[bool]
) -> tuple[Tensor | None, ...]:
    """:class:`_TraceBilinear`'s PyTorch backward on the extended inputs: ``(da, dA, dB)``
    where ``want``-ed."""
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], a.shape[0]
    Ar, Bt = _trace_planes(A, B)
    gt, a2 = g.transpose(1, 2), a.reshape(I, J * K)
    c = site_chunk(n, S, J * K * Ar.element_size(), A.device)
    dAr, dBt, da = [], [], None
    for s in range(0, S, c):
        Ac, Bc, gc = Ar[:, s : s + c], Bt[:, s : s + c], gt[:, s : s + c]
        dG = (gc @ a2).unflatten(-1, (J, K))
        dAr.append(dG @ Bc.mT)
        dBt.append(Ac.mT @ dG)
        if want[0]:
            d = gc.flatten(0, 1).t() @ (Ac @ Bc).flatten(0, 1).flatten(1)
            da = d if da is None else da + d
    # (n, S, J, [m l re]) -> (n, J, S, m, l); (n, S, [m l re], K) -> conj, (l, m) order
    dA = torch.view_as_complex(torch.cat(dAr, 1).unflatten(-1, (N, N, 2)).contiguous())
    dB = torch.cat(dBt, 1).unflatten(2, (N, N, 2)).movedim(-1, 1)
    dB = torch.view_as_complex(dB.contiguous()).conj().mT
    return (
        None if da is None else da.view(I, J, K),
        dA.transpose(1, 2) if want[1] else None,
        dB if want[2] else None,
    )


def trace_bilinear(
    a: Tensor, A: Tensor, B: Tensor, id_a: bool = False, id_b: bool = False
) -> Tensor:
    """``out_i = sum_{j,k} a_ijk Re Tr(A_j B_k)`` per site, without forming the products: ``a (I,
    J, K)`` real, ``A (n, J - id_a, *dims, N, N)`` and ``B (n, K - id_b, *dims, N, N)`` complex,
    extended by the identity as their last channel where ``id_a`` (``id_b``), result ``(n, I,
    *dims)`` real. Equals ``Re Tr`` of :func:`.bilinear.bilinear`'s output for ``2 J K (2 N^2 +
    I)`` flops per site, against the ``2 I J K 2 N^2`` of that product's weight contraction
    alone (a tenth for the default network's last layer, ``I = 24``)."""
    n, _, *dims, N, _ = A.shape
    w = weight_operand(a, A)
    A, B = A.reshape(n, A.shape[1], -1, N, N), B.reshape(n, B.shape[1], -1, N, N)
    out = _TraceBilinear.apply(w, A, B, id_a, id_b)
    return out.reshape(n, a.shape[0], *dims)
