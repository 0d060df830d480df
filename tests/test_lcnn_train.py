"""``lqcd-hmc train``: checkpoints, exact resume after a kill, bad input; the trained ``lcnn``
action in HMC (reversibility, <exp(-dH)> = 1, force = finite differences); and, on a larger FP
data set (slow), held-out L1 and L2 below the fitted ``fp-param``."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import check_force, check_gauge_invariance

from actions.lcnn import LCNNAction, load_checkpoint
from lqcd_hmc import HMC, ChainRNG, GaugeField, build
from lqcd_hmc.cli import main
from observables import gamma_method
from workflows.training import load_train_card, train

CARD = """
[data]
file = "{data}"
validation = 0.25
[model]
{model}
free_box = 7
[training]
epochs = {epochs}
batch_size = 3
lr = 1e-3
w1 = 0.1
[output]
checkpoint = "{out}"
"""


def write_card(path, data, out, epochs=3, model="channels = [4, 4]\nkernel_sizes = [2, 1]"):
    path.write_text(
        CARD.format(data=data.as_posix(), out=out.as_posix(), epochs=epochs, model=model)
    )
    return path


@pytest.fixture(scope="module")
def trained(fp_data, tmp_path_factory):
    """A small L-CNN trained for 3 epochs on the 12-configuration FP data."""
    d = tmp_path_factory.mktemp("lcnn")
    card = write_card(d / "train.toml", fp_data / "fp.h5", d / "model.pt")
    res = CliRunner().invoke(main, ["train", str(card), "--json"])
    assert res.exit_code == 0, res.output
    return d, json.loads(res.output)


def test_train_writes_checkpoint_metrics_and_summary(trained):
    d, summary = trained
    assert summary["n_train"] == 9 and summary["n_validation"] == 3
    assert summary["epochs"] == 3 and summary["configurations_per_second"] > 0
    # epoch 0 is the initialised model: the fp-param preconditioner with least-squares b_n
    init, base = summary["initial_validation"], summary["fp_param_validation"]
    assert init["L2"] == pytest.approx(base["L2"], rel=0.2)
    lines = [json.loads(x) for x in (d / "model.pt.metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in lines] == [0, 1, 2, 3]
    # the checkpoint is the epoch with the lowest validation loss
    best = min(lines, key=lambda e: e["loss"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["validation"] == {"L1": best["val_L1"], "L2": best["val_L2"]}
    model, obj = load_checkpoint(d / "model.pt")
    assert obj["architecture"]["channels"] == [4, 4]
    assert obj["action"]["preconditioner"]["name"] == "fp-param"
    assert obj["metrics"]["epoch"] == summary["best_epoch"]
    # the checkpoint alone builds the action, which reproduces the reported validation L1
    from workflows.fixed_point.files import read_fp_data

    data = read_fp_data(obj["provenance"]["data"])
    val = torch.tensor(obj["provenance"]["validation"])
    f = data["fields"].with_links(data["fields"].links[val])
    act = build({"name": "lcnn", "beta": 1.0, "checkpoint": str(d / "model.pt")})
    L1 = ((act(f) - data["action"][val]).abs().mean() / f.volume).item()
    assert L1 == pytest.approx(summary["validation"]["L1"], rel=1e-9)


def test_resume_after_a_kill_equals_an_uninterrupted_run(fp_data, tmp_path):
    """Killed after epoch 2 (an exception from the progress callback), resumed: the final
    weights and the metrics log equal those of a run that was never stopped."""
    whole = load_train_card(
        write_card(tmp_path / "a.toml", fp_data / "fp.h5", tmp_path / "a.pt", epochs=4)
    )
    train(whole)
    card = load_train_card(
        write_card(tmp_path / "b.toml", fp_data / "fp.h5", tmp_path / "b.pt", epochs=4)
    )

    def kill(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(card, report=kill)
    with pytest.raises(ValueError, match="pass --resume"):
        train(card)
    train(card, resume=True)
    a = torch.load(tmp_path / "a.pt.state", weights_only=True)
    b = torch.load(tmp_path / "b.pt.state", weights_only=True)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    strip = lambda h: [
        {
            k: v
            for k, v in e.items()
            if k
            not in (
                "seconds",
                "configurations_per_second",
            )
        }
        for e in h
    ]
    assert strip(a["history"]) == strip(b["history"])


def test_train_bad_input_is_one_line(fp_data, tmp_path):
    card = write_card(tmp_path / "t.toml", fp_data / "fp.h5", tmp_path / "m.pt")
    bad = tmp_path / "bad.toml"
    bad.write_text(card.read_text().replace("batch_size", "batchsize"))
    res = CliRunner().invoke(main, ["train", str(bad)])
    assert res.exit_code == 1 and "batchsize" in res.output
    assert len(res.output.strip().splitlines()) == 1
    missing = tmp_path / "missing.toml"
    missing.write_text(card.read_text().replace("fp.h5", "nope.h5"))
    res = CliRunner().invoke(main, ["train", str(missing)])
    assert res.exit_code == 1 and "nope.h5" in res.output
    res = CliRunner().invoke(main, ["train", str(card), "--resume"])
    assert res.exit_code == 1 and "cannot resume" in res.output
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="L-CNN checkpoint .*junk.pt: not a PyTorch file"):
        build({"name": "lcnn", "beta": 1.0, "checkpoint": str(tmp_path / "junk.pt")})


@pytest.mark.parametrize("rectangles", [False, True])
def test_train_on_several_files_with_an_order_4_preconditioner(fp_data, tmp_path, rectangles):
    """``data.file`` as a list reads the files as one (here the 12 configurations twice: 18
    training, 6 held out); ``model.preconditioner_order = 4`` and ``preconditioner_ridge = 0.01``
    (and ``preconditioner_rectangles``) fit the fp-param preconditioner to order 4 with that
    penalty (and the rectangle variable): its coefficients are ``fit(...)``'s on the trainer's
    training split. ``model.inputs`` reaches the checkpoint's architecture."""
    from actions.fixed_point.free_fixed_point import of_data
    from actions.fixed_point.parametrisation import fit
    from workflows.fixed_point.files import read_fp_datasets, sha256
    from workflows.training.losses import split

    data = fp_data / "fp.h5"
    card = write_card(tmp_path / "t.toml", data, tmp_path / "m.pt", epochs=1)
    one, two = f'file = "{data.as_posix()}"', f'file = ["{data.as_posix()}", "{data.as_posix()}"]'
    text = card.read_text().replace(one, two)
    extra = "free_box = 7\npreconditioner_order = 4\npreconditioner_ridge = 0.01"
    if rectangles:
        extra += '\npreconditioner_rectangles = true\ninputs = "laplacians"'
    card.write_text(text.replace("free_box = 7", extra))
    res = CliRunner().invoke(main, ["train", str(card), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["n_train"] == 18 and summary["n_validation"] == 6
    _, obj = load_checkpoint(tmp_path / "m.pt")
    assert obj["provenance"]["data_sha256"] == [sha256(data)] * 2
    d = read_fp_datasets([data, data])
    train_idx, _ = split(24, 0.25, 0)
    f = d["fields"].to(dtype=torch.complex128)
    ref = fit(
        [f.with_links(f.links[train_idx])],
        d["action"][train_idx],
        d["derivative"][train_idx],
        4,
        free=of_data(d["parameters"], 7),
        ridge=0.01,
        rectangles=rectangles,
    )
    pre = obj["action"]["preconditioner"]
    assert pre["rectangles"] is rectangles
    assert obj["architecture"]["inputs"] == ("laplacians" if rectangles else "plaquettes")
    assert len(pre["terms"]) == len(ref.terms) == (31 if rectangles else 12)
    np.testing.assert_allclose(pre["coefficients"], ref.coefficients.tolist(), rtol=1e-8)


def test_example_train_card_is_valid():
    from pathlib import Path

    names = ["lcnn_train.toml"] + [f"lcnn_train_su3_4x4{s}.toml" for s in ("", "_o4", "_o4rr")]
    for name in names:
        card = load_train_card(Path(__file__).parent.parent / "examples" / name)
        assert card.model.channels == [12, 24, 24] and card.model.kernel_sizes == [2, 2, 1]
        assert card.model.preconditioner == "fp-param"


def test_trained_lcnn_in_hmc(trained):
    """The trained action (SU(2), fp-param preconditioner) on the 2^4 lattice of its training
    data: gauge invariant, autograd force = central differences, HMC reversible to 1e-10, and
    Creutz's <exp(-dH)> = 1 within 3 standard errors (Gamma method, 16 chains, in equilibrium
    after 30 trajectories) at a step where dH spreads by more than 0.3 (for small steps <dH> =
    Var(dH)/2; its mean, with tau_int 16, is the noisier guard). (With the
    default kernel's data, 5 leapfrog steps and fewer drive some chains into a region where the
    trained action's force is large and dH explodes; 6 steps hold.)"""
    d, _ = trained
    act = LCNNAction(4.0, checkpoint=str(d / "model.pt"))
    rng = ChainRNG(7, 16)
    f = GaugeField.hot([2, 2, 2, 2], "SU(2)", rng)
    check_gauge_invariance(act, f)
    check_force(act, f, rtol=1e-7)
    hmc = HMC(act, integrator="leapfrog", n_steps=6, tau=1.0)
    P0 = hmc.momenta(f, rng)
    g, P1 = hmc.molecular_dynamics(f, P0)
    assert (g.links - f.links).abs().max() > 0.1
    h, P2 = hmc.molecular_dynamics(g, -P1)
    assert (h.links - f.links).abs().max() < 1e-10 and (P2 + P0).abs().max() < 1e-10
    for _ in range(30):  # equilibrium: <exp(-dH)> = 1 holds only there
        f, _ = hmc.trajectory(f, rng)
    edh = []
    for _ in range(40):
        f, st = hmc.trajectory(f, rng)
        edh.append(st.exp_minus_dH)
    edh = torch.stack(edh, 1).numpy()
    r = gamma_method(edh)
    assert np.log(edh).std() > 0.3  # the step is coarse enough to test something
    assert abs(r.mean - 1) < 3 * r.error, r


@pytest.mark.slow
def test_lcnn_beats_fp_param_on_held_out_data(tmp_path):
    """72 FP configurations (SU(2) 2^4, betas 2.5 to 6), a quarter held out: the trained
    L-CNN's held-out L1 and L2 are both below those of the fp-param polynomial fitted on the
    same training configurations (three L-CB layers of 8 channels, kernels 2, 2, 1)."""
    from conftest import FP_CARD

    fp = tmp_path / "fp.toml"
    fp.write_text(
        FP_CARD.format(out=(tmp_path / "fp.h5").as_posix())
        .replace("betas = [3.0, 4.0, 6.0]", "betas = [2.5, 3.0, 4.0, 6.0]")
        .replace("configurations = 4", "configurations = 18")
    )
    res = CliRunner().invoke(main, ["fp-data", str(fp), "--quiet"])
    assert res.exit_code == 0, res.output
    card = write_card(
        tmp_path / "t.toml",
        tmp_path / "fp.h5",
        tmp_path / "m.pt",
        epochs=30,
        model="channels = [8, 8, 8]\nkernel_sizes = [2, 2, 1]",
    )
    res = CliRunner().invoke(main, ["train", str(card), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    print(json.dumps(s))
    assert s["best_epoch"] > 0
    assert s["validation"]["L1"] < s["fp_param_validation"]["L1"]
    assert s["validation"]["L2"] < s["fp_param_validation"]["L2"]


@pytest.mark.slow
def test_wilson_loop_regression_example():
    """The PRL's 1+1D regression (examples/lcnn_wilson_loops_2d.py, quick settings): the L-CNN
    learns the loops and keeps its error from 8x8 to 64x64; the plain CNN on gauge-dependent
    link components learns no more than the mean."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "lcnn_wilson_loops_2d.py"
    spec = importlib.util.spec_from_file_location("wilson_loops_2d", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(quick=True)["test"]
    for L, r in res.items():
        assert r["lcnn"] < 0.25 * r["target_variance"], (L, r)
        assert r["cnn"] > 0.8 * r["target_variance"], (L, r)
    assert res[64]["lcnn"] == pytest.approx(res[8]["lcnn"], rel=0.25)


def test_trained_lcnn_from_a_cold_start(trained):
    """The trained SU(2) model from a cold start: the force at the identity is finite and a
    trajectory keeps the links finite."""
    d, _ = trained
    act = LCNNAction(4.0, checkpoint=str(d / "model.pt"))
    U = GaugeField.cold([2, 2, 2, 2], "SU(2)", batch=2)
    assert torch.isfinite(act.force(U)).all()
    V, st = HMC(act, n_steps=4).trajectory(U, ChainRNG(3, 2), metropolis=False)
    assert torch.isfinite(V.links).all() and torch.isfinite(st.dH).all()


def test_shipped_model_by_name_and_the_models_command(trained, tmp_path, monkeypatch):
    """A checkpoint in the models directory loads by its short name and gives the action of
    its file; ``lqcd-hmc models`` lists it with its held-out losses and the data's hash; an
    unknown name is one line naming the shipped ones."""
    import shutil

    import actions.lcnn.shipped as shipped
    from workflows.fixed_point.files import sha256

    d, summary = trained
    shutil.copy(d / "model.pt", tmp_path / "su2-test.pt")
    monkeypatch.setattr(shipped, "MODELS", tmp_path)
    by_name = build({"name": "lcnn", "beta": 1.5, "model": "su2-test"})
    by_path = build({"name": "lcnn", "beta": 1.5, "checkpoint": str(d / "model.pt")})
    f = GaugeField.hot([2] * 4, "SU(2)", ChainRNG(4, 2))
    assert torch.equal(by_name(f), by_path(f))
    assert by_name.params() == {"beta": 1.5, "model": "su2-test"}
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.output)
    _, obj = load_checkpoint(d / "model.pt")
    assert row["name"] == "su2-test" and row["group"] == "SU(2)" and row["D"] == 4
    assert row["validation_L1"] == summary["validation"]["L1"]
    assert row["data_sha256"] == sha256(obj["provenance"]["data"])
    assert "beta" in obj["provenance"]["data_card"]
    with pytest.raises(ValueError, match=r"no shipped L-CNN model 'su3-x' \(shipped: su2-test\)"):
        build({"name": "lcnn", "beta": 1.0, "model": "su3-x"})


def test_incompatible_checkpoints_are_refused(trained, tmp_path):
    """A later checkpoint layout is refused at load, a model of another group or dimension at
    its first use, each in one line."""
    d, _ = trained
    obj = torch.load(d / "model.pt", weights_only=True)
    obj["checkpoint_version"] = 2
    torch.save(obj, tmp_path / "later.pt")
    with pytest.raises(ValueError, match="checkpoint layout 2") as err:
        build({"name": "lcnn", "beta": 1.0, "checkpoint": str(tmp_path / "later.pt")})
    assert "\n" not in str(err.value)
    act = build({"name": "lcnn", "beta": 1.0, "checkpoint": str(d / "model.pt")})
    for dims, group in (([2] * 4, "SU(3)"), ([2] * 3, "SU(2)")):
        with pytest.raises(ValueError, match="lcnn checkpoint is for SU\\(2\\) in D = 4"):
            act(GaugeField.hot(dims, group, ChainRNG(1, 1)))


def test_scan_fp_param_rows_match_the_trainers_baseline(trained):
    """The architecture scan (bench/lcnn_scan.py) fits fp-param on the trainer's split: its
    order-3 row is the baseline the trainer reports, order 2 is worse on these data."""
    import tomllib

    from bench.lcnn_scan import fp_param_rows

    d, summary = trained
    base = tomllib.loads((d / "train.toml").read_text())
    o2, o3 = fp_param_rows(base)
    assert o3["L1"] == pytest.approx(summary["fp_param_validation"]["L1"], rel=1e-10)
    assert o3["L2"] == pytest.approx(summary["fp_param_validation"]["L2"], rel=1e-10)
    assert o2["L1"] > o3["L1"] and o2["parameters"] < o3["parameters"]
    # the "smooth" columns: the held-out configurations of Wilson beta >= 6 (here beta = 6 of
    # 3, 4, 6), checked with the Wilson action against a selection made here
    from bench.lcnn_scan import smooth_losses
    from workflows.fixed_point.files import read_fp_data
    from workflows.training.card import TrainCard
    from workflows.training.losses import evaluate, split

    card = TrainCard.model_validate(base).data
    data = read_fp_data(card.file)
    _, val = split(data["fields"].batch, card.validation, card.seed)
    keep = val[data["beta"][val] == 6.0]
    assert 0 < len(keep) < len(val)
    f = data["fields"].with_links(data["fields"].links[keep])
    wilson = build({"name": "wilson", "beta": 1.0})

    def fn(links):
        return wilson(f.with_links(links))

    want = evaluate(fn, f, data["action"].double()[keep], data["derivative"].double()[keep], 4)
    got = smooth_losses(fn, base)
    assert (got["L1_smooth"], got["L2_smooth"]) == pytest.approx((want["L1"], want["L2"]))
    # a checkpoint evaluated on the split (--also) reproduces the trainer's held-out losses
    from bench.lcnn_scan import checkpoint_row

    row = checkpoint_row("trained", str(d / "model.pt"), base)
    assert (row["L1"], row["L2"]) == pytest.approx(
        (summary["validation"]["L1"], summary["validation"]["L2"]), rel=1e-6
    )


def test_the_lcnn_bench_times_architectures_and_checkpoints():
    """``python -m bench.lcnn --models``: an architecture ``C-C/K-K`` (random weights, Wilson
    preconditioner) or a trained checkpoint as HMC runs it; a malformed one is refused."""
    from bench.lcnn_models import describe_model, model, parse_architecture

    assert parse_architecture("12-24-24/2-2-1") == ([12, 24, 24], [2, 2, 1])
    for bad in ("12-24/2", "a/b", "12", "4-4/"):
        with pytest.raises(ValueError, match="expected channels/kernel sizes"):
            parse_architecture(bad)
    cpu = torch.device("cpu")
    m = model(cpu, "4-4/2-1")
    assert (m.arch.channels, m.arch.kernel_sizes, m.preconditioner["name"]) == (
        [4, 4],
        [2, 1],
        "wilson",
    )
    s = model(cpu, "su3-fp-4x4-o4rr-small")
    assert s.arch.inputs == "laplacians"
    assert "fp-param with rectangles preconditioner (1600 parameters)" in describe_model(s, "x")


def test_the_layer_bench_times_each_part_as_the_network_runs_it():
    """``python -m bench.lcnn_layers``: the force, the network, its input layer, the hops
    where the layers take them (not on the native convolution), each L-CB layer (the first on
    half its channels, the last as ``Re Tr``) and the preconditioner, each a call that runs
    forward and backward."""
    from actions.lcnn import LCNNAction
    from bench.lcnn_layers import parts
    from bench.lcnn_models import model
    from lqcd_hmc import ChainRNG, GaugeField

    act = LCNNAction(6.0, model=model(torch.device("cpu"), "4-4-4/2-2-1"))
    f = GaugeField.hot([2] * 4, "SU(3)", ChainRNG(1, 1), "complex128")
    timed = parts(act, f)
    hops = any(layer.conv.uses_hops(f.links) for layer in act.model.net.layers)
    assert [name for name, _ in timed][3:] == ["hop matrices"] * hops + [
        "layer 1 of 3 (half the channels)",
        "layer 2 of 3",
        "layer 3 of 3, Re Tr only",
        "preconditioner",
    ]
    for _, call in timed:
        call()


@pytest.mark.parametrize(
    "name", ["su3-fp-4x4", "su3-fp-4x4-o4rr", "su3-fp-4x4-o4rr-small", "su3-fp-4x4-o4rr-8"]
)
def test_the_shipped_su3_model_runs_from_its_example_card(tmp_path, monkeypatch, name):
    """A shipped SU(3) model from the example card, by short name, in a fresh clone: two
    HMC trajectories on 4^4; its metadata name the FP data (the hashes of the files committed
    in data/, and their card), the training card, and held-out losses whose monitored
    combination is below fp-param's on the same validation configurations."""
    import tomllib
    from pathlib import Path

    from actions.lcnn.shipped import describe, resolve
    from workflows.fixed_point.files import sha256

    path = resolve(name)
    row = describe(path)
    _, obj = load_checkpoint(path)
    prov, metrics = obj["provenance"], obj["metrics"]
    files = [prov["data"]] if isinstance(prov["data"], str) else prov["data"]
    hashes = row["data_sha256"]
    hashes = [hashes] if isinstance(hashes, str) else hashes
    assert (row["group"], row["D"]) == ("SU(3)", 4) and len(hashes) == len(files) >= 1
    assert all("fp_data_su3_4x4" in f for f in files) and "[fixed_point]" in prov["data_card"]
    assert "[training]" in prov["card"]
    repo = Path(__file__).parent.parent
    assert [sha256(repo / f) for f in files] == hashes
    t = tomllib.loads(prov["card"])["training"]
    norm, base = metrics["normalisation"], metrics["fp_param_validation"]
    assert metrics["epoch"] > 0  # trained past its fp-param start, and better than it:
    assert metrics["loss"] < t["w1"] * base["L1"] / norm["L1"] + t["w2"] * base["L2"] / norm["L2"]
    monkeypatch.chdir(tmp_path)
    card = repo / "examples" / "su3_lcnn_fp_b6.0_4x4x4x4.toml"
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(card),
            "--set",
            "run.thermalisation=0",
            "--set",
            "run.trajectories=2",
            "--set",
            f"action.model={name}",
            "--json",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["trajectories"] == 2 and 0 < s["plaquette"] < 1
