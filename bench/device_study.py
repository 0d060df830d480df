"""A study's costly actions on a CUDA device in one call of limited time, their records brought
home (bench/RESULTS.md, "Monte Carlo with the FP actions"; the device tool's limits: 10 minutes
a call, 64 MiB of working tree, 8 files back).

    python -m bench.device_study examples/compare_su3_cpu.toml --seconds 500 --out "$OUT" \\
        --device-action "FP (rectangles)" --device-action "FP (L-CNN)" \\
        --only Wilson --only "FP (rectangles)" --only "FP (L-CNN)" --spacing 0

1. A copy of the study card in which the ``--device-action`` actions run on ``--device``
   (their ``lattice.device``). An ensemble that differs only in its device is the same
   ensemble (:func:`lqcd_hmc.run.stored_progress`): the complete ones made on the device are
   reused at home, and the complete ones made at home (the starts, carried) are reused here.
2. Resumable records of those actions from another device are moved to ``<records>.set-aside``
   (a chain continues only on the device that began it): their runs start afresh.
3. ``lqcd-hmc compare`` on the copy (``--only``, ``--spacing`` passed on), interrupted after
   ``--seconds`` like Ctrl-C (the runner keeps its last checkpoint).
4. The records of the complete ensembles are written (``study.records``), and those new or
   changed since step 2 packed into ``OUT/records.tar``; at home ``tar xf records.tar`` in the
   repository root puts them in place, and the next ``compare`` reuses them (remove the local
   partial runs of the same names first: they belong to the other device).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

import tomli_w
import torch

from lqcd_hmc.field import resolve_device
from lqcd_hmc.io import Ensemble
from workflows.study.card import load_study
from workflows.study.records import PARTS, complete, save
from workflows.study.tune import label_slug


def device_card(card: Path, actions: list[str], device: str, dest: Path) -> None:
    """``card`` with ``lattice.device = device`` in the tables of ``actions`` (labels)."""
    tree = tomllib.loads(card.read_text())
    labels = {a.get("label", a["name"]) for a in tree["action"]}
    missing = [a for a in actions if a not in labels]
    if missing:
        raise SystemExit(f"--device-action {missing[0]!r}: the card's actions are {labels}")
    for a in tree["action"]:
        if a.get("label", a["name"]) in actions:
            a["lattice"] = {**a.get("lattice", {}), "device": device}
    dest.write_text(tomli_w.dumps(tree))
    load_study(dest)  # validates


def set_aside(records: Path, actions: list[str], device: torch.device, aside: Path) -> list[str]:
    """Move the resumable records of ``actions`` made on another device type to ``aside``."""
    slugs = tuple(label_slug(a) + "_b" for a in actions)
    moved = []
    for part in PARTS:
        for rec in sorted((records / part).glob("*.h5")):
            if not rec.name.startswith(slugs):
                continue
            ens = Ensemble(rec)
            if complete(ens) or torch.device(str(ens.attrs["device"])).type == device.type:
                continue
            (aside / part).mkdir(parents=True, exist_ok=True)
            shutil.move(rec, aside / part / rec.name)
            moved.append(f"{part}/{rec.name}")
    return moved


def _digests(records: Path) -> dict[str, str]:
    return {
        str(p.relative_to(records)): hashlib.sha256(p.read_bytes()).hexdigest()
        for part in PARTS
        for p in sorted((records / part).glob("*.h5"))
    }


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    card_path = Path(args.card)
    card = load_study(card_path)
    if card.study.records is None:
        raise SystemExit("the card needs study.records")
    records, out = Path(card.study.records), Path(card.study.output)
    with tempfile.TemporaryDirectory() as tmp:
        dcard = Path(tmp) / card_path.name
        device_card(card_path, args.device_action, args.device, dcard)
        aside = records.with_name(records.name + ".set-aside")
        moved = set_aside(records, args.device_action, device, aside)
        print(f"set aside (resumable on another device): {moved or 'none'}", flush=True)
        before = _digests(records)
        cmd = [sys.executable, "-m", "lqcd_hmc", "compare", str(dcard)]
        cmd += [x for label in args.only for x in ("--only", label)]
        cmd += [x for i in args.spacing for x in ("--spacing", str(i))]
        proc = subprocess.Popen(cmd)
        try:
            code = proc.wait(timeout=args.seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # as Ctrl-C: the last checkpoint stays
            code = proc.wait()
        print(f"compare exited with {code}", flush=True)
        for line in save(out, records).kept:  # complete ensembles only
            print(f"record kept: {line}", flush=True)
        after = _digests(records)
        new = sorted(k for k, v in after.items() if before.get(k) != v)
        print(f"records new or changed: {new or 'none'}", flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        with tarfile.open(Path(args.out) / "records.tar", "w") as tar:
            for name in new:
                tar.add(records / name, arcname=str(records / name))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("card")
    p.add_argument("--seconds", type=float, required=True, help="stop compare after this")
    p.add_argument("--out", required=True, help="folder for records.tar")
    p.add_argument("--device", default="cuda")
    p.add_argument("--device-action", action="append", default=[], metavar="LABEL")
    p.add_argument("--only", action="append", default=[], metavar="LABEL")
    p.add_argument("--spacing", action="append", default=[], type=int, metavar="I")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
