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


def trace_bilinear_pair(
    a: Tensor,
    X: Tensor,
    Y: Tensor,
    X2: Tensor,
    Y2: Tensor,
    g: Tensor,
    identity: tuple[bool, bool, bool, bool],
    products: bool = True,
    weights: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """``out_i = sum_{j,k} a_ijk P_jk`` (where ``products``) and ``da_ijk = sum_{n,x} g_i
    P_jk`` (where ``weights``) with ``P_jk = Re Tr(X_j Y_k) + Re Tr(X2_j Y2_k)`` over the
    extended channels ``j < J``, ``k < K`` of ``a (I, J, K)``: each operand's stored channels,
    then the identity where its ``identity`` flag is set (order X, Y, X2, Y2), then zero
    (``trace_impl.h``). ``g (n, I, S)`` real; results ``(n, I, S)`` and ``(I, J, K)``, else
    None."""
    lib = _loaded()
    n, _, S, N, _ = X.shape
    I, J, K = a.shape
    real = X.real.dtype
    lanes = _lanes(lib, real)
    Ip, Kp, JKp = _round(I, lanes), _round(K, lanes), _round(J * K, lanes)
    w = torch.zeros(JKp, Ip, dtype=real)
    w[: J * K, :I] = a.detach().to(real).permute(1, 2, 0).reshape(J * K, I)
    x, y, x2, y2 = _reals(X, Y, X2, Y2)
    gg = g.detach().to(real).contiguous()
    out = torch.empty(n, I, S, dtype=real) if products else None
    da = torch.zeros(I, JKp, dtype=real) if weights else None
    scratch = _trace_scratch(lib, X, J, I, Ip, Kp, 0, JKp)
    ptr = ctypes.c_void_p
    getattr(lib, _name("trace_pair", X))(
        *(ptr(None if t is None else t.data_ptr()) for t in (w, x, y, x2, y2, gg, out, da)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Ip, Kp, JKp)),
        (ctypes.c_long * 4)(*(t.shape[1] for t in (X, Y, X2, Y2))),
        (ctypes.c_int * 4)(*(int(f) for f in identity)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * 2 * J * K * (4 * N * N + I * (products + weights)))
    return out, None if da is None else da[:, : J * K].view(I, J, K)
