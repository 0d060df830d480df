"""``fp-param`` fits against FP data, by plaquette band: where does a fit miss the FP action?

    python -m bench.fp_fits C1.json [C2.json ...] [--data data/fp_data_su3_4x4.h5
                            data/fp_data_su3_4x4_rough.h5] [--bands 0,0.3,0.39,...]

Every configuration of the FP data files (:func:`workflows.fixed_point.files.read_fp_datasets`)
is binned by its mean plaquette ``P = <Re Tr U_p>/N``; per band and coefficient file the
table gives the mean signed relative error of the action, ``<A_fit/A_FP - 1>`` (a negative
value: the fit makes those fields too cheap, which favours them in a simulation), and the
derivative loss ``L2`` of training (:func:`workflows.training.losses.evaluate`). ``held-out``
counts the rows ``lqcd-hmc fp-fit`` keeps out by default (every 4th of the files in this order);
the errors are over all rows of the band, training ones included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.fp_coverage import plaquettes
from lqcd_hmc.action import build
from workflows.fixed_point.files import read_fp_datasets
from workflows.training.losses import evaluate

BANDS = (0.0, 0.3, 0.39, 0.45, 0.5, 0.6, 0.7, 1.01)
DATA = ("data/fp_data_su3_4x4.h5", "data/fp_data_su3_4x4_rough.h5")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("fits", nargs="+", type=Path, help="fp-param coefficient files")
    p.add_argument("--data", nargs="+", default=list(DATA))
    p.add_argument("--bands", default=",".join(map(str, BANDS)))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    d = read_fp_datasets(args.data)
    fields, A, dA = d["fields"], d["action"].double(), d["derivative"].double()
    n = len(A)
    P = plaquettes(fields.links)
    held_out = np.zeros(n, dtype=bool)
    held_out[3::4] = True
    actions = [build({"name": "fp-param", "file": str(f), "beta": 1.0}) for f in args.fits]
    values = [
        torch.cat([a(fields.with_links(fields.links[i : i + 8])).detach() for i in range(0, n, 8)])
        for a in actions
    ]
    head = " | ".join(f"{f.stem}: <A/A_FP - 1> | L2" for f in args.fits)
    print(f"| plaquette | rows (held-out) | {head} |")
    print("|---|---|" + "---|---|" * len(args.fits))
    bands = [float(x) for x in args.bands.split(",")]
    for lo, hi in zip(bands[:-1], bands[1:]):
        sel = np.flatnonzero((P >= lo) & (P < hi))
        if sel.size == 0:
            continue
        idx = torch.from_numpy(sel)
        sub = fields.with_links(fields.links[idx])
        cells = []
        for a, v in zip(actions, values):
            bias = float((v[idx] / A[idx] - 1).mean())
            L2 = evaluate(lambda x, a=a: a(sub.with_links(x)), sub, A[idx], dA[idx], 4)["L2"]
            cells.append(f"{bias:+.4f} | {L2:.3e}")
        print(f"| {lo:g}-{hi:g} | {sel.size} ({held_out[sel].sum()}) | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
