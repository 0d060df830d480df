"""Loading ``torch.save`` files (model checkpoints, training state) without running code from
them: ``torch.load(weights_only=True)`` accepts tensors and plain containers only, and its
errors are reported in one line that never suggests turning that off."""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch

from .atomic import failure_reason
from .errors import FormatError


def load_weights(path: str | os.PathLike, what: str, map_location: Any = "cpu") -> Any:
    """The content of ``path``; a missing, truncated, foreign or code-carrying file is a
    :class:`FormatError` naming ``what`` and the file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FormatError(f"{what} {path}: no such file") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile):
        raise FormatError(
            f"{what} {path}: not a PyTorch file of tensors and plain data (truncated, "
            f"corrupted, or holding objects that would run code on load)"
        ) from None
    except OSError as exc:
        raise FormatError(f"{what} {path}: {failure_reason(exc)}") from None
