"""Cost of the FP action with derivatives, and its classical perfection on constant flux.

    python -m bench.fp_action [--sizes 2,4] [--batch 2] [--levels 1]

For coarse SU(3) lattices of the given sizes: Wilson configurations at beta = 6 (heatbath,
20 updates from hot, one per chain), solved with the default blocking and tolerance; prints
seconds per coarse configuration (A_FP and its derivatives), L-BFGS iterations, the largest
remaining gradient, and the ratio to one Wilson force on the finest lattice, all from one run.
Then SU(3) constant flux through the (0,1) planes of (4, 4, 2, 2): relative deviation of
A_FP (1 level, at most 400 iterations) and of Wilson from the continuum action.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from actions import Wilson
from actions.fixed_point import FixedPoint
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.smooth import abelian_flux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2,4")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--levels", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        f"SU(3), beta = 6 Wilson coarse configurations, {args.batch} chains, levels = "
        f"{args.levels}, tolerance 1e-8, 1 thread"
    )
    for L in (int(s) for s in args.sizes.split(",")):
        rng = ChainRNG(1, args.batch)
        V = GaugeField.hot([L] * 4, "SU(3)", rng)
        hb = Heatbath(Wilson(6.0), 2)
        hb.prepare([L] * 4)
        for _ in range(20):
            V, _ = hb.update(V, rng)
        fp = FixedPoint(levels=args.levels)
        t = time.perf_counter()
        r = fp(V)
        secs = (time.perf_counter() - t) / args.batch
        fine = GaugeField.cold([L * 2**args.levels] * 4, "SU(3)", args.batch)
        w = Wilson(6.0)
        w.force(fine)
        t = time.perf_counter()
        w.force(fine)
        force = (time.perf_counter() - t) / args.batch
        print(
            f"coarse {L}^4: {secs:8.2f} s per configuration, {int(r.iterations.max())} iterations, "
            f"max gradient {r.gradient.max():.1e}, = {secs / force:.0f} Wilson forces on the "
            f"finest {L * 2**args.levels}^4"
        )
    V = abelian_flux([4, 4, 2, 2], "SU(3)", 1, 0, 1)
    phi = 2 * math.pi / 16
    cont = 64 * phi**2 * 2 / 6
    t = time.perf_counter()
    r = FixedPoint(levels=1, max_iterations=400)(V)
    print(
        f"flux (4,4,2,2) SU(3), one level: A_FP/A_cont - 1 = {r.action.item() / cont - 1:+.2e}"
        f", Wilson {Wilson(1.0)(V).item() / cont - 1:+.2e} ({int(r.iterations.max())} iterations, "
        f"gradient {r.gradient.max():.1e}, {time.perf_counter() - t:.0f} s)"
    )


if __name__ == "__main__":
    main()
