"""The offline trainer: ``lqcd-hmc train CARD``.

1. Reads FP data (``lqcd-hmc fp-data``: links, A_FP and dA_FP/dw_a per configuration) and
   splits it into training and validation configurations (a seeded permutation).
2. Fits the ``fp-param`` polynomial (order 3, rho 0.1; :mod:`actions.fixed_point.parametrisation`)
   on the training configurations. It is the baseline reported on the validation
   configurations and, by default, the preconditioner ``A_pre`` of the L-CNN action (the
   coefficients go into the checkpoint). With ``A_pre = wilson`` the free-field part of A is
   Wilson's (see :mod:`.action`), which the FP action's is not; the fitted polynomial supplies
   the fat-link (stout) terms that the FP action needs already at small fields.
3. Initialises the model to ``b_0 A_pre`` (:func:`initialise`: the normalisation of
   ``N_x - N_x[1]``, the least-squares ``b_0``, ``b_1 = 1`` and a zero readout) and records it as
   epoch 0, so that the best checkpoint is never worse on validation data than the start.
4. Minimises ``L = w1 L1 / L1_0 + w2 L2 / L2_0`` with
   ``L1 = < |A[V] - A_FP[V]| > / volume`` (mean absolute action error per site) and
   ``L2 = < (dA/dw_a(x, mu) - dA_FP/dw_a(x, mu))^2 >`` (mean squared error per link and
   generator), each divided by its epoch-0 value on the training configurations (stored as the
   ``normalisation``), with the model's derivatives from autograd and their loss gradient by
   double backpropagation (Holland, Ipp, Müller, Wenger, arXiv:2401.06481, section IV). AdamW,
   a cosine or plateau schedule, early stopping after ``patience`` epochs without a better
   validation loss.

The best model goes to ``output.checkpoint`` (loadable by the ``lcnn`` action alone); the full
training state (model, optimiser, schedule, generator, history) goes to ``<checkpoint>.state``
after every epoch, both atomically, so ``--resume`` continues a killed run exactly. The metrics
log (``<checkpoint>.metrics.jsonl`` unless ``output.metrics``) has one JSON line per epoch.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import tomli_w
from pydantic import Field, PositiveInt
from torch import Tensor

from lqcd_hmc.config import CardError, _Section, read_toml, validate
from lqcd_hmc.field import GaugeField, resolve_device, resolve_dtype
from lqcd_hmc.io.atomic import replacing

from ..fixed_point.data import read_fp_data
from ..fixed_point.minimise import algebra_gradient
from ..fixed_point.parametrisation import design, fit, least_squares
from .action import LCNNFixedPoint, save_checkpoint
from .network import Architecture


class DataSection(_Section):
    file: str
    validation: float = Field(0.25, ge=0, lt=1)
    seed: int = 0


class ModelSection(_Section):
    channels: list[PositiveInt] = [12, 24, 24]
    kernel_sizes: list[PositiveInt] = [2, 2, 1]
    activation: Literal["sigmoid", "tanh", "softplus", "relu"] = "sigmoid"
    polyakov: bool = False
    complex_weights: bool = False
    smearing: list[PositiveInt] = []
    order: PositiveInt = 3
    preconditioner: str = "fp-param"
    fix_b0: bool = False


class TrainingSection(_Section):
    epochs: PositiveInt = 200
    batch_size: PositiveInt = 4
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "plateau", "constant"] = "cosine"
    w1: float = Field(1.0, ge=0)
    w2: float = Field(1.0, ge=0)
    patience: PositiveInt = 50
    seed: int = 0
    dtype: Literal["complex128", "complex64"] = "complex128"
    device: str = "cpu"


class OutputSection(_Section):
    checkpoint: str
    metrics: str | None = None


class TrainCard(_Section):
    data: DataSection
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    output: OutputSection


def load_train_card(path: str | Path) -> TrainCard:
    card = validate(read_toml(path, "train card"), str(path), TrainCard)
    if card.training.w1 == 0 and card.training.w2 == 0:
        raise CardError(f"{path}: training.w1 and training.w2 are both 0")
    return card


# -- losses -----------------------------------------------------------------------------------
def predictions(fn: Callable[[Tensor], Tensor], field: GaugeField, create_graph: bool
                ) -> tuple[Tensor, Tensor]:
    """``A`` ``(B,)`` and ``dA/dw_a`` ``(B, D, *dims, n_gen)`` of any differentiable action
    ``fn(links)``; with ``create_graph`` the derivatives stay differentiable in the model's
    parameters (double backpropagation)."""
    with torch.enable_grad():
        links = field.links.detach().requires_grad_(True)
        A = fn(links)
        (G,) = torch.autograd.grad(A.sum(), links, create_graph=create_graph)
    return A, algebra_gradient(links.detach(), G, field).double()


def losses(fn: Callable[[Tensor], Tensor], field: GaugeField, action: Tensor,
           derivative: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """``(L1, L2)`` of the module docstring on one batch."""
    A, dA = predictions(fn, field, create_graph)
    L1 = (A - action).abs().mean() / field.volume
    L2 = (dA - derivative).pow(2).mean()
    return L1, L2


def evaluate(fn: Callable[[Tensor], Tensor], field: GaugeField, action: Tensor,
             derivative: Tensor, batch: int) -> dict[str, float]:
    """``L1`` and ``L2`` over all configurations of ``field``, in batches."""
    n = field.batch
    s1 = s2 = 0.0
    for i in range(0, n, batch):
        sl = slice(i, i + batch)
        L1, L2 = losses(fn, field.with_links(field.links[sl]), action[sl], derivative[sl])
        m = min(batch, n - i)
        s1, s2 = s1 + float(L1.detach()) * m, s2 + float(L2.detach()) * m
    return {"L1": s1 / n, "L2": s2 / n}


def split(n: int, validation: float, seed: int) -> tuple[Tensor, Tensor]:
    """Training and validation indices: a seeded permutation, ``round(validation n)`` (at
    least 1 when ``validation > 0``) held out."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(validation * n)) if validation > 0 else 0
    if n - n_val < 1:
        raise ValueError(f"{n} configurations leave none to train on")
    return perm[n_val:].sort().values, perm[:n_val].sort().values


