"""Comparing actions: ``lqcd-hmc tune-beta`` (the beta of a wanted lattice spacing) and
``lqcd-hmc compare`` (matched ensembles, dimensionless ratios with correlated errors, continuum
extrapolations, a Markdown report)."""

from .compare import run_study
from .ratios import RATIOS, ensemble_quantities
from .tune import TuneResult, tune_beta

__all__ = ["run_study", "RATIOS", "ensemble_quantities", "TuneResult", "tune_beta"]
