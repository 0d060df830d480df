"""The quick-start job through the command line."""
import json

from click.testing import CliRunner

from lqcd_hmc.cli import main


def test_demo_runs_and_prints_json():
    res = CliRunner().invoke(main, ["demo", "--dims", "4,4", "--group", "SU(2)", "--beta", "2.0",
                                    "--trajectories", "3", "--therm", "1", "--chains", "2",
                                    "--json"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.output.splitlines()]
    assert len(recs) == 8 and {"plaquette", "dH", "accepted"} <= set(recs[0])
    assert [r["metropolis"] for r in recs] == [False] * 2 + [True] * 6
    assert all(0 < r["plaquette"] <= 1 for r in recs)


def test_demo_table_output():
    res = CliRunner().invoke(main, ["demo", "--trajectories", "2", "--chains", "1"])
    assert res.exit_code == 0, res.output
    assert "plaquette" in res.output and "acceptance" in res.output


def test_bad_input_one_line_error():
    for args in (["demo", "--dims", "4,1"], ["demo", "--group", "SO(3)"],
                 ["demo", "--integrator", "euler"], ["demo", "--dims", "4,x"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code != 0
        assert res.output.startswith("Error:") and len(res.output.strip().splitlines()) == 1, \
            res.output
        assert "Traceback" not in res.output
