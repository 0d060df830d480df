"""Properties of a learned FP action against the exact one: locality and hypercubic symmetry.

    python -m bench.fp_properties (--model NAME | --checkpoint FILE) --data DATA.h5
                                  [--configurations 4] [--exact-items 40] [--plot locality.png]
                                  [--symmetrise identity,reflections,full] [--hmc-beta B]

- **Locality.** The response of the force to a change of one link: the link ``U_0(0)`` moves by
  ``exp(+-h X)`` along a generator, and ``R(x, nu) = |F_nu(x; +h) - F_nu(x; -h)| / 2h`` (norm
  over generators) is taken against the distance r between the link midpoints (periodic,
  minimal image), its largest value at each r normalised by the link's own response. For the
  model the forces are autograd's; for the exact FP action they are the derivatives
  ``dA_FP/dw_a`` of re-solved FP equations (tolerance 1e-10, warm-started at the unperturbed
  minimum), on the data's coarse lattice, for the items named by ``--exact-items`` (a rough
  beta = 5 configuration takes the minimiser 20 minutes and more; beta = 6 about one), with
  the model's profile on the same items beside it. The decay length is ``-1/slope`` of
  ``ln R`` against r over r >= 1.
- **Symmetry.** The largest relative change of A under the hypercubic group (reflections and
  axis permutations, :mod:`lqcd_hmc.symmetry`) on held-out configurations, plain and with
  ``symmetrise = "reflections"`` and ``"full"``, with the cost of each evaluation.
- **Classical perfection.** Small plane waves against the free FP action of the data's kernel
  and constant flux against the continuum (the rows of :mod:`bench.classical_perfection`), for
  the model and Wilson.
- **HMC** (``--hmc-beta``): ``S = beta A`` on 4^4 and 8^4 (a data configuration, tiled twice
  for 8^4), Omelyan with ``--steps`` steps per unit trajectory, a few trajectories without
  Metropolis to equilibrate, then ``--trajectories``: acceptance, mean and largest |dH|,
  <exp(-dH)>, reversibility (forward, momenta flipped, forward: largest link change) and seconds
  per trajectory against Wilson HMC with the same integrator on the same lattice.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from actions import Wilson
from actions.fixed_point.blocking import Blocking
from actions.fixed_point.free_fixed_point import free_fixed_point
from actions.fixed_point.minimise import FixedPoint
from actions.lcnn import LCNNAction
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.plotting import pyplot, save_figure
from lqcd_hmc.symmetry import elements, transform
from workflows.fixed_point.files import read_fp_data

from .classical_perfection import MODES, row


def midpoint_distances(dims: list[int], mu0: int = 0) -> Tensor:
    """Periodic distance between the midpoint of link ``(x, nu)`` and that of ``(0, mu0)``,
    shape ``(D, *dims)``."""
    D = len(dims)
    x = torch.stack(
        torch.meshgrid(*(torch.arange(L, dtype=torch.float64) for L in dims), indexing="ij")
    )  # (D, *dims)
    size = torch.tensor(dims, dtype=torch.float64).view(D, *[1] * D)
    out = []
    for nu in range(D):
        shift = torch.tensor(
            [0.5 * (a == nu) - 0.5 * (a == mu0) for a in range(D)], dtype=torch.float64
        ).view(D, *[1] * D)
        d = torch.remainder(x + shift + size / 2, size) - size / 2  # minimal image
        out.append(d.pow(2).sum(0).sqrt())
    return torch.stack(out)


def response(
    force: Callable[[GaugeField], Tensor], field: GaugeField, h: float = 1e-3, a: int = 0
) -> Tensor:
    """``R(x, nu)`` of the module docstring for the link ``U_0(0)`` and generator a; ``force``
    returns ``(1, D, *dims, n_gen)`` algebra coordinates."""
    w = torch.zeros(*field.links.shape[:-2], field.group.n_generators, dtype=torch.float64)
    w[(0, 0) + (0,) * field.D + (a,)] = 1.0
    X = field.group.from_coords(w, field.links.dtype)
    Fp, Fm = (force(field.with_links(field.group.exp(s * h * X) @ field.links)) for s in (1, -1))
    return ((Fp - Fm) / (2 * h)).norm(dim=-1)[0]


def profile(R: Tensor, dist: Tensor) -> tuple[list[tuple[float, float]], float]:
    """``(r, max R at r / R(0))`` and the decay length from r >= 1."""
    r0 = R[dist == 0].max()
    rows = [(float(r), float(R[(dist - r).abs() < 1e-9].max() / r0)) for r in torch.unique(dist)]
    fit = [(r, v) for r, v in rows if r >= 1 and v > 0]
    rs = torch.tensor([r for r, _ in fit], dtype=torch.float64)
    lv = torch.log(torch.tensor([v for _, v in fit], dtype=torch.float64))
    slope = ((rs - rs.mean()) * (lv - lv.mean())).sum() / ((rs - rs.mean()) ** 2).sum()
    return rows, float(-1 / slope)


def model_force(act: LCNNAction) -> Callable[[GaugeField], Tensor]:
    return lambda f: f.group.to_coords(act.force(f))


def exact_force(params: dict, V: GaugeField) -> Callable[[GaugeField], Tensor]:
    """``dA_FP/dw_a`` of the data's FP parameters, re-solved from the minimum at V."""
    fp = FixedPoint(
        Blocking(params["c"], params["kappa"], params["c_diagonal"]),
        params["levels"],
        params["finest"],
        tolerance=1e-10,
    )
    start = fp(V).fine
    return lambda f: fp(f, start=start).derivative


