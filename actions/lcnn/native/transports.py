"""The convolution of kernel size 2, its backward pass and weight gradient (``conv_impl.h``),
and its operands' layout changes (``layout_impl.h``)."""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from ._library import _TYPES, _count, _lanes, _lattice, _loaded, _name, _reals


def _conv_flops(
    U: Tensor, Ci: int, Co: int, tangent: bool = False, second: bool = False, half: int = 0
) -> int:
    """Real flops per call of :func:`convolution` (transports ``V X``, ``(V X) V^dagger``, both
    twice along a tangent, of half the channels where ``half``, once more for a second input;
    the row times the weights)."""
    n, D, *dims, N, _ = U.shape
    S = math.prod(dims)
    plain = Ci // 2 if half else Ci
    transports = 2 * D * 16 * N**3 * (plain * (2 if tangent else 1) + Ci * second)
    added = 2 * N * N * (2 * D + 1) * Ci if second else 0
    return n * S * (transports + added + 2 * (2 * N * N) * (2 * D + 1) * Ci * Co)


def _convolve(
    kind: str,
    U: Tensor,
    operands: list[Tensor | None],
    sizes: tuple[int, ...],
    rows: int,
) -> None:
    """Call the convolution kernel ``kind`` on ``operands`` (contiguous, in its argument
    order; None for NULL) and ``sizes`` (``Ci``, ``Co`` and, where the kernel takes it,
    ``half``) with a scratch row of ``rows`` columns."""
    scratch = U.real.new_empty(2 * U.shape[-1] ** 2 * rows)
    ptr = ctypes.c_void_p
    getattr(_loaded(), _name(kind, U))(
        *(ptr(None if t is None else t.data_ptr()) for t in operands),
        *_lattice(U),
        *(ctypes.c_long(v) for v in sizes),
        ptr(scratch.data_ptr()),
    )


