"""Split-layout kernels (lqcd_hmc.kernels) against the complex reference path: algebra,
actions and forces to 1e-12 in complex128, HMC trajectories equal and reversible; the compiled
path (torch.compile) in the slow suite."""

import pytest
import torch
from helpers import random_field

from actions import DBW2, Clover, Iwasaki, LuscherWeisz, Symanzik, TadpoleSymanzik, Wilson
from lqcd_hmc import HMC, ChainRNG, GaugeField
from lqcd_hmc.action import Action
from lqcd_hmc.groups import SU, U1, get_group
from lqcd_hmc.kernels import SplitDynamics, from_split, planar_terms, to_split
from lqcd_hmc.kernels import split as sp
from lqcd_hmc.kernels.planar import (
    gradient_force,
    loop_action,
    plane_action_force,
    plane_force,
    plane_rectangle_loops,
    plane_rectangle_staples,
)
from lqcd_hmc.loops import rectangle_re_trace

PLANAR = [
    Wilson(5.9),
    Symanzik(4.2),
    Iwasaki(2.6),
    DBW2(1.0),
    LuscherWeisz(3.0, -0.05),
    Wilson(2.0) + Iwasaki(1.3),
]


def _split_action(action, U):
    """The action from :func:`loop_action` on split links ``U``."""
    loops, k = planar_terms(action, U.shape[1])
    return loop_action(U, loops, torch.tensor(k, dtype=torch.float64))


def _matrices(N, shape=(5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*shape, N, N, 2, generator=g, dtype=torch.float64)
        .view(torch.complex128)
        .squeeze(-1)
    )


def test_layout_round_trip_and_products():
    A, B = _matrices(3, seed=1), _matrices(3, seed=2)
    SA, SB = to_split(A), to_split(B)
    assert SA.shape == (2, 3, 3, 5, 3) and SA.is_contiguous()
    assert torch.equal(from_split(SA), A)
    assert (from_split(sp.mul(SA, SB)) - A @ B).abs().max() < 1e-14
    assert torch.equal(from_split(sp.dag(SA)), A.mH)
    assert (
        sp.re_trace_dag(SA, SB) - (A @ B.mH).diagonal(dim1=-2, dim2=-1).sum(-1).real
    ).abs().max() < 1e-14
    assert torch.equal(to_split(A.conj()), to_split(A.conj().resolve_conj()))


@pytest.mark.parametrize("group", ["SU(2)", "SU(3)", "U(1)"])
def test_projection_and_exponential(group):
    """Pi and exp equal the group's own; SU(3) also near the Taylor branch (|Q| ~ 1e-4) and
    with both signs of det Q (the c0 < 0 conjugation)."""
    G = get_group(group)
    M = _matrices(G.N, shape=(64,))
    X = G.project_algebra(M)
    assert (from_split(sp.project_algebra(to_split(M))) - X).abs().max() < 1e-14
    for scale in (1e-4, 0.3, 1.0, 3.0):
        ref = G.exp(scale * X)
        assert (from_split(sp.exp_algebra(to_split(scale * X))) - ref).abs().max() < 1e-13
    if group == "SU(3)":
        c0 = (X @ X @ X).diagonal(dim1=-2, dim2=-1).sum(-1).imag
        assert (c0 > 0).any() and (c0 < 0).any()


def test_exponential_refuses_other_groups():
    X = to_split(SU(4).project_algebra(_matrices(4)))
    with pytest.raises(ValueError, match="not N = 4"):
        sp.exp_algebra(X)


@pytest.mark.parametrize("action", PLANAR, ids=repr)
@pytest.mark.parametrize("group", ["SU(3)", "SU(2)"])
def test_planar_action_and_force_equal_reference(action, group):
    """Hot field (the largest loops), complex128: S to 1e-12 relative, F to 1e-12."""
    f = random_field(group, 4)
    U = to_split(f.links)
    S = _split_action(action, U)
    S_ref = action(f)
    assert ((S - S_ref).abs() / S_ref.abs()).max() < 1e-12
    dynamics = SplitDynamics([action], f.N, compile=False)
    F = from_split(dynamics.force(0, U))
    F_ref = action.force(f)
    assert F.abs().max() > 1.0
    assert (F - F_ref).abs().max() < 1e-12
    S2, F2 = dynamics.action_and_force(0, U)  # the loop traces from the staple kernels
    assert ((S2 - S_ref).abs() / S_ref.abs()).max() < 1e-12
    assert (from_split(F2) - F_ref).abs().max() < 1e-12


