"""Fixed-point actions: the blocking kernel, the FP equation, its derivatives, classical
perfection on constant flux, FP data and the fitted parametrisation."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import random_field

from actions import Wilson
from actions.fixed_point import Blocking, FixedPoint, max_trace_projection
from actions.fixed_point.blocking import optimal_phases
from actions.fixed_point.lbfgs import group_move
from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.groups import project_to_group
from lqcd_hmc.loops import real_trace_product
from lqcd_hmc.smooth import abelian_flux


@pytest.mark.parametrize("group", ["SU(3)", "SU(2)", "U(1)"])
def test_blocking_is_gauge_covariant_and_non_negative(group):
    """T[U^O, V^O_c] = T[U, V] with O_c(x_B) = O(2 x_B); T >= 0, = 0 at V = P(Q)."""
    U = random_field(group, 4, L=4, eps=0.7)
    V = random_field(group, 4, L=2, eps=0.7, seed=2)
    O = U.random_gauge(ChainRNG(3, 2))
    Oc = O[:, ::2, ::2, ::2, ::2]
    b = Blocking()
    T = b(U, V)
    assert torch.allclose(b(U.gauge_transform(O), V.gauge_transform(Oc)), T, rtol=1e-12)
    assert (T > 0).all()
    W = max_trace_projection(b.blocked(U.links), U.N)
    assert torch.allclose(b(U, V.with_links(W)), torch.zeros(2, dtype=torch.float64), atol=1e-10)


@pytest.mark.parametrize(
    ("group", "D", "L", "c", "c_d"),
    [
        ("SU(3)", 4, (4, 4, 6, 2), 0.08, 0.005),
        ("SU(3)", 4, (4, 4, 4, 4), 0.0, 0.01),
        ("SU(2)", 4, (2, 4, 2, 4), 0.05, 0.0),
        ("SU(2)", 3, (4, 6, 4), 0.08, 0.005),
        ("U(1)", 2, (6, 4), 0.1, 0.0),
    ],
)
def test_blocked_link_fast_path_equals_reference(group, D, L, c, c_d):
    """The blocked links built at the needed sites only (``Blocking.blocked``) equal those of
    the fat links of every site (``blocked_reference``) to 1e-12, value and gradient, on
    unequal extents (a transposed site order would show)."""
    links = GaugeField.hot(list(L), group, ChainRNG(7, 2)).links.requires_grad_(True)
    b = Blocking(c=c, c_diagonal=c_d)
    fast, ref = b.blocked(links), b.blocked_reference(links)
    W = torch.randn(ref.shape, dtype=ref.dtype, generator=torch.Generator().manual_seed(1))
    assert (fast - ref).abs().max() < 1e-12 * ref.abs().max()
    (g_fast,) = torch.autograd.grad((fast * W).real.sum(), links)
    (g_ref,) = torch.autograd.grad((ref * W).real.sum(), links)
    assert (g_fast - g_ref).abs().max() < 1e-12 * g_ref.abs().max()


@pytest.mark.parametrize("group", ["SU(3)", "SU(2)"])
def test_max_trace_projection_is_the_maximum(group):
    """No nearby group element does better, and the value is at least that of the polar
    projection and of any random element."""
    Q = Blocking().blocked(random_field(group, 4, L=4, eps=1.0).links)
    N = Q.shape[-1]
    W = max_trace_projection(Q, N)
    best = real_trace_product(W, Q)
    rng = ChainRNG(5, 2)
    for _ in range(10):
        R = GaugeField.near_identity([2, 2, 2, 2], group, rng, 0.05).links
        assert (real_trace_product(R @ W, Q) <= best + 1e-12).all()
    H = GaugeField.hot([2, 2, 2, 2], group, rng).links
    assert (real_trace_product(H, Q) <= best + 1e-12).all()


@pytest.mark.parametrize("N", [3, 4])
def test_optimal_phases_are_the_maximum(N):
    """The stationary point in the singular basis equals the maximum that subgroup sweeps from
    the polar projection reach, to 1e-13, on blocked Haar-random fields; where its branches
    cannot reach the determinant's phase (Q = exp(0.9 i) diag(1, 1, 0.01, ...): 3 x 0.9 is
    beyond pi/2 + 2 arcsin(0.01)) it is the polar projection and the sweeps find the maximum."""
    Q = Blocking().blocked(GaugeField.hot([4] * 4, f"SU({N})", ChainRNG(3, 2)).links)
    W = optimal_phases(Q)
    assert torch.allclose(W.mH @ W, torch.eye(N, dtype=W.dtype).expand_as(W), atol=1e-13)
    assert (torch.linalg.det(W) - 1).abs().max() < 1e-13
    swept = polar_then_sweeps(Q)
    assert (real_trace_product(swept, Q) - real_trace_product(W, Q)).abs().max() < 1e-13
    diag = torch.ones(N, dtype=torch.complex128)
    diag[-1] = 0.01
    far = torch.diag(diag * torch.polar(torch.tensor(1.0), torch.tensor(0.9)))
    far = far.expand(2, N, N)
    assert torch.allclose(optimal_phases(far), polar_then_sweeps(far, sweeps=0))
    best = real_trace_product(max_trace_projection(far, N), far)
    assert (best > real_trace_product(optimal_phases(far), far) + 0.01).all()
    assert (best - real_trace_product(polar_then_sweeps(far), far)).abs().max() < 1e-13


def polar_then_sweeps(Q, sweeps=100):
    """The former maximiser: subgroup sweeps from the polar projection."""
    return max_trace_projection(Q, Q.shape[-1], sweeps, start=project_to_group(Q, Q.shape[-1]))


def test_fp_equation_needs_four_dimensions():
    """In D = 2 the coupling has a dimension: a smooth field's action falls by 4 per blocking
    step, so the fixed-beta FP equation is refused there."""
    with pytest.raises(ValueError, match="only in D = 4"):
        FixedPoint()(abelian_flux([4, 4], "SU(2)", 1, 0, 1))


def test_cold_field_has_zero_fp_action():
    V = GaugeField.cold([2, 2, 2, 2], "SU(3)", batch=2)
    r = FixedPoint(levels=1)(V)
    assert r.converged and torch.allclose(r.action, torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert r.derivative.abs().max() < 1e-12


def flux_case(levels):
    """Constant flux n = 1 through the (0, 1) planes of a (4, 4, 2, 2) SU(2) lattice: the
    continuum action is V phi^2 Tr H^2 / (2N) with phi = 2 pi/16."""
    V = abelian_flux([4, 4, 2, 2], "SU(2)", 1, 0, 1)
    phi = 2 * math.pi / 16
    cont = 64 * phi**2 * 2 / 4
    r = FixedPoint(levels=levels, tolerance=1e-9)(V)
    assert r.converged
    return r.action.item() / cont - 1, Wilson(1.0)(V).item() / cont - 1


def test_classical_perfection_on_constant_flux():
    """One level: A_FP matches the continuum 16 times better than Wilson (the finest
    tree-level Symanzik action sees phi/4 per plaquette, its error phi_f^2/12)."""
    fp, wilson = flux_case(1)
    assert abs(fp) < abs(wilson) / 10
    assert fp == pytest.approx((math.pi / 32) ** 2 / 12, rel=0.05)


def test_derivatives_match_finite_differences():
    """dA_FP/dt along a random algebra direction X (V -> exp(t X) V) from the minimiser
    against central differences of re-minimised A_FP, O(h^2)."""
    V = random_field("SU(2)", 4, L=2, eps=0.3, batch=1)
    fp = FixedPoint(levels=1, tolerance=1e-9)
    r = fp(V)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(r.derivative.shape, generator=g, dtype=torch.float64)
    X = V.group.from_coords(x)
    exact = (r.derivative * x).sum().item()
    h = 1e-3
    vals = [
        fp(V.with_links(V.group.exp(s * h * X) @ V.links), start=r.fine).action.item()
        for s in (1, -1)
    ]
    fd = (vals[0] - vals[1]) / (2 * h)
    assert fd == pytest.approx(exact, rel=1e-4), (fd, exact)


def _evaluations(fp, V, fine, index):
    """F and its algebra gradients at the fields ``fine`` (coarsest first) of configurations
    ``index`` of V."""
    return fp._evaluate(V)([u[index] for u in fine], index)


@pytest.mark.parametrize(
    ("group", "levels", "finest"),
    [
        ("SU(3)", 1, {"name": "symanzik", "beta": 1.0}),
        ("SU(2)", 2, {"name": "iwasaki", "beta": 2.0}),
        ("SU(3)", 1, {"name": "wilson", "beta": 0.7}),
    ],
)
def test_split_kernels_equal_the_reference_functional(group, levels, finest):
    """One evaluation of F and its algebra gradients with A_0 from the closed-form split
    kernels equals autograd of the whole functional to 1e-12 (unequal extents), for the whole
    batch and for the configurations still running in a shrunken one."""
    dims = [2, 4, 2, 2]
    V = GaugeField.near_identity(dims, group, ChainRNG(5, 3), 0.5)
    fine = [
        GaugeField.near_identity([L * 2**lv for L in dims], group, ChainRNG(6 + lv, 3), 0.4).links
        for lv in range(1, levels + 1)
    ]
    ref = FixedPoint(levels=levels, finest=finest)
    split = FixedPoint(levels=levels, finest=finest, kernels="split")
    for index in (torch.arange(3), torch.tensor([0, 2])):
        (F0, g0), (F1, g1) = (_evaluations(fp, V, fine, index) for fp in (ref, split))
        assert torch.allclose(F1, F0, rtol=1e-12, atol=0)
        for a, b in zip(g1, g0):
            assert (a - b).abs().max() <= 1e-12 * b.abs().max()
    shape = (*fine[0].shape[:-2], V.group.n_generators)
    w = 0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    moved = split._split_move(V.group)(w, fine[0])
    assert (moved - group_move(V.group)(w, fine[0])).abs().max() < 1e-14


def test_fp_solve_with_split_kernels():
    """The whole solve with the split kernels reaches the reference's minimum: A_FP to 1e-12,
    its derivatives within the gradient tolerance's reach (1e-8 on the fine links)."""
    V = random_field("SU(3)", 4, L=2, eps=0.5)
    a, b = (FixedPoint(kernels=k)(V) for k in ("reference", "split"))
    assert a.converged and b.converged
    assert torch.allclose(b.action, a.action, rtol=1e-12, atol=0)
    assert (b.derivative - a.derivative).abs().max() < 1e-7


