"""The L-CNN convolution of kernel size 2 on the native path (:mod:`.native`), for HMC
forces and for training, whose loss differentiates the force again (double backpropagation:
:class:`_Convolution`'s backward pass is made of native functions that have backward passes).

``W'_i(x) = sum_j w0_ij W_j(x) + sum_{mu, s = +-1} sum_j w_ij(mu, s) T_{s mu} W_j(x)``
(Favoni et al., eq. 3, without the bias; transport and channel mixing commute): per site the
transported neighbours and the site itself form one row, ``(2 N^2, (2 D + 1) C_in)``, times
the stacked weights of all offsets (:func:`.native.convolution`) on channel-last operands
(:func:`.native.channels_last`). The backward pass keeps the inputs and the channel-last copy
of ``W``, which every backward pass reads: made once, not in each pass (3 copies per layer and
training step fewer, for ``2 N^2 C_in`` reals per site kept).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor

from . import native
from .autograd import differentiable, operand, reference_gradients, save, wanted
from .inputs import cat_adjoints, fold_adjoints, with_adjoints
from .transport import transport


def _reference(U: Tensor, W: Tensor, w: Tensor, doubled: bool = False) -> Tensor:
    """What :func:`.native.convolution` computes, from :func:`.transport.transport`: complex
    ``(n, Co, *dims, N, N)`` for the stacked weights ``w ((2 D + 1) C_in, Co)``, of ``(W,
    W^dagger)`` where ``doubled``."""
    if doubled:
        W = cat_adjoints(W)
    blocks = w.unflatten(0, (-1, W.shape[1])).to(W.dtype)
    out = torch.einsum("jo,bj...->bo...", blocks[0], W)
    for h, wh in enumerate(blocks[1:]):
        out = out + torch.einsum("jo,bj...->bo...", wh, transport(U, W, h // 2, 1 - 2 * (h % 2)))
    return out


def _padded(w: Tensor, W: Tensor) -> Tensor:
    """The stacked weights ``((2 D + 1) C_in, Co)`` as ``(2 D + 1, Ci, Cp)``, both channel
    counts padded with zeros to the kernel's vector width; for a doubled convolution (``2 C_in``
    rows per block) ``(2 (2 D + 1), Ci, Cp)``, each half of a block padded apart."""
    C_in, Co = W.shape[1], w.shape[1]
    Ci, Cp = native.padded_channels(C_in, W), native.padded_channels(Co, W)
    wp = w.new_zeros(w.shape[0] // C_in, Ci, Cp)
    wp[:, :C_in, :Co] = w.unflatten(0, (-1, C_in))
    return wp


def _unpadded(dw: Tensor, C_in: int, Co: int) -> Tensor:
    """Padded stacked weights ``((2 D + 1) Ci, Cp)`` -> ``((2 D + 1) C_in, Co)``."""
    H = dw.shape[0] // native.padded_channels(C_in, dw)
    return dw.unflatten(0, (H, -1))[:, :C_in, :Co].reshape(H * C_in, Co)


def _adjoint(w: Tensor, C_in: int) -> Tensor:
    """The stacked weights of the adjoint convolution, ``((2 D + 1) Co, C_in)``: the adjoint
    of ``T_{+mu}`` is ``T_{-mu}`` at the neighbour (``<G, V X V^dagger> = <V^dagger G V, X>``),
    so block ``h`` holds ``w_h'^T`` of the opposite hop ``h'``, the local block ``w_0^T``."""
    H = w.shape[0] // C_in
    opposite = [0] + [1 + (h ^ 1) for h in range(H - 1)]
    return w.unflatten(0, (H, C_in))[opposite].transpose(1, 2).reshape(-1, C_in)


def _reference_link_gradient(U: Tensor, W: Tensor, G: Tensor, w: Tensor) -> Tensor:
    """What :class:`_LinkGradient` computes, from :func:`_reference`."""
    U = differentiable(U)
    (dU,) = torch.autograd.grad(_reference(U, W, w), U, G, create_graph=True)
    return dU


class _Convolution(torch.autograd.Function):
    """``apply(U, W, w, doubled=False)``: :func:`.native.convolution` of ``W (n, C_in, *dims,
    N, N)`` (of ``(W, W^dagger)`` where ``doubled``) with the stacked weights ``w ((2 D + 1)
    C_in, Co)`` (``2 C_in`` rows per block where ``doubled``), complex ``(n, Co, *dims, N,
    N)``.

    Backward: :func:`.native.convolution_backward` and
    :func:`.native.convolution_weight_grad`. Where the backward pass is itself differentiated
    (training's first pass, ``create_graph``) it is made of differentiable native functions:
    both input gradients are :class:`_ConvolutionGradient`; alone, ``dW`` is this convolution
    with the adjoint weights (:func:`_adjoint`) and ``dU`` is :class:`_LinkGradient`; a
    differentiated weight gradient comes from :func:`_reference`."""

    @staticmethod
    def forward(ctx: Any, U: Tensor, W: Tensor, w: Tensor, doubled: bool = False) -> Tensor:
        wp = _padded(w, W)
        X = native.channels_last(W, wp.shape[1])  # kept: every backward pass reads it
        save(ctx, (U, W, w), (X,))
        ctx.doubled = doubled
        channels = (W.shape[1], w.shape[1])
        out = native.convolution(U, X, wp.flatten(0, 1), channels, doubled=doubled)
        return native.channels_first(out, w.shape[1], W)

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        U, W, w, X = ctx.saved_tensors
        want = wanted(ctx)
        C_in, Co = W.shape[1], w.shape[1]
        if torch.is_grad_enabled():
            doubled = ctx.doubled
            if want[2]:
                reference = partial(_reference, doubled=doubled)
                return (*reference_gradients(reference, (U, W, w), want, G), None)
            if want[0] and want[1]:
                dU, dW = _ConvolutionGradient.apply(U, W, G, w, X, doubled)
                return dU, dW, None, None
            dW = dU = None
            if want[1]:  # the adjoint convolution, to (W, W^dagger) and folded where doubled
                dW = _Convolution.apply(U, G, _adjoint(w, C_in * (2 if doubled else 1)))
                dW = fold_adjoints(dW) if doubled else dW
            if want[0]:
                dU = _LinkGradient.apply(U, with_adjoints(W) if doubled else W, G, w)
            return dU, dW, None, None
        wp = _padded(w, W)
        Gp = native.channels_last(G, wp.shape[2])
        dU = dW = dw = None
        if want[0] or want[1]:
            dU, dX = native.convolution_backward(
                U, X, wp.flatten(0, 1), Gp, (C_in, Co), want[0], want[1], ctx.doubled
            )
            dW = None if dX is None else native.channels_first(dX, C_in, W)
        if want[2]:
            dw = native.convolution_weight_grad(U, X, Gp, (C_in, Co), doubled=ctx.doubled)
            dw = _unpadded(dw, C_in, Co)
        return dU, dW, dw, None


class _LinkGradient(torch.autograd.Function):
    """``apply(U, W, G, w)``: the gradient of ``<G, conv(U, W, w)>`` with respect to ``U``
    (``<A, B> = Re tr A^dagger B`` summed over sites and channels), as
    :func:`.native.convolution_backward` gives it. It is linear in ``G``, ``W`` and ``w``, and
    with ``R`` the gradient of its result, ``<R, dU> = <G, C'>``, ``C'`` the convolution's
    derivative along the links' direction ``R`` (the tangent convolution of
    :func:`.native.convolution`). So ``dG = C'(W)``, ``dW = C'^T(G)``, the tangent
    convolution with the adjoint weights, and ``dw`` the tangent row times ``G``
    (:func:`.native.convolution_weight_grad`). Second derivatives in ``U``, and a backward
    pass that is itself differentiated, come from :func:`_reference`."""

    @staticmethod
    def forward(U: Tensor, W: Tensor, G: Tensor, w: Tensor) -> Tensor:
        wp = _padded(w, W)
        X, Gp = native.channels_last(W, wp.shape[1]), native.channels_last(G, wp.shape[2])
        channels = (W.shape[1], w.shape[1])
        dU, _ = native.convolution_backward(U, X, wp.flatten(0, 1), Gp, channels, inputs=False)
        assert dU is not None
        return dU

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        save(ctx, inputs)

    @staticmethod
    def backward(ctx: Any, R: Tensor) -> tuple[Tensor | None, ...]:
        U, W, G, w = ctx.saved_tensors
        want = wanted(ctx)
        if torch.is_grad_enabled() or want[0]:
            return reference_gradients(_reference_link_gradient, (U, W, G, w), want, R)
        C_in, Co = W.shape[1], w.shape[1]
        wp = _padded(w, W)
        X, Gp = native.channels_last(W, wp.shape[1]), native.channels_last(G, wp.shape[2])
        dW = dG = dw = None
        if want[1]:
            wa = _padded(_adjoint(w, C_in), G).flatten(0, 1)
            dW = native.channels_first(native.convolution(U, Gp, wa, (Co, C_in), dU=R), C_in, W)
        if want[2]:
            dG = native.convolution(U, X, wp.flatten(0, 1), (C_in, Co), dU=R)
            dG = native.channels_first(dG, Co, G)
        if want[3]:
            dw = native.convolution_weight_grad(U, X, Gp, (C_in, Co), dU=R)
            dw = _unpadded(dw, C_in, Co)
        return None, dW, dG, dw


class _ConvolutionGradient(torch.autograd.Function):
    """``apply(U, W, G, w, X, doubled) = (dU, dW)``: both input gradients of ``<G, conv(U, W,
    w)>`` from one call of :func:`.native.convolution_backward` (``dZ = G w^T`` formed once
    for both); ``X`` is ``W`` channel-last (:class:`_Convolution`'s), kept with ``G``'s for the
    backward; ``doubled`` as there (``dW`` then folded, the gradient of ``W``).
    With ``R_U``, ``R_W`` the gradients of its results, ``<R_U, dU> + <R_W, dW> = <G, C'(W) +
    C(R_W)>``, ``C'`` the tangent convolution along ``R_U`` (:class:`_LinkGradient`) and
    ``C(R_W)`` the convolution of ``R_W`` (``dW`` is the adjoint convolution of ``G``). So
    ``dG = C'(W) + C(R_W)`` and ``dw`` the sum of both rows times ``G``, each one product with
    the weights (the kernels' second input ``X2``); ``dW = C'^T(G)``. Second derivatives in
    ``U``, and a backward pass that is itself differentiated, come from :func:`_reference`."""

    @staticmethod
    def forward(
        ctx: Any, U: Tensor, W: Tensor, G: Tensor, w: Tensor, X: Tensor, doubled: bool
    ) -> tuple[Tensor, Tensor]:
        wp = _padded(w, W)
        Gp = native.channels_last(G, wp.shape[2])
        save(ctx, (U, W, G, w), (X, Gp))
        ctx.doubled = doubled
        channels = (W.shape[1], w.shape[1])
        dU, dX = native.convolution_backward(U, X, wp.flatten(0, 1), Gp, channels, doubled=doubled)
        assert dU is not None and dX is not None
        return dU, native.channels_first(dX, W.shape[1], W)

    @staticmethod
    def backward(ctx: Any, RU: Tensor, RW: Tensor) -> tuple[Tensor | None, ...]:
        U, W, G, w, X, Gp = ctx.saved_tensors
        want, doubled = wanted(ctx), ctx.doubled
        if torch.is_grad_enabled() or want[0]:

            def reference(U: Tensor, W: Tensor, G: Tensor, w: Tensor) -> tuple[Tensor, ...]:
                U, W = differentiable(U), differentiable(W)
                out = _reference(U, W, w, doubled)
                return torch.autograd.grad(out, (U, W), G, create_graph=True)

            return (*reference_gradients(reference, (U, W, G, w), want, (RU, RW)), None, None)
        C_in, Co = W.shape[1], w.shape[1]
        wp = _padded(w, W)
        RX = native.channels_last(RW, wp.shape[1]) if want[2] or want[3] else None
        dW = dG = dw = None
        if want[1]:  # to (W, W^dagger) and folded where doubled
            Cw = C_in * (2 if doubled else 1)
            wa = _padded(_adjoint(w, Cw), G).flatten(0, 1)
            dW = native.channels_first(native.convolution(U, Gp, wa, (Co, Cw), dU=RU), Cw, W)
            dW = native.fold_adjoints(dW) if doubled else dW
        if want[2]:
            dG = native.convolution(U, X, wp.flatten(0, 1), (C_in, Co), RU, RX, doubled)
            dG = native.channels_first(dG, Co, G)
        if want[3]:
            dw = native.convolution_weight_grad(U, X, Gp, (C_in, Co), RU, RX, doubled)
            dw = _unpadded(dw, C_in, Co)
        return None, dW, dG, dw, None, None


def available(W: Tensor, weight: Tensor) -> bool:
    """Whether :func:`hop_convolution` serves these fields and hop weights: the native
    kernels run for them (:func:`.native.available`) and the weights are real."""
    return not weight.is_complex() and native.available(W)


def hop_convolution(
    U: Tensor, W: Tensor, weight0: Tensor, weight: Tensor, doubled: bool = False
) -> Tensor:
    """``sum_j w0_ij W_j + sum_{mu, s} sum_j w_ij(mu, s) T_{s mu} W_j``: ``U (n, D, *dims, N,
    N)``, ``W (n, C_in, *dims, N, N)``, ``weight0 (C_out, C_in)``, ``weight (D, 2, 1, C_out,
    C_in)`` (:class:`.layers.LConv`'s, kernel size 2), result ``(n, C_out, *dims, N, N)``.
    ``doubled``: the convolution of ``(W, W^dagger)`` (weights of ``2 C_in`` input channels),
    whose second half the kernels take as the adjoints of the first's transports and fold in
    the backward pass: half the transports, and the gradient of ``W`` itself."""
    C_out, C_in = weight0.shape
    D = U.shape[1]
    blocks = torch.cat([weight0[None], weight.reshape(2 * D, C_out, C_in)])
    w = blocks.transpose(1, 2).reshape(-1, C_out).to(W.real.dtype)
    return _Convolution.apply(operand(U), operand(W), operand(w), doubled)


def hop_laplacian(U: Tensor, W: Tensor) -> Tensor:
    """The covariant Laplacian of every channel, ``sum_mu (T_{+mu} + T_{-mu} - 2) W / (2 D)``
    (:func:`.transport.laplacian`), as this convolution with the weights ``-1`` (local) and
    ``1 / (2 D)`` (each hop) on the diagonal of the channels: no hop matrices, and
    differentiable twice like the network's convolutions. Where :func:`available`."""
    C, D = W.shape[1], U.shape[1]
    eye = torch.eye(C, dtype=W.real.dtype, device=W.device)
    w = torch.cat([-eye] + [eye / (2 * D)] * (2 * D))
    return _Convolution.apply(operand(U), operand(W), w)
