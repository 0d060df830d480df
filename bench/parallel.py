"""Domain decomposition on this machine: seconds per HMC trajectory with 1 process against 2
(Gloo, the lattice cut in two along time), and the halo bytes a process sends per trajectory.

    python -m bench.parallel [--L 8] [--batch 2] [--trajectories 3]

SU(3), Wilson (halo depth 1) and Iwasaki (depth 2), Omelyan 2MN with 8 steps (16 forces,
each a forward and a backward halo exchange, plus two actions and the plaquette forward
only), complex128, 1 thread per process. "1 proc, density": one process through the same
path (the autograd force of the site-summed density; Wilson's closed-form force is faster), the
fair baseline of the decomposition's own overhead. Each block computes on its sites plus
2 x depth halo slices, so small blocks gain little. Traffic per process and trajectory: each
exchange sends 2 depth-slices of D N^2 complex numbers per site of the cut face.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lqcd_hmc import HMC, ChainRNG, GaugeField, build

ACTIONS = [{"name": "wilson", "beta": 6.0}, {"name": "iwasaki", "beta": 2.6}]


def field(L: int, batch: int) -> GaugeField:
    return GaugeField.near_identity([L] * 4, "SU(3)", ChainRNG(1, batch), 0.3)


def timed(hmc: HMC, f: GaugeField, n: int) -> float:
    rng = ChainRNG(2, f.batch)
    hmc.trajectory(f, rng)
    t = time.perf_counter()
    for _ in range(n):
        f, _ = hmc.trajectory(f, rng)
    return (time.perf_counter() - t) / n


def worker(rank: int, store: str, out: str, L: int, batch: int, n: int) -> None:
    from lqcd_hmc.parallel import Decomposition, DistributedAction, DistributedHMC
    from lqcd_hmc.parallel.halo import bytes_sent

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    res = {}
    layout = Decomposition((L,) * 4, (1, 1, 1, 2), rank, [0, 1])
    f = field(L, batch)
    local = f.with_links(layout.block(f.links, 2))
    for cfg in ACTIONS:
        hmc = DistributedHMC(DistributedAction(build(cfg), layout), n_steps=8)
        sent = bytes_sent()
        s = timed(hmc, local, n)
        res[cfg["name"]] = {"seconds": s, "bytes": (bytes_sent() - sent) / (n + 1)}
    if rank == 0:
        with open(out, "w") as fh:
            json.dump(res, fh)
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--trajectories", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    f = field(a.L, a.batch)
    from lqcd_hmc.parallel import Decomposition, DistributedAction

    whole = Decomposition((a.L,) * 4, (1, 1, 1, 1), 0, [0])
    one = {c["name"]: timed(HMC(build(c), n_steps=8), f, a.trajectories) for c in ACTIONS}
    same = {
        c["name"]: timed(HMC(DistributedAction(build(c), whole), n_steps=8), f, a.trajectories)
        for c in ACTIONS
    }
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        mp.spawn(
            worker,
            args=(os.path.join(d, "store"), out, a.L, a.batch, a.trajectories),
            nprocs=2,
            join=True,
        )
        with open(out) as fh:
            two = json.load(fh)
    print(f"SU(3) {a.L}^4, {a.batch} chains, Omelyan 8 steps, complex128, 1 thread/process")
    print(
        f"{'action':>8} {'1 proc [s/traj]':>16} {'1 proc, density':>16} "
        f"{'2 procs [s/traj]':>17} {'speed-up':>9} {'vs density':>11} "
        f"{'halo MiB/traj/proc':>19}"
    )
    for name, s1 in one.items():
        r = two[name]
        print(
            f"{name:>8} {s1:16.3f} {same[name]:16.3f} {r['seconds']:17.3f} "
            f"{s1 / r['seconds']:9.2f} {same[name] / r['seconds']:11.2f} "
            f"{r['bytes'] / 2**20:19.2f}"
        )


if __name__ == "__main__":
    main()
