"""Runs: ``lqcd-hmc run`` (:mod:`.runner`: thermalise, update, measure, save, checkpoint,
resume) and what defines a chain in an ensemble file (:mod:`.chain`)."""

from ..summary import RunSummary, run_summary
from .chain import (
    card_change,
    chain_defining,
    git_revision,
    replica_card,
    stored_card,
    stored_progress,
)
from .runner import Runner, ensure_ensemble, run_card
from .stops import RunError, RunInterrupted

__all__ = [
    "RunSummary",
    "run_summary",
    "card_change",
    "chain_defining",
    "git_revision",
    "replica_card",
    "RunError",
    "RunInterrupted",
    "Runner",
    "ensure_ensemble",
    "run_card",
    "stored_card",
    "stored_progress",
]
