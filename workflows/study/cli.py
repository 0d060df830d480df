"""``lqcd-hmc tune-beta`` and ``lqcd-hmc compare`` (plug-in commands of the workflows)."""

from __future__ import annotations

import click

from lqcd_hmc.clitools import one_line_errors, print_json, progress_options

STUDY_HINT = (
    "every ensemble keeps its last checkpoint; the same command continues them and reuses "
    "the finished ones"
)


def _run_options(progress: bool | None, quiet: bool, as_json: bool) -> dict:
    return {"progress": progress, "quiet": quiet or as_json}


@click.command("tune-beta")
@click.option(
    "--action",
    "card_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="run card of the action (lattice, update, run, measure)",
)
@click.option(
    "--target",
    required=True,
    metavar="t0=VALUE|r0=VALUE",
    help="t0/a^2 (gradient_flow) or r0/a (wilson_loops) wanted",
)
@click.option(
    "--betas",
    default=None,
    help="comma-separated first betas (default: the card's beta and beta + step)",
)
@click.option("--step", type=float, default=0.1, show_default=True)
@click.option("--max-runs", type=int, default=5, show_default=True)
@click.option(
    "--directory",
    type=click.Path(file_okay=False),
    default="tune",
    show_default=True,
    help="where the ensembles go (reused on later calls)",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a card entry (repeatable)",
)
@progress_options("trajectories")
@one_line_errors(interrupt=STUDY_HINT)
def tune_beta_command(
    card_path, target, betas, step, max_runs, directory, overrides, progress, quiet, as_json
) -> None:
    """Short runs and interpolation to the beta with the wanted lattice spacing."""
    from pathlib import Path

    from lqcd_hmc.config import load_card

    from .tune import TuneError, tune_beta

    name, sep, value = target.partition("=")
    try:
        goal = float(value)
    except ValueError:
        raise TuneError(f"--target {target!r}: expected t0=VALUE or r0=VALUE") from None
    if not sep:
        raise TuneError(f"--target {target!r}: expected t0=VALUE or r0=VALUE")
    try:
        first = [float(b) for b in betas.split(",")] if betas else None
    except ValueError:
        raise TuneError(f"--betas {betas!r}: expected numbers separated by commas") from None
    res = tune_beta(
        load_card(card_path, overrides),
        name.strip(),
        goal,
        Path(directory),
        betas=first,
        step=step,
        max_runs=max_runs,
        **_run_options(progress, quiet, as_json),
    )
    if as_json:
        print_json(res.as_dict())
    else:
        click.echo(res.table())


@click.command("compare")
@click.argument("study", type=click.Path(dir_okay=False))
@click.option(
    "--classical-only", is_flag=True, help="only the classical artifacts (no Monte Carlo)"
)
@click.option(
    "--only",
    multiple=True,
    metavar="LABEL",
    help="run only this action's ensembles (repeatable; two processes can share a study, "
    "also one action's tuning)",
)
@click.option(
    "--spacing",
    "spacings",
    multiple=True,
    type=int,
    metavar="I",
    help="run only spacing I (from 0, the order of study.dims; repeatable)",
)
@click.option(
    "--save-records",
    is_flag=True,
    help="only write the records (study.records) of the output's ensembles, those in progress "
    "resumable, and stop: before the machine goes",
)
@progress_options("trajectories")
@one_line_errors(interrupt=STUDY_HINT)
def compare_command(
    study, classical_only, only, spacings, save_records, progress, quiet, as_json
) -> None:
    """Actions at matched lattice spacings: ratios, continuum limits, classical artifacts;
    results.json and report.md in the study's output directory."""
    from pathlib import Path

    from .card import load_study
    from .compare import run_study
    from .records import save

    card = load_study(study)
    if save_records:
        if card.study.records is None:
            raise ValueError("--save-records needs study.records in the card")
        saved = save(Path(card.study.output), Path(card.study.records), partial=True)
        click.echo(f"records written: {len(saved.written)}")
        for line in [*saved.written, *(f"record kept: {k}" for k in saved.kept)]:
            click.echo(f"  {line}")
        return
    res = run_study(
        card,
        classical_only=classical_only,
        only=list(only) or None,
        spacings=list(spacings) or None,
        **_run_options(progress, quiet, as_json),
    )
    if as_json:
        print_json(res)
        return
    for verb, names in res["records"].items():
        if names:
            click.echo(f"records {verb}: {len(names)} ({', '.join(names)})", err=True)
    click.echo(f"report: {res['report']}")
