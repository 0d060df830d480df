"""Quick-start job: a short SU(3) Wilson HMC run that prints plaquette, dH and acceptance.

``python -m lqcd_hmc.demo`` or ``lqcd-hmc demo``; the action comes from the registry, exactly as a
run card will name it.
"""
from __future__ import annotations

import json
import math
import sys
from typing import Sequence

import torch

from .action import build
from .field import GaugeField
from .hmc import HMC
from .loops import average_plaquette
from .rng import ChainRNG


def run_demo(dims: Sequence[int] = (4, 4, 4, 4), beta: float = 6.0, group: str = "SU(3)",
             chains: int = 2, trajectories: int = 20, n_steps: int = 10, therm: int = 5,
             integrator: str = "omelyan2", seed: int = 1234, as_json: bool = False,
             out=None) -> dict:
    """Run HMC from a cold start; print one line (or JSON record) per trajectory. The first
    ``therm`` trajectories are molecular dynamics without Metropolis (marked ``md``), since from
    a cold start dH is large; the summary covers the Metropolis trajectories."""
    out = out or sys.stdout
    rng = ChainRNG(seed, chains)
    field = GaugeField.cold(dims, group, batch=chains)
    hmc = HMC(build({"name": "wilson", "beta": beta}), integrator=integrator, n_steps=n_steps)
    records = []
    if not as_json:
        print(f"# {group} Wilson beta={beta} on {'x'.join(map(str, dims))}, {chains} chains, "
              f"{integrator} with {n_steps} steps, tau=1", file=out)
        print(f"{'traj':>4} {'chain':>5} {'plaquette':>10} {'dH':>10} {'acc':>4} {'sec':>6}",
              file=out)
    for n in range(therm + trajectories):
        md = n < therm
        field, st = hmc.trajectory(field, rng, metropolis=not md)
        plaq = average_plaquette(field.links).tolist()
        dH, acc = st.dH.tolist(), st.accepted.tolist()
        for b in range(chains):
            rec = {"trajectory": n, "chain": b, "plaquette": plaq[b], "dH": dH[b],
                   "accepted": bool(acc[b]), "metropolis": not md, "seconds": st.seconds}
            if not md:
                records.append(rec)
            if as_json:
                print(json.dumps(rec), file=out)
            else:
                flag = "md" if md else str(int(acc[b]))
                print(f"{n:4d} {b:5d} {plaq[b]:10.6f} {dH[b]:10.5f} {flag:>4} {st.seconds:6.3f}",
                      file=out)
    acc = sum(r["accepted"] for r in records) / len(records)
    summary = {"acceptance": acc,
               "exp_minus_dH": sum(math.exp(-r["dH"]) for r in records) / len(records)}
    if not as_json:
        print(f"# acceptance {acc:.3f}, <exp(-dH)> = {summary['exp_minus_dH']:.4f}", file=out)
    return summary


if __name__ == "__main__":
    torch.set_num_threads(1)
    run_demo()
