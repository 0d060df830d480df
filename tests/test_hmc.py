"""HMC: reversibility, integrator orders, <exp(-dH)> = 1, exact 2D results, batching."""

import math

import numpy as np
import pytest
import torch
from helpers import random_field
from torch.utils._python_dispatch import TorchDispatchMode

from actions import Iwasaki, Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField, Level
from observables import gamma_method, plaquette
from observables.exact import plaquette_2d


@pytest.mark.parametrize("integrator", ["leapfrog", "omelyan2", "omelyan4"])
def test_reversibility(integrator):
    """Forward, flip momenta, forward again: links and momenta return to 1e-10."""
    f = random_field("SU(3)", 4, eps=0.6)
    hmc = HMC(Wilson(6.0), integrator=integrator, n_steps=5, tau=1.0)
    P0 = hmc.momenta(f, ChainRNG(8, 2))
    g, P1 = hmc.molecular_dynamics(f, P0)
    assert (g.links - f.links).abs().max() > 0.1  # it moved
    h, P2 = hmc.molecular_dynamics(g, -P1)
    assert (h.links - f.links).abs().max() < 1e-10
    assert (P2 + P0).abs().max() < 1e-10


@pytest.mark.parametrize(
    "integrator,steps,order",
    [("leapfrog", (32, 64), 2), ("omelyan2", (16, 32), 2), ("omelyan4", (8, 16), 4)],
)
def test_energy_violation_scales_with_order(integrator, steps, order):
    """|dH| ~ eps^order: halving the step divides it by 2^order (log2 ratio within 0.2)."""
    f = random_field("SU(3)", 4, eps=0.5)
    dH = []
    for n in steps:
        hmc = HMC(Wilson(6.0), integrator=integrator, n_steps=n, tau=1.0)
        P = hmc.momenta(f, ChainRNG(3, 2))
        g, P1 = hmc.molecular_dynamics(f, P)
        dH.append((hmc.hamiltonian(g, P1) - hmc.hamiltonian(f, P)).abs())
    slope = torch.log2(dH[0] / dH[1])
    assert torch.all((slope - order).abs() < 0.2), slope


def test_multiple_time_scales():
    """Two levels (S = S1 + S2): reversible, dH = O(eps^2), and the sum action is used in H."""
    f = random_field("SU(2)", 4, eps=0.5)
    s1, s2 = Wilson(1.5), Wilson(1.0)
    dH = []
    for n in (8, 16):
        hmc = HMC(levels=[Level(s1, n, "omelyan2"), Level(s2, 2, "leapfrog")], tau=1.0)
        assert torch.allclose(hmc.action(f), Wilson(2.5)(f))
        P = hmc.momenta(f, ChainRNG(1, 2))
        g, P1 = hmc.molecular_dynamics(f, P)
        dH.append((hmc.hamiltonian(g, P1) - hmc.hamiltonian(f, P)).abs())
        h, P2 = hmc.molecular_dynamics(g, -P1)
        assert (h.links - f.links).abs().max() < 1e-10
    assert hmc.integrator.force_evaluations[1] > hmc.integrator.force_evaluations[0]
    assert torch.all((torch.log2(dH[0] / dH[1]) - 2).abs() < 0.3)


def test_inner_forces_are_reused_not_recomputed():
    """An inner integration starts from the links the previous one ended on: its first force
    is that one's last, reused. The trajectory equals one whose every force is evaluated
    (``dyn.force`` called afresh each time) to the last bit."""
    f = random_field("SU(3)", 4, eps=0.5)
    levels = [Level(Iwasaki(2.6), 3, "omelyan2"), Level(Wilson(0.5), 2, "omelyan2")]
    hmc = HMC(levels=levels, tau=1.0)
    P = hmc.momenta(f, ChainRNG(2, 2))
    g, P1 = hmc.molecular_dynamics(f, P)
    assert hmc.integrator.force_evaluations == [7, 6 * 4 + 1]
    fresh = HMC(levels=levels, tau=1.0)
    calls = []

    def every_time(level, U, dyn):  # the integrator's force without reuse
        calls.append(level)
        return dyn.force(level, U)

    fresh.integrator._force = every_time  # type: ignore[method-assign]
    h, P2 = fresh.molecular_dynamics(f, P)
    assert torch.equal(h.links, g.links) and torch.equal(P2, P1)
    assert calls.count(1) == 6 * 5 and calls.count(0) == 7


