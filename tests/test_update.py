"""The update interface (docs/architecture.md): HMC, the heatbath and their composition behind one
``update(field, rng, metropolis=...)``, built by name from the registry; a third-party update
plugged in by entry point runs from a card; the coupling ``Action.beta``; ``python -m
lqcd_hmc.cli`` with the plug-in commands."""

import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch
from cards import small_card

import lqcd_hmc.update as update_module
from actions import DBW2, Clover, Iwasaki, LuscherWeisz, Symanzik, Wilson
from lqcd_hmc import ChainRNG, GaugeField, SumAction
from lqcd_hmc.config import CardError, validate
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.hmc import HMC
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import RunError, run_card
from lqcd_hmc.update import Composition, Update, UpdateStats, build
from observables import Flow


@dataclass
class FlipStats(UpdateStats):
    flipped: torch.Tensor = None

    def record(self):
        return {"flipped": self.flipped}


class Flip(Update):
    """A toy third-party update: replaces every link by its conjugate transpose with
    probability ``fraction`` per chain (a Metropolis-free, rng-driven change of the field)."""

    name = "flip"
    config_keys = ("fraction",)

    def __init__(self, action, fraction: float = 0.5):
        self.fraction = fraction

    def update(self, field, rng, *, metropolis=True):
        flip = rng.uniform() < self.fraction
        mask = flip.view(-1, *([1] * (field.links.dim() - 1)))
        links = torch.where(mask, field.links.mH, field.links)
        return field.with_links(links), FlipStats(seconds=0.0, flipped=flip)


class Poison(Update):
    """HMC whose ``after``-th trajectory reports dH = NaN for chain 1 (as a NaN from the
    molecular dynamics would), for the runner's check."""

    name = "poison"
    config_keys = ("after",)
    accept_step = True

    def __init__(self, action, after: int = 7):
        self.hmc, self.after, self.calls = HMC(action, n_steps=2), after, 0

    def update(self, field, rng, *, metropolis=True):
        field, st = self.hmc.update(field, rng, metropolis=metropolis)
        self.calls += 1
        if self.calls == self.after:
            st.dH[1] = float("nan")
        return field, st


@pytest.fixture
def with_flip(monkeypatch):
    """``flip`` and ``poison`` registered beside the package's own updates, as a third party's
    ``[project.entry-points."lqcd_hmc.updates"]`` would."""
    ours = update_module.available()
    eps = {
        n: EntryPoint(name=n, value=f"test_update:{c}", group="lqcd_hmc.updates")
        for n, c in (("flip", "Flip"), ("poison", "Poison"))
    }
    monkeypatch.setattr(update_module, "available", lambda: {**ours, **eps})


def test_registered_updates_build_by_name():
    S = Wilson(2.0)
    cfg = validate(
        {
            "lattice": {"dims": [4, 4]},
            "action": {"name": "wilson", "beta": 2.0},
            "update": {"algorithm": "hmc+heatbath", "steps": 3, "overrelaxation": 1},
            "run": {"trajectories": 1, "output": "x.h5"},
        }
    ).update.config()
    assert isinstance(build("hmc", S, cfg), HMC) and build("hmc", S, cfg).integrator
    assert isinstance(build("heatbath", S, cfg), Heatbath)
    comp = build("hmc+heatbath", S, cfg)
    assert isinstance(comp, Composition) and [type(u) for u in comp.updates] == [HMC, Heatbath]
    assert comp.updates[1].overrelaxation == 1
    with pytest.raises(ValueError, match="unknown update 'metropolis'"):
        build("hmc+metropolis", S, cfg)


def test_composition_is_its_parts_in_order():
    """``hmc+heatbath`` from one generator state equals HMC then the heatbath by hand; its
    record holds HMC's columns; ``metropolis`` reaches HMC."""
    S = Wilson(2.2)
    hmc, hb = HMC(S, n_steps=4), Heatbath(S, overrelaxation=1)
    f = GaugeField.hot([4, 4], "SU(2)", ChainRNG(0, 3))
    rng_a, rng_b = ChainRNG(5, 3), ChainRNG(5, 3)
    g, st = Composition([hmc, hb]).update(f, rng_a, metropolis=False)
    h, st_h = hmc.update(f, rng_b, metropolis=False)
    h, _ = hb.update(h, rng_b)
    assert torch.equal(g.links, h.links)
    rec = st.record()
    assert set(rec) == {"metropolis", "dH", "accepted"} and rec["metropolis"] is False
    assert torch.equal(rec["dH"], st_h.dH) and bool(rec["accepted"].all())


