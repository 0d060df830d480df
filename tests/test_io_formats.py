"""Exchange formats: hand-built files are read correctly, round trips keep the links, corrupted
files are refused, and SU(3)/D=4-only formats say so."""

import numpy as np
import pytest
from formats_by_hand import ildg_bytes, nersc_bytes, np_plaquette, openqcd_bytes

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.io import (
    FormatError,
    GaugeConfiguration,
    detect,
    read_configuration,
    write_configuration,
)
from lqcd_hmc.io.checksums import nersc_checksum, scidac_checksum

DIMS = (2, 2, 4, 4)


@pytest.fixture(scope="module")
def U():
    return GaugeField.hot(DIMS, "SU(3)", ChainRNG(5, 1)).links[0].numpy()


def test_independent_plaquette_agrees(U):
    from lqcd_hmc.io.su3 import array_plaquette

    assert abs(np_plaquette(U) - array_plaquette(U)) < 1e-14


@pytest.mark.parametrize(
    "rows,fmt,endian", [(3, "d", ">"), (3, "d", "<"), (2, "d", ">"), (3, "f", ">"), (2, "f", "<")]
)
def test_hand_built_nersc(tmp_path, U, rows, fmt, endian):
    p = tmp_path / "cfg.nersc"
    p.write_bytes(nersc_bytes(U, rows, fmt, endian))
    assert detect(p) == "nersc"
    c = read_configuration(p)
    tol = 1e-14 if fmt == "d" else 1e-6
    assert np.abs(c.links - U).max() < tol and c.trajectory == 7


@pytest.mark.parametrize("fmt", ["d", "f"])
def test_hand_built_ildg(tmp_path, U, fmt):
    p = tmp_path / "cfg.lime"
    p.write_bytes(ildg_bytes(U, fmt))
    assert detect(p) == "ildg"
    c = read_configuration(p)
    assert np.abs(c.links - U).max() <= (0.0 if fmt == "d" else 1e-6)
    assert "scidac_checksum" in c.meta


def test_hand_built_openqcd(tmp_path, U):
    p = tmp_path / "cfg.openqcd"
    p.write_bytes(openqcd_bytes(U))
    assert detect(p) == "openqcd"
    c = read_configuration(p)
    assert np.array_equal(c.links, U)


def test_round_trip_all_formats(tmp_path, U):
    """HDF5 -> NERSC -> ILDG -> openQCD -> HDF5 keeps the links exactly in double precision;
    single precision keeps them to float32 rounding."""
    src = tmp_path / "a.h5"
    write_configuration(src, GaugeConfiguration(U, "SU(3)", 3), "hdf5")
    path = src
    for fmt in ("nersc", "ildg", "openqcd", "hdf5"):
        nxt = tmp_path / f"b.{fmt}"
        write_configuration(nxt, read_configuration(path), fmt)
        path = nxt
    assert np.array_equal(read_configuration(path).links, U)
    for kw, tol in (
        ({"precision": 32}, 3e-7),
        ({"two_row": True}, 1e-15),
        ({"two_row": True, "precision": 32, "byte_order": "little"}, 1e-6),
    ):
        p = tmp_path / "c.nersc"
        p.unlink(missing_ok=True)
        write_configuration(p, GaugeConfiguration(U, "SU(3)"), "nersc", **kw)
        assert np.abs(read_configuration(p).links - U).max() < tol, kw
    p = tmp_path / "c.lime"
    write_configuration(p, GaugeConfiguration(U, "SU(3)"), "ildg", precision=32)
    assert np.abs(read_configuration(p).links - U).max() < 3e-7


def test_vectorised_checksums_match_by_hand(U):
    import struct
    import zlib

    raw = U.astype(">c16").tobytes()
    by_hand = (
        sum(struct.unpack(">I", raw[i : i + 4])[0] for i in range(0, len(raw), 4)) & 0xFFFFFFFF
    )
    # a big-endian double's bytes read as two big-endian words are its (high, low) halves
    assert nersc_checksum(U.astype(">c16")) == by_hand
    sites = np.frombuffer(raw, np.uint8).reshape(16, -1)
    a = b = 0
    for r, row in enumerate(sites):
        c = zlib.crc32(row.tobytes())
        a ^= ((c << r % 29) | (c >> (32 - r % 29))) & 0xFFFFFFFF
        b ^= ((c << r % 31) | (c >> (32 - r % 31))) & 0xFFFFFFFF
    assert scidac_checksum(sites) == (a, b)


