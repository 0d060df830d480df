"""Small run cards for the runner and CLI tests."""

from __future__ import annotations

from pathlib import Path

import tomli_w


def small_card(output: Path, **changes) -> dict:
    """A 4^2 SU(2) run of a few seconds; ``changes`` like ``run={"trajectories": 5}``."""
    card = {
        "lattice": {"dims": [4, 4], "group": "SU(2)", "batch": 2, "seed": 5, "start": "hot"},
        "action": {"name": "wilson", "beta": 2.0},
        "update": {"integrator": "omelyan2", "steps": 6, "tau": 1.0},
        "run": {
            "thermalisation": 4,
            "thermalisation_md": 2,
            "trajectories": 12,
            "save_interval": 3,
            "checkpoint_interval": 5,
            "output": str(output),
        },
        "measure": [
            {"name": "plaquette", "interval": 1},
            {"name": "wilson_loops", "interval": 2, "r_max": 2, "t_max": 2},
        ],
    }
    for section, values in changes.items():
        card[section].update(values)
    return card


def write_card(path: Path, card: dict) -> Path:
    path.write_text(tomli_w.dumps(card))
    return path
