"""Exact results of 2D lattice gauge theory with the Wilson action on a periodic torus.

Character expansion (e.g. Gross and Witten, Phys. Rev. D 21 (1980) 446; Rusakov, Mod. Phys.
Lett. A 5 (1990) 693): on a torus (Euler characteristic 0) with V plaquettes,
``Z = sum_r c_r(beta)^V`` over irreducible representations r, with
``c_r = (1/d_r) int dU exp((beta/N) Re Tr U) chi_r(U)^*``. Then
``<P> = (1/V) d ln Z / d beta`` (P = Re Tr U_p / N).

- U(1), ``S = beta sum (1 - cos theta_p)``: ``c_n = I_n(beta)``, n in Z.
- SU(2), ``S = (beta/2) sum Re Tr(1 - U_p)``: ``c_j = 2 I_{2j+1}(beta)/beta``; the infinite-volume
  limit is ``I_2(beta)/I_1(beta)``.
- SU(N), N >= 3, ``S = (beta/N) sum Re Tr(1 - U_p)``: the trivial representation only,
  ``c_0 = sum_{n in Z} det[I_{n+j-i}(beta/N)]_{i,j=1..N}`` (the U(N) one-plaquette integral of
  Gross-Witten and Bars-Green summed over the U(1) charge n to restrict to SU(N)), so
  ``<P> = d ln c_0/d beta``, the infinite-volume value. The other representations enter as
  ``(c_r/c_0)^V``, of the order ``<P>^V``: refused unless ``N^2 <P>^V < 1e-13``.

A contractible Wilson loop enclosing A plaquettes splits the torus into a disk (Euler
characteristic 1, representation r') and the rest (characteristic -1, representation r), joined
along the loop by the fundamental: ``<Tr W> = (1/Z) sum_r sum_{r' in r x f} c_r^(V-A) c_r'^A
d_r'/d_r``. U(1): ``<W> = sum_n I_n^(V-A) I_(n+1)^A / Z``; SU(2): ``r' = j +- 1/2``,
``<Tr W>/2``; infinite volume gives the area law ``(c_f/c_0)^A``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ive


def plaquette_2d(group: str, beta: float, n_plaquettes: int, n_max: int = 60) -> float:
    """Exact ``<P>`` of the 2D Wilson theory on a torus with ``n_plaquettes`` plaquettes."""
    V = int(n_plaquettes)
    if group == "U(1)":
        n = np.arange(-n_max, n_max + 1)
        I = ive(n, beta)  # exp(-beta) I_n(beta): the common factor cancels
        dI = 0.5 * (ive(n - 1, beta) + ive(n + 1, beta))
        dlog = dI / I
    elif group == "SU(2)":
        n = np.arange(1, n_max + 1)
        I = ive(n, beta)
        dI = 0.5 * (ive(n - 1, beta) + ive(n + 1, beta))
        dlog = dI / I - 1.0 / beta
    elif group.startswith("SU(") and group.endswith(")") and int(group[3:-1]) >= 3:
        return _plaquette_2d_sun(int(group[3:-1]), beta, V, n_max)
    else:
        raise ValueError(f"exact 2D plaquette is implemented for U(1) and SU(N), not {group}")
    logw = V * np.log(np.where(I > 0, I, np.finfo(float).tiny))
    w = np.exp(logw - logw.max())
    return float((w * dlog).sum() / w.sum())


def _plaquette_2d_sun(N: int, beta: float, V: int, n_max: int) -> float:
    """``<P> = d ln c_0 / d beta`` for SU(N), N >= 3 (module docstring): ``dc_0/dx`` by
    replacing one column at a time with its derivative, ``I_k' = (I_{k-1} + I_{k+1})/2``, all
    scaled by ``exp(-x)`` (which cancels), ``x = beta/N``."""
    x = beta / N
    k = np.arange(N)[None, :] - np.arange(N)[:, None]  # j - i
    c0 = dc0 = 0.0
    for n in range(-n_max, n_max + 1):
        M = ive(n + k, x)
        dM = 0.5 * (ive(n + k - 1, x) + ive(n + k + 1, x))
        c0 += np.linalg.det(M)
        for j in range(N):
            Mj = M.copy()
            Mj[:, j] = dM[:, j]
            dc0 += np.linalg.det(Mj)
    P = float(dc0 / c0 / N)
    if N * N * P**V >= 1e-13:
        raise ValueError(
            f"SU({N}) at beta = {beta} on {V} plaquettes: finite-volume terms of order "
            f"{N * N * P**V:.1e} are not implemented; use more plaquettes"
        )
    return P


def wilson_loop_2d(group: str, beta: float, n_plaquettes: int, area: int, n_max: int = 60) -> float:
    """Exact ``<Re Tr W>/N`` of a contractible loop enclosing ``area`` plaquettes on a 2D
    torus of ``n_plaquettes`` (Wilson action; module docstring)."""
    V, A = int(n_plaquettes), int(area)
    if not 0 <= A <= V:
        raise ValueError(f"loop area {A} outside 0..{V}")
    if group == "U(1)":
        n = np.arange(-n_max, n_max + 2)
        logc = np.log(np.maximum(ive(n, beta), np.finfo(float).tiny))
        out, inn, ratio = logc[:-1], logc[1:], np.ones(n.size - 1)
        terms = [(out, inn, ratio)]
        logz = logc[:-1]
    elif group == "SU(2)":
        twoj = np.arange(0, 2 * n_max)  # 2j = 0, 1, ...
        logc = np.log(np.maximum(ive(twoj + 1, beta), np.finfo(float).tiny))
        d = twoj + 1.0
        up = (logc[:-1], logc[1:], d[1:] / d[:-1] / 2)  # j -> j + 1/2
        down = (logc[1:], logc[:-1], d[:-1] / d[1:] / 2)  # j -> j - 1/2 (j >= 1/2)
        terms = [up, down]
        logz = logc
    else:
        raise ValueError(f"exact 2D Wilson loops are implemented for U(1) and SU(2), not {group}")
    shift = V * logz.max()
    z = np.exp(V * logz - shift).sum()
    num = sum((np.exp((V - A) * o + A * i - shift) * w).sum() for o, i, w in terms)
    return float(num / z)
