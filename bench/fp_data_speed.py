"""Seconds of FP data per SU(3) coarse 4^4 configuration (one level, tolerance 1e-8, the
default kernel and finest action), alone and several as one batch: the FP-data row of the
speed issue's targets, printed by :mod:`bench.lcnn`."""

from __future__ import annotations

import time

import torch

from actions import Wilson
from actions.fixed_point.minimise import FixedPoint
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath

from .timing import timeit


def fp_data_seconds(
    device: torch.device, batch: int = 1, kernels: str = "compiled"
) -> dict[str, float]:
    """Seconds per configuration, L-BFGS iterations (the most in the batch) and evaluations of
    the functional (value and gradient; per configuration) of the FP data of ``batch`` SU(3)
    coarse 4^4 configurations solved as one batch (Wilson beta = 6, 20 heatbath sweeps from
    hot; chain 0 is the same configuration for every batch), one level, tolerance 1e-8, A_0 by
    ``kernels`` (:class:`~actions.fixed_point.minimise.FixedPoint`), timed in a second solve;
    the seconds of the first solve (with ``compiled``: the compilation, or loading it from the
    cache, once per process); and of one evaluation on the 8^4 fine lattice of chain 0, timed
    alone."""
    rng = ChainRNG(4, batch, device)
    f = GaugeField.hot([4] * 4, "SU(3)", rng)
    hb = Heatbath(Wilson(6.0), 2)
    hb.prepare(f.dims, device)
    for _ in range(20):
        f, _ = hb.update(f, rng)
    fp = FixedPoint(tolerance=1e-8, kernels=kernels)
    seconds = []
    for _ in range(2):
        t = time.perf_counter()
        r = fp(f)
        seconds.append((time.perf_counter() - t) / batch)
    f0, one = f.with_links(f.links[:1]), torch.zeros(1, dtype=torch.long, device=device)
    evaluate, fine = fp._evaluate(f0), r.fine[0].links.detach()[:1]
    return {
        "seconds": seconds[1],
        "first_solve_s": seconds[0],
        "iterations": int(r.iterations.max()),
        "evaluations": float(r.evaluations.double().mean()),
        "evaluation_s": timeit(lambda: evaluate([fine], one), 5, device),
    }


def fp_batches(device: torch.device) -> tuple[int, ...]:
    """Batches of the FP-data timing: alone and four at once on a CPU (where a batch costs what
    its configurations cost alone), alone and 16 at once on a GPU (where batching fills it)."""
    return (1, 16) if device.type == "cuda" else (1, 4)
