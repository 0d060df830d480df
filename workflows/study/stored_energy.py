"""The action's own energy density on an ensemble's stored configurations
(``study.action_energy = "stored"``).

With a fixed-point action, flow and observable are both classically perfect only where the
observable is the flow action's own density ``E_action = g0^2 S(V)/V`` (Holland, Ipp, Müller,
Wenger, arXiv:2504.15870); the clover E keeps its tree-level artifacts, about 9 % of
w0/sqrt(t0) at t0/a^2 = 1 (bench/RESULTS.md, "The observable's share"). Ensembles that did not
measure ``E_action`` in the run (``action_energy = true``) get it here: every stored production
configuration is flowed again with the ensemble's own ``gradient_flow`` measurement, and the
ratios are taken from the clover, plaquette and action forms of E on the same flowed fields.
On the whole ensemble

    R_action = R_clover(in run) + [R(<E_action>) - R(<E_clover>)](stored configurations),

the in-run clover value (every measurement, Gamma method) plus the paired difference of the
ratios of the stored configurations' mean curves, whose jackknife error is small because the
fields are the same (stored configurations ``save_interval`` apart, taken as independent);
the errors add in quadrature. ``a^2/t0`` is the in-run clover
value times ``t0_clover / t0_action`` of the stored configurations' mean curves (the action
E's own t0, as the in-run column has it).

The flows are the expensive part (a network force per RK3 stage for an L-CNN), so each
configuration's result is cached in ``<cache>/<ensemble file name>.json`` under its trajectory
and per-chain checksums as soon as it is there: a killed call continues, a later call reuses
it, and a record of the ensemble, whose links are gone but whose checksums are kept, is
reported from it.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lqcd_hmc.field import GaugeField
from lqcd_hmc.io import Ensemble
from lqcd_hmc.io.atomic import replacing
from lqcd_hmc.io.record import configuration_hashes
from observables.measurements import GradientFlow
from observables.scales import flow_scales

from .ratios import T02

FORMS = ("clover", "plaquette", "action")
RATIOS = ("w0_over_sqrt_t0", "sqrt_t02_over_t0")


def flow_measurement(ens: Ensemble) -> GradientFlow:
    """The ensemble's own ``gradient_flow`` measurement with ``action_energy`` on, no charge."""
    card = tomllib.loads(str(ens.attrs["card"]))
    (m,) = [m for m in card["measure"] if m.get("table", m["name"]) == "gradient_flow"]
    params = {k: v for k, v in m.items() if k not in ("name", "interval", "topology", "table")}
    return GradientFlow(**params, topology=False, action_energy=True)


def curve_ratios(t: np.ndarray, E: np.ndarray) -> dict[str, list[float]]:
    """``w0/sqrt(t0)`` and ``sqrt(t_0.2/t0)`` of every curve ``E (n, n_t)``."""
    out: dict[str, list[float]] = {r: [] for r in RATIOS}
    for e in E:
        if not np.all(np.isfinite(e)):  # a diverged flow
            for r in RATIOS:
                out[r].append(math.nan)
            continue
        t0, w0 = flow_scales(t, e)
        t02, _ = flow_scales(t, e, T02)
        out["w0_over_sqrt_t0"].append(float(w0 / np.sqrt(t0)))
        out["sqrt_t02_over_t0"].append(float(np.sqrt(t02 / t0)))
    return out


def _flowed(meas: GradientFlow, links: np.ndarray, group: str) -> dict[str, Any]:
    """One stored configuration (every chain) flowed: its E curves in each form."""
    out = meas(GaugeField(torch.from_numpy(links), group))
    return {f: out[f"E_{f}"].cpu().numpy().tolist() for f in FORMS}


