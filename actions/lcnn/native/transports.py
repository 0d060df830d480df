"""The convolution of kernel size 2, its backward pass and weight gradient (``conv_impl.h``),
and its operands' layout changes (``layout_impl.h``)."""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from ._library import _TYPES, _count, _lattice, _loaded, _name, _reals


def _conv_flops(
    U: Tensor, Ci: int, Co: int, tangent: bool = False, second: bool = False, doubled: bool = False
) -> int:
    """Real flops per call of :func:`convolution` on ``Ci`` input channels (transports ``V X``,
    ``(V X) V^dagger``, both twice along a tangent, once more for a second input; the row, of
    ``2 Ci`` channels where ``doubled``, times the weights; the adjoints copied, not
    counted)."""
    n, D, *dims, N, _ = U.shape
    S, Cr = math.prod(dims), Ci * (2 if doubled else 1)
    transports = 2 * D * 16 * N**3 * Ci * ((2 if tangent else 1) + second)
    added = 2 * N * N * (2 * D + 1) * Cr if second else 0
    return n * S * (transports + added + 2 * (2 * N * N) * (2 * D + 1) * Cr * Co)


def _convolve(
    kind: str,
    U: Tensor,
    operands: list[Tensor | None],
    sizes: tuple[int, ...],
    rows: int,
) -> None:
    """Call the convolution kernel ``kind`` on ``operands`` (contiguous, in its argument
    order; None for NULL) and ``sizes`` (``Ci``, ``Co``, ``doubled``) with a scratch row of
    ``rows`` columns."""
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
    return _doubling("with_adjoints", W, 2 * W.shape[1])


def fold_adjoints(G: Tensor) -> Tensor:
    """``G_1 + G_2^dagger`` of the two halves of the channels of ``G (n, 2 C, *dims, N, N)``
    complex: :func:`with_adjoints`'s adjoint, in one pass."""
    return _doubling("fold_adjoints", G, G.shape[1] // 2)


def _doubling(kind: str, X: Tensor, C_out: int) -> Tensor:
    """The kernel ``kind`` from ``X`` to ``C_out`` channels; it takes the channels of the
    single side, the fewer of the two."""
    n, C, *dims, N, _ = X.shape
    (src,) = _reals(X)
    out = src.new_empty(n, C_out, *dims, N, N, 2)
    getattr(_loaded(), f"lcnn_{kind}_{_TYPES[X.dtype]}")(
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *(ctypes.c_long(v) for v in (n, min(C, C_out), math.prod(dims), N)),
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
    with the weights for both). ``doubled``: the convolution of ``(X, X^dagger)`` (and of
    ``(X2, X2^dagger)``), whose weights are ``(H 2 Ci, Co)`` (block ``h`` the ``2 Ci`` rows of
    ``X`` and ``X^dagger``): the adjoints' transports are copied, not computed.
    ``channels``: the unpadded ``(C_in, C_out)`` of ``X`` and the result, whose arithmetic
    :func:`counting` reports."""
    Ci, Co = X.shape[-1], w.shape[-1]
    (u,) = _reals(U)
    x, ww = X.detach().contiguous(), w.detach().contiguous()
    out = X.new_empty(*X.shape[:-1], Co)
    rows = ww.shape[0] * (1 if X2 is None else 2)
    sizes = (Ci, Co, int(doubled))
    _convolve("conv", U, [u, _tangent(dU), x, _second(X2), ww, out], sizes, rows)
    _count(_conv_flops(U, *channels, dU is not None, X2 is not None, doubled))
    return out


def convolution_backward(
    U: Tensor,
    X: Tensor,
    w: Tensor,
    G: Tensor,
    channels: tuple[int, int],
    links: bool = True,
    inputs: bool = True,
    doubled: bool = False,
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of :func:`convolution` (``doubled`` as there) with respect to ``U`` and
    ``X`` from the gradient ``G`` of its result (torch's convention for complex tensors), each
    where asked for (``links``, ``inputs``; else None)."""
    Ci, Co = X.shape[-1], w.shape[-1]
    (u,) = _reals(U)
    x, g = X.detach().contiguous(), G.detach().contiguous()
    wt = w.detach().t().contiguous()
    dX = torch.zeros_like(x) if inputs else None
    dU = torch.zeros_like(u) if links else None
    _convolve("conv_backward", U, [u, x, wt, g, dX, dU], (Ci, Co, int(doubled)), wt.shape[1])
    # G w^T and V^dagger dZ V as the forward pass; the channel sums M = dZ X^dagger per hop
    n, D, *dims, N, _ = U.shape
    gram = n * math.prod(dims) * 2 * D * channels[0] * 8 * N**4 if links else 0
    _count(_conv_flops(U, *channels, doubled=doubled) + gram)
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
    and ``doubled``, if any) with respect to its stacked weights, ``((2 D + 1) Cr, Co)``
    (``Cr`` the row's channels, ``2 Ci`` where ``doubled``): ``dw[(h, j)][i] = Re sum_{n,x}
    <Z_hj, G_i>``, the row of transported inputs times ``G`` summed over configurations and
    sites."""
    Ci, Co = X.shape[-1], G.shape[-1]
    (u,) = _reals(U)
    x, g = X.detach().contiguous(), G.detach().contiguous()
    rows = (2 * U.shape[1] + 1) * Ci * (2 if doubled else 1)
    dw = x.new_zeros(rows, Co)
    operands = [u, _tangent(dU), x, _second(X2), g, dw]
    sizes = (Ci, Co, int(doubled))
    _convolve("conv_weight_grad", U, operands, sizes, rows * (1 if X2 is None else 2))
    _count(_conv_flops(U, *channels, dU is not None, X2 is not None, doubled))
    return dw
