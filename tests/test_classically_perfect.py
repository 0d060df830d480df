"""Parametrisations that keep classical perfection (``actions.fixed_point.perfect``): the loops
that carry the free FP action, the constrained ``fp-param`` fit (SU(2) and SU(3)) and the L-CNN
trained with the constraint (SU(2) and SU(3)), against the smooth-field targets of the FP-kernel
issue: small plane waves at every ka <= pi/2 within 1e-3 of the exact FP value, constant flux
n = 1, 2 on (4, 4, 2, 2) within 2e-3 of the continuum action."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from actions import Wilson
from actions.fixed_point import Blocking, FixedPoint
from actions.fixed_point.free import D, momenta, wilson_kernel
from actions.fixed_point.free_fixed_point import free_fixed_point
from actions.fixed_point.parametrisation import fit, least_squares
from actions.fixed_point.perfect import (
    LOOPS,
    kernel_errors,
    loop_coefficients,
    loop_densities,
    loop_kernel,
    plane_wave_fp,
    shape_paths,
)
from lqcd_hmc import ChainRNG, GaugeField, build
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.smooth import plane_wave
from observables.classical import flux_deviations

DIMS = (2, 16, 2, 2)  # plane waves along axis 1: ka = n pi/8, n = 1..4


@pytest.fixture(scope="module")
def free():
    k = Blocking()
    return free_fixed_point(k.c, k.kappa, k.c_diagonal, L=7, tolerance=1e-9)


def plane_wave_errors(action, free, group: str) -> list[float]:
    """``A / A_FP - 1`` of plane waves of amplitude 1e-3, modes n = 1..4 on DIMS."""
    out = []
    for n in (1, 2, 3, 4):
        A = float(action(plane_wave(DIMS, group, n, 1e-3))[0])
        out.append(A / plane_wave_fp(free, DIMS, group, n, 1e-3) - 1)
    return out


def flux_errors(action, group: str) -> list[float]:
    return [r["deviation"] for r in flux_deviations(action, 1.0, group, (4, 4, 2, 2), [1, 2])]


def test_loops_carry_their_quadratic_kernel():
    """Each shape's distinct loops (6 plaquettes, 12 1x2, 12 1x3, 48 chairs, 16 twisted loops
    per site), the plaquette's kernel is Wilson's, and the nonlinear loop densities on a U(1)
    field of amplitude 1e-4 equal the quadratic form of ``loop_kernel`` (relative 1e-7)."""
    assert [len(shape_paths(s)) for s in LOOPS] == [6, 12, 12, 48, 16]
    assert (loop_kernel(momenta(4), "1x1") - wilson_kernel(momenta(4))).abs().max() < 1e-14
    L = 4
    g = torch.Generator().manual_seed(4)
    theta = 1e-4 * torch.randn(D, *(L,) * D, generator=g, dtype=torch.float64)
    field = GaugeField(torch.polar(torch.ones_like(theta), theta)[None, ..., None, None], "U(1)")
    th = (torch.fft.fftn(theta, dim=(1, 2, 3, 4)) / L**D).reshape(D, -1).T
    values = loop_densities(field).flatten(2).sum(2)[0]
    for i, shape in enumerate(LOOPS):
        K = loop_kernel(momenta(L), shape)
        quad = L**D / 2 * torch.einsum("qm,qmn,qn->", th.conj(), K, th).real
        assert float(values[i]) == pytest.approx(float(quad), rel=1e-7)


def test_five_loop_shapes_reproduce_the_free_fp(free):
    """The fitted loop coefficients reproduce the free FP kernel to 1e-4 along the axes
    (ka <= pi/2; 6e-5 measured) and to 1e-2 over every momentum with |q| <= pi/2 (8e-3),
    where the plaquette alone (Wilson) misses by 3.2e-2 and 8.0e-2."""
    err = kernel_errors(free, loop_coefficients(free))
    assert err["axis"] < 1e-4 and err["ball"] < 1e-2, err
    wilson = kernel_errors(free, torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64))
    assert wilson["axis"] > 2e-2 and wilson["ball"] > 5e-2, wilson


def _fp_data(group: str, n: int, seed: int) -> tuple[GaugeField, torch.Tensor, torch.Tensor]:
    """FP values and derivatives of ``n`` Wilson configurations (2^4, heatbath, beta 4 for SU(2)
    and 8 for SU(3)), default kernel, one level."""
    rng = ChainRNG(seed, n)
    beta = {"SU(2)": 4.0, "SU(3)": 8.0}[group]
    f = GaugeField.hot([2, 2, 2, 2], group, rng)
    hb = Heatbath(Wilson(beta), 1)
    for _ in range(20):
        f = hb.update(f, rng)[0]
    r = FixedPoint(levels=1, tolerance=1e-8)(f)
    assert r.converged
    return f, r.action, r.derivative


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_least_squares_is_the_constrained_ridge_minimum(ridge):
    """``least_squares`` with an exact constraint ``Z p = t`` and a ridge penalty: ``Z p = t``
    to rounding and the gradient of ``|X p - A|^2/|A|^2 + |Y p - dA|^2/|dA|^2 + ridge |p|^2``
    vanishes along the constraint's null space (normal equations, 1e-10)."""
    g = torch.Generator().manual_seed(5)
    X, Y = torch.randn(20, 6, generator=g), torch.randn(50, 6, generator=g)
    A, dA = torch.randn(20, generator=g), torch.randn(50, generator=g)
    Z, t = torch.randn(2, 6, generator=g), torch.randn(2, generator=g)
    X, Y, A, dA, Z, t = (x.double() for x in (X, Y, A, dA, Z, t))
    p = least_squares(X, Y, A, dA, exact=(Z, t), ridge=ridge)
    assert (Z @ p - t).abs().max() < 1e-12
    grad = X.T @ (X @ p - A) / A.norm() ** 2 + Y.T @ (Y @ p - dA) / dA.norm() ** 2 + ridge * p
    K = torch.linalg.svd(Z).Vh[2:].T
    assert (K.T @ grad).abs().max() < 1e-10
    with pytest.raises(ValueError, match="ridge"):
        least_squares(X, Y, A, dA, ridge=-1.0)


