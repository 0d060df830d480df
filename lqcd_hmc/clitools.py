"""Helpers every ``lqcd-hmc`` command shares, the plug-in ones included (they import this
module, not :mod:`lqcd_hmc.cli`, which loads them): one-line errors and JSON output."""
from __future__ import annotations

import functools
import json
import math
from typing import Any, Callable

import click


def one_line_errors(fn: Callable) -> Callable:
    """Turn the package's input errors into click's one-line error and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(msg) from None
    return wrapper


def _finite(x: Any) -> Any:
    """NaN (an error bar from fewer than two measurements) becomes JSON null."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def print_json(obj: Any) -> None:
    click.echo(json.dumps(_finite(obj), default=str, allow_nan=False))
