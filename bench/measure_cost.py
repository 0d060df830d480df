"""What a study's measurements cost where its files did not time them: each ensemble's card
measurements timed once on its last stored configuration, times the measurements of the
ensemble and of its tuning runs that no ``/timing`` row covers (files written before the table
existed, docs/conventions.md, section 4), added to the measuring hours the files did record.

    python -m bench.measure_cost compare_su3_cpu [--threads 1]

Per ensemble of ``DIR/ensembles`` (its tuning runs are ``DIR/tuning/<label>_b*_<dims>.h5``):
seconds of one measurement (every table of its card, as the run does it), the untimed
measurements, the estimated hours of measuring, and the hours of updates of ``mc/seconds``
(:func:`workflows.study.compare.run_hours`); below, the study's totals. An estimate: one
configuration, this process's load and thread count, not the run's. A record (configurations
gone) cannot be timed: its row says so and the totals leave it out.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lqcd_hmc.field import GaugeField
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run.chain import stored_card
from lqcd_hmc.run.measuring import RunMeasurements
from workflows.study.compare import run_hours


def one_measurement(path: Path) -> float:
    """Seconds of every measurement of the ensemble's card on its last stored configuration
    (NaN for a record, which stores none)."""
    ens = Ensemble(path)
    if not ens.trajectories():
        return float("nan")
    card = stored_card(ens)
    lat = card.lattice
    measurements = RunMeasurements(card.measure_configs(), lat.dims, lat.group)
    links = np.asarray(ens.config(ens.trajectories()[-1])[0])
    field = GaugeField(torch.from_numpy(links), lat.group)
    start = time.perf_counter()
    for _, _, measure in measurements.entries:
        measure(field)
    return time.perf_counter() - start


def tuning_runs(study: Path, ensemble: Path) -> list[Path]:
    label, rest = ensemble.name.rsplit("_b", 1)
    dims = rest.split("_", 1)[1]
    return sorted((study / "tuning").glob(f"{label}_b*_{dims}"))


def costs(study: Path) -> list[dict[str, float | int | str]]:
    """One row per ensemble of the study: the module docstring's columns."""
    rows: list[dict[str, float | int | str]] = []
    for path in tqdm(sorted((study / "ensembles").glob("*.h5")), disable=None):
        hours = [run_hours(p) for p in (path, *tuning_runs(study, path))]
        seconds = one_measurement(path)
        untimed = sum(h[2] for h in hours)
        rows.append(
            {
                "ensemble": path.name,
                "seconds": seconds,
                "untimed": hours[0][2],
                "untimed_tuning": untimed - hours[0][2],
                "measuring_hours": sum(h[1] for h in hours) + untimed * seconds / 3600,
                "update_hours": sum(h[0] for h in hours),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", type=Path, help="the study's output directory")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = costs(args.study)
    print(
        "| ensemble | s per measurement | untimed measurements (ensemble + tuning) | "
        "hours measuring (timed + estimated) | hours of updates |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        costed = math.isfinite(float(r["seconds"]))
        seconds = f"{r['seconds']:.3g}" if costed else "n/a (a record)"
        hours = f"{r['measuring_hours']:.2f}" if costed else "n/a"
        print(
            f"| {r['ensemble']} | {seconds} | {r['untimed']} + {r['untimed_tuning']} | "
            f"{hours} | {r['update_hours']:.2f} |"
        )
    costed = [r for r in rows if math.isfinite(float(r["measuring_hours"]))]
    untimed = sum(int(r["untimed"]) + int(r["untimed_tuning"]) for r in costed)
    measuring = sum(float(r["measuring_hours"]) for r in costed)
    updates = sum(float(r["update_hours"]) for r in rows)
    print(
        f"\nmeasuring {measuring:.1f} h in {len(costed)} ensembles and their tuning runs "
        f"({untimed} untimed measurements estimated; {len(rows) - len(costed)} ensembles are "
        f"records without configurations to time), updates {updates:.1f} h"
    )


if __name__ == "__main__":
    main()
