"""The probes of the data-integrity review (issue 22), through the CLI: each bad case ends in
one line and a non-zero exit and leaves every file byte-identical; each good case gives the
right data. Cards are 2D and 3D SU(2) runs of a few seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from cards import small_card, write_card
from click.testing import CliRunner
from test_cli_bad_input import digest, invoke_fails

from lqcd_hmc.cli import main
from lqcd_hmc.config import validate
from lqcd_hmc.field import GaugeField
from lqcd_hmc.io import Ensemble, FormatError, GaugeConfiguration, Pending, write_configuration
from lqcd_hmc.io.hdf5 import FORMAT_VERSION
from lqcd_hmc.io.integrity import schema_text
from lqcd_hmc.io.lock import lock_path
from lqcd_hmc.run import run_card
from observables.measurements import WilsonLoops

CLI = [sys.executable, "-m", "lqcd_hmc"]


def invoke(*args: object) -> str:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def family(path: Path) -> dict:
    """Digests of an ensemble file and of everything beside it that belongs to it."""
    files = [p for p in path.parent.rglob("*") if p.is_file() and path.name in p.name]
    return digest(*sorted(files))


@pytest.fixture()
def ensemble(tmp_path):
    """A finished 4^2 SU(2) ensemble (16 trajectories, measurements, 4 configurations)."""
    out = tmp_path / "e.h5"
    card = write_card(tmp_path / "card.toml", small_card(out))
    invoke("run", card, "--quiet")
    return out


def long_run(tmp_path: Path, checkpoint_interval: int, *options: str):
    """A run of 5000 trajectories started in another process, its stderr piped."""
    out = tmp_path / "e.h5"
    card = write_card(
        tmp_path / "card.toml",
        small_card(out, run={"trajectories": 5000, "checkpoint_interval": checkpoint_interval}),
    )
    # SIGINT back to its default in the child: a test process started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then installs no Ctrl-C handler
    proc = subprocess.Popen(
        [*CLI, "run", str(card), "--no-progress", *options],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return out, card, proc


# -- 1, 2: measurement schemas ----------------------------------------------------------------
def test_readme_sequence_continues_each_table_with_its_schema(tmp_path):
    """run, measure --replace with other wilson_loops parameters, run --resume: the resumed
    run continues the replaced table with its own schema (it once failed after all the work
    and stranded the ensemble), and analyze reads it."""
    out = tmp_path / "e.h5"
    card = write_card(tmp_path / "card.toml", small_card(out))
    invoke("run", card, "--quiet")
    meas = tmp_path / "measure.toml"
    meas.write_text('[[measure]]\nname = "wilson_loops"\nr_max = 1\nt_max = 3\n')
    invoke("measure", out, "--card", meas, "--replace")
    res = CliRunner().invoke(
        main, ["run", str(card), "--resume", "--set", "run.trajectories=24", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "measurements/wilson_loops continues with its stored parameters" in res.output
    ens = Ensemble(out)
    W = ens.table("measurements/wilson_loops")["W"]
    assert W.shape[1:] == (2, 1, 3)
    stored = json.loads(ens.schemas()["wilson_loops"])
    assert (stored["r_max"], stored["t_max"]) == (1, 3)
    assert ens.table("measurements/wilson_loops")["trajectory"].max() == 4 + 24
    invoke("analyze", out)
    assert invoke("info", out, "--json") and json.loads(invoke("info", out, "--json"))[
        "checksums"
    ] == ("verified")


def test_smeared_rows_never_mix_with_unsmeared(tmp_path):
    """The same shape with APE smearing added: the resumed run measures with smearing (the
    table's schema), checked against the smeared measurement of a stored configuration."""
    out = tmp_path / "e.h5"
    base = small_card(out, lattice={"dims": [4, 4, 4]})
    card = write_card(tmp_path / "card.toml", base)
    invoke("run", card, "--quiet")
    smearing = {"method": "ape", "alpha": 0.5, "steps": 2}
    meas = tmp_path / "measure.toml"
    meas.write_text(
        '[[measure]]\nname = "wilson_loops"\nr_max = 2\nt_max = 2\n'
        'smearing = { method = "ape", alpha = 0.5, steps = 2 }\n'
    )
    invoke("measure", out, "--card", meas, "--replace")
    invoke("run", card, "--resume", "--set", "run.trajectories=24", "--quiet")
    ens = Ensemble(out)
    table = ens.table("measurements/wilson_loops")
    smeared = WilsonLoops(2, 2, smearing=smearing)
    for t in (22, 28):  # measured by the resumed run and stored as configurations
        row = table["W"][list(table["trajectory"]).index(t)]
        field = GaugeField(torch.from_numpy(ens.config(t)[0]), "SU(2)")
        np.testing.assert_allclose(row, smeared(field)["W"].numpy(), rtol=0, atol=1e-13)
        plain = WilsonLoops(2, 2)(field)["W"].numpy()
        assert np.abs(row - plain).max() > 1e-3


def test_rows_of_another_schema_are_refused(tmp_path, ensemble):
    """Appending rows measured with other parameters names the parameter; a card that spells
    out a default has the schema of one that omits it."""
    ens = Ensemble(ensemble)
    full = {"name": "wilson_loops", "r_max": 2, "t_max": 2, "planes": "temporal"}
    assert ens.schemas()["wilson_loops"] == schema_text({**full, "shapes": None, "smearing": None})
    cp = ens.checkpoint()
    rows = {"W": np.zeros((2, 3, 2)), "r": np.zeros((2, 3))}
    pending = Pending(
        measurements={"wilson_loops": [(cp.trajectory + 1, rows)]},
        schemas={"wilson_loops": schema_text({**full, "r_max": 3, "shapes": None})},
    )
    before = family(ensemble)
    with pytest.raises(FormatError, match="r_max 2 \\(stored\\) vs 3"):
        ens.commit(pending)
    assert family(ensemble) == before


# -- 3: checksums on everything ---------------------------------------------------------------
@pytest.mark.parametrize(
    "where,expect",
    [
        ("mc/dH", "/mc/dH fails its checksum"),
        ("measurements/plaquette/plaquette", "/measurements/plaquette/plaquette fails"),
        ("checkpoint/rng", "/checkpoint/rng fails its checksum"),
        ("card", "the stored run card fails its checksum"),
    ],
)
def test_a_changed_value_anywhere_is_found(tmp_path, ensemble, where, expect):
    with h5py.File(ensemble, "r+") as f:
        if where == "card":
            f.attrs["card"] = str(f.attrs["card"]).replace("beta = 2.0", "beta = 2.5")
        else:
            data = f[where][()]
            data.reshape(-1)[0] = data.reshape(-1)[0] + 1
            f[where][...] = data
    before = family(ensemble)
    invoke_fails(["info", ensemble], expect)
    card = write_card(tmp_path / "more.toml", small_card(ensemble, run={"trajectories": 20}))
    invoke_fails(["run", card, "--resume"], expect)
    assert family(ensemble) == before


def test_a_corrupted_segment_is_not_packed(tmp_path, monkeypatch):
    out = tmp_path / "e.h5"
    monkeypatch.setattr(Ensemble, "pack", lambda self: None)  # a run killed before its pack
    run_card(validate(small_card(out)), quiet=True)
    monkeypatch.undo()
    seg = sorted((tmp_path / "e.h5.segments").glob("*.h5"))[1]
    with h5py.File(seg, "r+") as f:
        name = sorted(f["configs"])[0]
        f["configs"][name][0, 0, 0, 0] = f["configs"][name][0, 0, 0, 1]
    before = family(out)
    card = write_card(tmp_path / "card.toml", small_card(out))
    invoke_fails(["run", card, "--resume"], f"{seg.name}: /configs/{name} fails its checksum")
    invoke_fails(["info", out], "fails its checksum")
    assert family(out) == before


def test_files_without_checksums_are_not_called_verified(tmp_path, ensemble):
    with h5py.File(ensemble, "r+") as f:
        del f["mc/dH"].attrs["crc32"]
    d = json.loads(invoke("info", ensemble, "--json"))
    assert d["checksums"].startswith("not verified: 1 absent (mc/dH)")
    assert d["checksums_absent"] == ["mc/dH"] and FORMAT_VERSION == 2


def test_exchange_files_without_checksum_or_with_nan_links(tmp_path):
    U = np.broadcast_to(np.eye(3, dtype=complex), (4, 4, 4, 4, 4, 3, 3)).copy()
    path = tmp_path / "a.nersc"
    write_configuration(path, GaugeConfiguration(U, "SU(3)"), "nersc")
    text = path.read_bytes()
    head, data = text.split(b"END_HEADER\n", 1)
    lines = [x for x in head.split(b"\n") if not x.startswith(b"CHECKSUM")]
    bare = tmp_path / "bare.nersc"
    bare.write_bytes(b"\n".join(lines) + b"END_HEADER\n" + data)
    assert json.loads(invoke("info", bare, "--json"))["checksums"] == "absent"
    garbled = tmp_path / "garbled.nersc"
    garbled.write_bytes(text.replace(b"CHECKSUM = ", b"CHECKSUM = zzzz"))
    invoke_fails(["info", garbled], f"{garbled}: NERSC header CHECKSUM = 'zzzz")
    U[0, 1, 2, 3, 0, 0, 0] = np.nan
    for fmt in ("nersc", "ildg"):
        bad = tmp_path / f"nan.{fmt}"
        write_configuration(bad, GaugeConfiguration(U, "SU(3)"), fmt)
        invoke_fails(["info", bad], f"{bad}: 1 links hold NaN or infinite entries")


def test_lime_record_longer_than_the_file(tmp_path):
    bad = tmp_path / "huge.lime"
    bad.write_bytes(struct.pack(">IHHQ128s", 0x456789AB, 1, 0xC000, 2**62, b"ildg-format"))
    invoke_fails(["info", bad], "LIME record 'ildg-format' claims 4611686018427387904 bytes")


# -- 5: the lock ------------------------------------------------------------------------------
def test_one_writer_at_a_time(tmp_path, ensemble):
    """A live writer's lock refuses a second run and a saving measure; a killed writer's lock
    is stale and taken over."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock_path(ensemble).write_text(
            json.dumps(
                {"pid": owner.pid, "host": socket.gethostname(), "command": "x", "since": "now"}
            )
        )
        before = family(ensemble)
        card = write_card(tmp_path / "more.toml", small_card(ensemble, run={"trajectories": 20}))
        invoke_fails(["run", card, "--resume"], f"is being written by pid {owner.pid}")
        meas = tmp_path / "m.toml"
        meas.write_text('[[measure]]\nname = "polyakov_loop"\n')
        invoke_fails(["measure", ensemble, "--card", meas], f"pid {owner.pid}")
        assert family(ensemble) == before
    finally:
        owner.kill()
        owner.wait()
    invoke("run", card, "--resume", "--quiet")  # the dead owner's lock is stale
    assert not lock_path(ensemble).exists()
    assert Ensemble(ensemble).checkpoint_trajectory() == 24


def test_two_runs_at_once_one_refused(tmp_path):
    out, card, first = long_run(tmp_path, 500)
    try:
        for _ in range(600):
            if lock_path(out).exists() and out.exists():
                break
            time.sleep(0.05)
        second = subprocess.run(
            [*CLI, "run", str(card), "--resume"], capture_output=True, text=True
        )
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 1 and len(lines) == 1
        assert f"is being written by pid {first.pid}" in lines[0]
    finally:
        first.kill()
        first.wait()


# -- 6, 7: validation and resources before any work -------------------------------------------
@pytest.mark.parametrize(
    "measure,expect",
    [
        (
            {"name": "wilson_loops", "r_max": 10},
            "wilson_loops extent 10 wraps the spatial extent 4",
        ),
        ({"name": "wilson_loops", "t_max": 4}, "wilson_loops needs t_max < L_t = 4"),
        ({"name": "polyakov_correlator", "r_max": 3}, "polyakov_correlator needs r_max <= L_s/2"),
        ({"name": "topological_charge"}, "topological_charge needs D = 4"),
    ],
)
def test_measurements_checked_before_any_file(tmp_path, measure, expect):
    out = tmp_path / "e.h5"
    card = write_card(tmp_path / "card.toml", small_card(out) | {"measure": [measure]})
    invoke_fails(["run", card], expect)
    assert sorted(os.listdir(tmp_path)) == ["card.toml"]


@pytest.mark.parametrize(
    "lattice,expect",
    [
        ({"dims": [200, 200, 200, 200], "group": "SU(3)", "batch": 1}, "GB of cpu memory"),
        ({"dims": [4, 4, 4, 4], "group": "SU(3)", "batch": 100000}, "x 100000 chains needs"),
    ],
)
def test_memory_estimated_before_any_file(tmp_path, lattice, expect):
    card = write_card(tmp_path / "card.toml", small_card(tmp_path / "e.h5", lattice=lattice))
    invoke_fails(["run", card], expect)
    assert sorted(os.listdir(tmp_path)) == ["card.toml"]


def test_disk_estimated_before_any_file(tmp_path, monkeypatch):
    monkeypatch.setattr("lqcd_hmc.resources.free_disk", lambda path: 10_000)
    card = write_card(tmp_path / "card.toml", small_card(tmp_path / "e.h5"))
    invoke_fails(["run", card], "4 configurations of 4x4 x 2 chains need about")
    assert sorted(os.listdir(tmp_path)) == ["card.toml"]


def test_full_disk_names_the_file_and_keeps_the_ensemble_resumable(tmp_path):
    """A file-size limit (a full disk for this process) at a checkpoint segment and at the
    final pack: one line naming the file, then ``--resume`` without the limit finishes."""
    limited = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "n = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
        "from lqcd_hmc.cli import main; main(prog_name='lqcd-hmc')"
    )
    for limit, expect in ((40_000, "the checkpoint at trajectory"), (80_000, "the final pack")):
        out = tmp_path / f"e{limit}.h5"
        card = write_card(
            tmp_path / f"c{limit}.toml",
            small_card(out, run={"trajectories": 30, "checkpoint_interval": 5}),
        )
        res = subprocess.run(
            [sys.executable, "-c", limited, str(limit), "run", str(card), "--quiet"],
            capture_output=True,
            text=True,
        )
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1, res.stderr
        assert lines[0].startswith(f"Error: {out}: cannot write {expect}") and (
            "File too large; the ensemble keeps its checkpoint" in lines[0]
        )
        invoke("run", card, "--resume", "--quiet")
        assert Ensemble(out).checkpoint_trajectory() == 34 and not Ensemble(out).segments


# -- 8: model checkpoints ---------------------------------------------------------------------
class _Payload:
    def __reduce__(self):
        return (os.system, ("touch ran",))


def test_model_checkpoints_never_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("junk.pt").write_bytes(b"garbage" * 10)
    torch.save({"format": "x", "payload": _Payload()}, "evil.pt")
    for name in ("junk.pt", "evil.pt"):
        card = write_card(
            tmp_path / "card.toml",
            small_card(Path("e.h5"), action={"name": "lcnn", "beta": 2.0, "checkpoint": name}),
        )
        line = invoke_fails(["run", card], f"L-CNN checkpoint {name}: not a PyTorch file")
        assert "weights_only=False" not in line
    assert not Path("ran").exists() and not Path("e.h5").exists()


# -- 11: the small ones -----------------------------------------------------------------------
def test_measure_on_an_exchange_file_reports_and_says_so(tmp_path):
    U = np.broadcast_to(np.eye(3, dtype=complex), (4, 4, 4, 4, 4, 3, 3)).copy()
    path = tmp_path / "a.nersc"
    write_configuration(path, GaugeConfiguration(U, "SU(3)"), "nersc")
    meas = tmp_path / "m.toml"
    meas.write_text('[[measure]]\nname = "plaquette"\n')
    before = digest(path)
    out = invoke("measure", path, "--card", meas)
    assert "the results are reported, not stored" in out and "plaquette.plaquette" in out
    invoke_fails(["measure", path, "--card", meas, "--save"], "pass --no-save, or convert it")
    assert digest(path) == before


def test_ctrl_c_says_how_to_continue(tmp_path):
    out, card, run = long_run(tmp_path, 20, "--set", "run.save_interval=10")
    assert run.stderr is not None
    line = run.stderr.readline()  # the first checkpoint's log line
    assert "checkpoint written" in line, line
    run.send_signal(signal.SIGINT)
    rest = run.stderr.read().strip().splitlines()
    assert run.wait() == 130
    assert len(rest) >= 1 and rest[-1].startswith("Error: interrupted; ")
    assert rest[-1].endswith(
        f"continue with: lqcd-hmc run {card} --resume --set run.save_interval=10"
    )
    assert "keeps its last checkpoint (trajectory" in rest[-1]
    assert not lock_path(out).exists()
    done = Ensemble(out).checkpoint_trajectory()
    assert f"(trajectory {done})" in rest[-1]


def test_ctrl_c_in_other_commands_says_what_is_kept(tmp_path, ensemble, monkeypatch):
    """``measure`` keeps the file unchanged; ``fp-data`` and ``train`` resume; ``compare``
    continues its ensembles (the message each command's Ctrl-C prints, exit status 130)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lqcd_hmc.offline.measure_file", interrupted)
    meas = tmp_path / "m.toml"
    meas.write_text('[[measure]]\nname = "polyakov_loop"\n')
    res = CliRunner().invoke(main, ["measure", str(ensemble), "--card", str(meas)])
    assert res.exit_code == 130
    assert res.output.strip() == "Error: interrupted; nothing was stored; the file is unchanged"
    for command, expect in (("fp-data", "--resume"), ("train", "--resume"), ("compare", "reuses")):
        # the command's own body (under its one_line_errors wrapper) raises at once
        inner = main.commands[command].callback.__wrapped__
        monkeypatch.setattr(inner, "__code__", interrupted.__code__)
        res = CliRunner().invoke(main, [command, str(meas)])
        assert res.exit_code == 130 and expect in res.output.strip().splitlines()[-1], res.output
