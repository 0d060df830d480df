"""The box's share of the study's w0/sqrt(t0): an ensemble of ``compare_su3_cpu`` run again at
its own beta on larger lattices, so that only L / sqrt(8 t0) changes (2.8 on 8^4 at
t0/a^2 = 1, 4.2 on 12^4), with its own flow measuring the clover and the action's own E
(``action_energy = true``) in the run.

    python -m bench.box_size compare_su3_cpu/ensembles/Wilson_b5.6904_8x8x8x8.h5 \
        --sizes 8,10,12 [--interval 2] [--trajectories 80] [--kernels compiled] [--out DIR]

The ensemble (or its record) gives the card: action, beta, update, chains, seed,
thermalisation and the flow's steps. The production has ``--trajectories`` updates (the
study: 40 for the staple actions), the own flow is measured every ``--interval`` (the
study: 4), the Wilson loops and the Wilson-flow table are left out. A card that starts from a
stored configuration (the study's FP actions) takes ``--start``, an ensemble of each size
with ``{L}`` for its extent. Each size is its own resumable ensemble in ``--out`` (a killed
call continues). Printed per size: t0/a^2, L/sqrt(8 t0), w0/sqrt(t0) and sqrt(t_0.2/t0) with
the clover and the own E (Gamma method, chains as replicas,
:func:`workflows.study.ratios.ensemble_quantities`), and their changes against the smallest
box. The study's two spacings differ in box by 1-6 % in units of each action's own t0; this
measures what the box does at fixed lattice spacing (bench/RESULTS.md, "The box's share").
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run.chain import stored_card
from lqcd_hmc.run.runner import ensure_ensemble
from lqcd_hmc.statistics import with_error
from workflows.study.ratios import ensemble_quantities

ROWS = (("w0_over_sqrt_t0", "w0/sqrt(t0)"), ("sqrt_t02_over_t0", "sqrt(t_0.2/t0)"))
ENERGIES = ("clover", "action")


def box_card(
    source: Path,
    L: int,
    out: Path,
    interval: int,
    trajectories: int,
    kernels: str,
    start: str | None = None,
) -> Any:
    """The run card of ``source`` on ``L^4`` with ``trajectories`` after its thermalisation:
    the own flow with ``action_energy`` every ``interval`` updates through ``kernels``, no
    other measurement; written to ``out``. A card that starts from a stored configuration
    (the study's FP actions) starts from the last one of ``start`` with ``{L}`` replaced by
    ``L`` (an ensemble of that size)."""
    tree = stored_card(Ensemble(source)).model_dump(exclude_none=True)
    tree["run"]["trajectories"] = trajectories
    if isinstance(tree["lattice"]["start"], dict):
        if start is None:
            raise ValueError(f"{source.name} starts from a stored configuration: give --start")
        tree["lattice"]["start"] = {"file": start.replace("{L}", str(L))}
    dims = tree["lattice"]["dims"] = [L] * len(tree["lattice"]["dims"])
    name = Path(tree["run"]["output"]).name.rsplit("_", 1)[0]
    tree["run"]["output"] = str(out / f"{name}_{'x'.join(map(str, dims))}.h5")
    tree["run"]["checkpoint_interval"] = 8
    flows = [m for m in tree["measure"] if m["name"] == "gradient_flow" and "table" not in m]
    if len(flows) != 1:
        raise ValueError(f"{source.name} has no gradient_flow measurement of its own flow")
    (flow,) = flows
    tree["measure"] = [
        {**flow, "interval": interval, "kernels": kernels, "topology": False, "action_energy": True}
    ]
    return validate(tree, f"{source.name} on {L}^4")


def analyse(path: Path, L: int) -> dict[str, Any]:
    """t0/a^2 and the ratios with each form of E, after thermalisation."""
    after = int(Ensemble(path).attrs.get("thermalisation", 0))
    out: dict[str, Any] = {"L": L}
    for e in ENERGIES:
        q = ensemble_quantities(path, after=after, energy=e)
        out[e] = {k: (q[k]["value"], q[k]["error"]) for k in ("t0", *dict(ROWS)) if k in q}
    return out


def _fmt(p: tuple[float, float] | None) -> str:
    return "n/a" if p is None else with_error(*p)


def _change(p: tuple[float, float] | None, ref: tuple[float, float] | None) -> str:
    if p is None or ref is None or not all(map(math.isfinite, (*p, *ref))):
        return "n/a"
    d = 100 * (p[0] / ref[0] - 1)
    err = 100 * p[0] / ref[0] * math.hypot(p[1] / p[0], ref[1] / ref[0])
    return f"{with_error(d, err)} %"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| L | t0/a^2 clover / own E | L/sqrt(8 t0) clover / own E | ratio | clover E | own E "
        "| change, clover | change, own E |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    ref = results[0]
    for r in results:
        t0c, t0a = r["clover"].get("t0"), r["action"].get("t0")
        box = " / ".join(
            f"{r['L'] / math.sqrt(8 * t[0]):.2f}" if t and t[0] > 0 else "n/a" for t in (t0c, t0a)
        )
        for key, title in ROWS:
            c, a = r["clover"].get(key), r["action"].get(key)
            changes = [
                _change(p, q) if r is not ref else "-"
                for p, q in ((c, ref["clover"].get(key)), (a, ref["action"].get(key)))
            ]
            lines.append(
                f"| {r['L']} | {_fmt(t0c)} / {_fmt(t0a)} | {box} | {title} | {_fmt(c)} | "
                f"{_fmt(a)} | {changes[0]} | {changes[1]} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ensemble", type=Path, help="a study ensemble or its record")
    p.add_argument("--sizes", default="8,12", help="lattice extents, smallest first")
    p.add_argument("--interval", type=int, default=2, help="updates between flows")
    p.add_argument("--trajectories", type=int, default=80, help="updates after thermalisation")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--kernels", default="reference", help='the flow\'s ("compiled" fuses it)')
    p.add_argument(
        "--start",
        help="where the card starts from a file: an ensemble of each size, {L} its extent",
    )
    p.add_argument("--out", type=Path, default=Path("box_size"))
    args = p.parse_args(argv)
    if not args.ensemble.is_file():
        print(f"box_size: no such ensemble {args.ensemble}", file=sys.stderr)
        return 1
    try:  # every card valid before the first run, and before anything is written
        sizes = [int(s) for s in args.sizes.split(",")]
        cards = [
            box_card(
                args.ensemble,
                L,
                args.out,
                args.interval,
                args.trajectories,
                args.kernels,
                args.start,
            )
            for L in sizes
        ]
    except ValueError as exc:
        print(f"box_size: {exc}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for L, card in zip(sizes, cards):
        start = time.perf_counter()
        ensure_ensemble(card)
        results.append(analyse(Path(card.run.output), L))
        print(f"{L}^4: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\n{args.ensemble.name} at other box sizes (own flow; chains as replicas):\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