def symmetry_rows(
    model: LCNNAction, fields: GaugeField, subgroups: list[str]
) -> list[tuple[str, float, float]]:
    """(evaluation, largest relative change of A over the full group, seconds per A) for each
    symmetrisation in ``subgroups``."""
    rows = []
    for sub in subgroups:
        act = LCNNAction(1.0, model=model.model, symmetrise=sub)
        t = time.perf_counter()
        S = act(fields)
        secs = (time.perf_counter() - t) / fields.batch
        worst = max(
            float(((act(fields.with_links(transform(fields.links, g))) - S) / S).abs().max())
            for g in elements(fields.dims)[1::23]  # 17 elements spread over the group
        )
        rows.append((sub, worst, secs))
    return rows


def perfection_rows(act: LCNNAction, params: dict, group: str) -> list[str]:
    """Plane waves and flux (:func:`bench.classical_perfection.row`) for Wilson and the model,
    against the free FP action of the data's kernel (L = 9 box; one blocking level)."""
    if params["levels"] != 1:
        raise ValueError(f"the free FP action is of one level; the data have {params['levels']}")
    free = free_fixed_point(params["c"], params["kappa"], params["c_diagonal"], L=9, tolerance=1e-9)
    model = LCNNAction(1.0, model=act.model)
    return [row("Wilson", Wilson(1.0), free, group), row("model", model, free, group)]


def hmc_rows(
    act: LCNNAction, beta: float, start: GaugeField, steps: int, trajectories: int
) -> list[str]:
    """The HMC table rows of the module docstring, one per lattice size."""
    rows = []
    for tile in (1, 2):
        f = start.with_links(_tile(start.links, tile))
        model = LCNNAction(beta, model=act.model)
        hmc = HMC(model, integrator="omelyan2", n_steps=steps, tau=1.0)
        rng = ChainRNG(7, f.batch)
        for _ in range(3):
            f, _ = hmc.trajectory(f, rng, metropolis=False)
        dH, acc, secs = [], [], 0.0
        for _ in range(trajectories):
            f, st = hmc.trajectory(f, rng)
            dH.append(st.dH)
            acc.append(st.accepted.double())
            secs += st.seconds
        P = hmc.momenta(f, rng)
        g, P1 = hmc.molecular_dynamics(f, P)
        back, _ = hmc.molecular_dynamics(g, -P1)
        rev = float((back.links - f.links).abs().max())
        wilson = HMC(Wilson(6.0), integrator="omelyan2", n_steps=steps, tau=1.0)
        _, ws = wilson.trajectory(f, rng)
        d = torch.cat(dH)
        rows.append(
            f"| {f.dims[0]}^4 | {float(torch.cat(acc).mean()):.2f} | {float(d.abs().mean()):.3f} | "
            f"{float(d.abs().max()):.3f} | {float(torch.exp(-d).mean()):.3f} | {rev:.1e} | "
            f"{secs / trajectories:.2f} | {secs / trajectories / ws.seconds:.0f} |"
        )
    return rows


