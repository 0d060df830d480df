"""The free-field limit of the blocking kernel (``actions.fixed_point.free``): the quadratic
Wilson kernel and the linear blocking map against the nonlinear code on small fields, gauge
covariance, the white-noise weight that decides whether a free fixed point exists (it does not
at c = 0.05), and the refusal of bad kernels."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from actions import Wilson
from actions.fixed_point import Blocking
from actions.fixed_point.free import D, blocking_map, hat, momenta, noise_weight, wilson_kernel
from lqcd_hmc.field import GaugeField


def _small_u1(L: int, eps: float, seed: int) -> tuple[torch.Tensor, GaugeField]:
    g = torch.Generator().manual_seed(seed)
    theta = eps * torch.randn(D, *(L,) * D, generator=g, dtype=torch.float64)
    links = torch.polar(torch.ones_like(theta), theta)[None, ..., None, None]
    return theta, GaugeField(links, "U(1)")


def _fourier(theta: torch.Tensor) -> torch.Tensor:
    """``theta(q)`` with ``theta(x) = sum_q e^{iqx} theta(q)``, shape ``(L^D, D)``."""
    L = theta.shape[1]
    return (torch.fft.fftn(theta, dim=tuple(range(1, D + 1))) / L**D).reshape(D, -1).T


def test_wilson_kernel_is_the_wilson_action_at_small_fields():
    """(V/2) sum_q theta^dag rho_W theta equals the Wilson action of a U(1) field of amplitude
    1e-4 up to its O(theta^4) part (relative 1e-7)."""
    L = 4
    theta, field = _small_u1(L, 1e-4, 1)
    th = _fourier(theta)
    quad = (L**D / 2) * torch.einsum("qm,qmn,qn->", th.conj(), wilson_kernel(momenta(L)), th)
    assert float(Wilson(1.0)(field)) == pytest.approx(float(quad.real), rel=1e-7)


def test_blocking_map_is_the_linearised_kernel():
    """The phase of the blocked fat link of ``Blocking`` on a small U(1) field equals
    sum_n M_n(q) theta(p_n) (to O(theta^3): 1e-11 at amplitude 1e-4), for c = 0 and c > 0;
    and M_n maps each fine gauge direction onto the coarse one (gauge covariance)."""
    Lf, Lc = 8, 4
    theta, field = _small_u1(Lf, 1e-4, 2)
    p = momenta(Lf)
    for c in (0.0, 0.1):
        phase = torch.angle(Blocking(c=c).blocked(field.links)[0, ..., 0, 0])
        contrib = (blocking_map(p, c) @ _fourier(theta)[..., None])[..., 0]
        contrib = contrib.reshape(*(Lf,) * D, D)
        phi_q = sum(
            contrib[tuple(slice(n_mu * Lc, (n_mu + 1) * Lc) for n_mu in n)]
            for n in itertools.product((0, 1), repeat=D)
        )
        phi = torch.fft.ifftn(phi_q * Lc**D, dim=tuple(range(D))).real.permute(4, 0, 1, 2, 3)
        assert (phi - phase).abs().max() < 1e-11
        # gauge covariance: M(p) (e^{ip} - 1) = e^{2ip} - 1, the coarse direction at q = 2p
        Mh = (blocking_map(p, c) @ hat(p)[..., None])[..., 0]
        assert torch.allclose(Mh, hat(2 * p), atol=1e-14)


def test_white_noise_weight_decides_whether_a_free_fixed_point_exists():
    """2^-D sum_n |M_n|^2 at small q: 1.04 for c = 0.05, so the white noise the kernel adds
    each step is not contracted and the free FP does not exist; 0.56 at c = 0.1. With c = 0
    (two links multiplied, no smearing) it is 2: every step doubles the noise. Pinned against
    the sum written out by hand for q -> 0: the aliases with n_0 = 0 and j of the other three
    n_nu = 1 give 4 (1 - 4cj)^2 / 16 each."""
    for c in (0.0, 0.05, 0.1):
        by_hand = sum(math.comb(3, j) * 4 * (1 - 4 * c * j) ** 2 for j in range(4)) / 16
        off_diagonal = noise_weight(c) - by_hand  # the staples' K_{0 nu}: O(c^2 q^2)
        assert abs(off_diagonal) < 1e-4, (c, off_diagonal)
    assert noise_weight(0.05) == pytest.approx(1.04, abs=1e-3)
    assert noise_weight(0.1) == pytest.approx(0.56, abs=1e-3)
    assert noise_weight(0.0) == pytest.approx(2.0, abs=1e-3)


@pytest.mark.parametrize(
    "kw,expect",
    [
        ({"kappa": 0.0}, "kappa must be positive"),
        ({"kappa": -1.0}, "kappa must be positive"),
        ({"kappa": float("nan")}, "kappa must be positive"),
        ({"c": -0.1}, "c must be in [0, 1/6]"),
        ({"c": 0.2}, "c must be in [0, 1/6]"),
    ],
)
def test_bad_kernels_are_refused(kw, expect):
    with pytest.raises(ValueError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        Blocking(**kw)


def test_one_level_quadratic_form_is_the_nonlinear_fp_equation_on_small_plane_waves():
    """A_FP of SU(2) plane waves along T^3 (q = (pi/2, 0, 0, 0), polarised along direction 1),
    solved by ``FixedPoint`` with one level and the Wilson action on the finest lattice, against
    the quadratic prediction (V/4) eps^2 rho'_11(q) / (2N) of one exact RG step from the Wilson
    kernel (a field along one generator carries Tr H^2 = 1/2: 1/(2N) of the U(1)
    normalisation): A/eps^2 converges to it as eps^2 (measured deviations 1.3e-7 at
    eps = 0.01 and 1.15e-6 at 0.03, ratio 8.9)."""
    from actions.fixed_point import FixedPoint
    from actions.fixed_point.free import multilevel_kernel
    from lqcd_hmc.groups import SU

    L, c, kappa = 4, 0.1, 8.0
    rho = multilevel_kernel(L, 1, c, kappa).reshape(*(L,) * D, D, D)
    solver = FixedPoint(
        Blocking(c=c, kappa=kappa), levels=1, finest={"name": "wilson", "beta": 1.0}
    )
    x = torch.stack(torch.meshgrid(*[torch.arange(L, dtype=torch.float64)] * D, indexing="ij"), -1)
    G = SU(2)
    deviation = []
    for eps in (1e-2, 3e-2):
        w = torch.zeros(D, *(L,) * D, 3, dtype=torch.float64)
        w[1, ..., 2] = eps * torch.cos(x[..., 0] * 2 * math.pi / L)
        result = solver(GaugeField(G.exp(G.from_coords(w))[None], "SU(2)"))
        assert result.converged
        predicted = L**D / 4 * eps**2 * float(rho[1, 0, 0, 0][1, 1].real) / (2 * 2)
        deviation.append(float(result.action) / predicted - 1)
    assert abs(deviation[0]) < 1e-6
    assert 7 < deviation[1] / deviation[0] < 11  # O(eps^2)
