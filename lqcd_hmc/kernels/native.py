"""C kernels compiled on the machine that runs them, called through :mod:`ctypes`.

Some per-site products (the L-CNN's bilinear layer) are batches of matrices too small for a
BLAS call per site and too many for one per chunk of sites from Python. They are written in C
(with GCC/Clang vector extensions), compiled here with ``$CC`` (default ``cc``) and
``-O3 -march=native`` into a shared library, and loaded with :mod:`ctypes`. The library is
kept in ``$XDG_CACHE_HOME/lqcd-hmc/native`` (``~/.cache/...``) under a name that hashes the
sources, the compiler command and the CPU's flags, so it is built once per machine and source.

``LQCD_HMC_NATIVE=0`` turns every native kernel off (the callers' PyTorch paths run instead);
where no compiler works, :func:`load` warns once and returns ``None`` with the same effect.
Nothing but the package's own sources is ever compiled or loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import subprocess
import tempfile
import warnings
from pathlib import Path

#: the environment variable that turns native kernels off (``0``)
SWITCH = "LQCD_HMC_NATIVE"
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c11", "-shared", "-fPIC")

_LOADED: dict[Path, ctypes.CDLL | None] = {}


def enabled() -> bool:
    """Whether native kernels may run (``LQCD_HMC_NATIVE`` is not ``0``)."""
    return os.environ.get(SWITCH, "1") != "0"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lqcd-hmc" / "native"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _key(source: Path, compiler: list[str]) -> str:
    h = hashlib.sha256()
    for f in sorted(source.parent.glob("*.[ch]")):
        h.update(f.name.encode() + f.read_bytes())
    h.update(" ".join(compiler + list(FLAGS)).encode() + _cpu_flags().encode())
    return h.hexdigest()[:16]


def _build(source: Path, target: Path, compiler: list[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        cmd = [*compiler, *FLAGS, "-o", tmp, str(source)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            errors = [ln for ln in done.stderr.splitlines() if "error" in ln]
            raise OSError((errors or done.stderr.strip().splitlines() or ["failed"])[0])
        os.replace(tmp, target)  # atomic: a concurrent build or load sees all or nothing
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(source: Path) -> ctypes.CDLL | None:
    """The shared library of the C file ``source`` (which may include headers beside it),
    built on first use; ``None`` where native kernels are off or cannot be built."""
    if not enabled():
        return None
    if source not in _LOADED:
        compiler = shlex.split(os.environ.get("CC", "cc"))
        target = cache_dir() / f"{source.stem}-{_key(source, compiler)}.so"
        try:
            if not target.exists():
                _build(source, target, compiler)
            _LOADED[source] = ctypes.CDLL(str(target))
        except (OSError, subprocess.SubprocessError) as e:
            warnings.warn(
                f"native kernel {source.name} unavailable ({e}); the PyTorch path runs instead",
                RuntimeWarning,
                stacklevel=2,
            )
            _LOADED[source] = None
    return _LOADED[source]
