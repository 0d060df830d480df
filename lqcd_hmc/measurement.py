"""The ``Measurement`` interface for run cards and ``lqcd-hmc measure``.

A measurement maps a :class:`GaugeField` to named columns, each a float64 tensor ``(B, ...)``
(one row per chain); the runner stores them under ``measurements/<name>/<column>`` indexed by
trajectory. Concrete measurements live in ``observables`` and are registered under the
entry-point group ``lqcd_hmc.measurements``.

``lqcd-hmc analyze`` calls the class methods :meth:`Measurement.analyze` (default: every column
element's mean with its Gamma-method error and tau_int, chains as replicas) and
:meth:`Measurement.plot` (default: Monte Carlo histories of the scalar columns) on the stored
table ``{column: array (n, B, ...)}``; a measurement overrides them with its own analysis
(potential fit, flow scales, susceptibility).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch import Tensor

from .field import GaugeField
from .registry import build_registered, registered
from .statistics import gamma_method

ENTRY_POINT_GROUP = "lqcd_hmc.measurements"


class Measurement:
    """Base class: set ``name``, implement ``__call__``."""

    name: ClassVar[str] = ""
    #: axis labels of the columns in plots (symbol and units; "dimensionless" where so)
    labels: ClassVar[dict[str, str]] = {}

    def __call__(self, field: GaugeField) -> dict[str, Tensor]:
        raise NotImplementedError

    def check(self, dims: Sequence[int], group: str) -> None:
        """Refuse (``ValueError``, one line) a lattice this measurement cannot be made on; the
        runner and ``lqcd-hmc measure`` call it before any work. Default: any lattice."""

    @classmethod
    def analyze(cls, table: Mapping[str, np.ndarray], **options: Any) -> dict[str, Any]:
        """Results for ``lqcd-hmc analyze``; ``options`` are the command's analysis options
        (each measurement uses those it knows)."""
        return {"columns": column_statistics(table)}

    @classmethod
    def plot(
        cls,
        table: Mapping[str, np.ndarray],
        result: Mapping[str, Any],
        directory: Path,
        title: str = "",
    ) -> list[Path]:
        """Write PNG plots into ``directory`` (``title`` names the ensemble); returns their
        paths."""
        from .plotting import histories

        return histories(cls.name, table, directory, title, cls.labels)


def column_statistics(table: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Mean, Gamma-method error, tau_int and its error per column element of series
    ``(n, B, ...)``
    (the ``trajectory`` index is skipped)."""
    out = {}
    for col, a in table.items():
        if col == "trajectory":
            continue
        a = np.asarray(a, dtype=np.float64)
        n, B = a.shape[:2]
        flat = a.reshape(n, B, -1)
        stats: list[tuple[float, ...]] = []
        for k in range(flat.shape[2]):
            if n >= 2:
                r = gamma_method(flat[:, :, k].T)
                stats.append((r.mean, r.error, r.tau_int, r.tau_int_error))
            else:
                stats.append((float(flat[:, :, k].mean()), *[float("nan")] * 3))
        shape = a.shape[2:]
        mean, err, tau, dtau = (np.reshape([s[i] for s in stats], shape).tolist() for i in range(4))
        out[col] = {
            "mean": mean,
            "error": err,
            "tau_int": tau,
            "tau_int_error": dtau,
            "n": int(n),
            "chains": int(B),
        }
    return out


def available() -> dict[str, Any]:
    return registered(ENTRY_POINT_GROUP)


def build(config: Mapping[str, Any]) -> Measurement:
    """``{"name": ..., **parameters}`` -> measurement (``interval`` belongs to the runner)."""
    return build_registered(ENTRY_POINT_GROUP, "measurement", config)


def card_entry(config: Mapping[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """``(interval, table, config)`` of a ``[[measure]]`` entry: the results go to
    ``measurements/<table>`` (default the measurement's name); ``config`` is what
    :func:`build` and :func:`parameters` take."""
    cfg = dict(config)
    interval = int(cfg.pop("interval", 1))
    table = cfg.pop("table", None) or cfg["name"]
    return interval, str(table), cfg


def parameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """``name`` and every constructor parameter of the measurement, the card's value or the
    default: what a stored table's schema records (:mod:`lqcd_hmc.io.integrity`), so a card
    that spells out a default and one that omits it give the same schema."""
    params = {k: v for k, v in config.items() if k != "interval"}
    cls = measurement_class(str(params.get("name")))
    if cls is None:
        return params
    sig = inspect.signature(cls)
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in params:
            if p.default is not p.empty:
                params[p.name] = p.default
    return params


def measurement_class(name: str) -> type[Measurement] | None:
    """The registered class of ``name`` (None for a name no installed package provides)."""
    ep = available().get(name)
    return ep.load() if ep is not None else None
