"""``lqcd-hmc fp-data``: registered as a plug-in command (entry-point group
``lqcd_hmc.commands``), so the engine's CLI never imports this package by name."""

from __future__ import annotations

import click

from lqcd_hmc.clitools import RESUME_HINT, Progress, one_line_errors, progress_options
from lqcd_hmc.clitools import print_json as _print_json


@click.command("fp-data")
@click.argument("card", type=click.Path(dir_okay=False))
@click.option(
    "--resume", is_flag=True, help="continue the file in output.file at the first item it lacks"
)
@click.option(
    "--items",
    "only",
    metavar="A:B",
    help="solve only items A to B-1 (to run pieces in parallel, each with its own --output)",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="write to this file instead of output.file (for a piece of --items)",
)
@click.option(
    "--merge",
    "parts",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="add the items of this file (repeatable) to output.file, rewritten in item order",
)
@progress_options("items")
@one_line_errors(interrupt=RESUME_HINT)
def fp_data_command(card, resume, only, output, parts, progress, quiet, as_json) -> None:
    """Coarse ensembles, their FP action values and derivatives, into one HDF5 file."""
    from .data import fp_data, item_range, items, load_fp_card, merge_fp_data

    fp_card = load_fp_card(card)
    n_items = len(items(fp_card))
    if parts:
        if only or output or resume:
            raise ValueError("--merge takes no --items, --output or --resume")
        merged = merge_fp_data(fp_card, list(parts))
        if as_json:
            _print_json(merged)
        else:
            missing = merged["missing"]
            click.echo(
                f"{merged['file']}: {merged['items']} of {n_items} items"
                + (f"; missing {len(missing)} (first {missing[0]}): --resume" if missing else "")
            )
        return
    todo = item_range(only, n_items) if only else None
    total = len(todo) if todo is not None else n_items
    bar = Progress(total, "item", "fp-data", progress, quiet or as_json)
    done = 0

    def report(line: str) -> None:
        nonlocal done
        done += 1
        bar.step(done, line.split(":")[0], line)

    summary = fp_data(fp_card, resume=resume, report=report, only=todo, output=output)
    bar.close()
    if as_json:
        _print_json(summary)
    else:
        for b in summary["items"]:
            click.echo(
                f"{b['source']:<22} A_FP {b['mean_action']:.6g}  max gradient "
                f"{b['max_gradient']:.1e}  "
                f"{'converged' if b['converged'] else 'NOT converged'}"
                f"  {b['seconds_per_configuration']:.1f} s/config"
            )
        click.echo(f"written to {summary['file']}")


@click.command("fp-fit")
@click.argument("data", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="coefficient file (JSON) for the fp-param action",
)
@click.option(
    "--order",
    type=int,
    default=3,
    show_default=True,
    help="total degree of the polynomial in u and the w of each smearing level",
)
@click.option(
    "--rho",
    type=float,
    multiple=True,
    help="stout weight of the fat links (default 0.1); repeat it for further smearing levels, "
    "each a stout step of the previous level's links",
)
@click.option(
    "--ridge",
    type=float,
    default=0.0,
    show_default=True,
    help="penalty ridge |p|^2 on the polynomial's coefficients (keeps the flow from going stiff)",
)
@click.option(
    "--rectangles",
    is_flag=True,
    help="the thin 2x1 and 1x2 loops of each plane (averaged) as a further variable of the "
    "polynomial",
)
@click.option(
    "--holdout",
    type=float,
    default=0.25,
    show_default=True,
    help="fraction of configurations (every k-th) kept out of the fit",
)
@click.option(
    "--classically-perfect/--fitted-quadratic",
    default=True,
    show_default=True,
    help="quadratic part fixed to the free FP action of the data's kernel, flux rows exact",
)
@click.option(
    "--free-box",
    type=int,
    default=11,
    show_default=True,
    help="odd box of the free FP action's couplings",
)
@click.option("--json", "as_json", is_flag=True)
@one_line_errors
def fp_fit_command(
    data, out, order, rho, ridge, rectangles, holdout, classically_perfect, free_box, as_json
) -> None:
    """Fit the fp-param coefficients to FP data (one or more files of the same FP parameters,
    rows in the order given); report held-out errors against Wilson."""
    from pathlib import Path

    import torch

    from actions.fixed_point.free_fixed_point import of_data
    from actions.fixed_point.parametrisation import fit, held_out_errors

    from .files import read_fp_datasets

    rhos = list(rho) or [0.1]
    if any(not 0 <= r < 1 for r in rhos):
        raise ValueError(f"--rho must be in [0, 1), got {rhos}")
    if not 0 <= holdout < 1:
        raise ValueError(f"--holdout must be in [0, 1), got {holdout}")
    if ridge < 0:
        raise ValueError(f"--ridge must be >= 0, got {ridge}")
    if Path(out).exists():
        raise ValueError(f"{out} exists; choose another --out")
    d = read_fp_datasets(data)
    n = d["action"].numel()
    every = max(2, round(1 / holdout)) if holdout > 0 else n + 1
    test = torch.arange(every - 1, n, every)
    train = torch.tensor([i for i in range(n) if i not in set(test.tolist())])
    f = d["fields"]
    free = of_data(d["parameters"], free_box) if classically_perfect else None
    param = fit(
        [f.with_links(f.links[train])],
        d["action"][train],
        d["derivative"][train],
        order,
        rhos[0] if len(rhos) == 1 else rhos,
        free=free,
        ridge=ridge,
        rectangles=rectangles,
    )
    res = {
        "coefficients": param.coefficients.tolist(),
        "terms": param.terms,
        "loops": param.loops,
        "train": len(train),
        "held_out": len(test),
        "ridge": ridge,
        "rectangles": rectangles,
    }
    if len(test):
        res.update(held_out_errors(param, f, d["action"], train, test))
    param.save(out, data=data[0] if len(data) == 1 else list(data), fit=res)
    if as_json:
        _print_json(res)
    else:
        click.echo(
            f"fitted {len(param.terms)} coefficients on {len(train)} configurations; "
            f"written to {out}"
        )
        if len(test):
            click.echo(
                f"held-out mean relative error: fp-param {res['fp_param']:.4f}, Wilson x "
                f"{res['wilson_normalisation']:.4f} {res['wilson']:.4f}"
            )
