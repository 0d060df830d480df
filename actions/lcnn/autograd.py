"""What the L-CNN's hand-written autograd functions share (:mod:`.bilinear`, :mod:`.hopconv`):
their inputs saved with the nodes that will consume their gradients, the gradients this
backward pass actually uses, and the reference derivatives where a native backward pass is
itself differentiated.

Training's loss gradient goes to the weights alone
(:func:`workflows.training.losses.backpropagate`), so in its second pass most link and field
gradients of the first pass's nodes are never used: :func:`wanted` asks the engine
(``torch._C._will_engine_execute_node``), which answers for non-leaf nodes only, hence
:func:`operand`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor


def operand(t: Tensor) -> Tensor:
    """``t``, as a view where it is a leaf that requires a gradient (see the module
    docstring)."""
    return t.view_as(t) if t.is_leaf and t.requires_grad else t


def save(ctx: Any, inputs: Sequence[Tensor], kept: Sequence[Tensor] = ()) -> None:
    """Save ``inputs`` for the backward pass, with the nodes their gradients go to, and after
    them the forward pass's intermediates ``kept`` (saved like the inputs, so that hooks on
    saved tensors, and the activation memory they measure, see them)."""
    ctx.save_for_backward(*inputs, *kept)
    ctx.nodes = [t.grad_fn for t in inputs]


def wanted(ctx: Any) -> list[bool]:
    """Per saved input, whether this backward pass uses its gradient."""
    return [
        bool(need) and (node is None or torch._C._will_engine_execute_node(node))
        for need, node in zip(ctx.needs_input_grad, ctx.nodes)
    ]


def reference_gradients(
    fn: Callable[..., Tensor | tuple[Tensor, ...]],
    inputs: Sequence[Tensor],
    want: Sequence[bool],
    grads: Tensor | tuple[Tensor, ...],
) -> tuple[Tensor | None, ...]:
    """The wanted gradients of ``<grads, fn(*inputs)>`` by autograd through ``fn`` (made of
    differentiable PyTorch operations), themselves differentiable where this backward pass
    is (``create_graph``)."""
    create = torch.is_grad_enabled()
    with torch.enable_grad():
        views = [t.view_as(t) for t in inputs]  # the derivatives along each input alone
        chosen = [v for v, need in zip(views, want) if need]
        found = iter(torch.autograd.grad(fn(*views), chosen, grads, create_graph=create))
    return tuple(next(found) if need else None for need in want)


def differentiable(t: Tensor) -> Tensor:
    """``t`` as an input that an inner ``torch.autograd.grad`` may differentiate to: itself
    where it requires a gradient (so an outer derivative reaches its graph), else a detached
    copy that does."""
    return t if t.requires_grad else t.detach().requires_grad_(True)
