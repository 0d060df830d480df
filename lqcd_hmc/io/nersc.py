"""NERSC (Gauge Connection) archive format for SU(3), D = 4.

ASCII header between ``BEGIN_HEADER`` and ``END_HEADER`` lines of ``KEY = value`` pairs
(``DATATYPE`` = ``4D_SU3_GAUGE_3x3`` or ``4D_SU3_GAUGE`` for two rows, ``DIMENSION_1..4`` = Lx, Ly,
Lz, Lt, ``FLOATING_POINT`` = ``IEEE32|IEEE64`` + ``BIG|LITTLE`` (no suffix = big), ``CHECKSUM``
in hex, ``PLAQUETTE`` = <Re Tr U_p>/3, ``LINK_TRACE`` = <Re Tr U>/3), then the links with t
slowest and x fastest, directions x, y, z, t per site, each matrix (or its first two rows)
row-major as (re, im) pairs. Checksum: :func:`nersc_checksum` of the data as stored.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .checksums import nersc_checksum
from .errors import FormatError
from .su3 import (
    array_plaquette,
    check_close,
    from_tzyx,
    link_trace,
    require_finite,
    third_row,
    to_tzyx,
)

MAGIC = b"BEGIN_HEADER"
_MAX_HEADER = 1 << 16


def _float_dtype(fp: str, path) -> np.dtype:
    fp = fp.upper()
    bits = {"IEEE32": 4, "IEEE64": 8}.get(fp[:6])
    order = {"": ">", "BIG": ">", "LITTLE": "<"}.get(fp[6:])
    if bits is None or order is None:
        raise FormatError(f"{path}: unknown FLOATING_POINT {fp!r}")
    return np.dtype(f"{order}c{2 * bits}")


def read_header(f, path) -> tuple[dict[str, str], int]:
    """The header as a dict and the byte offset where the data begins."""
    head = f.read(_MAX_HEADER)
    end = head.find(b"END_HEADER")
    if not head.startswith(MAGIC) or end < 0:
        raise FormatError(f"{path}: not a NERSC file (no BEGIN_HEADER ... END_HEADER)")
    nl = head.find(b"\n", end)
    if nl < 0:
        raise FormatError(f"{path}: truncated NERSC header")
    header = {}
    for line in head[len(MAGIC) : end].decode("ascii", "replace").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            header[key.strip()] = value.strip()
    return header, nl + 1


def _header_int(header: dict[str, str], key: str, path, base: int = 10) -> int:
    if key not in header:
        raise FormatError(f"{path}: NERSC header lacks {key}")
    try:
        return int(header[key], base)
    except ValueError:
        kind = "hexadecimal" if base == 16 else "an integer"
        raise FormatError(f"{path}: NERSC header {key} = {header[key]!r} is not {kind}") from None


def read(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Links ``(4, Lx, Ly, Lz, Lt, 3, 3)`` complex128 and the header; checks size, checksum,
    plaquette and link trace, and refuses non-finite links. The returned header has
    ``checksums`` = ``"verified"`` or ``"absent"`` (a file without ``CHECKSUM``)."""
    with open(path, "rb") as f:
        header, offset = read_header(f, path)
        dims = tuple(_header_int(header, f"DIMENSION_{i}", path) for i in range(1, 5))
        if "DATATYPE" not in header:
            raise FormatError(f"{path}: NERSC header lacks DATATYPE")
        datatype, fp = header["DATATYPE"], header.get("FLOATING_POINT", "IEEE64BIG")
        rows = {"4D_SU3_GAUGE_3x3": 3, "4D_SU3_GAUGE": 2}.get(datatype)
        if rows is None:
            raise FormatError(f"{path}: unsupported NERSC DATATYPE {datatype!r}")
        if min(dims) < 1:
            raise FormatError(f"{path}: bad dimensions {dims}")
        dtype = _float_dtype(fp, path)
        Lx, Ly, Lz, Lt = dims
        shape = (Lt, Lz, Ly, Lx, 4, rows, 3)
        f.seek(offset)
        raw = f.read()
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != need:
        raise FormatError(
            f"{path}: data holds {len(raw)} bytes, the header implies {need} "
            f"(truncated or wrong header)"
        )
    data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    header["checksums"] = "absent"
    if "CHECKSUM" in header:
        stored = _header_int(header, "CHECKSUM", path, 16)
        computed = nersc_checksum(data)
        if stored != computed:
            raise FormatError(
                f"{path}: NERSC checksum mismatch: header {stored:08x}, data {computed:08x}"
            )
        header["checksums"] = "verified"
    data = data.astype(np.complex128)
    U = from_tzyx(third_row(data) if rows == 2 else data)
    require_finite(path, U)
    tol = 1e-5 if dtype.itemsize == 8 else 1e-4
    for key, what, fn in (
        ("PLAQUETTE", "plaquette", array_plaquette),
        ("LINK_TRACE", "link trace", link_trace),
    ):
        if key in header:
            try:
                stored_value = float(header[key])
            except ValueError:
                raise FormatError(
                    f"{path}: NERSC header {key} = {header[key]!r} is not a number"
                ) from None
            check_close(path, what, stored_value, fn(U), tol)
    return U, header


def write(
    path: str | os.PathLike,
    U: np.ndarray,
    *,
    two_row: bool = False,
    precision: int = 64,
    byte_order: str = "big",
    sequence_number: int = 0,
    ensemble_id: str = "lqcd-hmc",
) -> None:
    """Write ``U`` (``(4, Lx, Ly, Lz, Lt, 3, 3)``) with a full header to ``path``."""
    if precision not in (32, 64) or byte_order not in ("big", "little"):
        raise ValueError(
            f"NERSC precision must be 32 or 64 and byte order big or little, got "
            f"{precision}, {byte_order!r}"
        )
    order = ">" if byte_order == "big" else "<"
    data = to_tzyx(U)
    if two_row:
        data = data[..., :2, :]
    data = np.ascontiguousarray(data.astype(f"{order}c{precision // 4}"))
    Lx, Ly, Lz, Lt = U.shape[1:5]
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
    fields = {
        "HDR_VERSION": "1.0",
        "DATATYPE": "4D_SU3_GAUGE" if two_row else "4D_SU3_GAUGE_3x3",
        "STORAGE_FORMAT": "1.0",
        "DIMENSION_1": Lx,
        "DIMENSION_2": Ly,
        "DIMENSION_3": Lz,
        "DIMENSION_4": Lt,
        "LINK_TRACE": f"{link_trace(U):.15g}",
        "PLAQUETTE": f"{array_plaquette(U):.15g}",
        **{f"BOUNDARY_{i}": "PERIODIC" for i in range(1, 5)},
        "CHECKSUM": f"{nersc_checksum(data):08x}",
        "ENSEMBLE_ID": ensemble_id,
        "ENSEMBLE_LABEL": ensemble_id,
        "SEQUENCE_NUMBER": sequence_number,
        "CREATOR": "lqcd-hmc",
        "CREATION_DATE": stamp,
        "ARCHIVE_DATE": stamp,
        "FLOATING_POINT": f"IEEE{precision}{byte_order.upper()}",
    }
    text = "BEGIN_HEADER\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()) + "END_HEADER\n"
    with open(path, "wb") as f:
        f.write(text.encode("ascii"))
        f.write(data.tobytes())


def is_nersc(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC
