"""The offline trainer: ``lqcd-hmc train CARD``.

1. Reads FP data (``lqcd-hmc fp-data``: links, A_FP and dA_FP/dw_a per configuration) and
   splits it into training and validation configurations (a seeded permutation).
2. Fits the ``fp-param`` polynomial (order ``model.preconditioner_order``, default 3, rho 0.1,
   coefficient penalty ``model.preconditioner_ridge``, the thin-rectangle variable with
   ``model.preconditioner_rectangles``;
   :mod:`actions.fixed_point.parametrisation`) on the training configurations. It is the
   baseline reported on the validation configurations and, by default, the preconditioner
   ``A_pre`` of the L-CNN action (the coefficients go into the checkpoint). With
   ``model.classically_perfect`` (default) the fit is the classically perfect form
   (``fit(..., free=...)``): its quadratic part is the free FP action of the data's kernel
   (:mod:`actions.fixed_point.free_fixed_point`), ``b_0`` is fixed at 1, so the L-CNN
   action's quadratic part is exactly that, and constant flux (a classical solution, FP action
   = continuum) adds ``w_smooth <((A/A_exact - 1)/1e-3)^2>`` to the loss. With
   ``A_pre = wilson`` the free-field part of A is Wilson's, which the FP action's is not.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
import torch
from torch import Tensor

from actions.fixed_point.free_fixed_point import of_data
from actions.fixed_point.parametrisation import design, fit, least_squares
from actions.fixed_point.perfect import flux_targets
from actions.lcnn.action import LCNNFixedPoint, save_checkpoint
from actions.lcnn.network import Architecture
from lqcd_hmc.config import CardError
from lqcd_hmc.field import GaugeField, resolve_device, resolve_dtype
from lqcd_hmc.io.atomic import replacing
from lqcd_hmc.io.weights import load_weights
from workflows.fixed_point.files import read_fp_datasets, sha256

from .card import TrainCard, TrainingSection
from .losses import backpropagate, evaluate, losses, split


def _model(card: TrainCard, data: dict[str, Any], preconditioner: dict[str, Any]) -> LCNNFixedPoint:
    """The L-CNN action of the card; ``classically_perfect`` fixes ``b_0 = 1`` (the quadratic
    part is then the preconditioner's, the free FP action)."""
    m = card.model
    arch = Architecture(
        D=data["fields"].D,
        group=data["group"],
        channels=list(m.channels),
        kernel_sizes=list(m.kernel_sizes),
        activation=m.activation,
        polyakov=m.polyakov,
        complex_weights=m.complex_weights,
        smearing=list(m.smearing),
        inputs=m.inputs,
    )
    return LCNNFixedPoint(arch, m.order, preconditioner, m.fix_b0 or m.classically_perfect)


def _schedule(opt: torch.optim.Optimizer, t: TrainingSection) -> Any:
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, t.epochs)
    if t.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=max(1, t.patience // 4)
        )
    return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


def _paths(card: TrainCard) -> tuple[Path, Path, Path]:
    ck = Path(card.output.checkpoint)
    metrics = (
        Path(card.output.metrics)
        if card.output.metrics
        else ck.with_name(ck.name + ".metrics.jsonl")
    )
    return ck, ck.with_name(ck.name + ".state"), metrics


def initialise(
    model: LCNNFixedPoint, batches: list[GaugeField], action: Tensor, derivative: Tensor
) -> None:
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
        model.get_buffer("scale").fill_(s)
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


