"""Molecular dynamics of an action on one or more time scales: the energy violation dH of one
trajectory and its cost, for several ``update.levels`` on the same configuration and momenta.

    python -m bench.md_levels compare_su3_cpu/tuning/FP_L-CNN_b2.57_8x8x8x8.h5 10 5/2 4/2
    python -m bench.md_levels ENSEMBLE.h5 5/1 --dtype complex64 \
        --action '{name = "lcnn", model = "su3-fp-4x4-o4rr", beta = 2.64}' \
        --action '{name = "lcnn", model = "su3-fp-4x4-o4rr-small", beta = 2.64}'

A spec ``n0/n1/...`` is omelyan2 with n0 steps on the outer level (the first term of
``action.time_scales()``, for ``lcnn`` the network's term) and n1 on the next; a single number
integrates the whole action on one level. The ensemble's own action, dtype and checkpoint
(its last configuration and chains) are used on ``--device``, the momenta drawn from seeds
1, 2, ... (``--seeds`` of them). Printed per spec: the force evaluations of each level,
|dH| per chain and trajectory, seconds per trajectory and their ratio to the first spec, and
the share of the outer term in the force (||F_0|| / ||F||). The acceptance of a run is
<min(1, exp(-dH))> over such trajectories. ``--action`` (repeatable, a TOML inline table as
in a run card's ``[action]``) integrates other actions on the same configuration and momenta,
each with every spec, in one process (the ratios are to the first action's first spec);
``--dtype`` overrides the ensemble's.
"""

from __future__ import annotations

import argparse
import time
import tomllib

import numpy as np
import torch

from lqcd_hmc.action import Action, build
from lqcd_hmc.config import UpdateCard
from lqcd_hmc.field import GaugeField, resolve_device, resolve_dtype
from lqcd_hmc.io import Ensemble
from lqcd_hmc.rng import ChainRNG
from lqcd_hmc.update import build as build_update


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def norm(x: torch.Tensor) -> float:
    return float(x.abs().double().pow(2).sum().sqrt())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ensemble", help="an ensemble file with a checkpoint")
    ap.add_argument("specs", nargs="+", help="levels: 10, 5/2, ... (omelyan2 steps)")
    ap.add_argument("--seeds", type=int, default=2, help="trajectories per spec (momenta)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:K (default cpu)")
    ap.add_argument("--action", action="append", default=[], help="an [action] table, TOML")
    ap.add_argument("--dtype", default=None, help="complex128 or complex64 (default: the card's)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ens = Ensemble(args.ensemble)
    card = tomllib.loads(str(ens.attrs["card"]))
    try:
        tables = [tomllib.loads(f"a = {a}")["a"] for a in args.action] or [card["action"]]
    except tomllib.TOMLDecodeError as err:
        ap.error(f"--action: not a TOML inline table ({err})")
    cp = ens.checkpoint()
    dtype = resolve_dtype(args.dtype or card["lattice"].get("dtype", "complex128"))
    links = torch.from_numpy(cp.links).to(device=device, dtype=dtype)
    field = GaugeField(links, card["lattice"]["group"])
    print(f"{args.ensemble}: trajectory {cp.trajectory}, {field.batch} chains, {dtype}")
    first: list[float] = []
    for table in tables:
        first += levels(build(table), table, field, args.specs, args.seeds, device, first)


def levels(
    action: Action,
    table: dict,
    field: GaugeField,
    specs: list[str],
    seeds: int,
    device: torch.device,
    first: list[float],
) -> list[float]:
    """One action's rows (seconds relative to ``first[0]`` where given); its seconds."""
    terms = action.time_scales()
    F = action.force(field)
    share = norm(terms[0].force(field)) / norm(F) if len(terms) > 1 else 1.0
    print(
        f"\naction {table}; {len(terms)} time scale{'s' if len(terms) > 1 else ''}, outer term "
        f"||F_0||/||F|| = {share:.3f}"
    )
    print(f"{'levels':>8} {'forces':>10} {'|dH| per chain and trajectory':>34} {'s/traj':>8} ratio")
    out = []
    for spec in specs:
        steps = [int(n) for n in spec.split("/")]
        up = UpdateCard(levels=[{"steps": n} for n in steps])
        hmc = build_update("hmc", action, up.config())
        dH, seconds = [], []
        for seed in range(1, seeds + 1):
            P = hmc.momenta(field, ChainRNG(seed, field.batch, device))
            sync(device)
            t = time.perf_counter()
            H0 = hmc.hamiltonian(field, P)
            U, P1 = hmc.molecular_dynamics(field, P)
            dH += (hmc.hamiltonian(U, P1) - H0).abs().tolist()  # .tolist() waits for the device
            seconds.append(time.perf_counter() - t)
        counts = [n // seeds for n in hmc.integrator.force_evaluations]
        sec = float(np.median(seconds))
        out.append(sec)
        base = (first or out)[0]
        print(
            f"{spec:>8} {'+'.join(map(str, counts)):>10} "
            f"{' '.join(f'{x:.3f}' for x in dH):>34} {sec:8.1f} {sec / base:.2f}",
            flush=True,
        )
    return out


if __name__ == "__main__":
    main()
