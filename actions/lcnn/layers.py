"""Lattice gauge equivariant layers (L-CNN), as ``torch.nn.Module``s.

M. Favoni, A. Ipp, D. I. Müller, D. Schuh, PRL 128 (2022) 032003 (arXiv:2012.12901);
K. Holland, A. Ipp, D. I. Müller, U. Wenger, arXiv:2401.06481.

Data: links ``U`` of shape ``(B, D, *dims, N, N)`` and channel fields ``W`` of shape
``(B, C, *dims, N, N)`` that transform locally, ``W_x -> O(x) W_x O(x)^dagger`` under
``U_mu(x) -> O(x) U_mu(x) O(x+mu)^dagger`` (docs/conventions.md, section 2).
Every layer maps such fields
to such fields (or, :class:`.sitewise.Trace`, to gauge-invariant scalars) and commutes with lattice
translations. Parallel transport from ``x + k mu`` to ``x`` is
``T_{k mu} W(x) = U_{x, k mu} W(x + k mu) U_{x, k mu}^dagger`` with the straight Wilson line
``U_{x, k mu}``; it is built one hop at a time, ``T_{(k+1) mu} = T_mu T_{k mu}``.

Weights are real (the default; the action is then invariant under charge conjugation
``U -> U*``) or complex, stored in float64/complex128 and cast to the field's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache, partial, reduce

import torch
from torch import Tensor, nn

from lqcd_hmc.lattice import shift

from .bilinear import bilinear, pays
from .hopconv import available as hop_available
from .hopconv import hop_convolution
from .inputs import cat_adjoints, with_adjoints
from .sitewise import Trace
from .traced import trace_bilinear
from .transport import transport, transport_hops


def mix(weight: Tensor, W: Tensor, fast: bool = True) -> Tensor:
    """Channel mixing ``sum_j w_ij W_j``: ``weight (C_out, C_in)``, ``W (B, C_in, ...)``.
    ``fast``: real weights on a complex field are one real matrix product over the real and
    imaginary parts (half the arithmetic of the complex product of the reference path)."""
    if not fast or weight.is_complex() or not W.is_complex():
        return torch.einsum("oc,bc...->bo...", weight.to(W.dtype), W)
    x = torch.view_as_real(W.resolve_conj()).reshape(W.shape[0], W.shape[1], -1)
    y = weight.to(x.dtype) @ x
    return torch.view_as_complex(y.view(W.shape[0], -1, *W.shape[2:], 2))


def use_fast_path(module: nn.Module, fast: bool = True) -> nn.Module:
    """Switch every L-CNN layer in ``module`` to the fast path (the default) or to the
    reference path, which defines the layers (tests pin the fast path to it); returns it."""
    for m in module.modules():
        if isinstance(m, (LConv, LBilin)):
            m.fast = fast
    return module


def identity_like(W: Tensor, channels: int = 1) -> Tensor:
    """``channels`` identity matrices at every site, broadcastable against ``W``."""
    B, _, *rest = W.shape
    eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
    return eye.expand(B, channels, *rest[:-2], *eye.shape)


def _weight(shape: tuple[int, ...], fan_in: int, complex_weights: bool) -> nn.Parameter:
    """Gaussian initialisation with variance ``1/fan_in``."""
    dtype = torch.complex128 if complex_weights else torch.float64
    return nn.Parameter(torch.randn(shape, dtype=dtype) / math.sqrt(fan_in))


class LConv(nn.Module):
    """Gauge equivariant convolution (Favoni et al., eq. 3):
    ``W'_i(x) = b_i 1 + sum_j w0_ij W_j(x) + sum_{mu, s = +-1} sum_{k=1}^{K-1} w_ij(mu, s, k)
    T_{s k mu} W_j(x)``: offsets ``|k| <= K - 1`` along each axis (kernel size ``K``; ``K = 1`` is
    local), weights shared over sites, ``b_i 1`` the identity channel (bias).

    Memory: transport is linear, so the sum over k is done Horner-fashion
    ``T(Y_1 + T(Y_2 + ...))`` on channel-mixed fields ``Y_k = sum_j w_ij(k) W_j`` when
    ``C_out <= C_in``, and on the inputs (one transported copy at a time) otherwise; no
    ``(offsets x channels)`` stack of transported copies is ever built. Fast path (``fast``,
    real weights, ``C_out <= C_in``; the default): real channel mixing and one
    ``N^2 x N^2`` transport matrix per site and hop (:meth:`_transported`); with kernel size 2
    and real weights on a CPU, one C kernel for all offsets (:mod:`actions.lcnn.hopconv`)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        D: int,
        bias: bool = True,
        complex_weights: bool = False,
    ):
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel size must be >= 1, got {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.D = kernel_size, D
        fan_in = in_channels * (1 + 2 * D * (kernel_size - 1)) + int(bias)
        self.weight0 = _weight((out_channels, in_channels), fan_in, complex_weights)
        self.weight = _weight(
            (D, 2, kernel_size - 1, out_channels, in_channels), fan_in, complex_weights
        )
        self.bias = _weight((out_channels,), fan_in, complex_weights) if bias else None
        self.fast = True

    def forward(
        self,
        U: Tensor,
        W: Tensor,
        hops: list[Tensor] | None = None,
        weights: tuple[Tensor, Tensor] | None = None,
        doubled: bool = False,
    ) -> Tensor:
        """``hops``: :func:`transport_hops` of ``U`` where the caller has them (the fast path
        computes them otherwise). ``weights``: ``(weight0, weight)`` in place of the module's,
        for inputs of other channels (:meth:`LConvBilin.forward`'s folded weights).
        ``doubled``: convolve ``W~ = (W, W^dagger)`` (:meth:`LConvBilin.forward`'s), whose
        second half the native kernels take as adjoints (:func:`.hopconv.hop_convolution`)."""
        mix_ = partial(mix, fast=self.fast)
        w0, wk = weights if weights is not None else (self.weight0, self.weight)
        K = self.kernel_size
        hopping = self._native(W, wk)
        if doubled and not hopping:
            W = cat_adjoints(W)
        out = hop_convolution(U, W, w0, wk, doubled) if hopping else mix_(w0, W)
        if self.bias is not None:
            eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
            out = out + self.bias.to(W.dtype).view(-1, *[1] * (W.dim() - 2)) * eye
        if K == 1 or hopping:
            return out
        mix_first = self.out_channels <= W.shape[1]
        if mix_first and self.fast and not wk.is_complex():
            return out + self._transported(hops or transport_hops(U), W, wk)
        for mu in range(self.D):
            for si, sign in enumerate((1, -1)):
                w = wk[mu, si]
                if mix_first:
                    acc = mix_(w[K - 2], W)
                    for k in range(K - 3, -1, -1):
                        acc = transport(U, acc, mu, sign) + mix_(w[k], W)
                    out = out + transport(U, acc, mu, sign)
                else:
                    Y = W
                    for k in range(K - 1):
                        Y = transport(U, Y, mu, sign)
                        out = out + mix_(w[k], Y)
        return out

    def _native(self, W: Tensor, weight: Tensor) -> bool:
        """Whether the fast path takes the native kernels (:mod:`.hopconv`: kernel size 2,
        real weights, a CPU with a compiled library)."""
        return self.fast and self.kernel_size == 2 and hop_available(W, weight)

    def uses_hops(self, W: Tensor) -> bool:
        """Whether :meth:`forward` on fields like ``W`` takes :func:`transport_hops`."""
        return self.kernel_size > 1 and not self._native(W, self.weight)

    def _transported(self, hops: list[Tensor], W: Tensor, weight: Tensor) -> Tensor:
        """Fast path of the transported terms: per offset a real channel-mixing product, then
        per hop one ``(N^2 x N^2) (N^2 x C_out)`` product per site (``hops``,
        :func:`transport_hops`) on channel-last fields, Horner-fashion as above."""
        n, C, *dims, N, _ = W.shape
        K, O, D = self.kernel_size, self.out_channels, self.D
        weights = weight.reshape(-1, O, C).unbind(0)

        def y(mu: int, si: int, k: int) -> Tensor:  # Y_k channel-last, (n, *dims, N^2, C_out)
            return mix(weights[(2 * mu + si) * (K - 1) + k], W).flatten(-2).movedim(1, -1)

        def terms() -> Iterator[Tensor]:
            for mu in range(D):
                for si, sign in enumerate((1, -1)):
                    R = hops[2 * mu + si]
                    acc = R @ shift(y(mu, si, K - 2), mu, sign, D)
                    for k in range(K - 3, -1, -1):
                        acc = R @ shift(acc + y(mu, si, k), mu, sign, D)
                    yield acc

        total = reduce(torch.add, terms())  # a running sum: one hop's result alive at a time
        return total.movedim(-1, 1).unflatten(-1, (N, N))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"D={self.D}, bias={self.bias is not None}"
        )


