"""Halo exchange with autograd, and actions on a decomposed lattice.

:func:`extend` widens the local links ``(B, D, *local, N, N)`` by ``depth`` sites on both sides
of every cut axis with copies of the neighbours' links (axes in order, so the corners come with
the second axis), by ``torch.distributed`` point-to-point operations. Its backward is the
transpose: the gradient that landed on a halo is sent back to the rank that owns those links and
added there. An action whose density at x depends only on links within its ``reach`` of x then
has, at every site of the local block, the density it has on the whole lattice when
``depth >= reach``: the local action is the sum over the block (halo sites dropped), the total
its all-reduce, and the gradient of each rank's local action through :func:`extend` gives every
rank the derivative of the total with respect to its own links. Forces from autograd therefore
work for any action that states its reach.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..action import Action, autograd_force
from ..field import GaugeField
from ..lattice import tensor_sum
from ..loops import plaquette_re_trace
from .grid import Decomposition, ParallelError

_TAG_FORWARD, _TAG_BACKWARD = 0, 1000
_sent = [0]


def bytes_sent() -> int:
    """Halo bytes this process has sent so far (forward and backward)."""
    return _sent[0]


def _exchange(
    send_minus: Tensor, send_plus: Tensor, layout: Decomposition, mu: int, tag: int
) -> tuple[Tensor, Tensor]:
    """Send ``send_minus`` to the neighbour at -mu and ``send_plus`` to the one at +mu;
    returns ``(from_minus, from_plus)``: what they sent toward this rank."""
    lo, hi = layout.neighbour(mu, -1), layout.neighbour(mu, +1)
    bufs = [
        torch.view_as_real(t.contiguous()) if t.is_complex() else t.contiguous()
        for t in (send_minus, send_plus)
    ]
    recv = [torch.empty_like(b) for b in bufs]
    _sent[0] += sum(b.numel() * b.element_size() for b in bufs)
    ops = [
        dist.P2POp(dist.isend, bufs[0], lo, layout.group, tag + 2 * mu),
        dist.P2POp(dist.isend, bufs[1], hi, layout.group, tag + 2 * mu + 1),
        dist.P2POp(dist.irecv, recv[0], lo, layout.group, tag + 2 * mu + 1),
        dist.P2POp(dist.irecv, recv[1], hi, layout.group, tag + 2 * mu),
    ]
    for req in dist.batch_isend_irecv(ops):
        req.wait()
    out = [
        torch.view_as_complex(r) if t.is_complex() else r
        for r, t in zip(recv, (send_minus, send_plus))
    ]
    return out[0], out[1]


class _Halo(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, layout: Decomposition, depth: int) -> Tensor:
        ctx.layout, ctx.depth = layout, depth
        for mu in layout.split_axes:
            dim, n = 2 + mu, x.shape[2 + mu]
            from_minus, from_plus = _exchange(
                x.narrow(dim, 0, depth), x.narrow(dim, n - depth, depth), layout, mu, _TAG_FORWARD
            )
            x = torch.cat([from_minus, x, from_plus], dim)
        return x

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        layout, d = ctx.layout, ctx.depth
        for mu in reversed(layout.split_axes):
            dim, n = 2 + mu, g.shape[2 + mu] - 2 * d
            from_minus, from_plus = _exchange(
                g.narrow(dim, 0, d), g.narrow(dim, n + d, d), layout, mu, _TAG_BACKWARD
            )
            g = g.narrow(dim, d, n).clone()
            g.narrow(dim, 0, d).add_(from_minus)
            g.narrow(dim, n - d, d).add_(from_plus)
        return g, None, None


def extend(links: Tensor, layout: Decomposition, depth: int) -> Tensor:
    """The local links with halos of ``depth`` sites on every cut axis (differentiable)."""
    if not layout.split_axes or depth == 0:
        return links
    return _Halo.apply(links, layout, depth)


def interior(x: Tensor, layout: Decomposition, depth: int, first: int = 1) -> Tensor:
    """Drop the halos of a per-site tensor whose lattice axes start at ``first``."""
    for mu in layout.split_axes:
        x = x.narrow(first + mu, depth, layout.local_dims[mu])
    return x


class DistributedAction(Action):
    """``action`` on the block ``layout`` of a decomposed lattice: ``__call__`` gives the total
    (all-reduced, float64), ``local`` this rank's part (differentiable), ``force`` the force on
    this rank's links (module docstring). Fields passed in are local blocks."""

    def __init__(self, action: Action, layout: Decomposition):
        depth = action.reach
        if depth is None and layout.split_axes:
            raise ParallelError(
                f"action {action.name!r} does not state its reach (or is not "
                f"local); it cannot be domain-decomposed"
            )
        self.action, self.layout, self.depth = action, layout, int(depth or 0)
        self.name = action.name  # type: ignore[misc]
        self.working_memory, self.max_batch = action.working_memory, action.max_batch

    @property
    def reach(self) -> int | None:  # type: ignore[override]
        return self.action.reach

    @property
    def beta(self) -> float | None:  # type: ignore[override]
        return self.action.beta

    def params(self) -> dict[str, Any]:
        return self.action.params()

    def time_scales(self) -> list[Action]:
        """The wrapped action's terms, each decomposed on the same layout."""
        terms = self.action.time_scales()
        return [self] if len(terms) == 1 else [DistributedAction(t, self.layout) for t in terms]

    def local(self, field: GaugeField) -> Tensor:
        ext = field.with_links(extend(field.links, self.layout, self.depth))
        return interior(self.action.density(ext), self.layout, self.depth).flatten(1).sum(1)

    def __call__(self, field: GaugeField) -> Tensor:
        with torch.no_grad():
            return self.layout.all_reduce(self.local(field))

    def force(self, field: GaugeField) -> Tensor:
        """The autograd force of this rank's part; the halo's backward adds the
        neighbours' contributions."""
        return autograd_force(self.local, field)


class PlaquetteSum(Action):
    """``sum_x sum_{mu<nu} Re Tr U_{mu nu}(x) / N`` (divide by the number of plaquettes for the
    average plaquette), as an action so that it can be decomposed."""

    name = "plaquette_sum"
    reach = 1

    def density(self, field: GaugeField) -> Tensor:
        D = field.D
        return (
            tensor_sum(
                plaquette_re_trace(field.links, mu, nu).double()
                for mu in range(D)
                for nu in range(mu + 1, D)
            )
            / field.N
        )


class DistributedPlaquette:
    """The average plaquette ``P`` of a decomposed lattice per configuration: the local
    plaquette sums all-reduced (:class:`PlaquetteSum`), divided by the number of plaquettes of
    the whole lattice."""

    def __init__(self, layout: Decomposition):
        self.layout = layout
        self.sum = DistributedAction(PlaquetteSum(), layout)

    def __call__(self, field: GaugeField) -> Tensor:
        planes = field.D * (field.D - 1) // 2
        return self.sum(field) / (planes * math.prod(self.layout.dims))