def test_third_party_update_runs_from_a_card(tmp_path, with_flip):
    """The runner calls only the interface: the plug-in's own column lands in ``mc/``, there is
    no dH, and the chain is what the update did (cold links stay cold under a flip)."""
    card = small_card(
        tmp_path / "flip.h5",
        update={"algorithm": "flip", "fraction": 0.25},
        lattice={"start": "cold"},
        run={"thermalisation_md": 0},
    )
    summary = run_card(validate(card), quiet=True)
    mc = Ensemble(tmp_path / "flip.h5").table("mc")
    assert "flipped" in mc and "dH" not in mc
    assert 0 < mc["flipped"].mean() < 1
    assert summary.acceptance is None and summary.plaquette == pytest.approx(1.0, abs=1e-12)


def test_a_nan_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, with_flip):
    """dH = NaN in trajectory 7 is an error naming the trajectory and chain, not a silent
    rejection; the ensemble keeps its checkpoint of trajectory 5, readable as before."""
    path = tmp_path / "nan.h5"
    card = small_card(path, update={"algorithm": "poison", "after": 7})
    with pytest.raises(
        RunError,
        match=r"trajectory 7: dH of chain 1 is nan; the run stops, "
        r"the ensemble keeps its last checkpoint \(trajectory 5\)",
    ):
        run_card(validate(card), quiet=True)
    ens = Ensemble(path)
    assert ens.checkpoint_trajectory() == 5
    assert np.isfinite(ens.table("mc")["dH"]).all() and len(ens.table("mc")["dH"]) == 5


def test_update_keys_nobody_takes_are_refused(with_flip):
    base = {
        "lattice": {"dims": [4, 4]},
        "action": {"name": "wilson", "beta": 2.0},
        "run": {"trajectories": 1, "output": "x.h5"},
    }
    with pytest.raises(CardError, match="'fraction' is not a parameter of algorithm 'hmc'"):
        validate({**base, "update": {"algorithm": "hmc", "fraction": 0.5}})
    validate({**base, "update": {"algorithm": "hmc+flip", "fraction": 0.5}})


@pytest.mark.parametrize(
    "action",
    [
        Wilson(1.0),
        Symanzik(1.0),
        Iwasaki(1.0),
        DBW2(1.0),
        LuscherWeisz(1.0, c1=-0.05, c2=-0.01),
        Clover(1.0),
    ],
    ids=lambda a: a.name,
)
def test_the_coupling_multiplies_the_action(action):
    """``S[U; beta] = beta S[U; 1]`` (docs/conventions.md, section 3) for every action with a
    coupling, and ``with_beta`` rebuilds the same action at another coupling."""
    U = GaugeField.hot([4, 4, 4, 4], "SU(3)", ChainRNG(1, 2))
    assert action.beta == 1.0
    at = action.with_beta(2.7)
    assert type(at) is type(action) and at.beta == 2.7
    assert torch.allclose(at(U), 2.7 * action(U), rtol=1e-13, atol=0)


def test_an_action_without_a_coupling():
    """A sum has no single coupling: the flow asks for g0sq, ``with_beta`` refuses."""
    S = SumAction([Wilson(1.0), Iwasaki(2.0)])
    assert S.beta is None
    with pytest.raises(ValueError, match="no coupling beta"):
        S.with_beta(1.0)
    with pytest.raises(ValueError, match="no coupling beta; give g0sq"):
        Flow(S)
    assert Flow(S, g0sq=1.5).g0sq(3) == 1.5
    assert Flow({"name": "wilson", "beta": 6.0}).g0sq(3) == pytest.approx(1.0)


def test_python_m_cli_has_the_plugin_commands():
    out = subprocess.run(
        [sys.executable, "-m", "lqcd_hmc.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for command in ("run", "fp-data", "train", "tune-beta", "compare"):
        assert f"  {command} " in out.stdout, out.stdout
    assert "Usage: lqcd-hmc" in out.stdout
