"""Crash-safe file replacement: write a temporary sibling, fsync it, ``os.replace`` it over the
target, fsync the directory. A reader (or a resumed run) sees the old file or the new one, never a
mix, whenever the writer is killed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | os.PathLike, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it atomically becomes ``path``. With
    ``copy_existing`` the temporary starts as a copy of ``path`` (copy-on-write update)."""
    path = Path(path)
    tmp = temporary_sibling(path)
    tmp.unlink(missing_ok=True)
    try:
        if copy_existing:
            shutil.copyfile(path, tmp)
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent if str(path.parent) else Path("."))
    finally:
        tmp.unlink(missing_ok=True)