@pytest.mark.slow
def test_compiled_kernels_equal_the_reference_functional():
    """The same with the compiled kernels (SU(3), fine 4^4)."""
    V = random_field("SU(3)", 4, L=2, eps=0.5)
    fine = [random_field("SU(3)", 4, L=4, eps=0.4, seed=3).links]
    index = torch.arange(2)
    F0, (g0,) = _evaluations(FixedPoint(), V, fine, index)
    F1, (g1,) = _evaluations(FixedPoint(kernels="compiled"), V, fine, index)
    assert torch.allclose(F1, F0, rtol=1e-12, atol=0)
    assert (g1 - g0).abs().max() <= 1e-12 * g0.abs().max()


def test_split_kernels_need_a_planar_finest_action():
    with pytest.raises(ValueError, match="not a sum of planar loops"):
        FixedPoint(finest={"name": "clover", "beta": 1.0}, kernels="split")
    with pytest.raises(ValueError, match="unknown kernels"):
        FixedPoint(kernels="fast")


def test_fp_data_file_and_resume(fp_data):
    from click.testing import CliRunner

    from lqcd_hmc.cli import main
    from workflows.fixed_point.files import read_fp_data

    data = read_fp_data(fp_data / "fp.h5")
    assert data["fields"].links.shape == (12, 4, 2, 2, 2, 2, 2, 2)
    assert data["derivative"].shape == (12, 4, 2, 2, 2, 2, 3)
    assert data["beta"].tolist() == [3.0] * 4 + [4.0] * 4 + [6.0] * 4
    assert (data["gradient"] <= 1e-8).all() and (data["action"] > 0).all()
    kernel = Blocking()  # the default kernel is stored with the data
    assert data["parameters"]["levels"] == 1
    assert [data["parameters"][k] for k in ("c", "kappa", "c_diagonal")] == [
        kernel.c,
        kernel.kappa,
        kernel.c_diagonal,
    ]
    # the stored A_FP is the minimum of the functional: re-solving gives the same value
    again = FixedPoint(levels=1, tolerance=1e-8)(
        data["fields"].with_links(data["fields"].links[:2])
    )
    assert torch.allclose(again.action, data["action"][:2], rtol=1e-8)
    before = (fp_data / "fp.h5").read_bytes()
    card = fp_data / "fp.toml"
    res = CliRunner().invoke(main, ["fp-data", str(card)])
    assert res.exit_code == 1 and "pass --resume" in res.output
    res = CliRunner().invoke(main, ["fp-data", str(card), "--resume", "--json"])
    assert res.exit_code == 0 and '"items": []' in res.output
    split = fp_data / "split.toml"  # other kernels: the same FP values, the file continues
    split.write_text(card.read_text().replace("[fixed_point]", '[fixed_point]\nkernels = "split"'))
    res = CliRunner().invoke(main, ["fp-data", str(split), "--resume", "--json"])
    assert res.exit_code == 0 and '"items": []' in res.output
    changed = fp_data / "changed.toml"
    changed.write_text(card.read_text().replace("kappa", "kappa").replace("seed = 11", "seed = 12"))
    res = CliRunner().invoke(main, ["fp-data", str(changed), "--resume"])
    assert res.exit_code == 1 and "card differs" in res.output
    bad = fp_data / "bad.toml"
    bad.write_text(card.read_text().replace("tolerance", "tolerence"))
    res = CliRunner().invoke(main, ["fp-data", str(bad)])
    assert (
        res.exit_code == 1
        and "tolerence" in res.output
        and len(res.output.strip().splitlines()) == 1
    )
    assert (fp_data / "fp.h5").read_bytes() == before


