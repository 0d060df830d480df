"""The L-CNN fixed-point actions shipped inside the package, loadable by a short name.

Each model is a checkpoint ``actions/lcnn/models/<name>.pt`` (the format of
:func:`~.action.save_checkpoint`, loaded without running code); its name is what a run card
gives: ``[action] name = "lcnn", model = "<name>"``. ``lqcd-hmc models`` lists them with the
metadata each checkpoint carries: group and dimension, architecture and parameter count,
held-out losses, the FP data's card and content hash, the training card, the package version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .action import load_checkpoint

MODELS = Path(__file__).parent / "models"


def shipped(directory: Path | None = None) -> dict[str, Path]:
    """Shipped model names and their checkpoint files, sorted by name."""
    return {p.stem: p for p in sorted((directory or MODELS).glob("*.pt"))}


def resolve(name: str, directory: Path | None = None) -> Path:
    """The checkpoint of a shipped model, or a one-line error naming the shipped ones."""
    models = shipped(directory)
    if name not in models:
        have = ", ".join(models) or "none"
        raise ValueError(f"no shipped L-CNN model {name!r} (shipped: {have})")
    return models[name]


def describe(path: Path) -> dict[str, Any]:
    """What ``lqcd-hmc models`` prints about one checkpoint."""
    model, obj = load_checkpoint(path)
    arch, metrics, prov = model.arch, obj.get("metrics", {}), obj.get("provenance", {})
    return {
        "name": path.stem,
        "group": arch.group,
        "D": arch.D,
        "channels": arch.channels,
        "kernel_sizes": arch.kernel_sizes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "order": model.order,
        "validation_L1": metrics.get("val_L1"),
        "validation_L2": metrics.get("val_L2"),
        "fp_param_validation": metrics.get("fp_param_validation"),
        "epoch": metrics.get("epoch"),
        "data_sha256": prov.get("data_sha256"),
        "package_version": obj.get("package_version"),
        "checkpoint_version": obj.get("checkpoint_version", 1),
    }
