"""Fixed-point actions: the RG blocking kernel, the FP equation solved by minimisation with
derivatives, FP training data (``lqcd-hmc fp-data``) and a hand-made parametrisation
(``fp-param``)."""
from .blocking import Blocking, max_trace_projection
from .minimise import FixedPoint, FPResult, unblock
from .parametrisation import FPParametrisation, fit, polynomial_terms

__all__ = ["Blocking", "max_trace_projection", "FixedPoint", "FPResult", "unblock",
           "FPParametrisation", "fit", "polynomial_terms"]
