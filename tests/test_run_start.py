"""A run that starts from a stored configuration (``lattice.start = { file, trajectory }``):
the chain starts from exactly those links (bitwise; cast and reunitarised for another
precision), and a start that does not fit the card is a one-line error before anything is
written."""

import h5py
import numpy as np
import pytest
import torch
from cards import small_card, write_card
from click.testing import CliRunner

from lqcd_hmc.cli import main
from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.rng import ChainRNG
from lqcd_hmc.run import run_card
from lqcd_hmc.run.start import initial_field


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A 4^2 SU(2) ensemble of 2 chains with configurations at trajectories 7, 10, 13, 16."""
    out = tmp_path_factory.mktemp("start") / "e.h5"
    run_card(validate(small_card(out)), quiet=True)
    return out


def start_card(tmp_path, stored, **lattice):
    start = {"file": str(stored), **lattice.pop("start", {})}
    return validate(small_card(tmp_path / "n.h5", lattice={"start": start, **lattice}))


def test_start_is_the_stored_configuration(tmp_path, stored):
    ens = Ensemble(stored)
    for trajectory, t in ((10, {"trajectory": 10}), (16, {})):
        card = start_card(tmp_path, stored, start=t)
        f, made = initial_field(card.lattice, ChainRNG(1, 2), torch.complex128, torch.device("cpu"))
        links, attrs = ens.config(trajectory)
        assert np.array_equal(f.links.numpy(), links)
        assert made["start_trajectory"] == trajectory
        assert np.array_equal(made["start_checksum"], attrs["checksum"])
    card = start_card(tmp_path, stored, dtype="complex64")
    f, _ = initial_field(card.lattice, ChainRNG(1, 2), torch.complex64, torch.device("cpu"))
    assert f.links.dtype == torch.complex64
    assert (f.links.to(torch.complex128) - torch.from_numpy(ens.config(16)[0])).abs().max() < 1e-6
    assert f.unitarity_violation().max() < 1e-6


def test_the_start_defines_the_chain(tmp_path, stored):
    """A run from the stored start writes its ensemble, and resuming it from another stored
    configuration is refused (the start is part of the chain)."""
    lattice = {"start": {"file": str(stored)}}
    card = write_card(tmp_path / "c.toml", small_card(tmp_path / "n.h5", lattice=lattice))
    res = CliRunner().invoke(main, ["run", str(card), "--quiet", "--set", "run.trajectories=2"])
    assert res.exit_code == 0, res.output
    assert Ensemble(tmp_path / "n.h5").checkpoint_trajectory() == 6
    before = (tmp_path / "n.h5").read_bytes()
    res = CliRunner().invoke(
        main, ["run", str(card), "--resume", "--set", "lattice.start.trajectory=10"]
    )
    assert res.exit_code == 1 and "changes lattice.start.trajectory" in res.output, res.output
    assert (tmp_path / "n.h5").read_bytes() == before


def _corrupt(path, dst):
    dst.write_bytes(path.read_bytes())
    with h5py.File(dst, "r+") as f:
        ds = f["configs"]["00000016"]
        data = ds[()]
        data.flat[0] += 1e-3
        ds[...] = data
    return dst


def _unchecked(path, dst):
    dst.write_bytes(path.read_bytes())
    with h5py.File(dst, "r+") as f:
        del f["configs"]["00000016"].attrs["checksum"]
    return dst


@pytest.mark.parametrize(
    "change,message",
    [
        ({"start": {"file": "missing.h5"}}, "missing.h5: no such file"),
        ({"start": {"trajectory": 11}}, "no configuration at trajectory 11 (stored: 7..16)"),
        ({"batch": 1}, "its batch is 2, the card's 1"),
        ({"dims": [4, 6]}, "its dims is [4, 4], the card's [4, 6]"),
        ({"group": "SU(3)"}, "its group is SU(2), the card's SU(3)"),
        ({"start": {"trajectory": -1}}, "greater than or equal to 0"),
        ("corrupt", "fails its checksum"),
        ("unchecked", "configuration 16 carries no checksum to verify"),
    ],
)
def test_a_start_that_does_not_fit_is_a_one_line_error(tmp_path, stored, change, message):
    lattice = {"start": {"file": str(stored)}}
    if change in ("corrupt", "unchecked"):
        bad = {"corrupt": _corrupt, "unchecked": _unchecked}[change]
        lattice["start"]["file"] = str(bad(stored, tmp_path / "bad.h5"))
    else:
        start = change.get("start", {})
        lattice.update({k: v for k, v in change.items() if k != "start"})
        lattice["start"] = {**lattice["start"], **start}
    card = write_card(tmp_path / "c.toml", small_card(tmp_path / "n.h5", lattice=lattice))
    res = CliRunner().invoke(main, ["run", str(card)])
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "n.h5").exists()