def test_levels_from_an_update_table():
    """``[update] levels``: level l integrates the l-th term of ``action.time_scales()``
    (a sum's terms); the forces counted in a trajectory are
    :func:`~lqcd_hmc.integrators.forces_per_trajectory`'s; one level takes the whole action;
    a count that fits neither, or ``steps`` beside ``levels``, is refused."""
    from lqcd_hmc.config import UpdateCard
    from lqcd_hmc.integrators import forces_per_trajectory
    from lqcd_hmc.update import build

    f = random_field("SU(2)", 4, eps=0.5)
    action = Wilson(1.5) + Wilson(1.0)
    card = UpdateCard(levels=[{"steps": 3}, {"integrator": "leapfrog", "steps": 2}])
    assert UpdateCard(**card.model_dump()) == card  # the stored table validates again
    hmc = build("hmc", action, card.config())
    assert [lv.action for lv in hmc.integrator.levels] == action.terms
    assert [lv.n_steps for lv in hmc.integrator.levels] == [3, 2]
    hmc.trajectory(f, ChainRNG(1, 2))
    expected = forces_per_trajectory([("omelyan2", 3), ("leapfrog", 2)])
    assert hmc.integrator.force_evaluations == expected == [7, 13]  # 6 x 2 + 1: 5 reused
    whole = build("hmc", action, UpdateCard(levels=[{"steps": 4}]).config())
    assert [lv.action for lv in whole.integrator.levels] == [action]
    three = UpdateCard(levels=[{"steps": 1}] * 3).config()
    with pytest.raises(ValueError, match="3 levels, but action 'sum' splits into 2 time"):
        build("hmc", action, three)
    with pytest.raises(ValueError, match="update.steps goes in update.levels"):
        UpdateCard(steps=4, levels=[{"steps": 3}])
    with pytest.raises(ValueError, match="levels is not a parameter of algorithm 'heatbath'"):
        UpdateCard(algorithm="heatbath", levels=[{"steps": 3}])


def run_chains(f, hmc, rng, n_therm, n_meas):
    """Thermalise, then return (plaquette history, exp(-dH) history), shape (B, n_meas)."""
    for _ in range(n_therm):
        f, _ = hmc.trajectory(f, rng)
    plaq, edh = [], []
    for _ in range(n_meas):
        f, st = hmc.trajectory(f, rng)
        plaq.append(plaquette(f))
        edh.append(st.exp_minus_dH)
    return f, torch.stack(plaq, 1).numpy(), torch.stack(edh, 1).numpy()


def test_exp_minus_dH_is_one():
    """Creutz's identity <exp(-dH)> = 1, at a coarse step where <dH> is far from 0
    (3 standard errors, Gamma method over 16 chains)."""
    rng = ChainRNG(101, 8)
    f = GaugeField.hot([4, 4, 4, 4], "SU(2)", rng)
    hmc = HMC(Wilson(2.3), integrator="leapfrog", n_steps=6, tau=1.0)
    _, _, edh = run_chains(f, hmc, rng, 15, 50)
    r = gamma_method(edh)
    dH_mean = -np.log(edh).mean()
    assert dH_mean > 0.1  # a test that could fail: the integrator error is large
    assert abs(r.mean - 1) < 3 * r.error, r


