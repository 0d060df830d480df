"""Fixed-point data: ``lqcd-hmc fp-data`` (ensembles blocked and minimised into FP action values
and derivatives, :mod:`.data`) and ``lqcd-hmc fp-fit`` (the ``fp-param`` fit of such data)."""

from .data import FPCard, fp_data, load_fp_card
from .files import read_fp_data

__all__ = ["FPCard", "fp_data", "load_fp_card", "read_fp_data"]
