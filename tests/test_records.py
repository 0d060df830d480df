"""Records (``lqcd-hmc record``, ``study.records``): an ensemble's tables and the checksums
of its configurations without the links. A record analyses exactly like its ensemble, cannot
be continued or started from, a rerun of its card reproduces it bit for bit, and a study
whose output directory is lost reports again from its records without running anything."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from cards import small_card
from click.testing import CliRunner
from study_cards import write_study

from lqcd_hmc.analysis import analyze_ensemble
from lqcd_hmc.cli import main
from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble, FormatError
from lqcd_hmc.io.record import reproduction_difference, write_record
from lqcd_hmc.run import RunError, run_card


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A 4^2 SU(2) ensemble of 2 chains (configurations at 7, 10, 13, 16) and its record."""
    d = tmp_path_factory.mktemp("record")
    run_card(validate(small_card(d / "e.h5")), quiet=True)
    assert write_record(d / "e.h5", d / "r.h5")
    return d / "e.h5", d / "r.h5"


def _without_paths(res):
    return json.dumps({k: v for k, v in res.items() if k != "ensemble"} | {"mc": None})


def test_record_analyses_like_its_ensemble(stored):
    ens, rec = stored
    a, b = analyze_ensemble(ens), analyze_ensemble(rec)
    assert _without_paths(a) == _without_paths(b)
    assert {k: v for k, v in a["mc"].items() if k != "output"} == {
        k: v for k, v in b["mc"].items() if k != "output"
    }
    r = Ensemble(rec)
    assert r.is_record and r.checkpoint_trajectory() == 16 and r.verify().text() == "verified"
    assert r.schemas() == Ensemble(ens).schemas()
    with h5py.File(rec) as f:
        assert list(f["record/configs/trajectory"][()]) == [7, 10, 13, 16]
        assert not list(f["configs"]) and "checkpoint" not in f
    assert rec.stat().st_size < ens.stat().st_size
    assert not write_record(ens, rec)  # the same record: not rewritten


def test_record_cannot_be_continued_or_started_from(stored, tmp_path):
    _, rec = stored
    for read in (lambda r: r.config(16), lambda r: r.checkpoint()):
        with pytest.raises(FormatError, match="a record holds measurements and checksums only"):
            read(Ensemble(rec))
    copy = tmp_path / "r.h5"
    shutil.copyfile(rec, copy)
    before = copy.read_bytes()
    card = validate(small_card(copy, run={"trajectories": 15}))
    with pytest.raises(RunError, match="a record holds measurements and checksums only"):
        run_card(card, resume=True, quiet=True)
    assert copy.read_bytes() == before
    start = small_card(tmp_path / "n.h5", lattice={"start": {"file": str(rec)}})
    with pytest.raises(RunError, match="lattice.start: .*a record holds measurements and"):
        run_card(validate(start), quiet=True)
    assert not (tmp_path / "n.h5").exists()


def test_rerun_reproduces_the_record(stored, tmp_path):
    _, rec = stored
    run_card(validate(small_card(tmp_path / "again.h5")), quiet=True)
    assert reproduction_difference(Ensemble(tmp_path / "again.h5"), Ensemble(rec)) is None
    run_card(validate(small_card(tmp_path / "other.h5", lattice={"seed": 6})), quiet=True)
    diff = reproduction_difference(Ensemble(tmp_path / "other.h5"), Ensemble(rec))
    assert diff is not None and diff.startswith("configuration 7 differs")
    with h5py.File(tmp_path / "again.h5", "a") as f:  # the card kept, one link changed
        ds = f["configs/00000010"]
        links = ds[()]
        links[0, 0, 0, 0] *= -1
        ds[...] = links
        ds.attrs["checksum"] = np.array([0, 0], dtype=np.uint32)
    diff = reproduction_difference(Ensemble(tmp_path / "again.h5"), Ensemble(rec))
    assert diff is not None and diff.startswith("configuration 10 differs")


