"""What defines a Markov chain in an ensemble file: the chain-defining part of a run card
(what ``--resume`` must not change), the card of replica r, the source revision and thread
count stored with every ensemble and every resume of it, and how far a stored chain has
come."""

from __future__ import annotations

import functools
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import torch

from ..allocator import loaded
from ..config import Card, validate
from ..field import resolve_device
from ..io import Ensemble, FormatError
from .stops import RunError


@functools.cache
def git_revision() -> str:
    """The git revision of the package source, with ``+dirty`` where tracked files differed
    from it ("" if it is not a git checkout), as it was when this process imported the package
    (the module calls it then): the code whose arithmetic this process runs, whatever the
    checkout holds by the time it creates or resumes an ensemble."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if not head:
        return ""
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


git_revision()


def resumed(ens: Ensemble, trajectory: int) -> dict[str, str]:
    """The root attribute ``resumes`` once ``ens`` is resumed after ``trajectory``: the JSON
    list of every resume's trajectory, ``git_revision``, ``threads`` and ``allocator``
    (:func:`lqcd_hmc.allocator.loaded`), as the root attributes of those names say of the
    start. A chain resumed by code or on threads that round otherwise is regenerated bit for
    bit only that way (docs/conventions.md, section 6)."""
    resumes = json.loads(str(ens.attrs.get("resumes", "[]")))
    here = {
        "git_revision": git_revision(),
        "threads": torch.get_num_threads(),
        "allocator": loaded(),
    }
    return {"resumes": json.dumps([*resumes, {"trajectory": trajectory, **here}])}


#: how HMC's molecular dynamics integrates: the Metropolis test makes the distribution it
#: samples independent of them (a complete ensemble is reused across them, not continued)
MD_KEYS = ("integrator", "steps", "tau", "levels", "kernels")


def chain_defining(card: Card, device: torch.device, md: bool = True) -> dict[str, Any]:
    """The parts of a card that define the Markov chain (what a resume must not change);
    with ``md=False`` without the molecular dynamics' settings (:data:`MD_KEYS`). A
    gradient flow's action table counts without its ``beta``: the flow equation carries
    ``g0^2 = 2N/beta`` of its action, so it does not depend on it (:mod:`observables.flow`),
    and a tuning run that flows with its own action then matches whatever first guess the
    tuner started from."""
    d = card.to_dict()
    d["lattice"]["device"] = str(device)
    if not md:
        d["update"] = {k: v for k, v in d["update"].items() if k not in MD_KEYS}
    run = d["run"]
    measure = [
        {**m, "flow": {k: v for k, v in m["flow"].items() if k != "beta"}}
        if isinstance(m.get("flow"), dict)
        else m
        for m in d["measure"]
    ]
    return {
        "lattice": d["lattice"],
        "action": d["action"],
        "update": d["update"],
        "measure": measure,
        "run": {k: run[k] for k in ("thermalisation", "thermalisation_md", "save_interval")},
    }


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{where}.{i}")
            if d:
                return d
        return None
    return None if a == b else f"{where} ({a!r} in the file, {b!r} in the card)"


NO_CARD = "holds no run card (not written by lqcd-hmc run)"


def stored_card(ens: Ensemble) -> Card:
    """The run card an ensemble was made with (a :class:`RunError` if it holds none)."""
    text = ens.attrs.get("card", "")
    if not text:
        raise RunError(f"{ens.path} {NO_CARD}")
    return validate(tomllib.loads(text), str(ens.path))


def card_change(ens: Ensemble, card: Card, exact: bool = True) -> str | None:
    """What ``card`` changes in the chain stored in ``ens`` (None: the same chain); with
    ``exact=False`` neither the device it ran on nor the molecular dynamics' settings count
    (the same distribution, an ensemble that another device or integrator would not
    continue bit for bit)."""
    if not ens.attrs.get("card", ""):
        return f"it {NO_CARD}"
    old = stored_card(ens)
    name = card.lattice.device  # only "auto" asks this machine: cards of a GPU compare on a CPU
    here = resolve_device(name) if name == "auto" else torch.device(name)
    diff = _first_difference(
        chain_defining(old, torch.device(ens.attrs["device"]) if exact else here, exact),
        chain_defining(card, here, exact),
    )
    return f"the card changes {diff}" if diff else None


def replica_card(card: Card, replica: int) -> Card:
    """Replica ``r`` of a card with ``parallel.replicas > 1``: ``lattice.seed + r`` and
    ``run.output`` ``<stem>.replica<r><suffix>``; the card itself otherwise."""
    if card.parallel.replicas == 1:
        return card
    tree = card.to_dict()
    out = Path(tree["run"]["output"])
    tree["lattice"]["seed"] += replica
    tree["run"]["output"] = str(out.with_name(f"{out.stem}.replica{replica}{out.suffix}"))
    return validate(tree, f"replica {replica}")


def stored_progress(card: Card) -> int | None:
    """Trajectories already committed to ``card.run.output`` (None when there is no file); a
    file whose chain-defining card differs is a :class:`RunError`, except a complete one
    that differs only in its device or its molecular dynamics (an ensemble made on a GPU, or
    with another integrator, is reused, but not continued). Reads only."""
    path = Path(card.run.output)
    if not path.exists():
        return None
    try:
        ens = Ensemble(path)
        done = ens.checkpoint_trajectory()
        diff = card_change(ens, card)
        if diff and not (done >= wanted(card) and card_change(ens, card, exact=False) is None):
            raise RunError(f"{path} exists from another card: {diff}")
        return done
    except FormatError as exc:
        raise RunError(str(exc)) from None


def wanted(card: Card) -> int:
    """Trajectories of a complete run: thermalisation and production."""
    return card.run.thermalisation + card.run.trajectories
