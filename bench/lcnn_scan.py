"""Architecture scan of the L-CNN fixed-point action: held-out L1 (action per site) and L2
(derivatives) against the number of parameters and the force's arithmetic, for L-CNN sizes
trained on one FP data file with one split, and ``fp-param`` of orders 2 and 3 fitted on the
same training configurations (the comparison of Holland, Ipp, Müller, Wenger, arXiv:2401.06481,
figure 4).

    python -m bench.lcnn_scan DATA.h5 --out DIR [--card examples/lcnn_train.toml]
                              [--epochs 100] [--sizes NAME,...] [--plot scan.png]

Each size trains with ``lqcd-hmc train``'s machinery from the card (data, split, losses and
schedule from it; channels, kernels and epochs from here) into ``DIR/NAME/``, and resumes there:
run it again to continue a killed scan. The table (markdown) goes to stdout and
``DIR/scan.json``; the plot has both losses against parameters on log axes.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
import torch

from actions.fixed_point.free_fixed_point import of_data
from actions.fixed_point.parametrisation import fit
from actions.lcnn import LCNNAction, load_checkpoint
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.plotting import pyplot, save_figure
from workflows.fixed_point.data import read_fp_data
from workflows.training import load_train_card, train
from workflows.training.card import TrainCard
from workflows.training.losses import evaluate, split

from .lcnn import RealFlops

# name: (channels, kernel sizes); the default model of the reference work is "12-24-24/2-2-1"
SIZES: dict[str, tuple[list[int], list[int]]] = {
    "4-4/2-1": ([4, 4], [2, 1]),
    "8-8/2-1": ([8, 8], [2, 1]),
    "8-16/2-2": ([8, 16], [2, 2]),
    "8-16-16/2-2-1": ([8, 16, 16], [2, 2, 1]),
    "12-24-24/2-2-1": ([12, 24, 24], [2, 2, 1]),
    "16-32-32/2-2-1": ([16, 32, 32], [2, 2, 1]),
    "12-24-24-24/2-2-1-1": ([12, 24, 24, 24], [2, 2, 1, 1]),
}


def train_size(base: dict[str, Any], name: str, out: Path, epochs: int) -> dict[str, Any]:
    """Train (or continue) one size; its summary with the force's flops per site."""
    channels, kernels = SIZES[name]
    d = out / name.replace("/", "_")
    d.mkdir(parents=True, exist_ok=True)
    card = {
        **base,
        "model": {**base.get("model", {}), "channels": channels, "kernel_sizes": kernels},
        "training": {**base.get("training", {}), "epochs": epochs},
        "output": {"checkpoint": str(d / "model.pt")},
    }
    (d / "train.toml").write_text(tomli_w.dumps(card))
    tc = load_train_card(d / "train.toml")
    summary = train(tc, resume=(d / "model.pt.state").exists())
    model, _ = load_checkpoint(d / "model.pt")
    group, D = model.arch.group, model.arch.D
    f = GaugeField.hot([4] * D, group, ChainRNG(1, 1))
    links = f.links.clone().requires_grad_(True)
    act = LCNNAction(1.0, model=model)
    with RealFlops() as flops:
        act(f.with_links(links)).sum().backward()
    return {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "L1": summary["validation"]["L1"],
        "L2": summary["validation"]["L2"],
        "best_epoch": summary["best_epoch"],
        "epochs": summary["epochs"],
        "force_mflop_per_site": flops.total / f.volume / 1e6,
        "configurations_per_second": summary["configurations_per_second"],
    }


def fp_param_rows(base: dict[str, Any]) -> list[dict[str, Any]]:
    """``fp-param`` of orders 2 and 3 fitted on the card's training configurations (in the
    classically perfect form the trainer fits, unless the card turns it off), evaluated on its
    validation configurations (the split of :func:`workflows.training.losses.split`)."""
    tc = TrainCard.model_validate(base)
    data = read_fp_data(tc.data.file)
    fields, A, dA = data["fields"], data["action"].double(), data["derivative"].double()
    train_idx, val_idx = split(fields.batch, tc.data.validation, tc.data.seed)
    free = of_data(data["parameters"], tc.model.free_box) if tc.model.classically_perfect else None
    rows = []
    for order in (2, 3):
        p = fit(
            [fields.with_links(fields.links[train_idx])],
            A[train_idx],
            dA[train_idx],
            order,
            free=free,
        )
        val = fields.with_links(fields.links[val_idx])
        m = evaluate(lambda links: p(val.with_links(links)), val, A[val_idx], dA[val_idx], 4)
        n = len(p.coefficients) + len(p.loops)
        rows.append({"name": f"fp-param order {order}", "parameters": n, **m})
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Held-out L1 and L2 against parameters, the fp-param fits as dashed lines."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    net = [r for r in rows if not r["name"].startswith("fp-param")]
    for ax, key, label in zip(axes, ("L1", "L2"), ("L1 (|A - A_FP| per site)", "L2 (derivatives)")):
        ax.plot([r["parameters"] for r in net], [r[key] for r in net], "o-", label="L-CNN")
        for i, r in enumerate(x for x in rows if x["name"].startswith("fp-param")):
            ax.axhline(r[key], ls="--", lw=1, color=f"C{i + 1}", label=r["name"])
        ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel=f"held-out {label}")
        ax.legend(fontsize=8)
    axes[0].set_title("L-CNN FP action: accuracy against size")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--card", default="examples/lcnn_train.toml")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = tomllib.loads(Path(args.card).read_text())
    base["data"] = {**base.get("data", {}), "file": str(Path(args.data).resolve())}
    out = Path(args.out)
    rows = fp_param_rows(base)
    for name in args.sizes.split(","):
        rows.append(train_size(base, name, out, args.epochs))
        (out / "scan.json").write_text(json.dumps(rows, indent=1))
    print("| model | parameters | held-out L1 | held-out L2 | force Mflop/site | epochs (best) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cost = f"{r['force_mflop_per_site']:.2f}" if "force_mflop_per_site" in r else ""
        ep = f"{r['epochs']} ({r['best_epoch']})" if "epochs" in r else ""
        print(
            f"| {r['name']} | {r['parameters']} | {r['L1']:.3e} | {r['L2']:.3e} | {cost} | {ep} |"
        )
    if args.plot:
        plot(rows, Path(args.plot))


if __name__ == "__main__":
    main()
