"""Worker of tests/test_parallel.py: run by each of the processes the test spawns (Gloo over a
file store), it writes what its rank computed to ``out/rank<r>.pt``."""

import os

import torch
import torch.distributed as dist


def decomposed(rank: int, world: int, store: str, out: str, case: dict) -> None:
    from lqcd_hmc import ChainRNG, GaugeField, build
    from lqcd_hmc.parallel import Decomposition, DistributedAction, DistributedHMC

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        layout = Decomposition(case["dims"], case["grid"], rank, list(range(world)))
        glob = GaugeField.near_identity(case["dims"], case["group"], ChainRNG(3, 2), 0.4)
        local = glob.with_links(layout.block(glob.links, 2))
        action = case["action"]() if callable(case["action"]) else build(case["action"])
        dact = DistributedAction(action, layout)
        res = {"S": dact(local), "F": layout.gather(dact.force(local), 2)}
        if case.get("trajectory"):
            hmc = DistributedHMC.from_config(dact, case["update"])
            new, st = hmc.trajectory(local, ChainRNG(9, 2))
            res.update(links=layout.gather(new.links, 2), dH=st.dH, accepted=st.accepted)
        torch.save(res, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run(
    rank: int, world: int, store: str, out: str, card: str, overrides: list, resume: bool = False
) -> None:
    """``lqcd-hmc run CARD [--resume] --set ...`` on this rank; the error message, if any,
    goes to ``out/error<r>.txt``."""
    from lqcd_hmc.config import load_card
    from lqcd_hmc.run import run_card

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        run_card(load_card(card, overrides), resume=resume, quiet=True)
    except ValueError as exc:
        with open(os.path.join(out, f"error{rank}.txt"), "w") as f:
            f.write(str(exc))
    finally:
        dist.destroy_process_group()
