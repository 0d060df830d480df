"""Which blocking kernel gives the most local free FP action: the decay length xi of
``max |rho_{mu nu}(r)| ~ exp(-d/xi)`` (``FreeFixedPoint.decay_length``) of the free FP action
(``actions.fixed_point.free_fixed_point``) over the staple weight c, the diagonal-staple weight
c_d and the kernel strength kappa, in an L = 7 box; the most local kernel is then recomputed in
an L = 9 box, and its coupling envelope is plotted.

    python -m bench.fp_locality [--out bench/fp_locality.json] [--plot docs/images/...png]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from actions.fixed_point.free import noise_weight
from actions.fixed_point.free_fixed_point import free_fixed_point
from lqcd_hmc.plotting import Series, curve

CS = [0.06, 0.08, 0.1, 0.12, 0.14, 1 / 6]
CDS = [0.0, 0.0025, 0.005]
KAPPAS = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def scan(L: int = 7) -> list[dict[str, float]]:
    rows = []
    grid = [(c, cd, k) for c in CS for cd in CDS for k in KAPPAS if 1 - 6 * c - 24 * cd >= 0]
    start = time.time()
    for i, (c, cd, kappa) in enumerate(grid, 1):
        fp = free_fixed_point(c, kappa, cd, L=L, tolerance=1e-9, max_steps=400)
        rows.append(
            {
                "c": c,
                "c_diagonal": cd,
                "kappa": kappa,
                "xi": fp.decay_length(),
                "noise_weight": noise_weight(c, c_diagonal=cd),
                "steps": len(fp.residuals),
            }
        )
        print(
            f"[{i}/{len(grid)}, {time.time() - start:.0f} s] c = {c:.4g}, c_d = {cd:g}, "
            f"kappa = {kappa:g}: xi = {rows[-1]['xi']:.4f}",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/fp_locality.json")
    ap.add_argument("--plot", default="docs/images/fp_locality.png")
    args = ap.parse_args()
    rows = scan()
    best = min(rows, key=lambda r: r["xi"])
    fp = free_fixed_point(best["c"], best["kappa"], best["c_diagonal"], L=9, tolerance=1e-9)
    d, env = fp.envelope()
    Path(args.out).write_text(
        json.dumps({"scan": rows, "best": best, "best_L9_xi": fp.decay_length()}, indent=1)
    )
    print("| c | c_d | " + " | ".join(f"kappa = {k:g}" for k in KAPPAS) + " |")
    print("|---|---|" + "---|" * len(KAPPAS))
    for c in CS:
        for cd in CDS:
            xs = {r["kappa"]: r["xi"] for r in rows if r["c"] == c and r["c_diagonal"] == cd}
            if xs:
                cells = " | ".join(f"{xs[k]:.3f}" for k in KAPPAS)
                print(f"| {c:.4g} | {cd:g} | {cells} |")
    print(f"most local: {best}; xi in the L = 9 box: {fp.decay_length():.4f}")
    series = [
        Series(
            [r["c"] for r in rows if r["kappa"] == k and r["c_diagonal"] == best["c_diagonal"]],
            [r["xi"] for r in rows if r["kappa"] == k and r["c_diagonal"] == best["c_diagonal"]],
            label=f"kappa = {k:g}",
        )
        for k in KAPPAS
    ]
    curve(
        Path(args.plot),
        series,
        f"staple weight c (c_d = {best['c_diagonal']:g})",
        "decay length xi of max |rho(r)| [lattice units]",
        title="Locality of the free FP action (box L = 7)",
    )
    env_plot = Path(args.plot).with_name("fp_envelope.png")
    keep = env > 0
    curve(
        env_plot,
        [
            Series(
                d[keep].tolist(),
                [math.log10(float(v)) for v in env[keep]],
                label="largest coupling at distance d",
            )
        ],
        "distance d between link midpoints [lattice units]",
        "log10 max |rho_{mu nu}(r)|",
        title=f"Free FP couplings, c = {best['c']:.4g}, c_d = {best['c_diagonal']:g}, "
        f"kappa = {best['kappa']:g} (L = 9)",
    )


if __name__ == "__main__":
    main()
