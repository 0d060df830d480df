"""``lqcd-hmc train``: a plug-in command (entry-point group ``lqcd_hmc.commands``)."""

from __future__ import annotations

import click

from lqcd_hmc.clitools import RESUME_HINT, Progress, one_line_errors, print_json, progress_options


@click.command("train")
@click.argument("card", type=click.Path(dir_okay=False))
@click.option(
    "--resume", is_flag=True, help="continue the training state next to output.checkpoint"
)
@progress_options("epochs")
@one_line_errors(interrupt=RESUME_HINT)
def train_command(card, resume, progress, quiet, as_json) -> None:
    """Train the L-CNN fixed-point action on FP data (loss w1 L1 + w2 L2)."""
    from .card import load_train_card
    from .trainer import train

    tc = load_train_card(card)
    bar = Progress(tc.training.epochs, "epoch", "train", progress, quiet or as_json)

    def report(entry: dict) -> None:
        line = f"L1 {entry['train_L1']:.3e} L2 {entry['train_L2']:.3e}" + (
            f" | val L1 {entry['val_L1']:.3e} L2 {entry['val_L2']:.3e}" if "val_L1" in entry else ""
        )
        bar.step(entry["epoch"], line, f"epoch {entry['epoch']}: {line}")

    summary = train(tc, resume=resume, report=report)
    bar.close()
    if as_json:
        print_json(summary)
        return
    v, b = summary["validation"], summary["fp_param_validation"]
    click.echo(
        f"best epoch {summary['best_epoch']} of {summary['epochs']}"
        f"{' (stopped early)' if summary['stopped_early'] else ''}; "
        f"{summary['configurations_per_second']:.2f} configurations/s"
    )
    if v["L1"] is not None:
        click.echo(
            f"validation L1 {v['L1']:.4e}  L2 {v['L2']:.4e}   "
            f"(fp-param: L1 {b['L1']:.4e}  L2 {b['L2']:.4e})"
        )
    click.echo(f"written to {summary['checkpoint']}")
