"""A hand-made parametrisation of the FP action and its least-squares fit to FP data.

In the style of F. Niedermayer, P. Rüfenacht, U. Wenger, Nucl. Phys. B 597 (2001) 413,
hep-lat/0007007: a polynomial in the plaquette variables of thin and fat links,
``A[U] = (1/N) sum_x sum_{mu<nu} sum_{k,l} p_kl u^k w^l``, ``1 <= k + l <= order``, with
``u = N - Re Tr U_{mu nu}(x)`` of the thin links and ``w = N - Re Tr W_{mu nu}(x)`` of the fat links
``W``, one stout step of weight ``rho`` (so W stays in the group and the action is
differentiable). Wilson is ``p_10 = 1``. With several smearing levels (``rho`` a list), ``w_i``
is the plaquette variable after ``i`` successive stout steps and the polynomial runs over
``u^k w_1^l_1 w_2^l_2 ...``: more fat-link levels let the action tell apart fluctuations of
different wavelengths, which one level fits poorly on rough fields (bench/RESULTS.md). With
``rectangles`` a last variable ``r = N - (Re Tr R_{2x1} + Re Tr R_{1x2})/2``, the two thin
rectangles of the plane at x, enters the polynomial too (``... r^m``): a loop larger than the
plaquette in the non-quadratic part.
Coefficients come from a linear least-squares fit to FP action values and derivatives
(:func:`fit`); the registered action ``fp-param`` reads them from a JSON file and runs in HMC
(force from autograd) with ``S = beta A``.

Classically perfect form (``fit(..., free=...)``, :mod:`.perfect`): the quadratic part is that
of the free FP action, carried by five loop shapes with fixed coefficients ``loops``
(:func:`.perfect.loop_coefficients`), and the polynomial keeps only ``k + l >= 2`` (quartic and
higher in the field), so the fit to FP data cannot move the quadratic part; constant flux, a
classical solution whose FP action is the continuum one, is an equality constraint of the fit
(exact to rounding from order 3; at order 2 every term is ``u^2`` on it and n = 1, 2 are met
together only in the least-squares sense). Weighted rows (weight 100) had been traded against
the data: on the SU(3) 4^4 data of the shipped model they left flux n = 1 off by -4.2e-3.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lqcd_hmc.action import Action
from lqcd_hmc.field import GaugeField
from lqcd_hmc.paths import loop_traces, plaquette_paths, rectangle_paths
from lqcd_hmc.smearing import stout

from .free_fixed_point import FreeFixedPoint
from .minimise import algebra_gradient
from .perfect import LOOPS, flux_targets, loop_coefficients, loop_densities


def polynomial_terms(
    order: int, levels: int = 1, rectangles: bool = False
) -> list[tuple[int, ...]]:
    """Exponents ``(k, l_1, ..., l_levels[, m])`` of ``u^k w_1^l_1 ... [r^m]`` with ``1 <= sum
    <= order``, by total degree, then lexicographically from the highest power of ``u``."""
    if order < 1:
        raise ValueError(f"polynomial order must be >= 1, got {order}")
    if levels < 1:
        raise ValueError(f"smearing levels must be >= 1, got {levels}")
    exponents = itertools.product(range(order, -1, -1), repeat=levels + 1 + int(rectangles))
    powers = [e for e in exponents if 1 <= sum(e) <= order]
    return sorted(powers, key=lambda e: (sum(e), [-x for x in e]))


def stout_weights(rho: float | Sequence[float]) -> list[float]:
    """The stout weight of each smearing level (one number: one level)."""
    return [float(rho)] if isinstance(rho, int | float) else [float(r) for r in rho]


def basis_densities(
    field: GaugeField,
    terms: Sequence[Sequence[int]],
    rho: float | Sequence[float],
    rectangles: bool = False,
) -> Tensor:
    """``(1/N) sum_{mu<nu} u^k w_1^l_1 ... [r^m]`` per site for every term, ``(B, n_terms,
    *dims)``; ``w_i`` of the links after ``i`` successive stout steps of weights ``rho[:i]``,
    ``r`` the plane's rectangle variable (module docstring)."""
    N, D = field.N, field.D
    plaquettes = plaquette_paths(D)  # mu < nu, lexicographic
    fats = [field]
    for r in stout_weights(rho):
        fats.append(stout(fats[-1], r) if r else fats[-1])
    # smeared before the traces, as with one level before: its force is unchanged bit for bit
    variables = [N - loop_traces(f.links, plaquettes).double() for f in fats]
    if rectangles:  # 2x1 then 1x2 in each plane mu < nu, the planes in the plaquettes' order
        both = loop_traces(field.links, rectangle_paths(D)).double().unflatten(1, (-1, 2))
        variables.append(N - both.mean(2))
    # every plane at once, then the planes summed in order: the same operations on each
    # element as one plane at a time, so the same numbers bit for bit, in a sixth of the calls
    t = torch.stack(
        [reduce(torch.mul, (x**e for x, e in zip(variables, term))) for term in terms], 1
    )
    return reduce(torch.add, t.unbind(2)) / N