class Trainer:
    """One training run of a card: the data and its split, the fitted ``fp-param`` baseline
    and preconditioner, the model, optimiser and schedule, and the bookkeeping of the best
    epoch (``best``, ``bad``: epochs since it) and the history. ``resume`` restores all of it
    from the state file."""

    def __init__(
        self,
        card: TrainCard,
        resume: bool = False,
        report: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.card, self.t, self.report = card, card.training, report
        self.ck_path, self.state_path, self.metrics_path = _paths(card)
        self.text = tomli_w.dumps(card.model_dump(exclude_none=True))
        if not resume and (self.ck_path.exists() or self.state_path.exists()):
            raise CardError(
                f"{self.ck_path} exists already; pass --resume to continue its training"
            )
        if resume and not self.state_path.exists():
            raise CardError(f"cannot resume: {self.state_path} does not exist")
        t = self.t
        device, dtype = resolve_device(t.device), resolve_dtype(t.dtype)
        files = [card.data.file] if isinstance(card.data.file, str) else card.data.file
        try:
            data = read_fp_datasets(files)
        except (OSError, ValueError) as exc:
            raise CardError(f"cannot read FP data {card.data.file}: {exc}") from None
        self.fields = data["fields"].to(device=device, dtype=dtype)
        self.action = data["action"].double().to(device)
        self.derivative = data["derivative"].double().to(device)
        self.train_idx, self.val_idx = split(
            self.fields.batch, card.data.validation, card.data.seed
        )
        # the fp-param polynomial fitted on the training configurations: baseline, and the
        # preconditioner unless the card names another action
        idx = self.train_idx
        free = None
        if card.model.classically_perfect:
            try:
                free = of_data(data["parameters"], card.model.free_box)
            except ValueError as exc:
                raise CardError(
                    f"{card.data.file}: {exc}; train with model.classically_perfect = false"
                ) from None
            flux, exact = flux_targets(data["group"], dtype=dtype)
            self.smooth: tuple[GaugeField, Tensor] | None = (flux.to(device), exact.to(device))
        else:
            self.smooth = None
        self.param = fit(
            [self.sub(idx)],
            self.action[idx],
            self.derivative[idx],
            card.model.preconditioner_order,
            free=free,
            ridge=card.model.preconditioner_ridge,
            rectangles=card.model.preconditioner_rectangles,
        )
        fp_param = {
            "name": "fp-param",
            **{k: v for k, v in self.param.params().items() if k != "beta"},
        }
        pre = (
            fp_param
            if card.model.preconditioner == "fp-param"
            else {"name": card.model.preconditioner}
        )
        torch.manual_seed(t.seed)
        self.model = _model(card, data, pre).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.sched = _schedule(self.opt, t)
        self.gen = torch.Generator().manual_seed(t.seed)
        self.provenance = {
            "data": card.data.file,
            "data_sha256": sha256(files[0]) if len(files) == 1 else [sha256(f) for f in files],
            "data_card": data["card"],
            "fp_parameters": data["parameters"],
            "card": self.text,
            "train": self.train_idx.tolist(),
            "validation": self.val_idx.tolist(),
        }
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"loss": math.inf}
        self.bad = 0
        self.baseline: dict[str, float] = {}
        self.norm: dict[str, float] = {}
        if resume:
            self._restore(device)
        else:
            self._start()

    # -- data ---------------------------------------------------------------------------------
    def sub(self, idx: Tensor) -> GaugeField:
        return self.fields.with_links(self.fields.links[idx])

    def batches(self, idx: Tensor) -> list[GaugeField]:
        b = self.t.batch_size
        return [self.sub(idx[i : i + b]) for i in range(0, len(idx), b)]

    def _evaluate(self, fn: Callable[[Tensor], Tensor], idx: Tensor) -> dict[str, float]:
        return evaluate(
            fn, self.sub(idx), self.action[idx], self.derivative[idx], self.t.batch_size
        )

    # -- state --------------------------------------------------------------------------------
    def _start(self) -> None:
        """Epoch 0: the fp-param baseline on the validation set, the initial model and the
        loss normalisation on the training set."""
        tr, val = self.train_idx, self.val_idx
        if len(val):
            self.baseline = self._evaluate(
                lambda links: self.param(self.fields.with_links(links)), val
            )
        initialise(self.model, self.batches(tr), self.action[tr], self.derivative[tr])
        self.norm = {k: max(v, 1e-300) for k, v in self._evaluate(self.model, tr).items()}
        self.record(
            {"epoch": 0, "lr": self.t.lr, "train_L1": self.norm["L1"], "train_L2": self.norm["L2"]}
        )

    def _restore(self, device: torch.device) -> None:
        st = load_weights(self.state_path, "training state", device)
        if st["card"] != self.text:
            raise CardError(
                f"cannot resume {self.ck_path}: the card differs from the one it was trained with"
            )
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.gen.set_state(st["generator"])
        self.history, self.best, self.bad = st["history"], st["best"], st["bad"]
        self.baseline, self.norm = st["baseline"], st["norm"]

    def record(self, entry: dict[str, Any]) -> None:
        """Validation metrics into ``entry``; the schedule's step; the checkpoint if it is the
        best so far; then the training state and the metrics log (all atomic)."""
        t, norm = self.t, self.norm
        self.model.eval()
        if len(self.val_idx):
            v = self._evaluate(self.model, self.val_idx)
            entry.update(val_L1=v["L1"], val_L2=v["L2"])
            monitored = t.w1 * v["L1"] / norm["L1"] + t.w2 * v["L2"] / norm["L2"]
        else:
            monitored = (
                t.w1 * entry["train_L1"] / norm["L1"] + t.w2 * entry["train_L2"] / norm["L2"]
            )
        entry["loss"] = monitored
        if entry["epoch"] > 0:
            if t.schedule == "plateau":
                self.sched.step(monitored)
            else:
                self.sched.step()
        self.history.append(entry)
        if monitored < self.best["loss"]:
            self.best, self.bad = dict(entry), 0
            save_checkpoint(
                self.ck_path,
                self.model,
                {**entry, "fp_param_validation": self.baseline, "normalisation": norm},
                self.provenance,
            )
        else:
            self.bad += 1
        st = {
            "card": self.text,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(),
            "history": self.history,
            "best": self.best,
            "bad": self.bad,
            "baseline": self.baseline,
            "norm": norm,
        }
        with replacing(self.state_path) as tmp:
            torch.save(st, tmp)
        with replacing(self.metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(h) + "\n" for h in self.history))
        if self.report is not None:
            self.report(entry)

    # -- the run ------------------------------------------------------------------------------
    def epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training configurations in a seeded order; its log entry."""
        t, norm = self.t, self.norm
        t0 = time.perf_counter()
        self.model.train()
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=self.gen)]
        s1 = s2 = torch.zeros((), dtype=torch.float64, device=self.action.device)
        for f, idx in zip(self.batches(order), order.split(t.batch_size)):
            L1, L2 = losses(
                self.model, f, self.action[idx], self.derivative[idx], create_graph=True
            )
            loss = t.w1 * L1 / norm["L1"] + t.w2 * L2 / norm["L2"]
            if self.smooth is not None:
                loss = loss + t.w_smooth * self.smooth_loss()
            self.opt.zero_grad(set_to_none=True)
            backpropagate(loss, (p for g in self.opt.param_groups for p in g["params"]))
            self.opt.step()
            s1, s2 = s1 + L1.detach() * len(idx), s2 + L2.detach() * len(idx)
        seconds = time.perf_counter() - t0
        return {
            "epoch": epoch,
            "lr": self.opt.param_groups[0]["lr"],
            "train_L1": float(s1) / len(order),
            "train_L2": float(s2) / len(order),
            "configurations_per_second": len(order) / seconds,
            "seconds": seconds,
        }

    def smooth_loss(self) -> Tensor:
        """``mean ((A/A_exact - 1)/1e-3)^2`` on the constant-flux fields (FP action = continuum
        action on classical solutions; :func:`~actions.fixed_point.perfect.flux_targets`): in
        units of the 1e-3 the classical targets ask for, so that it is of the size of the
        normalised L1, L2 when the flux is 1e-3 off."""
        assert self.smooth is not None
        flux, exact = self.smooth
        return ((self.model(flux.links) / exact - 1) / 1e-3).pow(2).mean()

    def run(self) -> dict[str, Any]:
        """Epochs until ``training.epochs`` or ``patience`` epochs without a better validation
        loss; the summary of the best epoch."""
        for epoch in range(len(self.history), self.t.epochs + 1):
            if self.bad >= self.t.patience:
                break
            self.record(self.epoch(epoch))
        return self.summary()

    def summary(self) -> dict[str, Any]:
        best, history = self.best, self.history
        trained = [h for h in history if h["epoch"] > 0]
        return {
            "checkpoint": str(self.ck_path),
            "epochs": len(trained),
            "stopped_early": len(trained) < self.t.epochs,
            "best_epoch": best.get("epoch"),
            "train": {"L1": best.get("train_L1"), "L2": best.get("train_L2")},
            "validation": {"L1": best.get("val_L1"), "L2": best.get("val_L2")},
            "initial_validation": {"L1": history[0].get("val_L1"), "L2": history[0].get("val_L2")},
            "fp_param_validation": self.baseline,
            "configurations_per_second": (
                sum(h["configurations_per_second"] for h in trained) / max(1, len(trained))
            ),
            "n_train": len(self.train_idx),
            "n_validation": len(self.val_idx),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }


def train(
    card: TrainCard, resume: bool = False, report: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Train (or continue) the model of ``card``; returns the summary of the best epoch."""
    return Trainer(card, resume, report).run()
