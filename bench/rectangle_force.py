"""The compiled plaquette-and-rectangle force in closed form (one compiled kernel for every
plane, :func:`lqcd_hmc.kernels.planar.plane_force`) against the compiled Wilson force (the
same scheme with the plaquette staples alone) and the autograd force of the loop products it
replaced, on one hot SU(3) field per size.

    python -m bench.rectangle_force --sizes 8 16 [--action iwasaki] [--dtype complex128]

Printed per size: each kernel's first call (its compile, cold or from the persistent cache,
:func:`lqcd_hmc.kernels.dynamics.compile_cache`; set ``TORCHINDUCTOR_CACHE_DIR`` to an empty
folder for a cold one), its median CPU time per link
(:func:`bench.timing.cpu_median`, one thread, B = 1) and its ratio to the Wilson force, and
the largest difference between the closed form and the autograd force.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.action import build
from lqcd_hmc.field import resolve_dtype
from lqcd_hmc.kernels import planar, to_split
from lqcd_hmc.kernels.dynamics import RECTANGLES, _planar_gradient_force, compiled

from .timing import cpu_median


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--action", default="iwasaki", help="a plaquette-and-rectangle action")
    ap.add_argument("--beta", type=float, default=2.3)
    ap.add_argument("--dtype", default="complex128")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    loops = build({"name": args.action, "beta": args.beta}).planar_loops(3)
    if not loops or not set(loops) <= set(RECTANGLES):
        raise SystemExit(f"{args.action!r} is not a plaquette-and-rectangle action")
    k = torch.tensor([loops.get(RT, 0.0) for RT in RECTANGLES], dtype=torch.float64)
    wplane, plane = (
        compiled(planar.plane_plaquette_staples),
        compiled(planar.plane_rectangle_staples),
    )
    finish = compiled(planar.staple_force)
    A, P = compiled(planar.loop_action), compiled(planar.gradient_force)
    for L in args.sizes:
        f = GaugeField.hot([L] * 4, "SU(3)", ChainRNG(1, 1), dtype=resolve_dtype(args.dtype))
        U = to_split(f.links)
        kernels: dict[str, Callable[[], torch.Tensor]] = {
            "Wilson": lambda: planar.plane_force(U, k[:1], wplane, finish),
            "closed form": lambda: planar.plane_force(U, k, plane, finish),
            "autograd": lambda: _planar_gradient_force(U, RECTANGLES, k, A, P),
        }
        ns: dict[str, float] = {}
        for name, fn in kernels.items():
            t = time.perf_counter()
            fn()
            first = time.perf_counter() - t
            ns[name] = cpu_median(fn) / (4 * L**4) * 1e9
            print(
                f"{L}^4 {name:>12}: first call {first:7.1f} s, {ns[name]:7.0f} ns/link, "
                f"{ns[name] / ns['Wilson']:5.2f} Wilson forces",
                flush=True,
            )
        diff = (kernels["closed form"]() - kernels["autograd"]()).abs().max()
        print(f"{L}^4 closed form - autograd: max {float(diff):.1e}", flush=True)


if __name__ == "__main__":
    main()
