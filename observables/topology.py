"""Field strength and topological charge in D = 4.

``Q = 1/(32 pi^2) sum_x eps_{mu nu rho sigma} Tr F_{mu nu} F_{rho sigma}
    = 1/(4 pi^2) sum_x Tr(F_01 F_23 - F_02 F_13 + F_03 F_12)``
with Hermitian ``F`` (``a^2 g F`` of the continuum).

- ``clover``: F from the four 1x1 leaves (:func:`lqcd_hmc.loops.clover_field_strength`);
  O(a^2) errors.
- ``improved``: ``F = sum_i c_i F^{(m_i, n_i)}`` over the m x n clovers (averaged over both
  orientations, each normalised by 1/(mn)) of sizes 1x1, 2x2, 1x2, 1x3, 3x3 with the 5Li weights
  of P. de Forcrand, M. García Pérez, I.-O. Stamatescu, Nucl. Phys. B 499 (1997) 409,
  hep-lat/9701012: ``c5 = 1/20``, ``c1 = (19 - 55 c5)/9``, ``c2 = (1 - 64 c5)/9``,
  ``c3 = (-64 + 640 c5)/45``, ``c4 = 1/5 - 2 c5``. They satisfy ``sum c = 1``,
  ``sum c (m^2 + n^2) = 0``, ``sum c (m^4 + n^4) = 0`` and ``sum c m^2 n^2 = 0``: no tree-level
  O(a^2) or O(a^4) terms in F (the improved field strength of S. Bilson-Thompson, D. Leinweber,
  A. Williams, Ann. Phys. 304 (2003) 1, hep-lat/0203008, with the 5Li loops).

The charge is meant for smooth fields: measure it after gradient flow or smearing.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.loops import LineCache, clover_field_strength

C5 = 1.0 / 20.0
FIVE_LOOP = (
    (1, 1, (19 - 55 * C5) / 9),
    (2, 2, (1 - 64 * C5) / 9),
    (1, 2, (-64 + 640 * C5) / 45),
    (1, 3, 1 / 5 - 2 * C5),
    (3, 3, C5),
)
DEFINITIONS = ("clover", "improved")


def field_strength(
    field: GaugeField, mu: int, nu: int, definition: str = "clover", cache: LineCache | None = None
) -> Tensor:
    """Hermitian traceless ``F_{mu nu}(x)``, shape ``(B, *dims, N, N)`` (module docstring);
    ``cache`` shares the straight lines between calls on one field."""
    if definition == "clover":
        return clover_field_strength(field.links, mu, nu, cache=cache)
    if definition != "improved":
        raise ValueError(
            f"unknown field-strength definition {definition!r}; use one of {DEFINITIONS}"
        )
    F = None
    for m, n, c in FIVE_LOOP:
        Fmn = clover_field_strength(field.links, mu, nu, m, n, cache)
        if m != n:
            Fmn = 0.5 * (Fmn + clover_field_strength(field.links, mu, nu, n, m, cache))
        F = c * Fmn if F is None else F + c * Fmn
    assert F is not None
    return F


def _tr(A: Tensor, B: Tensor) -> Tensor:
    """``Re Tr(A B)`` per site in float64."""
    return torch.einsum("...ij,...ji->...", A, B).real.double()


def charge_density(field: GaugeField, definition: str = "clover") -> Tensor:
    """``q(x)`` with ``Q = sum_x q(x)``, shape ``(B, *dims)``."""
    if field.D != 4:
        raise ValueError(f"the topological charge needs D = 4, got D = {field.D}")
    cache: LineCache = {}
    F = {
        (m, n): field_strength(field, m, n, definition, cache)
        for m, n in ((0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2))
    }
    q = _tr(F[0, 1], F[2, 3]) - _tr(F[0, 2], F[1, 3]) + _tr(F[0, 3], F[1, 2])
    return q / (4 * math.pi**2)


def topological_charge(field: GaugeField, definition: str = "clover") -> Tensor:
    """``Q`` per configuration, float64 ``(B,)``."""
    return charge_density(field, definition).flatten(1).sum(1)


def charges(field: GaugeField) -> dict[str, Tensor]:
    """Columns ``Q_clover``, ``Q_improved`` and ``volume`` of a (smoothed) field."""
    out = {f"Q_{d}": topological_charge(field, d) for d in DEFINITIONS}
    out["volume"] = torch.full(
        (field.batch,), float(field.volume), dtype=torch.float64, device=field.device
    )
    return out