class FPParametrisation(Action):
    """``fp-param``: ``S = beta A`` with the polynomial of the module docstring. Give
    ``file`` (a JSON written by :meth:`save`) or ``coefficients`` with ``terms``, ``rho`` and
    ``rectangles``."""

    name = "fp-param"
    beta: float
    reach = 2  # a stout step (staples) under a plaquette

    working_memory = 80.0  # bench/memory.py, 12^4 x 4: four terms, 73.5

    def __init__(
        self,
        beta: float,
        file: str | None = None,
        coefficients: Sequence[float] | None = None,
        terms: Sequence[Sequence[int]] | None = None,
        rho: float | Sequence[float] = 0.1,
        loops: Mapping[str, float] | None = None,
        rectangles: bool = False,
    ):
        self.beta, self.file = float(beta), file
        if file is not None:
            try:
                spec = json.loads(Path(file).read_text())
                coefficients, terms, rho = spec["coefficients"], spec["terms"], spec["rho"]
                loops = spec.get("loops", {})
                rectangles = bool(spec.get("rectangles", False))
            except (OSError, ValueError, KeyError) as exc:
                raise ValueError(f"fp-param: cannot read coefficients from {file}: {exc}") from None
        if coefficients is None or terms is None or len(coefficients) != len(terms):
            raise ValueError("fp-param needs a coefficient file or matching coefficients and terms")
        self.rho: float | list[float] = (
            float(rho) if isinstance(rho, int | float) else [float(r) for r in rho]
        )
        self.terms = [tuple(int(e) for e in t) for t in terms]
        self.rectangles = bool(rectangles)
        levels = len(stout_weights(self.rho))
        if any(len(t) != levels + 1 + self.rectangles for t in self.terms):
            raise ValueError(
                f"fp-param: every term needs {levels + 1 + self.rectangles} exponents (u, "
                f"{levels} smearing level{'s' if levels > 1 else ''}"
                f"{' and the rectangles' if self.rectangles else ''})"
            )
        self.coefficients = torch.tensor([float(c) for c in coefficients], dtype=torch.float64)
        loops = dict(loops or {})
        if set(loops) - set(LOOPS):
            raise ValueError(
                f"fp-param: unknown loop shapes {sorted(set(loops) - set(LOOPS))} "
                f"(known: {', '.join(LOOPS)})"
            )
        self.loops = {str(k): float(a) for k, a in loops.items()}
        if self.loops:  # bench/memory.py: order 4 with the five loop shapes, 186.5
            self.working_memory = 190.0
        if self.rectangles:  # bench/memory.py: the same with the rectangles, 201.9 (175.8)
            self.working_memory += 20.0

    def params(self) -> dict[str, Any]:
        if self.file is not None:
            return {"beta": self.beta, "file": self.file}
        return {
            "beta": self.beta,
            "coefficients": self.coefficients.tolist(),
            "terms": [list(t) for t in self.terms],
            "rho": self.rho,
            "loops": self.loops,
            "rectangles": self.rectangles,
        }

    def density(self, field: GaugeField) -> Tensor:
        out = torch.zeros(field.links.shape[:1] + field.dims, dtype=torch.float64)
        out = out.to(field.device)
        if self.terms:
            b = basis_densities(field, self.terms, self.rho, self.rectangles)
            out = out + torch.einsum("bt...,t->b...", b, self.coefficients.to(b.device))
        if self.loops:
            a = torch.tensor(list(self.loops.values()), dtype=torch.float64, device=field.device)
            out = out + torch.einsum("bt...,t->b...", loop_densities(field, list(self.loops)), a)
        return self.beta * out

    def save(self, path: str | Path, **extra: Any) -> None:
        """Write the coefficient file ``fp-param`` reads (``extra`` goes in as provenance)."""
        Path(path).write_text(
            json.dumps(
                {
                    "terms": [list(t) for t in self.terms],
                    "coefficients": self.coefficients.tolist(),
                    "rho": self.rho,
                    "loops": self.loops,
                    "rectangles": self.rectangles,
                    **extra,
                },
                indent=1,
            )
        )