def per_configuration(path: Path, cache: Path | None = None) -> dict[str, Any]:
    """``{"t": flow times, "configs": {trajectory: {"checksum", "clover", "plaquette",
    "action"}}}``: the E curves ``(B, n_t)`` of every stored production configuration of the
    ensemble or record ``path``, from ``cache`` where its trajectory and checksums match, else
    flowed (and added to the cache). A record's configurations without a cached result are
    left out."""
    ens = Ensemble(path)
    after = int(ens.attrs.get("thermalisation", 0))
    trajectories, checksums, _, _ = configuration_hashes(ens)
    file = None if cache is None else cache / f"{path.name}.json"
    done: dict[str, Any] = {"t": None, "configs": {}}
    if file is not None and file.is_file():
        done = json.loads(file.read_text())
    wanted = {
        str(int(t)): [int(c) for c in crc] for t, crc in zip(trajectories, checksums) if t > after
    }
    configs = {t: c for t, c in done["configs"].items() if wanted.get(t) == c["checksum"]}
    stored = set(ens.trajectories())
    todo = [t for t in wanted if t not in configs and int(t) in stored]
    if todo:
        meas = flow_measurement(ens)
        group = str(ens.attrs["group"])
        for t in tqdm(todo, desc=f"own E of {path.name}", leave=False, disable=None):
            configs[t] = {"checksum": wanted[t], **_flowed(meas, ens.config(int(t))[0], group)}
            done = {"t": meas.times.tolist(), "configs": configs}
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                with replacing(file) as tmp:
                    tmp.write_text(json.dumps(done))
    return {"t": done["t"], "configs": {t: configs[t] for t in sorted(configs, key=int)}}


def paired_difference(
    t: np.ndarray, A: np.ndarray, C: np.ndarray, ratio: str
) -> tuple[float, float]:
    """``R(<E_A>) - R(<E_C>)`` of the mean curves of the paired ``A``, ``C (n, n_t)`` (one row
    per configuration and chain), with its jackknife error over the rows: the difference of
    the ratios as the in-run analysis takes them, from the mean curve (a single small-volume
    curve need not reach t0)."""

    def diff(a: np.ndarray, c: np.ndarray) -> float:
        return (
            curve_ratios(t, a.mean(0)[None])[ratio][0] - curve_ratios(t, c.mean(0)[None])[ratio][0]
        )

    n = len(A)
    if n < 2:
        return math.nan, math.nan
    loo = np.array([diff(np.delete(A, i, 0), np.delete(C, i, 0)) for i in range(n)])
    return diff(A, C), float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))


def form_results(curves: dict[str, Any]) -> dict[str, Any]:
    """Per form the E curves, the t0 of their mean and the ratios per configuration and chain;
    the paired differences ``action - clover`` (:func:`paired_difference`)."""
    t = np.asarray(curves["t"])
    res: dict[str, Any] = {"configurations": 0}
    for f in FORMS:
        E = np.concatenate([np.asarray(c[f]) for c in curves["configs"].values()])
        t0, _ = flow_scales(t, E.mean(0))
        res[f] = {"t0": float(t0), "E": E, **curve_ratios(t, E)}
        res["configurations"] = len(E)
    res["action_minus_clover"] = {
        r: paired_difference(t, res["action"]["E"], res["clover"]["E"], r) for r in RATIOS
    }
    return res


def quantities(path: Path, in_run: dict[str, Any], cache: Path | None) -> dict[str, Any]:
    """The entry of the action's own E (``quantities_action_energy``) of the ensemble ``path``
    from its stored configurations and its in-run clover ``in_run`` quantities (module
    docstring); empty where fewer than two configurations (chains included) are at hand."""
    curves = per_configuration(path, cache)
    if not curves["configs"] or "a2_over_t0" not in in_run:
        return {}
    res = form_results(curves)
    if res["configurations"] < 2:
        return {}
    x = in_run["a2_over_t0"]
    scale = res["clover"]["t0"] / res["action"]["t0"]
    out: dict[str, Any] = {
        "a2_over_t0": {"value": x["value"] * scale, "error": x["error"] * scale},
        "configurations": res["configurations"],
    }
    for r in RATIOS:
        if r in in_run and math.isfinite(in_run[r]["value"]):
            d, dd = res["action_minus_clover"][r]
            out[r] = {"value": in_run[r]["value"] + d, "error": math.hypot(in_run[r]["error"], dd)}
    return out
