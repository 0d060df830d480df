"""Heatbath vs HMC: cost per link update and decorrelation cost of the plaquette.

    python -m bench.heatbath [--sizes 8,16] [--actions wilson,iwasaki] [--updates 100]
                             [--chains 2] [--tau-sizes 8]

For SU(3) Wilson (beta = 6.0) and Iwasaki (beta = 2.6): seconds per update and per link update
of one heatbath sweep, of a heatbath sweep + 4 overrelaxation sweeps, and of one HMC trajectory
(tau = 1, 10 Omelyan 2MN steps), each measured in the same run. On the ``--tau-sizes`` lattices
the integrated autocorrelation time of the plaquette (Gamma method, chains as replicas, after 30
thermalising updates from a hot start) gives the decorrelation cost ``seconds x 2 tau_int`` and
its ratio to HMC's.
"""

from __future__ import annotations

import argparse
import time

import torch

from actions import Iwasaki, Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.loops import average_plaquette
from lqcd_hmc.statistics import gamma_method

ACTIONS = {"wilson": lambda: Wilson(6.0), "iwasaki": lambda: Iwasaki(2.6)}


def updaters(action):
    hmc = HMC(action, integrator="omelyan2", n_steps=10, tau=1.0)
    return {
        "heatbath": Heatbath(action, 0).update,
        "heatbath+4or": Heatbath(action, 4).update,
        "hmc": hmc.trajectory,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16")
    ap.add_argument("--tau-sizes", default="8")
    ap.add_argument("--actions", default="wilson,iwasaki")
    ap.add_argument("--updates", type=int, default=100)
    ap.add_argument("--chains", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tau_sizes = {int(x) for x in args.tau_sizes.split(",") if x}
    print(
        f"{'action':>8} {'L':>3} {'update':>13} {'s/update':>9} {'us/link':>8} "
        f"{'tau_int':>12} {'s x 2tau':>9} {'cost/HMC':>9}"
    )
    for name in args.actions.split(","):
        for L in (int(x) for x in args.sizes.split(",")):
            rows = {}
            for kind, update in updaters(ACTIONS[name]()).items():
                rng = ChainRNG(5, args.chains)
                f = GaugeField.hot((L,) * 4, "SU(3)", rng)
                n_links = args.chains * 4 * L**4
                if L in tau_sizes:
                    for n in range(30):
                        if kind == "hmc" and n < 5:  # molecular dynamics from hot
                            f, _ = update(f, rng, metropolis=False)
                        else:
                            f, _ = update(f, rng)
                    series, t0 = [], time.perf_counter()
                    for _ in range(args.updates):
                        f, _ = update(f, rng)
                        series.append(average_plaquette(f.links))
                    sec = (time.perf_counter() - t0) / args.updates / args.chains
                    g = gamma_method(torch.stack(series, 1).numpy())
                    rows[kind] = (sec, g.tau_int, g.tau_int_error)
                else:
                    update(f, rng)
                    t0 = time.perf_counter()
                    update(f, rng)
                    rows[kind] = ((time.perf_counter() - t0) / args.chains, None, None)
            ref = rows["hmc"]
            for kind, (sec, tau, dtau) in rows.items():
                per_link = sec / (n_links / args.chains) * 1e6
                if tau is None:
                    print(
                        f"{name:>8} {L:3d} {kind:>13} {sec:9.3f} {per_link:8.2f} {'-':>12} "
                        f"{'-':>9} {sec / ref[0]:9.2f} (time only)"
                    )
                else:
                    cost, ref_cost = sec * 2 * tau, ref[0] * 2 * ref[1]
                    print(
                        f"{name:>8} {L:3d} {kind:>13} {sec:9.3f} {per_link:8.2f} "
                        f"{tau:6.2f}+-{dtau:4.2f} {cost:9.3f} {cost / ref_cost:9.2f}"
                    )


if __name__ == "__main__":
    main()
