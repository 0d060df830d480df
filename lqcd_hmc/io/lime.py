"""LIME containers and the ILDG/SciDAC gauge-field file inside them (SU(3), D = 4).

LIME (USQCD c-lime 1.2): a sequence of records, each a 144-byte big-endian header (uint32 magic
``0x456789ab``, uint16 version 1, uint16 flags with bit 15 = message begin and bit 14 = message
end, uint64 data length, 128-byte NUL-padded type string), then the data, NUL-padded to a multiple
of 8 bytes.

ILDG (ILDG binary file format 1.1): record ``ildg-format`` (XML with field, precision, lx..lt),
``ildg-binary-data`` (big-endian IEEE floats, sites with x fastest and t slowest, directions x, y,
z, t, row-major 3x3 complex) and ``ildg-data-lfn``; SciDAC adds ``scidac-private-file-xml``,
``scidac-private-record-xml`` and ``scidac-checksum`` (suma/sumb, :func:`scidac_checksum`). We
also write the plaquette and link trace into ``scidac-record-xml`` and check them on read when
present.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from .checksums import scidac_checksum
from .errors import FormatError
from .su3 import array_plaquette, check_close, from_tzyx, link_trace, require_finite, to_tzyx

MAGIC = 0x456789AB
_HEADER = struct.Struct(">IHHQ128s")


@dataclass
class Record:
    type: str
    data: bytes
    begin: bool = False
    end: bool = False


def read_records(path: str | os.PathLike) -> list[Record]:
    """All records of a LIME file (a truncated record or a bad magic number is an error)."""
    records: list[Record] = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while True:
            head = f.read(_HEADER.size)
            if not head:
                break
            if len(head) != _HEADER.size:
                raise FormatError(f"{path}: truncated LIME record header")
            magic, _version, flags, length, kind = _HEADER.unpack(head)
            if magic != MAGIC:
                raise FormatError(
                    f"{path}: bad LIME magic number {magic:#010x} at record {len(records)}"
                )
            name = kind.rstrip(b"\0").decode("ascii", "replace")
            if length > size - f.tell():
                raise FormatError(
                    f"{path}: LIME record {name!r} claims {length} bytes, the file holds "
                    f"{size - f.tell()} more (truncated or corrupted)"
                )
            data = f.read(length)
            if len(data) != length:
                raise FormatError(f"{path}: truncated LIME record {name!r}")
            f.read(-length % 8)
            records.append(Record(name, data, bool(flags & 0x8000), bool(flags & 0x4000)))
    return records


def write_records(path: str | os.PathLike, messages: list[list[Record]]) -> None:
    """Write messages (lists of records) with the MB/ME flags set on their first/last record."""
    with open(path, "wb") as f:
        for message in messages:
            for i, rec in enumerate(message):
                flags = (0x8000 if i == 0 else 0) | (0x4000 if i == len(message) - 1 else 0)
                f.write(_HEADER.pack(MAGIC, 1, flags, len(rec.data), rec.type.encode("ascii")))
                f.write(rec.data)
                f.write(b"\0" * (-len(rec.data) % 8))


def _xml_value(xml: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}>\s*([^<]*?)\s*</{tag}>", xml)
    return m.group(1) if m else None


def read(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Links ``(4, Lx, Ly, Lz, Lt, 3, 3)`` complex128 and the metadata; checks the SciDAC
    checksum and, when present, our plaquette and link trace."""
    recs = {r.type: r.data for r in read_records(path)}
    if "ildg-format" not in recs or "ildg-binary-data" not in recs:
        raise FormatError(f"{path}: LIME file without ildg-format and ildg-binary-data records")
    fmt = recs["ildg-format"].decode("utf-8", "replace")
    try:
        field = _xml_value(fmt, "field")
        precision = int(_xml_value(fmt, "precision") or "")
        dims = tuple(int(_xml_value(fmt, t) or "") for t in ("lx", "ly", "lz", "lt"))
    except ValueError:
        raise FormatError(f"{path}: incomplete ildg-format record") from None
    if field != "su3gauge" or precision not in (32, 64):
        raise FormatError(
            f"{path}: ILDG field {field!r} with precision {precision} is not an "
            f"SU(3) gauge field in 32 or 64 bit"
        )
    Lx, Ly, Lz, Lt = dims
    dtype = np.dtype(f">c{precision // 4}")
    raw = recs["ildg-binary-data"]
    need = Lt * Lz * Ly * Lx * 4 * 9 * dtype.itemsize
    if len(raw) != need:
        raise FormatError(f"{path}: ildg-binary-data holds {len(raw)} bytes, {need} expected")
    meta = {"precision": precision, "dims": dims}
    if "scidac-checksum" in recs:
        xml = recs["scidac-checksum"].decode("utf-8", "replace")
        try:
            stored = (
                int(_xml_value(xml, "suma") or "", 16),
                int(_xml_value(xml, "sumb") or "", 16),
            )
        except ValueError:
            raise FormatError(
                f"{path}: scidac-checksum record lacks or garbles suma/sumb"
            ) from None
        computed = scidac_checksum(np.frombuffer(raw, np.uint8).reshape(Lx * Ly * Lz * Lt, -1))
        if stored != computed:
            raise FormatError(
                f"{path}: SciDAC checksum mismatch: stored suma/sumb "
                f"{stored[0]:08x}/{stored[1]:08x}, data "
                f"{computed[0]:08x}/{computed[1]:08x}"
            )
        meta["scidac_checksum"] = computed
    meta["checksums"] = "verified" if "scidac_checksum" in meta else "absent"
    U = from_tzyx(np.frombuffer(raw, dtype).reshape(Lt, Lz, Ly, Lx, 4, 3, 3).astype(np.complex128))
    require_finite(path, U)
    user = recs.get("scidac-record-xml", b"").decode("utf-8", "replace")
    tol = 1e-5 if precision == 64 else 1e-4
    for tag, what, fn in (
        ("plaquette", "plaquette", array_plaquette),
        ("linkTrace", "link trace", link_trace),
    ):
        value = _xml_value(user, tag)
        if value is not None:
            check_close(path, what, float(value), fn(U), tol)
            meta[tag] = float(value)
    return U, meta


