"""t0/a^2, w0/a and r0/a of SU(3) Wilson gauge theory at beta = 5.96, through the whole
pipeline: ``lqcd-hmc run`` (heatbath + overrelaxation, gradient flow and smeared Wilson loops
measured in the run) and ``lqcd-hmc analyze``.

References at beta = 5.96:
- t0/a^2 = 2.7854(62), M. Lüscher, JHEP 08 (2010) 071, table 1 (L/a = 16).
- r0/a = 5.002, from ln(a/r0) = -1.6804 - 1.7331 x + 0.7849 x^2 - 0.4428 x^3, x = beta - 6
  (S. Necco, R. Sommer, Nucl. Phys. B 622 (2002) 328, eq. (2.6); accuracy 0.5-1 %).

Usage: python -m bench.scales_wilson [--L 12] [--configs 16] [--out DIR]
The default L = 12 keeps the run near 30 minutes on one core; L = 16 matches Lüscher's volume.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.config import load_card
from lqcd_hmc.run import run_card

BETA = 5.96
T0_LUSCHER = (2.7854, 0.0062)


def r0_necco_sommer(beta: float) -> float:
    x = beta - 6.0
    return float(np.exp(1.6804 + 1.7331 * x - 0.7849 * x**2 + 0.4428 * x**3))


CARD = """
[lattice]
dims = [{L}, {L}, {L}, {L}]
group = "SU(3)"
batch = 1
seed = 596
start = "hot"
[action]
name = "wilson"
beta = {beta}
[update]
algorithm = "heatbath"
overrelaxation = 3
[run]
thermalisation = {therm}
trajectories = {traj}
save_interval = {sep}
checkpoint_interval = {sep}
output = "{out}"
[[measure]]
name = "gradient_flow"
interval = {sep}
flow = "wilson"
epsilon = 0.04
t_max = 4.0
spacing = 0.08
[[measure]]
name = "wilson_loops"
interval = {sep}
r_max = {rmax}
t_max = {rmax}
shapes = [[1, 1], [2, 1], [2, 2], [3, 1], [3, 2], [4, 2]]
smearing = {{method = "ape", alpha = 0.5, steps = 20}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, default=12)
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--separation", type=int, default=5)
    ap.add_argument("--thermalisation", type=int, default=60)
    ap.add_argument("--out", default="bench_scales")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card_path = out / "card.toml"
    card_path.write_text(
        CARD.format(
            L=args.L,
            beta=BETA,
            therm=args.thermalisation,
            traj=args.configs * args.separation,
            sep=args.separation,
            out=(out / "ensemble.h5").as_posix(),
            rmax=args.L // 2,
        )
    )
    start = time.perf_counter()
    run_card(load_card(card_path), resume=True, progress=False)
    wall = time.perf_counter() - start
    res = analyze_ensemble(out / "ensemble.h5", out / "plots")
    (out / "analysis.json").write_text(json.dumps(res, default=str, indent=1))
    flow = res["measurements"]["gradient_flow"]["clover"]
    pot = res["measurements"]["wilson_loops"]["potential"]
    t0, r0, w0 = flow["t0"], pot["r0"], flow["w0"]
    ref_r0 = r0_necco_sommer(BETA)
    print(
        f"SU(3) Wilson beta = {BETA}, {args.L}^4, {args.configs} configurations, "
        f"run + measurements {wall:.0f} s"
    )
    print(
        f"t0/a^2  = {t0['value']:.4f} +- {t0['error']:.4f}  (Lüscher, L=16: "
        f"{T0_LUSCHER[0]} +- {T0_LUSCHER[1]}; "
        f"{(t0['value'] - T0_LUSCHER[0]) / np.hypot(t0['error'], T0_LUSCHER[1]):+.1f} sigma)"
    )
    print(f"w0/a    = {w0['value']:.4f} +- {w0['error']:.4f}")
    print(
        f"r0/a    = {r0['value']:.3f} +- {r0['error']:.3f}  (Necco-Sommer: {ref_r0:.3f}; "
        f"{(r0['value'] - ref_r0) / r0['error']:+.1f} sigma), plateau T = {pot['plateau']} "
        f"(step test {'passed' if pot['plateau_test_passed'] else 'not passed'}), "
        f"chi2/dof = {pot['chi2_dof']:.2f}"
    )
    print(f"a^2 sigma = {pot['sigma']['value']:.4f} +- {pot['sigma']['error']:.4f}")
    print(f"t0/r0^2 = {t0['value'] / r0['value'] ** 2:.4f}")


if __name__ == "__main__":
    main()
