"""``lqcd-hmc fp-data``: registered as a plug-in command (entry-point group
``lqcd_hmc.commands``), so the engine's CLI never imports this package by name."""
from __future__ import annotations

import click

from lqcd_hmc.cli import _print_json, one_line_errors


@click.command("fp-data")
@click.argument("card", type=click.Path(dir_okay=False))
@click.option("--resume", is_flag=True, help="continue the file in output.file at the first "
              "beta it lacks")
@click.option("--progress/--no-progress", default=None,
              help="a progress bar over the betas (default: on a terminal)")
@click.option("--quiet", is_flag=True, help="no progress bar or log lines")
@click.option("--json", "as_json", is_flag=True)
@one_line_errors
def fp_data_command(card, resume, progress, quiet, as_json) -> None:
    """Coarse ensembles, their FP action values and derivatives, into one HDF5 file."""
    import sys

    from .data import fp_data, load_fp_card

    fp_card = load_fp_card(card)
    bar = None
    if not quiet and (sys.stderr.isatty() if progress is None else progress):
        from tqdm import tqdm
        bar = tqdm(total=len(fp_card.generate.betas), unit="beta", desc="fp-data",
                   file=sys.stderr)

    def report(line: str) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(line.split(":")[0])
        elif not (quiet or as_json):
            click.echo(f"fp-data: {line}", err=True)

    summary = fp_data(fp_card, resume=resume, report=report)
    if bar is not None:
        bar.close()
    if as_json:
        _print_json(summary)
    else:
        for b in summary["betas"]:
            click.echo(f"beta {b['beta']:<6} A_FP {b['mean_action']:.6g}  max gradient "
                       f"{b['max_gradient']:.1e}  {'converged' if b['converged'] else 'NOT converged'}"
                       f"  {b['seconds_per_configuration']:.1f} s/config")
        click.echo(f"written to {summary['file']}")
