"""The L-CNN fixed-point action and its checkpoint file.

``A[V] = sum_x A_pre_x[V] * sum_{n=0}^{order} b_n ((N_x[V] - N_x[1]) / s)^n``

(the form of Holland, Ipp, Müller, Wenger, arXiv:2401.06481): ``N_x`` is the
L-CNN's gauge-invariant per-site output (:class:`~actions.lcnn.network.LCNN`), ``N_x[1]`` its
value on the cold field (the same at every site and on every lattice), ``s`` a fixed
normalisation set from the training data before training, and ``A_pre_x`` the density of a
registered action at ``beta = 1`` given as a config (``wilson``: ``(1/N) sum_{mu<nu} Re Tr(1 -
U_{mu nu}(x))``; the trainer's default is a fitted ``fp-param`` polynomial, coefficients inline).
``A_pre`` is gauge invariant, vanishes on the cold field, and has the continuum action as its
classical limit, so it fixes the operator of the continuum limit; ``N - N[1]`` is O(F^2) for
small field strength F, so the quadratic (free-field) part of A is ``b_0 A_pre``. ``b_0`` is
trained (the FP data fix it; on coarse SU(2) data A_FP / A_Wilson is about 0.55) unless
``fix_b0``, which keeps it at 1. A new model has ``b_0 = 1`` and ``b_n = 0``: it is ``A_pre``.

The registered action ``lcnn`` is ``S = beta A`` read from a checkpoint; its force comes from
autograd and its value (the Metropolis step) is summed in float64.

Checkpoint (``torch.save``, loaded with ``weights_only=True``): ``format``, ``architecture``
(:class:`~actions.lcnn.network.Architecture` fields), ``action`` (``order``,
``preconditioner``, ``fix_b0``), ``state_dict`` (weights, ``b0``, ``b``, the normalisation
``scale``), ``metrics`` and ``provenance`` (data file, FP parameters, card) — nothing else is
needed to load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lqcd_hmc import __version__
from lqcd_hmc.action import Action, autograd_force, build
from lqcd_hmc.field import GaugeField
from lqcd_hmc.io.atomic import replacing
from lqcd_hmc.io.weights import load_weights
from lqcd_hmc.symmetry import SUBGROUPS, elements, inverse, transform, transform_sites

from .network import LCNN, Architecture

FORMAT = "lqcd-hmc lcnn checkpoint"
# the layout this package reads and writes; a checkpoint of a later layout is refused
CHECKPOINT_VERSION = 1


class LCNNFixedPoint(nn.Module):
    """``A[V]`` of the module docstring as a module: ``forward(links) -> (B,)`` float64."""

    def __init__(
        self,
        arch: Architecture,
        order: int = 3,
        preconditioner: str | dict[str, Any] = "wilson",
        fix_b0: bool = False,
    ):
        super().__init__()
        if order < 1:
            raise ValueError(f"polynomial order must be >= 1, got {order}")
        self.net = LCNN(arch)
        self.order, self.fix_b0 = order, fix_b0
        if isinstance(preconditioner, str):
            preconditioner = {"name": preconditioner}
        self.preconditioner = {**preconditioner, "beta": 1.0}
        self.pre = build(self.preconditioner)
        self.b0 = nn.Parameter(torch.ones((), dtype=torch.float64), requires_grad=not fix_b0)
        self.b = nn.Parameter(torch.zeros(order, dtype=torch.float64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))

    @property
    def arch(self) -> Architecture:
        return self.net.arch

    @property
    def reach(self) -> int | None:
        r = (self.net.reach, self.pre.reach)
        return None if None in r else max(x for x in r if x is not None)

    def deviation(self, links: Tensor) -> Tensor:
        """``(N_x[V] - N_x[1]) / s``, ``(B, *dims)`` in the links' real dtype."""
        D = self.arch.D
        cold = torch.eye(links.shape[-1], dtype=links.dtype, device=links.device).expand(
            1, D, *[1] * D, *links.shape[-2:]
        )
        return (self.net(links)[:, 0] - self.net(cold)[:, 0]) / self.scale.to(links.real.dtype)

    def density(self, links: Tensor, network: bool = False) -> Tensor:
        """``A_x`` per site, ``(B, *dims)`` float64; with ``network`` only the network's term
        ``A_pre_x sum_{n>=1} b_n d_x^n`` (A less ``b_0 A_pre``)."""
        pre = self.pre.density(GaugeField(links, self.arch.group))
        d = self.deviation(links).double()
        poly = torch.zeros_like(d)
        for b in self.b.flip(0):  # Horner: sum_{n>=1} b_n d^n
            poly = (poly + b) * d
        return pre * (poly if network else self.b0 + poly)

    def basis(self, links: Tensor) -> Tensor:
        """``sum_x A_pre_x d_x^n`` for n = 0..order, ``(B, order + 1)``: A is linear in
        ``(b_0, ..., b_order)`` over this basis."""
        pre = self.pre.density(GaugeField(links, self.arch.group))
        d = self.deviation(links).double()
        return torch.stack([(pre * d**n).flatten(1).sum(1) for n in range(self.order + 1)], dim=1)

    def set_coefficients(self, p: Tensor) -> None:
        """``(b_0, ..., b_order)``; with ``fix_b0`` only ``b_1..`` are taken from ``p[1:]``."""
        with torch.no_grad():
            if not self.fix_b0:
                self.b0.copy_(p[0])
            self.b.copy_(p[1:])

    def forward(self, links: Tensor) -> Tensor:
        return self.density(links).flatten(1).sum(1)