def _tile(links: Tensor, n: int) -> Tensor:
    """A configuration repeated n times along every axis (periodic, so still a solution of
    the same lattice problem on the larger lattice)."""
    D = links.shape[1]
    return links.repeat(1, 1, *[n] * D, 1, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model")
    src.add_argument("--checkpoint")
    ap.add_argument("--data", required=True)
    ap.add_argument("--configurations", type=int, default=4)
    ap.add_argument(
        "--exact-items",
        default="",
        help="data items (e.g. 40) for the exact FP profile, model beside it on the same ones",
    )
    ap.add_argument("--plot")
    ap.add_argument(
        "--symmetrise",
        default="identity,reflections,full",
        help="evaluations of the symmetry table (full: 384 evaluations per A)",
    )
    ap.add_argument("--hmc-beta", type=float, help="run the HMC check at this beta")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--trajectories", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    act = LCNNAction(1.0, checkpoint=args.checkpoint, model=args.model)
    data = read_fp_data(args.data)
    fields: GaugeField = data["fields"]
    n = min(args.configurations, fields.batch)
    idx = torch.linspace(0, fields.batch - 1, n).long()  # spread over the data's items
    dist = midpoint_distances(list(fields.dims))
    try:
        exact_idx = [int(i) for i in args.exact_items.split(",") if i]
    except ValueError:
        ap.error(f"--exact-items takes data item numbers, got {args.exact_items!r}")
    if any(not 0 <= i < fields.batch for i in exact_idx):
        ap.error(f"--exact-items: the data hold items 0 to {fields.batch - 1}")
    curves = {}
    # (label, data items, force; None: the exact FP re-solved on each item)
    Force = Callable[[GaugeField], Tensor]
    spread = ",".join(map(str, idx.tolist()))
    runs: list[tuple[str, list[int], Force | None]] = [
        (f"model (items {spread})", idx.tolist(), model_force(act))
    ]
    if exact_idx:
        named = ",".join(map(str, exact_idx))
        runs += [(f"exact FP (items {named})", exact_idx, None)]
        runs += [(f"model (items {named})", exact_idx, model_force(act))]
    for kind, items, fixed in runs:
        worst: dict[float, float] = {}
        lengths = []
        for i in items:
            V = fields.with_links(fields.links[i : i + 1])
            t0 = time.perf_counter()
            force = fixed if fixed is not None else exact_force(data["parameters"], V)
            rows, xi = profile(response(force, V), dist)
            lengths.append(xi)
            for r, v in rows:
                worst[r] = max(worst.get(r, 0.0), v)
            print(
                f"{kind}, item {i} ({data['source'][i]}): decay length {xi:.2f}, "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        curves[kind] = sorted(worst.items())
        print(f"{kind}: decay length {min(lengths):.2f}-{max(lengths):.2f} (lattice units)")
    print("\n| r | " + " | ".join(curves) + " |")
    print("|---" * (len(curves) + 1) + "|")
    for r, _ in next(iter(curves.values())):
        print(
            f"| {r:.3f} | "
            + " | ".join(f"{dict(c).get(r, float('nan')):.2e}" for c in curves.values())
            + " |"
        )
    print(
        "\n| evaluation | largest relative change of A | seconds per configuration |\n|---|---|---|"
    )
    subs = args.symmetrise.split(",")
    for sub, worst_change, secs in symmetry_rows(act, fields.with_links(fields.links[idx]), subs):
        print(f"| {sub} | {worst_change:.1e} | {secs:.3f} |")
    waves = " | ".join(f"ka = {m}pi/8" for m in MODES)
    print(f"\n| group | action | plane wave {waves} | flux n = 1 | flux n = 2 |")
    print("|---|---|" + "---|" * (len(MODES) + 2))
    for line in perfection_rows(act, data["parameters"], data["group"]):
        print(line, flush=True)
    if args.hmc_beta is not None:
        print(
            f"\nHMC, S = {args.hmc_beta:g} A, Omelyan {args.steps} steps, tau = 1, "
            f"{args.trajectories} trajectories after 3 without Metropolis"
        )
        print(
            "| lattice | acceptance | <abs(dH)> | max abs(dH) | <exp(-dH)> | reversibility | "
            "s/trajectory | / Wilson |\n" + "|---" * 8 + "|"
        )
        start = fields.with_links(fields.links[idx[-1:]])
        for row in hmc_rows(act, args.hmc_beta, start, args.steps, args.trajectories):
            print(row)
    if args.plot:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for kind, c in curves.items():
            ax.semilogy([r for r, _ in c], [v for _, v in c], "o-", label=kind)
        ax.set(
            xlabel="distance r between link midpoints [a]",
            ylabel="max response / R(0)",
            title="Locality: force response to one link",
        )
        ax.legend()
        save_figure(fig, Path(args.plot))


if __name__ == "__main__":
    main()
