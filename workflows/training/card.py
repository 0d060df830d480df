"""The train card of ``lqcd-hmc train`` (sections ``[data]``, ``[model]``, ``[training]``,
``[output]``; see ``examples/train_su2.toml`` and :mod:`.trainer`).

``model.classically_perfect`` (default): the preconditioner is the ``fp-param`` polynomial in
its classically perfect form (quadratic part = the free FP action of the data's kernel,
computed in a box of ``model.free_box`` offsets), ``b_0`` is fixed at 1, and constant flux
enters the loss with weight ``training.w_smooth``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt

from lqcd_hmc.config import CardError, CardSection, read_toml, validate


class DataSection(CardSection):
    file: str | list[str]  # several: read as one (same FP parameters), rows in this order
    validation: float = Field(0.25, ge=0, lt=1)
    seed: int = 0


class ModelSection(CardSection):
    channels: list[PositiveInt] = [12, 24, 24]
    kernel_sizes: list[PositiveInt] = [2, 2, 1]
    activation: Literal["sigmoid", "tanh", "softplus", "relu"] = "sigmoid"
    polyakov: bool = False
    complex_weights: bool = False
    smearing: list[PositiveInt] = []
    inputs: Literal["plaquettes", "laplacians"] = "plaquettes"
    order: PositiveInt = 3
    preconditioner: str = "fp-param"
    preconditioner_order: PositiveInt = 3  # of the fp-param polynomial
    preconditioner_ridge: float = Field(0.0, ge=0)  # its coefficients' penalty (fp-fit --ridge)
    preconditioner_rectangles: bool = False  # its thin-rectangle variable (fp-fit --rectangles)
    fix_b0: bool = False
    classically_perfect: bool = True
    free_box: int = Field(11, ge=5)


class TrainingSection(CardSection):
    epochs: PositiveInt = 200
    batch_size: PositiveInt = 4
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "plateau", "constant"] = "cosine"
    w1: float = Field(1.0, ge=0)
    w2: float = Field(1.0, ge=0)
    w_smooth: float = Field(1.0, ge=0)
    patience: PositiveInt = 50
    seed: int = 0
    dtype: Literal["complex128", "complex64"] = "complex128"
    device: str = "cpu"


class OutputSection(CardSection):
    checkpoint: str
    metrics: str | None = None


class TrainCard(CardSection):
    data: DataSection
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    output: OutputSection


def load_train_card(path: str | Path) -> TrainCard:
    card = validate(read_toml(path, "train card"), str(path), TrainCard)
    if card.training.w1 == 0 and card.training.w2 == 0:
        raise CardError(f"{path}: training.w1 and training.w2 are both 0")
    m = card.model
    if m.classically_perfect and m.preconditioner != "fp-param":
        raise CardError(
            f"{path}: model.classically_perfect needs preconditioner = 'fp-param' (the free FP "
            f"action's quadratic part), got {m.preconditioner!r}"
        )
    if isinstance(card.data.file, list) and not card.data.file:
        raise CardError(f"{path}: data.file is an empty list")
    if m.free_box % 2 == 0:
        raise CardError(f"{path}: model.free_box must be odd, got {m.free_box}")
    return card
