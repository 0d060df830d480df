"""Domain decomposition on 2 CPU processes (Gloo, started here): the decomposed Wilson,
Iwasaki and L-CNN actions, forces and one full HMC trajectory (the L-CNN's on two time scales)
equal the single-process ones to rounding; bad grids are one-line errors."""

import numpy as np
import parallel_worker
import pytest
import torch
import torch.multiprocessing as mp

from lqcd_hmc import HMC, ChainRNG, GaugeField, build
from lqcd_hmc.parallel import Decomposition, ParallelError
from lqcd_hmc.parallel.grid import check_grid


def small_lcnn():
    from actions.lcnn import Architecture, LCNNAction, LCNNFixedPoint

    torch.manual_seed(0)
    m = LCNNFixedPoint(Architecture(D=4, group="SU(2)", channels=[3, 3], kernel_sizes=[2, 2]))
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.3, -0.1, 0.05]))
    return LCNNAction(2.0, model=m)


def run_decomposed(tmp_path, case, world=2):
    store = tmp_path / "store"
    mp.spawn(
        parallel_worker.decomposed,
        args=(world, str(store), str(tmp_path), case),
        nprocs=world,
        join=True,
    )
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


CASES = {
    "wilson-t": {"action": {"name": "wilson", "beta": 2.3}, "grid": [1, 1, 1, 2]},
    "iwasaki-x": {"action": {"name": "iwasaki", "beta": 1.1}, "grid": [2, 1, 1, 1]},
    "lcnn-z": {  # on two time scales: the network's term, then its Wilson preconditioner
        "action": small_lcnn,
        "grid": [1, 1, 2, 1],
        "dims": [4, 4, 8, 4],
        "update": {"levels": [{"steps": 2}, {"steps": 1}], "tau": 0.5},
    },
}
ONE_SCALE = {"integrator": "omelyan2", "steps": 3, "tau": 0.5}


@pytest.mark.parametrize("name", list(CASES))
def test_decomposed_action_force_and_trajectory_equal_one_process(tmp_path, name):
    case = {
        "dims": [4, 4, 4, 8],
        "group": "SU(2)",
        "trajectory": True,
        "update": ONE_SCALE,
        **CASES[name],
    }
    if name == "iwasaki-x":
        case["dims"] = [8, 4, 4, 4]
    ranks = run_decomposed(tmp_path, case)
    f = GaugeField.near_identity(case["dims"], case["group"], ChainRNG(3, 2), 0.4)
    action = case["action"]() if callable(case["action"]) else build(case["action"])
    S, F = action(f), action.force(f)
    new, st = HMC.from_config(action, case["update"]).trajectory(f, ChainRNG(9, 2))
    for r in ranks:
        assert torch.allclose(r["S"], S, rtol=1e-13, atol=0)
        assert torch.allclose(r["F"], F, rtol=0, atol=1e-12 * F.abs().max())
        assert torch.allclose(r["dH"], st.dH, rtol=0, atol=1e-9)
        assert torch.equal(r["accepted"], st.accepted)
        assert torch.allclose(r["links"], new.links, rtol=0, atol=1e-12)
    assert st.dH.abs().max() > 1e-6  # a trajectory that moved


def test_gather_and_block_are_inverse():
    lay = [Decomposition((4, 6), (2, 3), p, list(range(6))) for p in range(6)]
    x = torch.arange(2 * 4 * 6).reshape(2, 4, 6)
    blocks = [d.block(x, 1) for d in lay]
    assert {b.shape for b in blocks} == {(2, 2, 2)}
    assert lay[4].coords == (1, 1) and lay[4].neighbour(1, 1) == 5 and lay[4].neighbour(0, 1) == 1
    out = torch.zeros_like(x)
    for d, b in zip(lay, blocks):
        out[:, d.coords[0] * 2 : (d.coords[0] + 1) * 2, d.coords[1] * 2 : (d.coords[1] + 1) * 2] = b
    assert torch.equal(out, x)


