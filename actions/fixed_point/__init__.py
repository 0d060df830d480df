"""Fixed-point actions: the RG blocking kernel, the FP equation solved by minimisation with
derivatives and a hand-made parametrisation (``fp-param``). Generating FP data
(``lqcd-hmc fp-data``) is a workflow: :mod:`workflows.fixed_point`."""

from .blocking import Blocking, max_trace_projection
from .minimise import FixedPoint, FPResult, unblock
from .parametrisation import FPParametrisation, fit, polynomial_terms

__all__ = [
    "Blocking",
    "max_trace_projection",
    "FixedPoint",
    "FPResult",
    "unblock",
    "FPParametrisation",
    "fit",
    "polynomial_terms",
]
