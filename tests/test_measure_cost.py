"""``bench.measure_cost``: a study's untimed measurements (files without ``/timing``) costed by
one timed measurement per ensemble, with those of its tuning runs; timed ones counted as timed."""

import sys

import h5py
import pytest
from cards import small_card

from bench.measure_cost import costs, main, tuning_runs
from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import run_card
from workflows.study.compare import run_hours


def test_untimed_measurements_are_costed_and_timed_ones_kept(tmp_path, monkeypatch, capsys):
    study = tmp_path / "study"
    ens = study / "ensembles" / "Wilson_b2.0_4x4.h5"
    tuning = [study / "tuning" / f"Wilson_b{b}_4x4.h5" for b in ("1.9", "2.1")]
    other = study / "tuning" / "Wilson_b2.0_6x6.h5"  # another lattice: not its tuning
    for path in (ens, *tuning, other):
        run_card(validate(small_card(path, run={"checkpoint_interval": 4})), quiet=True)
    for path in (ens, tuning[0]):  # as written before lqcd-hmc timed its checkpoints
        with h5py.File(path, "a") as f:
            del f["timing"]
    assert tuning_runs(study, ens) == tuning
    points = run_hours(ens)[2]
    assert points == 12 and run_hours(tuning[1])[2] == 0  # every production update measured
    (row,) = costs(study)
    assert (row["untimed"], row["untimed_tuning"]) == (12, 12)
    assert row["seconds"] > 0
    timed = run_hours(tuning[1])[1]
    assert timed > 0
    assert row["measuring_hours"] == pytest.approx(timed + 24 * row["seconds"] / 3600)
    mc = sum(Ensemble(p).table("mc")["seconds"].sum() for p in (ens, *tuning))
    assert row["update_hours"] == pytest.approx(mc / 3600)
    monkeypatch.setattr(sys, "argv", ["measure_cost", str(study)])
    main()
    out = capsys.readouterr().out
    assert "| Wilson_b2.0_4x4.h5 |" in out and "| 12 + 12 |" in out
    assert "(24 untimed measurements estimated; 0 ensembles are records" in out
