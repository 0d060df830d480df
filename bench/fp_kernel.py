"""Which blocking kernels can have a free fixed-point action: the white-noise weight (largest
eigenvalue of ``2^-D sum_n M_n(q) M_n(q)^dag``, ``actions.fixed_point.free.noise_weight``)
against the staple weight c (D = 4), at q -> 0, at corners of the Brillouin zone and its maximum
over the momenta of an 8^4 box, and the threshold c* where it is 1 at q -> 0.

    python -m bench.fp_kernel

Below 1 the noise the kernel adds at every RG step dies out and the recursion for the free FP
propagator can converge; at or above 1 it cannot (the default c = 0.05 gives 1.04).

Second table: how far the quadratic form of the FP equation with ``levels`` finer lattices
(Wilson on the finest, exact on nested grids, ``multilevel_kernel``) moves from one level to the
next, ``max_q |rho_levels(q) - rho_(levels-1)(q)|`` on the 4^4 coarse momenta (levels = 0 is
Wilson); the FP data use 1 or 2 levels.
"""

from __future__ import annotations

import math

import torch

from actions.fixed_point.free import D, momenta, multilevel_kernel, noise_weight, wilson_kernel


def main() -> None:
    corners = {
        "q -> 0": None,
        "q = (pi, 0, 0, 0)": torch.tensor([math.pi, 0, 0, 0], dtype=torch.float64),
        "q = (pi, pi, pi, pi)": torch.full((D,), math.pi, dtype=torch.float64),
    }
    cs = [0.0, 0.02, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.14, 1 / 6]
    grid = momenta(8)
    print("| c | " + " | ".join(corners) + " | max over the 8^4 momenta |")
    print("|---|" + "---|" * (len(corners) + 1))
    for c in cs:
        row = [f"{noise_weight(c, q):.3f}" for q in corners.values()]
        worst = max(noise_weight(c, q) for q in grid)
        print(f"| {c:.4g} | " + " | ".join(row) + f" | {worst:.3f} |")
    lo, hi = 0.0, 0.1  # bisection for noise_weight(c*) = 1 at q -> 0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if noise_weight(mid) > 1 else (lo, mid)
    print(f"threshold at q -> 0: c* = {lo:.5f}")
    print()
    print("| c | Wilson -> 1 level | 1 -> 2 levels | 2 -> 3 levels |")
    print("|---|---|---|---|")
    for c in (0.05, 0.1, 0.12):
        prev, steps = wilson_kernel(momenta(4)), []
        for levels in (1, 2, 3):
            rho = multilevel_kernel(4, levels, c, 8.0)
            steps.append(f"{float((rho - prev).abs().max()):.3g}")
            prev = rho
        print(f"| {c:g} | " + " | ".join(steps) + " |")


if __name__ == "__main__":
    main()
