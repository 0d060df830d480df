"""Checksums on every dataset of an ensemble file, and the measurement schema.

Every dataset of a file of format version 2 carries ``attrs["crc32"]``: zlib's crc32 of its
values in little-endian byte order, C order (:func:`seal`); the run card (the root attribute
``card``) carries ``card_crc32``. A dataset grown by appending rows is re-sealed over all its
rows. :func:`verify_file` re-computes them; a report is "verified" only when every checksum was
present and matched (files of format version 1 have none, and are reported as absent).

Each ``measurements/<name>`` group records the parameters its rows were measured with as
``attrs["schema"]``, a JSON object (:func:`schema_text`); rows of another schema are never
appended to it (:func:`schema_difference`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .checksums import crc32_le
from .errors import FormatError

CRC = "crc32"
CARD_CRC = "card_crc32"


def card_crc32(card: str) -> int:
    return zlib.crc32(card.encode())


def seal(ds: h5py.Dataset) -> None:
    """Record the crc32 of ``ds``'s current values."""
    ds.attrs[CRC] = np.uint32(crc32_le(ds[()]))


def seal_card(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` with ``card_crc32`` added when it holds a card."""
    out = dict(attrs)
    if "card" in out:
        out[CARD_CRC] = np.uint32(card_crc32(str(out["card"])))
    return out


@dataclass
class Integrity:
    """What :func:`verify_file` found: datasets checked, and those without a checksum."""

    checked: int = 0
    absent: list[str] = field(default_factory=list)

    def add(self, other: Integrity) -> None:
        self.checked += other.checked
        self.absent.extend(other.absent)

    def text(self) -> str:
        """``"verified"`` when every checksum was present and matched, else which are absent."""
        if not self.absent:
            return "verified"
        shown = ", ".join(self.absent[:3]) + (" ..." if len(self.absent) > 3 else "")
        return f"not verified: {len(self.absent)} absent ({shown}), {self.checked} matched"


def verify_dataset(ds: h5py.Dataset, where: str) -> bool:
    """True when ``ds`` has a checksum and it matches; False when it has none; a mismatch
    raises :class:`FormatError` naming ``where`` and the dataset."""
    if CRC not in ds.attrs:
        return False
    if crc32_le(ds[()]) != int(ds.attrs[CRC]):
        raise FormatError(f"{where}: {ds.name} fails its checksum (the file is corrupted)")
    return True


def verify_file(f: h5py.File, where: str, configs: bool = True) -> Integrity:
    """Verify every dataset of ``f`` and its card (``configs=False`` skips ``/configs``)."""
    report = Integrity()
    if "card" in f.attrs:
        if CARD_CRC not in f.attrs:
            report.absent.append("card")
        elif card_crc32(str(f.attrs["card"])) != int(f.attrs[CARD_CRC]):
            raise FormatError(f"{where}: the stored run card fails its checksum")
        else:
            report.checked += 1

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset) or (not configs and name.startswith("configs/")):
            return
        if verify_dataset(obj, where):
            report.checked += 1
        else:
            report.absent.append(name)

    f.visititems(visit)
    return report


def schema_text(params: Mapping[str, Any]) -> str:
    """The schema of a measurement: its parameters (``name`` included, ``interval`` not, as the
    sampling is not part of what a row means) as canonical JSON."""
    return json.dumps(
        {k: v for k, v in params.items() if k != "interval"}, sort_keys=True, default=str
    )


def schema_difference(stored: str, new: str) -> str | None:
    """The first parameter in which two schemas differ, as ``"r_max 2 (stored) vs 4"``; None
    when they agree."""
    a, b = json.loads(stored), json.loads(new)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key} {a.get(key, 'unset')} (stored) vs {b.get(key, 'unset')}"
    return None
