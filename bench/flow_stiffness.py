"""Stiffness of a gradient flow: the largest eigenvalue of its linearisation along the flow.

    python -m bench.flow_stiffness [--flow-file C1.json C2.json ...] [--model NAME ...]
                                   [--dims 6 6 6 6] [--beta 5.7] [--sweeps 30]
                                   [--times 0 0.1 0.3]

The flow ``dV/dt = Z(V) V`` with ``Z = -g0^2 dS`` (:mod:`observables.flow`) is integrated with
RK3, whose stability interval on the negative real axis is ``-2.51 <= eps lambda <= 0`` (the
stability polynomial ``1 + z + z^2/2 + z^3/6`` of every three-stage third-order scheme). The
step is bounded by ``2.51 / |lambda_max|``, where ``lambda_max`` is the eigenvalue of largest
modulus of the Jacobian ``J v = d/dh Z(exp(h v) V)|_0``. It is found by power iteration with
central differences (``h = 1e-4``) and printed with its sign (the Rayleigh quotient; a positive
one is an unstable direction of the flow itself), at each of ``--times`` along the flow (fixed
steps 0.01) of one Wilson heatbath configuration, for the Wilson flow, for ``fp-param`` of
each ``--flow-file`` and for each shipped L-CNN ``--model``. Wilson's free value is ``-16``
(``-4 sum_mu sin^2(p_mu/2)`` at ``p = (pi, ..)``), so Wilson's flow takes epsilon = 0.1 with
room to spare; a fit whose coefficients cancel each other in large values reaches ``|lambda|``
of hundreds, where RK3 needs steps below 0.01 (bench/RESULTS.md, "Monte Carlo with the FP actions").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lqcd_hmc import GaugeField
from lqcd_hmc.action import build
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.rng import ChainRNG
from observables.flow import Flow

RK3_BOUND = 2.51  # -z of the stability polynomial's real root, 1 + z + z^2/2 + z^3/6 = -1


def largest_eigenvalue(
    flow: Flow, field: GaugeField, iterations: int = 25, h: float = 1e-4, seed: int = 1
) -> float:
    """Signed eigenvalue of largest modulus of ``dZ/dV`` at ``field`` (power iteration)."""
    dyn = flow.dynamics(field.group)
    U = field.links
    g = torch.Generator().manual_seed(seed)
    v = field.group.project_algebra(torch.randn(U.shape, dtype=U.dtype, generator=g))
    v = v / v.norm()
    rayleigh = 0.0
    for _ in range(iterations):
        plus = flow.generator(dyn.step(U, h * v, 1.0), field)
        minus = flow.generator(dyn.step(U, -h * v, 1.0), field)
        Jv = (plus - minus) / (2 * h)
        rayleigh = float((Jv.conj() * v).real.sum())
        v = Jv / Jv.norm()
    return rayleigh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flow-file", nargs="*", default=[], help="fp-param coefficient files")
    p.add_argument("--model", nargs="*", default=[], help="shipped L-CNN models")
    p.add_argument("--dims", type=int, nargs=4, default=[6, 6, 6, 6])
    p.add_argument("--beta", type=float, default=5.7, help="Wilson beta of the configuration")
    p.add_argument("--sweeps", type=int, default=30, help="heatbath + 1 overrelaxation")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--times", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    p.add_argument("--iterations", type=int, default=25, help="power iterations")
    args = p.parse_args()
    torch.set_num_threads(1)
    field = GaugeField.cold(args.dims, "SU(3)")
    hb, rng = Heatbath(build({"name": "wilson", "beta": args.beta}), 1), ChainRNG(args.seed, 1)
    for _ in range(args.sweeps):
        field, _ = hb.update(field, rng)
    flows = {"Wilson": {"name": "wilson", "beta": 6.0}}
    for f in args.flow_file:
        flows[Path(f).stem] = {"name": "fp-param", "beta": 6.0, "file": f}
    for m in args.model:
        flows[m] = {"name": "lcnn", "beta": 6.0, "model": m}
    print(
        f"SU(3) {args.dims}, Wilson beta {args.beta}, {args.sweeps} sweeps: largest eigenvalue "
        f"of the flow's Jacobian ({args.iterations} power iterations)"
    )
    head = " | ".join(f"lambda(t={t:g})" for t in args.times)
    print(f"| flow | {head} | RK3 step bound | / Wilson's | s |")
    print("|---|" + "---|" * (len(args.times) + 3))
    wilson_bound = None
    for name, table in flows.items():
        t0 = time.perf_counter()
        flow = Flow(table)
        lams = []
        for t in args.times:
            V = flow.run(field, [t], eps=0.01)[0] if t > 0 else field
            lams.append(largest_eigenvalue(flow, V, args.iterations))
        worst = max(-x for x in lams)
        bound = RK3_BOUND / worst if worst > 0 else float("inf")
        wilson_bound = wilson_bound or bound
        cells = " | ".join(f"{x:+.1f}" for x in lams)
        print(
            f"| {name} | {cells} | {bound:.3f} | {bound / wilson_bound:.2f} | "
            f"{time.perf_counter() - t0:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
