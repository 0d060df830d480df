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


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="the results as JSON")
@one_line_errors()
def models_command(as_json) -> None:
    """The L-CNN fixed-point actions shipped with the package: [action] name = "lcnn",
    model = "NAME"."""
    from actions.lcnn.shipped import describe, shipped

    rows = [describe(path) for path in shipped().values()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no L-CNN models are shipped with this package")
    for r in rows:
        fp = r["fp_param_validation"] or {}
        click.echo(
            f"{r['name']}: {r['group']} D = {r['D']}, channels {r['channels']}, kernels "
            f"{r['kernel_sizes']}, {r['parameters']} parameters; held-out L1 "
            f"{_g(r['validation_L1'])} L2 {_g(r['validation_L2'])} (fp-param: L1 "
            f"{_g(fp.get('L1'))} L2 {_g(fp.get('L2'))}); data sha256 "
            f"{_hashes(r['data_sha256'])}; lqcd-hmc {r['package_version']}"
        )


def _hashes(h: str | list[str] | None) -> str:
    """The first 12 digits of a data file's sha256 (of each, for several files)."""
    return "?" if not h else h[:12] if isinstance(h, str) else ", ".join(x[:12] for x in h)


def _g(x: float | None) -> str:
    return "?" if x is None else f"{x:.3e}"
