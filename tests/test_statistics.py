"""Derived quantities, covariance, binning and jackknife (lqcd_hmc.statistics), checked against
exact AR(1) results and against pyerrors (an independent implementation of Wolff's method)."""

import math
import warnings

import numpy as np
import pytest
import scipy.signal

from lqcd_hmc.statistics import (
    bin_series,
    covariance,
    derived,
    gamma_method,
    jackknife,
    with_error,
)


def ar1(rho, shape, seed):
    e = np.random.default_rng(seed).standard_normal(shape)
    return scipy.signal.lfilter([1.0], [1.0, -rho], e, axis=-1) * math.sqrt(1 - rho**2)


def test_derived_linear_is_exact():
    """f = 2a - 3b is linear: the projected series is exactly 2a - 3b."""
    a, b = ar1(0.5, (2, 3000), 1), ar1(0.7, (2, 3000), 2)
    (r,) = derived(lambda m: np.array([2 * m[0] - 3 * m[1]]), np.stack([a, b]))
    ref = gamma_method(2 * a - 3 * b)
    assert math.isclose(r.mean, ref.mean, abs_tol=1e-12)
    assert math.isclose(r.error, ref.error, rel_tol=1e-6)
    assert math.isclose(r.tau_int, ref.tau_int, rel_tol=1e-6)


def test_derived_ratio_against_pyerrors():
    """A ratio of two correlated autocorrelated means: value, error and tau_int agree with
    pyerrors' derived_observable + gamma_method at the same S = 1.5."""
    pe = pytest.importorskip("pyerrors")
    n = 4000
    common = ar1(0.8, n, 3)
    a = 2.0 + common + 0.3 * ar1(0.2, n, 4)
    b = 1.0 + 0.5 * common + 0.3 * ar1(0.9, n, 5)
    (r,) = derived(lambda m: np.array([m[0] / m[1]]), np.stack([a, b]))
    oa, ob = pe.Obs([a], ["ens"]), pe.Obs([b], ["ens"])
    q = oa / ob
    q.gamma_method(S=1.5)
    assert math.isclose(r.mean, q.value, rel_tol=1e-12)
    assert math.isclose(r.error, q.dvalue, rel_tol=0.02), (r, q.dvalue)
    assert math.isclose(r.tau_int, q.e_tauint["ens"], rel_tol=0.05), (r, q.e_tauint)


def test_gamma_method_replicas_against_pyerrors():
    pe = pytest.importorskip("pyerrors")
    x = ar1(0.7, (3, 2000), 6) + 1.0
    r = gamma_method(x)
    o = pe.Obs(list(x), ["ens|r0", "ens|r1", "ens|r2"])
    o.gamma_method(S=1.5)
    assert math.isclose(r.error, o.dvalue, rel_tol=0.02), (r, o.dvalue)


def test_covariance():
    """Diagonal = squared Gamma errors; independent series have a correlation within a few
    1/sqrt(N) of 0, identical ones exactly 1, a + b and a a correlation 1/sqrt(2); positive
    semi-definite even for few, strongly autocorrelated samples."""
    a = ar1(0.6, (2, 5000), 7)
    b = ar1(0.6, (2, 5000), 8)
    C = covariance(np.stack([a, b, a, a + b]))
    ra, rb = gamma_method(a), gamma_method(b)
    assert math.isclose(C[0, 0], ra.error**2, rel_tol=1e-12)
    assert math.isclose(C[1, 1], rb.error**2, rel_tol=1e-12)
    corr = C / np.sqrt(np.outer(np.diag(C), np.diag(C)))
    assert abs(corr[0, 1]) < 4 / math.sqrt(10000)
    assert math.isclose(corr[0, 2], 1.0, rel_tol=1e-12)
    assert math.isclose(corr[0, 3], 1 / math.sqrt(2), rel_tol=0.05)
    assert np.allclose(C, C.T)
    few = ar1(0.95, (6, 2, 8), 11)
    assert np.linalg.eigvalsh(covariance(few)).min() > -1e-15


def test_binning_and_jackknife():
    """iid data: jackknife error of the mean = standard error; of a smooth function the
    linearised error; bins of size >= 2 tau_int recover the Gamma error of AR(1) data."""
    rs = np.random.default_rng(9)
    x = rs.normal(3.0, 1.0, 4000)
    c, e, s = jackknife(lambda m: m, x[None])
    assert math.isclose(c[0], x.mean()) and s.shape == (4000, 1)
    assert math.isclose(e[0], x.std(ddof=1) / math.sqrt(x.size), rel_tol=1e-9)
    c, e, _ = jackknife(lambda m: m**2, x[None], bin_size=10)
    assert math.isclose(e[0], 2 * 3.0 * 1.0 / math.sqrt(x.size), rel_tol=0.1)
    y = ar1(0.9, 40000, 10)
    g = gamma_method(y)
    _, eb, _ = jackknife(lambda m: m, y[None], bin_size=200)
    assert math.isclose(eb[0], g.error, rel_tol=0.2)
    assert bin_series(np.arange(10.0), 3).tolist() == [1.0, 4.0, 7.0]
    with pytest.raises(ValueError):
        bin_series(np.arange(3.0), 2)


def test_anticorrelated_short_series_keeps_the_naive_error():
    """An alternating series has a negative autocorrelation sum; the error is floored at the
    naive error of uncorrelated data (tau_int >= 1/2), never zero."""
    x = np.tile([1.0, -1.0], 8) + 0.01 * np.arange(16)
    r = gamma_method(x)
    assert r.tau_int == 0.5
    assert r.error == pytest.approx(np.sqrt(np.var(x) / x.size), rel=1e-12)


def test_tau_int_error_of_an_unresolved_series_is_nan():
    """Two measurements: tau_int comes out beyond W + 1/2, where the Madras-Sokal error of
    tau_int is undefined; it is NaN (not zero, not a warning), and the report prints the
    value of tau_int without an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gamma_method([0.0, 1.0])
    assert r.tau_int > r.window + 0.5
    assert math.isnan(r.tau_int_error)
    assert with_error(r.tau_int, r.tau_int_error) == f"{r.tau_int:.6g}"
    assert math.isfinite(gamma_method(np.arange(6.0)).tau_int_error)


@pytest.mark.parametrize(
    "value,error,text",
    [
        (0.556462, 0.0027, "0.5565(27)"),
        (0.5, 0.0996, "0.50(10)"),  # the error rounds up to one more digit
        (1.23456, 0.00999, "1.235(10)"),
        (-0.075, 0.025, "-0.075(25)"),
        (3.14159, 1.5, "3.1(15)"),
        (1234.5, 56.0, "1234(56)"),
        (123456.0, 5600.0, "123500(5600)"),
        (0.5, 0.000123, "0.50000(12)"),
        (1.0, 0.0, "1"),
        (float("nan"), 1.0, "n/a"),
    ],
)
def test_values_are_rounded_to_their_error(value, error, text):
    """Two significant digits of the error, the value to the same decimal."""
    assert with_error(value, error) == text
