"""Link smearing: APE, stout and HYP, over all directions or the spatial ones only.

Every function maps a :class:`GaugeField` to a new one of the same shape and group; the
``spatial=True`` variants smear only the links ``mu < D-1`` with staples in spatial planes and
leave the time links alone (the usual choice for the spatial lines of Wilson loops).

- APE (M. Albanese et al., Phys. Lett. B 192 (1987) 163):
  ``U' = P[(1 - alpha) U_mu + alpha/(2 d) sum_{+-nu != mu} staple]``, d = number of
  directions nu taking part (3 in 4D).
- Stout (C. Morningstar, M. Peardon, Phys. Rev. D 69 (2004) 054501, eqs. (1)-(3)):
  ``U' = exp(Pi(rho C U^dag)) U`` with C the staple sum and Pi the traceless anti-Hermitian
  part; one stout step with ``rho = eps`` is an Euler step of the Wilson flow.
- HYP (A. Hasenfratz, F. Knechtli, Phys. Rev. D 64 (2001) 034504, eqs. (2)-(4)): three nested
  APE-like levels whose staples stay inside the hypercubes of the link; default
  ``alpha = (0.75, 0.6, 0.3)``. With ``spatial=True`` the same construction runs in the
  spatial subspace (two levels in 3 spatial dimensions).

P is the projection to the group: the unitary factor of the polar decomposition
``M = W (M^dag M)^{1/2}``, divided by ``det(W)^{1/N}`` for SU(N) (the phase of a U(1) element).
It commutes with gauge transformations, so every smearing here is gauge covariant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

from torch import Tensor

from .field import GaugeField
from .groups import project_to_group
from .lattice import tensor_sum
from .loops import staple


def _directions(field: GaugeField, spatial: bool) -> list[int]:
    dirs = list(range(field.D - 1 if spatial else field.D))
    if len(dirs) < 2:
        raise ValueError(
            f"smearing needs at least two {'spatial ' if spatial else ''}"
            f"directions, got D = {field.D}"
        )
    return dirs


def _check_steps(steps: int) -> int:
    if int(steps) < 0:
        raise ValueError(f"smearing steps must be >= 0, got {steps}")
    return int(steps)


def _staple_sum(
    arms: dict[int, Tensor], mids: dict[int, Tensor], mu: int, nus: Sequence[int], D: int
) -> Tensor:
    return tensor_sum(staple(arms[nu], mids[nu], mu, nu, D) for nu in nus)


def _iterate(
    field: GaugeField, steps: int, spatial: bool, update: Callable[[Tensor, Tensor, int], Tensor]
) -> GaugeField:
    """``steps`` sweeps in which every smeared link ``U_mu`` becomes ``update(U_mu, C, n)``
    from the old field, C being the sum of its n plaquette staples in the smeared directions."""
    dirs, D = _directions(field, spatial), field.D
    links = field.links
    for _ in range(_check_steps(steps)):
        new = links.clone()
        for mu in dirs:
            nus = [nu for nu in dirs if nu != mu]
            C = _staple_sum(
                {nu: links[:, nu] for nu in nus}, {nu: links[:, mu] for nu in nus}, mu, nus, D
            )
            new[:, mu] = update(links[:, mu], C, 2 * len(nus))
        links = new
    return field.with_links(links)


def ape(field: GaugeField, alpha: float = 0.5, steps: int = 1, spatial: bool = False) -> GaugeField:
    """APE smearing, ``steps`` iterations with weight ``alpha`` (module docstring)."""
    N = field.N
    return _iterate(
        field, steps, spatial, lambda U, C, n: project_to_group((1 - alpha) * U + alpha / n * C, N)
    )


def stout(field: GaugeField, rho: float = 0.1, steps: int = 1, spatial: bool = False) -> GaugeField:
    """Stout smearing with isotropic ``rho`` (module docstring)."""
    g = field.group
    return _iterate(
        field, steps, spatial, lambda U, C, n: g.exp(g.project_algebra(rho * C @ U.mH)) @ U
    )


def _blocked(U: Tensor, C: Tensor | None, alpha: float, n_staples: int, N: int) -> Tensor:
    """``P[(1 - alpha) U + alpha/(2 n) C]``; no staples leave the link as it is."""
    if C is None:
        return U
    return project_to_group((1 - alpha) * U + alpha / (2 * n_staples) * C, N)


def hyp(
    field: GaugeField,
    alpha: Sequence[float] = (0.75, 0.6, 0.3),
    steps: int = 1,
    spatial: bool = False,
) -> GaugeField:
    """HYP smearing (module docstring); ``alpha = (alpha1, alpha2, alpha3)``."""
    if len(alpha) != 3:
        raise ValueError(f"HYP needs three weights (alpha1, alpha2, alpha3), got {alpha}")
    a1, a2, a3 = (float(a) for a in alpha)
    dirs, D, N = _directions(field, spatial), field.D, field.N
    links = field.links
    for _ in range(_check_steps(steps)):
        U = {mu: links[:, mu] for mu in dirs}
        # level 3: Vbar[mu, {nu, rho}], staples in the directions orthogonal to mu, nu, rho
        vbar: dict[tuple[int, frozenset], Tensor] = {}
        for mu in dirs:
            for pair in combinations([d for d in dirs if d != mu], 2):
                etas = [e for e in dirs if e != mu and e not in pair]
                C = _staple_sum(U, {e: U[mu] for e in etas}, mu, etas, D) if etas else None
                vbar[mu, frozenset(pair)] = _blocked(U[mu], C, a3, len(etas), N)
        # level 2: Vtilde[mu, nu], staples in rho != mu, nu built from level 3
        vtilde: dict[tuple[int, int], Tensor] = {}
        for mu in dirs:
            for nu in dirs:
                if nu == mu:
                    continue
                rhos = [r for r in dirs if r not in (mu, nu)]
                C = None
                if rhos:
                    C = _staple_sum(
                        {r: vbar[r, frozenset((nu, mu))] for r in rhos},
                        {r: vbar[mu, frozenset((r, nu))] for r in rhos},
                        mu,
                        rhos,
                        D,
                    )
                vtilde[mu, nu] = _blocked(U[mu], C, a2, len(rhos), N)
        # level 1
        new = links.clone()
        for mu in dirs:
            nus = [nu for nu in dirs if nu != mu]
            C = _staple_sum(
                {nu: vtilde[nu, mu] for nu in nus}, {nu: vtilde[mu, nu] for nu in nus}, mu, nus, D
            )
            new[:, mu] = _blocked(U[mu], C, a1, len(nus), N)
        links = new
    return field.with_links(links)


METHODS: dict[str, Callable[..., GaugeField]] = {"ape": ape, "stout": stout, "hyp": hyp}


def smear(field: GaugeField, config: Mapping[str, Any] | None) -> GaugeField:
    """Smear by a card table ``{"method": "ape"|"stout"|"hyp", "steps": n, "spatial": bool,
    **weights}``; ``None`` or an empty table returns the field unchanged."""
    if not config:
        return field
    cfg = dict(config)
    method = cfg.pop("method", None)
    if method not in METHODS:
        raise ValueError(f"unknown smearing method {method!r}; use one of {sorted(METHODS)}")
    try:
        return METHODS[method](field, **cfg)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {method} smearing: {exc}") from None
