"""The speed suite, one command: ``python -m bench [--quick] [--device cpu|cuda] [--sizes ...]
[--actions wilson,iwasaki] [--sections forces,batched,...]``.

For SU(3) Wilson (beta 6.0) and Iwasaki (beta 2.6), in complex128 and complex64:

- force time per link on the reference path (complex tensors, the action's own force), the
  eager split layout and the compiled split layout (``torch.compile``), across volumes;
- HMC trajectory time (tau = 1, 10 Omelyan 2MN steps = 20 forces), reference and compiled;
- configurations per second of batched 4^4 chains, against B = 1 on the same path and on the
  reference path;
- heatbath sweep time per link, Wilson flow RK3 step time (reference and compiled);
- the force of the study's ``fp-param`` action (order 4, ridge 0.01, with its five loop shapes:
  ``examples/fp_param_su3_4x4_o4r.json``) against the Wilson force, both on the reference path;
- the L-CNN force (fast and reference path, flops, rate against matmul, memory) and training
  throughput of the reference architecture, the smallest one and its shipped model, and the
  FP-data seconds, ending in the speed issue's targets (:mod:`bench.lcnn`);
- the core-speed issue's targets against openQCD and MILC (``peers``: their figures from the
  issue's side-by-side run, ours measured here at 8^4 and 16^4);
- every time also as a fraction of the bandwidth limit: the bytes the kernel must move (below)
  divided by the time, over the copy bandwidth measured in the same run.

Bytes a kernel must move, in link-field sizes ``F = B D V N^2 x 2 x real bytes``: a force reads
U and writes F (2F); a trajectory step reads U and writes the force, updates P (read P, F;
write P) and the links (read P, U; write U): 8F per force evaluation; a heatbath sweep reads
and writes every link (2F); an RK3 flow step, per stage, reads U, writes Z, reads Z and U and
writes U (5F per stage, 15F).
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from actions import Iwasaki, Wilson
from actions.fixed_point.parametrisation import FPParametrisation
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.allocator import loaded
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.kernels import SplitDynamics, to_split
from observables.flow import Flow

from .timing import copy_bandwidth, cpu_median, first_call, timeit

ACTIONS: dict[str, Callable[[], object]] = {
    "wilson": lambda: Wilson(6.0),
    "iwasaki": lambda: Iwasaki(2.6),
}
DTYPES = {"complex128": torch.complex128, "complex64": torch.complex64}
SECTIONS = ("forces", "batched", "trajectories", "heatbath", "flow", "fp-param", "lcnn", "peers")
# link-field sizes each kernel must move (module docstring)
FORCE_FIELDS, TRAJECTORY_FIELDS_PER_FORCE, SWEEP_FIELDS, FLOW_STEP_FIELDS = 2, 8, 2, 15
FORCES_PER_TRAJECTORY = 20


class Table:
    """A markdown table printed row by row."""

    def __init__(self, title: str, cols: list[str]):
        self.cols = cols
        print(f"\n### {title}\n\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols), flush=True)

    def row(self, *values: object) -> None:
        print(
            "| "
            + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values)
            + " |",
            flush=True,
        )


def field(L: int, B: int, dtype: torch.dtype, device: torch.device) -> GaugeField:
    return GaugeField.near_identity([L] * 4, "SU(3)", ChainRNG(1, B), 0.5).to(device, dtype)


def kernel_choices(compile: bool) -> list[str]:
    return ["reference"] + (["compiled"] if compile else [])


def field_bytes(f: GaugeField) -> int:
    return f.links.numel() * f.links.element_size()


def repeats(f: GaugeField, work: float = 2e5) -> int:
    return max(1, int(work // (f.batch * f.volume)))


def machine(device: torch.device, bandwidth: float) -> None:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in open("/proc/cpuinfo")
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if os.path.exists("/proc/cpuinfo")
        else platform.processor()
    )
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(
        f"# speed suite\n\nmachine: {cpu}, {os.cpu_count()} cores; GPU: {gpu}; torch "
        f"{torch.__version__}; intra-op threads {torch.get_num_threads()}; device {device}; "
        f"allocator {loaded()}\n"
        f"copy bandwidth (read + write): {bandwidth / 1e9:.2f} GB/s"
    )


def forces(
    actions: list[str], sizes: list[int], device: torch.device, bw: float, compile: bool
) -> None:
    t = Table(
        "Force per link (B = 1): reference, split, compiled",
        [
            "action",
            "dtype",
            "L",
            "ref ns/link",
            "split ns/link",
            "compiled ns/link",
            "ref/compiled",
            "compiled % of bw",
            "first compiled call s",
        ],
    )
    for name in actions:
        action = ACTIONS[name]()
        for dname, dtype in DTYPES.items():
            eager = SplitDynamics([action], 3, compile=False)
            fused = SplitDynamics([action], 3, compile=True) if compile else None
            for L in sizes:
                f = field(L, 1, dtype, device)
                U, links, n = to_split(f.links), f.batch * f.D * f.volume, repeats(f)
                ref = timeit(lambda: action.force(f), n, device)
                spl = timeit(lambda: eager.force(0, U), n, device)
                comp, first, frac = float("nan"), float("nan"), float("nan")
                if fused is not None:
                    first = first_call(lambda: fused.force(0, U), device)
                    comp = timeit(lambda: fused.force(0, U), n, device)
                    frac = 100 * FORCE_FIELDS * field_bytes(f) / comp / bw
                t.row(
                    name,
                    dname,
                    L,
                    1e9 * ref / links,
                    1e9 * spl / links,
                    1e9 * comp / links,
                    ref / comp,
                    frac,
                    first,
                )


def trajectories(
    actions: list[str], sizes: list[int], device: torch.device, bw: float, compile: bool
) -> None:
    kernels = kernel_choices(compile)
    t = Table(
        "HMC trajectory (tau = 1, 10 Omelyan 2MN steps, B = 1, complex128)",
        ["action", "L", "kernels", "s/trajectory", "us/link", "% of bw"],
    )
    for name in actions:
        make = ACTIONS[name]
        for L in sizes:
            f = field(L, 1, torch.complex128, device)
            for k in kernels:
                hmc = HMC(make(), n_steps=10, kernels=k)
                rng = ChainRNG(2, 1, device=device)
                s = timeit(lambda: hmc.trajectory(f, rng), 1 if L >= 16 else 2, device)
                t.row(
                    name,
                    L,
                    k,
                    s,
                    1e6 * s / (f.D * f.volume),
                    100
                    * FORCES_PER_TRAJECTORY
                    * TRAJECTORY_FIELDS_PER_FORCE
                    * field_bytes(f)
                    / s
                    / bw,
                )


def batched(batches: list[int], device: torch.device, compile: bool) -> None:
    kernels = kernel_choices(compile)
    t = Table(
        "Batched 4^4 chains, Wilson, complex128: configurations per second",
        ["kernels", "B", "s/trajectory", "configs/s", "x B=1 same path", "x B=1 reference"],
    )
    base: dict[str, float] = {}
    for k in kernels:
        hmc = HMC(Wilson(6.0), n_steps=10, kernels=k)
        for B in batches:
            f = field(4, B, torch.complex128, device)
            rng = ChainRNG(2, B, device=device)
            s = timeit(lambda: hmc.trajectory(f, rng), max(1, 8 // B), device)
            rate = B / s
            base.setdefault(k, rate)
            t.row(k, B, s, rate, rate / base[k], rate / base["reference"])


def heatbath_seconds(
    name: str, f: GaugeField, device: torch.device, timer: Callable[[Callable[[], object]], float]
) -> tuple[float, float]:
    """Seconds (by ``timer``) of one heatbath update of ``f`` without overrelaxation (a heatbath
    sweep and the reunitarisation, as a run card's ``overrelaxation = 0``) and of one
    overrelaxation sweep."""
    hb = Heatbath(ACTIONS[name](), 0)
    hb.prepare(f.dims, device)
    rng = ChainRNG(3, f.batch, device=device)
    return timer(lambda: hb.update(f, rng)), timer(lambda: hb.sweep(f, None, heatbath=False))


def heatbath(actions: list[str], sizes: list[int], device: torch.device, bw: float) -> None:
    t = Table(
        "Heatbath update and overrelaxation sweep (B = 1, complex128)",
        ["action", "L", "heatbath s", "heatbath us/link", "% of bw", "overrelaxation us/link"],
    )
    for name in actions:
        for L in sizes:
            f = field(L, 1, torch.complex128, device)
            n = 5 if L >= 16 else 15  # the best single call: a sweep is 0.05-1 s
            hb, orx = heatbath_seconds(name, f, device, lambda fn: timeit(fn, n, device, blocks=n))
            links = f.D * f.volume
            frac = 100 * SWEEP_FIELDS * field_bytes(f) / hb / bw
            t.row(name, L, hb, 1e6 * hb / links, frac, 1e6 * orx / links)


def flow(sizes: list[int], device: torch.device, bw: float, compile: bool) -> None:
    kernels = kernel_choices(compile)
    t = Table(
        "Wilson flow RK3 step (B = 1, complex128)", ["kernels", "L", "s", "us/link", "% of bw"]
    )
    for L in sizes:
        f = field(L, 1, torch.complex128, device)
        for k in kernels:
            fl = Flow("wilson", kernels=k)
            s = timeit(lambda: fl.step(f, 0.02), 1 if L >= 16 else 3, device)
            t.row(
                k,
                L,
                s,
                1e6 * s / (f.D * f.volume),
                100 * FLOW_STEP_FIELDS * field_bytes(f) / s / bw,
            )


FP_PARAM = Path(__file__).resolve().parents[1] / "examples" / "fp_param_su3_4x4_o4r.json"


def fp_param(sizes: list[int], device: torch.device) -> None:
    """Force of ``fp-param`` (stout-smeared plaquette polynomial and 94 loops of five shapes per
    site, autograd) per link, and its ratio to the closed-form Wilson force, B = 1 and 2."""
    t = Table(
        "fp-param force, reference path (complex128): against the Wilson force",
        ["L", "B", "Wilson ns/link", "fp-param ns/link", "fp-param / Wilson"],
    )
    wilson, fp = Wilson(6.0), FPParametrisation(2.85, file=str(FP_PARAM))
    for L in sizes:
        for B in (1, 2):
            f = field(L, B, torch.complex128, device)
            n = max(1, repeats(f) // 20)
            links = f.batch * f.D * f.volume
            w = timeit(lambda: wilson.force(f), repeats(f), device)
            a = timeit(lambda: fp.force(f), n, device)
            t.row(L, B, 1e9 * w / links, 1e9 * a / links, a / w)


#: The peers' figures from the side-by-side run of the core-speed issue: SU(3) Wilson at
#: beta = 6.0, double precision, one thread, medians of five, on this project's 2-core machine,
#: openQCD 2.0 and MILC built from their public sources (this machine cannot build them: it
#: has no network). Per work and L: (peer, seconds, goal for ours / peer, unit printed).
PEERS: dict[tuple[str, int], tuple[str, float, float, str]] = {
    ("Wilson force, compiled, per link", 8): ("openQCD force0()", 361e-9, 1.5, "ns"),
    ("Wilson force, compiled, per link", 16): ("openQCD force0()", 503e-9, 1.5, "ns"),
    ("HMC trajectory, 10 Omelyan steps, compiled", 8): ("openQCD ym1", 0.165, 2.0, "s"),
    ("HMC trajectory, 10 Omelyan steps, compiled", 16): ("openQCD ym1", 4.05, 2.0, "s"),
    ("heatbath update per link", 8): ("MILC su3_ora", 2.0e-6, 2.0, "us"),
    ("heatbath update per link", 16): ("MILC su3_ora", 2.7e-6, 2.0, "us"),
    ("overrelaxation sweep per link", 8): ("MILC su3_ora", 1.3e-6, 2.0, "us"),
    ("overrelaxation sweep per link", 16): ("MILC su3_ora", 2.3e-6, 2.0, "us"),
}
UNITS = {"s": 1.0, "us": 1e6, "ns": 1e9}
IWASAKI_OVER_WILSON = 3.0  # the goal for the compiled improved-action force


def peers(device: torch.device) -> None:
    """The core-speed issue's targets: SU(3) at L = 8 and 16, B = 1, complex128, ours against
    the peers' figures (:data:`PEERS`), and the compiled Iwasaki force against the compiled
    Wilson force measured here. Ours as the peers' were taken: medians of five calls in CPU
    seconds of this process (:func:`bench.timing.cpu_median`)."""
    if device.type != "cpu":
        raise SystemExit("the peers section compares CPU figures: run it with --device cpu")
    ours: dict[tuple[str, int], float] = {}
    iwasaki: dict[int, float] = {}
    for L in (8, 16):
        f = field(L, 1, torch.complex128, device)
        U, links = to_split(f.links), f.D * f.volume
        forces = {}
        for name in ("wilson", "iwasaki"):
            fused = SplitDynamics([ACTIONS[name]()], 3, compile=True)
            forces[name] = cpu_median(lambda: fused.force(0, U))
        ours["Wilson force, compiled, per link", L] = forces["wilson"] / links
        iwasaki[L] = forces["iwasaki"] / forces["wilson"]
        hmc = HMC(Wilson(6.0), n_steps=10, kernels="compiled")
        rng = ChainRNG(2, 1, device=device)
        ours["HMC trajectory, 10 Omelyan steps, compiled", L] = cpu_median(
            lambda: hmc.trajectory(f, rng)
        )
        hb, orx = heatbath_seconds("wilson", f, device, cpu_median)
        ours["heatbath update per link", L] = hb / links
        ours["overrelaxation sweep per link", L] = orx / links
    print(
        "\n### Against openQCD and MILC (targets of the core-speed issue; the peers' figures "
        "from its side-by-side run; ours: medians of five, CPU seconds)\n\n| work | L | ours "
        "| peer | peer's | ours / peer | goal | met |\n|---|---|---|---|---|---|---|---|"
    )
    for (what, L), (peer, theirs, goal, unit) in PEERS.items():
        mine, scale = ours[what, L], UNITS[unit]
        met = "yes" if mine / theirs <= goal else "no"
        print(
            f"| {what} | {L} | {scale * mine:.3g} {unit} | {peer} | {scale * theirs:.3g} {unit} "
            f"| {mine / theirs:.2f} | <= {goal:g} | {met} |"
        )
    for L, r in iwasaki.items():
        met = "yes" if r <= IWASAKI_OVER_WILSON else "no"
        print(
            f"| Iwasaki force / Wilson force, both compiled | {L} | {r:.2f} | - | - | - "
            f"| <= {IWASAKI_OVER_WILSON:g} | {met} |"
        )


LCNN_MODELS = ("12-24-24/2-2-1", "4-4/2-1", "su3-fp-4x4-o4rr-small")
"""The L-CNN section's models: the speed issue's reference architecture, the smallest of the
scan (the shipped accuracy, bench/RESULTS.md "Small L-CNNs") and its shipped model as HMC runs
it (with the rectangle-fit preconditioner)."""


def lcnn(sizes: list[int], device: torch.device, threads: int) -> None:
    """The L-CNN and FP-data section: :func:`bench.lcnn.report` at B = 1 for
    :data:`LCNN_MODELS` (its tables end with the speed issue's targets, measured figures and
    ratios)."""
    from .lcnn import report

    print("\n### L-CNN force, training and FP data (targets of the speed issue)\n")
    report([L for L in sizes if L <= 8], [1], device, threads, models=LCNN_MODELS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--sizes",
        default=None,
        help="lattice sizes L (default: 4,8,16 on CPU, 4,8,16,32,48 on a GPU; --quick: 4,8)",
    )
    ap.add_argument("--batches", default="1,4,16,64", help="batch sizes at 4^4")
    ap.add_argument("--quick", action="store_true", help="sizes 4,8; batches 1,16")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile path")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--actions", default="wilson,iwasaki", help="actions to time")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    sizes = [
        int(s)
        for s in (
            args.sizes or ("4,8" if args.quick else "4,8,16,32,48" if gpu else "4,8,16")
        ).split(",")
    ]
    # B = 1 is the baseline of the batched table's ratios
    batches = [1, 16] if args.quick else sorted({1, *(int(b) for b in args.batches.split(","))})
    compile = not args.no_compile
    actions = args.actions.split(",")
    sections = args.sections.split(",")
    for name in actions + sections:
        if name not in ACTIONS and name not in SECTIONS:
            ap.error(f"unknown action or section {name!r}")
    bw = copy_bandwidth(device)
    machine(device, bw)
    run = {
        "forces": lambda: forces(actions, sizes, device, bw, compile),
        "batched": lambda: batched(batches, device, compile),
        "trajectories": lambda: trajectories(actions, sizes, device, bw, compile),
        "heatbath": lambda: heatbath(actions, sizes, device, bw),
        "flow": lambda: flow(sizes, device, bw, compile),
        "fp-param": lambda: fp_param([L for L in sizes if L <= 8], device),
        "lcnn": lambda: lcnn(sizes, device, args.threads),
        "peers": lambda: peers(device),
    }
    for name in sections:
        run[name]()
