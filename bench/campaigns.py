"""Physics campaigns too long for CI (minutes each on one core), with their pass criteria.

    python -m bench.campaigns [--only hmc8,heatbath8,fp2]

- ``hmc8``: SU(3) Wilson, beta = 6.0, 8^4, HMC (2MN, 10 steps, tau = 1) from hot starts, two
  chains, 150 thermalising trajectories (10 without Metropolis), then 500 (``--chains``,
  ``--trajectories``): the plaquette's 3-sigma interval (Gamma method) against the
  literature's large-volume interval 0.5937-0.5940 (Boyd et al., Nucl. Phys. B 469 (1996) 419).
  One chain of 250 (the former slow test) has an error of 2-5e-4, depending on the stream.
- ``heatbath8``: the same with heatbath + 4 overrelaxation sweeps, four chains, 300
  thermalising updates and 300 measured (``--chains``, ``--thermalisation``, ``--updates``).
  Two chains with 80 + 200 updates (the former slow test) gave 0.59456(15), chain means
  0.59436 and 0.59476: 4 sigma above the literature (bench/RESULTS.md).
- ``fp2``: the exact FP action with two blocking levels on constant flux n = 1 through the
  (0, 1) planes of a (4, 4, 2, 2) SU(2) lattice: its deviation from the continuum against
  the finest tree-level Symanzik error ``(pi/128)^2/12`` (5 %), one level's and Wilson's.

On 8^4 both updates agree with each other but lie 2-4e-4 above the large-volume interval (a
finite-volume effect; bench/RESULTS.md): with errors near 1e-4 the literature comparison
fails, and a sharp test needs 12^4-16^4.

The CI suite keeps the cheap pins of the same physics: heatbath against HMC on 4^4, the 2D
exact plaquettes, and the one-level FP deviation (``tests/test_fixed_point.py``). Each
campaign prints its figures and PASS or FAIL; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import torch

from actions import Wilson
from actions.fixed_point import FixedPoint
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.smooth import abelian_flux
from lqcd_hmc.statistics import GammaResult, gamma_method
from observables import plaquette

LITERATURE = (0.5937, 0.5940)  # SU(3) Wilson plaquette at beta = 6.0, large volume


def _against_literature(r: GammaResult) -> bool:
    lo, hi = LITERATURE
    return r.error < 3e-4 and r.mean + 3 * r.error > lo and r.mean - 3 * r.error < hi


def hmc8(chains: int = 2, trajectories: int = 500) -> tuple[str, bool]:
    rng = ChainRNG(11, chains)
    f = GaugeField.hot([8, 8, 8, 8], "SU(3)", rng)
    hmc = HMC(Wilson(6.0), integrator="omelyan2", n_steps=10, tau=1.0)
    for n in range(150):
        f, _ = hmc.trajectory(f, rng, metropolis=n >= 10)
    series, acc = [], []
    for _ in range(trajectories):
        f, st = hmc.trajectory(f, rng)
        series.append(plaquette(f))
        acc.append(st.accepted)
    r = gamma_method(torch.stack(series, 1).numpy())
    acceptance = torch.stack(acc).double().mean().item()
    ok = _against_literature(r) and acceptance > 0.7
    return f"plaquette {r}, acceptance {acceptance:.3f}", ok


def heatbath8(chains: int = 4, thermalisation: int = 300, updates: int = 300) -> tuple[str, bool]:
    rng = ChainRNG(12, chains)
    hb = Heatbath(Wilson(6.0), overrelaxation=4)
    f = GaugeField.hot((8, 8, 8, 8), "SU(3)", rng)
    for _ in range(thermalisation):
        f, _ = hb.update(f, rng)
    series = []
    for _ in range(updates):
        f, _ = hb.update(f, rng)
        series.append(plaquette(f))
    P = torch.stack(series, 1)
    r = gamma_method(P.numpy())
    per_chain = ", ".join(f"{float(m):.5f}" for m in P.mean(1))
    return f"plaquette {r} (chain means {per_chain})", _against_literature(r)


def fp2() -> tuple[str, bool]:
    V = abelian_flux([4, 4, 2, 2], "SU(2)", 1, 0, 1)
    phi = 2 * math.pi / 16
    cont = 64 * phi**2 * 2 / 4
    dev = {}
    for levels in (1, 2):
        r = FixedPoint(levels=levels, tolerance=1e-9)(V)
        dev[levels] = r.action.item() / cont - 1 if bool(r.converged) else float("nan")
    wilson = Wilson(1.0)(V).item() / cont - 1
    expect = (math.pi / 128) ** 2 / 12
    ok = abs(dev[2]) < abs(dev[1]) / 8 and abs(dev[2] / expect - 1) < 0.05
    return (
        f"deviation: Wilson {wilson:+.3e}, one level {dev[1]:+.3e}, two levels {dev[2]:+.3e} "
        f"(expected (pi/128)^2/12 = {expect:.3e})",
        ok,
    )


CAMPAIGNS: dict[str, Callable[[argparse.Namespace], tuple[str, bool]]] = {
    "hmc8": lambda a: hmc8(a.hmc_chains, a.trajectories),
    "heatbath8": lambda a: heatbath8(a.chains, a.thermalisation, a.updates),
    "fp2": lambda a: fp2(),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(CAMPAIGNS), help="comma-separated campaigns")
    ap.add_argument("--hmc-chains", type=int, default=2, help="hmc8: chains")
    ap.add_argument("--trajectories", type=int, default=500, help="hmc8: measured trajectories")
    ap.add_argument("--chains", type=int, default=4, help="heatbath8: chains")
    ap.add_argument("--thermalisation", type=int, default=300, help="heatbath8: updates before")
    ap.add_argument("--updates", type=int, default=300, help="heatbath8: measured updates")
    args = ap.parse_args()
    torch.set_num_threads(1)
    failed = 0
    for name in args.only.split(","):
        if name not in CAMPAIGNS:
            raise SystemExit(f"unknown campaign {name!r}; choose from {', '.join(CAMPAIGNS)}")
        t0 = time.perf_counter()
        text, ok = CAMPAIGNS[name](args)
        failed += not ok
        print(
            f"{name}: {text}; {time.perf_counter() - t0:.0f} s; {'PASS' if ok else 'FAIL'}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
