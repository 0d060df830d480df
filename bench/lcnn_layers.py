"""Where the L-CNN action's force goes: each part of the network timed alone, forward and
backward, against the whole force as HMC takes it.

    python -m bench.lcnn_layers [--model 12-24-24/2-2-1] [--size 8] [--dtype complex64]
                                [--threads 1]

On a Haar-random SU(3) field of one configuration (``--model`` as in :mod:`bench.lcnn`: an
architecture ``C-C-C/K-K-K`` or a trained checkpoint), milliseconds per call (best of three
blocks, :func:`bench.timing.timeit`) of: the action's force; the network alone (its value's
gradient with respect to the links); the input layer (the plaquettes, and their Laplacians
where the model takes them, with their hop matrices); the hop matrices where the layers take
them (the native convolution does not, :mod:`actions.lcnn.hopconv`); each L-CB layer with its
activation on its inputs from one forward pass, the first on half its channels where its inputs
hold their own adjoints and the last as ``Re Tr`` only, as the network runs them; the
preconditioner's density and gradient. Each backward pass starts from ones on the part's
output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from actions.lcnn import LCNNAction, transport_hops
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.allocator import use_tcmalloc

from .lcnn_models import REFERENCE, describe_model, model
from .timing import timeit


def backward(fn: Callable[[], Tensor], wrt: Tensor) -> Callable[[], object]:
    """A call of ``fn`` and the backward pass of its output to ``wrt``."""

    def run() -> object:
        y = fn()
        return torch.autograd.grad(y, wrt, torch.ones_like(y))

    return run


def parts(act: LCNNAction, f: GaugeField) -> list[tuple[str, Callable[[], object]]]:
    """``(name, call)`` for every timed part (module docstring)."""
    m = act.model
    net = m.net
    U = f.links.clone().requires_grad_(True)
    out = [
        ("action force (as HMC takes it)", lambda: act.force(f)),
        ("network alone", backward(lambda: net(U), U)),
        ("input layer", backward(lambda: net.features(U)[1], U)),
    ]
    with torch.no_grad():
        _, W, hops = net.features(f.links)
        if hops is None and any(layer.conv.uses_hops(W) for layer in net.layers):
            out.append(("hop matrices", backward(lambda: torch.stack(transport_hops(U)), U)))
        hops = hops or transport_hops(f.links)
        inputs = [W]
        for i in range(len(net.layers) - 1):
            inputs.append(net.block(i, f.links, inputs[-1], hops))
    n = len(net.layers)
    for i, X in enumerate(inputs):
        X = X.clone().requires_grad_(True)
        name = f"layer {i + 1} of {n}"
        if i == 0 and not m.arch.polyakov:
            name += " (half the channels)"
        if i == n - 1:
            name += ", Re Tr only"
        out.append((name, backward(partial(net.block, i, f.links, X, hops), X)))
    out.append(("preconditioner", backward(lambda: m.pre.density(f.with_links(U)), U)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=REFERENCE)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--dtype", default="complex64")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    act = LCNNAction(6.0, model=model(device, args.model))
    f = GaugeField.hot([args.size] * 4, "SU(3)", ChainRNG(1, 1, device), args.dtype)
    print(describe_model(act.model, args.model))
    print(f"SU(3) {args.size}^4, one configuration, {args.dtype}, {args.threads} thread(s)\n")
    rows = [(name, timeit(call, 3, device) * 1e3) for name, call in parts(act, f)]
    whole = rows[0][1]
    print("| part | ms (forward and backward) | share of the force |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / whole:.2f} |")


if __name__ == "__main__":
    use_tcmalloc()
    main()