@pytest.mark.parametrize(
    "grid,replicas,world,reach,message",
    [
        ([1, 1, 3], 1, 3, 1, "needs one entry per lattice axis"),
        ([1, 1, 1, 3], 1, 3, 1, "3 does not divide L_3 = 8"),
        ([1, 1, 1, 2], 2, 2, 1, "need 4 processes, 2 were started"),
        ([4, 1, 1, 1], 1, 4, 2, "thinner than the action's reach 2"),
    ],
)
def test_bad_grids(grid, replicas, world, reach, message):
    with pytest.raises(ParallelError, match=message):
        check_grid([4, 4, 4, 8], grid, replicas, world, reach)


CARD = """
[lattice]
dims = [4, 4, 4, 4]
group = "SU(2)"
batch = 2
seed = 5
start = "hot"
[action]
name = "wilson"
beta = 2.2
[update]
integrator = "omelyan2"
steps = 4
tau = 0.5
[run]
thermalisation = 2
trajectories = 6
save_interval = 2
checkpoint_interval = 3
output = "{out}"
[[measure]]
name = "plaquette"
interval = 2
"""


def spawn_run(tmp_path, card, overrides, world=2):
    mp.spawn(
        parallel_worker.run,
        args=(world, str(tmp_path / "store"), str(tmp_path), str(card), overrides),
        nprocs=world,
        join=True,
    )
    return [
        (tmp_path / f"error{r}.txt").read_text()
        for r in range(world)
        if (tmp_path / f"error{r}.txt").exists()
    ]


def tables(path):
    from lqcd_hmc.io import Ensemble

    ens = Ensemble(path)
    return (
        ens.table("mc"),
        ens.table("measurements/plaquette"),
        [ens.config(t)[0] for t in ens.trajectories()],
    )


def test_two_replicas_are_the_two_seeds_run_alone(tmp_path):
    from lqcd_hmc.analysis import analyze_ensemble
    from lqcd_hmc.config import load_card
    from lqcd_hmc.run import run_card

    card = tmp_path / "c.toml"
    card.write_text(CARD.format(out=(tmp_path / "ens.h5").as_posix()))
    assert spawn_run(tmp_path, card, ["parallel.replicas=2"]) == []
    for r in range(2):
        alone = tmp_path / f"alone{r}.h5"
        run_card(load_card(card, [f"lattice.seed={5 + r}", f"run.output='{alone}'"]), quiet=True)
        (mc_a, pl_a, cf_a), (mc_r, pl_r, cf_r) = (
            tables(alone),
            tables(tmp_path / f"ens.replica{r}.h5"),
        )
        for k in ("plaquette", "dH", "accepted"):
            assert np.array_equal(mc_a[k], mc_r[k])
        assert np.array_equal(pl_a["plaquette"], pl_r["plaquette"])
        assert all(np.array_equal(a, b) for a, b in zip(cf_a, cf_r)) and len(cf_a) == 3
    both = analyze_ensemble(tmp_path / "ens.replicas.json")
    assert both["mc"]["chains"] == 4 and both["mc"]["trajectories"] == 6
    files = [tmp_path / f"ens.replica{r}.h5" for r in range(2)]
    assert analyze_ensemble(files)["measurements"] == both["measurements"]


def test_decomposed_run_equals_one_process(tmp_path):
    from lqcd_hmc.config import load_card
    from lqcd_hmc.run import run_card

    card = tmp_path / "c.toml"
    card.write_text(CARD.format(out=(tmp_path / "dd.h5").as_posix()))
    assert spawn_run(tmp_path, card, ["parallel.grid=[1,2,1,1]"]) == []
    run_card(load_card(card, [f"run.output='{tmp_path / 'one.h5'}'"]), quiet=True)
    (mc_d, pl_d, cf_d), (mc_1, pl_1, cf_1) = tables(tmp_path / "dd.h5"), tables(tmp_path / "one.h5")
    assert np.allclose(mc_d["dH"], mc_1["dH"], rtol=0, atol=1e-9)
    assert np.array_equal(mc_d["accepted"], mc_1["accepted"])
    assert np.allclose(mc_d["plaquette"], mc_1["plaquette"], rtol=0, atol=1e-12)
    assert np.allclose(pl_d["plaquette"], pl_1["plaquette"], rtol=0, atol=1e-12)
    assert all(np.allclose(a, b, rtol=0, atol=1e-11) for a, b in zip(cf_d, cf_1))


