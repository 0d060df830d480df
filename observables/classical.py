"""Classical lattice artifacts: the action of smooth fields against its continuum value, no
Monte Carlo.

- Abelian plane waves ``U_mu(x) = exp(i eps cos(k x_nu) H)``, ``k = 2 pi n / L_nu``
  (:func:`lqcd_hmc.smooth.plane_wave`), small ``eps``. For the plaquette + rectangle family
  (docs/conventions.md, section 3: ``c0 = 1 - 8 c1``) the plaquette angles are
  ``theta = eps (cos k x_nu - cos k (x_nu + 1))``, the two rectangle orientations give
  ``eps (cos k x_nu - cos k (x_nu + 2))`` and ``2 theta``; to O(eps^2) therefore

      S / S_cont = 4 [c0 sin^2(k/2) + c1 (sin^2 k + 4 sin^2(k/2))] / k^2
                 = 1 - (1/12 + c1) k^2 + (1/360 + c1/6) k^4 + O(k^6)   (a = 1),

  so Wilson deviates by ``-(ka)^2/12``, tree-level Symanzik by ``-(ka)^4/90`` (the k^4
  coefficient at c1 = -1/12), Iwasaki by ``+0.248 (ka)^2``, DBW2 by ``+1.325 (ka)^2``.
  Plane waves are not classical solutions in Euclidean space, so a fixed-point action, whose
  value is the minimum of the continuum action over the fields that block to the lattice
  field, lies below the plane wave's continuum action by O((ka)^2) as well: classical
  perfection holds for solutions (the constant flux below, instantons), not for these.
- Constant abelian flux ``phi = 2 pi n / (L_mu L_nu)`` per plaquette
  (:func:`lqcd_hmc.smooth.abelian_flux`), a classical solution on the torus; continuum
  ``S/beta = V phi^2 Tr H^2 / (2N)``; Wilson ``S/S_cont = 2 (1 - cos phi) / phi^2``
  (SU(N) embedding: the plaquette angles are ``±phi``).
The relative deviation ``S_lattice / S_cont - 1`` is returned per field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.groups import get_group
from lqcd_hmc.smooth import abelian_flux, plane_wave, plane_wave_continuum, trace_h2

ActionValue = Callable[[GaugeField], Tensor]


def tree_level_plane_wave(k: float, c1: float) -> float:
    """``S/S_cont - 1`` of a small plane wave for the plaquette + rectangle family (module
    docstring), exact in ``k``."""
    c0 = 1.0 - 8.0 * c1
    s2 = math.sin(k / 2) ** 2
    return 4.0 * (c0 * s2 + c1 * (math.sin(k) ** 2 + 4.0 * s2)) / k**2 - 1.0


def _deviations(
    action: ActionValue, beta: float, fields: Sequence[GaugeField], continua: Sequence[float]
) -> list[float]:
    """``S/(beta S_cont/beta) - 1`` of each field, all in one batch."""
    batch = GaugeField(torch.cat([f.links for f in fields]), fields[0].group)
    S = action(batch).detach().double().cpu()
    return [float(S[i] / (beta * c) - 1.0) for i, c in enumerate(continua)]


def plane_wave_deviations(
    action: ActionValue,
    beta: float,
    group: str,
    L: int,
    modes: Sequence[int],
    amplitude: float = 1e-3,
    D: int = 4,
    transverse: int = 2,
    dtype=torch.complex128,
) -> list[dict[str, float]]:
    """``S/S_cont - 1`` of plane waves in the (0, 1) plane of an ``(t, L, t, ...)`` lattice
    (``t = transverse``), one per mode ``n`` (k a = 2 pi n / L); all modes in one batch."""
    dims = [transverse] * D
    dims[1] = L
    dev = _deviations(
        action,
        beta,
        [plane_wave(dims, group, n, amplitude, dtype=dtype) for n in modes],
        [plane_wave_continuum(dims, group, n, amplitude) for n in modes],
    )
    return [{"n": int(n), "ka": 2 * math.pi * n / L, "deviation": d} for n, d in zip(modes, dev)]


def flux_deviations(
    action: ActionValue,
    beta: float,
    group: str,
    dims: Sequence[int],
    quanta: Sequence[int],
    dtype=torch.complex128,
) -> list[dict[str, float]]:
    """``S/S_cont - 1`` of constant flux through the (0, 1) planes, one per number of quanta."""
    V, N = math.prod(dims), get_group(group).N
    phis = [2 * math.pi * n / (dims[0] * dims[1]) for n in quanta]
    dev = _deviations(
        action,
        beta,
        [abelian_flux(dims, group, n, dtype=dtype) for n in quanta],
        [V * phi**2 * trace_h2(group) / (2 * N) for phi in phis],
    )
    return [{"n": int(n), "phi": phi, "deviation": d} for n, phi, d in zip(quanta, phis, dev)]
