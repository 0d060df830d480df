"""Study cards for ``lqcd-hmc compare`` (TOML, validated by pydantic; unknown keys are errors).

``[study]`` (output directory, ``records`` = a directory for the records of its ensembles
(:mod:`workflows.study.records`: their measurements without configurations, to commit),
lattice per spacing, ``flow_t_max`` = the gradient flow's
``t_max`` per spacing (a finer lattice needs a longer flow in lattice units: ``t0/a^2`` grows
as ``1/a^2``), ``flow = "action"`` to flow every ensemble with its own action instead of the
card's flow, ``wilson_flow = true`` to flow it with the Wilson action as well, into
``measurements/gradient_flow_wilson``, ``action_energy = true`` to measure with the own flow
also the action's own energy density ``E_action`` (classically perfect with a fixed-point
action: :class:`observables.measurements.GradientFlow`) and report the ratios from it as a third
column, or ``action_energy = "stored"`` to take that column from the stored configurations
flowed again after the run (:mod:`workflows.study.stored_energy`: ensembles that did not
measure it), ``continuum`` = the labels of the actions whose
points give the common continuum estimate of every ratio, ``literature`` = known continuum
values ``{ratio = [value, error]}``, analysis options), optional ``[match]``
(tune every action to common ``t0/a^2`` or ``r0/a`` targets, one per spacing), optional
``[classical]`` (plane-wave and constant-flux artifacts), and the run-card sections shared by
every ensemble: ``[lattice]``, ``[update]``, ``[run]`` (no ``output``: the study names the
files), ``[[measure]]``; then one ``[[action]]`` table per action with ``name``, an optional
``label``, an optional ``spacings`` (the indices, from 0, of the spacings it runs at, default
all: expensive actions at the coarse spacings alone, the continuum anchors at every one),
``betas`` (one per spacing it runs at; with ``[match]`` the first guesses), optional
``starts = { spacing = "Wilson" }`` (the label of an earlier action of the card, whose ensemble
at that spacing, or a stored ensemble file, gives the last configuration that starts the
chains there instead of ``lattice.start``: an expensive action from the thermalised fields of a
cheaper one at the same spacing, :mod:`lqcd_hmc.run.start`), optional
``skip = { spacing = n }`` (production trajectories left out of the analysis of that
spacing's ensemble, where its long-distance observables were still drifting), an optional
``step`` (the tuning step in beta, default ``match.step``; a list gives one per spacing it
runs at, like ``betas``), optional ``lattice`` (not ``dims``),
``update`` and ``run`` tables overriding the shared ones key by key (e.g. HMC with
``run.thermalisation_md`` for an action without staples among heatbath ones, or
``lattice.dtype = "complex64"`` for an expensive one), an optional ``flow`` table merged into
its own flow's measurement (``epsilon``, ``adaptive``, ``tolerance``: the flows of Iwasaki and
DBW2 are stiffer than Wilson's and need shorter RK3 steps), and the action's own parameters. See
``examples/compare_*.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from lqcd_hmc.action import build as build_action
from lqcd_hmc.config import (
    Card,
    CardError,
    CardSection,
    LatticeCard,
    MeasureCard,
    UpdateCard,
    read_toml,
    validate,
)

from .ratios import RATIOS, WILSON_FLOW


class StudySection(CardSection):
    output: str
    records: str | None = None
    dims: list[list[PositiveInt]] | None = None
    flow_t_max: list[PositiveFloat] | None = None
    flow: Literal["card", "action"] = "card"
    wilson_flow: bool = False
    action_energy: bool | Literal["stored"] = False
    ratios: list[str] = list(RATIOS)
    continuum: list[str] = []
    literature: dict[str, tuple[float, float]] = {}
    plateau: PositiveInt | None = None
    r_min: float | None = None
    r_max: float | None = None

    @model_validator(mode="after")
    def _ratios(self) -> StudySection:
        bad = [r for r in [*self.ratios, *self.literature] if r not in RATIOS]
        if bad:
            raise ValueError(f"unknown ratio {bad[0]!r}; known: {', '.join(RATIOS)}")
        if self.wilson_flow and self.flow != "action":
            raise ValueError('wilson_flow = true needs flow = "action" (the card flow is one)')
        if self.action_energy and self.flow != "action":
            value = "true" if self.action_energy is True else f'"{self.action_energy}"'
            raise ValueError(f'action_energy = {value} needs flow = "action"')
        return self


class MatchSection(CardSection):
    observable: Literal["t0", "r0"] = "t0"
    targets: list[float] = Field(min_length=1)
    step: float = 0.1
    max_runs: PositiveInt = 5
    trajectories: PositiveInt | None = None


class ClassicalSection(CardSection):
    L: PositiveInt = 16
    modes: list[PositiveInt] = [1, 2, 3, 4, 5, 6]
    amplitude: float = Field(1e-3, gt=0)
    flux_dims: list[PositiveInt] = [4, 4, 2, 2]
    flux_quanta: list[PositiveInt] = [1, 2, 3]


class StudyAction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    label: str | None = None
    spacings: list[NonNegativeInt] | None = None
    betas: list[float] = Field(min_length=1)
    starts: dict[NonNegativeInt, str] = {}
    skip: dict[NonNegativeInt, NonNegativeInt] = {}
    step: float | list[float] | None = None
    within: PositiveFloat | None = None  # tuning: a run this many errors from the target ends it
    lattice: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None

    @property
    def title(self) -> str:
        return self.label or self.name

    def step_at(self, k: int) -> float | None:
        """The tuning step at the k-th spacing it runs at (None: the card's ``match.step``)."""
        return self.step[k] if isinstance(self.step, list) else self.step

    def params(self) -> dict[str, Any]:
        """The action table without the study's keys (and without beta)."""
        return {"name": self.name, **(self.model_extra or {})}


class StudyCard(CardSection):
    study: StudySection
    match: MatchSection | None = None
    classical: ClassicalSection | None = None
    lattice: LatticeCard
    update: UpdateCard = UpdateCard()
    run: dict[str, Any]
    measure: list[MeasureCard] = []
    action: list[StudyAction] = Field(min_length=1)

    @property
    def spacings(self) -> int:
        if self.study.dims is not None:
            return len(self.study.dims)
        return len(self.match.targets) if self.match else len(self.action[0].betas)

    def dims(self, i: int) -> list[int]:
        return list(self.study.dims[i]) if self.study.dims else list(self.lattice.dims)

    def start_of(self, action: StudyAction, spacing: int, ensembles: dict[str, str]) -> str | None:
        """The ensemble file that starts ``action``'s chains at ``spacing``: its ``starts``
        entry, a file or the label of an earlier action, looked up in ``ensembles`` (label ->
        file of that action's ensemble at this spacing, from the same call); None without one."""
        name = action.starts.get(spacing)
        if name is None or name not in {a.title for a in self.action}:
            return name
        if name not in ensembles:
            raise ValueError(
                f"action {action.title!r} starts from {name!r}'s ensemble at spacing {spacing}: "
                f"run {name!r} in the same call (add --only {name!r})"
            )
        return ensembles[name]

    def action_spacings(self, action: StudyAction) -> list[int]:
        """The indices of the spacings ``action`` runs at (its ``betas`` in the same order)."""
        return list(range(self.spacings)) if action.spacings is None else list(action.spacings)

    @model_validator(mode="after")
    def _consistent(self) -> StudyCard:
        if "output" in self.run:
            raise ValueError("run.output: the study names the ensemble files; leave it out")
        n = self.spacings
        if self.match and len(self.match.targets) != n:
            raise ValueError(
                f"match.targets has {len(self.match.targets)} entries for {n} spacings"
            )
        if self.study.flow_t_max is not None:
            if len(self.study.flow_t_max) != n:
                raise ValueError(
                    f"study.flow_t_max has {len(self.study.flow_t_max)} entries for {n} spacings"
                )
            if not any(m.name == "gradient_flow" for m in self.measure):
                raise ValueError("study.flow_t_max needs a gradient_flow measurement")
        for a in self.action:
            at = self.action_spacings(a)
            if not at or at != sorted(set(at)) or at[-1] >= n:
                raise ValueError(
                    f"action {a.title!r}: spacings must be distinct increasing indices "
                    f"0..{n - 1}, got {at}"
                )
            for key in ("betas", "step"):
                values = getattr(a, key)
                if isinstance(values, list) and len(values) != len(at):
                    raise ValueError(
                        f"action {a.title!r}: {key} has {len(values)} entries for "
                        f"{len(at)} spacings"
                    )
            for key in ("starts", "skip"):
                extra = sorted(set(getattr(a, key)) - set(at))
                if extra:
                    raise ValueError(
                        f"action {a.title!r}: {key} names spacing {extra[0]}, which it does not "
                        f"run at ({at})"
                    )
            if a.starts and "start" in (a.lattice or {}):
                raise ValueError(f"action {a.title!r}: give starts or lattice.start, not both")
            earlier = {b.title: b for b in self.action[: self.action.index(a)]}
            for i, name in a.starts.items():
                if name in earlier and i not in self.action_spacings(earlier[name]):
                    raise ValueError(
                        f"action {a.title!r}: starts {{{i} = {name!r}}}: {name!r} does not "
                        f"run at spacing {i}"
                    )
            if "dims" in (a.lattice or {}):
                raise ValueError(
                    f"action {a.title!r}: the lattice dims are the same for every action"
                )
            if "output" in (a.run or {}):
                raise ValueError(f"action {a.title!r}: run.output is named by the study")
            if a.flow and self.study.flow != "action":
                raise ValueError(f'action {a.title!r}: flow needs study.flow = "action"')
            if "beta" in (a.model_extra or {}):
                raise ValueError(f"action {a.title!r}: give betas = [...], not beta")
        titles = [a.title for a in self.action]
        dup = sorted({t for t in titles if titles.count(t) > 1})
        if dup:
            raise ValueError(f"two actions are labelled {dup[0]!r}; give them labels")
        unknown = [t for t in self.study.continuum if t not in titles]
        if unknown:
            raise ValueError(f"study.continuum: no action is labelled {unknown[0]!r}")
        return self

    def ensemble_card(
        self,
        action: StudyAction,
        beta: float,
        spacing: int,
        output: Path,
        trajectories: int | None = None,
        start: str | None = None,
    ) -> Card:
        """The run card of one ensemble at spacing index ``spacing`` (validated like any run
        card), its chains started from the stored ensemble ``start`` if given (the action's
        ``starts`` resolved: :meth:`start_of`)."""
        own = action.update or {}
        replaced = set(UpdateCard.SINGLE_SCALE) if "levels" in own else set()
        update = {**self.update.model_dump(exclude_unset=True, exclude=replaced), **own}
        run = {**self.run, **(action.run or {}), "output": str(output)}
        if trajectories is not None:
            run["trajectories"] = trajectories
        act = {**action.params(), "beta": float(beta)}
        measure = [m.model_dump(exclude_none=True) for m in self.measure]
        if self.study.flow_t_max is not None:
            for m in measure:
                if m["name"] == "gradient_flow":
                    m["t_max"] = self.study.flow_t_max[spacing]
        if self.study.flow == "action":
            flows = [m for m in measure if m["name"] == "gradient_flow"]
            # the Wilson flow keeps the card's steps: the action's flow options are its own
            if self.study.wilson_flow and action.name != "wilson":
                measure += [{**m, "flow": "wilson", "table": WILSON_FLOW} for m in flows]
            for m in flows:
                m.update(action.flow or {}, flow=act)
                if self.study.action_energy is True:  # "stored": not in the run
                    m["action_energy"] = True
        lattice = {
            **self.lattice.model_dump(),
            **(action.lattice or {}),
            "dims": self.dims(spacing),
        }
        if start is not None:
            lattice["start"] = {"file": start}
        tree = {
            "lattice": lattice,
            "action": act,
            "update": update,
            "run": run,
            "measure": measure,
        }
        return validate(tree, f"action {action.title!r} at beta {beta:g}")


def load_study(path: str | Path) -> StudyCard:
    card = validate(read_toml(path, "study card"), str(path), StudyCard)
    for a in card.action:  # every ensemble card must be valid up front
        c = card.ensemble_card(a, a.betas[0], card.action_spacings(a)[0], Path("check.h5"))
        try:
            build_action(c.action_config())
        except (ValueError, OSError) as exc:
            raise CardError(f"{path}: action {a.title!r}: {exc}") from None
    return card


__all__ = ["StudyCard", "StudyAction", "load_study", "CardError"]