@pytest.mark.parametrize(
    "group,dims,beta,torus_matters",
    [
        ("U(1)", (3, 3), 3.0, True),
        ("U(1)", (2, 3), 2.0, True),
        ("SU(2)", (4, 4), 2.0, False),
        ("SU(2)", (2, 2), 4.0, True),
    ],
)
def test_exact_2d_plaquette(group, dims, beta, torus_matters):
    """2D Wilson theory on a small torus: HMC plaquette = character expansion
    (observables.exact) within 3 standard errors (Gamma method, tau_int included); the
    finite-torus value differs from infinite volume, so the torus sum is what is tested."""
    rng = ChainRNG(7, 32)
    f = GaugeField.hot(dims, group, rng)
    hmc = HMC(Wilson(beta), integrator="omelyan2", n_steps=6, tau=1.0)
    _, plaq, edh = run_chains(f, hmc, rng, 30, 150)
    exact = plaquette_2d(group, beta, math.prod(dims))
    infinite = plaquette_2d(group, beta, 10**6)
    r = gamma_method(plaq)
    assert r.error < 0.005
    if torus_matters:  # the data resolve the finite-torus value from the infinite-volume one
        assert abs(exact - infinite) > 6 * r.error
    assert abs(r.mean - exact) < 3 * r.error, (r, exact)
    e = gamma_method(edh)
    assert abs(e.mean - 1) < 3 * e.error, e


def test_batched_chains_equal_single_chains():
    """Chain b of a batched run is the chain a run with only chain b produces (same seed)."""
    seed, B = 42, 3
    hmc = HMC(Wilson(5.8), integrator="omelyan2", n_steps=4, tau=0.5)
    rng = ChainRNG(seed, B)
    f = GaugeField.hot([4, 4, 4, 4], "SU(3)", rng)
    dH = []
    for _ in range(3):
        f, st = hmc.trajectory(f, rng)
        dH.append(st.dH)
    for b in range(B):
        rng_b = ChainRNG(seed, [b])
        g = GaugeField.hot([4, 4, 4, 4], "SU(3)", rng_b)
        for t in range(3):
            g, st = hmc.trajectory(g, rng_b)
            assert torch.allclose(st.dH, dH[t][b : b + 1], rtol=0, atol=1e-11)
        assert torch.allclose(g.links, f.links[b : b + 1], rtol=0, atol=1e-12)


def test_complex64_trajectory_accumulates_in_float64():
    """complex64 links: H in float64, and the same trajectory as complex128 to single
    precision."""
    f = random_field("SU(3)", 4, eps=0.3)
    hmc = HMC(Wilson(6.0), n_steps=8)
    P = hmc.momenta(f, ChainRNG(1, 2))
    dH = {}
    for dtype in (torch.complex128, torch.complex64):
        g, P1 = hmc.molecular_dynamics(f.to(dtype=dtype), P.to(dtype))
        assert g.dtype == dtype
        dH[dtype] = hmc.hamiltonian(g, P1) - hmc.hamiltonian(f.to(dtype=dtype), P.to(dtype))
        assert dH[dtype].dtype == torch.float64
    assert torch.allclose(dH[torch.complex64], dH[torch.complex128], atol=2e-2)
    g, st = hmc.trajectory(f.to(dtype="complex64"), ChainRNG(2, 2))
    assert g.dtype == torch.complex64 and g.unitarity_violation().max() < 1e-5


def test_thermalisation_without_metropolis_accepts_all():
    """From a cold start dH grows with the volume; metropolis=False accepts regardless, and the
    random stream is consumed the same way as with the test."""
    f = GaugeField.cold([4, 4, 4, 4], "SU(3)", batch=2)
    hmc = HMC(Wilson(6.0), integrator="leapfrog", n_steps=2)
    rng_a, rng_b = ChainRNG(3, 2), ChainRNG(3, 2)
    g, st = hmc.trajectory(f, rng_a, metropolis=False)
    assert torch.all(st.accepted) and torch.all(st.dH > 1)
    assert plaquette(g).max() < 0.99
    hmc.trajectory(f, rng_b)
    assert all(torch.equal(a, b) for a, b in zip(rng_a.get_state(), rng_b.get_state()))


