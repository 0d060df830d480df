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
weights, so the backward is itself differentiable (double backpropagation in training); on the
native path both come from one weight contraction, ``H_jk = sum_i a_ijk G_i``, also where they
are differentiated (:class:`_BilinearGradient`).

The reference path (``LBilin`` with ``fast=False``) is the definition; tests pin this one to it
to 1e-12 in complex128. On a CPU with a compiled library the same sums run per site in C
(:mod:`.native`: the products, their traces, and the backward passes where nothing
differentiates them); the chunked PyTorch code here serves elsewhere, and ``LBilin`` takes
it only where it is the faster one (:func:`pays`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .autograd import operand, reference_gradients, save, wanted

CHUNK_BYTES = 1 << 20
"""Bytes of the per-chunk mixed tensor ``M`` on a CPU: about half the 2 MiB L2 cache of the
cores it was chosen on (``bench.lcnn``'s chunk column scans it). The AMD Zen 3 cores of the
later runs have 512 KiB; there the native kernels serve, and this path was not tuned again."""

GPU_CHUNK_BYTES = 1 << 30
"""The same on a GPU, where a chunk is a kernel launch: on an H200 the 8^4 force took 0.62 s
with 1 MiB chunks and 0.049 s with 1 GiB (bench/RESULTS.md, "GPU acceptance check")."""


FAST_ROWS_CPU = {torch.float64: 8, torch.float32: 8}
"""The fewest output channels ``I`` for which this path beats the reference path on a CPU. Its
per-site products have ``I`` columns; with fewer than 8 they run far below the core's rate
(an AVX-512 register holds 8 float64 or 16 float32), and the reference path's whole-lattice
complex products are faster. Measured on 8^4 (``python -m bench.lcnn_bilinear``,
value and input gradients, 2026-12-05, stop 49): ``I = 4``, the reference 1.9-3.1x faster;
``I = 7``, 1.03-1.15x; ``I = 8``, this path 1.04x (``in_a = 24``) to 1.30x (16) faster in
float32 and 1.4-2.0x in float64; ``I = 12``, 1.75x and 3.5x; ``I = 24``, 5x (bench/RESULTS.md,
"The bilinear layer's per-site products")."""


SHARED_CONTRACTION = (torch.float64,)
"""Real dtypes whose native backward pass contracts the weights once for both input gradients
(:func:`.native.bilinear_backward`, ``H_jk = sum_i a_ijk G_i``) rather than once for each (two
:func:`.native.bilinear` products). Measured on 8^4, 25 x 25 inputs, 24 outputs (stop 53):
float64 105 against 140 ms, float32 72 against 75 ms (its wider vectors pad the 25 channels
of ``H`` to 32, and its products ran near the core's peak already). This choice is the force's
(a backward pass nothing differentiates); where the backward is differentiated (training)
both dtypes take the shared contraction (:class:`_BilinearGradient`), whose own backward it
also spares a contraction."""


def pays(out_channels: int, like: Tensor) -> bool:
    """Whether this path is the faster one for a layer of ``out_channels`` outputs on fields
    like ``like``: always where the native kernels run (:func:`.native.available`: 1.35-5.1x
    the reference on 4 to 24 outputs, 8^4, ``python -m bench.lcnn_bilinear``, stop 53), on
    another CPU from :data:`FAST_ROWS_CPU`, elsewhere always
    (on a GPU a chunk is a kernel launch, and the fast path was measured there with the
    default architecture)."""
    if like.device.type != "cpu" or native.available(like):
        return True
    return out_channels >= FAST_ROWS_CPU.get(like.real.dtype, 0)


def site_chunk(batch: int, sites: int, per_site: int, device: torch.device) -> int:
    """Sites per chunk: ``per_site`` bytes per site and configuration within the limit."""
    limit = CHUNK_BYTES if device.type == "cpu" else GPU_CHUNK_BYTES
    return max(1, min(sites, limit // max(1, batch * per_site)))


def _planar(X: Tensor, order: tuple[int, ...]) -> Tensor:
    """Real and imaginary planes of ``X (n, C, c, N, N)``: ``view_as_real`` permuted by
    ``order`` (the plane index is axis 5)."""
    return torch.view_as_real(X).permute(order)


def _combine(Y: Tensor) -> Tensor:
    """``Y (re, n, c, N, re', N, I)``: products of real planes -> the complex product
    ``(n, c, N, N, I)``."""
    return torch.complex(Y[0, :, :, :, 0] - Y[1, :, :, :, 1], Y[0, :, :, :, 1] + Y[1, :, :, :, 0])


def _forward(a: Tensor, A: Tensor, B: Tensor) -> Tensor:
    """``A (n, J, S, N, N)``, ``B (n, K, S, N, N)``, ``a (I, J, K)`` real -> ``(n, I, S, N, N)``.

    The weight product runs on the real and imaginary planes of the mixed operand (rows
    ordered plane, configuration, site, colours; columns other channel, then output channel),
    which leaves per plane, site and free colour index a contiguous ``(N K) x I`` (or
    ``(N J) x I``) block whose rows are the index summed over in the per-site product, colour
    and channel together. That product takes the other operand's planes as the left factor,
    ``(2 N x N K) (N K x I)``: the output channels run along the columns of the small
    products, which is several times faster than ``I``-row blocks against ``2 N`` columns. The four
    plane products make the complex result."""
    A, B = A.resolve_conj(), B.resolve_conj()
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], a.shape[0]
    out = A.new_empty(n, I, S, N, N)
    if J >= K:  # M_ik = sum_j a_ijk A_j; out_i(m, p) = sum_{l,k} M_ik(m, l) B_k(l, p)
        w = a.permute(2, 0, 1).reshape(K * I, J).t()  # (J, k i); MKL: faster than a copy
        c = site_chunk(n, S, I * K * N * N * A.element_size(), A.device)
        for s in range(0, S, c):
            e = min(S, s + c)
            x = _planar(A[:, :, s:e], (5, 0, 2, 3, 4, 1)).reshape(-1, J)  # re n c m l | J
            M = (x @ w).view(2, n, e - s, N, N * K, I)  # re n c m (l k) i
            Bt = _planar(B[:, :, s:e], (0, 2, 5, 4, 3, 1)).reshape(1, n, e - s, 1, 2 * N, N * K)
            Y = (Bt @ M).view(2, n, e - s, N, 2, N, I)  # re n c m re' p i
            out[:, :, s:e] = _combine(Y).permute(0, 4, 1, 2, 3)  # n c m p i -> n i c m p
        return out
    w = a.permute(2, 1, 0).reshape(K, J * I)  # M_ij = sum_k a_ijk B_k; (K, j i)
    c = site_chunk(n, S, I * J * N * N * A.element_size(), A.device)
    for s in range(0, S, c):  # out_i(m, p) = sum_{j,l} A_j(m, l) M_ij(l, p)
        e = min(S, s + c)
        x = _planar(B[:, :, s:e], (5, 0, 2, 4, 3, 1)).reshape(-1, K)  # re n c p l | K
        M = (x @ w).view(2, n, e - s, N, N * J, I)  # re n c p (l j) i
        At = _planar(A[:, :, s:e], (0, 2, 5, 3, 4, 1)).reshape(1, n, e - s, 1, 2 * N, N * J)
        Y = (At @ M).view(2, n, e - s, N, 2, N, I)  # re n c p re' m i
        out[:, :, s:e] = _combine(Y).permute(0, 4, 1, 3, 2)  # n c p m i -> n i c m p
    return out


def _weight_grad(A: Tensor, B: Tensor, G: Tensor) -> Tensor:
    """``da_ijk = Re sum_{n,x} <A_j B_k, G_i> = Re sum_{n,x} <Z_ik, A_j>`` with
    ``Z_ik = G_i B_k^dagger``: per chunk of sites one small complex product per site for Z
    (``(3 I x 3) (3 x 3 K)``), then one real matrix product over sites, colours and the real
    and imaginary parts, ``(I K, c 18) (c 18, J)``."""
    n, J, S, N, _ = A.shape
    K, I = B.shape[1], G.shape[1]
    da = torch.zeros(I * K, J, dtype=A.real.dtype, device=A.device)
    c = site_chunk(1, S, I * K * N * N * A.element_size(), A.device)
    for b in range(n):
        for s in range(0, S, c):
            e = min(S, s + c)
            # contiguous operands: MKL's small products are several times faster on them
            Gc = G[b, :, s:e].transpose(0, 1).reshape(e - s, I * N, N)  # x (i m) p
            Bh = B[b, :, s:e].conj().permute(1, 3, 0, 2).resolve_conj().reshape(e - s, N, K * N)
            Z = (Gc @ Bh).view(e - s, I, N, K, N).permute(1, 3, 0, 2, 4)  # i k x m l
            Z = torch.view_as_real(Z.contiguous()).view(I * K, -1)  # (i k) (x m l re)
            Ar = torch.view_as_real(A[b, :, s:e].resolve_conj()).reshape(J, -1)
            da = da + Z @ Ar.t()
    return da.view(I, K, J).transpose(1, 2)


class WeightedProduct(torch.autograd.Function):
    """What :class:`_Bilinear` and :class:`_TraceBilinear` share: ``apply(a, A, B, id_a,
    id_b)`` keeps only its inputs, and computes each gradient only where this backward pass
    uses it (:func:`.autograd.wanted`: the force of training's first pass differentiates to
    the links alone, its second pass to the weights alone)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        save(ctx, inputs[:3])
        ctx.identity = inputs[3:]

    @staticmethod
    def unpack(ctx: Any) -> tuple[Tensor, Tensor, Tensor, bool, bool, list[bool]]:
        """``(a, A, B, id_a, id_b, wanted)`` of a backward pass."""
        a, A, B = ctx.saved_tensors
        return a, A, B, *ctx.identity, wanted(ctx)


class WeightedGradient(torch.autograd.Function):
    """What :class:`_BilinearGradient` and the traced product's differentiable backward share:
    ``apply(a, A, B, G, id_a, id_b)`` keeps its four tensors and the identity flags."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        save(ctx, inputs[:4])
        ctx.identity = inputs[4:]

    @staticmethod
    def unpack(ctx: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, bool, bool, list[bool]]:
        """``(a, A, B, G, id_a, id_b, wanted)`` of a backward pass."""
        a, A, B, G = ctx.saved_tensors
        return a, A, B, G, *ctx.identity, wanted(ctx)


def weight_operand(a: Tensor, like: Tensor) -> Tensor:
    """The weights in the fields' real dtype, never a leaf (:func:`.autograd.operand`)."""
    return operand(a.to(like.real.dtype))


def extended(X: Tensor, identity: bool) -> Tensor:
    """``X (n, C, S, N, N)`` with the identity appended as channel ``C`` where ``identity``."""
    if not identity:
        return X
    n, _, S, N, _ = X.shape
    eye = torch.eye(N, dtype=X.dtype, device=X.device).expand(n, 1, S, N, N)
    return torch.cat([X.resolve_conj(), eye], dim=1)


class _Bilinear(WeightedProduct):
    """``apply(a, A, B, id_a, id_b)``: A (B) extended by the identity as its last channel
    where ``id_a`` (``id_b``), which then has no gradient (the layers' linear terms and bias,
    with no copy of the inputs on the native path)."""

    @staticmethod
    def forward(a: Tensor, A: Tensor, B: Tensor, id_a: bool, id_b: bool) -> Tensor:
        if native.available(A):
            return native.bilinear(a, A, B, id_x=id_a, id_y=id_b)
        return _forward(a, extended(A, id_a), extended(B, id_b))

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        a, A, B, id_a, id_b, want = WeightedProduct.unpack(ctx)
        da = dA = dB = None
        # dA_j = sum_ik a_ijk G_i B_k^dagger, dB_k = sum_ij a_ijk A_j^dagger G_i for the stored
        # channels; the adjoints by flag, not by copy, where nothing differentiates this pass
        aA = a.permute(1, 0, 2)[: A.shape[1]]
        aB = a.permute(2, 1, 0)[: B.shape[1]]
        if not torch.is_grad_enabled() and native.available(G):
            if all(want[1:3]) and A.real.dtype in SHARED_CONTRACTION:
                dA, dB = native.bilinear_backward(a, A, B, G, id_a, id_b)
            if want[1] and dA is None:
                dA = native.bilinear(aA, G, B, adj_y=True, id_y=id_b)
            if want[2] and dB is None:
                dB = native.bilinear(aB, A, G, adj_x=True, id_x=id_a)
        elif native.available(G) and (want[1] or want[2]):
            dA, dB = _BilinearGradient.apply(a, A, B, G, id_a, id_b)
        else:
            if want[1]:
                dA = bilinear(aA, G, B.mH, id_b=id_b)
            if want[2]:
                dB = bilinear(aB, A.mH, G, id_a=id_a)
        if want[0]:
            if not torch.is_grad_enabled() and native.available(G):
                da = native.bilinear_weight_grad(A, B, G, id_a, id_b)
            else:
                da = _weight_grad(extended(A, id_a), extended(B, id_b), G)
        return da, dA if want[1] else None, dB if want[2] else None, None, None


class _BilinearGradient(WeightedGradient):
    """``apply(a, A, B, G, id_a, id_b) = (dA, dB)``: :class:`_Bilinear`'s input gradients from
    the gradient ``G`` of its result, where that backward pass is itself differentiated
    (training's force), ``dA_j = sum_k H_jk B_k^dagger``, ``dB_k = sum_j A_j^dagger H_jk``,
    ``H_jk = sum_i a_ijk G_i`` (:func:`.native.bilinear_backward`). With ``R_j``, ``S_k`` the
    gradients of ``dA_j``, ``dB_k``, the gradients of ``<R, dA> + <S, dB>`` are
    ``dG_i = sum_jk a_ijk P_jk`` and ``da_ijk = Re sum_x <P_jk, G_i>`` with ``P_jk = R_j B_k +
    A_j S_k`` (:func:`.native.bilinear_pair`), ``dA'_j = sum_k H_jk S_k^dagger`` and ``dB'_k =
    sum_j R_j^dagger H_jk`` (the backward kernel with R, S in place of A, B). Weight
    contractions: one in the first pass and three in the second, where the split form (two
    products, each with its backward pass and weight gradient) takes two and four."""

    @staticmethod
    def forward(a: Tensor, A: Tensor, B: Tensor, G: Tensor, id_a: bool, id_b: bool) -> tuple:
        return native.bilinear_backward(a, A, B, G, id_a, id_b)

    @staticmethod
    def backward(ctx: Any, R: Tensor, S: Tensor) -> tuple[Tensor | None, ...]:
        a, A, B, G, id_a, id_b, want = WeightedGradient.unpack(ctx)
        if torch.is_grad_enabled():

            def reference(a: Tensor, A: Tensor, B: Tensor, G: Tensor) -> tuple[Tensor, ...]:
                aA, aB = a.permute(1, 0, 2)[: A.shape[1]], a.permute(2, 1, 0)[: B.shape[1]]
                return bilinear(aA, G, B.mH, id_b=id_b), bilinear(aB, A.mH, G, id_a=id_a)

            return (*reference_gradients(reference, (a, A, B, G), want, (R, S)), None, None)
        da = dA = dB = dG = None
        if want[0] or want[3]:
            dG, da = native.bilinear_pair(
                a, R, B, A, S, G, (False, id_b, id_a, False), want[3], want[0]
            )
        if want[1] or want[2]:
            Ja, Kb = A.shape[1], B.shape[1]  # R and S have no identity channel
            dA, dB = native.bilinear_backward(a[:, :Ja, :Kb], R, S, G, False, False)
        return da, dA if want[1] else None, dB if want[2] else None, dG, None, None


def bilinear(a: Tensor, A: Tensor, B: Tensor, id_a: bool = False, id_b: bool = False) -> Tensor:
    """``out_i = sum_{j,k} a_ijk A_j B_k`` per site: ``a (I, J, K)`` real, ``A (n, J - id_a,
    *dims, N, N)`` and ``B (n, K - id_b, *dims, N, N)`` complex, extended by the identity as
    their last channel where ``id_a`` (``id_b``); result ``(n, I, *dims, N, N)``."""
    n, _, *dims, N, _ = A.shape
    w = weight_operand(a, A)
    A, B = A.reshape(n, A.shape[1], -1, N, N), B.reshape(n, B.shape[1], -1, N, N)
    out = _Bilinear.apply(w, A, B, id_a, id_b)
    return out.view(n, a.shape[0], *dims, N, N)