def write(path: str | os.PathLike, U: np.ndarray, *, precision: int = 64, lfn: str = "") -> None:
    """Write ``U`` as an ILDG file with SciDAC records and checksum."""
    if precision not in (32, 64):
        raise ValueError(f"ILDG precision must be 32 or 64, got {precision}")
    Lx, Ly, Lz, Lt = U.shape[1:5]
    raw = np.ascontiguousarray(to_tzyx(U).astype(f">c{precision // 4}")).tobytes()
    suma, sumb = scidac_checksum(np.frombuffer(raw, np.uint8).reshape(Lx * Ly * Lz * Lt, -1))
    xml = '<?xml version="1.0" encoding="UTF-8"?>'
    private_file = (
        f"{xml}<scidacFile><version>1.1</version><spacetime>4</spacetime>"
        f"<dims>{Lx} {Ly} {Lz} {Lt}</dims><volfmt>0</volfmt></scidacFile>"
    )
    private_record = (
        f"{xml}<scidacRecord><version>1.1</version><date></date>"
        f"<recordtype>0</recordtype><datatype>QDP_D3_ColorMatrix</datatype>"
        f"<precision>{'D' if precision == 64 else 'F'}</precision><colors>3"
        f"</colors><spins>4</spins><typesize>{18 * precision // 8}</typesize>"
        f"<datacount>4</datacount></scidacRecord>"
    )
    user_record = (
        f"{xml}<lqcdHmc><plaquette>{array_plaquette(U):.17g}</plaquette>"
        f"<linkTrace>{link_trace(U):.17g}</linkTrace></lqcdHmc>"
    )
    ildg_format = (
        f'{xml}<ildgFormat xmlns="http://www.lqcd.org/ildg"><version>1.0</version>'
        f"<field>su3gauge</field><precision>{precision}</precision><lx>{Lx}</lx>"
        f"<ly>{Ly}</ly><lz>{Lz}</lz><lt>{Lt}</lt></ildgFormat>"
    )
    checksum = (
        f"{xml}<scidacChecksum><version>1.0</version><suma>{suma:x}</suma>"
        f"<sumb>{sumb:x}</sumb></scidacChecksum>"
    )
    write_records(
        path,
        [
            [
                Record("scidac-private-file-xml", private_file.encode()),
                Record("scidac-file-xml", f"{xml}<lqcdHmc/>".encode()),
            ],
            [
                Record("scidac-private-record-xml", private_record.encode()),
                Record("scidac-record-xml", user_record.encode()),
                Record("ildg-format", ildg_format.encode()),
                Record("ildg-binary-data", raw),
                Record("scidac-checksum", checksum.encode()),
                Record("ildg-data-lfn", lfn.encode()),
            ],
        ],
    )


def is_lime(path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return len(head) == 4 and struct.unpack(">I", head)[0] == MAGIC
