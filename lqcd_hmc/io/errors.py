"""The one exception every reader and writer raises for a bad file."""

from __future__ import annotations


class FormatError(ValueError):
    """A file that is truncated, corrupted, of the wrong kind, or fails a checksum/plaquette
    check; the message names the file and the problem in one line."""
