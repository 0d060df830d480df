"""FP training data: ``lqcd-hmc fp-data CARD``.

The card lists items, solved in this order:

- every beta of ``betas``: ``configurations`` independent coarse configurations (one per chain
  of a batch, each thermalised from a hot start with the card's action and update);
- every ``eps`` of ``small``: one small-amplitude field ``exp(i eps w_a T_a)``, ``w_a ~ N(0, 1)``
  per link (:meth:`lqcd_hmc.field.GaugeField.near_identity`);
- every entry of ``smooth.stout_steps``: one configuration thermalised at ``smooth.beta``, then
  smoothed by that many stout steps (rho = 0.1, about Wilson-flow time 0.1 per step).

Each item is solved with :class:`~actions.fixed_point.minimise.FixedPoint`; A_FP, its derivatives
and the convergence figures are appended to one HDF5 file, one atomic commit per item (copy,
write, fsync, rename), so a killed run resumes at the first missing item and never damages the
file.

File layout: ``links (n, D, *dims, N, N)``, ``action (n,)``, ``derivative (n, D, *dims,
n_gen)``, ``beta (n,)`` (NaN for small-amplitude fields), ``item (n,)`` (the item's number),
``source (n,)`` (e.g. ``"wilson beta=6"``, ``"small eps=0.1"``, ``"stout beta=6 steps=10"``),
``gradient (n,)`` (largest algebra derivative of the functional at the minimum),
``iterations (n,)``, ``seconds (n,)``; root attributes ``format = "lqcd-hmc fp data"``,
``card`` (the card as TOML), ``parameters`` (JSON of every FP parameter), ``group``, ``dims``,
``package_version``. Files written before ``item`` existed resume by their betas.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import h5py
import numpy as np
import tomli_w
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
from lqcd_hmc.smearing import stout

from .files import FORMAT


class Smooth(CardSection):
    beta: float = Field(gt=0)
    stout_steps: list[PositiveInt] = Field(min_length=1)


class Generate(CardSection):
    action: ActionCard = ActionCard(name="wilson")
    betas: list[float] = Field(min_length=1)
    small: list[Annotated[float, Field(gt=0)]] = []
    smooth: Smooth | None = None
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
    kernels: Literal["reference", "split", "compiled"] = "reference"


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
        kernels=fp.kernels,
    )


class Item(NamedTuple):
    """One item of a card: ``kind`` (``wilson``, ``small``, ``stout``), the beta of its
    ensemble (NaN for small-amplitude fields) and its parameter (beta, eps or stout steps)."""

    kind: str
    beta: float
    parameter: float

    @property
    def source(self) -> str:
        """The label stored with the item's rows, e.g. ``"stout beta=6 steps=10"``."""
        if self.kind == "wilson":
            return f"wilson beta={self.beta:g}"
        if self.kind == "small":
            return f"small eps={self.parameter:g}"
        return f"stout beta={self.beta:g} steps={int(self.parameter)}"


def items(card: FPCard) -> list[Item]:
    """The card's items in order (module docstring)."""
    gen = card.generate
    out = [Item("wilson", b, b) for b in gen.betas]
    out += [Item("small", math.nan, e) for e in gen.small]
    if gen.smooth is not None:
        out += [Item("stout", gen.smooth.beta, n) for n in gen.smooth.stout_steps]
    return out


def thermalised(card: FPCard, beta: float, seed: int, chains: int) -> GaugeField:
    """``chains`` configurations of the card's action at ``beta``, each thermalised from hot."""
    lat, gen = card.lattice, card.generate
    device = resolve_device(lat.device)
    action = build({**gen.action.model_dump(), "beta": beta})
    rng = ChainRNG(seed, chains, device)
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


def generate(card: FPCard, index: int) -> GaugeField:
    """The configurations of item number ``index`` (seeded by the lattice seed and the index)."""
    lat = card.lattice
    item = items(card)[index]
    seed = lat.seed * 1000 + index
    if item.kind == "wilson":
        return thermalised(card, item.beta, seed, card.generate.configurations)
    if item.kind == "small":
        rng = ChainRNG(seed, 1, resolve_device(lat.device))
        return GaugeField.near_identity(
            lat.dims, lat.group, rng, item.parameter, resolve_dtype(lat.dtype)
        )
    return stout(thermalised(card, item.beta, seed, 1), rho=0.1, steps=int(item.parameter))


def _stored(path: Path, card: FPCard) -> tuple[str, set[int]]:
    """The card a file was made with and the items it holds."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise CardError(f"{path} is not an FP data file")
        if "item" in f:
            done = set(f["item"][()].tolist())
        else:  # written before items: Wilson betas only
            betas = set(f["beta"][()].tolist()) if "beta" in f else set()
            done = {i for i, b in enumerate(card.generate.betas) if b in betas}
        return str(f.attrs["card"]), done


def _commit(
    path: Path,
    card: FPCard,
    text: str,
    rows: dict[str, np.ndarray],
    parameters: dict,
    rewrite: bool = False,
) -> None:
    """Append ``rows`` to ``path`` in one atomic step (or, with ``rewrite``, replace it)."""
    exists = path.exists() and not rewrite
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
                        k,
                        data=v,
                        maxshape=(None, *v.shape[1:]),
                        chunks=(1, *v.shape[1:]),
                        compression="gzip",
                        shuffle=True,
                    )


def card_text(card: FPCard) -> str:
    """The card as stored in a data file's ``card`` attribute (TOML)."""
    return tomli_w.dumps(card.model_dump(exclude_none=True))


