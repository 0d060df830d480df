"""The Monte Carlo summary of an ensemble file: what ``lqcd-hmc run`` prints at its end and
``lqcd-hmc analyze`` reports first (plaquette with its Gamma-method error, acceptance,
``<exp(-dH)>``, seconds per trajectory)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .io import Ensemble
from .io.replicas import ReplicaSet
from .statistics import gamma_method, with_error


@dataclass
class RunSummary:
    """What ``lqcd-hmc run`` prints at the end (over all production trajectories on file)."""

    output: str
    trajectories: int
    chains: int
    plaquette: float
    plaquette_error: float
    plaquette_tau_int: float
    acceptance: float | None
    exp_minus_dH: float | None
    exp_minus_dH_error: float | None
    seconds_per_trajectory: float

    def table(self) -> str:
        hmc = self.acceptance is not None
        rows = [
            ("ensemble", self.output),
            ("production trajectories x chains", f"{self.trajectories} x {self.chains}"),
            (
                "plaquette",
                f"{with_error(self.plaquette, self.plaquette_error)} "
                f"(tau_int {self.plaquette_tau_int:.2f})",
            ),
            ("acceptance", f"{self.acceptance:.3f}" if hmc else "n/a (no HMC)"),
            (
                "<exp(-dH)>",
                with_error(self.exp_minus_dH, self.exp_minus_dH_error) if hmc else "n/a (no HMC)",
            ),
            ("seconds per trajectory", f"{self.seconds_per_trajectory:.3f}"),
        ]
        w = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_summary(ens: Ensemble | ReplicaSet, thermalisation: int) -> RunSummary | None:
    """Plaquette (Gamma method, chains as replicas), acceptance, <exp(-dH)> and time per
    trajectory over the production trajectories stored in ``ens``."""
    mc = ens.table("mc")
    if not mc:
        return None
    prod = mc["trajectory"] > thermalisation
    n = int(prod.sum())
    if n == 0:
        return None

    def analyse(series: np.ndarray) -> tuple[float, float, float]:
        if n < 2:
            return float(series.mean()), float("nan"), float("nan")
        g = gamma_method(series.T)
        return g.mean, g.error, g.tau_int

    plaq = mc["plaquette"][prod]
    p_val, p_err, p_tau = analyse(plaq)
    acc = e_val = e_err = None
    if "dH" in mc:
        acc = float(mc["accepted"][prod].mean())
        e_val, e_err, _ = analyse(np.exp(-mc["dH"][prod]))
    return RunSummary(
        str(ens.path),
        n,
        plaq.shape[1],
        p_val,
        p_err,
        p_tau,
        acc,
        e_val,
        e_err,
        float(mc["seconds"][prod].mean()),
    )
