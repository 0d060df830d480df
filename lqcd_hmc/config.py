"""Run cards: TOML files validated by pydantic (unknown keys are errors).

A card has the sections ``[lattice]``, ``[action]`` (``name`` plus the action's own parameters,
checked by building it), ``[update]``, ``[run]`` and a list ``[[measure]]``; see
``examples/*.toml`` and the README's card reference. :func:`load_card` reads a file, applies
``--set key=value`` overrides and validates; :func:`dump_card` writes the resolved card back as
TOML (stored in every ensemble file).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .groups import get_group
from .integrators import get_scheme
from .lattice import check_dims
from .update import update_classes


class CardError(ValueError):
    """An invalid run card; the message is one line naming the offending key."""


class CardSection(BaseModel):
    """A card section: unknown keys are errors (base of every card model, run cards and the
    cards of workflows alike)."""

    model_config = ConfigDict(extra="forbid")


class GeometryCard(CardSection):
    """Lattice, group, precision, device and seed (shared by run cards and FP-data cards)."""

    dims: list[PositiveInt]
    group: str = "SU(3)"
    dtype: Literal["complex128", "complex64"] = "complex128"
    device: str = "cpu"
    seed: int = Field(0, ge=0)

    @field_validator("dims")
    @classmethod
    def _dims(cls, v: list[int]) -> list[int]:
        return list(check_dims(v))

    @field_validator("group")
    @classmethod
    def _group(cls, v: str) -> str:
        return get_group(v).name


class StartFile(CardSection):
    """A start from a stored configuration (:mod:`lqcd_hmc.run.start`): an lqcd-hmc ensemble
    ``file`` and the ``trajectory`` of the configuration (default: the last one stored)."""

    file: str
    trajectory: int | None = Field(None, ge=0)


class LatticeCard(GeometryCard):
    batch: PositiveInt = 1
    start: Literal["cold", "hot"] | StartFile = "cold"

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        """One error that names the problem (a union's error lists every member's)."""
        if isinstance(v, dict):
            try:
                return StartFile.model_validate(v)
            except ValidationError as exc:
                e = exc.errors()[0]
                raise ValueError(f"{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
        if v not in ("cold", "hot") and not isinstance(v, StartFile):
            raise ValueError(
                f'must be "cold", "hot" or {{ file = ..., trajectory = ... }}, got {v!r}'
            )
        return v


class ActionCard(BaseModel):
    """``name`` and the action's parameters, passed to its constructor."""

    model_config = ConfigDict(extra="allow")
    name: str


class LevelCard(CardSection):
    """One time scale of a multiple-time-scale HMC (``[[update.levels]]``, outermost first):
    its integrator scheme and its steps per link step of the level above (per trajectory for
    the outermost)."""

    integrator: str = "omelyan2"
    steps: PositiveInt

    @field_validator("integrator")
    @classmethod
    def _integrator(cls, v: str) -> str:
        get_scheme(v)
        return v


class UpdateCard(CardSection):
    """``algorithm``: a registered update (:mod:`lqcd_hmc.update`), or names joined by ``+``:
    ``hmc``; ``heatbath`` (one heatbath sweep + ``overrelaxation`` sweeps per update);
    ``hmc+heatbath`` (an HMC trajectory, then a heatbath update). The other keys are the
    updates' parameters; a key that no update of ``algorithm`` takes is an error. HMC on
    several time scales: ``levels``, one table per term of the action's
    :meth:`~lqcd_hmc.action.Action.time_scales`, in place of ``integrator`` and ``steps``."""

    model_config = ConfigDict(extra="allow")
    #: the keys of a single time scale, which ``levels`` replaces
    SINGLE_SCALE: ClassVar[tuple[str, ...]] = ("integrator", "steps")
    algorithm: str = "hmc"
    integrator: str = "omelyan2"
    steps: PositiveInt = 10
    tau: float = Field(1.0, gt=0)
    overrelaxation: int = Field(4, ge=0)
    reunitarize: bool = True
    kernels: Literal["reference", "split", "compiled"] = "reference"
    levels: list[LevelCard] | None = None

    @property
    def names(self) -> list[str]:
        """The registered names of ``algorithm``, in order."""
        return [n.strip() for n in self.algorithm.split("+")]

    @property
    def uses_hmc(self) -> bool:
        return "hmc" in self.names

    @property
    def md_levels(self) -> list[tuple[str, int]]:
        """``(integrator, steps)`` of each time scale of HMC, outermost first."""
        if self.levels:
            return [(lv.integrator, lv.steps) for lv in self.levels]
        return [(self.integrator, self.steps)]

    def describe_md(self) -> str:
        """``"omelyan2 x 10"``, levels outermost first: ``"omelyan2 x 3 / omelyan2 x 2"``."""
        return " / ".join(f"{name} x {n}" for name, n in self.md_levels)

    @field_validator("integrator")
    @classmethod
    def _integrator(cls, v: str) -> str:
        get_scheme(v)
        return v

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, v: str) -> str:
        update_classes(v)
        return v

    @model_validator(mode="after")
    def _known(self) -> UpdateCard:
        taken = {k for c in update_classes(self.algorithm) for k in c.config_keys}
        extra = sorted(set(self.model_extra or {}) - taken)
        if extra:
            raise ValueError(f"{extra[0]!r} is not a parameter of algorithm {self.algorithm!r}")
        if self.levels is not None:
            if not self.uses_hmc:
                raise ValueError(f"levels is not a parameter of algorithm {self.algorithm!r}")
            if not self.levels:
                raise ValueError("update.levels needs at least one level")
            both = sorted(set(self.SINGLE_SCALE) & self.model_fields_set)
            if both:
                raise ValueError(f"update.{both[0]} goes in update.levels when levels are given")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """With ``levels``, the table has no single ``integrator`` and ``steps``."""
        out = handler(self)
        if self.levels is not None:
            for key in self.SINGLE_SCALE:
                out.pop(key, None)
        return out

    def config(self) -> dict[str, Any]:
        """The table the updates are built from (:func:`lqcd_hmc.update.build`)."""
        return self.model_dump()


