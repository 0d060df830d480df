"""Autocorrelation-aware errors: Wolff's Gamma method with automatic windowing.

U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143,
hep-lat/0306017, sections 3.1-3.3 (primary observables, several replicas of equal length).

- ``Gamma(t) = sum_r sum_i (a_ri - abar)(a_r,i+t - abar) / (N - R t)``
- ``tau_int(W) = 1/2 + sum_{t=1}^W Gamma(t)/Gamma(0)``
- window: the first W with ``g(W) = exp(-W/tau) - tau/sqrt(W N) < 0``,
  ``tau = S / ln((2 tau_int + 1)/(2 tau_int - 1))``, S = 1.5
- bias-corrected ``C_F = C(W)(1 + (2W+1)/N)``, error ``sqrt(C_F/N)``,
  ``d tau_int = 2 tau_int sqrt((W + 1/2 - tau_int)/N)`` (Madras-Sokal; NaN when
  tau_int > W + 1/2, a series too short for its autocorrelation).

Derived quantities ``F = f(A_1, ..., A_n)`` of several primary means (Wolff section 3.3): the
fluctuations are projected on the gradient, ``a_F = sum_alpha (df/dA_alpha) a_alpha``, and the
projected series goes through the same windowing; the gradient is a central finite difference
at the means. Where a fit needs them: :func:`covariance` (Gamma-method variances, sample
correlations), :func:`bin_series`
and :func:`jackknife`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
        return (
            f"{self.mean:.6g} +- {self.error:.2g} (tau_int = {self.tau_int:.2f} "
            f"+- {self.tau_int_error:.2f}, W = {self.window}, N = {self.n})"
        )


def with_error(value: float | None, error: float | None) -> str:
    """``0.5565(27)``: the error to two significant digits, the value to the same decimal
    (``123400(5600)`` when the error is 100 or more); ``"n/a"`` for a missing or non-finite
    value, six significant digits when there is no error."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.6g}"
    decimals = 1 - math.floor(math.log10(error))
    if round(error, decimals) >= 10 ** (2 - decimals):  # 0.0996 -> 0.10: one digit fewer
        decimals -= 1
    if decimals > 0:
        return f"{value:.{decimals}f}({round(error * 10**decimals):d})"
    step = 10 ** (-decimals)
    return f"{round(value / step) * step:.0f}({round(error / step) * step:.0f})"


def autocorrelation(data: np.ndarray, tmax: int) -> np.ndarray:
    """``Gamma(t)`` for t = 0..tmax, replicas along axis 0 (FFT, zero padded)."""
    R, Nr = data.shape
    dev = data - data.mean()
    size = 1 << int(np.ceil(np.log2(2 * Nr)))
    f = np.fft.rfft(dev, n=size, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, : tmax + 1].sum(0)
    return acf / (R * (Nr - np.arange(tmax + 1)))