def test_resumable_record_continues_the_chain(stored, tmp_path):
    """A run stopped after 10 of its 16 trajectories, its resumable record taken and the
    ensemble file lost: the run continues from the record and ends where the uninterrupted run
    ends, bit for bit (links, tables, every configuration's checksum), the configurations before
    the record kept as checksums."""
    full, _ = stored
    part = tmp_path / "part.h5"
    run_card(validate(small_card(part, run={"trajectories": 6})), quiet=True)
    res = CliRunner().invoke(
        main, ["record", str(part), "--out", str(tmp_path / "rec"), "--resumable"]
    )
    assert res.exit_code == 0, res.output
    rec = tmp_path / "rec" / "part.h5"
    assert rec.stat().st_size < part.stat().st_size
    part.unlink()
    run_card(validate(small_card(rec)), resume=True, quiet=True)
    a, b = Ensemble(full), Ensemble(rec)
    assert b.is_record and b.trajectories() == [13, 16] and b.verify().text() == "verified"
    assert np.array_equal(a.checkpoint().links, b.checkpoint().links)
    for name in ["mc", *(f"measurements/{m}" for m in a.measurement_names())]:
        ta, tb = a.table(name), b.table(name)
        assert set(ta) == set(tb)
        assert all(np.array_equal(ta[k], tb[k]) for k in ta if k != "seconds"), name
    assert reproduction_difference(a, b) is None
    with pytest.raises(FormatError, match="not the links of configuration 10"):
        b.config(10)