@pytest.mark.parametrize(
    "group,dims", [("SU(3)", [4, 6, 3, 5]), ("SU(2)", [5, 4, 6]), ("U(1)", [6, 4])]
)
def test_rectangle_force_is_the_gradient_of_its_loops(group, dims):
    """The closed-form plaquette-and-rectangle force equals the autograd force of
    :func:`loop_action` with unequal coefficients of the two rectangle orientations, on
    lattices of unequal extents (one of 3, where a rectangle wraps), to 1e-14."""
    f = GaugeField.hot(dims, group, ChainRNG(3, 2))
    U = to_split(f.links)
    loops, k = ((1, 1), (2, 1), (1, 2)), torch.tensor([1.3, 0.3, -0.7], dtype=torch.float64)
    with torch.enable_grad():
        V = U.detach().requires_grad_(True)
        (G,) = torch.autograd.grad(loop_action(V, loops, k).sum(), V)
    F = plane_force(U, k, plane_rectangle_staples)
    assert F.abs().max() > 0.5
    assert (F - gradient_force(U, G)).abs().max() < 1e-14
    S, F2 = plane_action_force(U, k, plane_rectangle_loops)
    assert torch.allclose(S, loop_action(U, loops, k), rtol=1e-13, atol=0)
    assert torch.equal(F2, F)


class _Squares(Action):
    """Plaquettes and 2x2 loops: a planar action outside the closed forms."""

    name = "squares"

    def planar_loops(self, N):
        return {(1, 1): 1.1, (2, 2): -0.2}

    def density(self, field):
        cache = {}
        out = 0.0
        for mu in range(field.D):
            for nu in range(mu + 1, field.D):
                for (R, T), k in self.planar_loops(field.N).items():
                    tr = rectangle_re_trace(field.links, mu, nu, R, T, cache).double()
                    out = out + k * (field.N - tr)
        return out


def test_other_planar_loops_take_the_autograd_force():
    f = random_field("SU(3)", 4, L=5)
    dynamics = SplitDynamics([_Squares()], 3, compile=False)
    F = dynamics.force(0, to_split(f.links))
    assert (from_split(F) - _Squares().force(f)).abs().max() < 1e-12
    S, F2 = dynamics.action_and_force(0, to_split(f.links))
    assert torch.allclose(S, _Squares()(f), rtol=1e-13, atol=0)
    assert torch.equal(F2, F)


def test_planar_force_in_complex64():
    """complex64 links: the split force agrees with the reference to float32 rounding, and the
    action is accumulated in float64."""
    f = random_field("SU(3)", 4, dtype=torch.complex64)
    U = to_split(f.links)
    assert U.dtype == torch.float32
    for action in (Wilson(6.0), Iwasaki(2.6)):
        F = from_split(SplitDynamics([action], 3, compile=False).force(0, U))
        assert F.dtype == torch.complex64
        assert (F - action.force(f)).abs().max() < 2e-5
        S = _split_action(action, U)
        assert S.dtype == torch.float64
        assert ((S - action(f.to(dtype=torch.complex128))).abs() / S.abs()).max() < 1e-6


@pytest.mark.parametrize(
    "action", [Clover(6.0), TadpoleSymanzik(4.0, 0.88, one_loop=True)], ids=repr
)
def test_non_planar_actions_are_refused(action):
    with pytest.raises(ValueError, match="not a sum of planar loops"):
        HMC(action, kernels="split").trajectory(random_field("SU(3)", 4, eps=0.3), ChainRNG(1, 2))


def test_unknown_kernels():
    with pytest.raises(ValueError, match="unknown kernels 'fast'"):
        HMC(Wilson(6.0), kernels="fast")


@pytest.mark.parametrize("action", [Wilson(6.0), Iwasaki(2.6)], ids=repr)
def test_split_trajectory_equals_reference_and_is_reversible(action):
    """Same seed: the split molecular dynamics lands on the reference's links and dH to 1e-12;
    forward, flip the momenta, forward again returns to 1e-12."""
    f = random_field("SU(3)", 4, eps=0.5)
    ref, st_ref = HMC(action, n_steps=4).trajectory(f, ChainRNG(3, 2))
    hmc = HMC(action, n_steps=4, kernels="split")
    out, st = hmc.trajectory(f, ChainRNG(3, 2))
    assert (out.links - ref.links).abs().max() < 1e-12
    assert (st.dH - st_ref.dH).abs().max() < 1e-10 and torch.equal(st.accepted, st_ref.accepted)
    P0 = hmc.momenta(f, ChainRNG(8, 2))
    g, P1 = hmc.molecular_dynamics(f, P0)
    assert (g.links - f.links).abs().max() > 0.1
    h, P2 = hmc.molecular_dynamics(g, -P1)
    assert (h.links - f.links).abs().max() < 1e-12
    assert (P2 + P0).abs().max() < 1e-12


