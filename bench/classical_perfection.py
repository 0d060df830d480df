"""Classical perfection of the parametrised FP actions before and after the free-FP constraint
(``actions.fixed_point.perfect``): small plane waves (amplitude 1e-3, along axis 1 of
(2, 16, 2, 2), ka = pi/8, pi/4, 3 pi/8, pi/2) against the exact FP value of the free FP action, and
constant flux n = 1, 2 on (4, 4, 2, 2) against the continuum action, for Wilson, ``fp-param``
fitted without and with the constraint, and an L-CNN trained (3 epochs, channels [4, 4]) with
the constraint. FP data: 8 heatbath configurations of 2^4 per group, default kernel, one level
(for the L-CNN through ``lqcd-hmc fp-data`` and ``lqcd-hmc train``).

    python -m bench.classical_perfection
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner

from actions import Wilson
from actions.fixed_point import Blocking, FixedPoint
from actions.fixed_point.free_fixed_point import free_fixed_point
from actions.fixed_point.parametrisation import fit
from actions.fixed_point.perfect import plane_wave_fp
from lqcd_hmc import ChainRNG, GaugeField, build
from lqcd_hmc.cli import main as cli
from lqcd_hmc.heatbath import Heatbath
from lqcd_hmc.smooth import plane_wave
from observables.classical import flux_deviations

DIMS = (2, 16, 2, 2)
MODES = (1, 2, 3, 4)
FP_CARD = """
[lattice]
dims = [2, 2, 2, 2]
group = "{group}"
seed = 3
[generate]
betas = {betas}
configurations = 4
thermalisation = 20
[output]
file = "{out}"
"""
TRAIN_CARD = """
[data]
file = "{data}"
[model]
channels = [4, 4]
kernel_sizes = [2, 1]
free_box = 9
[training]
epochs = 3
batch_size = 3
[output]
checkpoint = "{out}"
"""


def row(name: str, action, free, group: str) -> str:
    pw = [
        float(action(plane_wave(DIMS, group, n, 1e-3))[0])
        / plane_wave_fp(free, DIMS, group, n, 1e-3)
        - 1
        for n in MODES
    ]
    fl = [r["deviation"] for r in flux_deviations(action, 1.0, group, (4, 4, 2, 2), [1, 2])]
    return f"| {group} | {name} | " + " | ".join(f"{x:+.2e}" for x in pw + fl) + " |"


def data(group: str) -> tuple[GaugeField, object, object]:
    rng = ChainRNG(5, 8)
    f = GaugeField.hot([2, 2, 2, 2], group, rng)
    hb = Heatbath(Wilson({"SU(2)": 4.0, "SU(3)": 8.0}[group]), 1)
    for _ in range(20):
        f = hb.update(f, rng)[0]
    r = FixedPoint(levels=1, tolerance=1e-8)(f)
    return f, r.action, r.derivative


def main() -> None:
    k = Blocking()
    free = free_fixed_point(k.c, k.kappa, k.c_diagonal, L=9, tolerance=1e-9)
    waves = " | ".join(f"ka = {n}pi/8" for n in MODES)
    print(f"| group | action | plane wave {waves} | flux n = 1 | flux n = 2 |")
    print("|---|---|" + "---|" * (len(MODES) + 2))
    for group in ("SU(2)", "SU(3)"):
        f, A, dA = data(group)
        print(row("Wilson", Wilson(1.0), free, group))
        print(row("fp-param, unconstrained", fit([f], A, dA), free, group))
        print(row("fp-param, constrained", fit([f], A, dA, free=free), free, group), flush=True)
    for group, betas in (("SU(2)", [3.0, 4.0]), ("SU(3)", [6.0, 8.0])):
        print(row("L-CNN, constrained", lcnn(group, betas), free, group), flush=True)


def lcnn(group: str, betas: list[float]):
    """An L-CNN trained with the classically perfect default card on fresh FP data."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        text = FP_CARD.format(out=(d / "fp.h5").as_posix(), group=group, betas=betas)
        (d / "fp.toml").write_text(text)
        res = CliRunner().invoke(cli, ["fp-data", str(d / "fp.toml"), "--quiet"])
        assert res.exit_code == 0, res.output
        card = TRAIN_CARD.format(data=(d / "fp.h5").as_posix(), out=(d / "m.pt").as_posix())
        (d / "train.toml").write_text(card)
        res = CliRunner().invoke(cli, ["train", str(d / "train.toml"), "--json"])
        assert res.exit_code == 0, res.output
        return build({"name": "lcnn", "beta": 1.0, "checkpoint": str(d / "m.pt")})


if __name__ == "__main__":
    main()