def _check_card(path: Path, card: FPCard, doing: str) -> set[int]:
    """The items in ``path``, after checking it was made with ``card``."""
    stored, done = _stored(path, card)
    made = FPCard.model_validate(tomllib.loads(stored))
    # the kernels change no FP value beyond the gradient tolerance: a file continues with others
    kernels = made.fixed_point.model_copy(update={"kernels": card.fixed_point.kernels})
    if made.model_copy(update={"fixed_point": kernels}) != card:
        raise CardError(f"cannot {doing} {path}: the card differs from the one it was made with")
    return done


def item_range(text: str, n: int) -> range:
    """``"A:B"`` (item numbers A to B-1, either end may be omitted) as a range within ``n``."""
    start, sep, stop = text.partition(":")
    try:
        r = range(int(start or 0), int(stop) if stop else n) if sep else None
    except ValueError:
        r = None
    if r is None or not 0 <= r.start < r.stop <= n:
        raise CardError(
            f"--items must be A:B with 0 <= A < B <= {n} (the card's items), got {text}"
        )
    return r


def fp_data(
    card: FPCard,
    resume: bool = False,
    report: Callable[[str], None] | None = None,
    only: range | None = None,
    output: str | Path | None = None,
) -> dict[str, Any]:
    """Generate and solve every item (of ``only``, if given) not yet in ``output`` (default
    the card's ``output.file``); returns a summary."""
    path = Path(output if output is not None else card.output.file)
    text = card_text(card)
    done: set[int] = set()
    if path.exists():
        if not resume:
            raise CardError(f"{path} exists already; pass --resume to continue it")
        done = _check_card(path, card, "resume")
    fp = solver(card)
    summary: dict[str, Any] = {"file": str(path), "items": []}
    for i, item in enumerate(items(card)):
        if i in done or (only is not None and i not in only):
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
            "beta": np.full(n, item.beta),
            "item": np.full(n, i),
            "source": np.array([item.source] * n, dtype=h5py.string_dtype()),
            "gradient": res.gradient.cpu().numpy(),
            "iterations": res.iterations.cpu().numpy(),
            "seconds": np.full(n, secs),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        _commit(path, card, text, rows, fp.config())
        entry = {
            "source": item.source,
            "configurations": n,
            "iterations": int(res.iterations.max()),
            "max_gradient": float(res.gradient.max()),
            "converged": res.converged,
            "seconds_per_configuration": secs,
            "mean_action": float(res.action.mean()),
        }
        summary["items"].append(entry)
        if report is not None:
            report(
                f"{item.source}: {n} configurations, A_FP = {entry['mean_action']:.6g} "
                f"(mean), {entry['iterations']} iterations (most), max gradient "
                f"{entry['max_gradient']:.1e}, {secs:.1f} s per configuration"
            )
    return summary


ROWS = (
    "links",
    "action",
    "derivative",
    "beta",
    "item",
    "source",
    "gradient",
    "iterations",
    "seconds",
)


def merge_fp_data(card: FPCard, parts: list[str | Path]) -> dict[str, Any]:
    """Rewrite the card's ``output.file`` with its rows and those of ``parts`` (files of the
    same card, e.g. written with ``--items``), sorted by item; an item found twice must hold
    the same action to 1e-10 and is kept once. Every file is checked before anything is
    written, and the rewrite is one atomic step."""
    if not parts:
        raise CardError("--merge needs at least one file")
    path = Path(card.output.file)
    sources = ([path] if path.exists() else []) + [Path(p) for p in parts]
    blocks: dict[int, dict[str, np.ndarray]] = {}
    for src in sources:
        if not src.exists():
            raise CardError(f"{src}: no such file")
        _check_card(src, card, "merge")
        with h5py.File(src, "r") as f:
            if "item" not in f:
                raise CardError(f"{src} has no item numbers (written before them); cannot merge")
            data = {k: f[k][()] for k in ROWS}
        for i in np.unique(data["item"]).tolist():
            block = {k: v[data["item"] == i] for k, v in data.items()}
            if i not in blocks:
                blocks[i] = block
            elif blocks[i]["action"].shape != block["action"].shape or not np.allclose(
                blocks[i]["action"], block["action"], rtol=1e-10, atol=0
            ):
                raise CardError(f"{src}: item {i} differs from the same item in another file")
    order = sorted(blocks)
    merged = {k: np.concatenate([blocks[i][k] for i in order]) for k in ROWS}
    with h5py.File(sources[0], "r") as f:
        parameters = json.loads(f.attrs["parameters"])
    text = card_text(card)
    merged["source"] = merged["source"].astype(h5py.string_dtype())
    _commit(path, card, text, merged, parameters, rewrite=True)
    missing = [i for i in range(len(items(card))) if i not in blocks]
    return {"file": str(path), "items": len(order), "missing": missing}
