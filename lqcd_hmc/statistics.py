"""Autocorrelation-aware errors: Wolff's Gamma method with automatic windowing.

U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143,
hep-lat/0306017, sections 3.1-3.3 (primary observables, several replicas of equal length).

- ``Gamma(t) = sum_r sum_i (a_ri - abar)(a_r,i+t - abar) / (N - R t)``
- ``tau_int(W) = 1/2 + sum_{t=1}^W Gamma(t)/Gamma(0)``
- window: the first W with ``g(W) = exp(-W/tau) - tau/sqrt(W N) < 0``,
  ``tau = S / ln((2 tau_int + 1)/(2 tau_int - 1))``, S = 1.5
- bias-corrected ``C_F = C(W)(1 + (2W+1)/N)``, error ``sqrt(C_F/N)``,
  ``d tau_int = 2 tau_int sqrt((W + 1/2 - tau_int)/N)`` (Madras-Sokal).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GammaResult:
    mean: float
    error: float
    tau_int: float
    tau_int_error: float
    window: int
    n: int

    def __str__(self) -> str:
        return (f"{self.mean:.6g} +- {self.error:.2g} (tau_int = {self.tau_int:.2f} "
                f"+- {self.tau_int_error:.2f}, W = {self.window}, N = {self.n})")


def autocorrelation(data: np.ndarray, tmax: int) -> np.ndarray:
    """``Gamma(t)`` for t = 0..tmax, replicas along axis 0 (FFT, zero padded)."""
    R, Nr = data.shape
    dev = data - data.mean()
    size = 1 << int(np.ceil(np.log2(2 * Nr)))
    f = np.fft.rfft(dev, n=size, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, : tmax + 1].sum(0)
    return acf / (R * (Nr - np.arange(tmax + 1)))


def gamma_method(data, S: float = 1.5) -> GammaResult:
    """Mean, error and tau_int of a Monte Carlo series ``data`` of shape ``(N,)`` or
    ``(R, N)`` (R replicas, e.g. the chains of a batch)."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"need a series of at least 2 measurements per replica, got shape "
                         f"{np.shape(data)}")
    R, Nr = a.shape
    N = R * Nr
    mean = float(a.mean())
    tmax = Nr // 2
    G = autocorrelation(a, tmax)
    if G[0] <= 0:
        return GammaResult(mean, 0.0, 0.5, 0.0, 0, N)
    W = tmax
    for w in range(1, tmax + 1):
        tau_w = 0.5 + G[1: w + 1].sum() / G[0]
        tau = S / np.log((2 * tau_w + 1) / (2 * tau_w - 1)) if tau_w > 0.5 else 1e-9
        if np.exp(-w / tau) - tau / np.sqrt(w * N) < 0:
            W = w
            break
    C = (G[0] + 2 * G[1: W + 1].sum()) * (1 + (2 * W + 1) / N)
    v = G[0] + C / N
    tau_int = max(C / (2 * v), 0.5)
    dtau = 2 * tau_int * np.sqrt((W + 0.5 - tau_int) / N)
    return GammaResult(mean, float(np.sqrt(max(C, 0) / N)), float(tau_int), float(dtau), W, N)