def _flip(p, offset):
    data = bytearray(p.read_bytes())
    data[offset] ^= 0x40
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["nersc", "ildg", "openqcd", "hdf5"])
def test_flipped_or_truncated_file_refused(tmp_path, U, fmt):
    p = tmp_path / f"x.{fmt}"
    write_configuration(p, GaugeConfiguration(U, "SU(3)"), fmt)
    good = p.read_bytes()
    # a byte in the middle of the link data; for openQCD (no checksum in the format) the
    # exponent byte of a little-endian double, so that the header plaquette catches it
    needle = (
        U[1, 1, 0, 2, 3]
        .astype({"nersc": ">c16", "ildg": ">c16", "openqcd": "<c16", "hdf5": "<c16"}[fmt])
        .tobytes()
    )
    at = good.find(needle)
    assert at > 0
    _flip(p, at + (7 if fmt == "openqcd" else 3))
    with pytest.raises(FormatError):
        read_configuration(p)
    p.write_bytes(good[: len(good) - 100])
    with pytest.raises(FormatError):
        read_configuration(p)


def test_header_plaquette_mismatch_refused(tmp_path, U):
    p = tmp_path / "x.nersc"
    write_configuration(p, GaugeConfiguration(U, "SU(3)"), "nersc")
    text = p.read_bytes()
    start = text.index(b"PLAQUETTE = ") + len(b"PLAQUETTE = ")
    end = text.index(b"\n", start)
    p.write_bytes(text[:start] + b"0.9" + text[end:])
    with pytest.raises(FormatError, match="plaquette mismatch"):
        read_configuration(p)


@pytest.mark.parametrize("group,dims", [("SU(2)", (4, 4, 4, 4)), ("SU(3)", (4, 4, 4))])
def test_exchange_formats_refuse_other_fields(tmp_path, group, dims):
    f = GaugeField.cold(dims, group)
    for fmt in ("nersc", "ildg", "openqcd"):
        with pytest.raises(FormatError, match="SU\\(3\\) gauge fields in D = 4"):
            write_configuration(
                tmp_path / f"x.{fmt}", GaugeConfiguration(f.links[0].numpy(), group), fmt
            )
    write_configuration(tmp_path / "ok.h5", GaugeConfiguration(f.links[0].numpy(), group), "hdf5")
    assert np.array_equal(read_configuration(tmp_path / "ok.h5").links, f.links[0].numpy())
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob(".*partial"))


def test_plaquette_of_cold_field_in_headers(tmp_path):
    U = GaugeField.cold((2, 2, 2, 2), "SU(3)").links[0].numpy()
    write_configuration(tmp_path / "c.nersc", GaugeConfiguration(U, "SU(3)"), "nersc")
    head = (tmp_path / "c.nersc").read_bytes().split(b"END_HEADER")[0].decode()
    assert "PLAQUETTE = 1\n" in head and "LINK_TRACE = 1\n" in head
    write_configuration(tmp_path / "c.openqcd", GaugeConfiguration(U, "SU(3)"), "openqcd")
    import struct

    assert struct.unpack("<4id", (tmp_path / "c.openqcd").read_bytes()[:24])[4] == 3.0


def test_cli_convert_chain_and_info(tmp_path, U):
    import json

    from click.testing import CliRunner

    from lqcd_hmc.cli import main

    write_configuration(tmp_path / "a.h5", GaugeConfiguration(U, "SU(3)", 4), "hdf5")
    chain = ["a.h5", "b.nersc", "c.lime", "d.openqcd", "e.h5"]
    for src, dst in zip(chain, chain[1:]):
        res = CliRunner().invoke(main, ["convert", str(tmp_path / src), str(tmp_path / dst)])
        assert res.exit_code == 0, res.output
    assert np.array_equal(read_configuration(tmp_path / "e.h5").links, U)
    for name, fmt in zip(chain, ["hdf5", "nersc", "ildg", "openqcd", "hdf5"]):
        res = CliRunner().invoke(main, ["info", str(tmp_path / name), "--json"])
        assert res.exit_code == 0, res.output
        d = json.loads(res.output)
        assert d["format"] == fmt and d["dims"] == list(DIMS) and d["group"] == "SU(3)"
        plaq = d["plaquette"][0] if isinstance(d["plaquette"], list) else d["plaquette"]
        assert abs(plaq - np_plaquette(U)) < 1e-12
