"""The models :mod:`bench.lcnn` times: the speed issue's reference architecture, other sizes
``C-C/K-K`` with random weights, or trained checkpoints as HMC runs them."""

from __future__ import annotations

from pathlib import Path

import torch

from actions.lcnn import Architecture, LCNNFixedPoint, load_checkpoint
from actions.lcnn.shipped import resolve

REFERENCE = "12-24-24/2-2-1"
"""The speed issue's reference architecture, ``channels/kernel sizes`` (the default of Holland,
Ipp, Müller, Wenger, arXiv:2401.06481)."""


def parse_architecture(spec: str) -> tuple[list[int], list[int]]:
    """``"12-24-24/2-2-1"`` -> channels ``[12, 24, 24]``, kernel sizes ``[2, 2, 1]``."""
    channels, _, kernels = spec.partition("/")
    try:
        c, k = [int(x) for x in channels.split("-")], [int(x) for x in kernels.split("-")]
    except ValueError:
        c = k = []
    if not c or len(c) != len(k):
        raise ValueError(f"architecture {spec!r}: expected channels/kernel sizes, e.g. {REFERENCE}")
    return c, k


def model(device: torch.device, source: str = REFERENCE) -> LCNNFixedPoint:
    """The timed model: an architecture ``C-C-C/K-K-K`` (:func:`parse_architecture`; plaquette
    inputs, Wilson preconditioner, random weights of seed 0), or a trained checkpoint as HMC
    runs it (a shipped model's name or a ``.pt`` path: its inputs and preconditioner)."""
    if "/" not in source or source.endswith(".pt"):
        path = Path(source) if source.endswith(".pt") else resolve(source)
        return load_checkpoint(path)[0].to(device)
    channels, kernels = parse_architecture(source)
    torch.manual_seed(0)
    arch = Architecture(D=4, group="SU(3)", channels=channels, kernel_sizes=kernels)
    m = LCNNFixedPoint(arch, preconditioner="wilson")
    with torch.no_grad():
        m.b.copy_(torch.tensor([0.1, -0.01, 0.001]))
    return m.to(device)


def describe_model(m: LCNNFixedPoint, source: str) -> str:
    """One line naming the timed model: its architecture, inputs, preconditioner, parameters."""
    a, pre = m.arch, m.preconditioner
    n_par = sum(p.numel() for p in m.parameters())
    name = pre["name"] + (" with rectangles" if pre.get("rectangles") else "")
    return (
        f"{source}: L-CNN {'/'.join(map(str, a.channels))} channels, kernels "
        f"{'/'.join(map(str, a.kernel_sizes))}, {a.inputs} inputs, {name} preconditioner "
        f"({n_par} parameters)"
    )