def _replicas(data) -> np.ndarray:
    a = np.asarray(data, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(
            f"need a series of at least 2 measurements per replica, got shape {np.shape(data)}"
        )
    return a


def gamma_method(data, S: float = 1.5, mean: float | None = None) -> GammaResult:
    """Mean, error and tau_int of a Monte Carlo series ``data`` of shape ``(N,)`` or
    ``(R, N)`` (R replicas, e.g. the chains of a batch); ``mean`` replaces the reported
    central value (a derived quantity's ``f(abar)``)."""
    a = _replicas(data)
    R, Nr = a.shape
    N = R * Nr
    centre = float(a.mean()) if mean is None else float(mean)
    W, G = _window(a, S)
    if G[0] <= 0:
        return GammaResult(centre, 0.0, 0.5, 0.0, 0, N)
    C = (G[0] + 2 * G[1 : W + 1].sum()) * (1 + (2 * W + 1) / N)
    v = G[0] + C / N
    tau_int = max(C / (2 * v), 0.5)
    # Madras-Sokal needs tau_int <= W + 1/2; beyond it (a series too short to resolve its
    # autocorrelation) the error of tau_int is unknown, not zero
    dtau = 2 * tau_int * math.sqrt((W + 0.5 - tau_int) / N) if tau_int <= W + 0.5 else math.nan
    # tau_int >= 1/2: a short series whose autocorrelation sum comes out negative gets the
    # naive error of uncorrelated data, not a smaller one (or zero)
    return GammaResult(centre, float(np.sqrt(max(C, G[0]) / N)), float(tau_int), float(dtau), W, N)


def _window(a: np.ndarray, S: float) -> tuple[int, np.ndarray]:
    """Wolff's automatic window W and ``Gamma(0..Nr/2)`` of replicas ``a`` ``(R, Nr)``."""
    R, Nr = a.shape
    N = R * Nr
    tmax = Nr // 2
    G = autocorrelation(a, tmax)
    if G[0] <= 0:
        return 0, G
    W = tmax
    for w in range(1, tmax + 1):
        tau_w = 0.5 + G[1 : w + 1].sum() / G[0]
        tau = S / np.log((2 * tau_w + 1) / (2 * tau_w - 1)) if tau_w > 0.5 else 1e-9
        if np.exp(-w / tau) - tau / np.sqrt(w * N) < 0:
            W = w
            break
    return W, G


def _gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``df_i/dx_j`` by central differences, shape ``(n_out, n_in)``."""
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h[j]
        cols.append((np.atleast_1d(f(x + e)) - np.atleast_1d(f(x - e))) / (2 * h[j]))
    return np.stack(cols, axis=-1)


def derived(f: Callable[[np.ndarray], np.ndarray], data, S: float = 1.5) -> list[GammaResult]:
    """Gamma-method results for ``f(means)``: ``data`` ``(n_in, R, N)`` (or ``(n_in, N)``)
    holds the primary series, ``f`` maps the ``(n_in,)`` means to ``(n_out,)`` values (Wolff
    section 3.3; gradient by central differences with steps of 1e-4 standard errors)."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, None, :]
    means = a.mean(axis=(1, 2))
    sd = a.std(axis=(1, 2)) / np.sqrt(a.shape[1] * a.shape[2])
    h = np.where(sd > 0, 1e-4 * sd, 1e-7 * np.maximum(np.abs(means), 1.0))
    value = np.atleast_1d(np.asarray(f(means), dtype=np.float64))
    grad = _gradient(f, means, h)
    proj = np.einsum("oi,irn->orn", grad, a - means[:, None, None])
    return [gamma_method(proj[o], S, mean=value[o]) for o in range(value.size)]


def covariance(data, S: float = 1.5) -> np.ndarray:
    """Covariance matrix of the means of ``data`` ``(n, R, N)``: ``C = D^(1/2) rho D^(1/2)``
    with D the squared Gamma-method errors (each with its own automatic window) and rho the
    plain sample correlation matrix. Unlike a windowed estimate of every ``Gamma_ij`` it is
    positive semi-definite by construction, so correlated chi^2 values are never negative."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, None, :]
    err = np.array([gamma_method(a[i], S).error for i in range(a.shape[0])])
    dev = (a - a.mean(axis=(1, 2))[:, None, None]).reshape(a.shape[0], -1)
    sd = np.sqrt((dev**2).mean(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(np.outer(sd, sd) > 0, dev @ dev.T / dev.shape[1] / np.outer(sd, sd), 0.0)
    np.fill_diagonal(rho, 1.0)
    return rho * np.outer(err, err)


def bin_series(data, size: int) -> np.ndarray:
    """Means of consecutive bins of ``size`` along the last axis (a remainder is dropped)."""
    a = np.asarray(data, dtype=np.float64)
    nb = a.shape[-1] // size
    if nb < 2:
        raise ValueError(f"bin size {size} leaves fewer than 2 bins of {a.shape[-1]}")
    return a[..., : nb * size].reshape(*a.shape[:-1], nb, size).mean(-1)


def jackknife(
    f: Callable[[np.ndarray], np.ndarray], data, bin_size: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delete-one-bin jackknife of ``f(means)`` for ``data`` ``(n_in, N)``:
    ``(f(mean), error, samples)``, error ``sqrt((K-1)/K sum_k (f_k - fbar)^2)``."""
    b = bin_series(data, bin_size)
    K = b.shape[-1]
    total = b.sum(-1)
    samples = np.stack([np.atleast_1d(f((total - b[..., k]) / (K - 1))) for k in range(K)])
    centre = np.atleast_1d(f(b.mean(-1)))
    err = np.sqrt((K - 1) / K * ((samples - samples.mean(0)) ** 2).sum(0))
    return centre, err, samples
