"""The CPU memory allocator of the ``lqcd-hmc`` command.

A lattice field on the CPU is a large tensor (one SU(3) field on 10^4 with 2 chains: 5.8 MB
in complex64; an L-CNN activation of 24 channels: 35 MB), above glibc's ``mmap`` threshold (at
most 32 MiB, and 128 KiB until a freed block raises it). glibc maps every such allocation
afresh and unmaps it when freed, so every first touch of each of its 4 KiB pages is a page
fault that the kernel fills with zeros. In an L-CNN force on 10^4 that was 2.1 s of 7.4 s,
in the kernel (bench/RESULTS.md, "The memory allocator"). tcmalloc keeps freed spans
and hands them out again without a fault; it changes no arithmetic (PyTorch aligns its CPU
buffers to 64 bytes with either allocator).

:func:`use_tcmalloc` runs first in the ``lqcd-hmc`` command, ``python -m bench`` and
``python -m bench.lcnn``: where the process has no tcmalloc or jemalloc and no ``LD_PRELOAD``
of its own, and tcmalloc is installed (Debian: ``libtcmalloc-minimal4``), it executes the same
command again, once, with ``LD_PRELOAD`` naming it. ``LQCD_HMC_ALLOCATOR`` chooses: ``auto``
(the default: tcmalloc where installed), ``tcmalloc`` (an error where it is not), ``system``
(glibc's malloc, no new process).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

#: the environment variable that chooses the allocator
CHOICE = "LQCD_HMC_ALLOCATOR"
#: set in the process this module started, so that it never starts another
STARTED = "LQCD_HMC_ALLOCATOR_STARTED"
#: libraries, by the name ``ctypes.util.find_library`` takes, in order of preference
TCMALLOC = ("tcmalloc_minimal", "tcmalloc")


class AllocatorError(RuntimeError):
    """The allocator asked for in ``LQCD_HMC_ALLOCATOR`` cannot be had."""


def loaded(maps: Path = Path("/proc/self/maps")) -> str:
    """Which allocator this process runs: ``tcmalloc`` or ``jemalloc`` where its library is
    mapped, else ``system``."""
    try:
        text = maps.read_text()
    except OSError:
        return "system"
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in text:
            return name
    return "system"


def find_tcmalloc() -> str | None:
    """The installed tcmalloc library's name for ``LD_PRELOAD``, or None."""
    for name in TCMALLOC:
        found = ctypes.util.find_library(name)
        if found:
            return found
    return None


def relaunch(environ: dict[str, str]) -> dict[str, str] | None:
    """The environment that runs this command again with tcmalloc, or None where this process
    should go on as it is (module docstring)."""
    choice = environ.get(CHOICE, "auto")
    if choice not in ("auto", "tcmalloc", "system"):
        raise AllocatorError(f"{CHOICE} must be auto, tcmalloc or system, got {choice!r}")
    if choice == "system" or not sys.platform.startswith("linux"):
        return None
    if environ.get(STARTED) or environ.get("LD_PRELOAD") or loaded() != "system":
        return None
    library = find_tcmalloc()
    if library is None:
        if choice == "tcmalloc":
            raise AllocatorError(
                f"{CHOICE}=tcmalloc, but no tcmalloc library is installed "
                "(Debian: apt install libtcmalloc-minimal4)"
            )
        return None
    env = {**environ, "LD_PRELOAD": library, STARTED: "1"}
    env.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(1 << 40))  # no report per GB
    return env


def use_tcmalloc() -> None:
    """Replace this process by the same command (``sys.orig_argv``: the interpreter's own
    options, ``-m lqcd_hmc`` or the script, the arguments) with tcmalloc where
    :func:`relaunch` says so. Bad ``LQCD_HMC_ALLOCATOR``: a one-line error, exit status 1."""
    try:
        env = relaunch(dict(os.environ))
    except AllocatorError as exc:
        sys.exit(f"Error: {exc}")
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