class _RecordOps(TorchDispatchMode):
    """Records every aten op: its name (boolean-mask indexing under its own name) and count."""

    def __init__(self):
        super().__init__()
        self.ops, self.count = set(), 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name == "index" and any(i is not None and i.dtype == torch.bool for i in args[1]):
            name = "boolean_mask_index"
        self.ops.add(name)
        self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("kernels", ["reference", "split"])
def test_trajectory_reads_no_value_back_to_the_host(kernels):
    """No op inside a trajectory needs a device value on the host (on a GPU each would be a
    host-device synchronisation): no ``.item()``/``bool()``/``float()`` of a tensor
    (``aten._local_scalar_dense``), no data-dependent shapes (``nonzero``, ``masked_select``,
    boolean-mask indexing), recorded by a dispatch mode around whole trajectories with
    Metropolis tests."""
    syncing = {
        "_local_scalar_dense",
        "nonzero",
        "masked_select",
        "unique",
        "_unique2",
        "equal",
        "is_nonzero",
        "item",
        "boolean_mask_index",
    }
    f = random_field("SU(3)", 4, eps=0.5)
    levels = [Level(Iwasaki(2.6), 2, "omelyan2"), Level(Wilson(0.5), 2, "leapfrog")]
    rec = _RecordOps()
    with rec:
        for hmc in (
            HMC(Wilson(6.0), n_steps=2, kernels=kernels),
            HMC(levels=levels, kernels=kernels),
        ):
            f, stats = hmc.trajectory(f, ChainRNG(1, 2))
    assert {"mm", "bmm", "mul"} & rec.ops  # the mode saw the arithmetic
    assert not rec.ops & syncing, rec.ops & syncing


@pytest.mark.parametrize("kernels", ["reference", "split"])
def test_trajectory_work_does_not_grow_with_the_chains(kernels):
    """No per-chain Python work inside a trajectory: two chains and eight chains dispatch the
    same number of tensor ops (B = 1 is not compared: reshapes of a size-1 axis dispatch
    differently)."""
    counts = []
    for B in (2, 8):
        f = random_field("SU(3)", 4, eps=0.5, batch=B)
        hmc = HMC(Iwasaki(2.6), n_steps=2, kernels=kernels)
        rng = ChainRNG(1, B)
        with _RecordOps() as rec:
            hmc.trajectory(f, rng)
        counts.append(rec.count)
    assert counts[0] == counts[1] and counts[0] > 100


class CountingWilson(Wilson):
    """Wilson that counts its action evaluations."""

    calls = 0

    def __call__(self, field):
        self.calls += 1
        return super().__call__(field)


def test_trajectory_reuses_the_action_of_the_field_it_returned():
    """A trajectory started from the field the last one returned takes the start's S from the
    last one's end (one action evaluation per trajectory, not two), and the chain is bitwise
    the one with fresh evaluations (a copy of the field defeats the cache): 3 chains, 5
    trajectories with accepted and rejected ones. Changing the links in place, or another
    field, is evaluated anew."""
    f = GaugeField.near_identity([4, 4, 4, 4], "SU(3)", ChainRNG(5, 3), 0.6)
    counted, uncached = CountingWilson(5.5), CountingWilson(5.5)
    cached, fresh = HMC(counted, n_steps=3, tau=0.6), HMC(uncached, n_steps=3, tau=0.6)
    ra, rb = ChainRNG(7, 3), ChainRNG(7, 3)
    fa, fb, accepted = f, f, []
    for _ in range(5):
        fa, sa = cached.trajectory(fa, ra)
        fb, sb = fresh.trajectory(GaugeField(fb.links.clone(), fb.group), rb)
        assert torch.equal(sa.dH, sb.dH) and torch.equal(fa.links, fb.links)
        accepted += sa.accepted.tolist()
    assert any(accepted) and not all(accepted)
    assert counted.calls == 1 + 5 and uncached.calls == 2 * 5
    fa.links.mul_(1.0)  # an in-place write bumps the version: evaluated again
    cached.trajectory(fa, ra)
    assert counted.calls == 1 + 5 + 2
