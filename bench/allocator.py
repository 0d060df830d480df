"""The CPU memory allocator's share of a force (:mod:`lqcd_hmc.allocator`).

    python -m bench.allocator [--size 10] [--batch 2] [--dtype complex64] [--threads 1]

Runs the same forces in one child process per allocator (glibc's malloc, then tcmalloc where
installed, preloaded), in one run: Wilson's (reference), the rectangle fit `fp-param` of the
FP study and the L-CNN `su3-fp-4x4-o4rr` with it, on an SU(3) field near the identity. Printed
per force and allocator: seconds per force (best of three blocks), the user and system CPU
seconds and minor page faults per force (``getrusage``), and the ratio of glibc's time to
tcmalloc's. The system time is the kernel zero-filling pages that glibc mapped afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import torch

from lqcd_hmc.action import build
from lqcd_hmc.allocator import STARTED, find_tcmalloc, loaded
from lqcd_hmc.field import GaugeField
from lqcd_hmc.rng import ChainRNG

from .timing import timeit

ACTIONS = {
    "Wilson": {"name": "wilson", "beta": 5.8},
    "rectangle fit": {
        "name": "fp-param",
        "file": "examples/fp_param_su3_4x4_o4rr.json",
        "beta": 2.7275,
    },
    "L-CNN": {"name": "lcnn", "model": "su3-fp-4x4-o4rr", "beta": 2.72},
}


def child(args: argparse.Namespace) -> None:
    """Time every force in this process; print one JSON line per force."""
    torch.set_num_threads(args.threads)
    rng = ChainRNG(1, args.batch)
    field = GaugeField.near_identity([args.size] * 4, "SU(3)", rng, 0.5, dtype=args.dtype)
    cpu = torch.device("cpu")
    for label, spec in ACTIONS.items():
        act = build(spec)
        act.force(field)
        before = resource.getrusage(resource.RUSAGE_SELF)
        seconds = timeit(lambda act=act: act.force(field), args.repeat, cpu)
        after = resource.getrusage(resource.RUSAGE_SELF)
        calls = args.repeat + 1
        row = {
            "force": label,
            "allocator": loaded(),
            "seconds": seconds,
            "user": (after.ru_utime - before.ru_utime) / calls,
            "system": (after.ru_stime - before.ru_stime) / calls,
            "faults": (after.ru_minflt - before.ru_minflt) / calls,
        }
        print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10, help="L of the L^4 lattice (default 10)")
    ap.add_argument("--batch", type=int, default=2, help="chains (default 2)")
    ap.add_argument("--dtype", default="complex64")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="timed forces (default 3)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return
    library = find_tcmalloc()
    print(
        f"SU(3) {args.size}^4, {args.batch} chains, {args.dtype}, {args.threads} thread(s); "
        f"tcmalloc: {library or 'not installed (Debian: libtcmalloc-minimal4)'}"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", STARTED)}
    envs = {"system": base}
    if library:
        envs["tcmalloc"] = {**base, "LD_PRELOAD": library}
    rows: dict[str, dict[str, dict]] = {}
    for name, env in envs.items():
        cmd = [sys.executable, "-m", "bench.allocator", "--child", *(argv or sys.argv[1:])]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"the {name} child failed: {out.stderr.strip().splitlines()[-1]}")
        for line in out.stdout.splitlines():
            r = json.loads(line)
            if r["allocator"] != name:
                raise RuntimeError(f"the {name} child ran {r['allocator']}")
            rows.setdefault(r["force"], {})[name] = r
    print(
        f"{'force':<14} {'allocator':<9} {'s/force':>8} {'user':>6} {'sys':>6} "
        f"{'faults':>9} {'glibc/tcmalloc':>14}"
    )
    for label, by in rows.items():
        for name, r in by.items():
            ratio = by["system"]["seconds"] / r["seconds"] if name != "system" else 1.0
            print(
                f"{label:<14} {name:<9} {r['seconds']:8.3f} {r['user']:6.2f} {r['system']:6.2f} "
                f"{r['faults']:9.0f} {ratio:14.2f}"
            )


if __name__ == "__main__":
    main()
