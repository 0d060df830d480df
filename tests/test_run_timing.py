"""``/timing`` of an ensemble (docs/conventions.md, section 4): the wall-clock and measuring
seconds of every checkpoint, across a resume and in files written before the table existed."""

import h5py
import pytest
from cards import small_card
from test_run import assert_same_chain

from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.io.record import write_record
from lqcd_hmc.run import run_card
from workflows.study.compare import run_hours


def test_timing_rows_cover_every_update_and_time_the_measurements(tmp_path):
    """``/timing``: one row per checkpoint, ``first .. trajectory`` covering the updates once
    across a resume; measurement seconds within the wall seconds, zero where nothing was
    measured (thermalisation); a file of an older version, without the table, resumes and
    times its new part only; the record keeps the table."""

    def card(path, n):
        return validate(small_card(path, run={"trajectories": n, "checkpoint_interval": 4}))

    path = tmp_path / "e.h5"
    run_card(card(path, 7), quiet=True)
    run_card(card(path, 20), resume=True, quiet=True)
    t = Ensemble(path).table("timing")
    assert t["first"].tolist() == [1, 5, 9, 12, 13, 17, 21]
    assert t["trajectory"].tolist() == [4, 8, 11, 12, 16, 20, 24]
    assert t["measure_seconds"][0] == 0 and (t["measure_seconds"][1:] > 0).all()
    assert (t["measure_seconds"] < t["seconds"]).all()
    updates, measuring, untimed = run_hours(path)
    assert untimed == 0 and measuring * 3600 == pytest.approx(t["measure_seconds"].sum())
    assert updates * 3600 == pytest.approx(Ensemble(path).table("mc")["seconds"].sum())
    full, one = (
        Ensemble(path).table("measurements/wilson_loops", c) for c in (None, ["trajectory"])
    )
    assert len(full) > 1 and list(one) == ["trajectory"]  # what run_hours reads of a table
    assert one["trajectory"].tolist() == full["trajectory"].tolist()

    old = tmp_path / "old.h5"
    run_card(card(old, 7), quiet=True)
    with h5py.File(old, "a") as f:  # as written before lqcd-hmc timed its checkpoints
        del f["timing"]
    run_card(card(old, 20), resume=True, quiet=True)
    assert_same_chain(path, old)
    assert Ensemble(old).table("timing")["first"].tolist() == [12, 13, 17, 21]
    assert run_hours(old)[2] == 7  # measured at 5..11 (plaquette every update): untimed
    write_record(old, tmp_path / "r.h5")
    r = Ensemble(tmp_path / "r.h5").table("timing")
    assert {k: v.tolist() for k, v in r.items()} == {
        k: v.tolist() for k, v in Ensemble(old).table("timing").items()
    }
