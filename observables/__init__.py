"""Observables on :class:`lqcd_hmc.GaugeField` and their statistical analysis."""

from lqcd_hmc.smearing import ape, hyp, smear, stout
from lqcd_hmc.statistics import GammaResult, derived, gamma_method

from .flow import Flow, energy_density
from .loops import (
    plaquette,
    polyakov_correlator,
    polyakov_field,
    polyakov_loop,
    temporal_loops,
    wilson_loop,
    wilson_loops,
)
from .potential import static_potential
from .scales import flow_analysis, susceptibility
from .topology import charge_density, field_strength, topological_charge

__all__ = [
    "plaquette",
    "polyakov_loop",
    "polyakov_correlator",
    "polyakov_field",
    "wilson_loop",
    "wilson_loops",
    "temporal_loops",
    "ape",
    "stout",
    "hyp",
    "smear",
    "Flow",
    "energy_density",
    "field_strength",
    "charge_density",
    "topological_charge",
    "static_potential",
    "flow_analysis",
    "susceptibility",
    "gamma_method",
    "derived",
    "GammaResult",
]
