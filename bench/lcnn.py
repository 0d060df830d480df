"""Cost of the L-CNN action: value, force and training step, against the Wilson force, and
the targets of the speed issue (target, measured figure, ratio) from the same run.

    python -m bench.lcnn [--sizes 4,8] [--batches 1,16] [--device cpu] [--threads 1]
                         [--dtype complex128] [--models 12-24-24/2-2-1,...] [--no-fp-data]

For SU(3) with each of ``--models`` (:func:`model`; default the speed issue's reference
architecture: L-CB layers with 12, 24, 24 channels, kernel sizes 2, 2, 1, Wilson preconditioner;
also other sizes, or trained checkpoints as HMC runs them, whose accuracy the architecture scan
measures, ``bench.lcnn_scan``) on Haar-random fields: seconds per call of the action value and
of the autograd force, each as a ratio to one Wilson force on the same field in the same
process, and the memory of the force: the activations autograd keeps (:func:`activation_mib`)
and the peak. Each (lattice, batch) runs in a fresh process, whose first force call is its
memory peak: CPU, the resident set's high-water mark over that call less the resident set before
it (:func:`resident_mib`); CUDA, ``max_memory_allocated``. Where a batch does not fit in memory
the action runs with ``max_batch`` (the ``chunk`` column). With B = 1 the reference path's force
is timed in the same process (``ref F [s]``). The arithmetic: real flops per site of the value
and of the force as executed on the fast path (:func:`flops_per_site`), the force's achieved
rate (``Gflop/s``) and its fraction of the core's float64 matmul rate (``% matmul``,
:func:`matmul_rate`). Then training throughput (configurations per second of one optimiser step
with the double-backpropagated loss) and the seconds of FP data per SU(3) coarse 4^4
configuration (one level, tolerance 1e-8, the default kernel and finest action), solved alone
and several as one batch (:func:`fp_batches`), with the finest action by the reference and the
compiled kernels (the target row: compiled).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from actions import Wilson
from actions.lcnn import LCNNAction, native, use_fast_path
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.allocator import loaded, use_tcmalloc
from workflows.training.losses import backpropagate, losses

from .fp_data_speed import fp_batches, fp_data_seconds
from .lcnn_models import REFERENCE, describe_model, model
from .timing import timeit


def resident_mib(reset_peak: bool = False, peak: bool = False) -> float:
    """This process's resident set (``VmRSS``) or its high-water mark since the last reset
    (``VmHWM``; Linux resets it on writing 5 to ``/proc/self/clear_refs``), in MiB."""
    if reset_peak:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    key = "VmHWM" if peak else "VmRSS"
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith(key))
    return int(line.split()[1]) / 1024


def activation_mib(act: LCNNAction, f: GaugeField) -> float:
    """MiB of the tensors autograd keeps for the force's backward pass (distinct storages,
    counted by a saved-tensors hook while the action is evaluated)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen.setdefault(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        return t

    links = f.links.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        act(f.with_links(links))
    return sum(seen.values()) / 2**20


def case(L: int, B: int, device: torch.device, dtype: str, chunk: int, source: str) -> dict:
    """One lattice and batch, in this (fresh) process, ``chunk`` configurations per pass."""
    act, wil = LCNNAction(6.0, model=model(device, source), max_batch=chunk), Wilson(6.0)
    f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(1, B, device), dtype)
    wil.force(f)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = resident_mib(reset_peak=True)
    act.force(f)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resident_mib(peak=True) - before
    saved = activation_mib(act, f.with_links(f.links[:chunk]))
    repeat = 1 if L**4 * B > 20000 else 3
    tw = timeit(lambda: wil.force(f), 5, device)
    with torch.no_grad():
        ta = timeit(lambda: act(f), repeat, device)
    tf = timeit(lambda: act.force(f), repeat, device)
    tr = float("nan")
    if B == 1:
        use_fast_path(act.model, False)
        tr = timeit(lambda: act.force(f), 1, device)
    return {
        "L": L,
        "B": B,
        "chunk": chunk,
        "wilson_force_s": tw,
        "action_ratio": ta / tw,
        "force_ratio": tf / tw,
        "force_s_per_config": tf / B,
        "reference_force_s": tr,
        "peak_MiB": peak,
        "activation_MiB": saved,
    }


