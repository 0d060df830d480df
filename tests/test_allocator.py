"""The ``lqcd-hmc`` command's CPU allocator (:mod:`lqcd_hmc.allocator`): when it starts itself
again with tcmalloc, and that the allocator changes no rounding (docs/conventions.md, section 6)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from cards import small_card, write_card

from lqcd_hmc import allocator
from lqcd_hmc.io import Ensemble


@pytest.fixture
def glibc(monkeypatch):
    """This process as if it ran glibc's malloc, with tcmalloc installed as ``libtc.so.4``."""
    monkeypatch.setattr(allocator, "loaded", lambda: "system")
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: "libtc.so.4")
    monkeypatch.setattr(sys, "platform", "linux")


def test_auto_starts_the_command_again_with_tcmalloc(glibc):
    env = allocator.relaunch({"PATH": "/bin"})
    assert env["LD_PRELOAD"] == "libtc.so.4" and env[allocator.STARTED] == "1"
    assert env["PATH"] == "/bin" and int(env["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]) >= 2**40


@pytest.mark.parametrize(
    "environ",
    [
        {allocator.CHOICE: "system"},
        {allocator.STARTED: "1"},  # started once already: never a second time
        {"LD_PRELOAD": "libother.so"},  # the user's own preload is kept
    ],
)
def test_the_process_goes_on_as_it_is(glibc, environ):
    assert allocator.relaunch(environ) is None


def test_a_process_with_an_allocator_of_its_own_goes_on(glibc, monkeypatch):
    monkeypatch.setattr(allocator, "loaded", lambda: "jemalloc")
    assert allocator.relaunch({allocator.CHOICE: "tcmalloc"}) is None


def test_without_tcmalloc_auto_goes_on_and_tcmalloc_is_an_error(glibc, monkeypatch):
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    assert allocator.relaunch({}) is None
    with pytest.raises(allocator.AllocatorError, match="no tcmalloc library is installed"):
        allocator.relaunch({allocator.CHOICE: "tcmalloc"})


def test_a_bad_choice_is_a_one_line_error(tmp_path):
    env = {**os.environ, allocator.CHOICE: "tcmaloc"}
    out = subprocess.run(
        [sys.executable, "-m", "lqcd_hmc", "--version"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 1
    why = "LQCD_HMC_ALLOCATOR must be auto, tcmalloc or system, got 'tcmaloc'"
    assert out.stderr == f"Error: {why}\n"


def test_loaded_reads_the_mapped_libraries(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libtcmalloc_minimal.so.4.5.9\n")
    assert allocator.loaded(maps) == "tcmalloc"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libc.so.6\n")
    assert allocator.loaded(maps) == "system"
    assert allocator.loaded(tmp_path / "absent") == "system"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or allocator.find_tcmalloc() is None,
    reason="needs tcmalloc (Debian: libtcmalloc-minimal4)",
)
def test_the_same_chain_with_either_allocator(tmp_path):
    """The command started with ``auto`` runs tcmalloc and records it; an SU(3) 6^4 chain of
    HMC (fields of 1.5 MB, which glibc maps afresh) is the same bit for bit as with glibc."""
    lattice = {"dims": [6, 6, 6, 6], "group": "SU(3)", "start": "hot"}
    run = {"thermalisation": 1, "thermalisation_md": 1, "trajectories": 3}
    links, names = [], []
    for choice in ("system", "auto"):
        card = small_card(tmp_path / f"{choice}.h5", lattice=lattice, run=run)
        card["action"]["beta"] = 5.7
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", allocator.STARTED)}
        subprocess.run(
            [sys.executable, "-m", "lqcd_hmc", "run", str(write_card(tmp_path / "c.toml", card))],
            env={**env, allocator.CHOICE: choice},
            capture_output=True,
            check=True,
        )
        ens = Ensemble(tmp_path / f"{choice}.h5")
        names.append(ens.attrs["allocator"])
        links.append(np.stack([ens.config(t)[0] for t in ens.trajectories()]))
    assert names == ["system", "tcmalloc"]
    assert len(links[0]) and links[0].tobytes() == links[1].tobytes()
