"""Peak working memory of one update, in units of the link field: the figures behind
``Action.working_memory`` (the run's memory estimate, :mod:`lqcd_hmc.resources`).

Each case runs in a fresh process on a hot SU(3) 12^4 lattice with 4 chains, complex128, and
reports the growth of the peak resident set (``ru_maxrss``) over one HMC trajectory (2 steps)
or one heatbath sweep, divided by the bytes of the link field. Run: ``python bench/memory.py``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STUDY_FP = EXAMPLES / "fp_param_su3_4x4_o4r.json"
RECTANGLES_FP = EXAMPLES / "fp_param_su3_4x4_o4rr.json"

CASES = [  # action, update, L, chains
    ("wilson", "hmc", 12, 4),
    ("iwasaki", "hmc", 12, 4),
    ("clover", "hmc", 12, 4),
    ("fp-param", "hmc", 12, 4),
    ("fp-param-study", "hmc", 12, 4),
    ("fp-param-rectangles", "hmc", 12, 4),
    ("lcnn", "hmc", 8, 1),
    ("lcnn", "hmc", 8, 2),
    ("wilson", "heatbath", 12, 4),
    ("iwasaki", "heatbath", 12, 4),
]


def one(name: str, algorithm: str, L: int, B: int) -> dict:
    import torch

    from actions.fixed_point import FPParametrisation
    from actions.lcnn.action import LCNNAction, LCNNFixedPoint
    from actions.lcnn.network import Architecture
    from lqcd_hmc.action import build
    from lqcd_hmc.field import GaugeField
    from lqcd_hmc.rng import ChainRNG
    from lqcd_hmc.update import build as build_update

    torch.set_num_threads(1)
    if name == "fp-param":
        terms = [(1, 0), (0, 1), (2, 0), (1, 1)]
        action = FPParametrisation(5.0, coefficients=[0.6, 0.4, -0.02, 0.01], terms=terms)
    elif name == "fp-param-study":  # order 4 and the five loop shapes of the study card
        action = FPParametrisation(2.85, file=str(STUDY_FP))
    elif name == "fp-param-rectangles":  # the same with the thin-rectangle variable
        action = FPParametrisation(2.85, file=str(RECTANGLES_FP))
    elif name == "lcnn":
        model = LCNNFixedPoint(Architecture(D=4, group="SU(3)")).double()
        action = LCNNAction(5.0, model=model)
    else:
        action = build({"name": name, "beta": 5.7})
    rng = ChainRNG(1, B, torch.device("cpu"))
    field = GaugeField.hot((L,) * 4, "SU(3)", rng, torch.complex128)
    update = build_update(algorithm, action, {"steps": 2, "tau": 0.2} if algorithm == "hmc" else {})
    update.prepare((L,) * 4, torch.device("cpu"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    update.update(field, rng)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    links = field.links.numel() * field.links.element_size()
    return {
        "L": L,
        "B": B,
        "action": name,
        "update": algorithm,
        "links_MB": links / 1e6,
        "peak_growth_MB": (after - before) / 1e6,
        "factor": (after - before) / links,
    }


def main() -> None:
    if len(sys.argv) == 5:
        print(json.dumps(one(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    print("| action | update | lattice | links (MB) | peak growth (MB) | factor |")
    print("|---|---|---|---|---|---|")
    for name, algorithm, L, B in CASES:
        out = subprocess.run(
            [sys.executable, __file__, name, algorithm, str(L), str(B)],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            why = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
            print(f"| {name} | {algorithm} | {L}^4 x {B} | failed: {why} |")
            continue
        r = json.loads(out.stdout)
        print(
            f"| {name} | {algorithm} | {L}^4 x {B} | {r['links_MB']:.1f} | "
            f"{r['peak_growth_MB']:.0f} | {r['factor']:.1f} |"
        )


if __name__ == "__main__":
    main()
