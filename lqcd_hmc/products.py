"""Products of batches of small complex matrices, ``C = op(A) op(B)`` at every site with
``op`` the identity or the adjoint, natively on a CPU and differentiable to any order.

Torch's batched matrix product runs 3 x 3 complex products at about 4 Gflop/s on this
project's cores (4096 of them in 240-360 us); ``products.c``, built on first use by
:func:`lqcd_hmc.kernels.native.load`, takes one matrix per vector lane and runs them 3-5x
faster. The backward pass is made of the same products, ``dA = G op(B)^dagger`` and ``dB =
op(A)^dagger G`` with the adjoints moved into the flags, so second derivatives (training the
L-CNN on the FP parametrisation's preconditioner) run natively too. It serves the loop
products of :class:`lqcd_hmc.paths.OpenPaths`, the plaquettes of the L-CNN's inputs and the
RG blocking's fat links (:meth:`actions.fixed_point.blocking.Blocking.blocked`); elsewhere
(a GPU, other shapes or dtypes, ``LQCD_HMC_NATIVE=0``, no compiler) :func:`product` is
``torch.matmul``.
"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("products.c")
_TYPES = {torch.complex64: "f32", torch.complex128: "f64"}


def _library() -> ctypes.CDLL | None:
    # imported here: lqcd_hmc.kernels imports the actions, which import lqcd_hmc.paths
    from .kernels.native import load

    return load(SOURCE)


MIN_PER_CHAIN = 256
"""The fewest matrices per chain (per index of the first dimension) that take the native
kernel. A call costs about 45 us before its first product (the autograd function, the
operands' real views, ``ctypes``), then about 20 ns per 3 x 3 complex product against
``torch.matmul``'s 60 ns: measured with one thread, ``A @ A^dagger``, 512 products 56 against
43 us, 1024 67 against 72 us, 4096 122 against 249 us (complex128; complex64 the same). The
choice is made per chain, not on the whole batch, so that splitting the chains
(``LCNNAction(max_batch=...)``) never changes a bit of the result; smaller fields (a 2^4
lattice, the preconditioner's 1^4 cold field) run on ``torch.matmul``."""


def available(A: Tensor, B: Tensor, chain_dim: int = 0) -> bool:
    """Whether :func:`product` runs natively for these operands: a CPU, complex64 or
    complex128, equal shapes ``(..., N, N)`` with N = 2 or 3 and at least
    :data:`MIN_PER_CHAIN` matrices per index of the chains' dimension ``chain_dim``, and a
    compiled library."""
    return (
        A.device.type == "cpu"
        and math.prod(A.shape[:-2]) >= MIN_PER_CHAIN * A.shape[chain_dim]
        and A.dtype in _TYPES
        and B.dtype == A.dtype
        and A.shape == B.shape
        and A.shape[-1] == A.shape[-2]
        and A.shape[-1] in (2, 3)
        and _library() is not None
    )


def product(
    A: Tensor, B: Tensor, adj_a: bool = False, adj_b: bool = False, chain_dim: int = 0
) -> Tensor:
    """``op(A) op(B)`` per batch element, ``op`` the adjoint where ``adj_a`` (``adj_b``);
    ``chain_dim``: the operands' dimension of the chains (the first, or the second of the
    gathered rows of :func:`lqcd_hmc.paths.link_table`), which the kernel's threshold
    (:func:`available`) counts per index of."""
    if not available(A, B, chain_dim):
        return (A.mH if adj_a else A) @ (B.mH if adj_b else B)
    return _Product.apply(A, B, adj_a, adj_b, chain_dim)


class _Product(torch.autograd.Function):
    """``apply(A, B, adj_a, adj_b, chain_dim)``; its backward is :func:`product` again. Its
    ``forward`` takes the context itself: with a separate ``setup_context`` torch binds the
    arguments by ``inspect.signature`` on every call (70-80 us), more than a product of a
    small batch costs."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, B: Tensor, adj_a: bool, adj_b: bool, chain_dim: int) -> Tensor:
        lib = _library()
        assert lib is not None, "native products called where available() is False"
        ctx.save_for_backward(A, B)
        ctx.adjoints, ctx.chain_dim = (adj_a, adj_b), chain_dim
        a, b = (torch.view_as_real(t.detach().resolve_conj().contiguous()) for t in (A, B))
        out = torch.empty_like(a)
        N = A.shape[-1]
        ptr = ctypes.c_void_p
        getattr(lib, f"product_{_TYPES[A.dtype]}_n{N}")(
            *(ptr(t.data_ptr()) for t in (a, b, out)),
            ctypes.c_long(a.numel() // (2 * N * N)),
            ctypes.c_int(int(adj_a)),
            ctypes.c_int(int(adj_b)),
        )
        return torch.view_as_complex(out)

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor | None, ...]:
        A, B = ctx.saved_tensors
        (adj_a, adj_b), c = ctx.adjoints, ctx.chain_dim
        dA = dB = None
        if ctx.needs_input_grad[0]:  # G op(B)^dagger, or its adjoint op(B) G^dagger
            dA = product(B, G, adj_b, True, c) if adj_a else product(G, B, False, not adj_b, c)
        if ctx.needs_input_grad[1]:  # op(A)^dagger G, or its adjoint G^dagger op(A)
            dB = product(G, A, True, adj_a, c) if adj_b else product(A, G, not adj_a, False, c)
        return dA, dB, None, None, None
