"""The L-CNN's per-site kernels in C on a CPU (``lcnn.c``, built on first use by
:func:`lqcd_hmc.kernels.native.load`): the bilinear layer's products, their traces, and the
convolution of kernel size 2.

:func:`bilinear` computes ``out_i = sum_{j,k} a_ijk X_j Y_k`` with ``X_j`` or ``Y_k`` replaced
by their adjoints on request (the backward pass's ``G B^dagger`` and ``A^dagger G`` without a
copy), site by site: per row of the result one real ``(2N x J)(J x K I)`` product held in the
core's cache, then ``(M_re + i M_im) Y`` over the output channels in vectors. Nothing of the
size of the lattice is made but the result. It serves :mod:`actions.lcnn.bilinear` where
:func:`available`; the PyTorch path there is the same arithmetic and tests pin both to the
reference layer.

:func:`bilinear_backward` gives both input gradients from one weight contraction,
:func:`bilinear_weight_grad` the weight gradient summed over sites in the core's cache,
:func:`trace_bilinear`, :func:`trace_bilinear_backward` and :func:`trace_bilinear_weight_grad`
the last layer's ``Re Tr`` from one Gram matrix per site (``bilinear_bwd_impl.h``,
``trace_impl.h``).

:func:`convolution` transports each site's neighbours (``V X V^dagger``, each link read
once per site and hop: no shifted copies, no ``N^2 x N^2`` hop matrices) into a row held in
the core's cache and multiplies it by the stacked weights of all offsets; see ``conv_impl.h``
for the layouts and the backward pass.

The kernels use one core each; every call reports its flops to :func:`counting`.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from lqcd_hmc.kernels.native import load

SOURCE = Path(__file__).with_name("lcnn.c")
COLOURS = (2, 3)
_TYPES = {torch.complex64: "f32", torch.complex128: "f64"}


_COUNTERS: list[Callable[[int], None]] = []


@contextmanager
def counting(add: Callable[[int], None]) -> Iterator[None]:
    """Within it, every kernel call passes ``add`` its real flops (multiply and add counted
    apart; the products' flops as a profiler of the PyTorch path counts them), so a flop
    count of the native path sees them (``bench.lcnn``)."""
    _COUNTERS.append(add)
    try:
        yield
    finally:
        _COUNTERS.remove(add)


def _count(flops: int) -> None:
    for add in _COUNTERS:
        add(flops)


def _library() -> ctypes.CDLL | None:
    lib = load(SOURCE)
    if lib is not None:
        lib.lcnn_bilinear_scratch.restype = ctypes.c_long
        lib.lcnn_vector_bytes.restype = ctypes.c_long
    return lib


def _loaded() -> ctypes.CDLL:
    lib = _library()
    assert lib is not None, "native kernels called where available() is False"
    return lib


def _reals(*fields: Tensor) -> list[Tensor]:
    """Contiguous real views ``(..., 2)`` of complex fields, detached (a kernel's operands)."""
    return [torch.view_as_real(t.detach().resolve_conj().contiguous()) for t in fields]


def available(like: Tensor) -> bool:
    """Whether :func:`bilinear` runs for fields like ``like`` (a CPU, complex64 or complex128,
    SU(2) or SU(3), and a compiled library)."""
    return (
        like.device.type == "cpu"
        and like.dtype in _TYPES
        and like.shape[-1] in COLOURS
        and _library() is not None
    )


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
    fn = getattr(lib, f"lcnn_bilinear_{_TYPES[X.dtype]}_n{N}")
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
    getattr(lib, f"lcnn_bilinear_backward_{_TYPES[A.dtype]}_n{N}")(
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


def _lanes(lib: ctypes.CDLL, real: torch.dtype) -> int:
    return int(lib.lcnn_vector_bytes()) * 8 // torch.finfo(real).bits


def padded_channels(C: int, like: Tensor) -> int:
    """``C`` rounded up to the kernel's vector width for fields like ``like``."""
    lib = _loaded()
    lanes = _lanes(lib, like.real.dtype)
    return -(-C // lanes) * lanes


def _lattice(U: Tensor) -> tuple:
    n, D, *dims, N, _ = U.shape
    return ctypes.c_long(n), ctypes.c_long(D), (ctypes.c_long * len(dims))(*dims)


def _name(kind: str, U: Tensor) -> str:
    return f"lcnn_{kind}_{_TYPES[U.dtype]}_n{U.shape[-1]}"


def _conv_flops(U: Tensor, Ci: int, Co: int, tangent: bool = False) -> int:
    """Real flops per call of :func:`convolution` (transports ``V X``, ``(V X) V^dagger``, both
    twice along a tangent; the row times the weights)."""
    n, D, *dims, N, _ = U.shape
    S = math.prod(dims)
    transports = 2 * D * Ci * 16 * N**3 * (2 if tangent else 1)
    return n * S * (transports + 2 * (2 * N * N) * (2 * D + 1) * Ci * Co)


def _convolve(
    kind: str, U: Tensor, operands: list[Tensor | None], Ci: int, Co: int, rows: int
) -> None:
    """Call the convolution kernel ``kind`` on ``operands`` (contiguous, in its argument
    order; None for NULL) with a scratch row of ``rows`` columns."""
    scratch = U.real.new_empty(2 * U.shape[-1] ** 2 * rows)
    ptr = ctypes.c_void_p
    getattr(_loaded(), _name(kind, U))(
        *(ptr(None if t is None else t.data_ptr()) for t in operands),
        *_lattice(U),
        ctypes.c_long(Ci),
        ctypes.c_long(Co),
        ptr(scratch.data_ptr()),
    )


def _tangent(dU: Tensor | None) -> Tensor | None:
    return None if dU is None else _reals(dU)[0]


def convolution(
    U: Tensor, X: Tensor, w: Tensor, channels: tuple[int, int], dU: Tensor | None = None
) -> Tensor:
    """``out(x) = sum_h (T_h X)(x) w_h`` (``T_0 = 1``; ``conv_impl.h``): ``U (n, D, *dims, N,
    N)`` complex, ``X (n, S, N^2, 2, Ci)`` real, ``w ((2 D + 1) Ci, Co)`` real (block ``h`` the
    weights of offset ``h``: 0 local, ``1 + (mu, +), 1 + (mu, -)``), ``Ci`` and ``Co`` from
    :func:`padded_channels`; result ``(n, S, N^2, 2, Co)`` real. With a tangent ``dU`` (shaped
    like ``U``): the derivative of ``out`` along the links' direction ``dU``, whose local term
    is zero. ``channels``: the unpadded ``(C_in, C_out)``, whose arithmetic :func:`counting`
    reports."""
    Ci, Co = X.shape[-1], w.shape[-1]
    (u,) = _reals(U)
    x, ww = X.detach().contiguous(), w.detach().contiguous()
    out = X.new_empty(*X.shape[:-1], Co)
    _convolve("conv", U, [u, _tangent(dU), x, ww, out], Ci, Co, ww.shape[0])
    _count(_conv_flops(U, *channels, tangent=dU is not None))
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
    _convolve("conv_backward", U, [u, x, wt, g, dX, dU], Ci, Co, wt.shape[1])
    # G w^T and V^dagger dZ V as the forward pass; the channel sums M = dZ X^dagger per hop
    n, D, *dims, N, _ = U.shape
    gram = n * math.prod(dims) * 2 * D * channels[0] * 8 * N**4 if links else 0
    _count(_conv_flops(U, *channels) + gram)
    return None if dU is None else torch.view_as_complex(dU), dX


def convolution_weight_grad(
    U: Tensor, X: Tensor, G: Tensor, channels: tuple[int, int], dU: Tensor | None = None
) -> Tensor:
    """The gradient of :func:`convolution` (with the same tangent ``dU``, if any) with respect
    to its stacked weights, ``((2 D + 1) Ci, Co)``: ``dw[(h, j)][i] = Re sum_{n,x} <Z_hj,
    G_i>``, the row of transported inputs times ``G`` summed over configurations and sites."""
    Ci, Co = X.shape[-1], G.shape[-1]
    (u,) = _reals(U)
    x, g = X.detach().contiguous(), G.detach().contiguous()
    H = 2 * U.shape[1] + 1
    dw = x.new_zeros(H * Ci, Co)
    _convolve("conv_weight_grad", U, [u, _tangent(dU), x, g, dw], Ci, Co, H * Ci)
    _count(_conv_flops(U, *channels, tangent=dU is not None))
    return dw


def _round(C: int, lanes: int) -> int:
    return -(-C // lanes) * lanes


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
