"""The L-CNN's site-local layers (Favoni, Ipp, Müller, Schuh, PRL 128 (2022) 032003): the
gauge equivariant activation :class:`LAct`, the exponential link update :class:`LExp` and the
trace readout :class:`Trace`, on channel fields ``(B, C, *dims, N, N)`` that transform locally
(docs/conventions.md, section 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from lqcd_hmc.groups import Group, get_group

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": lambda x: 1 + torch.tanh(x),
    "softplus": nn.functional.softplus,
    "relu": lambda x: (x > 0).to(x.dtype),
}


class LAct(nn.Module):
    """Gauge equivariant activation: ``W_i -> g(a_i Re Tr W_i / N + c_i) W_i`` with a
    gauge-invariant scalar gate (Favoni et al., eq. 5). ``g``: ``sigmoid`` (default; smooth, so
    the force is continuous), ``tanh`` (``1 + tanh``), ``softplus``, or ``relu`` (the step
    ``Theta``, for which ``Re Tr W'`` is ``ReLU(Re Tr W)``; its force jumps, so not for HMC)."""

    def __init__(self, channels: int, activation: str = "sigmoid"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}"
            )
        self.activation = activation
        self.scale = nn.Parameter(torch.ones(channels, dtype=torch.float64))
        self.shift = nn.Parameter(torch.zeros(channels, dtype=torch.float64))

    def _gate(self, x: Tensor) -> Tensor:
        view = (-1,) + (1,) * (x.dim() - 2)
        g = _ACTIVATIONS[self.activation]
        return g(self.scale.to(x.dtype).view(view) * x + self.shift.to(x.dtype).view(view))

    def forward(self, W: Tensor) -> Tensor:
        return self._gate(re_trace(W) / W.shape[-1])[..., None, None] * W

    def real_trace(self, x: Tensor) -> Tensor:
        """``Re Tr W'_i / N`` of the output from ``x_i = Re Tr W_i / N`` of the input,
        ``g(a_i x_i + c_i) x_i`` (the gate is real), ``(B, C, *dims)``."""
        return self._gate(x) * x

    def extra_repr(self) -> str:
        return f"{self.scale.numel()}, activation={self.activation!r}"


class LExp(nn.Module):
    """Link update by the exponential map (Favoni et al., eq. 6):
    ``U_mu(x) -> exp(sum_i beta_{mu i} Pi(W_i(x))) U_mu(x)`` with ``Pi`` the traceless
    anti-Hermitian part; stays in the group and keeps the links' transformation law. Zero
    weights (the initialisation) leave the links unchanged."""

    def __init__(self, channels: int, D: int, group: str | Group):
        super().__init__()
        self.group = get_group(group)
        self.weight = nn.Parameter(torch.zeros(D, channels, dtype=torch.float64))

    def forward(self, U: Tensor, W: Tensor) -> Tensor:
        X = self.group.project_algebra(W)
        Q = torch.einsum("mc,bc...->bm...", self.weight.to(W.dtype), X)
        return self.group.exp(Q) @ U


class Trace(nn.Module):
    """Gauge-invariant output ``Tr W_i(x) / N`` per channel and site, complex
    ``(B, C, *dims)``."""

    def forward(self, W: Tensor) -> Tensor:
        return torch.diagonal(W, dim1=-2, dim2=-1).sum(-1) / W.shape[-1]


def re_trace(W: Tensor) -> Tensor:
    """``Re Tr W`` per matrix of a complex ``W (..., N, N)``, real ``(...)``: the diagonal's
    real parts added one by one (7x faster on a CPU than a sum over ``torch.diagonal``), and
    differentiable to any order by :class:`_ReTrace`."""
    return _ReTrace.apply(W)


class _ReTrace(torch.autograd.Function):
    """``apply(W) = Re Tr W``. Real-linear, with the adjoint ``s -> s 1``
    (:class:`_TimesIdentity`), whose adjoint is this again: each is the other's backward pass,
    so second derivatives take no zero-filled diagonals, expanded sums or strided
    reductions."""

    @staticmethod
    def forward(ctx: Any, W: Tensor) -> Tensor:
        ctx.N, ctx.dtype = W.shape[-1], W.dtype
        r = torch.view_as_real(W.resolve_conj())
        return sum((r[..., i, i, 0] for i in range(1, ctx.N)), r[..., 0, 0, 0])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return _TimesIdentity.apply(g, ctx.N, ctx.dtype)


class _TimesIdentity(torch.autograd.Function):
    """``apply(s, N, dtype) = s 1``, ``N x N`` matrices of ``dtype``: :class:`_ReTrace`'s
    backward pass, whose forward is this one's backward."""

    @staticmethod
    def forward(ctx: Any, s: Tensor, N: int, dtype: torch.dtype) -> Tensor:
        out = s.new_zeros(*s.shape, N, N, dtype=dtype)
        out.diagonal(dim1=-2, dim2=-1).copy_(s[..., None].expand(*s.shape, N))
        return out

    @staticmethod
    def backward(ctx: Any, G: Tensor) -> tuple[Tensor, None, None]:
        return _ReTrace.apply(G), None, None
