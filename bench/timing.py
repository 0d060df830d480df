"""Timing helpers shared by the benchmarks: wall time per call and the copy bandwidth that
serves as the memory-traffic limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], repeat: int, device: torch.device, blocks: int = 3) -> float:
    """Seconds per call of ``fn``, after one warm-up call: ``repeat`` calls in up to
    ``blocks`` blocks, the mean of the best block. Beside other processes a block's mean jumps
    between modes (their phases: 610 and 1370 ns/link for the same kernel, bench/RESULTS.md,
    "Where a cold compile goes"), and the best block is the kernel's own time."""
    fn()
    sync(device)
    n = max(1, min(blocks, repeat))
    best = math.inf
    for size in (repeat // n + (i < repeat % n) for i in range(n)):
        t = time.perf_counter()
        for _ in range(size):
            fn()
        sync(device)
        best = min(best, (time.perf_counter() - t) / size)
    return best


def cpu_median(fn: Callable[[], object], repeat: int = 5, min_seconds: float = 2.0) -> float:
    """Median CPU seconds of this process per call of ``fn`` (``time.process_time``) over at
    least ``repeat`` calls and ``min_seconds`` in all, after one warm-up call: the method of
    the core-speed issue's side-by-side run (medians of five, each process's time scaled by
    its CPU share), which other processes on the cores inflate less than wall time. CPU work
    only: it does not see a GPU's time."""
    fn()
    times: list[float] = []
    while len(times) < repeat or sum(times) < min_seconds:
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return sorted(times)[len(times) // 2]


def first_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call (a compiling first call, say)."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def copy_bandwidth(device: torch.device, mib: int = 512) -> float:
    """Bytes per second of ``dst.copy_(src)`` on ``mib`` MiB buffers, counting the read and
    the write (2 x size per copy): the best of five copies."""
    src = torch.ones(mib * 2**20 // 8, dtype=torch.float64, device=device)
    dst = torch.empty_like(src)
    best = min(timeit(lambda: dst.copy_(src), 1, device) for _ in range(5))
    return 2 * src.numel() * 8 / best