def channels_last(W: Tensor, Cp: int) -> Tensor:
    """``W (n, C, *dims, N, N)`` complex -> real ``(n, S, N^2, 2, Cp)``, contiguous, zero
    channels past ``C``: the convolution kernels' operand layout (one tiled transpose)."""
    n, C, *_, N, _ = W.shape
    (src,) = _reals(W)
    M = src.numel() // (n * C)
    out = src.new_empty(n, M // (2 * N * N), N * N, 2, Cp)
    getattr(_loaded(), f"lcnn_channels_last_{_TYPES[W.dtype]}")(
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *(ctypes.c_long(v) for v in (n, C, M, Cp)),
    )
    return out


def channels_first(X: Tensor, C: int, like: Tensor) -> Tensor:
    """Real ``(n, S, N^2, 2, Cp)`` -> complex ``(n, C, *dims, N, N)`` shaped like ``like``
    (channels past ``C`` dropped): :func:`channels_last` undone."""
    n, S, E, _, Cp = X.shape
    src = X.detach().contiguous()
    out = src.new_empty(n, C, *like.shape[2:], 2)
    getattr(_loaded(), f"lcnn_channels_first_{_TYPES[like.dtype]}")(
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *(ctypes.c_long(v) for v in (n, C, S * E * 2, Cp)),
    )
    return torch.view_as_complex(out)


def with_adjoints(W: Tensor) -> Tensor:
    """``(W, W^dagger)`` along the channels of ``W (n, C, *dims, N, N)`` complex, in one pass
    (``layout_impl.h``)."""
    return _doubling("with_adjoints", W, 2)


def fold_adjoints(G: Tensor) -> Tensor:
    """``G_1 + G_2^dagger`` of the two halves of the channels of ``G (n, 2 C, *dims, N, N)``
    complex: :func:`with_adjoints`'s adjoint, in one pass."""
    return _doubling("fold_adjoints", G, 0.5)


def _doubling(kind: str, X: Tensor, factor: float) -> Tensor:
    n, C, *dims, N, _ = X.shape
    (src,) = _reals(X)
    out = src.new_empty(n, int(C * factor), *dims, N, N, 2)
    getattr(_loaded(), f"lcnn_{kind}_{_TYPES[X.dtype]}")(
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *(ctypes.c_long(v) for v in (n, min(C, out.shape[1]), math.prod(dims), N)),
    )
    return torch.view_as_complex(out)


def _tangent(dU: Tensor | None) -> Tensor | None:
    return None if dU is None else _reals(dU)[0]


def _second(X2: Tensor | None) -> Tensor | None:
    return None if X2 is None else X2.detach().contiguous()


def convolution(
    U: Tensor,
    X: Tensor,
    w: Tensor,
    channels: tuple[int, int],
    dU: Tensor | None = None,
    X2: Tensor | None = None,
    doubled: bool = False,
) -> Tensor:
    """``out(x) = sum_h (T_h X)(x) w_h`` (``T_0 = 1``; ``conv_impl.h``): ``U (n, D, *dims, N,
    N)`` complex, ``X (n, S, N^2, 2, Ci)`` real, ``w ((2 D + 1) Ci, Co)`` real (block ``h`` the
    weights of offset ``h``: 0 local, ``1 + (mu, +), 1 + (mu, -)``), ``Ci`` and ``Co`` from
    :func:`padded_channels`; result ``(n, S, N^2, 2, Co)`` real. With a tangent ``dU`` (shaped
    like ``U``): the derivative of ``out`` along the links' direction ``dU``, whose local term
    is zero. With ``X2`` (shaped like ``X``), plus the convolution of ``X2`` (one product
    with the weights for both). ``doubled``: ``X`` holds ``(W, W^dagger)``, half the channels
    each (:func:`doubled_half`; ``X2`` need not), whose transports are then half computed,
    half copied. ``channels``: the unpadded ``(C_in, C_out)``, whose arithmetic
    :func:`counting` reports."""
    Ci, Co = X.shape[-1], w.shape[-1]
    (u,) = _reals(U)
    x, ww = X.detach().contiguous(), w.detach().contiguous()
    out = X.new_empty(*X.shape[:-1], Co)
    rows = ww.shape[0] * (1 if X2 is None else 2)
    half = doubled_half(X, channels[0]) if doubled else 0
    _convolve("conv", U, [u, _tangent(dU), x, _second(X2), ww, out], (Ci, Co, half), rows)
    _count(_conv_flops(U, *channels, dU is not None, X2 is not None, half))
    return out


def convolution_backward(
    U: Tensor,
    X: Tensor,
    w: Tensor,
    G: Tensor,
    channels: tuple[int, int],
    links: bool = True,
    inputs: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of :func:`convolution` with respect to ``U`` and ``X`` from the gradient
    ``G`` of its result (torch's convention for complex tensors), each where asked for
    (``links``, ``inputs``; else None)."""
    Ci, Co = X.shape[-1], w.shape[-1]
    (u,) = _reals(U)
    x, g = X.detach().contiguous(), G.detach().contiguous()
    wt = w.detach().t().contiguous()
    dX = torch.zeros_like(x) if inputs else None
    dU = torch.zeros_like(u) if links else None
    _convolve("conv_backward", U, [u, x, wt, g, dX, dU], (Ci, Co), wt.shape[1])
    # G w^T and V^dagger dZ V as the forward pass; the channel sums M = dZ X^dagger per hop
    n, D, *dims, N, _ = U.shape
    gram = n * math.prod(dims) * 2 * D * channels[0] * 8 * N**4 if links else 0
    _count(_conv_flops(U, *channels) + gram)
    return None if dU is None else torch.view_as_complex(dU), dX


def convolution_weight_grad(
    U: Tensor,
    X: Tensor,
    G: Tensor,
    channels: tuple[int, int],
    dU: Tensor | None = None,
    X2: Tensor | None = None,
    doubled: bool = False,
) -> Tensor:
    """The gradient of :func:`convolution` (with the same tangent ``dU``, second input ``X2``
    and ``doubled``, if any) with respect to its stacked weights, ``((2 D + 1) Ci, Co)``:
    ``dw[(h, j)][i] = Re sum_{n,x} <Z_hj, G_i>``, the row of transported inputs times ``G``
    summed over configurations and sites."""
    Ci, Co = X.shape[-1], G.shape[-1]
    (u,) = _reals(U)
    x, g = X.detach().contiguous(), G.detach().contiguous()
    H = 2 * U.shape[1] + 1
    dw = x.new_zeros(H * Ci, Co)
    rows = H * Ci * (1 if X2 is None else 2)
    half = doubled_half(X, channels[0]) if doubled else 0
    operands = [u, _tangent(dU), x, _second(X2), g, dw]
    _convolve("conv_weight_grad", U, operands, (Ci, Co, half), rows)
    _count(_conv_flops(U, *channels, dU is not None, X2 is not None, half))
    return dw


def doubled_half(X: Tensor, C_in: int) -> int:
    """The kernels' ``half`` for a doubled operand ``X (..., Ci)`` of ``C_in = 2 C`` channels,
    ``(W, W^dagger)``: ``C`` where the halves are whole vectors with no padding between them
    (``Ci = 2 C``, ``C`` a multiple of the lanes), else 0 (every transport computed)."""
    C = C_in // 2
    lanes = _lanes(_loaded(), X.dtype)
    return C if C_in == 2 * C and X.shape[-1] == C_in and C % lanes == 0 else 0
