"""Fast paths for the hot loops, next to the complex reference path they must reproduce.

- :mod:`.split`: SU(N) matrix fields as one real tensor ``(2, N, N, *rest)`` (real and
  imaginary parts, colour indices first), products written as element-wise arithmetic so that
  ``torch.compile`` fuses them;
- :mod:`.planar`: planar-loop actions (Wilson, Lüscher-Weisz without parallelograms) and
  their forces in that layout;
- :mod:`.dynamics`: the molecular-dynamics force and link update on split fields, used by
  :class:`lqcd_hmc.HMC` with ``kernels="split"`` or ``"compiled"``.
"""
from .dynamics import KERNELS, SplitDynamics, check_kernels, compiled, planar_terms
from .split import from_split, to_split

__all__ = ["KERNELS", "SplitDynamics", "check_kernels", "compiled", "planar_terms",
           "from_split", "to_split"]