def test_fp_data_pieces_merge_to_the_serial_file(fp_data, tmp_path):
    """Items solved in two pieces (``--items``, ``--output``) and merged (``--merge``) give
    the rows of the serial run bitwise, in item order; a conflicting or foreign piece is
    refused with one line and the file is left as it was."""
    import h5py
    from click.testing import CliRunner

    from lqcd_hmc.cli import main

    card = tmp_path / "fp.toml"
    card.write_text(
        (fp_data / "fp.toml").read_text().replace(fp_data.as_posix(), tmp_path.as_posix())
    )
    part = str(tmp_path / "part.h5")
    run = CliRunner().invoke
    assert run(main, ["fp-data", str(card), "--items", "2:3", "--quiet"]).exit_code == 0
    res = run(main, ["fp-data", str(card), "--items", "0:1", "--output", part, "--quiet"])
    assert res.exit_code == 0, res.output
    res = run(main, ["fp-data", str(card), "--merge", part, "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["missing"] == [1], res.output
    with h5py.File(tmp_path / "fp.h5") as f, h5py.File(fp_data / "fp.h5") as g:
        rows = np.r_[0:4, 8:12]  # items 0 and 2 of the serial run, 4 configurations each
        for k in ("links", "action", "derivative", "item", "source", "iterations"):
            assert np.array_equal(f[k][()], g[k][()][rows]), k
    before = (tmp_path / "fp.h5").read_bytes()
    with h5py.File(part, "a") as f:
        f["action"][0] += 1.0
    res = run(main, ["fp-data", str(card), "--merge", part, "--merge", str(fp_data / "fp.h5")])
    assert res.exit_code == 1 and "item 0 differs" in res.output
    other = tmp_path / "other.toml"
    other.write_text(card.read_text().replace("seed = 11", "seed = 12"))
    res = run(main, ["fp-data", str(other), "--merge", str(fp_data / "fp.h5")])
    assert res.exit_code == 1 and "card differs" in res.output
    res = run(main, ["fp-data", str(card), "--items", "3:1"])
    assert res.exit_code == 1 and "--items must be A:B" in res.output
    assert (tmp_path / "fp.h5").read_bytes() == before


def test_fp_param_fit_beats_wilson_on_held_out_data(fp_data, tmp_path):
    """``lqcd-hmc fp-fit``: fit on 9 configurations (betas 3, 4, 6), every 4th held out: the
    fitted polynomial (classically perfect form, the default) has a mean relative error below
    that of the Wilson action with a fitted normalisation (measured 2.4 % against 6.0 % with the
    default kernel); the coefficient file builds ``fp-param``; ``--ridge`` shrinks the
    coefficients and is recorded, a negative one refused."""
    import json

    from click.testing import CliRunner

    from lqcd_hmc.action import build
    from lqcd_hmc.cli import main
    from workflows.fixed_point.files import read_fp_data

    out = tmp_path / "c.json"
    res = CliRunner().invoke(
        main, ["fp-fit", str(fp_data / "fp.h5"), "--out", str(out), "--free-box", "7", "--json"]
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["train"] == 9 and r["held_out"] == 3
    assert r["fp_param"] < r["wilson"]
    data = read_fp_data(fp_data / "fp.h5")
    f = data["fields"]
    held = f.with_links(f.links[[3, 7, 11]])
    act = build({"name": "fp-param", "beta": 2.0, "file": str(out)})
    err = (act(held) / 2.0 - data["action"][[3, 7, 11]]) / data["action"][[3, 7, 11]]
    assert err.abs().mean().item() == pytest.approx(r["fp_param"], rel=1e-9)
    res = CliRunner().invoke(main, ["fp-fit", str(fp_data / "fp.h5"), "--out", str(out)])
    assert res.exit_code == 1 and "exists" in res.output
    damped = tmp_path / "d.json"
    args = ["fp-fit", str(fp_data / "fp.h5"), "--free-box", "7", "--ridge", "0.1", "--out"]
    res = CliRunner().invoke(main, [*args, str(damped)])
    assert res.exit_code == 0, res.output
    spec = json.loads(damped.read_text())
    assert spec["fit"]["ridge"] == 0.1
    assert np.linalg.norm(spec["coefficients"]) < np.linalg.norm(r["coefficients"])
    res = CliRunner().invoke(main, [*args[:-2], "-1", "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 1 and "--ridge must be >= 0" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()


def test_fp_fit_reads_several_data_files(fp_data, tmp_path):
    """``fp-fit A.h5 B.h5`` fits the rows of both in order (the same file twice: 24 rows, every
    4th held out); files of different FP parameters are refused in one line, writing nothing."""
    import shutil

    import h5py
    from click.testing import CliRunner

    from lqcd_hmc.cli import main
    from workflows.fixed_point.files import read_fp_data, read_fp_datasets

    one = read_fp_data(fp_data / "fp.h5")
    two = read_fp_datasets([fp_data / "fp.h5", fp_data / "fp.h5"])
    assert torch.equal(two["fields"].links[12:], one["fields"].links)
    assert torch.equal(two["derivative"][:12], one["derivative"])
    assert two["source"] == one["source"] * 2
    out = tmp_path / "c.json"
    res = CliRunner().invoke(
        main,
        # the quadratic part fitted: the free FP action of the kernel (--classically-perfect,
        # 2 minutes) is not what reading several files is about
        [
            "fp-fit",
            str(fp_data / "fp.h5"),
            str(fp_data / "fp.h5"),
            "--out",
            str(out),
            "--fitted-quadratic",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["train"] == 18 and r["held_out"] == 6
    assert json.loads(out.read_text())["data"] == [str(fp_data / "fp.h5")] * 2
    other = tmp_path / "other.h5"
    shutil.copy(fp_data / "fp.h5", other)
    with h5py.File(other, "r+") as f:
        f.attrs["parameters"] = json.dumps({**one["parameters"], "kappa": 1.0})
    out2 = tmp_path / "c2.json"
    res = CliRunner().invoke(
        main, ["fp-fit", str(fp_data / "fp.h5"), str(other), "--out", str(out2)]
    )
    assert res.exit_code == 1 and "FP parameters differ" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not out2.exists()
    # another minimiser's settings do not change A_FP: such files combine
    solver = tmp_path / "solver.h5"
    shutil.copy(fp_data / "fp.h5", solver)
    with h5py.File(solver, "r+") as f:
        f.attrs["parameters"] = json.dumps({**one["parameters"], "history": 7, "restart": 9})
    both = read_fp_datasets([fp_data / "fp.h5", solver])
    assert both["fields"].batch == 24 and "history" not in both["parameters"]
    assert both["parameters"]["kappa"] == one["parameters"]["kappa"]


def test_fp_param_action_in_hmc():
    """``fp-param`` with hand-set coefficients: gauge invariant, force = central differences,
    Wilson at p_10 = 1, and HMC with it accepts with <exp(-dH)> near 1."""
    from helpers import check_force, check_gauge_invariance

    from actions.fixed_point import FPParametrisation
    from lqcd_hmc import HMC

    terms = [(1, 0), (0, 1), (2, 0), (1, 1)]
    act = FPParametrisation(2.0, coefficients=[0.6, 0.4, -0.02, 0.01], terms=terms, rho=0.1)
    f = random_field("SU(3)", 4, L=4, eps=0.4)
    check_gauge_invariance(act, f)
    check_force(act, f, rtol=1e-7)
    wil = FPParametrisation(2.0, coefficients=[1.0], terms=[(1, 0)])
    assert torch.allclose(wil(f), Wilson(2.0)(f), rtol=1e-12)
    rng = ChainRNG(4, 2)
    U = GaugeField.near_identity([4, 4, 4, 4], "SU(3)", rng, 0.2)
    hmc = HMC(FPParametrisation(5.0, coefficients=[0.6, 0.4], terms=terms[:2]), n_steps=8)
    acc, dHs = 0, []
    for _ in range(6):
        U, st = hmc.trajectory(U, rng)
        acc += int(st.accepted.sum())
        dHs.append(st.dH)
    assert acc >= 8 and torch.cat(dHs).abs().max() < 1.0
    with pytest.raises(ValueError, match="cannot read"):
        FPParametrisation(1.0, file="/nonexistent.json")


def test_fp_param_smearing_levels():
    """``rho`` a list: ``w_i`` after i stout steps. The terms are every ``u^k w_1^l w_2^m`` of
    total degree 1..order; a two-level action whose second level carries no term is the
    one-level action; it is gauge invariant with its force = central differences; and the
    linear fit recovers a two-level action's coefficients from its own values and
    derivatives (exact data, the model in the basis)."""
    from helpers import check_force, check_gauge_invariance

    from actions.fixed_point import FPParametrisation, polynomial_terms
    from actions.fixed_point.parametrisation import design, fit

    terms = polynomial_terms(3, 2)
    assert len(terms) == len(set(terms)) == 19  # C(3 + 3, 3) - 1 monomials in u, w_1, w_2
    assert all(1 <= sum(t) <= 3 and len(t) == 3 for t in terms)
    assert [sum(t) for t in terms] == sorted(sum(t) for t in terms)
    assert polynomial_terms(3) == [(k, d - k) for d in (1, 2, 3) for k in range(d, -1, -1)]
    f = random_field("SU(3)", 2, L=4, eps=0.5)
    one = FPParametrisation(1.0, coefficients=[0.7, 0.3, -0.05], terms=[(1, 0), (0, 1), (1, 1)])
    two = FPParametrisation(
        1.0,
        coefficients=[0.7, 0.3, -0.05],
        terms=[(1, 0, 0), (0, 1, 0), (1, 1, 0)],
        rho=[0.1, 0.2],
    )
    assert torch.equal(one(f), two(f))
    rng = torch.Generator().manual_seed(3)
    p = 0.1 * torch.randn(len(terms), generator=rng, dtype=torch.float64)
    p[0] += 1.0
    act = FPParametrisation(1.0, coefficients=p.tolist(), terms=terms, rho=[0.1, 0.15])
    check_gauge_invariance(act, f)
    check_force(act, f, rtol=1e-7)
    fields = [random_field("SU(3)", 3, L=4, eps=e) for e in (0.3, 0.6, 0.9)]
    values, derivatives = design(lambda links: act(GaugeField(links, "SU(3)"))[:, None], fields)
    got = fit(fields, values[:, 0], derivatives[:, 0], order=3, rho=[0.1, 0.15])
    assert got.terms == terms and got.rho == [0.1, 0.15]
    assert torch.allclose(got.coefficients, p, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="every term needs 3 exponents"):
        FPParametrisation(1.0, coefficients=[1.0], terms=[(1, 0)], rho=[0.1, 0.1])


def test_fp_param_rectangles(tmp_path):
    """``rectangles``: the variable ``r = N - (Re Tr R_2x1 + Re Tr R_1x2)/2`` of each plane
    enters the polynomial last. ``c r`` alone is the loop action of the twelve 1 x 2
    rectangles per site with weight c/2 (an independent sum over the loops' paths); a
    polynomial with it is gauge invariant with its force = central differences; the fit
    recovers its coefficients from its own values and derivatives; the file keeps the flag."""
    from helpers import check_force, check_gauge_invariance

    from actions.fixed_point import FPParametrisation, polynomial_terms
    from actions.fixed_point.parametrisation import design, fit

    terms = polynomial_terms(2, 1, rectangles=True)
    assert len(terms) == 9 and all(len(t) == 3 for t in terms)  # C(2 + 3, 3) - 1
    f4 = random_field("SU(3)", 4, L=3, eps=0.5)  # the loop shapes are four-dimensional
    r = FPParametrisation(1.0, coefficients=[0.3], terms=[(0, 0, 1)], rectangles=True)
    loops = FPParametrisation(1.0, coefficients=[], terms=[], loops={"1x2": 0.15})
    assert torch.allclose(r(f4), loops(f4), rtol=1e-13)
    f = random_field("SU(3)", 2, L=4, eps=0.5)
    rng = torch.Generator().manual_seed(5)
    p = 0.1 * torch.randn(len(terms), generator=rng, dtype=torch.float64)
    p[0] += 1.0
    act = FPParametrisation(1.0, coefficients=p.tolist(), terms=terms, rho=0.1, rectangles=True)
    check_gauge_invariance(act, f)
    check_force(act, f, rtol=1e-7)
    fields = [random_field("SU(3)", 3, L=4, eps=e) for e in (0.3, 0.6, 0.9)]
    values, derivatives = design(lambda links: act(GaugeField(links, "SU(3)"))[:, None], fields)
    got = fit(fields, values[:, 0], derivatives[:, 0], order=2, rho=0.1, rectangles=True)
    assert got.terms == terms and got.rectangles
    assert torch.allclose(got.coefficients, p, rtol=1e-7, atol=1e-9)
    got.save(tmp_path / "c.json")
    back = FPParametrisation(2.0, file=str(tmp_path / "c.json"))
    assert back.rectangles and torch.equal(back(f), 2.0 * got(f))
    with pytest.raises(ValueError, match="every term needs 3 exponents"):
        FPParametrisation(1.0, coefficients=[1.0], terms=[(1, 0)], rectangles=True)


@pytest.mark.parametrize(
    "name",
    ["fp_data_su3", "fp_data_su3_4x4", "fp_data_su3_4x4_rough", "fp_data_su3_4x4_band"],
)
def test_example_fp_card_is_valid(name):
    """Every SU(3) FP-data example card loads; those of the shipped model's data share one set
    of FP parameters (so their files can be fitted and trained on together)."""
    from pathlib import Path

    from workflows.fixed_point.data import load_fp_card

    examples = Path(__file__).parent.parent / "examples"
    card = load_fp_card(examples / f"{name}.toml")
    assert card.lattice.group == "SU(3)" and card.fixed_point.levels == 1
    if name != "fp_data_su3":
        assert card.fixed_point == load_fp_card(examples / "fp_data_su3_4x4.toml").fixed_point


def test_fp_data_resumes_after_a_kill(tmp_path):
    """A run interrupted after its first item leaves a valid file; --resume completes it, and
    the result equals an uninterrupted run (each item has its own seeded generators). Items:
    Wilson betas, then small-amplitude and stout-smoothed fields, each labelled."""
    from conftest import FP_CARD

    from workflows.fixed_point.data import fp_data, load_fp_card
    from workflows.fixed_point.files import read_fp_data

    text = FP_CARD.replace(
        "betas = [3.0, 4.0, 6.0]",
        "betas = [3.0, 5.0]\nsmall = [0.3]\nsmooth = {{ beta = 3.0, stout_steps = [4] }}",
    ).replace("configurations = 4", "configurations = 1")
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            text.format(out=(tmp_path / f"{name}.h5").as_posix())
        )

    def killer(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fp_data(load_fp_card(tmp_path / "a.toml"), report=killer)
    assert read_fp_data(tmp_path / "a.h5")["beta"].tolist() == [3.0]
    fp_data(load_fp_card(tmp_path / "a.toml"), resume=True)
    fp_data(load_fp_card(tmp_path / "b.toml"))
    a, b = read_fp_data(tmp_path / "a.h5"), read_fp_data(tmp_path / "b.h5")
    assert a["source"] == [
        "wilson beta=3",
        "wilson beta=5",
        "small eps=0.3",
        "stout beta=3 steps=4",
    ]
    assert a["item"].tolist() == [0, 1, 2, 3] and math.isnan(a["beta"][2])
    assert torch.equal(a["fields"].links, b["fields"].links)
    assert torch.allclose(a["action"], b["action"], rtol=1e-12)
    # the smoothed field is smoother than the one it was made from: smaller A_FP
    rough = FixedPoint(tolerance=1e-8)(a["fields"].with_links(a["fields"].links[:1]))
    assert a["action"][3] < rough.action[0] / 2


def test_su2_fp_param_from_a_cold_start():
    """SU(2) ``fp-param`` (stout-smeared terms) from the cold start every run card defaults to:
    the force at the identity is finite (zero: the identity is a minimum), and a trajectory
    moves the links and keeps them finite (the SU(2) exponential's sqrt(a^2) once made the
    force NaN there)."""
    from actions.fixed_point import FPParametrisation
    from lqcd_hmc import HMC

    act = FPParametrisation(2.0, coefficients=[0.6, 0.4], terms=[(1, 0), (0, 1)], rho=0.1)
    U = GaugeField.cold([4, 4, 4, 4], "SU(2)", batch=2)
    F = act.force(U)
    assert torch.isfinite(F).all() and F.abs().max() < 1e-14
    V, st = HMC(act, n_steps=4).trajectory(U, ChainRNG(2, 2), metropolis=False)
    assert torch.isfinite(V.links).all() and torch.isfinite(st.dH).all()
    assert (V.links - U.links).abs().max() > 1e-2
