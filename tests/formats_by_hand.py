"""Gauge-field files written byte by byte from the formats' specifications, independently of
lqcd_hmc.io (plain Python loops, struct, zlib): NERSC (Gauge Connection archive format),
ILDG/SciDAC LIME (c-lime 1.2, ILDG binary format, QIO checksum), openQCD (archive.c)."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def np_plaquette(U: np.ndarray) -> float:
    """<Re Tr U_p>/3 of ``U`` (4, Lx, Ly, Lz, Lt, 3, 3) with numpy rolls."""
    dag = lambda M: np.conj(M).swapaxes(-1, -2)
    vals = []
    for mu in range(4):
        for nu in range(mu + 1, 4):
            P = U[mu] @ np.roll(U[nu], -1, axis=mu) @ dag(np.roll(U[mu], -1, axis=nu)) @ dag(U[nu])
            vals.append(np.trace(P, axis1=-2, axis2=-1).real.mean() / 3)
    return float(np.mean(vals))


def sites_txyz_x_fastest(dims):
    Lx, Ly, Lz, Lt = dims
    for t in range(Lt):
        for z in range(Lz):
            for y in range(Ly):
                for x in range(Lx):
                    yield x, y, z, t


def _words(value: float, fmt: str) -> int:
    if fmt == "d":
        q = struct.unpack("<Q", struct.pack("<d", value))[0]
        return (q & 0xFFFFFFFF) + (q >> 32)
    return struct.unpack("<I", struct.pack("<f", value))[0]


def nersc_bytes(U: np.ndarray, rows: int = 3, fmt: str = "d", endian: str = ">") -> bytes:
    dims = U.shape[1:5]
    body = bytearray()
    csum = 0
    for x, y, z, t in sites_txyz_x_fastest(dims):
        for mu in range(4):
            for a in range(rows):
                for b in range(3):
                    for part in (U[mu, x, y, z, t, a, b].real, U[mu, x, y, z, t, a, b].imag):
                        v = float(part)
                        body += struct.pack(endian + fmt, v)
                        csum += _words(struct.unpack(fmt, struct.pack(fmt, v))[0], fmt)
    fp = ("IEEE64" if fmt == "d" else "IEEE32") + ("BIG" if endian == ">" else "LITTLE")
    trace = float(
        np.mean(
            [
                np.trace(U[mu, x, y, z, t]).real / 3
                for x, y, z, t in sites_txyz_x_fastest(dims)
                for mu in range(4)
            ]
        )
    )
    head = [
        "BEGIN_HEADER",
        "HDR_VERSION = 1.0",
        f"DATATYPE = {'4D_SU3_GAUGE_3x3' if rows == 3 else '4D_SU3_GAUGE'}",
        *[f"DIMENSION_{i + 1} = {d}" for i, d in enumerate(dims)],
        f"CHECKSUM = {csum & 0xFFFFFFFF:x}",
        f"LINK_TRACE = {trace:.10f}",
        f"PLAQUETTE = {np_plaquette(U):.10f}",
        f"FLOATING_POINT = {fp}",
        "ENSEMBLE_ID = by-hand",
        "SEQUENCE_NUMBER = 7",
        "END_HEADER",
    ]
    return ("\n".join(head) + "\n").encode() + bytes(body)


def lime_record(kind: str, data: bytes, mb: bool, me: bool) -> bytes:
    flags = (1 << 15 if mb else 0) | (1 << 14 if me else 0)
    head = struct.pack(">IHHQ", 0x456789AB, 1, flags, len(data)) + kind.encode().ljust(128, b"\0")
    return head + data + b"\0" * ((8 - len(data) % 8) % 8)


def ildg_bytes(U: np.ndarray, fmt: str = "d") -> bytes:
    dims = U.shape[1:5]
    body = bytearray()
    suma = sumb = 0
    for rank, (x, y, z, t) in enumerate(sites_txyz_x_fastest(dims)):
        site = b"".join(
            struct.pack(">" + fmt * 2, U[mu, x, y, z, t, a, b].real, U[mu, x, y, z, t, a, b].imag)
            for mu in range(4)
            for a in range(3)
            for b in range(3)
        )
        crc = zlib.crc32(site)
        for shift, acc in ((rank % 29, "a"), (rank % 31, "b")):
            rot = ((crc << shift) | (crc >> (32 - shift))) & 0xFFFFFFFF
            if acc == "a":
                suma ^= rot
            else:
                sumb ^= rot
        body += site
    lx, ly, lz, lt = dims
    prec = 64 if fmt == "d" else 32
    fmtxml = (
        f"<?xml version='1.0'?><ildgFormat><version>1.0</version><field>su3gauge</field>"
        f"<precision>{prec}</precision><lx>{lx}</lx><ly>{ly}</ly><lz>{lz}</lz>"
        f"<lt>{lt}</lt></ildgFormat>"
    ).encode()
    cks = (
        f"<?xml version='1.0'?><scidacChecksum><version>1.0</version><suma>{suma:x}</suma>"
        f"<sumb>{sumb:x}</sumb></scidacChecksum>"
    ).encode()
    return (
        lime_record("scidac-private-file-xml", b"<scidacFile/>", True, False)
        + lime_record("scidac-file-xml", b"<info/>", False, True)
        + lime_record("ildg-format", fmtxml, True, False)
        + lime_record("ildg-binary-data", bytes(body), False, False)
        + lime_record("scidac-checksum", cks, False, False)
        + lime_record("ildg-data-lfn", b"lfn://by-hand", False, True)
    )


def openqcd_bytes(U: np.ndarray) -> bytes:
    Lx, Ly, Lz, Lt = U.shape[1:5]
    N = (Lt, Lx, Ly, Lz)
    out = bytearray(struct.pack("<4id", *N, 3 * np_plaquette(U)))
    ours = (3, 0, 1, 2)  # openQCD direction k -> our direction
    for x0 in range(Lt):
        for x1 in range(Lx):
            for x2 in range(Ly):
                for x3 in range(Lz):
                    if (x0 + x1 + x2 + x3) % 2 == 0:
                        continue
                    pos = [x1, x2, x3, x0]  # our (x, y, z, t)
                    for k in range(4):
                        mu = ours[k]
                        back = list(pos)
                        back[mu] = (back[mu] - 1) % U.shape[1 + mu]
                        for M in (U[mu][tuple(pos)], U[mu][tuple(back)]):
                            for a in range(3):
                                for b in range(3):
                                    out += struct.pack("<dd", M[a, b].real, M[a, b].imag)
    return bytes(out)
