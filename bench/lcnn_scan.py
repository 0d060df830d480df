"""Architecture scan of the L-CNN fixed-point action: held-out L1 (action per site) and L2
(derivatives) against the number of parameters and the force's arithmetic, for L-CNN sizes
trained on one FP data file with one split, and ``fp-param`` of orders 2 and 3 fitted on the
same training configurations (the comparison of Holland, Ipp, Müller, Wenger, arXiv:2401.06481,
figure 4).

    python -m bench.lcnn_scan [DATA.h5 ...] --out DIR [--card examples/lcnn_train.toml]
                              [--epochs 100] [--sizes NAME,...] [--plot scan.png]
                              [--also LABEL=CHECKPOINT ...]

Each size trains with ``lqcd-hmc train``'s machinery from the card (data, split, losses and
schedule from it; channels, kernels and epochs from here) into ``DIR/NAME/``, and resumes there:
run it again to continue a killed scan. A finished size leaves ``DIR/NAME/row.json`` and is not
trained again, so several processes may each train some sizes into one DIR. The table (markdown)
of all sizes finished in DIR goes to stdout and ``DIR/scan.json``: held-out L1 and L2 of each
size at the end of its schedule (and of its best epoch by the monitored loss, in the JSON), over
all validation configurations and without the rough Wilson beta < 6 ones; the plot has the
losses against parameters on log axes.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
import torch
from matplotlib.ticker import NullFormatter
from torch import Tensor

from actions.fixed_point.free_fixed_point import of_data
from actions.fixed_point.parametrisation import fit
from actions.lcnn import LCNNAction, load_checkpoint
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.io.weights import load_weights
from lqcd_hmc.plotting import pyplot, save_figure
from workflows.fixed_point.files import read_fp_datasets
from workflows.training import load_train_card, train
from workflows.training.card import TrainCard
from workflows.training.losses import evaluate, split

from .lcnn import RealFlops
from .lcnn_models import parse_architecture

# Wilson configurations below this beta are left out of the "smooth" held-out losses
SMOOTH_BETA = 6.0

# name: (channels, kernel sizes); the default model of the reference work is "12-24-24/2-2-1"
SIZES: dict[str, tuple[list[int], list[int]]] = {
    name: parse_architecture(name)
    for name in (
        "4-4/2-1",
        "8-8/2-1",
        "8-16/2-2",
        "8-16-16/2-2-1",
        "12-24-24/2-2-1",
        "16-32-32/2-2-1",
        "12-24-24-24/2-2-1-1",
    )
}


def size_dir(out: Path, name: str) -> Path:
    """The directory of one size in the scan's DIR (``12-24-24/2-2-1`` -> ``12-24-24_2-2-1``)."""
    return out / name.replace("/", "_")


def train_size(base: dict[str, Any], name: str, out: Path, epochs: int) -> dict[str, Any]:
    """Train (or continue) one size; its summary with the force's flops per site."""
    channels, kernels = SIZES[name]
    d = size_dir(out, name)
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
        "L1_best": summary["validation"]["L1"],
        "L2_best": summary["validation"]["L2"],
        "best_epoch": summary["best_epoch"],
        "epochs": summary["epochs"],
        "force_mflop_per_site": flops.total / f.volume / 1e6,
        "configurations_per_second": summary["configurations_per_second"],
    }


def _files(tc: TrainCard) -> list[str]:
    """The card's FP data files as a list (``data.file`` may name one)."""
    return [tc.data.file] if isinstance(tc.data.file, str) else list(tc.data.file)


def held_out(base: dict[str, Any], smooth: bool) -> tuple[GaugeField, Tensor, Tensor]:
    """The card's validation configurations with their A_FP and derivatives; ``smooth``: only
    those that are not Wilson beta < 6 (the rough ones dominate L2, see bench/RESULTS.md)."""
    tc = TrainCard.model_validate(base)
    data = read_fp_datasets(_files(tc))
    _, idx = split(data["fields"].batch, tc.data.validation, tc.data.seed)
    if smooth:
        idx = idx[~(data["beta"][idx] < SMOOTH_BETA)]  # NaN (not a Wilson ensemble) is kept
    fields = data["fields"]
    return (
        fields.with_links(fields.links[idx]),
        data["action"].double()[idx],
        data["derivative"].double()[idx],
    )


def smooth_losses(fn: Callable[[Tensor], Tensor], base: dict[str, Any]) -> dict[str, float]:
    """Held-out L1 and L2 without the Wilson beta < 6 configurations (NaN if none is left)."""
    val, A, dA = held_out(base, smooth=True)
    if val.batch == 0:
        return {"L1_smooth": math.nan, "L2_smooth": math.nan}
    m = evaluate(fn, val, A, dA, 4)
    return {"L1_smooth": m["L1"], "L2_smooth": m["L2"]}


def with_end_losses(row_file: Path, base: dict[str, Any]) -> dict[str, Any]:
    """A size's row with the held-out losses of the model at the end of its schedule (the
    training state's weights; the checkpoint holds the best epoch by the monitored loss),
    over all validation configurations and :func:`smooth_losses`; computed once and stored."""
    row = json.loads(row_file.read_text())
    if "L2_smooth" not in row:
        model, _ = load_checkpoint(row_file.parent / "model.pt")
        state = load_weights(row_file.parent / "model.pt.state", "training state", "cpu")
        model.load_state_dict(state["model"])
        last = state["history"][-1]
        row |= {"L1": last["val_L1"], "L2": last["val_L2"]} | smooth_losses(model, base)
        row_file.write_text(json.dumps(row, indent=1))
    return row