class RealFlops(TorchDispatchMode):
    """Real flops of the matrix products dispatched inside it (``torch.utils.flop_counter``'s
    formulas, ``2 M N K`` each), times 4 where an operand is complex (a complex multiply-add
    is 8 real flops), and those the L-CNN's native kernels report
    (:func:`actions.lcnn.native.counting`)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self._native = native.counting(self._add)

    def _add(self, flops: int) -> None:
        self.total += flops

    def __enter__(self) -> RealFlops:
        self._native.__enter__()
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._native.__exit__(*exc)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            n = formula(*args, **kwargs, out_val=out)
            cplx = any(isinstance(a, Tensor) and a.is_complex() for a in args)
            self.total += 4 * n if cplx else n
        return out


def flops_per_site(device: torch.device, dtype: str, source: str) -> tuple[float, float]:
    """Real flops per site and configuration of the action's value and of its force (forward
    and backward to the links, no weight gradients) on the fast path, on a 4^4 lattice: the
    matrix products as executed (:class:`RealFlops`), those of the native kernels included
    (their products without the padding to the vector width). Element-wise work (activations,
    traces, sums, the complex combination of real products) is not counted."""
    act = LCNNAction(6.0, model=model(device, source))  # parameters frozen
    f = GaugeField.hot([4] * 4, "SU(3)", ChainRNG(1, 1, device), dtype)
    with RealFlops() as value, torch.no_grad():
        act(f)
    links = f.links.clone().requires_grad_(True)
    with RealFlops() as force:
        act(f.with_links(links)).sum().backward()
    return value.total / 4**4, force.total / 4**4


def matmul_rate(device: torch.device, n: int = 1024) -> float:
    """flop/s of a dense float64 ``n x n`` matrix product (``torch.matmul``)."""
    a = torch.randn(n, n, dtype=torch.float64, device=device)
    return 2 * n**3 / timeit(lambda: a @ a, 5, device)


def training(device: torch.device, dtype: str, source: str) -> list[dict]:
    """Configurations per second of one AdamW step with the double-backpropagated loss on
    fields of ``dtype`` (weights in float64, as the trainer keeps them; the best of three
    blocks of two steps, :func:`timeit`), and its real flops per site and configuration
    (:class:`RealFlops`)."""
    m = model(device, source)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    out = []
    for L, B in ((2, 8), (4, 4)):
        f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(2, B, device), dtype)
        A = torch.rand(B, dtype=torch.float64, device=device) * f.volume
        dA = torch.randn(B, 4, *[L] * 4, 8, dtype=torch.float64, device=device)

        def step():
            L1, L2 = losses(m, f, A, dA, create_graph=True)
            opt.zero_grad()
            backpropagate(L1 + L2, m.parameters())
            opt.step()

        with RealFlops() as flops:
            step()
        out.append(
            {
                "L": L,
                "B": B,
                "configurations_per_second": B / timeit(step, 6, device),
                "flop_per_site": flops.total / (B * L**4),
            }
        )
    return out


# peak force memory per lattice site of the default model, measured on 8^4 with B = 1
MIB_PER_SITE = {"complex128": 0.25, "complex64": 0.13}


def available_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] / 2**20
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) / 1024


def run_case(
    L: int, B: int, chunk: int, device: torch.device, threads: int, dtype: str, source: str
) -> dict:
    """:func:`case` in a fresh process (its memory peak is its own)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.lcnn", "--case", f"{L},{B},{chunk}"]
        + ["--device", str(device), "--threads", str(threads), "--dtype", dtype]
        + ["--models", source],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def targets(rows: list[tuple[str, str, float, float]]) -> None:
    """The speed issue's targets: what, goal (``<=`` or ``>=``), measured, their ratio, met."""
    print("\n| target | goal | measured | measured / goal | met |\n|---|---|---|---|---|")
    for what, op, goal, value in rows:
        met = "yes" if (value <= goal if op == "<=" else value >= goal) else "no"
        print(f"| {what} | {op} {goal:g} | {value:.3g} | {value / goal:.2f} | {met} |")


def report(
    sizes: list[int],
    batches: list[int],
    device: torch.device,
    threads: int = 1,
    dtype: str = "complex128",
    fp_data: bool = True,
    fp_kernels: tuple[str, ...] = ("reference", "compiled"),
    models: tuple[str, ...] = (REFERENCE,),
) -> None:
    """Every table of the module docstring for each of ``models`` (:func:`model`), then the
    targets: the force and training rows of each model, the FP-data row (the last of
    ``fp_kernels``)."""
    peak = matmul_rate(device)
    print(
        f"SU(3), {device}, {dtype}, {threads} thread(s), allocator {loaded()}; "
        f"float64 matmul (1024^2) "
        f"{peak / 1e9:.1f} Gflop/s"
    )
    rows: list[tuple[str, str, float, float]] = []
    for source in models:
        rows += model_report(source, sizes, batches, device, threads, dtype, peak)
    if fp_data:
        for batch in fp_batches(device):
            for kernels in fp_kernels:
                fp = fp_data_seconds(device, batch, kernels)
                print(
                    f"FP data, SU(3) coarse 4^4, "
                    f"{'alone' if batch == 1 else f'{batch} as one batch'}, A_0 by {kernels} "
                    f"kernels: {fp['seconds']:.2f} s per configuration, {fp['iterations']} "
                    f"iterations (most), {fp['evaluations']:.0f} evaluations of the functional "
                    f"per configuration (the first solve in the process "
                    f"{fp['first_solve_s']:.1f} s); one evaluation (value and gradient on 8^4) "
                    f"alone {fp['evaluation_s']:.4f} s",
                    flush=True,
                )
            rows.append(
                (f"FP data s per SU(3) 4^4 configuration (B = {batch})", "<=", 5.0, fp["seconds"])
            )
    targets(rows)


