"""Heatbath against HMC (slow: minutes). The 8^4 SU(3) plaquettes against the literature are
campaigns in ``bench/campaigns.py``."""

import pytest
import torch

from actions import Iwasaki, Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.heatbath import Heatbath
from observables import gamma_method, plaquette, wilson_loops


def series(update, field, rng, therm, n):
    """Plaquette and 2x1 loop (all planes and orientations) after each of n updates."""
    for _ in range(therm):
        field, _ = update(field, rng)
    P, R = [], []
    for _ in range(n):
        field, _ = update(field, rng)
        P.append(plaquette(field))
        R.append(wilson_loops(field, 2, 1, "all"))
    return gamma_method(torch.stack(P, 1).numpy()), gamma_method(torch.stack(R, 1).numpy())


@pytest.mark.slow
@pytest.mark.parametrize(
    "action,group,seed",
    [
        (Wilson(5.8), "SU(3)", 1),
        (Iwasaki(2.4), "SU(3)", 2),
        (Wilson(2.3), "SU(2)", 3),
        (Wilson(0.8), "U(1)", 4),
    ],
    ids=["wilson-su3", "iwasaki-su3", "wilson-su2", "wilson-u1"],
)
def test_heatbath_agrees_with_hmc(action, group, seed):
    """Two independent algorithms, same ensemble (4^4, 4 chains each): plaquette and 2x1
    loop agree within 3 combined standard errors (Gamma method, tau_int included)."""
    dims = (4, 4, 4, 4)
    rng = ChainRNG(seed, 4)
    hb = Heatbath(action, overrelaxation=2)
    hb_P, hb_R = series(hb.update, GaugeField.hot(dims, group, rng), rng, 30, 200)
    rng = ChainRNG(seed + 100, 4)
    hmc = HMC(action, integrator="omelyan2", n_steps=8, tau=1.0)
    f = GaugeField.hot(dims, group, rng)
    for _ in range(10):
        f, _ = hmc.trajectory(f, rng, metropolis=False)
    hmc_P, hmc_R = series(hmc.trajectory, f, rng, 30, 200)
    for a, b in ((hb_P, hmc_P), (hb_R, hmc_R)):
        sigma = (a.error**2 + b.error**2) ** 0.5
        print(f"heatbath {a}\nHMC      {b}")
        assert abs(a.mean - b.mean) < 3 * sigma
        assert sigma < 0.01
