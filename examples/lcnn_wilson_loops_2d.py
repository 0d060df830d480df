"""The Wilson-loop regression of Favoni, Ipp, Müller, Schuh, PRL 128 (2022) 032003, in 1+1D SU(2).

Targets per site: ``Re Tr W / N`` of the 1x1, 1x2 and 2x2 Wilson loops at x. Training set: 8x8
configurations from the Wilson heatbath at several couplings, each randomly gauge transformed;
test sets: fresh configurations on 8x8, 16x16, 32x32 and 64x64. Two models, the same optimiser
and epochs:

* L-CNN: ``Plaq -> L-CB(kernel 2) -> L-CB(kernel 2) -> Trace -> linear``. The targets lie in
  its function space (a 1x2 loop is a plaquette times a transported plaquette), and gauge and
  translation equivariance make it independent of the lattice size: its test error stays at the
  training error on every size.
* CNN baseline: a plain 3-layer ``Conv2d`` (circular padding, ReLU) on the real and imaginary
  parts of the link matrices. It sees gauge-dependent numbers, so it can only learn the mean.

Run: ``python examples/lcnn_wilson_loops_2d.py [--quick] [--json]`` (about 2 minutes on two CPU
cores; ``--quick``: a fraction of it). Prints the test MSE per lattice size and model, and the
variance of the targets (the MSE of predicting their mean).
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import Tensor, nn

from actions import Wilson
from actions.lcnn import LConvBilin, Plaq, Trace
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.loops import rectangle_re_trace

LOOPS = [(1, 1), (1, 2), (2, 2)]
BETAS = [0.5, 1.0, 2.0, 4.0, 8.0]


def ensemble(L: int, per_beta: int, seed: int, sweeps: int = 20) -> GaugeField:
    """``per_beta`` heatbath configurations of SU(2) on L x L at each of :data:`BETAS`, every one
    randomly gauge transformed."""
    out = []
    for i, beta in enumerate(BETAS):
        rng = ChainRNG(seed * 100 + i, per_beta)
        f = GaugeField.hot([L, L], "SU(2)", rng)
        hb = Heatbath(Wilson(beta), overrelaxation=1)
        hb.prepare(f.dims)
        for _ in range(sweeps):
            f, _ = hb.update(f, rng)
        out.append(f.gauge_transform(f.random_gauge(rng)).links)
    return GaugeField(torch.cat(out), "SU(2)")


def targets(f: GaugeField) -> Tensor:
    """``Re Tr W_{R x T}(x) / N`` for :data:`LOOPS`, ``(B, 3, L, L)``."""
    return torch.stack([rectangle_re_trace(f.links, 0, 1, R, T) / f.N for R, T in LOOPS], 1)


class LoopLCNN(nn.Module):
    def __init__(self, channels: int = 8):
        super().__init__()
        self.plaq, self.trace = Plaq(), Trace()
        self.l1 = LConvBilin(2, channels, 2, 2)
        self.l2 = LConvBilin(channels, channels, 2, 2)
        self.out = nn.Linear(channels, len(LOOPS), dtype=torch.float64)

    def forward(self, U: Tensor) -> Tensor:
        W = self.l2(U, self.l1(U, self.plaq(U)))
        return self.out(self.trace(W).real.movedim(1, -1)).movedim(-1, 1)


class LoopCNN(nn.Module):
    def __init__(self, channels: int = 32):
        super().__init__()
        conv = lambda a, b: nn.Conv2d(
            a,
            b,
            3,
            padding=1,
            padding_mode="circular",  # noqa
            dtype=torch.float64,
        )
        self.net = nn.Sequential(
            conv(16, channels),
            nn.ReLU(),
            conv(channels, channels),
            nn.ReLU(),
            conv(channels, len(LOOPS)),
        )

    def forward(self, U: Tensor) -> Tensor:
        x = torch.view_as_real(U)  # (B, 2, L, L, 2, 2, 2)
        x = x.permute(0, 1, 4, 5, 6, 2, 3).reshape(U.shape[0], 16, *U.shape[2:4])
        return self.net(x)


def fit(
    model: nn.Module, f: GaugeField, y: Tensor, epochs: int, batch: int = 32, lr: float = 3e-3
) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(f.batch, generator=gen)
        for i in range(0, f.batch, batch):
            idx = perm[i : i + batch]
            loss = (model(f.links[idx]) - y[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()


def main(quick: bool = False) -> dict:
    torch.manual_seed(0)
    per_beta, epochs = (16, 40) if quick else (64, 100)
    train = ensemble(8, per_beta, seed=1)
    y = targets(train)
    models = {"lcnn": LoopLCNN(), "cnn": LoopCNN()}
    for m in models.values():
        fit(m, train, y, epochs)
    result: dict = {
        "train_configurations": train.batch,
        "epochs": epochs,
        "parameters": {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()},
        "test": {},
    }
    with torch.no_grad():
        for L in (8, 16, 32, 64):
            f = ensemble(L, 4, seed=2 + L)
            yt = targets(f)
            row = {k: float((m(f.links) - yt).pow(2).mean()) for k, m in models.items()}
            row["target_variance"] = float(yt.var(dim=(0, 2, 3)).mean())
            result["test"][L] = row
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = main(args.quick)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(
            f"trained on {res['train_configurations']} 8x8 configurations, {res['epochs']} "
            f"epochs; parameters {res['parameters']}"
        )
        print(f"{'L':>4} {'MSE L-CNN':>12} {'MSE CNN':>12} {'Var(target)':>12}")
        for L, r in res["test"].items():
            print(f"{L:>4} {r['lcnn']:12.3e} {r['cnn']:12.3e} {r['target_variance']:12.3e}")
