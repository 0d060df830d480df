"""Study cards of ``lqcd-hmc compare``: bad cards and selections are one-line errors, the
example cards are valid, each action's flow options and spacings (``spacings``, ``starts``,
``study.flow_t_max``) reach its ensemble cards."""

import pytest
from click.testing import CliRunner
from study_cards import write_study

from lqcd_hmc.cli import main
from workflows.study.card import load_study


@pytest.mark.parametrize(
    "extra_study,extra_action,message",
    [
        ("", '[[action]]\nname = "iwasaki"\nbetas = [2.0]', "betas has 1 entries for 2 spacings"),
        ('ratios = ["nope"]', "", "unknown ratio 'nope'"),
        ("", '[[action]]\nname = "nonesuch"\nbetas = [1.0, 2.0]', "unknown action 'nonesuch'"),
        ("", '[[action]]\nname = "wilson"\nbetas = [1.0, 2.0]', "two actions are labelled"),
        ("", '[[action]]\nname = "iwasaki"\nbeta = 2.0\nbetas = [1.0, 2.0]', "not beta"),
        ('continuum = ["nope"]', "", "study.continuum: no action is labelled 'nope'"),
        ("wilson_flow = true", "", 'wilson_flow = true needs flow = "action"'),
        ("action_energy = true", "", 'action_energy = true needs flow = "action"'),
        ('action_energy = "stored"', "", 'action_energy = "stored" needs flow = "action"'),
        ('action_energy = "later"', "", "action_energy"),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nflow = { epsilon = 0.01 }',
            'flow needs study.flow = "action"',
        ),
        ("literature = { nope = [1.0, 0.1] }", "", "unknown ratio 'nope'"),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nrun = { output = "x.h5" }',
            "run.output is named by the study",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nlattice = { dims = [4, 4] }',
            "the lattice dims are the same for every action",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1, 0]\nbetas = [1.0, 2.0]',
            "spacings must be distinct increasing indices 0..1, got [1, 0]",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [2]\nbetas = [1.0]',
            "spacings must be distinct increasing indices 0..1, got [2]",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [1.0, 2.0]',
            "betas has 2 entries for 1 spacings",
        ),
        ("flow_t_max = [1.5]", "", "study.flow_t_max has 1 entries for 2 spacings"),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nstep = [0.1]',
            "step has 1 entries for 2 spacings",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [1.0]\nstarts = { 0 = "a.h5" }',
            "starts names spacing 0, which it does not run at ([1])",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nskip = { 2 = 4 }',
            "skip names spacing 2, which it does not run at ([0, 1])",
        ),
        (
            "",
            '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nstarts = { 1 = "b.h5" }\n'
            'lattice = { start = "cold" }',
            "give starts or lattice.start, not both",
        ),
        ("flow_t_max = [1.5, -1.0]", "", "greater than 0"),
    ],
)
def test_bad_study_cards_are_one_line_errors(tmp_path, extra_study, extra_action, message):
    card = write_study(tmp_path / "s.toml", tmp_path / "out", extra_study, extra_action)
    res = CliRunner().invoke(main, ["compare", str(card)])
    assert res.exit_code == 1 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_tuning_starts_from_each_spacings_step(tmp_path, monkeypatch):
    """``step = [0.05, -0.1]``: the tuner starts at that spacing's ``beta`` with that spacing's
    step (its second guess ``beta + step``, or ``|step|`` toward the target once the first run
    is complete: ``tune.first_guesses``); a single step (or the card's ``match.step``) serves
    every spacing."""
    from workflows.study import compare

    extra = (
        '[[action]]\nname = "iwasaki"\nbetas = [1.0, 2.0]\nstep = [0.05, -0.1]\n'
        "[match]\ntargets = [1.0, 1.5]\nstep = 0.2"
    )
    card = load_study(write_study(tmp_path / "s.toml", tmp_path / "out", "", extra))
    seen = []

    def tune_beta(first, observable, target, directory, step, **kwargs):
        seen.append((first.action_config()["beta"], step))
        raise StopIteration

    monkeypatch.setattr(compare, "tune_beta", tune_beta)
    for action in card.action[1:]:
        for i, beta in enumerate(action.betas):
            with pytest.raises(StopIteration):
                compare._ensemble(card, action, i, beta, tmp_path / "out", {})
    assert seen == [(1.7, 0.2), (1.9, 0.2), (1.0, 0.05), (2.0, -0.1)]


