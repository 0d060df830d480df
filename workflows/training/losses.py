"""The losses of L-CNN training (Holland, Ipp, Müller, Wenger, arXiv:2401.06481, section IV):
``L1 = < |A[V] - A_FP[V]| > / volume`` and ``L2 = < (dA/dw_a - dA_FP/dw_a)^2 >`` per link and
generator, the model's derivatives from autograd (differentiable again for the loss gradient:
double backpropagation), and the seeded training/validation split."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from actions.fixed_point.minimise import algebra_gradient
from lqcd_hmc.field import GaugeField


def predictions(
    fn: Callable[[Tensor], Tensor], field: GaugeField, create_graph: bool
) -> tuple[Tensor, Tensor]:
    """``A`` ``(B,)`` and ``dA/dw_a`` ``(B, D, *dims, n_gen)`` of any differentiable action
    ``fn(links)``; with ``create_graph`` the derivatives stay differentiable in the model's
    parameters (double backpropagation)."""
    with torch.enable_grad():
        links = field.links.detach().requires_grad_(True)
        A = fn(links)
        (G,) = torch.autograd.grad(A.sum(), links, create_graph=create_graph)
    return A, algebra_gradient(links.detach(), G, field).double()


def losses(
    fn: Callable[[Tensor], Tensor],
    field: GaugeField,
    action: Tensor,
    derivative: Tensor,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(L1, L2)`` of the module docstring on one batch."""
    A, dA = predictions(fn, field, create_graph)
    L1 = (A - action).abs().mean() / field.volume
    L2 = (dA - derivative).pow(2).mean()
    return L1, L2


def backpropagate(loss: Tensor, parameters: Iterable[Tensor]) -> None:
    """``loss.backward()`` into ``parameters`` alone. The links require gradients too (the
    model's derivatives, :func:`predictions`), and a plain ``backward`` would also carry the
    loss's gradient back to them through every layer and transport: a quarter of the loss
    gradient's time, spent on nothing (``bench.lcnn``, stop 54)."""
    loss.backward(inputs=[p for p in parameters if p.requires_grad])


def evaluate(
    fn: Callable[[Tensor], Tensor],
    field: GaugeField,
    action: Tensor,
    derivative: Tensor,
    batch: int,
) -> dict[str, float]:
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
