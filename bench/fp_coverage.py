"""Where the Monte Carlo ensembles of the FP actions sit in the FP data, and how well the shipped
model and its ``fp-param`` fit reproduce the FP action there.

    python -m bench.fp_coverage [ENSEMBLE.h5 ...] [--model su3-fp-4x4]
                                [--data data/fp_data_su3_4x4.h5 ...] [--bands 0.35,0.45,...]

Every coarse configuration of the model's FP data has a mean plaquette ``P = <Re Tr U_p>/N``;
the held-out ones (the split in the model's provenance) are binned by it, and per band the
held-out L1 and L2 (:func:`workflows.training.losses.evaluate`) of the model and of
``fp-param`` (the model's preconditioner, fitted to the same training configurations) are
printed. Each ensemble's mean production plaquette (:func:`lqcd_hmc.summary.run_summary`) names
the band its configurations fall in: the fit quality on the configurations a simulation visits.
The data files must be those the model was trained on, in its order (their sha256 are checked).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from actions.lcnn import load_checkpoint
from actions.lcnn.shipped import resolve
from lqcd_hmc import GaugeField
from lqcd_hmc.io import Ensemble
from lqcd_hmc.loops import plaquette_re_trace
from lqcd_hmc.statistics import with_error
from lqcd_hmc.summary import run_summary
from workflows.fixed_point.files import read_fp_datasets, sha256
from workflows.training.losses import evaluate

BANDS = (0.35, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.0)


def plaquettes(links: Tensor) -> np.ndarray:
    """``<Re Tr U_p>/N`` per configuration of ``links`` ``(B, D, *dims, N, N)``."""
    D, N = links.shape[1], links.shape[-1]
    planes = [(m, n) for m in range(D) for n in range(m + 1, D)]
    s = sum(plaquette_re_trace(links, m, n).flatten(1).mean(1) for m, n in planes)
    return (s / (len(planes) * N)).numpy()


def coverage(model_name: str, data_files: list[Path], bands: list[float]) -> list[dict[str, Any]]:
    """Per plaquette band: held-out configurations, their Wilson betas, and L1, L2 of the model
    and of fp-param."""
    model, obj = load_checkpoint(
        Path(model_name) if model_name.endswith(".pt") else resolve(model_name)
    )
    want = obj["provenance"]["data_sha256"]
    want = [want] if isinstance(want, str) else want
    if [sha256(f) for f in data_files] != want:
        raise SystemExit(
            f"{' '.join(map(str, data_files))}: not the data of {model_name} (sha256 "
            f"{', '.join(w[:12] for w in want)})"
        )
    data = read_fp_datasets(data_files)
    idx = torch.tensor(obj["provenance"]["validation"])
    fields: GaugeField = data["fields"]
    links = fields.links[idx]
    A, dA = data["action"].double()[idx], data["derivative"].double()[idx]
    P = plaquettes(links)
    betas = data["beta"][idx].numpy()

    def fp_param(x: Tensor) -> Tensor:
        return model.pre(GaugeField(x, model.arch.group))

    rows = []
    for lo, hi in zip(bands[:-1], bands[1:]):
        sel = torch.from_numpy(np.flatnonzero((P >= lo) & (P < hi)))
        if len(sel) == 0:
            continue
        val = fields.with_links(links[sel])
        row: dict[str, Any] = {"band": (lo, hi), "n": len(sel)}
        b = betas[sel.numpy()]
        b = b[np.isfinite(b)]
        row["wilson_betas"] = (float(b.min()), float(b.max())) if b.size else None
        for name, fn in (("model", model), ("fp-param", fp_param)):
            m = evaluate(fn, val, A[sel], dA[sel], 4)
            row[f"{name} L1"], row[f"{name} L2"] = m["L1"], m["L2"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ensembles", nargs="*")
    ap.add_argument("--model", default="su3-fp-4x4", help="a shipped model's name or a .pt file")
    ap.add_argument("--data", nargs="+", default=["data/fp_data_su3_4x4.h5"])
    ap.add_argument("--bands", default=",".join(map(str, BANDS)))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = coverage(
        args.model, [Path(d) for d in args.data], [float(x) for x in args.bands.split(",")]
    )
    ens = []
    for path in args.ensembles:
        e = Ensemble(path)
        mc = run_summary(e, int(e.attrs.get("thermalisation", 0)))
        if mc is not None:
            ens.append({"ensemble": path, "plaquette": mc.plaquette, "error": mc.plaquette_error})
    if args.json:
        print(json.dumps({"bands": rows, "ensembles": ens}, indent=1))
        return
    print(
        "| plaquette | held-out | Wilson beta (fine) | model L1 | fp-param L1 | model L2 "
        "| fp-param L2 |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        wb = "{:g}-{:g}".format(*r["wilson_betas"]) if r["wilson_betas"] else "-"
        print(
            f"| {r['band'][0]:g}-{r['band'][1]:g} | {r['n']} | {wb} | {r['model L1']:.3e} | "
            f"{r['fp-param L1']:.3e} | {r['model L2']:.3e} | {r['fp-param L2']:.3e} |"
        )
    for e in ens:
        print(f"{e['ensemble']}: plaquette {with_error(e['plaquette'], e['error'])}")


if __name__ == "__main__":
    main()
