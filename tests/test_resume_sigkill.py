"""A run killed with SIGKILL at random moments and resumed each time produces the same chain,
bit for bit, as a run that never stopped (same device and dtype)."""

import random
import signal
import subprocess
import sys
import time

from cards import small_card, write_card
from test_run import assert_same_chain

from lqcd_hmc.config import validate
from lqcd_hmc.io import Ensemble
from lqcd_hmc.run import run_card

CHANGES = {
    "lattice": {"dims": [4, 4, 4, 4]},
    "run": {"trajectories": 60, "checkpoint_interval": 2, "save_interval": 3},
}


def test_sigkill_at_random_moments_then_resume(tmp_path):
    straight = tmp_path / "straight.h5"
    run_card(validate(small_card(straight, **CHANGES)), quiet=True)

    killed = tmp_path / "killed.h5"
    card = write_card(tmp_path / "k.toml", small_card(killed, **CHANGES))
    cmd = [sys.executable, "-m", "lqcd_hmc", "run", str(card), "--resume", "--quiet"]
    rng = random.Random(2026)
    kills = 0
    for _ in range(7):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 5.0))  # imports take ~2 s, the run ~3.5 s more
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if killed.exists():  # whatever is on disk is a valid ensemble
            Ensemble(killed).checkpoint()
    assert kills >= 4
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_same_chain(straight, killed)
    assert not list(tmp_path.glob(".*partial"))
    assert not (tmp_path / "killed.h5.segments").exists()
