"""Closed-loop traces from shared half-path products (``lqcd_hmc.paths.loop_traces``, the
products native on a CPU) against the plain ordered products (``path_product``, torch's
``matmul``), which define them."""

import pytest
import torch

from actions.fixed_point.perfect import LOOPS, shape_paths
from lqcd_hmc.field import GaugeField
from lqcd_hmc.paths import loop_traces, parallelogram_paths, path_product, rectangle_paths
from lqcd_hmc.rng import ChainRNG


def reference(links: torch.Tensor, paths) -> torch.Tensor:
    return torch.stack(
        [path_product(links, p).diagonal(dim1=-2, dim2=-1).sum(-1).real for p in paths], dim=1
    )


@pytest.mark.parametrize(
    ("group", "dims", "paths"),
    [
        ("SU(3)", [4, 4, 6, 4], [p for s in LOOPS for p in shape_paths(s)]),
        ("SU(2)", [4, 6, 4], rectangle_paths(3) + parallelogram_paths(3)),
        ("U(1)", [6, 4], rectangle_paths(2)),
    ],
)
def test_loop_traces_equal_path_products_with_gradients(group, dims, paths):
    """Values to 1e-13, the gradient of a random weighted sum to 1e-12 and a second derivative
    (of the gradient's squared norm) to 1e-11, relative to their largest entry where that
    exceeds 1, on Haar-random fields (two chains, unequal extents): the five FP shapes in 4D
    (94 loops), rectangles and parallelograms in 3D, rectangles in 2D. SU(2) and SU(3) take
    the native products (:mod:`lqcd_hmc.products`), U(1) torch's."""
    f = GaugeField.hot(dims, group, ChainRNG(3, 2))
    gen = torch.Generator().manual_seed(3)
    weights = torch.randn(len(paths), dtype=torch.float64, generator=gen)
    grads = []
    for fn in (loop_traces, reference):
        links = f.links.detach().requires_grad_(True)
        values = fn(links, paths)
        assert values.shape == (2, len(paths), *dims)
        total = torch.einsum("bp...,p->", values, weights)
        (g,) = torch.autograd.grad(total, links, create_graph=True)
        (h,) = torch.autograd.grad((g.abs() ** 2).sum(), links)  # a second derivative
        grads.append((values.detach(), g.detach(), h))
    for mine, theirs, tol in zip(*grads, (1e-13, 1e-12, 1e-11)):
        assert (mine - theirs).abs().max() < tol * max(1.0, float(theirs.abs().max()))


def test_loop_traces_refuse_open_paths():
    f = GaugeField.cold([4, 4], "SU(2)")
    with pytest.raises(ValueError, match="not a closed loop"):
        loop_traces(f.links, [(1, 2, -1)])
    with pytest.raises(ValueError, match="not a closed loop"):
        loop_traces(f.links, [(1, 1, 2, -1)])
