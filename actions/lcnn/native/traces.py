"""The last layer's traced products ``Re Tr(X_j Y_k)``, their backward pass and weight gradient
(``trace_impl.h``)."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from ._library import _count, _lanes, _loaded, _name, _reals, _round


def _trace_scratch(lib: ctypes.CDLL, X: Tensor, *sizes: int) -> Tensor:
    """Scratch for a traced kernel: ``lcnn_trace_scratch`` of ``(J, I, Ip, Kp, Rp, JKp)``."""
    fn = getattr(lib, _name("trace_scratch", X))
    fn.restype = ctypes.c_long
    return X.real.new_empty(int(fn(*(ctypes.c_long(v) for v in sizes))))


def trace_bilinear(a: Tensor, X: Tensor, Y: Tensor, id_x: bool, id_y: bool) -> Tensor:
    """``out_i = sum_{j,k} a_ijk Re Tr(X_j Y_k)`` (X, Y extended by the identity where
    ``id_x``, ``id_y``): ``a (I, J, K)`` real, ``X (n, J - id_x, S, N, N)``, ``Y (n, K - id_y,
    S, N, N)``, result ``(n, I, S)`` real (``trace_impl.h``)."""
    lib = _loaded()
    n, _, S, N, _ = X.shape
    I, J, K = a.shape
    real = X.real.dtype
    lanes = _lanes(lib, real)
    Ip, Kp = _round(I, lanes), _round(K, lanes)
    w = torch.zeros(J, K, Ip, dtype=real)
    w[:, :, :I] = a.detach().to(real).permute(1, 2, 0)
    x, y = _reals(X, Y)
    out = torch.empty(n, I, S, dtype=real)
    scratch = _trace_scratch(lib, X, J, I, Ip, Kp, 0, J * K)
    ptr = ctypes.c_void_p
    getattr(lib, _name("trace", X))(
        *(ptr(t.data_ptr()) for t in (w, x, y, out)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Ip, Kp)),
        *(ctypes.c_int(int(f)) for f in (id_x, id_y)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * 2 * J * K * (2 * N * N + I))
    return out


def trace_bilinear_backward(
    a: Tensor,
    X: Tensor,
    Y: Tensor,
    g: Tensor,
    id_x: bool,
    id_y: bool,
    wanted: tuple[bool, bool] = (True, True),
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of :func:`trace_bilinear` with respect to the stored channels of ``X``
    and ``Y`` from the gradient ``g`` of its result, each where ``wanted`` (else None)."""
    lib = _loaded()
    n, _, S, N, _ = X.shape
    I, J, K = a.shape
    real = X.real.dtype
    lanes = _lanes(lib, real)
    Kp, Rp = _round(K, lanes), _round(2 * N * N, lanes)
    wt = torch.zeros(I, J, Kp, dtype=real)
    wt[:, :, :K] = a.detach().to(real)
    x, y = _reals(X, Y)
    gg = g.detach().to(real).contiguous()
    dx, dy = (torch.empty_like(t) if w else None for t, w in zip((x, y), wanted))
    scratch = _trace_scratch(lib, X, J, I, 0, Kp, Rp, 0)
    ptr = ctypes.c_void_p
    getattr(lib, _name("trace_backward", X))(
        *(ptr(None if t is None else t.data_ptr()) for t in (wt, x, y, gg, dx, dy)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Kp, Rp)),
        *(ctypes.c_int(int(f)) for f in (id_x, id_y)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * 2 * J * K * (I + 2 * N * N * sum(wanted)))
    return (
        None if dx is None else torch.view_as_complex(dx),
        None if dy is None else torch.view_as_complex(dy),
    )


def trace_bilinear_weight_grad(X: Tensor, Y: Tensor, g: Tensor, id_x: bool, id_y: bool) -> Tensor:
    """The gradient of :func:`trace_bilinear` with respect to its weights from the gradient
    ``g (n, I, S)`` of its result: ``da_ijk = sum_{n,x} g_i Re Tr(X_j Y_k)`` over the extended
    channels, ``(I, J, K)`` (``trace_impl.h``)."""
    lib = _loaded()
    n, Jx, S, N, _ = X.shape
    J, K, I = Jx + id_x, Y.shape[1] + id_y, g.shape[1]
    real = X.real.dtype
    lanes = _lanes(lib, real)
    Kp, JKp = _round(K, lanes), _round(J * K, lanes)
    x, y = _reals(X, Y)
    gg = g.detach().to(real).contiguous()
    da = torch.zeros(I, JKp, dtype=real)
    scratch = _trace_scratch(lib, X, J, I, 0, Kp, 0, JKp)
    ptr = ctypes.c_void_p
    getattr(lib, _name("trace_weight_grad", X))(
        *(ptr(t.data_ptr()) for t in (x, y, gg, da)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Kp, JKp)),
        *(ctypes.c_int(int(f)) for f in (id_x, id_y)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * 2 * J * K * (2 * N * N + I))
    return da[:, : J * K].view(I, J, K)
