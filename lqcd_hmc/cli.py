"""The ``lqcd-hmc`` command line (click). Bad input ends in a one-line ``Error: ...`` and exit
status 1 (2 for click's own usage errors), never a traceback, and never touches existing files.
"""

from __future__ import annotations

import json
from typing import Any

import click
import torch

from . import __version__
from .clitools import Progress, one_line_errors, progress_options
from .clitools import print_json as _print_json


@click.group()
@click.version_option(__version__, prog_name="lqcd-hmc")
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="torch intra-op threads (1 is fastest for small lattices; batch chains for throughput)",
)
def main(threads: int) -> None:
    """Lattice gauge theory on PyTorch.

    On Linux the command runs with tcmalloc where it is installed, which spares the CPU the
    page faults of large tensors; LQCD_HMC_ALLOCATOR=auto|tcmalloc|system chooses.
    """
    if threads < 1:
        raise click.ClickException(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)


@main.command()
@click.argument("card", type=click.Path(dir_okay=False))
@click.option(
    "--resume",
    is_flag=True,
    help="continue the ensemble in run.output from its last checkpoint (or extend a finished one)",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a card entry, e.g. --set run.trajectories=200 (repeatable)",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="progress bar (default: when stderr is a terminal; else log lines)",
)
@click.option("--quiet", is_flag=True, help="no progress output, only the summary")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@one_line_errors
def run(card, resume, overrides, progress, quiet, as_json) -> None:
    """Generate (or continue) the ensemble a run card describes."""
    from .config import load_card
    from .parallel.grid import is_writer, leave_world
    from .run import RunInterrupted, run_card

    path = card
    card = load_card(card, overrides)
    try:
        summary = run_card(card, resume=resume, progress=progress, quiet=quiet)
    except BaseException as exc:
        if isinstance(exc, RunInterrupted):
            sets = "".join(f" --set {o}" for o in overrides)
            exc.command = f"lqcd-hmc run {path} --resume{sets}"
        leave_world(synchronise=False)  # a failed rank must not wait at a barrier
        raise
    leave_world()
    if summary is None and not is_writer(card.parallel.grid):
        return
    if summary is None:
        click.echo(json.dumps(None) if as_json else "no production trajectories yet")
    elif as_json:
        _print_json(summary.as_dict())
    else:
        click.echo(summary.table())


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@one_line_errors
def info(file, as_json) -> None:
    """Format, lattice, trajectories, plaquette and checksums of a gauge-field file."""
    from .io.describe import describe

    d = describe(file)
    if as_json:
        _print_json(d)
        return
    w = max(len(k) for k in d)
    for k, v in d.items():
        if isinstance(v, list) and len(v) > 8:
            v = f"{v[:3]} ... {v[-3:]} ({len(v)} entries)"
        click.echo(f"{k:<{w}}  {v}")


@main.command()
@click.argument("ensembles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="directory for the records (created); a record keeps its ensemble's file name",
)
@click.option(
    "--resumable",
    is_flag=True,
    help="keep the checkpoint (links and generator states: one configuration's size), so that "
    "the run continues from the record",
)
@one_line_errors
def record(ensembles, out, resumable) -> None:
    """Write the record of each ensemble: its tables and the checksums of its configurations,
    without the links (a few kB; docs/conventions.md, section 4)."""
    from pathlib import Path

    from .io import Ensemble, FormatError
    from .io.record import write_record

    names = [Path(e).name for e in ensembles]
    if len(set(names)) < len(names):
        raise FormatError("two ensembles share a file name; their records would collide")
    for e in ensembles:  # every source is checked before anything is written
        if not Path(e).is_file():
            raise FormatError(f"{e}: no such file")
        Ensemble(e)
    Path(out).mkdir(parents=True, exist_ok=True)
    for e, name in zip(ensembles, names, strict=True):
        dest = Path(out) / name
        written = write_record(e, dest, resumable=resumable)
        click.echo(f"{e} -> {dest}" + ("" if written else " (unchanged)"))


@main.command()
@click.argument("ensemble", type=click.Path(dir_okay=False))
@click.option(
    "--card",
    "card",
    required=True,
    type=click.Path(dir_okay=False),
    help="TOML with [[measure]] tables (and optionally device)",
)
@click.option(
    "--save/--no-save",
    default=None,
    help="store the results in the ensemble's measurements/ (default: for an HDF5 ensemble; "
    "a single configuration in an exchange format is measured and reported only)",
)
@click.option("--replace", is_flag=True, help="overwrite stored measurements of the same name")
@progress_options("configurations")
@one_line_errors(interrupt="nothing was stored; the file is unchanged")
def measure(ensemble, card, save, replace, as_json, progress, quiet) -> None:
    """Measure stored configurations offline."""
    from .io import detect
    from .offline import load_spec, measure_file
    from .statistics import with_error

    spec = load_spec(card)
    if save is None and not as_json and detect(ensemble) != "hdf5":
        click.echo(f"{ensemble}: one configuration; the results are reported, not stored", err=True)
    res = measure_file(
        ensemble,
        spec,
        save=save,
        replace=replace,
        progress=lambda n: Progress(n, "config", "measure", progress, quiet or as_json),
    )
    if as_json:
        _print_json(res)
        return
    for name, cols in res.items():
        for col, r in cols.items():
            mean, err = r["mean"], r["error"]
            if isinstance(mean, list):
                click.echo(f"{name}.{col} ({r['n']} x {r['chains']}):")
                for row_m, row_e in zip(mean, err):
                    click.echo(
                        "   "
                        + "  ".join(with_error(m, e) for m, e in zip(_flat(row_m), _flat(row_e)))
                    )
            else:
                click.echo(f"{name}.{col} ({r['n']} x {r['chains']}): {with_error(mean, err)}")