@pytest.mark.parametrize(
    "option,message",
    [
        (["--only", "Iwasaki"], "--only 'Iwasaki': the card's actions are wilson, LW"),
        (["--spacing", "2"], "--spacing 2: the card has spacings 0..1"),
    ],
)
def test_bad_study_selections(tmp_path, option, message):
    card = write_study(tmp_path / "s.toml", tmp_path / "out")
    res = CliRunner().invoke(main, ["compare", str(card), *option])
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_example_study_cards_are_valid():
    """Every example study card builds every action (the FP actions from the shipped model
    and its fp-param fits); the CPU and GPU cards hold the six kinds of action with both flows,
    the CPU card the continuum anchors at three spacings, the first fp-param fit at the
    coarsest and the others at the two coarse ones."""
    from pathlib import Path

    examples = Path(__file__).parent.parent / "examples"
    laptop = load_study(examples / "compare_su3_laptop.toml")
    assert laptop.spacings == 2 and laptop.match is not None
    for name, spacings in (("cpu", 3), ("gpu", 3)):
        card = load_study(examples / f"compare_su3_{name}.toml")
        assert card.spacings == spacings and card.study.wilson_flow
        names = [a.name for a in card.action]
        assert list(dict.fromkeys(names)) == [
            "wilson",
            "symanzik",
            "iwasaki",
            "dbw2",
            "fp-param",
            "lcnn",
        ]
    cpu = load_study(examples / "compare_su3_cpu.toml")
    assert [a.name for a in cpu.action][4:] == ["fp-param", "fp-param", "lcnn"]
    spacings = [cpu.action_spacings(a) for a in cpu.action]
    assert spacings == [[0, 1, 2]] * 2 + [[0, 1]] * 2 + [[0], [0, 1], [0, 1]]


def test_an_actions_flow_options_stay_with_its_own_flow():
    """Iwasaki's adaptive steps go into its own flow only; its Wilson flow keeps the card's
    fixed steps, and Wilson's ensembles are flowed once, with the card's steps."""
    from pathlib import Path

    card = load_study(Path(__file__).parent.parent / "examples" / "compare_su3_cpu.toml")
    by_name = {a.name: a for a in card.action}

    def flows(name: str) -> dict:
        run = card.ensemble_card(by_name[name], 2.3, 0, Path("x.h5")).to_dict()
        return {m.get("table", m["name"]): m for m in run["measure"] if "flow" in m}

    iwasaki = flows("iwasaki")
    own, wilson = iwasaki["gradient_flow"], iwasaki["gradient_flow_wilson"]
    assert own["flow"]["name"] == "iwasaki" and own["adaptive"] and own["tolerance"] == 1e-5
    assert wilson["flow"] == "wilson" and not wilson.get("adaptive") and wilson["epsilon"] == 0.1
    (only,) = flows("wilson").values()
    assert only["flow"]["name"] == "wilson" and not only.get("adaptive")


def test_flow_with_each_action(tmp_path):
    """``flow = "action"``: every ensemble's gradient flow is its own action's (for a
    fixed-point action the classically perfect flow)."""
    card = write_study(tmp_path / "s.toml", tmp_path / "out", 'flow = "action"')
    sc = load_study(card)
    for a in sc.action:
        c = sc.ensemble_card(a, 1.5, 0, tmp_path / "x.h5")
        flow = next(m for m in c.measure_configs() if m["name"] == "gradient_flow")["flow"]
        assert flow == {"name": a.name, "beta": 1.5}
    # an action's own flow options (a stiffer flow needs shorter steps)
    sc.action[1].flow = {"epsilon": 0.01}
    m = sc.ensemble_card(sc.action[1], 1.5, 0, tmp_path / "x.h5").measure_configs()[0]
    assert m["epsilon"] == 0.01 and m["flow"] == {"name": "symanzik", "beta": 1.5}


