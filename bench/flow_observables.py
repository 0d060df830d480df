"""The gradient-flow observable's share of the lattice artifacts: each ensemble's stored
configurations flowed with the ensemble's own flow (its ``gradient_flow`` measurement), and
``w0/sqrt(t0)`` and ``sqrt(t_0.2/t0)`` from three energy densities of the same flowed fields:
the clover form (what the study reports), the plaquette form, and the flow action's own density
``E_action = g0^2 S(V)/V`` (:class:`observables.measurements.GradientFlow`, ``action_energy``),
which for a fixed-point action makes flow and observable classically perfect (Holland, Ipp,
Müller, Wenger, arXiv:2504.15870).

    python -m bench.flow_observables compare_su3_cpu/ensembles/*_8x8x8x8.h5

Per ensemble and ratio: the ratio per configuration and chain in each form, their mean and
standard error (stored configurations 20 trajectories apart, taken as independent; the curves
go to ``--json``), the paired difference
``action - clover`` with its error, and the in-run clover value (every measurement of the
production, Gamma method, :func:`workflows.study.ratios.ensemble_quantities`) plus that
difference: the estimate of the ratio with the action's own observable on the whole ensemble.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lqcd_hmc.field import GaugeField
from lqcd_hmc.io import Ensemble
from lqcd_hmc.statistics import with_error
from observables.measurements import GradientFlow
from observables.scales import flow_scales
from workflows.study.ratios import T02, ensemble_quantities

FORMS = ("clover", "plaquette", "action")
RATIOS = {"w0_over_sqrt_t0": "w0/sqrt(t0)", "sqrt_t02_over_t0": "sqrt(t_0.2/t0)"}


def flow_measurement(ens: Ensemble) -> GradientFlow:
    """The ensemble's own ``gradient_flow`` measurement with ``action_energy`` on, no charge."""
    card = tomllib.loads(str(ens.attrs["card"]))
    (m,) = [m for m in card["measure"] if m.get("table", m["name"]) == "gradient_flow"]
    params = {k: v for k, v in m.items() if k not in ("name", "interval", "topology", "table")}
    return GradientFlow(**params, topology=False, action_energy=True)


def ratios(t: np.ndarray, E: np.ndarray) -> dict[str, np.ndarray]:
    """``w0/sqrt(t0)`` and ``sqrt(t_0.2/t0)`` of every curve ``E (n, n_t)``."""
    out: dict[str, list[float]] = {r: [] for r in RATIOS}
    for e in E:
        t0, w0 = flow_scales(t, e)
        t02, _ = flow_scales(t, e, T02)
        out["w0_over_sqrt_t0"].append(w0 / np.sqrt(t0))
        out["sqrt_t02_over_t0"].append(np.sqrt(t02 / t0))
    return {k: np.array(v) for k, v in out.items()}


def mean_error(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def analyse(path: Path) -> dict[str, Any]:
    """Everything of the module docstring for one ensemble file (in its stored precision)."""
    ens = Ensemble(path)
    group = tomllib.loads(str(ens.attrs["card"]))["lattice"]["group"]
    meas = flow_measurement(ens)
    after = int(ens.attrs.get("thermalisation", 0))
    stored = [t for t in ens.trajectories() if t > after]
    rows: dict[str, list[np.ndarray]] = {f: [] for f in FORMS}
    start = time.perf_counter()
    for t in tqdm(stored, desc=path.name, leave=False, disable=None):
        links = torch.from_numpy(np.asarray(ens.config(t)[0]))
        out = meas(GaugeField(links, group))
        for f in FORMS:
            rows[f].append(out[f"E_{f}"].cpu().numpy())
    times = meas.times
    res: dict[str, Any] = {"ensemble": path.name, "t": times.tolist()}
    per = {}
    for f in FORMS:
        E = np.concatenate(rows[f])  # (n B, n_t)
        per[f] = ratios(times, E)
        t0, _ = flow_scales(times, E.mean(0))
        res[f] = {"t0": float(t0), "E": E.tolist()}
        res[f].update({r: mean_error(per[f][r]) for r in RATIOS})
        res["configurations"] = len(E)
    in_run = ensemble_quantities(path, after=after)
    for r in RATIOS:
        d, dd = res.setdefault("action_minus_clover", {})[r] = mean_error(
            per["action"][r] - per["clover"][r]
        )
        if r in in_run:
            q = in_run[r]
            res.setdefault("in_run_clover", {})[r] = (q["value"], q["error"])
            res.setdefault("in_run_plus_difference", {})[r] = (
                q["value"] + d,
                float(np.hypot(q["error"], dd)),
            )
    res["seconds"] = time.perf_counter() - start
    return res


def table(results: list[dict[str, Any]], ratio: str) -> str:
    head = (
        "| ensemble | configs | t0/a^2 clover / action | clover | plaquette | action | "
        "action - clover | in-run clover | in-run + difference |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )

    def fmt(p: tuple[float, float] | None) -> str:
        return "" if p is None else with_error(*p)

    lines = [head]
    for r in results:
        lines.append(
            f"| {r['ensemble']} | {r['configurations']} | "
            f"{r['clover']['t0']:.3f} / {r['action']['t0']:.3f} | "
            + " | ".join(fmt(r[f][ratio]) for f in FORMS)
            + f" | {fmt(r['action_minus_clover'][ratio])} | "
            f"{fmt(r.get('in_run_clover', {}).get(ratio))} | "
            f"{fmt(r.get('in_run_plus_difference', {}).get(ratio))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ensembles", nargs="+", type=Path)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for path in args.ensembles:
        results.append(analyse(path))
        print(f"{path.name}: {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    for ratio, title in RATIOS.items():
        print(f"\n{title}, own flow, three observables (stored configurations):\n")
        print(table(results, ratio))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