def save_checkpoint(
    path: str | Path, model: LCNNFixedPoint, metrics: dict[str, Any], provenance: dict[str, Any]
) -> None:
    """Write the checkpoint atomically (the old file survives a crash)."""
    obj = {
        "format": FORMAT,
        "checkpoint_version": CHECKPOINT_VERSION,
        "package_version": __version__,
        "architecture": model.arch.to_dict(),
        "action": {
            "order": model.order,
            "preconditioner": model.preconditioner,
            "fix_b0": model.fix_b0,
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": metrics,
        "provenance": provenance,
    }
    with replacing(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path) -> tuple[LCNNFixedPoint, dict[str, Any]]:
    """The model (float64 weights, CPU) and the checkpoint's other entries."""
    obj = load_weights(path, "L-CNN checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not an L-CNN checkpoint")
    version = obj.get("checkpoint_version", 1)  # files before the version entry are layout 1
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint layout {version} (lqcd-hmc {obj.get('package_version')}); "
            f"this lqcd-hmc {__version__} reads layout {CHECKPOINT_VERSION}"
        )
    model = LCNNFixedPoint(Architecture(**obj["architecture"]), **obj["action"])
    model.load_state_dict(obj["state_dict"])
    return model, obj


class LCNNAction(Action):
    """``lcnn``: ``S = beta A`` with A from a shipped model (``model = "NAME"``,
    :mod:`.shipped`), an L-CNN checkpoint (``checkpoint = "path"``), or a model given directly
    (which is put in eval mode with its parameters frozen: the
    force needs gradients with respect to the links only). ``max_batch`` bounds the
    configurations per autograd pass (the force's memory grows with the batch; chains are
    independent, so chunks give the same numbers).

    ``symmetrise`` averages over a subgroup of the hypercubic group
    (:mod:`lqcd_hmc.symmetry`): ``A_sym[U] = (1/|G|) sum_g A[g U]``, exactly invariant under G
    and |G| times the cost (``"reflections"``: 16 in D = 4, ``"permutations"``: 24,
    ``"full"``: 384; default ``"identity"``, no averaging). The density is averaged with each
    term moved back to the sites of U."""

    name = "lcnn"
    beta: float
    working_memory = 520.0  # bench/memory.py: 12/24/24 channels, kernels 2/2/1: 514

    def __init__(
        self,
        beta: float,
        checkpoint: str | None = None,
        model: LCNNFixedPoint | str | None = None,
        max_batch: int | None = None,
        symmetrise: str = "identity",
    ):
        self.beta, self.checkpoint, self.max_batch = float(beta), checkpoint, max_batch
        self.shipped = model if isinstance(model, str) else None
        if isinstance(model, str):
            if checkpoint is not None:
                raise ValueError("lcnn: give a shipped model or a checkpoint, not both")
            from .shipped import resolve

            model, _ = load_checkpoint(resolve(model))
        if symmetrise not in SUBGROUPS:
            raise ValueError(
                f"lcnn: symmetrise must be one of {', '.join(SUBGROUPS)}, got {symmetrise!r}"
            )
        self.symmetrise = symmetrise
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"lcnn: max_batch must be >= 1, got {max_batch}")
        if model is None:
            if checkpoint is None:
                raise ValueError(
                    'lcnn needs model = "NAME" (a shipped model: lqcd-hmc models) or '
                    'checkpoint = "path" (written by lqcd-hmc train)'
                )
            model, _ = load_checkpoint(checkpoint)
        self.model = model.eval().requires_grad_(False)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"beta": self.beta}
        out.update({"model": self.shipped} if self.shipped else {"checkpoint": self.checkpoint})
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        if self.symmetrise != "identity":
            out["symmetrise"] = self.symmetrise
        return out

    @property
    def reach(self) -> int | None:  # type: ignore[override]
        return self.model.reach

    def _check(self, field: GaugeField) -> None:
        arch = self.model.arch
        if str(field.group) != arch.group or field.D != arch.D:
            raise ValueError(
                f"lcnn checkpoint is for {arch.group} in D = {arch.D}, the field "
                f"is {field.group} in D = {field.D}"
            )
        if self.model.scale.device != field.device:
            self.model.to(field.device)

    def _chunks(self, field: GaugeField) -> list[GaugeField]:
        if self.max_batch is None or field.batch <= self.max_batch:
            return [field]
        return [field.with_links(x) for x in field.links.split(self.max_batch)]

    def _density(self, links: Tensor, network: bool) -> Tensor:
        group = elements(links.shape[2:-2], self.symmetrise)
        if len(group) == 1:
            return self.model.density(links, network)
        terms = [
            transform_sites(self.model.density(transform(links, g), network), inverse(g))
            for g in group
        ]
        return torch.stack(terms).mean(0)

    def density(self, field: GaugeField, network: bool = False) -> Tensor:
        """``beta A_x``; with ``network`` the network's term only (:meth:`time_scales`)."""
        self._check(field)
        return torch.cat([self.beta * self._density(f.links, network) for f in self._chunks(field)])

    def force(self, field: GaugeField) -> Tensor:
        return torch.cat([autograd_force(self, f) for f in self._chunks(field)])

    def time_scales(self) -> list[Action]:
        """``[beta A_pre sum_{n>=1} b_n d^n, beta b_0 A_pre]``: the network's term, whose
        force costs the network's forward and backward pass, and the preconditioner's, about
        ten times cheaper and fifteen times larger (the shipped model's network term is
        6-7 % of the force on its 8^4 ensembles; bench/RESULTS.md). On the outer level of a
        multiple-time-scale integrator the network is evaluated fewer times per trajectory
        while the preconditioner keeps the step size of the molecular dynamics fine (the
        network's term is stiff: its outer step stays at about 1/5)."""
        pre = build({**self.model.preconditioner, "beta": self.beta * float(self.model.b0)})
        return [LCNNNetworkTerm(self), pre]


class LCNNNetworkTerm(Action):
    """The network's term of an :class:`LCNNAction` (its slow time scale):
    ``S_net = beta sum_x A_pre_x sum_{n>=1} b_n d_x^n``, the action less ``beta b_0 A_pre``.
    Not a registered action: it lives in an integrator level."""

    name = "lcnn-network"

    def __init__(self, action: LCNNAction):
        self.action = action
        self.working_memory, self.max_batch = action.working_memory, action.max_batch

    @property
    def reach(self) -> int | None:  # type: ignore[override]
        return self.action.reach

    def params(self) -> dict[str, Any]:
        return self.action.params()

    def density(self, field: GaugeField) -> Tensor:
        return self.action.density(field, network=True)

    def force(self, field: GaugeField) -> Tensor:
        return torch.cat([autograd_force(self, f) for f in self.action._chunks(field)])