def test_record_command(stored, tmp_path):
    ens, _ = stored
    out = tmp_path / "records"
    res = CliRunner().invoke(main, ["record", str(ens), "--out", str(out)])
    assert res.exit_code == 0 and Ensemble(out / "e.h5").is_record, res.output
    res = CliRunner().invoke(main, ["record", str(ens), "--out", str(out)])
    assert res.exit_code == 0 and "(unchanged)" in res.output
    info = json.loads(CliRunner().invoke(main, ["info", str(out / "e.h5"), "--json"]).output)
    assert info["record"] is True and info["record_trajectory"] == 16
    assert info["checksums"] == "verified" and info["configurations"] == 0
    missing = tmp_path / "missing.h5"
    res = CliRunner().invoke(main, ["record", str(ens), str(missing), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and res.output.strip() == f"Error: {missing}: no such file"
    assert not (tmp_path / "x").exists()  # checked before anything was written
    bad = tmp_path / "bad.h5"
    shutil.copyfile(ens, bad)
    with h5py.File(bad, "a") as f:
        f["mc/plaquette"][0, 0] += 1e-3
    res = CliRunner().invoke(main, ["record", str(bad), "--out", str(tmp_path / "y")])
    assert res.exit_code == 1 and "fails its checksum" in res.output
    assert not (tmp_path / "y" / "bad.h5").exists()


@pytest.mark.slow  # 30-50 s on one core: CI's slow stage
def test_study_reports_again_from_its_records(tmp_path):
    """The tiny study with records, LW's chains started from wilson's ensembles: after the
    output directory is lost, a call restores every ensemble from the records and reports the
    same numbers without running anything; once LW's ensemble must run again, wilson's is
    regenerated first for its start (bit for bit the same) and LW's reproduces its numbers."""
    records = tmp_path / "records"
    card = write_study(
        tmp_path / "study.toml",
        tmp_path / "out",
        f'records = "{records.as_posix()}"',
        'starts = { 0 = "wilson" }',
    )
    first = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert first.exit_code == 0, first.output
    one = json.loads(first.output)
    names = sorted(p.name for p in (records / "ensembles").glob("*.h5"))
    assert len(names) == 4 and all(Ensemble(p).is_record for p in records.glob("*/*.h5"))
    assert sorted(one["records"]["written"]) == [f"ensembles/{n}" for n in names]

    def same_numbers(two):  # timings aside
        def mc(e):
            return {k: v for k, v in e["mc"].items() if not k.startswith("seconds")}

        for label, entries in one["actions"].items():
            for e, f in zip(entries, two["actions"][label], strict=True):
                assert e["quantities"] == f["quantities"] and mc(e) == mc(f)

    shutil.rmtree(tmp_path / "out")
    again = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert again.exit_code == 0, again.output
    two = json.loads(again.output)
    assert sorted(two["records"]["restored"]) == [f"ensembles/{n}" for n in names]
    assert not any(e["generated"] for entries in two["actions"].values() for e in entries)
    same_numbers(two)
    wilson0 = Path(one["actions"]["wilson"][0]["ensemble"])
    lw0 = Path(one["actions"]["LW"][0]["ensemble"])
    assert Ensemble(wilson0).is_record  # LW was complete: its start was not needed
    assert two["records"]["written"] == []

    lw_record = records / "ensembles" / lw0.name
    lw_record.unlink()
    lw0.unlink()
    third = CliRunner().invoke(main, ["compare", str(card), "--json"])
    assert third.exit_code == 0, third.output
    three = json.loads(third.output)
    assert not Ensemble(wilson0).is_record and Ensemble(wilson0).trajectories()  # regenerated
    generated = [(k, e["generated"]) for k, v in three["actions"].items() for e in v]
    assert generated == [("wilson", False), ("wilson", False), ("LW", True), ("LW", False)]
    assert three["records"]["written"] == [f"ensembles/{lw0.name}"]  # wilson's matched its own
    same_numbers(three)

    with h5py.File(records / "ensembles" / names[0], "a") as f:
        f["mc/plaquette"][0, 0] += 1e-3
    shutil.rmtree(tmp_path / "out")
    res = CliRunner().invoke(main, ["compare", str(card)])
    assert res.exit_code == 1 and "fails its checksum" in res.output, res.output


def test_save_records_carries_a_run_in_progress(tmp_path, monkeypatch):
    """A study killed inside an ensemble: ``compare --save-records`` writes its resumable
    record; on a machine that has only the records, the next call restores it, continues
    it, and ends with the links of the run that never stopped (bit for bit)."""
    from lqcd_hmc.run.runner import Runner
    from workflows.study.card import load_study
    from workflows.study.tune import ensemble_path

    records = tmp_path / "records"
    path = write_study(tmp_path / "s.toml", tmp_path / "out", f'records = "{records.as_posix()}"')
    card = load_study(path)
    a = card.action[0]
    ens = ensemble_path(tmp_path / "out" / "ensembles", a.title, a.betas[0], card.dims(0))
    update, calls = Runner._update, []

    def killed(self, *args):
        calls.append(1)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return update(self, *args)

    monkeypatch.setattr(Runner, "_update", killed)
    res = CliRunner().invoke(main, ["compare", str(path), "--only", "wilson", "--spacing", "0"])
    assert res.exit_code == 130 and Ensemble(ens).checkpoint_trajectory() == 6, res.output
    monkeypatch.setattr(Runner, "_update", update)
    res = CliRunner().invoke(main, ["compare", str(path), "--save-records"])
    assert res.exit_code == 0 and "records written: 1" in res.output, res.output
    kept = Ensemble(records / "ensembles" / ens.name)
    assert kept.has_checkpoint() and kept.checkpoint_trajectory() == 6
    shutil.rmtree(tmp_path / "out")
    res = CliRunner().invoke(main, ["compare", str(path), "--only", "wilson", "--spacing", "0"])
    assert res.exit_code == 0, res.output
    reference = tmp_path / "reference.h5"
    run_card(card.ensemble_card(a, a.betas[0], 0, reference), quiet=True)
    resumed, full = Ensemble(ens), Ensemble(reference)
    assert resumed.is_record and resumed.checkpoint_trajectory() == 18
    assert np.array_equal(resumed.checkpoint().links, full.checkpoint().links)
    assert reproduction_difference(full, resumed) is None
    assert not Ensemble(records / "ensembles" / ens.name).has_checkpoint()  # now the final one
    # a regeneration of it in progress (killed again) never replaces the complete record
    from workflows.study.records import save

    ens.unlink()
    calls.clear()
    monkeypatch.setattr(Runner, "_update", killed)
    with pytest.raises(KeyboardInterrupt):
        run_card(card.ensemble_card(a, a.betas[0], 0, ens), quiet=True)
    assert Ensemble(ens).checkpoint_trajectory() == 6
    before = (records / "ensembles" / ens.name).read_bytes()
    assert save(tmp_path / "out", records, partial=True).written == []
    assert (records / "ensembles" / ens.name).read_bytes() == before


def _other_rounding(monkeypatch, revision: str) -> None:
    """Runs from here on as by code of another ``revision`` whose update rounds differently:
    the links after the first update move by one part in 1e16."""
    from lqcd_hmc.run import runner

    update = runner.Runner._update

    def rounded(self, field, rng, t):
        field, rec = update(self, field, rng, t)
        if t == 1:
            field = field.with_links(field.links * (1 + 2**-52))
        return field, rec

    monkeypatch.setattr(runner.Runner, "_update", rounded)
    monkeypatch.setattr(runner, "git_revision", lambda: revision)


def test_divergence_says_where_and_why_chains_part(stored, tmp_path, monkeypatch):
    """A chain regenerated by code that rounds differently parts from its record's at update
    1 by about 1e-16 and is named as made by another revision; a chain started from a stored
    configuration records its trajectory and checksums, and another start is named as the
    cause; the same start and code give no cause (a defect)."""
    from lqcd_hmc.io.record import divergence

    ens, rec = stored
    revision = str(Ensemble(rec).attrs["git_revision"])
    _other_rounding(monkeypatch, "f" * 40)
    run_card(validate(small_card(tmp_path / "r.h5")), quiet=True)
    other = Ensemble(tmp_path / "r.h5")
    assert reproduction_difference(other, Ensemble(rec)).startswith("configuration 7 differs")
    why, explained = divergence(other, Ensemble(rec))
    assert explained and why.startswith("the plaquettes part at update 1 by ")
    assert float(why.split(" by ")[1].split(";")[0]) < 1e-14
    assert f"made at revision {'f' * 40}, the record at {revision}" in why
    threads = int(Ensemble(rec).attrs["threads"])
    with h5py.File(tmp_path / "r.h5", "a") as f:
        f.attrs["threads"] = threads + 1
    why, _ = divergence(Ensemble(tmp_path / "r.h5"), Ensemble(rec))
    assert f"it ran on {threads + 1} threads, the record on {threads}" in why
    monkeypatch.undo()
    starts = {}
    for name, t in (("a.h5", 16), ("b.h5", 13)):
        card = small_card(tmp_path / name, lattice={"start": {"file": str(ens), "trajectory": t}})
        run_card(validate(card), quiet=True)
        starts[name] = Ensemble(tmp_path / name)
        _, attrs = Ensemble(ens).config(t)
        assert starts[name].attrs["start_trajectory"] == t
        assert np.array_equal(starts[name].attrs["start_checksum"], attrs["checksum"])
    info = CliRunner().invoke(main, ["info", str(tmp_path / "a.h5"), "--json"])
    assert json.loads(info.output)["start"]["trajectory"] == 16, info.output
    why, explained = divergence(starts["a.h5"], starts["b.h5"])
    assert explained and why.endswith("it started from other links than the record's chains")
    why, explained = divergence(Ensemble(stored[0]), Ensemble(rec))
    assert (why, explained) == ("the plaquettes agree", False)


@pytest.mark.slow  # 30-50 s on one core: CI's slow stage
def test_save_keeps_a_record_its_regeneration_does_not_reproduce(tmp_path, monkeypatch):
    """A study's ensemble regenerated by other code (another rounding) is another chain than
    its record: ``save`` keeps the record and reports it, and writes the other records; one
    that the same code and start do not reproduce is an error, after the others are written."""
    from workflows.study.card import load_study
    from workflows.study.records import save
    from workflows.study.tune import ensemble_path

    records = tmp_path / "records"
    path = write_study(tmp_path / "s.toml", tmp_path / "out", f'records = "{records.as_posix()}"')
    card = load_study(path)
    a = card.action[0]
    out = tmp_path / "out" / "ensembles"
    ens = ensemble_path(out, a.title, a.betas[0], card.dims(0))
    run_card(card.ensemble_card(a, a.betas[0], 0, ens), quiet=True)
    assert save(tmp_path / "out", records).written == [f"ensembles/{ens.name}"]
    rec = records / "ensembles" / ens.name
    before = rec.read_bytes()
    ens.unlink()
    _other_rounding(monkeypatch, "f" * 40)
    run_card(card.ensemble_card(a, a.betas[0], 0, ens), quiet=True)
    res = CliRunner().invoke(main, ["compare", str(path), "--save-records"])
    assert res.exit_code == 0 and "records written: 0" in res.output, res.output
    assert "record kept: " in res.output and "the plaquettes part at update 1 by" in res.output
    assert f"made at revision {'f' * 40}" in res.output and rec.read_bytes() == before
    # each ensemble's save sees the kept record again; the result lists it once
    res = CliRunner().invoke(main, ["compare", str(path), "--only", a.title, "--json"])
    assert res.exit_code == 0, res.output
    kept = json.loads(res.output)["records"]["kept"]
    assert len(kept) == 1 and "another chain than its record" in kept[0]
    monkeypatch.undo()
    ens.unlink()
    run_card(card.ensemble_card(a, a.betas[0], 0, ens), quiet=True)  # the same chain: altered
    with h5py.File(ens, "a") as f:
        name = sorted(f["configs"])[-1]
        crc = f["configs"][name].attrs["checksum"]
        f["configs"][name].attrs["checksum"] = crc + np.uint32(1)
    b = card.action[1]
    other = ensemble_path(out, b.title, b.betas[0], card.dims(0))
    run_card(card.ensemble_card(b, b.betas[0], 0, other), quiet=True)
    with pytest.raises(FormatError, match="the same start and code do not reproduce the record"):
        save(tmp_path / "out", records)
    assert rec.read_bytes() == before and (records / "ensembles" / other.name).is_file()


def test_device_study_brings_back_complete_records(tmp_path, monkeypatch):
    """``bench.device_study`` (here with the CPU as the device): resumable records of the
    device's actions made on another device (here: marked as a GPU's) are set aside, the others
    stay; it runs the named actions with their ``lattice.device`` set and packs the records of
    the ensembles it completed into records.tar."""
    import tarfile

    from bench.device_study import main as device_study
    from bench.device_study import set_aside
    from workflows.study.tune import ensemble_path

    monkeypatch.chdir(tmp_path)
    records = Path("records")
    e = tmp_path / "e.h5"
    run_card(validate(small_card(e, run={"trajectories": 3})), quiet=True)

    def record(label, beta, device):
        dest = records / "ensembles" / ensemble_path(Path(), label, beta, [4, 4, 4, 4]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_record(e, dest, resumable=True)
        with h5py.File(dest, "r+") as f:  # in progress, on that device
            f.attrs["card"] = f.attrs["card"].replace("trajectories = 3", "trajectories = 9")
            f.attrs["device"] = device
        return dest

    gpu, cpu = record("LW", 1.9, "cuda:0"), record("LW", 2.5, "cpu")
    other, prefix = record("wilson", 1.9, "cuda:0"), record("LW x", 1.9, "cuda:0")
    assert set_aside(records, ["LW"], torch.device("cpu"), Path("aside")) == [
        f"ensembles/{gpu.name}"
    ]
    assert not gpu.exists() and (Path("aside") / "ensembles" / gpu.name).is_file()
    assert cpu.exists() and other.exists() and prefix.exists()
    for f in (cpu, other, prefix):
        f.unlink()

    path = write_study(tmp_path / "s.toml", Path("out"), f'records = "{records.as_posix()}"')
    argv = [str(path), "--seconds", "600", "--out", "back", "--device", "cpu"]
    argv += ["--device-action", "LW", "--only", "LW", "--spacing", "0"]
    assert device_study(argv) == 0
    lw0 = ensemble_path(Path(), "LW", 1.7, [4, 4, 4, 4]).name
    with tarfile.open("back/records.tar") as tar:
        assert tar.getnames() == [f"records/ensembles/{lw0}"]
    rec = Ensemble(records / "ensembles" / lw0)
    assert rec.is_record and 'device = "cpu"' in rec.attrs["card"]