def model_report(
    source: str,
    sizes: list[int],
    batches: list[int],
    device: torch.device,
    threads: int,
    dtype: str,
    peak: float,
) -> list[tuple[str, str, float, float]]:
    """The force table and training throughput of one model; its rows of the targets."""
    print("\n" + describe_model(model(device, source), source))
    value, force = flops_per_site(device, dtype, source)
    print(
        f"arithmetic per site (fast path): value {value / 1e6:.2f} Mflop, force "
        f"{force / 1e6:.2f} Mflop"
    )
    print(
        "\n| lattice | B | chunk | Wilson F [s] | A / F_W | F / F_W | F [s/config] | "
        "ref F [s] | ref / fast | F activations MiB/site | F peak MiB/site | Gflop/s | "
        "% matmul |\n" + "|---" * 13 + "|",
        flush=True,
    )
    measured: dict[tuple[int, int], dict] = {}
    for L in sizes:
        for B in batches:
            per_config = MIB_PER_SITE[dtype] * L**4
            chunk = min(B, int(0.7 * available_mib(device) / per_config))
            if chunk < 1:
                print(f"| {L}^4 | {B} | skipped: one configuration needs {per_config:.0f} MiB |")
                continue
            r = measured[L, B] = run_case(L, B, chunk, device, threads, dtype, source)
            rate = r["rate"] = force * L**4 / r["force_s_per_config"]
            r["peak_MiB_per_site"] = r["peak_MiB"] / (L**4 * chunk)
            r["activation_MiB_per_site"] = r["activation_MiB"] / (L**4 * chunk)
            print(
                f"| {L}^4 | {B} | {chunk} | {r['wilson_force_s']:.4f} | "
                f"{r['action_ratio']:.1f} | {r['force_ratio']:.1f} | "
                f"{r['force_s_per_config']:.3f} | {r['reference_force_s']:.3f} | "
                f"{r['reference_force_s'] / r['force_s_per_config']:.1f} | "
                f"{r['activation_MiB_per_site']:.3f} | {r['peak_MiB_per_site']:.3f} | "
                f"{rate / 1e9:.2f} | "
                f"{100 * rate / peak:.1f}% |",
                flush=True,
            )
    train = training(device, dtype, source)
    for r in train:
        bound = peak / (r["flop_per_site"] * r["L"] ** 4)
        print(
            f"training {r['L']}^4, batch {r['B']}: {r['configurations_per_second']:.2f} "
            f"configurations/s; {r['flop_per_site'] / 1e6:.1f} Mflop per site, so at most "
            f"{bound:.1f} configurations/s at 100 % of the matmul rate",
            flush=True,
        )
    tag = "" if source == REFERENCE else f", {source}"
    rows: list[tuple[str, str, float, float]] = []
    if measured:  # the largest lattice, its smallest batch (B = 1 is the reference)
        L, B = max(measured, key=lambda k: (k[0], -k[1]))
        r = measured[L, B]
        rows += [
            (f"force rate, % of matmul ({L}^4, B = {B}{tag})", ">=", 30.0, 100 * r["rate"] / peak),
            (f"force s per {L}^4 configuration (B = {B}{tag})", "<=", 0.7, r["force_s_per_config"]),
            (f"force activations MiB/site ({L}^4{tag})", "<=", 0.1, r["activation_MiB_per_site"]),
        ]
    speed = train[-1]["configurations_per_second"]
    rows.append((f"training configurations/s (4^4{tag})", ">=", 10.0, speed))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,8")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="complex128")
    ap.add_argument(
        "--models",
        default=REFERENCE,
        help=f"comma-separated architectures C-C-C/K-K-K or trained checkpoints (a shipped "
        f"name or a .pt path), each timed in turn (default: {REFERENCE})",
    )
    ap.add_argument("--no-fp-data", action="store_true", help="skip the FP-data timing (~2 min)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.case:
        L, B, chunk = (int(s) for s in args.case.split(","))
        print(json.dumps(case(L, B, device, args.dtype, chunk, args.models)))
        return
    report(
        [int(s) for s in args.sizes.split(",")],
        [int(s) for s in args.batches.split(",")],
        device,
        args.threads,
        args.dtype,
        not args.no_fp_data,
        models=tuple(args.models.split(",")),
    )


if __name__ == "__main__":
    use_tcmalloc()
    main()
