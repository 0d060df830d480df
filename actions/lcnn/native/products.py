"""The bilinear layer's products, their backward pass and weight gradient (``bilinear_impl.h``,
``bilinear_bwd_impl.h``, ``bilinear_wgrad_impl.h``)."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from ._library import _count, _lanes, _loaded, _name, _reals, _round


def bilinear(
    a: Tensor,
    X: Tensor,
    Y: Tensor,
    adj_x: bool = False,
    adj_y: bool = False,
    id_x: bool = False,
    id_y: bool = False,
) -> Tensor:
    """``out_i = sum_{j,k} a_ijk X'_j Y'_k`` with ``X' = X^dagger`` where ``adj_x``, and X
    extended by the identity as its last channel where ``id_x`` (likewise ``Y``): ``a (I, J,
    K)`` real, ``X (n, J - id_x, S, N, N)``, ``Y (n, K - id_y, S, N, N)``, result ``(n, I, S,
    N, N)``; no autograd (the caller's function holds the backward)."""
    lib = _loaded()
    n, _, S, N, _ = X.shape
    J, K, I = a.shape[1], a.shape[2], a.shape[0]
    real = X.real.dtype
    Ip = _round(I, _lanes(lib, real))
    w = torch.zeros(J, K, Ip, dtype=real)
    w[:, :, :I] = a.detach().to(real).permute(1, 2, 0)
    x, y = _reals(X, Y)
    out = torch.empty(n, I, S, N, N, 2, dtype=real)
    scratch = torch.empty(int(lib.lcnn_bilinear_scratch(N, J, K, Ip)), dtype=real)
    fn = getattr(lib, _name("bilinear", X))
    ptr = ctypes.c_void_p
    fn(
        *(ptr(t.data_ptr()) for t in (w, x, y, out)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Ip)),
        *(ctypes.c_int(int(f)) for f in (adj_x, adj_y, id_x, id_y)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * (4 * N * N * J * K * I + 8 * N**3 * K * I))
    return torch.view_as_complex(out)


def bilinear_backward(
    a: Tensor, A: Tensor, B: Tensor, G: Tensor, id_a: bool, id_b: bool
) -> tuple[Tensor, Tensor]:
    """The gradients of :func:`bilinear` (``adj`` flags off) with respect to the stored
    channels of ``A`` and ``B`` from the gradient ``G`` of its result: ``dA_j = sum_k H_jk
    B_k^dagger``, ``dB_k = sum_j A_j^dagger H_jk`` with ``H_jk = sum_i a_ijk G_i``, one weight
    contraction for both (``bilinear_bwd_impl.h``)."""
    lib = _loaded()
    n, _, S, N, _ = A.shape
    I, J, K = a.shape
    real = A.real.dtype
    Kp = _round(K, _lanes(lib, real))
    w = torch.zeros(I, J, Kp, dtype=real)
    w[:, :, :K] = a.detach().to(real)
    x, y, g = _reals(A, B, G)
    dA, dB = torch.empty_like(x), torch.empty_like(y)
    E2 = 2 * N * N
    scratch = torch.empty(2 * N * J * Kp + 2 * N * I + 2 * E2 * Kp + J * E2, dtype=real)
    ptr = ctypes.c_void_p
    getattr(lib, _name("bilinear_backward", A))(
        *(ptr(t.data_ptr()) for t in (w, x, y, g, dA, dB)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Kp)),
        *(ctypes.c_int(int(f)) for f in (id_a, id_b)),
        ptr(scratch.data_ptr()),
    )
    # H: 2 N^2 I J K; dA and dB: 8 N^3 J K each
    _count(n * S * (4 * N * N * I * J * K + 16 * N**3 * J * K))
    return torch.view_as_complex(dA), torch.view_as_complex(dB)


def bilinear_weight_grad(A: Tensor, B: Tensor, G: Tensor, id_a: bool, id_b: bool) -> Tensor:
    """The gradient of :func:`bilinear` (``adj`` flags off) with respect to its weights from
    the gradient ``G (n, I, S, N, N)`` of its result: ``da_ijk = Re sum_{n,x} <A_j, G_i
    B_k^dagger>`` over the extended channels, ``(I, J, K)`` in the fields' real dtype
    (``bilinear_wgrad_impl.h``)."""
    lib = _loaded()
    n, Ja, S, N, _ = A.shape
    J, K, I = Ja + id_a, B.shape[1] + id_b, G.shape[1]
    real = A.real.dtype
    Ip = _round(I, _lanes(lib, real))
    x, y, g = _reals(A, B, G)
    da = torch.zeros(J, K, Ip, dtype=real)
    E2 = 2 * N * N
    scratch = torch.empty(E2 * K * Ip + E2 * Ip + K * E2 + J * E2, dtype=real)
    ptr = ctypes.c_void_p
    getattr(lib, _name("bilinear_weight_grad", A))(
        *(ptr(t.data_ptr()) for t in (x, y, g, da)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Ip)),
        *(ctypes.c_int(int(f)) for f in (id_a, id_b)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * (8 * N**3 * K * I + 4 * N * N * J * K * I))
    return da[:, :, :I].permute(2, 0, 1)


def bilinear_pair(
    a: Tensor,
    X: Tensor,
    Y: Tensor,
    X2: Tensor,
    Y2: Tensor,
    G: Tensor,
    identity: tuple[bool, bool, bool, bool],
    products: bool = True,
    weights: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """``out_i = sum_{j,k} a_ijk P_jk`` (where ``products``) and ``da_ijk = Re sum_{n,x}
    <P_jk, G_i>`` (where ``weights``) with ``P_jk = X_j Y_k + X2_j Y2_k`` over the extended
    channels ``j < J``, ``k < K`` of ``a (I, J, K)``: each operand's stored channels, then the
    identity where its ``identity`` flag is set (in the order X, Y, X2, Y2), then zero
    (``bilinear_pair_impl.h``). ``G (n, I, S, N, N)``; results ``(n, I, S, N, N)`` and ``(I,
    J, K)``, else None."""
    lib = _loaded()
    n, I, S, N, _ = G.shape
    J, K = a.shape[1], a.shape[2]
    real = G.real.dtype
    lanes = _lanes(lib, real)
    Ip, Kp = _round(I, lanes), _round(K, lanes)
    wT = torch.zeros(J, Kp, Ip, dtype=real)
    wT[:, :K, :I] = a.detach().to(real).permute(1, 2, 0)
    x, y, x2, y2, g = _reals(X, Y, X2, Y2, G)
    out = torch.empty_like(g) if products else None
    da = torch.zeros(J, Kp, Ip, dtype=real) if weights else None
    E2 = 2 * N * N
    scratch = torch.empty(E2 * J * Kp + 2 * E2 * Kp + 2 * J * E2 + 2 * E2 * Ip + K * E2, dtype=real)
    ptr = ctypes.c_void_p
    getattr(lib, _name("bilinear_pair", G))(
        *(ptr(None if t is None else t.data_ptr()) for t in (wT, x, y, x2, y2, g, out, da)),
        *(ctypes.c_long(v) for v in (n, S, J, K, I, Ip, Kp)),
        (ctypes.c_long * 4)(*(t.shape[1] for t in (X, Y, X2, Y2))),
        (ctypes.c_int * 4)(*(int(f) for f in identity)),
        ptr(scratch.data_ptr()),
    )
    _count(n * S * (16 * N**3 * J * K + 4 * N * N * I * J * K * (products + weights)))
    return (
        None if out is None else torch.view_as_complex(out),
        None if da is None else da[:, :K, :I].permute(2, 0, 1),
    )