def test_split_multiple_time_scales_and_u1():
    """Two levels on split fields, and U(1) (N = 1) in 2D."""
    from lqcd_hmc import Level

    f = random_field("SU(3)", 4, eps=0.5)
    levels = [Level(Iwasaki(1.5), 2, "omelyan2"), Level(Wilson(2.0), 3, "leapfrog")]
    ref = HMC(levels=levels).molecular_dynamics(f, HMC(Wilson(1)).momenta(f, ChainRNG(2, 2)))
    fast = HMC(levels=levels, kernels="split").molecular_dynamics(
        f, HMC(Wilson(1)).momenta(f, ChainRNG(2, 2))
    )
    assert (fast[0].links - ref[0].links).abs().max() < 1e-12
    u = GaugeField.hot([8, 8], U1(), ChainRNG(4, 3))
    P = HMC(Wilson(2.0)).momenta(u, ChainRNG(5, 3))
    a = HMC(Wilson(2.0), kernels="split").molecular_dynamics(u, P)
    b = HMC(Wilson(2.0)).molecular_dynamics(u, P)
    assert (a[0].links - b[0].links).abs().max() < 1e-12


@pytest.mark.slow
def test_compiled_path_equals_reference():
    """torch.compile of the split kernels (the same functions as the split path; compile time
    grows with the number of planes, so most checks run in D = 2): Wilson and Iwasaki forces
    to 1e-12 (complex128), a compiled HMC trajectory equal to the reference and reversible to
    1e-12, and the D = 4 Wilson force."""
    f = random_field("SU(3)", 2, L=6)
    for action in (Wilson(6.0), Iwasaki(2.6)):
        F = from_split(SplitDynamics([action], 3, compile=True).force(0, to_split(f.links)))
        assert F.abs().max() > 1.0 and (F - action.force(f)).abs().max() < 1e-12
    f = random_field("SU(3)", 2, L=6, eps=0.5)
    hmc = HMC(Iwasaki(2.6), n_steps=3, kernels="compiled")
    P0 = hmc.momenta(f, ChainRNG(8, 2))
    ref = HMC(Iwasaki(2.6), n_steps=3).molecular_dynamics(f, P0)
    g, P1 = hmc.molecular_dynamics(f, P0)
    assert (g.links - ref[0].links).abs().max() < 1e-12
    h, P2 = hmc.molecular_dynamics(g, -P1)
    assert (h.links - f.links).abs().max() < 1e-12 and (P2 + P0).abs().max() < 1e-12
    f = random_field("SU(3)", 4)
    F = from_split(SplitDynamics([Wilson(6.0)], 3, compile=True).force(0, to_split(f.links)))
    assert (F - Wilson(6.0).force(f)).abs().max() < 1e-12


@pytest.mark.parametrize("flow_action", ["wilson", "symanzik"])
def test_split_flow_equals_reference(flow_action):
    """Wilson and Symanzik flows in the split layout: E(t) and the flowed links equal the
    reference to 1e-12, fixed and adaptive steps (the adaptive step sizes agree too)."""
    from observables.flow import Flow, energy_density

    f = random_field("SU(3)", 4, eps=0.6)
    out = {}
    for k in ("reference", "split"):
        rows = []
        V, stats = Flow(flow_action, kernels=k).run(
            f,
            [0.1, 0.25],
            eps=0.05,
            adaptive=True,
            tolerance=1e-5,
            observe=lambda t, W: rows.append(energy_density(W, "clover")),
        )
        out[k] = (
            V.links,
            torch.stack(rows),
            stats.steps,
            stats.rejected,
            Flow(flow_action, kernels=k).step(f, 0.03).links,
        )
    ref, fast = out["reference"], out["split"]
    assert (fast[0] - ref[0]).abs().max() < 1e-12 and (fast[1] - ref[1]).abs().max() < 1e-12
    assert fast[2:4] == ref[2:4] and ref[2] > 2
    assert (fast[4] - ref[4]).abs().max() < 1e-12


def test_zeuthen_flow_has_no_split_kernels():
    from observables.flow import Flow

    with pytest.raises(ValueError, match="Zeuthen flow has no split kernels"):
        Flow("zeuthen", kernels="split")


def test_compile_cache_location(monkeypatch, tmp_path):
    """``compile_cache``: ``$TORCHINDUCTOR_CACHE_DIR`` when set, else
    ``$XDG_CACHE_HOME/lqcd-hmc/inductor``, which it then sets for Inductor; torch's default
    where that folder cannot be made."""
    import os

    from lqcd_hmc.kernels.dynamics import CACHE_ENV, compile_cache

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache() == tmp_path / "lqcd-hmc" / "inductor"
    assert os.environ[CACHE_ENV] == str(tmp_path / "lqcd-hmc" / "inductor")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert compile_cache() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # cannot hold a folder
    assert "lqcd-hmc" not in str(compile_cache())
