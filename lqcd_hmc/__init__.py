"""lqcd-hmc: lattice gauge theory engine (geometry, groups, fields, actions interface, updates).

This package knows no particular action, observable or workflow (docs/architecture.md):
concrete actions live in the ``actions`` package and are found through the entry-point group
``lqcd_hmc.actions``; conventions are in docs/conventions.md.
"""

__version__ = "0.1.0"

from .action import Action, SumAction, autograd_force, build
from .field import GaugeField
from .groups import SU, U1, Group, get_group
from .heatbath import Heatbath
from .hmc import HMC, TrajectoryStats
from .integrators import SCHEMES, Integrator, Level, get_scheme
from .rng import ChainRNG
from .update import Composition, Update, UpdateStats

__all__ = [
    "Action",
    "SumAction",
    "autograd_force",
    "build",
    "GaugeField",
    "SU",
    "U1",
    "Group",
    "get_group",
    "HMC",
    "TrajectoryStats",
    "SCHEMES",
    "Integrator",
    "Level",
    "get_scheme",
    "ChainRNG",
    "Heatbath",
    "Update",
    "UpdateStats",
    "Composition",
    "__version__",
]
