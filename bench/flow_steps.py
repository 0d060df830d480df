"""Integration error of the gradient flow as a study card sets it, against fine fixed steps.

    python -m bench.flow_steps --action iwasaki --beta 2.33 [--adaptive | --epsilon 0.1]
                               [--reference 0.005] [--dims 8 8 8 8] [--sweeps 40]
    python -m bench.flow_steps --action wilson --beta 5.7 --flow-file C.json [--epsilon 0.1]
    python -m bench.flow_steps --ensemble RUN.h5 [--epsilon 0.1]

The flow of each action is its own (``flow = "action"``, :mod:`observables.flow`): ``Z = -g0^2
d S``, which for the stiffer improved actions (Iwasaki ``c0 = 3.65``, DBW2 ``c0 = 12.3``) has
larger eigenvalues than the Wilson flow, so a step that suits Wilson lets RK3 diverge. One
configuration, either ``--sweeps`` heatbath updates of the action at ``--beta`` from a cold start
(staple actions) or the first chain's last configuration of ``--ensemble``, is flowed (with
that action's flow, or ``fp-param`` of ``--flow-file``) to ``--t-max`` with the
tested setting and with fixed steps ``--reference``; printed are t^2 E at t_max/2 and t_max, t0, w0
and t_0.2 (clover E) of both (NaN where not reached), their relative differences, and the
number of force evaluations.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

from lqcd_hmc import GaugeField
from lqcd_hmc.action import build
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.io import Ensemble
from lqcd_hmc.rng import ChainRNG
from observables.flow import Flow, energy_density
from observables.scales import flow_scales


def configuration(args: argparse.Namespace) -> tuple[GaugeField, dict]:
    """The configuration to flow and the action table its flow uses."""
    if args.ensemble is not None:
        e = Ensemble(args.ensemble)
        links, _ = e.config(e.trajectories()[-1])
        table = tomllib.loads(e.attrs["card"])["action"]
        return GaugeField(torch.from_numpy(links)[:1], "SU(3)"), table
    table = {"name": args.action, "beta": args.beta}
    field = GaugeField.cold(args.dims, "SU(3)")
    hb, rng = Heatbath(build(table), overrelaxation=1), ChainRNG(args.seed, 1)
    for _ in range(args.sweeps):
        field, _ = hb.update(field, rng)
    return field, table


def flow_curve(
    field: GaugeField, table: dict, times: np.ndarray, eps: float, adaptive: bool, tol: float
) -> tuple[np.ndarray, int, float]:
    """``t^2 E_clover(t)`` on ``times``, the force evaluations and the seconds taken."""
    E: list[float] = []
    t0 = time.perf_counter()
    _, stats = Flow(table).run(
        field,
        times,
        eps,
        adaptive,
        tol,
        observe=lambda t, V: E.append(float(energy_density(V, "clover")[0])),
    )
    return np.asarray(E), stats.forces, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--action", default="iwasaki")
    p.add_argument("--beta", type=float, default=2.33)
    p.add_argument("--ensemble", type=Path, help="flow its last configuration instead")
    p.add_argument("--dims", type=int, nargs=4, default=[8, 8, 8, 8])
    p.add_argument("--sweeps", type=int, default=40, help="heatbath + 1 overrelaxation")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--epsilon", type=float, default=0.1, help="fixed step (or adaptive start)")
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--tolerance", type=float, default=1e-6)
    p.add_argument("--reference", type=float, default=0.005, help="fine fixed step")
    p.add_argument("--t-max", type=float, default=2.4)
    p.add_argument("--flow-file", help="flow with fp-param of this coefficient file instead")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    field, table = configuration(args)
    if args.flow_file is not None:
        table = {"name": "fp-param", "beta": 1.0, "file": args.flow_file}
    times = 0.1 * np.arange(1, int(round(args.t_max / 0.1)) + 1)
    tested = flow_curve(field, table, times, args.epsilon, args.adaptive, args.tolerance)
    ref = flow_curve(field, table, times, args.reference, False, args.tolerance)
    setting = f"adaptive (tol {args.tolerance:g})" if args.adaptive else f"eps {args.epsilon:g}"
    print(f"{table['name']} flow, beta {table.get('beta')}: {setting} vs eps {args.reference:g}")
    print("| | t^2 E(t_max/2) | t^2 E(t_max) | t0 | w0 | t_0.2 | forces | s |")
    print("|---|---|---|---|---|---|---|---|")
    scales = {}
    for name, (E, forces, sec) in (("tested", tested), ("reference", ref)):
        y = times**2 * E
        t0, w0 = flow_scales(times, E)
        t02, _ = flow_scales(times, E, 0.2)
        scales[name] = np.array([t0, w0, t02])
        print(
            f"| {name} | {y[len(y) // 2 - 1]:.6f} | {y[-1]:.6f} | {t0:.5f} | {w0:.5f} | "
            f"{t02:.5f} | {forces} | {sec:.0f} |"
        )
    rel = np.abs(scales["tested"] / scales["reference"] - 1)
    print(f"relative difference: t0 {rel[0]:.1e}, w0 {rel[1]:.1e}, t_0.2 {rel[2]:.1e}")


if __name__ == "__main__":
    main()