@main.command()
@click.argument("ensemble", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--plots",
    "plots",
    type=click.Path(file_okay=False),
    default=None,
    help="write PNG plots (histories, V(r) with fit, t^2 E(t), Q) into this directory",
)
@click.option(
    "--plateau",
    type=int,
    default=None,
    help="time extent T of the static-potential plateau (default: automatic)",
)
@click.option("--r-min", type=float, default=None, help="smallest r/a in the Cornell fit")
@click.option("--r-max", type=float, default=None, help="largest r/a in the Cornell fit")
@click.option(
    "--export",
    "export",
    type=(click.Choice(["pyerrors"]), click.Path(dir_okay=False)),
    default=None,
    metavar="pyerrors OUT.json.gz",
    help="also write every Monte Carlo history as pyerrors Obs (one replica per chain)",
)
@click.option("--json", "as_json", is_flag=True)
@progress_options("measurements", json=False)
@one_line_errors
def analyze(ensemble, plots, plateau, r_min, r_max, export, as_json, progress, quiet) -> None:
    """Every measured observable with Gamma-method errors and tau_int; the static potential
    (r0, r1, sigma), flow scales (t0, w0) and the topological susceptibility. Several
    ENSEMBLE files (or one .replicas.json index) are replicas: their chains are combined."""
    from .analysis import analyze_ensemble, ensemble_files, report

    res = analyze_ensemble(
        ensemble,
        plots,
        progress=lambda n: Progress(n, "measurement", "analyze", progress, quiet or as_json),
        plateau=plateau,
        r_min=r_min,
        r_max=r_max,
    )
    if export is not None:
        from .export import export_pyerrors

        written = export_pyerrors(ensemble_files(ensemble), export[1])
        click.echo(f"Monte Carlo histories written to {written} (pyerrors)", err=True)
    if as_json:
        _print_json(res)
    else:
        click.echo(report(res))


def _flat(x: Any) -> list:
    return [y for v in x for y in _flat(v)] if isinstance(x, list) else [x]


@main.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "fmt",
    type=click.Choice(["hdf5", "nersc", "ildg", "openqcd"]),
    help="output format (default: from the extension .h5 .nersc .lime .openqcd)",
)
@click.option(
    "--trajectory",
    type=int,
    help="which stored configuration of an HDF5 ensemble (default: the last)",
)
@click.option("--chain", type=int, default=0, show_default=True)
@click.option("--precision", type=click.Choice(["32", "64"]), default="64", show_default=True)
@click.option("--two-row", is_flag=True, help="NERSC 4D_SU3_GAUGE (two rows per link)")
@click.option(
    "--byte-order",
    type=click.Choice(["big", "little"]),
    default="big",
    show_default=True,
    help="NERSC byte order",
)
@click.option("--overwrite", is_flag=True, help="replace an existing target (atomically)")
@progress_options("stages", json=False)
@one_line_errors(interrupt="the target is unchanged (it is replaced atomically or not at all)")
def convert(
    source,
    target,
    fmt,
    trajectory,
    chain,
    precision,
    two_row,
    byte_order,
    overwrite,
    progress,
    quiet,
) -> None:
    """Convert one configuration between HDF5, NERSC, ILDG/LIME and openQCD."""
    from pathlib import Path

    from .io import format_for, read_configuration, write_configuration
    from .io.lock import EnsembleLock

    out_fmt = format_for(target, fmt)
    if Path(target).exists():
        if Path(target).resolve() == Path(source).resolve():
            raise click.ClickException("target is the source file")
        if not overwrite:
            raise click.ClickException(f"{target} exists; pass --overwrite to replace it")
    mib = Path(source).stat().st_size / 2**20
    bar = Progress(2, "stage", "convert", progress, quiet or mib < 64)  # a line a stage if large
    cfg = read_configuration(source, trajectory, chain)
    bar.step(1, "read", f"read {source} ({mib:.0f} MiB, checks passed)")
    with EnsembleLock(target):
        write_configuration(
            target, cfg, out_fmt, precision=int(precision), two_row=two_row, byte_order=byte_order
        )
    bar.step(2, "written", f"wrote {target}")
    bar.close()
    if not quiet:
        click.echo(
            f"{source} ({cfg.meta.get('format')}, trajectory {cfg.trajectory}) -> {target} "
            f"({out_fmt})",
            err=True,
        )


def _add_plugin_commands() -> None:
    """Commands other packages register under the entry-point group ``lqcd_hmc.commands``
    (``fp-data``, ``train``, ``compare`` ... from :mod:`workflows`)."""
    from .registry import registered

    for name, ep in registered("lqcd_hmc.commands").items():
        main.add_command(ep.load(), name)


_add_plugin_commands()


if __name__ == "__main__":  # python -m lqcd_hmc.cli: after the plug-ins are added
    main(prog_name="lqcd-hmc")
