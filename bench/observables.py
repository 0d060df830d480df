"""Cost of the observables relative to one Wilson force, measured in one run.

    python -m bench.observables [--L 8] [--chains 2] [--repeat 3]

SU(3), a thermalised-looking random field (near identity, eps = 0.5), 1 thread. Prints
seconds per call and the ratio to one closed-form Wilson force on the same field: APE, stout
and HYP steps (full and spatial), one RK3 step of the Wilson, Symanzik and Zeuthen flows,
E(t) in both forms, Q clover and improved, temporal Wilson loops up to r = T = L/2 with the
off-axis shapes (1,1), (2,1), (2,2).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from actions import Wilson
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.smearing import ape, hyp, stout
from observables.flow import Flow, energy_density
from observables.loops import temporal_loops
from observables.topology import topological_charge


def seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    f = GaugeField.near_identity([args.L] * 4, "SU(3)", ChainRNG(1, args.chains), 0.5)
    w = Wilson(6.0)
    h = args.L // 2
    shapes = [(r, 0) for r in range(1, h + 1)] + [(1, 1), (2, 1), (2, 2)]
    flows = {k: Flow(k) for k in ("wilson", "symanzik", "zeuthen")}
    cases = {
        "wilson force": lambda: w.force(f),
        "ape step": lambda: ape(f, 0.5),
        "ape step (spatial)": lambda: ape(f, 0.5, 1, True),
        "stout step": lambda: stout(f, 0.1),
        "hyp step": lambda: hyp(f),
        "hyp step (spatial)": lambda: hyp(f, spatial=True),
        **{f"rk3 step ({k})": (lambda fl=fl: fl.step(f, 0.02)) for k, fl in flows.items()},
        "E plaquette": lambda: energy_density(f, "plaquette"),
        "E clover": lambda: energy_density(f, "clover"),
        "Q clover": lambda: topological_charge(f, "clover"),
        "Q improved": lambda: topological_charge(f, "improved"),
        f"wilson loops r,T <= {h} + 3 off-axis": lambda: temporal_loops(f, shapes, h),
    }
    times = {k: seconds(fn, args.repeat) for k, fn in cases.items()}
    base = times["wilson force"]
    print(f"SU(3) {args.L}^4, {args.chains} chains, 1 thread; ratios to one Wilson force")
    for k, t in times.items():
        print(f"{k:<36} {t:9.4f} s  {t / base:7.2f}")


if __name__ == "__main__":
    main()