class RunSection(CardSection):
    thermalisation: int = Field(0, ge=0)
    thermalisation_md: int = Field(
        0, ge=0, description="leading thermalisation trajectories without Metropolis test"
    )
    trajectories: PositiveInt
    save_interval: PositiveInt = 10
    checkpoint_interval: PositiveInt = 10
    output: str

    @model_validator(mode="after")
    def _md(self) -> RunSection:
        if self.thermalisation_md > self.thermalisation:
            raise ValueError("thermalisation_md cannot exceed thermalisation")
        return self


class MeasureCard(BaseModel):
    """``name``, ``interval``, ``table`` (where the results are stored,
    ``measurements/<table>``; default the name, so one measurement can be taken twice with
    other parameters, e.g. two gradient flows) and the measurement's parameters."""

    model_config = ConfigDict(extra="allow")
    name: str
    interval: PositiveInt = 1
    table: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")

    @property
    def key(self) -> str:
        return self.table or self.name


def unique_tables(measure: Sequence[MeasureCard]) -> None:
    """Two measurements stored in one table are an error."""
    keys = [m.key for m in measure]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(
            f'measurement table {dup[0]!r} appears twice (give one of them table = "...")'
        )


class ParallelCard(CardSection):
    """``replicas`` independent ensembles (replica r: seed + r, file ``<stem>.replica<r>.h5``)
    and the process ``grid`` that cuts each replica's lattice (one entry per axis; default no
    cut); needs ``replicas * prod(grid)`` processes (torchrun)."""

    replicas: PositiveInt = 1
    grid: list[PositiveInt] | None = None


class Card(CardSection):
    lattice: LatticeCard
    action: ActionCard
    update: UpdateCard = UpdateCard()
    run: RunSection
    measure: list[MeasureCard] = []
    parallel: ParallelCard = ParallelCard()

    @field_validator("update", mode="before")
    @classmethod
    def _update_shorthand(cls, v: Any) -> Any:
        return {"algorithm": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _md_needs_an_accept_step(self) -> Card:
        classes = update_classes(self.update.algorithm)
        if self.run.thermalisation_md and not any(c.accept_step for c in classes):
            raise ValueError(
                f"run.thermalisation_md applies to HMC and other updates with an accept/reject "
                f"step; {self.update.algorithm!r} has none"
            )
        return self

    @model_validator(mode="after")
    def _unique_measurements(self) -> Card:
        unique_tables(self.measure)
        return self

    def action_config(self) -> dict[str, Any]:
        return self.action.model_dump()

    def measure_configs(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.measure]

    def to_dict(self) -> dict[str, Any]:
        """Plain data; unset optional keys left out (TOML has no null)."""
        return self.model_dump(exclude_none=True)


#: a card key and the keys of its section that it replaces (``--set`` removes them)
REPLACED: dict[str, tuple[str, ...]] = {"update.levels": UpdateCard.SINGLE_SCALE}


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if k.isdigit() and isinstance(node, list):
            node = node[int(k)]
            continue
        node = node.setdefault(k, {})
        if not isinstance(node, (dict, list)):
            raise CardError(f"--set {dotted}: {k!r} is not a section")
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        for key in REPLACED.get(dotted, ()):  # --set cannot delete the keys it replaces
            node.pop(key, None)
        node[last] = value


def parse_override(item: str) -> tuple[str, Any]:
    """``key.path=value`` with a TOML value (``8``, ``[8,8]``, ``"hot"``; a bare word is a
    string)."""
    if "=" not in item:
        raise CardError(f"--set {item!r}: expected key=value")
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _where(err: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"]) or "card"


def _non_finite_key(tree: Any, where: str = "") -> str | None:
    """The dotted key of the first NaN or infinite number in a parsed card (TOML has ``nan``
    and ``inf``), None when there is none."""
    if isinstance(tree, Mapping):
        items: Any = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return where if isinstance(tree, float) and not math.isfinite(tree) else None
    for k, v in items:
        found = _non_finite_key(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def validate(tree: Mapping[str, Any], source: str = "card", model: type[BaseModel] = Card) -> Any:
    """Validate a parsed card against ``model``; the first problem becomes a one-line
    :class:`CardError` naming its key. No number of a card may be NaN or infinite."""
    bad = _non_finite_key(tree)
    if bad:
        raise CardError(f"{source}: {bad}: must be a finite number")
    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        e = exc.errors()[0]
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise CardError(f"{source}: {_where(e)}: {msg}{more}") from None


def read_toml(path: str | Path, kind: str = "run card") -> dict[str, Any]:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CardError(f"{path}: no such {kind}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{path}: not valid TOML: {exc}") from None


def load_card(path: str | Path, overrides: Sequence[str] = ()) -> Card:
    """Read, override and validate a run card."""
    tree = read_toml(path)
    for item in overrides:
        _set(tree, *parse_override(item))
    return validate(tree, str(path))


def dump_card(card: Card) -> str:
    """The resolved card as TOML text."""
    return tomli_w.dumps(card.to_dict())
