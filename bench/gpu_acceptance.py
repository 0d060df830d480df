"""GPU acceptance check: one command, its tables in one file, meant to finish within 8 minutes
on one CUDA device.

    python -m bench.gpu_acceptance                          # CUDA, 16^4 to 48^4
    python -m bench.gpu_acceptance --device cpu --sizes 4,8 # the mechanics, on a CPU

1. Fast paths against the reference path on the device, complex128, on the smallest size:
   the split and compiled Wilson and Iwasaki forces against each action's own force, and the
   L-CNN fast path's force against its reference path; each must agree to 1e-12 (absolute, on
   forces of order one, as ``tests/test_kernels.py`` and ``tests/test_lcnn_fast_path.py``).
2. The speed suite on the device (:mod:`bench.suite`): force per link on the reference and
   split paths (``--compile`` adds the compiled path to the tables: one cold compile per
   action, size and dtype, minutes each, so not by default), HMC trajectories, heatbath sweeps,
   each with its fraction of the copy bandwidth measured in the same run; then the L-CNN
   force, training and FP-data section (:func:`bench.lcnn.report`, lattices up to 8^4, B = 1
   and 16 on a GPU; its per-case subprocesses use the same device; the FP data with the
   reference kernels, and with ``--compile`` also the compiled ones).

Everything printed also goes to ``--out`` (default ``gpu_acceptance.md``). Exit status 1 if a
check of part 1 fails; the tables are written either way.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import TextIO

import torch

from actions import Iwasaki, Wilson
from actions.lcnn import LCNNAction, use_fast_path
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.kernels import SplitDynamics, from_split, to_split

from . import suite
from .lcnn import report
from .lcnn_models import model
from .timing import copy_bandwidth

TOLERANCE = 1e-12


class Tee:
    """Writes to every stream it holds (the terminal and the output file)."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def checks(L: int, device: torch.device) -> bool:
    """Part 1 of the module docstring; prints one table row per check."""
    t = suite.Table(
        f"Fast paths against the reference on {device}, {L}^4, complex128",
        ["check", "max abs difference", "max abs reference", "pass"],
    )
    ok = True
    f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(5, 1, device))
    for action in (Wilson(6.0), Iwasaki(2.6)):
        ref = action.force(f)
        for compiled in (False, True):
            F = from_split(SplitDynamics([action], 3, compile=compiled).force(0, to_split(f.links)))
            d = float((F - ref).abs().max())
            ok &= d < TOLERANCE
            path = "compiled" if compiled else "split"
            t.row(f"{action.name} force, {path}", d, float(ref.abs().max()), d < TOLERANCE)
    act = LCNNAction(6.0, model=model(device))
    fast = act.force(f)
    use_fast_path(act.model, False)
    ref = act.force(f)
    d = float((fast - ref).abs().max())
    ok &= d < TOLERANCE
    t.row("lcnn force, fast path", d, float(ref.abs().max()), d < TOLERANCE)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_acceptance", description=__doc__)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", default="16,24,32,48", help="lattice sizes L of the suite")
    ap.add_argument("--out", default="gpu_acceptance.md", help="file the tables go to")
    ap.add_argument("--compile", action="store_true", help="compiled paths in the tables too")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("no CUDA device here; --device cpu runs the mechanics")
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(1)
    start = time.perf_counter()
    with open(args.out, "w") as out, contextlib.redirect_stdout(Tee(sys.stdout, out)):
        bw = copy_bandwidth(device)
        suite.machine(device, bw)
        ok = checks(min(sizes), device)
        actions = ["wilson", "iwasaki"]
        suite.forces(actions, sizes, device, bw, args.compile)
        suite.trajectories(actions, sizes[:2], device, bw, args.compile)
        suite.heatbath(actions, sizes[:2], device, bw)
        print("\n### L-CNN force, training and FP data\n")
        batches = [1, 16] if device.type == "cuda" else [1]
        fp_kernels = ("reference", "compiled") if args.compile else ("reference",)
        report([L for L in (4, 8) if L <= max(sizes)], batches, device, fp_kernels=fp_kernels)
        verdict = "passed" if ok else "FAILED"
        print(f"\nacceptance: checks {verdict}; {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
