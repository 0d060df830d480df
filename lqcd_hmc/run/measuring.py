"""The measurements of a run: built from the card, checked against the lattice before any work,
each with the schema its table records (:mod:`lqcd_hmc.io.integrity`), and, on resume,
continued with the schema a stored table already has."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from ..io import Ensemble
from ..io.integrity import schema_difference, schema_text
from ..measurement import Measurement, card_entry, parameters
from ..measurement import build as build_measurement


class RunMeasurements:
    """``[(interval, table, measurement)]`` of a card and ``schemas`` (table -> schema)."""

    def __init__(self, configs: Sequence[dict[str, Any]], dims: Sequence[int], group: str):
        self.dims, self.group = tuple(dims), group
        self.entries: list[tuple[int, str, Measurement]] = []
        self.schemas: dict[str, str] = {}
        for config in configs:
            interval, table, m = card_entry(config)
            self.entries.append((interval, table, self._build(m)))
            self.schemas[table] = schema_text(parameters(m))

    def _build(self, config: dict[str, Any]) -> Measurement:
        meas = build_measurement(config)
        meas.check(self.dims, self.group)
        return meas

    def due(self, n: int) -> list[tuple[str, Measurement]]:
        """The measurements of production update ``n`` (none before production)."""
        return [(name, m) for interval, name, m in self.entries if n > 0 and n % interval == 0]

    def continue_tables(self, ens: Ensemble, log: TextIO | None) -> None:
        """Measure into each stored table with the parameters it records (``measure
        --replace`` may have changed them), saying so on ``log`` where they differ from the
        card's."""
        stored = ens.schemas()
        for i, (interval, name, _) in enumerate(self.entries):
            diff = schema_difference(stored[name], self.schemas[name]) if name in stored else None
            if diff:
                self.entries[i] = (interval, name, self._build(json.loads(stored[name])))
                self.schemas[name] = stored[name]
                if log is not None:
                    print(
                        f"lqcd-hmc: measurements/{name} continues with its stored parameters "
                        f"({diff} in the card)",
                        file=log,
                    )
