"""L-CNN training: ``lqcd-hmc train`` (:mod:`.card` the card, :mod:`.losses` the losses,
:mod:`.trainer` the loop with checkpoints and exact resume)."""

from .card import TrainCard, load_train_card
from .losses import evaluate, losses, predictions, split
from .trainer import Trainer, train

__all__ = [
    "TrainCard",
    "load_train_card",
    "evaluate",
    "losses",
    "predictions",
    "split",
    "Trainer",
    "train",
]