def checkpoint_row(label: str, path: str, base: dict[str, Any]) -> dict[str, Any]:
    """Held-out losses of another checkpoint (e.g. the shipped model, trained longer) on the
    card's split, all and :func:`smooth_losses`."""
    model, _ = load_checkpoint(path)
    val, A, dA = held_out(base, smooth=False)
    return {
        "name": label,
        "parameters": sum(p.numel() for p in model.parameters()),
        **evaluate(model, val, A, dA, 4),
        **smooth_losses(model, base),
    }


def fp_param_rows(base: dict[str, Any]) -> list[dict[str, Any]]:
    """``fp-param`` of orders 2 and 3 fitted on the card's training configurations (in the
    classically perfect form the trainer fits, unless the card turns it off), evaluated on its
    validation configurations (the split of :func:`workflows.training.losses.split`)."""
    tc = TrainCard.model_validate(base)
    data = read_fp_datasets(_files(tc))
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

        def fn(links: Tensor) -> Tensor:
            return p(val.with_links(links))

        m = evaluate(fn, val, A[val_idx], dA[val_idx], 4) | smooth_losses(fn, base)
        n = len(p.coefficients) + len(p.loops)
        rows.append({"name": f"fp-param order {order}", "parameters": n, **m})
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Held-out L1 and L2 against parameters, all configurations (filled) and without the
    Wilson beta < 6 ones (open); the fp-param fits as horizontal lines."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.4))
    net = [r for r in rows if "epochs" in r]
    fps = [r for r in rows if r["name"].startswith("fp-param")]
    extra = [r for r in rows if "epochs" not in r and not r["name"].startswith("fp-param")]
    n = [r["parameters"] for r in net]
    for ax, key, label in zip(axes, ("L1", "L2"), ("L1 (|A - A_FP| per site)", "L2 (derivatives)")):
        ax.plot(n, [r[key] for r in net], "o-", color="C0", label="L-CNN, all")
        ax.plot(
            n,
            [r[f"{key}_smooth"] for r in net],
            "o--",
            mfc="none",
            color="C0",
            label="L-CNN, no beta < 6",
        )
        for i, r in enumerate(fps):
            ax.axhline(r[key], ls="-", lw=1, color=f"C{i + 1}", label=f"{r['name']}, all")
            ax.axhline(
                r[f"{key}_smooth"],
                ls=":",
                lw=1,
                color=f"C{i + 1}",
                label=f"{r['name']}, no beta < 6",
            )
        for i, r in enumerate(extra):
            for k, mfc in ((key, None), (f"{key}_smooth", "none")):
                ax.plot(
                    r["parameters"],
                    r[k],
                    "*",
                    ms=11,
                    mfc=mfc,
                    color=f"C{i + 4}",
                    label=f"{r['name']}, {'all' if mfc is None else 'no beta < 6'}",
                )
        ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel=f"held-out {label}")
        ax.xaxis.set_minor_formatter(NullFormatter())  # a decade's 2..9 labels overlap
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle("L-CNN FP action, SU(3) coarse 4^4: held-out accuracy against size")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    save_figure(fig, path)


def table(rows: list[dict[str, Any]]) -> str:
    """The scan as a markdown table (``smooth``: without the Wilson beta < 6 configurations)."""
    lines = [
        "| model | parameters | held-out L1 | L2 | smooth L1 | smooth L2 | force Mflop/site "
        "| conf/s | epochs (best) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cost = f"{r['force_mflop_per_site']:.2f}" if "force_mflop_per_site" in r else ""
        speed = f"{r['configurations_per_second']:.2f}" if "epochs" in r else ""
        ep = f"{r['epochs']} ({r['best_epoch']})" if "epochs" in r else ""
        lines.append(
            f"| {r['name']} | {r['parameters']} | {r['L1']:.3e} | {r['L2']:.3e} | "
            f"{r['L1_smooth']:.3e} | {r['L2_smooth']:.3e} | {cost} | {speed} | {ep} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="*", help="FP data files (default: the card's data.file)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--card", default="examples/lcnn_train.toml")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--plot", default=None)
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=CHECKPOINT",
        help="evaluate another checkpoint on the same split (a row and a star in the plot)",
    )
    args = ap.parse_args()
    if any("=" not in a for a in args.also):
        ap.error("--also takes LABEL=CHECKPOINT")
    unknown = [n for n in args.sizes.split(",") if n not in SIZES]
    if unknown:
        ap.error(f"unknown sizes {unknown}; known: {', '.join(SIZES)}")
    torch.set_num_threads(1)
    base = tomllib.loads(Path(args.card).read_text())
    if args.data:
        files = [str(Path(f).resolve()) for f in args.data]
        base["data"] = {**base.get("data", {}), "file": files[0] if len(files) == 1 else files}
    out = Path(args.out)
    for name in args.sizes.split(","):
        row = size_dir(out, name) / "row.json"
        if not row.exists() or json.loads(row.read_text())["epochs"] < args.epochs:
            row.parent.mkdir(parents=True, exist_ok=True)
            row.write_text(json.dumps(train_size(base, name, out, args.epochs), indent=1))
    # the table holds every size trained into DIR so far (scans may run in parallel processes)
    rows = fp_param_rows(base) + [
        with_end_losses(f, base)
        for name in SIZES
        if (f := size_dir(out, name) / "row.json").exists()
    ]
    for label, path in (a.split("=", 1) for a in args.also):
        rows.append(checkpoint_row(label, path, base))
    (out / "scan.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))
    if args.plot:
        plot(rows, Path(args.plot))


if __name__ == "__main__":
    main()
