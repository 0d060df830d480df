"""SU(3) Wilson: seconds per force evaluation and per HMC trajectory (tau = 1, 10 Omelyan 2MN
steps = 20 forces), across volumes, dtypes, batch sizes and thread counts.

    python -m bench.hmc_wilson [--quick] [--device cpu|cuda] [--sizes 4,8,16]

Every figure is also printed per link (seconds / (B V D)), so flat columns mean the cost is
linear in the volume; ratios (autograd / closed-form force, B=16 / B=1 per chain, 2 / 1
threads) are measured in the same run.
"""

from __future__ import annotations

import argparse

import torch

from actions import Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.action import autograd_force

from .timing import timeit


def field(L: int, B: int, dtype, device) -> GaugeField:
    f = GaugeField.near_identity([L] * 4, "SU(3)", ChainRNG(1, B), 0.5)
    return f.to(device=device, dtype=dtype)


def measure(L: int, B: int, dtype, device, n_traj: int) -> dict:
    f = field(L, B, dtype, device)
    W = Wilson(6.0)
    rep = max(1, int(2e5 // (B * L**4)))
    t_force = timeit(lambda: W.force(f), rep, device)
    t_auto = timeit(lambda: autograd_force(W, f), max(1, rep // 2), device)
    hmc = HMC(W, integrator="omelyan2", n_steps=10, tau=1.0)
    rng = ChainRNG(2, B, device=device)
    t_traj = timeit(lambda: hmc.trajectory(f, rng), n_traj, device)
    links = B * L**4 * 4
    return {
        "L": L,
        "B": B,
        "dtype": str(dtype).split(".")[-1],
        "force": t_force,
        "autograd/closed": t_auto / t_force,
        "traj": t_traj,
        "force/link [ns]": 1e9 * t_force / links,
        "traj/link [us]": 1e6 * t_traj / links,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="4,8,16")
    ap.add_argument("--quick", action="store_true", help="one trajectory per point")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# torch {torch.__version__}, device {device}, threads 1")
    cols = [
        "L",
        "B",
        "dtype",
        "force",
        "autograd/closed",
        "traj",
        "force/link [ns]",
        "traj/link [us]",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    rows = []
    for L in sizes:
        for dtype in (torch.complex128, torch.complex64):
            r = measure(L, 1, dtype, device, 1 if (args.quick or L >= 16) else 3)
            rows.append(r)
            print(
                "| "
                + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols)
                + " |",
                flush=True,
            )
    small = min(sizes)
    for B in (16,):
        r = measure(small, B, torch.complex128, device, 1 if args.quick else 3)
        print(
            "| "
            + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols)
            + " |",
            flush=True,
        )
        one = next(x for x in rows if x["L"] == small and x["dtype"] == "complex128")
        print(
            f"\nbatched chains at {small}^4: trajectory per chain B=1 {one['traj']:.4f} s, "
            f"B={B} {r['traj'] / B:.4f} s -> throughput x{one['traj'] / (r['traj'] / B):.2f}"
        )
    if device.type == "cpu" and torch.get_num_threads() == 1:
        mid = 8 if 8 in sizes else small
        f = field(mid, 1, torch.complex128, device)
        t1 = timeit(lambda: Wilson(6.0).force(f), 5, device)
        torch.set_num_threads(2)
        t2 = timeit(lambda: Wilson(6.0).force(f), 5, device)
        torch.set_num_threads(1)
        print(
            f"threads at {mid}^4 complex128 force: 1 thread {t1:.4f} s, 2 threads {t2:.4f} s "
            f"(2/1 = {t2 / t1:.2f})"
        )
    X = 0.3j * torch.randn(1, 4, 8, 8, 8, 8, 3, 3, dtype=torch.complex128)
    from lqcd_hmc.groups import SU

    X = SU(3).project_algebra(X)
    t_ch = timeit(lambda: SU(3).exp(X), 5, device)
    t_pade = timeit(lambda: torch.linalg.matrix_exp(X), 5, device)
    print(
        f"SU(3) exp at 8^4: Cayley-Hamilton {t_ch:.4f} s, torch matrix_exp {t_pade:.4f} s "
        f"(ratio {t_pade / t_ch:.2f})"
    )


if __name__ == "__main__":
    main()
