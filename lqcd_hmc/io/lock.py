"""The advisory lock every writer of an ensemble holds: ``<file>.lock``, a small JSON file with
the owner's pid, host, command and start time.

It is created complete or not at all (written to a unique temporary name, then ``os.link``\\ ed
to the lock's name, which fails if the lock exists). A lock is *stale* when its host is this
host and its pid is not alive (a writer that was killed); a stale lock is taken over. A lock
held by a live process, or by another host (whose processes this host cannot see), is refused
with one line naming the owner. Readers take no lock: writers never modify a file in place
(:mod:`.atomic`), so a reader sees a whole state. :func:`wait_for_writer` lets a process that
needs a file another live process is writing (two ``lqcd-hmc compare`` calls tuning one action)
wait for that writer to let go.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .errors import FormatError


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class EnsembleLock:
    """``with EnsembleLock(path): ...`` holds ``<path>.lock`` for the block."""

    def __init__(self, path: str | os.PathLike, command: str | None = None):
        self.path = Path(path)
        self.file = lock_path(path)
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.held = False

    def owner(self) -> dict | None:
        """The lock file's content (None when there is no lock; ``{}`` when it is unreadable)."""
        try:
            return json.loads(self.file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{me['host']}.{me['pid']}")
        tmp.write_text(json.dumps(me))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, self.file)
                    self.held = True
                    return
                except FileExistsError:
                    owner = self.owner()
                    if owner is None:
                        continue  # released meanwhile
                    if not self._stale(owner):
                        raise FormatError(self._held_message(owner)) from None
                    self.file.unlink(missing_ok=True)
            raise FormatError(f"{self.path}: could not take the lock {self.file}")
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _stale(owner: dict) -> bool:
        if owner.get("host") != socket.gethostname():
            return False
        pid = owner.get("pid")
        return not isinstance(pid, int) or not _alive(pid)

    def _held_message(self, owner: dict) -> str:
        if not owner:
            return f"{self.path} is locked ({self.file} is unreadable); remove it if no writer runs"
        return (
            f"{self.path} is being written by pid {owner.get('pid')} on {owner.get('host')} "
            f"since {owner.get('since')} ({owner.get('command')}); wait for it, or remove "
            f"{self.file} if that process is gone"
        )

    def release(self) -> None:
        if self.held:
            owner = self.owner()
            if owner and owner.get("pid") == os.getpid():
                self.file.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> EnsembleLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def live_writer(path: str | os.PathLike) -> dict | None:
    """The owner of ``path``'s lock when another live process holds it (its pid, host, command
    and start); None when the file is free, its lock stale, or held by this process."""
    owner = EnsembleLock(path).owner()
    if owner is None or (owner and EnsembleLock._stale(owner)):
        return None
    if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        return None
    return owner


def wait_for_writer(
    path: str | os.PathLike, poll: float = 30.0, say: Callable[[str], None] | None = None
) -> None:
    """Return once no other live process writes ``path`` (checked every ``poll`` seconds);
    ``say`` gets one line when the wait begins."""
    owner = live_writer(path)
    if owner is not None and say is not None:
        say(
            f"waiting for pid {owner.get('pid')} on {owner.get('host')} to finish {path} "
            f"(since {owner.get('since')}; {owner.get('command')})"
        )
    while owner is not None:
        time.sleep(poll)
        owner = live_writer(path)