def basis_with_derivatives(
    basis: Callable[[Tensor], Tensor], field: GaugeField
) -> tuple[Tensor, Tensor]:
    """Values ``(B, n_terms)`` of a linear basis ``basis(links)`` (site sums of its terms) and
    their algebra derivatives ``(B, n_terms, D, *dims, n_gen)``."""
    with torch.enable_grad():
        links = field.links.detach().requires_grad_(True)
        b = basis(links)
        ders = []
        for j in range(b.shape[1]):
            (G,) = torch.autograd.grad(b[:, j].sum(), links, retain_graph=j < b.shape[1] - 1)
            ders.append(algebra_gradient(links.detach(), G, field).double())
    return b.detach().double(), torch.stack(ders, dim=1)


def design(
    basis: Callable[[Tensor], Tensor], fields: Sequence[GaugeField]
) -> tuple[Tensor, Tensor]:
    """Value rows ``(n_configs, n_terms)`` and derivative rows ``(n_rows, n_terms)``."""
    vals, ders = [], []
    for f in fields:
        b, d = basis_with_derivatives(basis, f)
        vals.append(b)
        ders.append(d.movedim(1, -1).reshape(-1, b.shape[1]))
    return torch.cat(vals), torch.cat(ders)


def least_squares(
    X: Tensor,
    Y: Tensor,
    action: Tensor,
    derivative: Tensor,
    derivative_weight: float = 1.0,
    exact: tuple[Tensor, Tensor] | None = None,
    ridge: float = 0.0,
) -> Tensor:
    """Coefficients ``p`` of a linear basis with value rows X and derivative rows Y that
    minimise ``|X p - A|^2/|A|^2 + derivative_weight |Y p - dA|^2/|dA|^2 + ridge |p|^2``
    (Tikhonov; the penalty keeps terms of both signs from cancelling each other in large
    coefficients, which makes the action stiff on rough fields); ``exact = (Z, t)``
    constrains ``Z p = t`` (values known exactly): ``p = Z^+ t + K q`` with K an orthonormal
    basis of the null space of Z (from its SVD), and q minimises the rest. Rows that Z's rank
    cannot meet together (the order-2 polynomial on constant flux, where the fat links equal
    the thin ones and every term is ``u^2``) are met in the least-squares sense of ``Z^+``."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    A = action.double().reshape(-1)
    dA = derivative.double().reshape(-1)
    if X.shape[0] != A.numel() or Y.shape[0] != dA.numel():
        raise ValueError(
            f"FP data do not match the configurations: {A.numel()} values for "
            f"{X.shape[0]} configurations"
        )
    sa, sd = A.norm(), dA.norm() / derivative_weight**0.5
    M = torch.cat([X / sa, Y / sd]).cpu()
    rhs = torch.cat([A / sa, dA / sd]).cpu()
    p0 = torch.zeros(M.shape[1], dtype=M.dtype)
    K = torch.eye(M.shape[1], dtype=M.dtype)
    if exact is not None:
        Z, t = (x.to(M) for x in exact)
        U, S, Vh = torch.linalg.svd(Z)
        r = int((S > S[0] * 1e-12).sum())
        p0 = Vh[:r].T @ ((U.T @ t)[:r] / S[:r])
        K = Vh[r:].T
    MK, res = M @ K, rhs - M @ p0
    if ridge:
        MK = torch.cat([MK, ridge**0.5 * K])
        res = torch.cat([res, -(ridge**0.5) * p0])
    # gelsd (rank-revealing) exists on the CPU only; the system is small
    q = torch.linalg.lstsq(MK, res[:, None], driver="gelsd").solution[:, 0]
    return (p0 + K @ q).to(X.device)


def fit(
    fields: Sequence[GaugeField],
    action: Tensor,
    derivative: Tensor,
    order: int = 3,
    rho: float | Sequence[float] = 0.1,
    derivative_weight: float = 1.0,
    free: FreeFixedPoint | None = None,
    ridge: float = 0.0,
    rectangles: bool = False,
) -> FPParametrisation:
    """Least-squares coefficients (:func:`least_squares`) for FP values ``action`` ``(n,)`` and
    derivatives ``(n, D, *dims, n_gen)`` of the configurations in ``fields`` (batches,
    concatenated in order). With ``free`` (the free FP action of the data's kernel) the fit is
    the classically perfect form of the module docstring: the loops' part is subtracted from
    the data, and constant flux n = 1, 2 is an exact constraint. ``ridge`` penalises the
    polynomial's coefficients (:func:`least_squares`); ``rectangles`` adds the rectangle
    variable to the polynomial."""
    terms = polynomial_terms(order, len(stout_weights(rho)), rectangles)
    if free is not None:
        terms = [t for t in terms if sum(t) >= 2]
    group = fields[0].group
    basis = lambda links: (
        basis_densities(
            GaugeField(links, group),
            terms,
            rho,
            rectangles,
        )
        .flatten(2)
        .sum(2)
    )
    X, Y = design(basis, fields)
    if free is None:
        p = least_squares(X, Y, action, derivative, derivative_weight, ridge=ridge)
        return FPParametrisation(
            1.0, coefficients=p.tolist(), terms=terms, rho=rho, rectangles=rectangles
        )
    a = dict(zip(LOOPS, loop_coefficients(free).tolist()))
    loops = FPParametrisation(1.0, coefficients=[], terms=[], rho=rho, loops=a)
    A2, dA2 = design(lambda links: loops(GaugeField(links, group))[:, None], fields)
    flux, exact = flux_targets(str(group), dtype=fields[0].links.dtype)
    Z = basis(flux.links.to(fields[0].device)).detach().double().cpu()
    t = exact - loops(flux).detach().double().cpu()
    p = least_squares(
        X,
        Y,
        action.double().reshape(-1) - A2[:, 0].to(action.device),
        derivative.double().reshape(-1) - dA2[:, 0].to(derivative.device),
        derivative_weight,
        exact=(Z, t),
        ridge=ridge,
    )
    return FPParametrisation(
        1.0, coefficients=p.tolist(), terms=terms, rho=rho, loops=a, rectangles=rectangles
    )


def held_out_errors(
    param: FPParametrisation, fields: GaugeField, action: Tensor, train: Tensor, test: Tensor
) -> dict[str, float]:
    """Mean relative error on the held-out configurations ``test`` of the fitted
    parametrisation and of the Wilson action with a normalisation fitted on ``train``
    (``A ~ s A_W``, least squares on the values)."""
    from actions.wilson import Wilson

    W = Wilson(1.0)
    sub = lambda idx: fields.with_links(fields.links[idx])
    wt = W(sub(train))
    s = float((wt * action[train]).sum() / (wt**2).sum())
    ref = action[test]
    return {
        "fp_param": float(((param(sub(test)) - ref) / ref).abs().mean()),
        "wilson": float(((s * W(sub(test)) - ref) / ref).abs().mean()),
        "wilson_normalisation": s,
    }
