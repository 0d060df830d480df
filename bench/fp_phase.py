"""Hysteresis scan: is there a bulk transition in an action's coupling range?

    python -m bench.fp_phase --beta 3.1 3.2 3.3 [--action fp-param|lcnn] [--file C.json]
                             [--model su3-fp-4x4]
                             [--dims 6 6 6 6] [--trajectories 100] [--chains 1]
                             [--dtype complex64] [--out fp_phase.json] [--resume]

At each beta, ``chains`` cold-start and ``chains`` hot-start chains run in one batch with HMC
(Omelyan, 10 steps, tau = 1; the first ``--md`` trajectories without accept/reject, where dH of
a cold or hot start is too large to accept). The mean plaquette ``P = <Re Tr U_p>/N`` of every
chain is recorded after every trajectory. A first-order bulk transition shows as two branches
that do not meet within the run (hysteresis); a crossover as one value that both starts reach.
The printed table gives, per beta and start, the plaquette averaged over the second half of the
run with its Gamma-method error, and the difference cold - hot in standard errors. The whole
history goes to ``--out`` (JSON), which ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lqcd_hmc import GaugeField
from lqcd_hmc.action import build
from lqcd_hmc.hmc import HMC
from lqcd_hmc.loops import average_plaquette
from lqcd_hmc.rng import ChainRNG
from lqcd_hmc.statistics import gamma_method, with_error

FP_PARAM = "examples/fp_param_su3_4x4.json"
MODEL = "su3-fp-4x4"


def action_config(
    name: str, beta: float, file: str = FP_PARAM, model: str = MODEL
) -> dict[str, Any]:
    """The action table of ``name`` at ``beta``: ``fp-param`` reads ``file`` (default: the
    shipped model's fit), ``lcnn`` is the shipped ``model``."""
    config: dict[str, Any] = {"name": name, "beta": beta}
    if name == "fp-param":
        config["file"] = file
    if name == "lcnn":
        config["model"] = model
    return config


def start_field(dims: list[int], chains: int, rng: ChainRNG, dtype: str) -> GaugeField:
    """``chains`` cold chains, then ``chains`` hot ones (Haar links from their own streams)."""
    hot = GaugeField.hot(dims, "SU(3)", rng).links[chains:]
    cold = GaugeField.cold(dims, "SU(3)", batch=chains).links
    return GaugeField(torch.cat([cold, hot]), "SU(3)").to(dtype=dtype)


def scan_beta(
    name: str,
    beta: float,
    dims: list[int],
    n: int,
    chains: int,
    md: int,
    seed: int,
    dtype: str = "complex128",
    file: str = FP_PARAM,
    model: str = MODEL,
) -> dict[str, Any]:
    """Plaquette histories ``(n, 2 chains)`` of one beta, cold chains first."""
    action = build(action_config(name, beta, file, model))
    hmc = HMC(action, integrator="omelyan2", n_steps=10, tau=1.0)
    rng = ChainRNG(seed, 2 * chains)
    field = start_field(dims, chains, rng, dtype)
    history, dH, accepted = [], [], []
    t0 = time.perf_counter()
    for k in range(n):
        field, stats = hmc.trajectory(field, rng, metropolis=k >= md)
        history.append(average_plaquette(field.links).tolist())
        dH.append(stats.dH.tolist())
        accepted.append(stats.accepted.tolist())
        if (k + 1) % 10 == 0:
            print(
                f"  beta {beta}: {k + 1}/{n} trajectories, {time.perf_counter() - t0:.0f} s, "
                f"P = {' '.join(f'{p:.4f}' for p in history[-1])}",
                flush=True,
            )
    return {
        "beta": beta,
        "plaquette": history,
        "dH": dH,
        "accepted": accepted,
        "seconds": time.perf_counter() - t0,
    }


def branch(history: np.ndarray) -> tuple[float, float]:
    """Mean and Gamma-method error of the second half, the chains of one start as replicas."""
    half = history[len(history) // 2 :]
    g = gamma_method([half[:, c] for c in range(half.shape[1])])
    return g.mean, g.error


def table(runs: list[dict[str, Any]], chains: int) -> str:
    lines = [
        "| beta | P cold start | P hot start | (cold - hot) / sigma | acceptance "
        "| s / trajectory |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        P = np.asarray(run["plaquette"])
        (c, dc), (h, dh) = branch(P[:, :chains]), branch(P[:, chains:])
        acc = np.mean(np.asarray(run["accepted"])[len(P) // 2 :])
        lines.append(
            f"| {run['beta']} | {with_error(c, dc)} | {with_error(h, dh)} | "
            f"{(c - h) / np.hypot(dc, dh):.1f} | {acc:.2f} | {run['seconds'] / len(P):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--beta", type=float, nargs="+", required=True)
    p.add_argument("--action", default="fp-param")
    p.add_argument("--dims", type=int, nargs=4, default=[6, 6, 6, 6])
    p.add_argument("--trajectories", type=int, default=100)
    p.add_argument("--chains", type=int, default=1, help="chains per start")
    p.add_argument("--md", type=int, default=5, help="first trajectories without accept/reject")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--dtype", default="complex128", help="complex64 for the L-CNN")
    p.add_argument("--file", default=FP_PARAM, help="fp-param coefficient file")
    p.add_argument("--model", default=MODEL, help="shipped L-CNN model (--action lcnn)")
    p.add_argument("--out", type=Path, default=Path("fp_phase.json"))
    p.add_argument("--resume", action="store_true", help="skip the betas already in --out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs: list[dict[str, Any]] = []
    if args.resume and args.out.exists():
        runs = json.loads(args.out.read_text())["runs"]
    done = {r["beta"] for r in runs}
    for beta in args.beta:
        if beta in done:
            continue
        print(f"{args.action} beta {beta} on {args.dims}: {args.chains} cold + hot", flush=True)
        runs.append(
            scan_beta(
                args.action,
                beta,
                args.dims,
                args.trajectories,
                args.chains,
                args.md,
                args.seed,
                args.dtype,
                args.file,
                args.model,
            )
        )
        meta = {
            "action": args.action,
            "source": args.model if args.action == "lcnn" else args.file,
            "dims": args.dims,
            "chains": args.chains,
            "dtype": args.dtype,
        }
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({**meta, "runs": runs}))
        tmp.replace(args.out)
    runs.sort(key=lambda r: r["beta"])
    print(table(runs, args.chains))


if __name__ == "__main__":
    main()
