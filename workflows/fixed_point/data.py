"""FP training data: ``lqcd-hmc fp-data CARD``.

For every beta of the card, ``configurations`` independent coarse configurations (one per
chain of a batch, each thermalised from a hot start with the card's action and update) are
solved with :class:`~actions.fixed_point.minimise.FixedPoint`; A_FP, its derivatives and the
convergence figures are appended to one HDF5 file, one atomic commit per beta (copy, write,
fsync, rename), so a killed run resumes at the first missing beta and never damages the file.

File layout: ``links (n, D, *dims, N, N)``, ``action (n,)``, ``derivative (n, D, *dims,
n_gen)``, ``beta (n,)``, ``gradient (n,)`` (largest algebra derivative of the functional at
the minimum), ``iterations (n,)``, ``seconds (n,)``; root attributes ``format = "lqcd-hmc fp
data"``, ``card`` (the card as TOML), ``parameters`` (JSON of every FP parameter), ``group``,
``dims``, ``package_version``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import tomli_w
import torch
from pydantic import Field, PositiveInt

from actions.fixed_point.blocking import Blocking
from actions.fixed_point.minimise import FixedPoint
from lqcd_hmc import __version__
from lqcd_hmc.action import build
from lqcd_hmc.config import ActionCard, CardError, CardSection, GeometryCard, read_toml, validate
from lqcd_hmc.field import GaugeField, resolve_device, resolve_dtype
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.hmc import HMC
from lqcd_hmc.io.atomic import replacing
from lqcd_hmc.rng import ChainRNG

FORMAT = "lqcd-hmc fp data"


class Generate(CardSection):
    action: ActionCard = ActionCard(name="wilson")
    betas: list[float] = Field(min_length=1)
    configurations: PositiveInt = 4
    thermalisation: int = Field(100, ge=0)
    algorithm: Literal["heatbath", "hmc"] = "heatbath"
    overrelaxation: int = Field(2, ge=0)
    steps: PositiveInt = 10
    tau: float = Field(1.0, gt=0)


class FPSection(CardSection):
    c: float = Blocking.c
    kappa: float = Field(Blocking.kappa, gt=0)
    c_diagonal: float = Blocking.c_diagonal
    levels: PositiveInt = 1
    finest: ActionCard = ActionCard(name="symanzik", beta=1.0)
    tolerance: float = Field(1e-8, gt=0)
    max_iterations: PositiveInt = 5000


class Output(CardSection):
    file: str


class FPCard(CardSection):
    lattice: GeometryCard
    generate: Generate
    fixed_point: FPSection = FPSection()
    output: Output


def load_fp_card(path: str | Path) -> FPCard:
    card = validate(read_toml(path, "fp-data card"), str(path), FPCard)
    try:
        solver(card)
        build({**card.generate.action.model_dump(), "beta": card.generate.betas[0]})
    except ValueError as exc:
        raise CardError(f"{path}: {exc}") from None
    return card


def solver(card: FPCard) -> FixedPoint:
    fp = card.fixed_point
    return FixedPoint(
        Blocking(fp.c, fp.kappa, fp.c_diagonal),
        fp.levels,
        fp.finest.model_dump(),
        fp.tolerance,
        fp.max_iterations,
    )


def generate(card: FPCard, index: int) -> GaugeField:
    """The configurations of beta number ``index``: one per chain, thermalised from hot."""
    lat, gen = card.lattice, card.generate
    device = resolve_device(lat.device)
    action = build({**gen.action.model_dump(), "beta": gen.betas[index]})
    rng = ChainRNG(lat.seed * 1000 + index, gen.configurations, device)
    field = GaugeField.hot(lat.dims, lat.group, rng, resolve_dtype(lat.dtype))
    if gen.algorithm == "heatbath":
        hb = Heatbath(action, gen.overrelaxation)
        hb.prepare(lat.dims, device)
        for _ in range(gen.thermalisation):
            field, _ = hb.update(field, rng)
    else:
        hmc = HMC(action, n_steps=gen.steps, tau=gen.tau)
        for _ in range(gen.thermalisation):
            field, _ = hmc.trajectory(field, rng)
    return field


def _stored(path: Path) -> tuple[str, list[float]]:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise CardError(f"{path} is not an FP data file")
        betas = f["beta"][()].tolist() if "beta" in f else []
        return str(f.attrs["card"]), betas


def _commit(
    path: Path, card: FPCard, text: str, rows: dict[str, np.ndarray], parameters: dict
) -> None:
    exists = path.exists()
    with replacing(path, copy_existing=exists) as tmp:
        with h5py.File(tmp, "a") as f:
            if not exists:
                f.attrs.update(
                    {
                        "format": FORMAT,
                        "card": text,
                        "parameters": json.dumps(parameters),
                        "group": card.lattice.group,
                        "dims": card.lattice.dims,
                        "package_version": __version__,
                    }
                )
            for k, v in rows.items():
                if k in f:
                    ds = f[k]
                    n = ds.shape[0]
                    ds.resize(n + len(v), axis=0)
                    ds[n:] = v
                else:
                    f.create_dataset(
                        k, data=v, maxshape=(None, *v.shape[1:]), chunks=(1, *v.shape[1:])
                    )


def fp_data(
    card: FPCard, resume: bool = False, report: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Generate and solve every beta not yet on file; returns a summary."""
    path = Path(card.output.file)
    text = tomli_w.dumps(card.model_dump())
    done: list[float] = []
    if path.exists():
        if not resume:
            raise CardError(f"{path} exists already; pass --resume to continue it")
        stored, done = _stored(path)
        if stored != text:
            raise CardError(f"cannot resume {path}: the card differs from the one it was made with")
    fp = solver(card)
    summary: dict[str, Any] = {"file": str(path), "betas": []}
    for i, beta in enumerate(card.generate.betas):
        if beta in done:
            continue
        t0 = time.perf_counter()
        field = generate(card, i)
        res = fp(field)
        secs = (time.perf_counter() - t0) / field.batch
        n = field.batch
        rows = {
            "links": field.links.cpu().numpy(),
            "action": res.action.cpu().numpy(),
            "derivative": res.derivative.cpu().numpy(),
            "beta": np.full(n, beta),
            "gradient": res.gradient.cpu().numpy(),
            "iterations": np.full(n, res.iterations),
            "seconds": np.full(n, secs),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        _commit(path, card, text, rows, fp.config())
        entry = {
            "beta": beta,
            "configurations": n,
            "iterations": res.iterations,
            "max_gradient": float(res.gradient.max()),
            "converged": res.converged,
            "seconds_per_configuration": secs,
            "mean_action": float(res.action.mean()),
        }
        summary["betas"].append(entry)
        if report is not None:
            report(
                f"beta {beta}: {n} configurations, A_FP = {entry['mean_action']:.6g} "
                f"(mean), {res.iterations} iterations, max gradient "
                f"{entry['max_gradient']:.1e}, {secs:.1f} s per configuration"
            )
    return summary


def read_fp_data(path: str | Path) -> dict[str, Any]:
    """Everything in an FP data file, with ``fields`` as one GaugeField."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not an FP data file")
        out: dict[str, Any] = {k: torch.from_numpy(f[k][()]) for k in f}
        out["group"] = str(f.attrs["group"])
        out["parameters"] = json.loads(f.attrs["parameters"])
    out["fields"] = GaugeField(out.pop("links"), out["group"])
    return out
