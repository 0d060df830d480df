"""Crash-safe file replacement: write a temporary sibling, fsync it, ``os.replace`` it over the
target, fsync the directory. A reader (or a resumed run) sees the old file or the new one, never a
mix, whenever the writer is killed."""

from __future__ import annotations

import errno
import os
import re
import resource
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


def write_error(exc: BaseException, path: Path) -> OSError:
    """An ``OSError`` naming ``path`` for a failed write: ``exc`` itself when it has an errno,
    else the errno HDF5 reports inside its message (``errno = 28``; h5py raises such failures
    as ``RuntimeError``), else EIO."""
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else errno.EIO
    return OSError(code, os.strerror(code), str(path))


def failure_reason(exc: OSError) -> str:
    """The one-line reason of a failed file operation (``"No space left on device"``)."""
    return exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]


def require_space(path: Path, nbytes: int) -> None:
    """Refuse (``OSError`` ENOSPC or EFBIG naming ``path``) to write a file of ``nbytes`` next
    to ``path`` when the file system has less free space or the process may not write a file
    that large (``RLIMIT_FSIZE``). Writers call it before HDF5 writes they cannot stage in
    memory: HDF5 fails a write midway badly (h5py raises from deallocators)."""
    parent = path.parent if str(path.parent) else Path(".")
    if shutil.disk_usage(parent).free < nbytes:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and nbytes > limit:
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))


@contextmanager
def replacing(path: str | os.PathLike, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it atomically becomes ``path``. With
    ``copy_existing`` the temporary starts as a copy of ``path`` (copy-on-write update). A
    failed write (full disk, permissions) leaves ``path`` as it was and raises an ``OSError``
    naming it (:func:`write_error`)."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        tmp.unlink(missing_ok=True)
        if copy_existing:
            shutil.copyfile(path, tmp)
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent if str(path.parent) else Path("."))
    except (OSError, RuntimeError) as exc:
        raise write_error(exc, path) from None
    finally:
        tmp.unlink(missing_ok=True)
