"""Provenance of a chain: the revision and threads that made it and every resume of it
(``resumes``), recorded so that :func:`lqcd_hmc.io.record.divergence` can say why a
regeneration parts from a record (docs/conventions.md, section 6)."""

import json
import subprocess

import torch
from cards import small_card

from lqcd_hmc.allocator import loaded
from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.io.record import divergence
from lqcd_hmc.run import chain, run_card, runner


def test_the_revision_is_the_one_this_process_imported(monkeypatch):
    """A checkout changed after the package was imported (another commit, edited files) does
    not change the revision a run records: the process runs the code it imported."""
    first = chain.git_revision()
    fake = subprocess.CompletedProcess([], 0, stdout="f" * 40 + "\n", stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: fake)
    assert chain.git_revision() == first


def test_divergence_names_a_resume_by_other_code(tmp_path, monkeypatch):
    """A chain resumed by code that rounds otherwise records the resume (``resumes``: after
    which trajectory, at which revision, on how many threads), and a regeneration that parts
    from it there is explained by it; resumed by the same code, nothing is named."""
    ens = tmp_path / "straight.h5"
    run_card(validate(small_card(ens)), quiet=True)
    update = runner.Runner._update

    def rounded(self, field, rng, t):
        field, rec = update(self, field, rng, t)
        return (field.with_links(field.links * (1 + 2**-52)) if t == 12 else field), rec

    for name, other in (("other.h5", True), ("same.h5", False)):
        run_card(validate(small_card(tmp_path / name, run={"trajectories": 7})), quiet=True)
        if other:
            monkeypatch.setattr(runner.Runner, "_update", rounded)
            monkeypatch.setattr(chain, "git_revision", lambda: "f" * 40)
        run_card(validate(small_card(tmp_path / name)), resume=True, quiet=True)
        monkeypatch.undo()
    here = {"trajectory": 11, "threads": torch.get_num_threads(), "allocator": loaded()}
    resumes = json.loads(Ensemble(tmp_path / "other.h5").attrs["resumes"])
    assert resumes == [here | {"git_revision": "f" * 40}]
    why, explained = divergence(Ensemble(ens), Ensemble(tmp_path / "other.h5"))
    assert explained and why.startswith("the plaquettes part at update 12 by ")
    assert f"the record was resumed after trajectory 11 at revision {'f' * 40} on" in why
    same = Ensemble(tmp_path / "same.h5")
    assert json.loads(same.attrs["resumes"]) == [
        here | {"git_revision": same.attrs["git_revision"]}
    ]
    assert divergence(Ensemble(ens), same) == ("the plaquettes agree", False)
