"""The L-CNN convolution of kernel size 2 on the native path (:mod:`.native`), for frozen
weights (HMC forces; training keeps :class:`.layers.LConv`'s PyTorch path, which is faster
where the backward pass is itself differentiated).

``W'_i(x) = sum_j w0_ij W_j(x) + sum_{mu, s = +-1} sum_j w_ij(mu, s) T_{s mu} W_j(x)``
(Favoni et al., eq. 3, without the bias; transport and channel mixing commute): per site the
transported neighbours and the site itself form one row, ``(2 N^2, (2 D + 1) C_in)``, times
the stacked weights of all offsets (:func:`.native.convolution`). Only the inputs are kept for
the backward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .transport import transport


def _channel_last(W: Tensor, C: int) -> Tensor:
    """``W (n, C_in, *dims, N, N)`` complex -> real ``(n, S, N^2, 2, C)``, zero channels past
    ``C_in``, contiguous."""
    n, C_in = W.shape[:2]
    X = torch.view_as_real(W.resolve_conj()).reshape(n, C_in, -1, W.shape[-1] ** 2, 2)
    if C == C_in:
        return X.permute(0, 2, 3, 4, 1).contiguous()
    out = X.new_zeros(n, X.shape[2], X.shape[3], 2, C)
    out[..., :C_in] = X.permute(0, 2, 3, 4, 1)
    return out


def _channel_first(X: Tensor, C: int, like: Tensor) -> Tensor:
    """Real ``(n, S, N^2, 2, Cp)`` -> complex ``(n, C, *dims, N, N)`` shaped like ``like``."""
    n, *_, N, _ = like.shape
    Z = torch.view_as_complex(X.permute(0, 4, 1, 2, 3).contiguous())[:, :C]
    return Z.reshape(n, C, *like.shape[2:-2], N, N)


def _reference(U: Tensor, W: Tensor, w: Tensor) -> Tensor:
    """What :func:`.native.convolution` computes, from :func:`.transport.transport`: complex
    ``(n, Co, *dims, N, N)`` for the stacked weights ``w ((2 D + 1) C_in, Co)``."""
    blocks = w.unflatten(0, (-1, W.shape[1])).to(W.dtype)
    out = torch.einsum("jo,bj...->bo...", blocks[0], W)
    for h, wh in enumerate(blocks[1:]):
        out = out + torch.einsum("jo,bj...->bo...", wh, transport(U, W, h // 2, 1 - 2 * (h % 2)))
    return out


def _padded(w: Tensor, W: Tensor) -> Tensor:
    """The stacked weights ``((2 D + 1) C_in, Co)`` as ``(2 D + 1, Ci, Cp)``, both channel
    counts padded with zeros to the kernel's vector width."""
    C_in, Co = W.shape[1], w.shape[1]
    Ci, Cp = native.padded_channels(C_in, W), native.padded_channels(Co, W)
    wp = w.new_zeros(w.shape[0] // C_in, Ci, Cp)
    wp[:, :C_in, :Co] = w.unflatten(0, (-1, C_in))
    return wp


class _Convolution(torch.autograd.Function):
    """``apply(U, W, w)``: :func:`.native.convolution` of ``W (n, C_in, *dims, N, N)`` with
    the stacked weights ``w ((2 D + 1) C_in, Co)``, complex ``(n, Co, *dims, N, N)``. The
    backward pass is :func:`.native.convolution_backward`, or, where it is itself
    differentiated (``create_graph``) or the weights want a gradient, the same derivatives
    from :func:`_reference`."""

    @staticmethod
    def forward(U: Tensor, W: Tensor, w: Tensor) -> Tensor:
        wp = _padded(w, W)
        channels = (W.shape[1], w.shape[1])
        out = native.convolution(U, _channel_last(W, wp.shape[1]), wp.flatten(0, 1), channels)
        return _channel_first(out, w.shape[1], W)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        U, W, w = ctx.saved_tensors
        if torch.is_grad_enabled() or ctx.needs_input_grad[2]:
            # fresh views: the derivatives along each input alone (W may depend on U)
            inputs = [t.view_as(t) for t in (U, W, w)]
            wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need]
            grads = iter(
                torch.autograd.grad(
                    _reference(*inputs), wanted, G, create_graph=torch.is_grad_enabled()
                )
            )
            return tuple(next(grads) if need else None for need in ctx.needs_input_grad)
        wp = _padded(w, W)
        X, Gp = _channel_last(W, wp.shape[1]), _channel_last(G, wp.shape[2])
        channels = (W.shape[1], w.shape[1])
        dU, dX = native.convolution_backward(U, X, wp.flatten(0, 1), Gp, channels)
        dW = _channel_first(dX, W.shape[1], W) if ctx.needs_input_grad[1] else None
        return dU if ctx.needs_input_grad[0] else None, dW, None


def available(W: Tensor, weight: Tensor) -> bool:
    """Whether :func:`hop_convolution` serves these fields and hop weights: the native
    kernels run for them (:func:`.native.available`) and the weights are real and frozen."""
    return not (weight.is_complex() or weight.requires_grad) and native.available(W)


def hop_convolution(U: Tensor, W: Tensor, weight0: Tensor, weight: Tensor) -> Tensor:
    """``sum_j w0_ij W_j + sum_{mu, s} sum_j w_ij(mu, s) T_{s mu} W_j``: ``U (n, D, *dims, N,
    N)``, ``W (n, C_in, *dims, N, N)``, ``weight0 (C_out, C_in)``, ``weight (D, 2, 1, C_out,
    C_in)`` (:class:`.layers.LConv`'s, kernel size 2), result ``(n, C_out, *dims, N, N)``."""
    C_out, C_in = weight0.shape
    D = U.shape[1]
    blocks = torch.cat([weight0[None], weight.reshape(2 * D, C_out, C_in)])
    w = blocks.transpose(1, 2).reshape(-1, C_out).to(W.real.dtype)
    return _Convolution.apply(U, W, w)
