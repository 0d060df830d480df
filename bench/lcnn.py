"""Cost of the L-CNN action: value, force and training step, against the Wilson force.

    python -m bench.lcnn [--sizes 4,8] [--batches 1,16] [--device cpu] [--threads 1]

For SU(3) with the default architecture (L-CB layers with 12, 24, 24 channels, kernel sizes
2, 2, 1; Wilson preconditioner) on Haar-random fields: seconds per call of the action value and
of the autograd force, each as a ratio to one Wilson force on the same field in the same
process, and the peak memory of the force. Each (lattice, batch) runs in a fresh process, whose
first force call is its memory peak: CPU, growth of the resident set's high-water mark over the
set-up; CUDA, ``max_memory_allocated``. Where a batch does not fit in memory the action runs
with ``max_batch`` (the ``chunk`` column). The arithmetic: real flops per site of the value and
of the force (:func:`flops_per_site`), the force's achieved rate (``Gflop/s``) and its fraction
of the core's float64 matmul rate (``% matmul``, :func:`matmul_rate`; the speed issue asks for
30 %). Then training throughput: configurations per second of one optimiser step with the
double-backpropagated loss.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from actions import Wilson
from actions.lcnn import Architecture, LCNNAction, LCNNFixedPoint
from lqcd_hmc import ChainRNG, GaugeField
from workflows.training.losses import losses

from .timing import timeit


def model(device: torch.device) -> LCNNFixedPoint:
    torch.manual_seed(0)
    m = LCNNFixedPoint(Architecture(D=4, group="SU(3)"), preconditioner="wilson")
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.1, -0.01, 0.001]))
    return m.to(device)


def case(L: int, B: int, device: torch.device, dtype: str, chunk: int) -> dict:
    """One lattice and batch, in this (fresh) process, ``chunk`` configurations per pass."""
    act, wil = LCNNAction(6.0, model=model(device), max_batch=chunk), Wilson(6.0)
    f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(1, B, device), dtype)
    wil.force(f)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    act.force(f)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    repeat = 1 if L**4 * B > 20000 else 3
    tw = timeit(lambda: wil.force(f), 5, device)
    with torch.no_grad():
        ta = timeit(lambda: act(f), repeat, device)
    tf = timeit(lambda: act.force(f), repeat, device)
    return {
        "L": L,
        "B": B,
        "chunk": chunk,
        "wilson_force_s": tw,
        "action_ratio": ta / tw,
        "force_ratio": tf / tw,
        "force_s_per_config": tf / B,
        "peak_MiB": peak,
    }


def flops_per_site(device: torch.device, dtype: str) -> tuple[float, float]:
    """Real flops per site and configuration of the action's value and of its force (forward
    and backward to the links, no weight gradients), on a 4^4 lattice: the matrix products
    counted by ``FlopCounterMode`` (``2 M N K`` each), times 4 for complex operands (a complex
    multiply-add is 8 real flops). The products are counted as performed: real weights are cast
    to the field's complex dtype, so all are complex except the readout of the traces (24
    multiply-adds per site, over-counted by 4, negligible). Element-wise work (activations,
    traces, sums) is not counted."""
    act = LCNNAction(6.0, model=model(device))  # parameters frozen
    f = GaugeField.hot([4] * 4, "SU(3)", ChainRNG(1, 1, device), dtype)
    with FlopCounterMode(display=False) as value, torch.no_grad():
        act(f)
    links = f.links.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as force:
        act(f.with_links(links)).sum().backward()
    return 4 * value.get_total_flops() / 4**4, 4 * force.get_total_flops() / 4**4


def matmul_rate(device: torch.device, n: int = 1024) -> float:
    """flop/s of a dense float64 ``n x n`` matrix product (``torch.matmul``)."""
    a = torch.randn(n, n, dtype=torch.float64, device=device)
    return 2 * n**3 / timeit(lambda: a @ a, 5, device)


def training(device: torch.device) -> list[dict]:
    m = model(device)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    out = []
    for L, B in ((2, 8), (4, 4)):
        f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(2, B, device))
        A = torch.rand(B, dtype=torch.float64, device=device) * f.volume
        dA = torch.randn(B, 4, *[L] * 4, 8, dtype=torch.float64, device=device)

        def step():
            L1, L2 = losses(m, f, A, dA, create_graph=True)
            opt.zero_grad()
            (L1 + L2).backward()
            opt.step()

        out.append({"L": L, "B": B, "configurations_per_second": B / timeit(step, 2, device)})
    return out


# peak force memory per lattice site of the default model, measured on 8^4 with B = 1
MIB_PER_SITE = {"complex128": 0.92, "complex64": 0.46}


def available_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] / 2**20
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,8")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="complex128")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.case:
        L, B, chunk = (int(s) for s in args.case.split(","))
        print(json.dumps(case(L, B, device, args.dtype, chunk)))
        return
    n_par = sum(p.numel() for p in model(device).parameters())
    print(
        f"SU(3), L-CNN 12/24/24 channels, kernels 2/2/1 ({n_par} parameters), "
        f"{device}, {args.dtype}, {args.threads} thread(s)"
    )
    value, force = flops_per_site(device, args.dtype)
    peak = matmul_rate(device)
    print(
        f"arithmetic per site: value {value / 1e6:.2f} Mflop, force {force / 1e6:.2f} Mflop; "
        f"float64 matmul (1024^2) {peak / 1e9:.1f} Gflop/s"
    )
    print(
        f"{'lattice':>8} {'B':>3} {'chunk':>5} {'Wilson F [s]':>13} {'A / F_W':>8} "
        f"{'F / F_W':>8} {'F [s/config]':>13} {'F peak MiB':>11} {'Gflop/s':>8} "
        f"{'% matmul':>9}",
        flush=True,
    )
    for L in (int(s) for s in args.sizes.split(",")):
        for B in (int(s) for s in args.batches.split(",")):
            per_config = MIB_PER_SITE[args.dtype] * L**4
            chunk = min(B, int(0.7 * available_mib(device) / per_config))
            if chunk < 1:
                print(
                    f"{L:>6}^4 {B:>3}  skipped: one configuration needs about "
                    f"{per_config / 1024:.0f} GiB"
                )
                continue
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.lcnn",
                    "--case",
                    f"{L},{B},{chunk}",
                    "--device",
                    args.device,
                    "--threads",
                    str(args.threads),
                    "--dtype",
                    args.dtype,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rate = force * L**4 / r["force_s_per_config"]
            print(
                f"{L:>6}^4 {B:>3} {chunk:>5} {r['wilson_force_s']:13.4f} "
                f"{r['action_ratio']:8.1f} "
                f"{r['force_ratio']:8.1f} {r['force_s_per_config']:13.3f} "
                f"{r['peak_MiB']:11.0f} {rate / 1e9:8.2f} {100 * rate / peak:8.1f}%",
                flush=True,
            )
    for r in training(device):
        print(
            f"training {r['L']}^4, batch {r['B']}: {r['configurations_per_second']:.2f} "
            f"configurations/s"
        )


if __name__ == "__main__":
    main()
