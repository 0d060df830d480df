"""Cost of the crash-safe ensemble writes and of the exchange formats, against one HMC trajectory.

    python -m bench.io_commit [--dims 8,8,8,8] [--configs 10,50,100]

During a run each checkpoint writes a segment (one configuration + the checkpoint here); at the
end the segments are packed into the file by one copy-on-write commit (lqcd_hmc.io.hdf5). The
table shows, as the ensemble grows, the seconds of one checkpoint, of the pack and of verifying
every checksum of the file (``Ensemble.verify``, what ``lqcd-hmc info`` does), and their ratio
to one SU(3) Wilson trajectory (10 Omelyan 2MN steps, B = 1) on the same lattice.
Format rows: seconds to write and to read (with checksum and plaquette checks) one configuration.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from actions import Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.io import (
    Checkpoint,
    Ensemble,
    GaugeConfiguration,
    Pending,
    read_configuration,
    write_configuration,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="8,8,8,8")
    ap.add_argument("--configs", default="10,50,100")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dims = [int(x) for x in args.dims.split(",")]
    rng = ChainRNG(1, 1)
    field = GaugeField.hot(dims, "SU(3)", rng)
    hmc = HMC(Wilson(6.0), n_steps=10)
    hmc.trajectory(field, rng)
    t = time.perf_counter()
    for _ in range(3):
        hmc.trajectory(field, rng)
    traj = (time.perf_counter() - t) / 3
    links = field.links.numpy()
    mb = links.nbytes / 2**20
    print(
        f"SU(3) {'x'.join(map(str, dims))}: one trajectory {traj:.3f} s; one configuration "
        f"{mb:.1f} MiB"
    )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "e.h5"
        cp = Checkpoint(0, links, np.zeros((1, 8), np.uint8))
        ens = Ensemble.create(path, {"group": "SU(3)", "dims": dims, "batch": 1}, checkpoint=cp)
        stored = 0
        print(
            f"{'configs on file':>16} {'file MiB':>9} {'checkpoint s':>13} {'ckpt/traj':>10} "
            f"{'pack s':>8} {'pack/traj':>10} {'verify s':>9} {'ms/MiB':>7}"
        )
        for target in (int(x) for x in args.configs.split(",")):
            while stored < target - 1:
                stored += 1
                ens.append(
                    Pending(configs=[(stored, links, np.ones(1))]),
                    Checkpoint(stored, links, cp.rng),
                )
            stored += 1
            t = time.perf_counter()
            ens.append(
                Pending(configs=[(stored, links, np.ones(1))]), Checkpoint(stored, links, cp.rng)
            )
            dt = time.perf_counter() - t
            t = time.perf_counter()
            ens.pack()
            dp = time.perf_counter() - t
            t = time.perf_counter()
            ens.verify()
            dv = time.perf_counter() - t
            size = path.stat().st_size / 2**20
            print(
                f"{stored:16d} {size:9.1f} {dt:13.3f} "
                f"{dt / traj:10.3f} {dp:8.3f} {dp / traj:10.2f} {dv:9.3f} {1e3 * dv / size:7.2f}"
            )
        cfg = GaugeConfiguration(links[0], "SU(3)")
        print(f"{'format':>22} {'write s':>8} {'read s':>8}")
        for fmt, kw in (
            ("hdf5", {}),
            ("nersc", {}),
            ("nersc", {"two_row": True}),
            ("nersc", {"precision": 32}),
            ("ildg", {}),
            ("openqcd", {}),
        ):
            p = Path(d) / f"c_{fmt}_{len(kw)}_{kw.get('precision', 64)}"
            t = time.perf_counter()
            write_configuration(p, cfg, fmt, **kw)
            tw = time.perf_counter() - t
            t = time.perf_counter()
            read_configuration(p)
            tr = time.perf_counter() - t
            label = fmt + ("" if not kw else " " + ",".join(f"{k}={v}" for k, v in kw.items()))
            print(f"{label:>22} {tw:8.3f} {tr:8.3f}")


if __name__ == "__main__":
    main()