# -- training ---------------------------------------------------------------------------------
def _model(card: TrainCard, data: dict[str, Any], preconditioner: dict[str, Any]
           ) -> LCNNFixedPoint:
    m = card.model
    arch = Architecture(D=data["fields"].D, group=data["group"], channels=list(m.channels),
                        kernel_sizes=list(m.kernel_sizes), activation=m.activation,
                        polyakov=m.polyakov, complex_weights=m.complex_weights,
                        smearing=list(m.smearing))
    return LCNNFixedPoint(arch, m.order, preconditioner, m.fix_b0)


def _schedule(opt: torch.optim.Optimizer, t: TrainingSection):
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, t.epochs)
    if t.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5,
                                                          patience=max(1, t.patience // 4))
    return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


def _paths(card: TrainCard) -> tuple[Path, Path, Path]:
    ck = Path(card.output.checkpoint)
    metrics = Path(card.output.metrics) if card.output.metrics else \
        ck.with_name(ck.name + ".metrics.jsonl")
    return ck, ck.with_name(ck.name + ".state"), metrics


def initialise(model: LCNNFixedPoint, batches: list[GaugeField], action: Tensor,
               derivative: Tensor) -> None:
    """Before training: the normalisation ``s`` = standard deviation of ``N_x - N_x[1]`` over the
    training configurations (random initial weights); ``b_0`` by linear least squares on
    values and derivatives (:func:`~actions.fixed_point.parametrisation.least_squares`; 1 with
    ``fix_b0``); then ``b_1 = 1``, ``b_n = 0`` for n > 1 and the readout weights zero. The
    initial model is exactly ``b_0 A_pre``, and the readout's gradient (the correlation of each
    channel with the residual) is non-zero from the first step. (Starting instead from the
    least-squares ``b_n`` of the random features puts the polynomial at its optimum, where every
    network gradient is proportional to the small fitted ``b_n``: training stalled there.)"""
    with torch.no_grad():
        d = torch.cat([model.deviation(f.links).flatten() for f in batches]).double()
    s = float(d.std()) if d.numel() > 1 else 0.0
    if s > 0 and math.isfinite(s):
        model.scale.fill_(s)
    if model.fix_b0:
        b0 = 1.0
    else:
        X, Y = design(lambda links: model.basis(links)[:, :1], batches)
        b0 = float(least_squares(X, Y, action, derivative)[0])
    p = torch.zeros(model.order + 1, dtype=torch.float64)
    p[0], p[1] = b0, 1.0
    model.set_coefficients(p)
    with torch.no_grad():
        model.net.readout.zero_()


def train(card: TrainCard, resume: bool = False,
          report: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or continue) the model of ``card``; returns the summary of the best epoch."""
    t = card.training
    ck_path, state_path, metrics_path = _paths(card)
    text = tomli_w.dumps(card.model_dump(exclude_none=True))
    if not resume and (ck_path.exists() or state_path.exists()):
        raise CardError(f"{ck_path} exists already; pass --resume to continue its training")
    if resume and not state_path.exists():
        raise CardError(f"cannot resume: {state_path} does not exist")
    device, dtype = resolve_device(t.device), resolve_dtype(t.dtype)
    try:
        data = read_fp_data(card.data.file)
    except OSError as exc:
        raise CardError(f"cannot read FP data {card.data.file}: {exc}") from None
    fields = data["fields"].to(device=device, dtype=dtype)
    action = data["action"].double().to(device)
    derivative = data["derivative"].double().to(device)
    train_idx, val_idx = split(fields.batch, card.data.validation, card.data.seed)
    sub = lambda idx: fields.with_links(fields.links[idx])      # noqa: E731
    batches = lambda idx: [sub(idx[i:i + t.batch_size])         # noqa: E731
                           for i in range(0, len(idx), t.batch_size)]

    # the fp-param polynomial fitted on the training configurations: baseline, and the
    # preconditioner unless the card names another action
    param = fit([sub(train_idx)], action[train_idx], derivative[train_idx])
    fp_param = {"name": "fp-param", **{k: v for k, v in param.params().items()
                                       if k != "beta"}}
    pre = fp_param if card.model.preconditioner == "fp-param" else \
        {"name": card.model.preconditioner}
    torch.manual_seed(t.seed)
    model = _model(card, data, pre).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = _schedule(opt, t)
    gen = torch.Generator().manual_seed(t.seed)
    provenance = {"data": str(card.data.file), "fp_parameters": data["parameters"],
                  "card": text, "train": train_idx.tolist(), "validation": val_idx.tolist()}

    def validate_and_save(entry: dict[str, Any]) -> None:
        """Validation metrics into ``entry``; the schedule's step; the checkpoint if it is the
        best so far; then the training state and the metrics log (all atomic)."""
        nonlocal best, bad
        model.eval()
        if len(val_idx):
            v = evaluate(model, sub(val_idx), action[val_idx], derivative[val_idx],
                         t.batch_size)
            entry.update(val_L1=v["L1"], val_L2=v["L2"])
            monitored = t.w1 * v["L1"] / norm["L1"] + t.w2 * v["L2"] / norm["L2"]
        else:
            monitored = t.w1 * entry["train_L1"] / norm["L1"] + \
                t.w2 * entry["train_L2"] / norm["L2"]
        entry["loss"] = monitored
        if entry["epoch"] > 0:
            sched.step(monitored) if t.schedule == "plateau" else sched.step()
        history.append(entry)
        if monitored < best["loss"]:
            best, bad = dict(entry), 0
            save_checkpoint(ck_path, model, {**entry, "fp_param_validation": baseline,
                                             "normalisation": norm}, provenance)
        else:
            bad += 1
        st = {"card": text, "model": model.state_dict(), "optimizer": opt.state_dict(),
              "scheduler": sched.state_dict(), "generator": gen.get_state(),
              "history": history, "best": best, "bad": bad, "baseline": baseline,
              "norm": norm}
        with replacing(state_path) as tmp:
            torch.save(st, tmp)
        with replacing(metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(h) + "\n" for h in history))
        if report is not None:
            report(entry)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"loss": math.inf}
    bad = 0
    if resume:
        st = torch.load(state_path, map_location=device, weights_only=True)
        if st["card"] != text:
            raise CardError(f"cannot resume {ck_path}: the card differs from the one it was "
                            "trained with")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        gen.set_state(st["generator"])
        history, best, bad = st["history"], st["best"], st["bad"]
        baseline, norm = st["baseline"], st["norm"]
    else:
        baseline = evaluate(lambda links: param(fields.with_links(links)), sub(val_idx),
                            action[val_idx], derivative[val_idx], t.batch_size) \
            if len(val_idx) else {}
        initialise(model, batches(train_idx), action[train_idx], derivative[train_idx])
        norm = {k: max(v, 1e-300) for k, v in evaluate(
            model, sub(train_idx), action[train_idx], derivative[train_idx],
            t.batch_size).items()}
        validate_and_save({"epoch": 0, "lr": t.lr, "train_L1": norm["L1"],
                           "train_L2": norm["L2"]})

    for epoch in range(len(history), t.epochs + 1):
        if bad >= t.patience:
            break
        t0 = time.perf_counter()
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        s1 = s2 = torch.zeros((), dtype=torch.float64, device=device)
        for f, idx in zip(batches(order), order.split(t.batch_size)):
            L1, L2 = losses(model, f, action[idx], derivative[idx], create_graph=True)
            loss = t.w1 * L1 / norm["L1"] + t.w2 * L2 / norm["L2"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            s1, s2 = s1 + L1.detach() * len(idx), s2 + L2.detach() * len(idx)
        seconds = time.perf_counter() - t0
        lr = opt.param_groups[0]["lr"]
        entry = {"epoch": epoch, "lr": lr, "train_L1": float(s1) / len(order),
                 "train_L2": float(s2) / len(order),
                 "configurations_per_second": len(order) / seconds, "seconds": seconds}
        validate_and_save(entry)

    trained = [h for h in history if h["epoch"] > 0]
    return {"checkpoint": str(ck_path), "epochs": len(trained),
            "stopped_early": len(trained) < t.epochs, "best_epoch": best.get("epoch"),
            "train": {"L1": best.get("train_L1"), "L2": best.get("train_L2")},
            "validation": {"L1": best.get("val_L1"), "L2": best.get("val_L2")},
            "initial_validation": {"L1": history[0].get("val_L1"),
                                   "L2": history[0].get("val_L2")},
            "fp_param_validation": baseline,
            "configurations_per_second": (sum(h["configurations_per_second"] for h in trained)
                                          / max(1, len(trained))),
            "n_train": len(train_idx), "n_validation": len(val_idx),
            "parameters": sum(p.numel() for p in model.parameters())}