@pytest.mark.parametrize("group", ["SU(2)", "SU(3)"])
def test_constrained_fp_param_meets_the_smooth_field_targets(free, group):
    """``fit(..., free=...)`` on FP data of 4 configurations: plane waves within 1e-3 of the
    exact FP value and flux exact (a constraint of the fit, to rounding; the issue asked 2e-3:
    weighted rows had left -4.2e-3 on the shipped model's data); the unconstrained fit of the same
    data misses at least one target (it is what the FP-kernel issue measured: -3e-2 on flux),
    a ridge penalty keeps flux exact while it shrinks the coefficients, and Wilson misses both
    (-1.28e-2, -5.04e-2 on flux)."""
    f, A, dA = _fp_data(group, 4, 21)
    param = fit([f], A, dA, free=free)
    assert all(sum(t) >= 2 for t in param.terms) and list(param.loops) == list(LOOPS)
    pw, fl = plane_wave_errors(param, free, group), flux_errors(param, group)
    assert max(map(abs, pw)) < 1e-3, pw
    assert max(map(abs, fl)) < 1e-12, fl
    damped = fit([f], A, dA, free=free, ridge=0.1)
    assert max(map(abs, flux_errors(damped, group))) < 1e-12
    assert damped.coefficients.norm() < param.coefficients.norm()
    plain = fit([f], A, dA)
    misses = (
        max(map(abs, plane_wave_errors(plain, free, group))) > 1e-3
        or max(map(abs, flux_errors(plain, group))) > 2e-3
    )
    assert misses
    W = Wilson(1.0)
    assert max(map(abs, flux_errors(W, group))) > 2e-2
    assert max(map(abs, plane_wave_errors(W, free, group))) > 1e-2


@pytest.mark.parametrize("group,data", [("SU(2)", "fp_data"), ("SU(3)", "fp_data_su3")])
def test_trained_lcnn_meets_the_smooth_field_targets(group, data, request, tmp_path, free):
    """An L-CNN trained (3 epochs) with the default, classically perfect card on FP data (SU(2):
    three betas, 12 configurations; SU(3): beta 8, 4): plane waves within 1e-3 of the exact FP
    value, flux within 2e-3 of the continuum."""
    from lqcd_hmc.cli import main

    fp_data = request.getfixturevalue(data)
    card = tmp_path / "train.toml"
    card.write_text(
        f"""
[data]
file = "{(fp_data / "fp.h5").as_posix()}"
[model]
channels = [4, 4]
kernel_sizes = [2, 1]
free_box = 7
[training]
epochs = 3
batch_size = 3
[output]
checkpoint = "{(tmp_path / "m.pt").as_posix()}"
"""
    )
    res = CliRunner().invoke(main, ["train", str(card), "--json"])
    assert res.exit_code == 0, res.output
    json.loads(res.output)
    act = build({"name": "lcnn", "beta": 1.0, "checkpoint": str(tmp_path / "m.pt")})
    pw, fl = plane_wave_errors(act, free, group), flux_errors(act, group)
    assert max(map(abs, pw)) < 1e-3, pw
    assert max(map(abs, fl)) < 2e-3, fl
