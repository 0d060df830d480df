"""Measurements for run cards (``[[measure]]``), registered in ``pyproject.toml``.

Each returns float64 columns ``(B, ...)``; the stored table is self-describing (distances and
flow times are columns), so ``lqcd-hmc analyze`` needs nothing but the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lqcd_hmc import plotting
from lqcd_hmc.field import GaugeField
from lqcd_hmc.measurement import Measurement, column_statistics
from lqcd_hmc.smearing import smear
from lqcd_hmc.statistics import derived

from . import figures
from .flow import Flow, energy_density
from .loops import plaquette, polyakov_correlator, polyakov_loop, temporal_loops, wilson_loops
from .potential import static_potential
from .scales import flow_analysis, susceptibility
from .topology import DEFINITIONS, charges


class Plaquette(Measurement):
    """``plaquette``: average plaquette, and its spatial and temporal parts (D > 2)."""

    name = "plaquette"
    labels = {
        "plaquette": "plaquette <Re Tr U_p>/N (dimensionless)",
        "spatial": "spatial plaquette (dimensionless)",
        "temporal": "temporal plaquette (dimensionless)",
    }

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        out = {"plaquette": plaquette(field)}
        if field.D > 2:
            out["spatial"] = wilson_loops(field, 1, 1, "spatial")
            out["temporal"] = wilson_loops(field, 1, 1, "temporal")
        return out


class WilsonLoops(Measurement):
    """``wilson_loops``: ``W[i, T-1] = <Re Tr W(r_i, T)>/N`` for T <= t_max.

    ``planes = "temporal"`` (default): the loops of the static potential, at the on-axis
    distances r = 1..r_max and the off-axis ``shapes`` ``[[a, b], ...]`` (distance
    sqrt(a^2 + b^2)), with the spatial lines optionally smeared by ``smearing`` (a table for
    :func:`lqcd_hmc.smearing.smear`; ``spatial = true`` is implied); also stores ``r``.
    ``"all"``/``"spatial"``: on-axis R x T loops averaged over those planes."""

    name = "wilson_loops"

    def __init__(
        self,
        r_max: int = 2,
        t_max: int = 2,
        planes: str = "temporal",
        shapes: list[list[int]] | None = None,
        smearing: Mapping[str, Any] | None = None,
    ):
        if r_max < 1 or t_max < 1:
            raise ValueError(f"wilson_loops needs r_max, t_max >= 1, got {r_max}, {t_max}")
        if planes not in ("temporal", "all", "spatial"):
            raise ValueError(f"planes must be 'temporal', 'all' or 'spatial', got {planes!r}")
        if planes != "temporal" and (shapes or smearing):
            raise ValueError("off-axis shapes and smearing apply to temporal Wilson loops only")
        self.r_max, self.t_max, self.planes = int(r_max), int(t_max), planes
        self.shapes = [(r, 0) for r in range(1, self.r_max + 1)]
        for s in shapes or []:
            if len(s) != 2 or int(s[0]) < 1 or int(s[1]) < 1:
                raise ValueError(f"off-axis shape must be [a, b] with a, b >= 1, got {s}")
            self.shapes.append((int(s[0]), int(s[1])))
        self.smearing = dict(smearing or {})
        if self.smearing:
            self.smearing["spatial"] = True

    def check(self, dims, group) -> None:
        D, L_t = len(dims), dims[-1]
        L_s = min(dims[:-1]) if D > 1 else 0
        if self.planes == "temporal":
            if self.t_max >= L_t:
                raise ValueError(f"wilson_loops needs t_max < L_t = {L_t}, got {self.t_max}")
            widest = max(max(a, b) for a, b in self.shapes)
            if widest >= L_s:
                raise ValueError(
                    f"wilson_loops extent {widest} wraps the spatial extent {L_s}; use r_max "
                    f"and shapes below {L_s}"
                )
            if D < 3 and any(b for _, b in self.shapes):
                raise ValueError(f"off-axis wilson_loops shapes need D >= 3, got D = {D}")
            return
        extents = dims if self.planes == "all" else dims[:-1]
        if self.planes == "spatial" and D < 3:
            raise ValueError(f"no spatial planes in D = {D}")
        if max(self.r_max, self.t_max) >= min(extents):
            raise ValueError(
                f"wilson_loops r_max = {self.r_max}, t_max = {self.t_max} wrap the "
                f"{self.planes} extent {min(extents)}"
            )

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        if self.planes != "temporal":
            W = torch.stack(
                [
                    torch.stack(
                        [wilson_loops(field, r, t, self.planes) for t in range(1, self.t_max + 1)],
                        -1,
                    )
                    for r in range(1, self.r_max + 1)
                ],
                -2,
            )
            return {"W": W}
        spatial = smear(field, self.smearing) if self.smearing else None
        W = temporal_loops(field, self.shapes, self.t_max, spatial)
        r = torch.tensor(
            [float(np.hypot(a, b)) for a, b in self.shapes],
            dtype=torch.float64,
            device=field.device,
        )
        return {"W": W, "r": r.expand(field.batch, -1).clone()}

    @classmethod
    def analyze(cls, table, **options: Any) -> dict[str, Any]:
        out = {"columns": column_statistics({k: v for k, v in table.items() if k != "r"})}
        if "r" in table and table["W"].shape[0] >= 2:
            try:
                out["potential"] = static_potential(
                    table["W"],
                    table["r"][0, 0],
                    plateau=options.get("plateau"),
                    r_min=options.get("r_min"),
                    r_max=options.get("r_max"),
                )
            except ValueError as exc:
                out["potential"] = {"skipped": str(exc)}
        return out

    @classmethod
    def plot(cls, table, result, directory: Path, title: str = "") -> list[Path]:
        return figures.potential(result.get("potential", {}), Path(directory), title)


class PolyakovLoop(Measurement):
    """``polyakov_loop``: real and imaginary part of the volume-averaged Polyakov loop."""

    name = "polyakov_loop"
    labels = {
        "re": "Re <P>, P = Tr prod_t U_t / N (dimensionless)",
        "im": "Im <P> (dimensionless)",
    }

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        P = polyakov_loop(field)
        return {"re": P.real, "im": P.imag}


class PolyakovCorrelator(Measurement):
    """``polyakov_correlator``: ``C(r) = <Re P(x) P(x+r)^*>`` on-axis, r = 0..r_max (default
    L_s/2); the analysis gives ``aV(r) = -ln C(r) / N_t``. Columns ``C``, ``r``, ``nt``."""

    name = "polyakov_correlator"

    def __init__(self, r_max: int | None = None):
        if r_max is not None and r_max < 0:
            raise ValueError(f"polyakov_correlator needs r_max >= 0, got {r_max}")
        self.r_max = r_max

    def check(self, dims, group) -> None:
        if len(dims) < 2:
            raise ValueError("polyakov_correlator needs a spatial direction")
        L_s = min(dims[:-1])
        if self.r_max is not None and self.r_max > L_s // 2:
            raise ValueError(
                f"polyakov_correlator needs r_max <= L_s/2 = {L_s // 2}, got {self.r_max}"
            )

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        C = polyakov_correlator(field, self.r_max)
        B, n = C.shape
        r = torch.arange(n, dtype=torch.float64, device=C.device).expand(B, -1).clone()
        nt = torch.full((B,), float(field.dims[-1]), dtype=torch.float64, device=C.device)
        return {"C": C, "r": r, "nt": nt}

    @classmethod
    def analyze(cls, table, **options: Any) -> dict[str, Any]:
        out = {"columns": column_statistics({"C": table["C"]})}
        if table["C"].shape[0] >= 2:
            nt = float(table["nt"][0, 0])
            with np.errstate(invalid="ignore", divide="ignore"):
                res = derived(lambda m: -np.log(m) / nt, table["C"].transpose(2, 1, 0))
            out["potential"] = {
                "r": table["r"][0, 0].tolist(),
                "V": [x.mean for x in res],
                "V_error": [x.error for x in res],
            }
        return out

    @classmethod
    def plot(cls, table, result, directory: Path, title: str = "") -> list[Path]:
        pot = result.get("potential")
        if pot is None:
            return []
        return [
            plotting.curve(
                Path(directory) / "polyakov_potential.png",
                [plotting.Series(pot["r"], pot["V"], pot["V_error"], "-ln C(r) / N_t")],
                "r/a",
                "aV(r) from Polyakov loops (lattice units)",
                title,
            )
        ]


class GradientFlow(Measurement):
    """``gradient_flow``: ``E(t)`` in plaquette and clover form at ``t = 0, spacing, ...,
    t_max`` along the flow ``flow`` (``"wilson"``, ``"symanzik"``, ``"zeuthen"`` or an action
    table); fixed RK3 steps ``epsilon`` or ``adaptive = true`` with ``tolerance``;
    ``topology = true`` adds Q at t_max (clover and improved, D = 4); ``kernels`` as for
    :class:`~observables.flow.Flow` (``"compiled"`` fuses the Wilson and Symanzik flows).
    ``action_energy = true`` adds ``E_action = g0^2 S_flow(V) / V``, the flow action's own
    density (the plaquette form for the Wilson flow): with a fixed-point flow action the flow
    and the observable are both classically perfect, free of tree-level artifacts (Holland,
    Ipp, Müller, Wenger, arXiv:2504.15870). The analysis gives t0/a^2, sqrt(8 t0)/a and w0/a
    (every form of E), and chi_t at t_max."""

    name = "gradient_flow"

    def __init__(
        self,
        flow: str | Mapping[str, Any] = "wilson",
        epsilon: float = 0.02,
        t_max: float = 1.0,
        spacing: float = 0.1,
        adaptive: bool = False,
        tolerance: float = 1e-6,
        topology: bool = False,
        kernels: str = "reference",
        action_energy: bool = False,
    ):
        if not 0 < spacing <= t_max:
            raise ValueError(f"gradient_flow needs 0 < spacing <= t_max, got {spacing}, {t_max}")
        if epsilon <= 0 or tolerance <= 0:
            raise ValueError(
                f"gradient_flow needs epsilon, tolerance > 0, got {epsilon}, {tolerance}"
            )
        self.flow = Flow(flow, kernels=kernels)
        n = int(round(t_max / spacing))
        self.times = spacing * np.arange(n + 1)
        self.epsilon, self.adaptive, self.tolerance = float(epsilon), bool(adaptive), tolerance
        self.topology, self.action_energy = bool(topology), bool(action_energy)

    def check(self, dims, group) -> None:
        if self.topology and len(dims) != 4:
            raise ValueError(f"gradient_flow topology needs D = 4, got D = {len(dims)}")

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        if self.topology and field.D != 4:
            raise ValueError(f"gradient_flow topology needs D = 4, got D = {field.D}")
        rows: dict[str, list[Tensor]] = {}
        g0sq, sites = self.flow.g0sq(field.N), math.prod(field.dims)

        def observe(t: float, V: GaugeField) -> None:
            rows.setdefault("E_plaquette", []).append(energy_density(V, "plaquette"))
            rows.setdefault("E_clover", []).append(energy_density(V, "clover"))
            if self.action_energy:
                E = g0sq * self.flow.action(V).detach().to(torch.float64) / sites
                rows.setdefault("E_action", []).append(E)

        V, _ = self.flow.run(
            field, self.times, self.epsilon, self.adaptive, self.tolerance, observe
        )
        out = {k: torch.stack(v, dim=1) for k, v in rows.items()}
        out["t"] = (
            torch.as_tensor(self.times, dtype=torch.float64, device=field.device)
            .expand(field.batch, -1)
            .clone()
        )
        if self.topology:
            out.update(charges(V))
        return out

    @classmethod
    def analyze(cls, table, **options: Any) -> dict[str, Any]:
        t = table["t"][0, 0]
        out: dict[str, Any] = {}
        if table["E_clover"].shape[0] >= 2:
            for form in ("clover", "plaquette", "action"):
                if f"E_{form}" in table:
                    out[form] = flow_analysis(t, table[f"E_{form}"])
        for d in DEFINITIONS:
            if f"Q_{d}" in table and table[f"Q_{d}"].shape[0] >= 2:
                out[f"topology_{d}"] = {
                    "t": float(t[-1]),
                    **susceptibility(table[f"Q_{d}"], float(table["volume"][0, 0])),
                }
        return out

    @classmethod
    def plot(cls, table, result, directory: Path, title: str = "") -> list[Path]:
        return figures.flow(table, result, Path(directory), title)


class TopologicalCharge(Measurement):
    """``topological_charge``: Q in the clover and improved definitions (D = 4) of the field
    after the flow ``flow`` to ``flow_time`` (fixed RK3 steps ``epsilon``) or after
    ``smearing`` (a smearing table), or of the bare field; the analysis gives <Q>, <Q^2> and
    chi_t = <Q^2>/V with errors. Columns ``Q_clover``, ``Q_improved``, ``volume``."""

    name = "topological_charge"

    def __init__(
        self,
        flow_time: float | None = None,
        flow: str | Mapping[str, Any] = "wilson",
        epsilon: float = 0.02,
        smearing: Mapping[str, Any] | None = None,
    ):
        if flow_time is not None and smearing:
            raise ValueError("topological_charge takes flow_time or smearing, not both")
        if flow_time is not None and flow_time <= 0:
            raise ValueError(f"flow_time must be positive, got {flow_time}")
        self.flow = Flow(flow) if flow_time is not None else None
        self.flow_time, self.epsilon = flow_time, float(epsilon)
        self.smearing = dict(smearing or {})

    def check(self, dims, group) -> None:
        if len(dims) != 4:
            raise ValueError(f"topological_charge needs D = 4, got D = {len(dims)}")

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        if field.D != 4:
            raise ValueError(f"topological_charge needs D = 4, got D = {field.D}")
        if self.flow is not None and self.flow_time is not None:
            field, _ = self.flow.run(field, [self.flow_time], self.epsilon)
            out = charges(field)
            out["flow_time"] = torch.full_like(out["volume"], float(self.flow_time))
            return out
        if self.smearing:
            field = smear(field, self.smearing)
        return charges(field)

    @classmethod
    def analyze(cls, table, **options: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "columns": column_statistics({f"Q_{d}": table[f"Q_{d}"] for d in DEFINITIONS})
        }
        if table["Q_clover"].shape[0] >= 2:
            V = float(table["volume"][0, 0])
            for d in DEFINITIONS:
                out[d] = susceptibility(table[f"Q_{d}"], V)
        return out

    @classmethod
    def plot(cls, table, result, directory: Path, title: str = "") -> list[Path]:
        if "flow_time" in table:
            when = f"at flow time t/a^2 = {float(table['flow_time'][0, 0]):g}"
        else:
            when = "(no gradient flow: bare or smeared, see the table's schema)"
        return figures.charges(table, Path(directory), "", title, when)