def test_bad_grid_fails_on_every_rank(tmp_path):
    card = tmp_path / "c.toml"
    card.write_text(CARD.format(out=(tmp_path / "bad.h5").as_posix()))
    errors = spawn_run(tmp_path, card, ["parallel.grid=[1,1,1,3]"])
    assert len(errors) == 2 and all("3 does not divide L_3 = 4" in e for e in errors)
    errors = spawn_run(tmp_path, card, ["parallel.replicas=3"])
    assert len(errors) == 2 and all("need 3 processes, 2 were started" in e for e in errors)
    assert not (tmp_path / "bad.h5").exists()


def test_torchrun_launch(tmp_path):
    """``torchrun --standalone --nproc-per-node 2 -m lqcd_hmc run CARD`` with a process grid:
    one summary (from the writing rank), the file equal to a one-process run's to rounding."""
    import subprocess
    import sys

    card = tmp_path / "c.toml"
    card.write_text(CARD.format(out="tr.h5") + "[parallel]\ngrid = [1, 1, 2, 1]\n")
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "lqcd_hmc",
    ]
    res = subprocess.run(
        [*torchrun, "run", str(card), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("production trajectories x chains") == 1
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "lqcd_hmc",
            "run",
            str(card),
            "--quiet",
            "--set",
            "run.output=one.h5",
            "--set",
            "parallel.grid=[1,1,1,1]",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    (mc_d, _, cf_d), (mc_1, _, cf_1) = tables(tmp_path / "tr.h5"), tables(tmp_path / "one.h5")
    assert np.allclose(mc_d["plaquette"], mc_1["plaquette"], rtol=0, atol=1e-12)
    assert all(np.allclose(a, b, rtol=0, atol=1e-11) for a, b in zip(cf_d, cf_1))
    bad = subprocess.run(
        [*torchrun, "run", str(card), "--set", "parallel.grid=[1,1,3,1]"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert bad.stderr.count("Error: parallel.grid [1, 1, 3, 1]: 3 does not divide L_2 = 4") == 2


def test_replicas_on_process_grids_and_resume(tmp_path):
    """4 processes: 2 replicas, each cut in two, 6 trajectories, then resumed (4 processes
    again) to 9: each replica equals its seed run alone in one process, to rounding."""
    from lqcd_hmc.config import load_card
    from lqcd_hmc.run import run_card

    card = tmp_path / "c.toml"
    card.write_text(CARD.format(out=(tmp_path / "rg.h5").as_posix()))
    par = ["parallel.replicas=2", "parallel.grid=[1,1,1,2]"]
    assert spawn_run(tmp_path, card, par, world=4) == []
    mp.spawn(
        parallel_worker.run,
        args=(
            4,
            str(tmp_path / "store2"),
            str(tmp_path),
            str(card),
            par + ["run.trajectories=9"],
            True,
        ),
        nprocs=4,
        join=True,
    )
    assert not list(tmp_path.glob("error*.txt"))
    for r in range(2):
        alone = tmp_path / f"alone{r}.h5"
        run_card(
            load_card(
                card, [f"lattice.seed={5 + r}", f"run.output='{alone}'", "run.trajectories=9"]
            ),
            quiet=True,
        )
        (mc_d, pl_d, cf_d), (mc_1, pl_1, cf_1) = (
            tables(tmp_path / f"rg.replica{r}.h5"),
            tables(alone),
        )
        assert len(mc_d["plaquette"]) == 11 and len(cf_d) == 4
        assert np.allclose(mc_d["plaquette"], mc_1["plaquette"], rtol=0, atol=1e-12)
        assert np.array_equal(mc_d["accepted"], mc_1["accepted"])
        assert np.allclose(pl_d["plaquette"], pl_1["plaquette"], rtol=0, atol=1e-12)
        assert all(np.allclose(a, b, rtol=0, atol=1e-11) for a, b in zip(cf_d, cf_1))
