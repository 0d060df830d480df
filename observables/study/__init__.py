"""Comparing actions: ``lqcd-hmc tune-beta`` (the beta of a wanted lattice spacing),
``lqcd-hmc compare`` (matched ensembles, dimensionless ratios with correlated errors,
continuum extrapolations, a Markdown report) and the classical artifacts of smooth fields."""
from .classical import flux_deviations, plane_wave_deviations, tree_level_plane_wave
from .compare import run_study
from .ratios import RATIOS, ensemble_quantities
from .tune import TuneResult, tune_beta

__all__ = ["flux_deviations", "plane_wave_deviations", "tree_level_plane_wave", "run_study",
           "RATIOS", "ensemble_quantities", "TuneResult", "tune_beta"]
