"""Every bad-input case through the CLI: a one-line error naming the problem, a non-zero exit,
no traceback, and existing files untouched."""

import hashlib

import numpy as np
import pytest
from cards import small_card, write_card
from click.testing import CliRunner

from lqcd_hmc.cli import main
from lqcd_hmc.config import validate
from lqcd_hmc.io import GaugeConfiguration, write_configuration
from lqcd_hmc.run import run_card


def invoke_fails(args, expect: str):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code != 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.output
    assert (
        "Traceback" not in res.output
        and res.exception is None
        or isinstance(res.exception, SystemExit)
    )
    assert expect in lines[0], lines[0]
    return lines[0]


def cold_su2(dims):
    return np.broadcast_to(np.eye(2, dtype=complex), (len(dims), *dims, 2, 2)).copy()


def digest(*paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture()
def ensemble(tmp_path):
    out = tmp_path / "e.h5"
    run_card(validate(small_card(out, run={"trajectories": 6})), quiet=True)
    return out


@pytest.mark.parametrize(
    "section,change,expect",
    [
        ("lattice", {"colour": 3}, "lattice.colour: unknown key"),
        ("lattice", {"dims": "eight"}, "lattice.dims"),
        ("lattice", {"dims": [4, 1]}, "every lattice extent must be >= 2"),
        ("lattice", {"dims": [4, 4, 4, 4, 4]}, "D = 2, 3 or 4"),
        ("lattice", {"group": "SO(3)"}, "unknown gauge group"),
        ("lattice", {"batch": 0}, "lattice.batch"),
        ("update", {"steps": "ten"}, "update.steps"),
        ("update", {"integrator": "euler"}, "unknown integrator"),
        ("run", {"trajectories": -1}, "run.trajectories"),
        ("action", {"name": "wilsn"}, "unknown action 'wilsn'"),
        ("action", {"gamma": 1.0}, "bad parameters for action 'wilson'"),
        (
            "action",
            {"name": "sum", "terms": [{"name": "wilson", "beta": 2.0}]},  # the card's beta stays
            "bad parameters for action 'sum': beta (only 'terms'",
        ),
        ("update", {"algorithm": "metropolis"}, "update.algorithm"),
        ("update", {"overrelaxation": -1}, "update.overrelaxation"),
        ("update", {"levels": [{"steps": 2}]}, "update.integrator goes in update.levels"),
        ("update", {"levels": [{"steps": 0}]}, "update.levels.0.steps"),
    ],
)
def test_bad_card(tmp_path, section, change, expect):
    card = write_card(tmp_path / "c.toml", small_card(tmp_path / "new.h5", **{section: change}))
    invoke_fails(["run", card], expect)
    assert not (tmp_path / "new.h5").exists()


def test_levels_must_fit_the_actions_time_scales(tmp_path):
    c = small_card(tmp_path / "new.h5")
    del c["update"]["integrator"], c["update"]["steps"]
    c["update"]["levels"] = [{"steps": 2}, {"steps": 2}]
    invoke_fails(
        ["run", write_card(tmp_path / "c.toml", c)],
        "update.levels has 2 levels, but action 'wilson' splits into 1 time scale",
    )
    assert not (tmp_path / "new.h5").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(tmp_path):
    card = write_card(
        tmp_path / "c.toml", small_card(tmp_path / "new.h5", lattice={"device": "cuda"})
    )
    invoke_fails(["run", card], "CUDA is not available")
    assert not (tmp_path / "new.h5").exists()


def test_heatbath_needs_staples_and_a_colouring(tmp_path):
    c = small_card(
        tmp_path / "new.h5", action={"name": "clover", "beta": 2.0}, run={"thermalisation_md": 0}
    )
    c["update"] = "heatbath"
    invoke_fails(["run", write_card(tmp_path / "c.toml", c)], "'clover' provides no staples")
    c = small_card(
        tmp_path / "new.h5",
        action={"name": "iwasaki", "beta": 2.0},
        lattice={"dims": [4, 2]},
        run={"thermalisation_md": 0},
    )
    c["update"] = "heatbath"
    invoke_fails(["run", write_card(tmp_path / "d.toml", c)], "no colouring")
    c["update"] = {"algorithm": "heatbath"}
    c["run"]["thermalisation_md"] = 2
    invoke_fails(["run", write_card(tmp_path / "e.toml", c)], "thermalisation_md applies to HMC")
    assert not (tmp_path / "new.h5").exists()


def test_bad_measurement_and_set(tmp_path):
    c = small_card(tmp_path / "new.h5")
    c["measure"].append({"name": "glueball"})
    invoke_fails(["run", write_card(tmp_path / "c.toml", c)], "unknown measurement 'glueball'")
    card = write_card(tmp_path / "d.toml", small_card(tmp_path / "new.h5"))
    invoke_fails(["run", card, "--set", "lattice.nonsense=1"], "lattice.nonsense: unknown key")
    invoke_fails(["run", card, "--set", "novalue"], "expected key=value")
    (tmp_path / "bad.toml").write_text("[lattice\n")
    invoke_fails(["run", tmp_path / "bad.toml"], "not valid TOML")
    invoke_fails(["run", tmp_path / "missing.toml"], "no such run card")
    for n in ("0", "-1"):
        invoke_fails(["--threads", n, "run", card], f"--threads must be at least 1, got {n}")
    for value in ("nan", "inf", "-inf"):
        invoke_fails(
            ["run", card, "--set", f"action.beta={value}"], "action.beta: must be a finite number"
        )
    invoke_fails(["run", card, "--set", "update.tau=nan"], "update.tau: must be a finite number")
    for value in ("0", "-1", "0.0"):
        invoke_fails(
            ["run", card, "--set", f"action.beta={value}"], "action 'wilson': beta must be positive"
        )
    assert not (tmp_path / "new.h5").exists()


def test_output_holds_an_ensemble(tmp_path, ensemble):
    before = digest(ensemble)
    card = write_card(tmp_path / "c.toml", small_card(ensemble, run={"trajectories": 6}))
    invoke_fails(["run", card], "exists already; pass --resume")
    other = write_card(tmp_path / "o.toml", small_card(ensemble, action={"beta": 3.0}))
    invoke_fails(["run", other, "--resume"], "the card changes action.beta")
    stranger = tmp_path / "s.h5"
    write_configuration(stranger, GaugeConfiguration(cold_su2((4, 4)), "SU(2)"), "hdf5")
    sbefore = digest(stranger)
    invoke_fails(
        ["run", write_card(tmp_path / "s.toml", small_card(stranger)), "--resume"],
        "holds no run card",
    )
    orphan = tmp_path / "gone.h5.segments"
    orphan.mkdir()
    invoke_fails(
        ["run", write_card(tmp_path / "g.toml", small_card(tmp_path / "gone.h5"))],
        "exists without its ensemble file",
    )
    assert orphan.is_dir() and not (tmp_path / "gone.h5").exists()
    (tmp_path / "text.h5").write_text("not an ensemble")
    invoke_fails(
        ["run", write_card(tmp_path / "t.toml", small_card(tmp_path / "text.h5")), "--resume"],
        "unreadable HDF5 ensemble",
    )
    assert digest(ensemble) == before and digest(stranger) == sbefore


def test_corrupted_and_truncated_files(tmp_path, ensemble):
    data = ensemble.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    for args in (
        ["info", trunc],
        ["convert", trunc, tmp_path / "x.nersc"],
        ["measure", trunc, "--card", tmp_path / "m.toml"],
    ):
        (tmp_path / "m.toml").write_text('[[measure]]\nname = "plaquette"\n')
        invoke_fails(args, "trunc.h5")
    assert not (tmp_path / "x.nersc").exists()
    card = write_card(tmp_path / "c.toml", small_card(trunc))
    before = digest(trunc)
    invoke_fails(["run", card, "--resume"], "unreadable HDF5 ensemble")
    assert digest(trunc) == before

    from lqcd_hmc.io import Ensemble

    first = Ensemble(ensemble).trajectories()[0]  # not the checkpoint's links
    links, _ = Ensemble(ensemble).config(first)
    at = data.find(links[0, 0, 1, 2].tobytes())
    assert data.find(links[0, 0, 1, 2].tobytes(), at + 1) < 0
    assert at > 0
    flipped = tmp_path / "flip.h5"
    flipped.write_bytes(data[: at + 5] + bytes([data[at + 5] ^ 1]) + data[at + 6 :])
    invoke_fails(["info", flipped], f"/configs/{first:08d} fails its checksum")
    invoke_fails(
        ["convert", flipped, tmp_path / "y.h5", "--trajectory", first], "fails its checksum"
    )
    assert not (tmp_path / "y.h5").exists()


def test_exchange_file_problems(tmp_path):
    from lqcd_hmc import ChainRNG, GaugeField

    U = GaugeField.hot((2, 2, 2, 4), "SU(3)", ChainRNG(1, 1)).links[0].numpy()
    good = tmp_path / "g.nersc"
    write_configuration(good, GaugeConfiguration(U, "SU(3)"), "nersc")
    text = good.read_bytes()
    bad_sum = tmp_path / "sum.nersc"
    i = text.index(b"END_HEADER") + 20
    bad_sum.write_bytes(text[:i] + bytes([text[i] ^ 0x10]) + text[i + 1 :])
    invoke_fails(["info", bad_sum], "checksum mismatch")
    s = text.index(b"PLAQUETTE = ") + 12
    bad_plaq = tmp_path / "plaq.nersc"
    bad_plaq.write_bytes(text[:s] + b"0.77" + text[text.index(b"\n", s) :])
    invoke_fails(["convert", bad_plaq, tmp_path / "p.h5"], "plaquette mismatch")
    invoke_fails(["convert", good, tmp_path / "out.xyz"], "cannot tell the format")
    exists = tmp_path / "exists.lime"
    exists.write_bytes(b"keep me")
    invoke_fails(["convert", good, exists], "exists; pass --overwrite")
    assert exists.read_bytes() == b"keep me"
    su2 = tmp_path / "su2.h5"
    write_configuration(su2, GaugeConfiguration(cold_su2((2, 2, 2, 2)), "SU(2)"), "hdf5")
    invoke_fails(["convert", su2, tmp_path / "su2.nersc"], "SU(3) gauge fields in D = 4")
    invoke_fails(["info", tmp_path / "nothing.h5"], "no such file")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01\x02" * 50)
    invoke_fails(["info", junk], "not an openQCD file")


def test_good_commands_work(tmp_path, ensemble):
    import json

    res = CliRunner().invoke(main, ["info", str(ensemble), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["format"] == "hdf5" and d["batch"] == 2 and d["checksums"] == "verified"
    m = tmp_path / "m.toml"
    m.write_text('[[measure]]\nname = "polyakov_loop"\n')
    res = CliRunner().invoke(main, ["measure", str(ensemble), "--card", str(m), "--json"])
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.output)["polyakov_loop"]) == {"re", "im"}
    invoke_fails(["measure", ensemble, "--card", m], "already holds measurements/polyakov_loop")
    nersc = tmp_path / "one.nersc"
    from lqcd_hmc import ChainRNG, GaugeField

    U = GaugeField.hot((2, 2, 2, 2), "SU(3)", ChainRNG(2, 1)).links[0].numpy()
    write_configuration(nersc, GaugeConfiguration(U, "SU(3)"), "nersc")
    p = tmp_path / "p.toml"
    p.write_text('[[measure]]\nname = "plaquette"\n')
    res = CliRunner().invoke(main, ["measure", str(nersc), "--card", str(p), "--json"])
    assert res.exit_code == 0, res.output
    from lqcd_hmc.io.su3 import array_plaquette

    assert json.loads(res.output)["plaquette"]["plaquette"]["mean"] == pytest.approx(
        array_plaquette(U)
    )
    res = CliRunner().invoke(main, ["measure", str(ensemble), "--card", str(m), "--replace"])
    assert res.exit_code == 0, res.output
