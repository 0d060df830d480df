"""Observables on :class:`lqcd_hmc.GaugeField` and their statistical analysis."""
from .loops import plaquette, polyakov_loop, wilson_loop, wilson_loops
from lqcd_hmc.statistics import GammaResult, gamma_method

__all__ = ["plaquette", "polyakov_loop", "wilson_loop", "wilson_loops", "gamma_method",
           "GammaResult"]
