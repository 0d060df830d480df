"""Where the bilinear layer's fast paths pay: the native kernel
(:mod:`actions.lcnn.native`) and the chunked real path of
:func:`actions.lcnn.bilinear.bilinear` against the reference path of ``LBilin``, value and
gradient of the inputs, by output channels and dtype, and the path ``LBilin`` takes
(:func:`actions.lcnn.bilinear.pays`).

    python -m bench.lcnn_bilinear [--size 8] [--threads 1]

One ``LBilin(in_a, in_b, out)`` per row on Gaussian channel fields of one configuration on an
``L^4`` lattice (the inputs extended by the identity, as in the L-CB layers: ``J = in_a + 1``,
``K = in_b + 1``); milliseconds per call (best of 3), each path in the same process (the
chunked one with ``LQCD_HMC_NATIVE=0``; the native column is empty where no kernel could be
built). The shapes are those of the L-CB layers of the architecture scan (``in_a`` = twice
the previous layer's channels).
"""

from __future__ import annotations

import argparse
import os

import torch

import actions.lcnn.bilinear as bilinear_module
from actions.lcnn import LBilin, native
from lqcd_hmc.kernels.native import SWITCH

from .timing import timeit

SHAPES = [(24, 4, 4), (8, 4, 4), (24, 7, 7), (24, 8, 8), (16, 8, 8), (24, 9, 9), (24, 10, 10)]
SHAPES += [(24, 11, 11), (24, 12, 12)]
SHAPES += [(24, 16, 16), (24, 24, 24), (48, 24, 24)]


def row(
    L: int, shape: tuple[int, int, int], dtype: torch.dtype
) -> tuple[float | None, float, float, str]:
    """Seconds of the native, the chunked and the reference path, and the path ``LBilin``
    takes."""
    ca, cb, out = shape
    torch.manual_seed(0)
    layer = LBilin(ca, cb, out)
    A = torch.randn(1, ca, *[L] * 4, 3, 3, dtype=dtype, requires_grad=True)
    B = torch.randn(1, cb, *[L] * 4, 3, 3, dtype=dtype, requires_grad=True)

    def call() -> None:
        torch.autograd.grad(layer(A, B).real.sum(), [A, B])

    rules, switch = bilinear_module.FAST_ROWS_CPU, os.environ.get(SWITCH)
    try:
        bilinear_module.FAST_ROWS_CPU = {}  # the fast path on every shape
        kernel = timeit(call, 3, A.device) if native.available(A) else None
        os.environ[SWITCH] = "0"
        chunked = timeit(call, 3, A.device)
        bilinear_module.FAST_ROWS_CPU = rules
        taken = "chunked" if bilinear_module.pays(out, A) else "reference"
    finally:
        bilinear_module.FAST_ROWS_CPU = rules
        os.environ.pop(SWITCH)
        if switch is not None:
            os.environ[SWITCH] = switch
    if native.available(A):
        taken = "native"
    layer.fast = False
    return kernel, chunked, timeit(call, 3, A.device), taken


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8, help="lattice extent L (default 8)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"LBilin value and input gradients, {args.size}^4, 1 configuration, CPU")
    print(
        "\n| dtype | (in_a, in_b, out) | native [ms] | chunked [ms] | reference [ms] | "
        "reference / native | reference / chunked | taken |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dtype in (torch.complex128, torch.complex64):
        for shape in SHAPES:
            kernel, chunked, ref, taken = row(args.size, shape, dtype)
            k = "" if kernel is None else f"{1e3 * kernel:.1f}"
            r = "" if kernel is None else f"{ref / kernel:.2f}"
            print(
                f"| {str(dtype).removeprefix('torch.')} | {shape} | {k} | {1e3 * chunked:.1f} | "
                f"{1e3 * ref:.1f} | {r} | {ref / chunked:.2f} | {taken} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