class LBilin(nn.Module):
    """Gauge equivariant bilinear layer (Favoni et al., eq. 4):
    ``W''_i(x) = sum_{j,k} a_ijk A_j(x) B_k(x)``, where ``A`` and ``B`` are optionally
    extended by the identity (``identity=True``), so the layer also holds the linear terms
    ``A_j``, ``B_k`` and a bias.

    Reference path: ``sum_j A_j (sum_k a_ijk B_k)`` or ``sum_k (sum_j a_ijk A_j) B_k``,
    whichever materialises fewer matrices (``C_out x min(C_A, C_B)``) per site, in complex
    arithmetic on the whole lattice. Fast path (``fast``, real weights; the default):
    :func:`actions.lcnn.bilinear.bilinear`, the same sums in real arithmetic (per site in C
    on a CPU, :mod:`actions.lcnn.native`; else on chunks of sites) with a hand-written
    backward that keeps only the inputs, where it is the faster one
    (:func:`actions.lcnn.bilinear.pays`)."""

    def __init__(
        self,
        in_a: int,
        in_b: int,
        out_channels: int,
        identity: bool = True,
        complex_weights: bool = False,
    ):
        super().__init__()
        self.identity = identity
        ca, cb = in_a + int(identity), in_b + int(identity)
        self.in_a, self.in_b, self.out_channels = in_a, in_b, out_channels
        self.weight = _weight((out_channels, ca, cb), ca * cb, complex_weights)
        self.fast = True

    def _extend(self, W: Tensor) -> Tensor:
        return torch.cat([W, identity_like(W)], dim=1) if self.identity else W

    def forward(self, A: Tensor, B: Tensor, weight: Tensor | None = None) -> Tensor:
        """``weight``: in place of the module's, for inputs of other channels
        (:meth:`LConvBilin.forward`'s folded weights)."""
        w = self.weight if weight is None else weight
        if self.fast and not w.is_complex() and pays(self.out_channels, A):
            return bilinear(w, A, B, self.identity, self.identity)
        A, B = self._extend(A), self._extend(B)
        a = w.to(A.dtype)
        N = A.shape[-1]
        if A.shape[1] <= B.shape[1]:
            # M_ij = sum_k a_ijk B_k stacked over j: (B, C_out, *dims, C_A N, N); the sum over
            # j is the inner dimension of one matmul with the row (A_1 ... A_CA)
            M = torch.einsum("ijk,bk...mn->bi...jmn", a, B)
            M = M.reshape(*M.shape[:-3], -1, N)
            row = A.movedim(1, -2).reshape(*A.shape[:1], *A.shape[2:-1], -1)
            return row.unsqueeze(1) @ M
        M = torch.einsum("ijk,bj...mn->bi...mkn", a, A)  # M_ik = sum_j a_ijk A_j
        M = M.reshape(*M.shape[:-3], N, -1)
        col = B.movedim(1, -3).reshape(*B.shape[:1], *B.shape[2:-2], -1, N)
        return M @ col.unsqueeze(1)

    def real_trace(self, A: Tensor, B: Tensor, weight: Tensor | None = None) -> Tensor:
        """``Re Tr W''_i / N``, ``(B, C_out, *dims)`` real: on the fast path (real weights)
        :func:`actions.lcnn.traced.trace_bilinear`, ``sum_jk a_ijk Re Tr(A_j B_k) / N``,
        which never forms ``W''`` (what a last layer needs, whose output is only traced)."""
        w = self.weight if weight is None else weight
        if not self.fast or w.is_complex():
            return Trace()(self(A, B, w)).real
        return trace_bilinear(w, A, B, self.identity, self.identity) / A.shape[-1]

    def extra_repr(self) -> str:
        return f"{self.in_a}, {self.in_b}, {self.out_channels}, identity={self.identity}"


