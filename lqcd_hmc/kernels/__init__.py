"""Fast paths for the hot loops, next to the complex reference path they must reproduce.

- :mod:`.split`: SU(N) matrix fields as one real tensor ``(2, N, N, *rest)`` (real and
  imaginary parts, colour indices first), products written as element-wise arithmetic so that
  ``torch.compile`` fuses them;
- :mod:`.planar`: planar-loop actions (Wilson, Lüscher-Weisz without parallelograms) and
  their forces in that layout;
- :mod:`.dynamics`: the force and link update ``exp(h P) U`` on complex fields (the reference)
  or on split fields, used by :class:`lqcd_hmc.HMC` and the gradient flow with
  ``kernels="reference"``, ``"split"`` or ``"compiled"``.
"""

from .dynamics import (
    KERNELS,
    Dynamics,
    ReferenceDynamics,
    SplitDynamics,
    check_kernels,
    compiled,
    make_dynamics,
    planar_terms,
)
from .split import from_split, to_split

__all__ = [
    "KERNELS",
    "Dynamics",
    "ReferenceDynamics",
    "SplitDynamics",
    "check_kernels",
    "compiled",
    "make_dynamics",
    "planar_terms",
    "from_split",
    "to_split",
]
