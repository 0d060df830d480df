"""The L-CNN convolution of kernel size 2 on the native path (:mod:`.native`), for frozen
weights (HMC forces; training keeps :class:`.layers.LConv`'s PyTorch path, which is faster
where the backward pass is itself differentiated).

``W'_i(x) = sum_j w0_ij W_j(x) + sum_{mu, s = +-1} T_{s mu} sum_j w_ij(mu, s) W_j(x)``
(Favoni et al., eq. 3, without the bias): the channel mixing of every offset is one real
matrix product over sites, colours and real and imaginary parts, ``(n S N^2 2, C_in)
(C_in, C_out)``, per offset; the transports are :func:`.native.hops`. Only the inputs are kept
for the backward pass (the mixed fields are recomputed: one matrix product).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .transport import transport


def _channel_last(W: Tensor) -> Tensor:
    """``W (n, C, *dims, N, N)`` complex -> real ``(n, S, N^2, 2, C)``, contiguous (the
    operand of one matrix product over its rows)."""
    n, C = W.shape[:2]
    X = torch.view_as_real(W.resolve_conj()).reshape(n, C, -1, W.shape[-1] ** 2, 2)
    return X.permute(0, 2, 3, 4, 1).contiguous()


def _channel_first(X: Tensor, C: int, like: Tensor) -> Tensor:
    """Real ``(n, S, N^2, 2, Cp)`` -> complex ``(n, C, *dims, N, N)`` shaped like ``like``."""
    n, *_, N, _ = like.shape
    Z = torch.view_as_complex(X.permute(0, 4, 1, 2, 3).contiguous())[:, :C]
    return Z.reshape(n, C, *like.shape[2:-2], N, N)


def _reference(U: Tensor, W: Tensor, w: Tensor) -> Tensor:
    """What :func:`.native.hops` computes, from :func:`.transport.transport`."""
    blocks = [_channel_last(W) @ wh for wh in w.unbind(0)]
    out = blocks[0]
    for h, Y in enumerate(blocks[1:]):
        T = transport(U, _channel_first(Y, Y.shape[-1], W), h // 2, 1 - 2 * (h % 2))
        out = out + _channel_last(T)
    return out


def _mixed(X: Tensor, w: Tensor) -> Tensor:
    """``X (n, S, N^2, 2, C_in)`` times each block of ``w (2 D + 1, C_in, C)``: ``(2 D + 1, n,
    S, N^2, 2, C)``, a site's block of one offset contiguous (one matrix product per block)."""
    Y = X.new_empty(w.shape[0], *X.shape[:-1], w.shape[-1])
    rows = X.reshape(-1, X.shape[-1])
    for h in range(w.shape[0]):
        torch.mm(rows, w[h], out=Y[h].view(-1, w.shape[-1]))
    return Y


class _HopConvolution(torch.autograd.Function):
    """``apply(U, W, w)``: :func:`.native.hops` of the mixed fields ``_mixed(_channel_last(W), w)``.
    The backward pass is :func:`.native.hops_backward`, or, where it is itself differentiated
    (``create_graph``), the same derivatives from :func:`_reference`."""

    @staticmethod
    def forward(U: Tensor, W: Tensor, w: Tensor) -> Tensor:
        return native.hops(U, _mixed(_channel_last(W), w))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        U, W, w = ctx.saved_tensors
        if torch.is_grad_enabled():  # a graph of this pass: PyTorch's transports, differentiable
            # fresh views: the derivatives along each input alone (W may depend on U)
            inputs = [t.view_as(t) for t in (U, W, w)]
            wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need]
            out = _reference(*inputs)
            grads = iter(torch.autograd.grad(out, wanted, G, create_graph=True))
            return tuple(next(grads) if need else None for need in ctx.needs_input_grad)
        X = _channel_last(W)
        dU, dY = native.hops_backward(U, _mixed(X, w), G)
        rows, C_in = X.reshape(-1, X.shape[-1]), X.shape[-1]
        blocks = [d.reshape(-1, dY.shape[-1]) for d in dY.unbind(0)]
        dW = dw = None
        if ctx.needs_input_grad[1]:
            dX = blocks[0] @ w[0].t()
            for d, wh in zip(blocks[1:], w[1:].unbind(0)):
                dX.addmm_(d, wh.t())
            dW = _channel_first(dX.view(X.shape), W.shape[1], W)
        if ctx.needs_input_grad[2]:
            dw = torch.stack([rows.t() @ d for d in blocks]).view(-1, C_in, dY.shape[-1])
        return dU if ctx.needs_input_grad[0] else None, dW, dw


def available(W: Tensor, weight: Tensor) -> bool:
    """Whether :func:`hop_convolution` serves these fields and hop weights: the native
    kernels run for them (:func:`.native.available`) and the weights are real and frozen."""
    return not (weight.is_complex() or weight.requires_grad) and native.available(W)


def hop_convolution(U: Tensor, W: Tensor, weight0: Tensor, weight: Tensor) -> Tensor:
    """``sum_j w0_ij W_j + sum_{mu, s} T_{s mu} sum_j w_ij(mu, s) W_j``: ``U (n, D, *dims, N,
    N)``, ``W (n, C_in, *dims, N, N)``, ``weight0 (C_out, C_in)``, ``weight (D, 2, 1, C_out,
    C_in)`` (:class:`.layers.LConv`'s, kernel size 2), result ``(n, C_out, *dims, N, N)``."""
    C_out, C_in = weight0.shape
    D = U.shape[1]
    Cp = native.padded_channels(C_out, W)
    blocks = torch.cat([weight0[None], weight.reshape(2 * D, C_out, C_in)]).to(W.real.dtype)
    w = W.real.new_zeros(2 * D + 1, C_in, Cp)
    w[:, :, :C_out] = blocks.transpose(1, 2)
    return _channel_first(_HopConvolution.apply(U, W, w), C_out, W)