class LConvBilin(nn.Module):
    """The combined layer of Holland et al. (arXiv:2401.06481, section III): the inputs are
    extended to ``W~ = (W, W^dagger)``, convolved, and multiplied back,
    ``W'_i = sum_{j,k} a_ijk W~_j LConv(W~)_k`` with the identity on both sides of the
    product (so ``W'`` holds ``W~``, its transports, their products and a bias)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        D: int,
        complex_weights: bool = False,
    ):
        super().__init__()
        self.conv = LConv(
            2 * in_channels,
            out_channels,
            kernel_size,
            D,
            bias=False,
            complex_weights=complex_weights,
        )
        self.bilin = LBilin(
            2 * in_channels,
            out_channels,
            out_channels,
            identity=True,
            complex_weights=complex_weights,
        )

    def _operands(
        self, U: Tensor, W: Tensor, hops: list[Tensor] | None, adjoint: list[int] | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The bilinear layer's two inputs and its weight (None: the module's). With
        ``adjoint`` (fast path), ``W~ = (W, W[adjoint])`` repeats W's channels, so each linear
        map on ``W~`` is one on ``W`` with the weights of a channel and of its repeat summed,
        ``w'_j = w_j + w_{C + adjoint(j)}``: half the input channels, the same result."""
        if adjoint is None or not self.bilin.fast:
            Wt = with_adjoints(W) if self.bilin.fast else cat_adjoints(W)
            return Wt, self.conv(U, W, hops, doubled=True), None
        w0, wk, a = self._folded(W, adjoint)
        return W, self.conv(U, W, hops, (w0, wk)), a

    def _folded(self, W: Tensor, adjoint: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        """The convolution's ``(weight0, weight)`` and the bilinear weights on ``W`` that
        holds its own adjoints: ``w'_j = w_j + w_{C + adjoint(j)}`` over the doubled inputs."""
        C, p = W.shape[1], torch.tensor(adjoint, device=W.device)

        def fold(w: Tensor, dim: int) -> Tensor:
            return w.narrow(dim, 0, C) + w.narrow(dim, C, C).index_select(dim, p)

        a = self.bilin.weight
        return (
            fold(self.conv.weight0, -1),
            fold(self.conv.weight, -1),
            torch.cat([fold(a, 1), a[:, 2 * C :]], dim=1),
        )

    def forward(
        self,
        U: Tensor,
        W: Tensor,
        hops: list[Tensor] | None = None,
        adjoint: list[int] | None = None,
    ) -> Tensor:
        """``adjoint``: the channel permutation with ``W[:, adjoint] = W^dagger``, where the
        inputs hold their own adjoints (the plaquettes in both orientations and their
        Laplacians, :func:`actions.lcnn.inputs.plaquette_adjoint`); the fast path then runs on
        half the channels."""
        return self.bilin(*self._operands(U, W, hops, adjoint))

    def real_trace(
        self,
        U: Tensor,
        W: Tensor,
        hops: list[Tensor] | None = None,
        adjoint: list[int] | None = None,
    ) -> Tensor:
        """``Re Tr W'_i / N`` of :meth:`forward`'s output without forming it
        (:meth:`LBilin.real_trace`), ``(B, C_out, *dims)`` real; of kernel size 1 on the fast
        path without the convolution either (:meth:`_local_trace`)."""
        if self.conv.kernel_size == 1 and self.bilin.fast and not self.bilin.weight.is_complex():
            return self._local_trace(W, adjoint)
        return self.bilin.real_trace(*self._operands(U, W, hops, adjoint))

    def _local_trace(self, W: Tensor, adjoint: list[int] | None) -> Tensor:
        """Kernel size 1: the convolution mixes the bilinear layer's own input ``V``
        (``W~``, or ``W`` where it holds its adjoints), ``T_k = sum_c w_kc V_c``, so ``Re Tr(V_j
        T_k) = sum_c w_kc Re Tr(V_j V_c)``: one traced product of ``V`` with itself, weights
        ``Q_ijc = sum_k a_ijk w_kc`` and the identity's ``a_ij,C_out``. With ``V = (W,
        W^dagger)``, ``Re Tr(W_j^dagger W_c) = Re Tr(W_c W_j^dagger)`` and ``Re Tr(W_j^dagger
        W_c^dagger) = Re Tr(W_c W_j)`` move the rows of ``W^dagger`` onto those of ``W``
        (:func:`_adjoint_rows`): the Gram matrices of ``W~`` against ``V~``, the size of those
        of ``V~`` against ``T~`` that they replace, and no convolution."""
        V, w, a = self._operands_local(W, adjoint)
        O = w.shape[0]
        Q = torch.cat([torch.einsum("ijk,kc->ijc", a[:, :, :O], w), a[:, :, O:]], dim=2)
        if adjoint is not None:
            return trace_bilinear(Q, V, V, True, True) / W.shape[-1]
        C = W.shape[1]
        rows = _adjoint_rows(C, W.device)
        Q = Q.new_zeros(Q.shape[0], (C + 1) * (2 * C + 1)).index_add(1, rows, Q.flatten(1))
        return trace_bilinear(Q.view(-1, C + 1, 2 * C + 1), W, V, True, True) / W.shape[-1]

    def _operands_local(
        self, W: Tensor, adjoint: list[int] | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``V``, the local convolution weights ``(C_out, C_V)`` and the bilinear weights of
        :meth:`_local_trace`, folded as :meth:`_operands` folds them where ``adjoint``."""
        if adjoint is None:
            return with_adjoints(W), self.conv.weight0, self.bilin.weight
        w0, _, a = self._folded(W, adjoint)
        return W, w0, a


@cache
def _adjoint_rows(C: int, device: torch.device) -> Tensor:
    """Where entry ``(j, c)`` of weights over ``V~ x V~``, ``V~ = (W, W^dagger, 1)`` with ``C``
    channels in ``W``, goes in weights over ``W~ x V~``, ``W~ = (W, 1)``, flat: the
    :meth:`LConvBilin._local_trace` of ``Re Tr`` of products of the adjoints."""
    j, c = torch.meshgrid(torch.arange(2 * C + 1), torch.arange(2 * C + 1), indexing="ij")
    x, y = j.clone(), c.clone()
    x[j == 2 * C] = C  # the identity row
    adj = (j >= C) & (j < 2 * C)
    jp = j - C
    plain, dagger, one = adj & (c < C), adj & (c >= C) & (c < 2 * C), adj & (c == 2 * C)
    x[plain], y[plain] = c[plain], C + jp[plain]  # Re Tr(W_j'^dag W_c) = Re Tr(W_c W_j'^dag)
    x[dagger], y[dagger] = c[dagger] - C, jp[dagger]  # Re Tr(W_j'^dag W_c'^dag) = Re Tr(W_c' W_j')
    x[one], y[one] = jp[one], 2 * C  # Re Tr(W_j'^dag) = Re Tr(W_j')
    return (x * (2 * C + 1) + y).flatten().to(device)
