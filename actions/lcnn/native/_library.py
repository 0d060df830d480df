"""Loading the kernels (``lcnn.c``) and what every wrapper shares: operands as contiguous
real views, vector widths, names, flop counting."""

from __future__ import annotations

import ctypes
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


def _round(C: int, lanes: int) -> int:
    return -(-C // lanes) * lanes
