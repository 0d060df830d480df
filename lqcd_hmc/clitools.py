"""Helpers every ``lqcd-hmc`` command shares, the plug-in ones included (they import this
module, not :mod:`lqcd_hmc.cli`, which loads them): one-line errors and JSON output."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

import click


def one_line_errors(fn: Callable | None = None, *, interrupt: str = "") -> Any:
    """Turn the package's input errors into click's one-line error and exit status 1, and
    Ctrl-C into one line and status 130: ``interrupt`` (what the command keeps and how to go
    on) when given, else the exception's own message (``run`` says which checkpoint it keeps).
    Use as ``@one_line_errors`` or ``@one_line_errors(interrupt="...")``."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (ValueError, OSError) as exc:
                text = str(exc).strip()
                raise click.ClickException(
                    text.splitlines()[0] if text else type(exc).__name__
                ) from None
            except KeyboardInterrupt as exc:
                text = f"interrupted; {interrupt}" if interrupt else str(exc) or "interrupted"
                click.echo(f"Error: {text}", err=True)
                raise SystemExit(130) from None

        return wrapper

    return decorate if fn is None else decorate(fn)


RESUME_HINT = "what was written last is kept; run the same command with --resume to continue"


def _finite(x: Any) -> Any:
    """NaN (an error bar from fewer than two measurements) becomes JSON null."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def json_text(obj: Any, indent: int | None = None) -> str:
    """Strict JSON (NaN -> null) of a result dict."""
    return json.dumps(_finite(obj), default=str, allow_nan=False, indent=indent)


def print_json(obj: Any) -> None:
    click.echo(json_text(obj))


def progress_options(units: str, json: bool = True) -> Callable[[Callable], Callable]:
    """``--progress/--no-progress``, ``--quiet`` and (with ``json``) ``--json`` for a long
    command whose steps are ``units`` (the parameters ``progress``, ``quiet``, ``as_json``)."""

    def decorate(fn: Callable) -> Callable:
        if json:
            fn = click.option("--json", "as_json", is_flag=True, help="the results as JSON")(fn)
        fn = click.option("--quiet", is_flag=True, help="no progress bar or log lines")(fn)
        return click.option(
            "--progress/--no-progress",
            default=None,
            help=f"a progress bar over the {units} (default: on a terminal)",
        )(fn)

    return decorate


class Progress:
    """Progress of a long command: a tqdm bar on a terminal (or with ``progress=True``),
    otherwise one log line per step on stderr; nothing with ``quiet``."""

    def __init__(self, total: int, unit: str, desc: str, progress: bool | None, quiet: bool):
        import sys

        self.desc, self.quiet, self.bar = desc, quiet, None
        if not quiet and (sys.stderr.isatty() if progress is None else progress):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)

    def step(self, n: int, postfix: str, line: str) -> None:
        """Step ``n`` done: ``postfix`` on the bar, or ``line`` logged."""
        if self.bar is not None:
            self.bar.n = n
            self.bar.set_postfix_str(postfix)
            self.bar.refresh()
        elif not self.quiet:
            click.echo(f"{self.desc}: {line}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
