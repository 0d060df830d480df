import pytest
import torch

torch.set_num_threads(1)

FP_CARD = """
[lattice]
dims = [2, 2, 2, 2]
group = "SU(2)"
seed = 11
[generate]
action = {{ name = "wilson" }}
betas = [3.0, 4.0, 6.0]
configurations = 4
thermalisation = 20
[fixed_point]
tolerance = 1e-8
[output]
file = "{out}"
"""


@pytest.fixture(scope="session")
def fp_data(tmp_path_factory):
    """FP data through the CLI: SU(2) 2^4, Wilson ensembles at three betas, 4 each; the
    directory holds ``fp.toml`` and ``fp.h5``."""
    return _fp_data_dir(tmp_path_factory.mktemp("fp"), FP_CARD)


@pytest.fixture(scope="session")
def fp_data_su3(tmp_path_factory):
    """As ``fp_data`` for SU(3): 2^4, Wilson at beta 8, 4 configurations."""
    text = FP_CARD.replace('"SU(2)"', '"SU(3)"').replace("[3.0, 4.0, 6.0]", "[8.0]")
    return _fp_data_dir(tmp_path_factory.mktemp("fp3"), text)


def _fp_data_dir(d, card_text: str):
    from click.testing import CliRunner

    from lqcd_hmc.cli import main

    card = d / "fp.toml"
    card.write_text(card_text.format(out=(d / "fp.h5").as_posix()))
    res = CliRunner().invoke(main, ["fp-data", str(card), "--quiet"])
    assert res.exit_code == 0, res.output
    return d
