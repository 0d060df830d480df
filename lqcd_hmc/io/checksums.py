"""Checksums of the exchange formats, vectorised with numpy (no loop over sites).

* NERSC: the sum, modulo 2^32, of the data viewed as 32-bit unsigned words, the values taken in
  the host representation (a double contributes its low and high 32-bit halves), over the data as
  stored (two rows per link for ``4D_SU3_GAUGE``).
* SciDAC (QIO/LIME): per site, ``c = crc32(site bytes as stored)``; with the lexicographic site
  rank ``r`` (x fastest), ``suma ^= rotl32(c, r mod 29)`` and ``sumb ^= rotl32(c, r mod 31)``
  (USQCD QIO ``DML_checksum_accum``).
* Native HDF5: zlib's crc32 of each chain's links in little-endian byte order.
"""

from __future__ import annotations

import zlib

import numpy as np

_CRC_POLY = np.uint32(0xEDB88320)


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _CRC_POLY, table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()


def crc32_rows(rows: np.ndarray) -> np.ndarray:
    """zlib-compatible crc32 of every row of a ``(n, nbytes)`` uint8 array, all rows at once
    (the byte loop runs over the record length, the rows are vectorised)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        crc = _CRC_TABLE[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def _rotl32(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    x, k = x.astype(np.uint64), k.astype(np.uint64)
    return (((x << k) | (x >> ((32 - k) % 32))) & 0xFFFFFFFF).astype(np.uint32)


def scidac_checksum(site_bytes: np.ndarray) -> tuple[int, int]:
    """``(suma, sumb)`` of a ``(V, bytes per site)`` uint8 array in lexicographic site order."""
    crc = crc32_rows(site_bytes)
    rank = np.arange(site_bytes.shape[0], dtype=np.uint64)
    suma = np.bitwise_xor.reduce(_rotl32(crc, rank % 29)) if crc.size else np.uint32(0)
    sumb = np.bitwise_xor.reduce(_rotl32(crc, rank % 31)) if crc.size else np.uint32(0)
    return int(suma), int(sumb)


def nersc_checksum(values: np.ndarray) -> int:
    """32-bit word sum of real or complex float data (any byte order; values, not bytes)."""
    native = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("="), copy=False)
    words = native.reshape(-1).view(np.uint32)
    return int(words.sum(dtype=np.uint64) & 0xFFFFFFFF)


def crc32_le(values: np.ndarray) -> int:
    """zlib's crc32 of an array's values, little-endian, C order: a chain's links (the HDF5
    ``checksum`` attribute) and every dataset of an ensemble (:mod:`.integrity`)."""
    data = np.ascontiguousarray(values)
    return zlib.crc32(data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes())
