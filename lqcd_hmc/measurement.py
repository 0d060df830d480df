"""The ``Measurement`` interface for run cards and ``lqcd-hmc measure``.

A measurement maps a :class:`GaugeField` to named columns, each a float64 tensor ``(B, ...)``
(one row per chain); the runner stores them under ``measurements/<name>/<column>`` indexed by
trajectory. Concrete measurements live in ``observables`` and are registered under the
entry-point group ``lqcd_hmc.measurements``.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from torch import Tensor

from .field import GaugeField
from .registry import build_registered, registered

ENTRY_POINT_GROUP = "lqcd_hmc.measurements"


class Measurement:
    """Base class: set ``name``, implement ``__call__``."""

    name: ClassVar[str] = ""

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        raise NotImplementedError


def available() -> dict[str, Any]:
    return registered(ENTRY_POINT_GROUP)


def build(config: Mapping[str, Any]) -> Measurement:
    """``{"name": ..., **parameters}`` -> measurement (``interval`` belongs to the runner)."""
    return build_registered(ENTRY_POINT_GROUP, "measurement", config)