def test_actions_run_at_their_own_spacings(monkeypatch, tmp_path):
    """An action with ``spacings = [1]`` has one ensemble, at spacing 1 from its one beta and
    its one stored start, and ``--spacing 0`` leaves it out; ``study.flow_t_max`` sets each
    spacing's flow length, and a card whose flow it would set needs a gradient flow."""
    from workflows.study import compare

    card = write_study(
        tmp_path / "s.toml",
        tmp_path / "out",
        "dims = [[4, 4, 4, 4], [6, 6, 6, 6]]\nflow_t_max = [1.5, 2.5]",
        '[[action]]\nname = "iwasaki"\nspacings = [1]\nbetas = [2.3]\nstarts = { 1 = "w.h5" }',
    )
    sc = load_study(card)
    calls = []

    def fake(card, action, i, beta, out, run_options, start=None):
        run = card.ensemble_card(action, beta, i, out / "x.h5", start=start)
        (flow,) = [m for m in run.measure_configs() if m["name"] == "gradient_flow"]
        start = run.lattice.start if isinstance(run.lattice.start, str) else run.lattice.start.file
        calls.append((action.title, i, beta, run.lattice.dims, flow["t_max"], start))
        entry = {"beta": beta, "dims": run.lattice.dims, "mc": None, "update": {}, "tuning": None}
        return {**entry, "ensemble": f"{action.title}{i}.h5", "generated": False, "quantities": {}}

    monkeypatch.setattr(compare, "_ensemble", fake)
    compare.run_study(sc, only=["iwasaki", "LW"])
    assert calls == [
        ("LW", 0, 1.7, [4, 4, 4, 4], 1.5, "hot"),
        ("LW", 1, 1.9, [6, 6, 6, 6], 2.5, "hot"),
        ("iwasaki", 1, 2.3, [6, 6, 6, 6], 2.5, "w.h5"),
    ]
    calls.clear()
    res = compare.run_study(sc, only=["iwasaki"], spacings=[0])
    assert calls == [] and res["actions"] == {"iwasaki": []}
    text = card.read_text().replace('name = "gradient_flow"', 'name = "plaquette"')
    (tmp_path / "t.toml").write_text(text)
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "t.toml")])
    assert res.exit_code == 1 and "flow_t_max needs a gradient_flow measurement" in res.output


def test_a_start_from_another_actions_ensemble(monkeypatch, tmp_path):
    """``starts = { 1 = "LW" }``: the chains at spacing 1 start from the ensemble the earlier
    action LW has there in the same call; without LW in ``--only`` that is a one-line error
    before any run, and an action that does not run at that spacing is refused in the card."""
    from workflows.study import compare

    extra = '[[action]]\nname = "iwasaki"\nbetas = [2.3, 2.5]\nstarts = { 1 = "LW" }'
    card = write_study(tmp_path / "s.toml", tmp_path / "out", "", extra)
    calls = []

    def fake(card, action, i, beta, out, run_options, start=None):
        calls.append((action.title, i, start))
        entry = {"beta": beta, "dims": card.dims(i), "mc": None, "update": {}, "tuning": None}
        return {**entry, "ensemble": f"{action.title}{i}.h5", "generated": False, "quantities": {}}

    monkeypatch.setattr(compare, "_ensemble", fake)
    compare.run_study(load_study(card), only=["LW", "iwasaki"])
    assert calls == [
        ("LW", 0, None),
        ("LW", 1, None),
        ("iwasaki", 0, None),
        ("iwasaki", 1, "LW1.h5"),
    ]
    assert (
        load_study(card)
        .ensemble_card(load_study(card).action[2], 2.5, 1, tmp_path / "x.h5", start="LW1.h5")
        .lattice.start.file
        == "LW1.h5"
    )
    calls.clear()
    res = CliRunner().invoke(main, ["compare", str(card), "--only", "iwasaki"])
    assert res.exit_code == 1 and calls == []
    assert "starts from 'LW''s ensemble at spacing 1: run 'LW' in the same call" in res.output
    assert len(res.output.strip().splitlines()) == 1
    compare.run_study(load_study(card), only=["iwasaki"], spacings=[0])  # spacing 0: no start
    assert calls == [("iwasaki", 0, None)]
    text = card.read_text().replace("betas = [1.7, 1.9]", "spacings = [0]\nbetas = [1.7]")
    (tmp_path / "t.toml").write_text(text)
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "t.toml")])
    assert res.exit_code == 1 and "starts {1 = 'LW'}: 'LW' does not run at spacing 1" in res.output
