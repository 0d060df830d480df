"""The ``lqcd-hmc`` command line (click). Errors end in one line and a non-zero exit."""
from __future__ import annotations

import click
import torch

from . import __version__


@click.group()
@click.version_option(__version__, prog_name="lqcd-hmc")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch intra-op threads (1 is fastest for small lattices; batch chains "
                   "for throughput)")
def main(threads: int) -> None:
    """Lattice gauge theory on PyTorch."""
    torch.set_num_threads(max(1, threads))


@main.command()
@click.option("--dims", default="4,4,4,4", show_default=True, help="lattice extents L0,...,L(D-1)")
@click.option("--group", default="SU(3)", show_default=True)
@click.option("--beta", type=float, default=6.0, show_default=True)
@click.option("--chains", type=int, default=2, show_default=True)
@click.option("--trajectories", type=int, default=20, show_default=True)
@click.option("--steps", type=int, default=10, show_default=True)
@click.option("--therm", type=int, default=5, show_default=True,
              help="leading molecular-dynamics trajectories without Metropolis")
@click.option("--integrator", default="omelyan2", show_default=True)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON record per chain and trajectory")
def demo(dims, group, beta, chains, trajectories, steps, therm, integrator, seed, as_json
         ) -> None:
    """Short Wilson HMC run printing plaquette, dH and acceptance per trajectory."""
    from .demo import run_demo

    try:
        dims = [int(x) for x in dims.split(",")]
        if chains < 1 or trajectories < 1 or therm < 0:
            raise ValueError("--chains and --trajectories must be >= 1, --therm >= 0")
        run_demo(dims, beta, group, chains, trajectories, steps, therm, integrator, seed,
                 as_json)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
