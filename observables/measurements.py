"""Measurements for run cards (``[[measure]]``), registered in ``pyproject.toml``."""
from __future__ import annotations

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.measurement import Measurement

from .loops import plaquette, polyakov_loop, wilson_loops


class Plaquette(Measurement):
    """``plaquette``: average plaquette, and its spatial and temporal parts (D > 2)."""

    name = "plaquette"

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        out = {"plaquette": plaquette(field)}
        if field.D > 2:
            out["spatial"] = wilson_loops(field, 1, 1, "spatial")
            out["temporal"] = wilson_loops(field, 1, 1, "temporal")
        return out


class WilsonLoops(Measurement):
    """``wilson_loops``: ``W[r-1, t-1] = <Re Tr W(r, t)>/N`` for r <= r_max, t <= t_max over
    the chosen planes (default temporal: the loops of the static potential)."""

    name = "wilson_loops"

    def __init__(self, r_max: int = 2, t_max: int = 2, planes: str = "temporal"):
        if r_max < 1 or t_max < 1:
            raise ValueError(f"wilson_loops needs r_max, t_max >= 1, got {r_max}, {t_max}")
        self.r_max, self.t_max, self.planes = int(r_max), int(t_max), planes

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        W = torch.stack([torch.stack([wilson_loops(field, r, t, self.planes)
                                      for t in range(1, self.t_max + 1)], -1)
                         for r in range(1, self.r_max + 1)], -2)
        return {"W": W}


class PolyakovLoop(Measurement):
    """``polyakov_loop``: real and imaginary part of the volume-averaged Polyakov loop."""

    name = "polyakov_loop"

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        P = polyakov_loop(field)
        return {"re": P.real, "im": P.imag}
