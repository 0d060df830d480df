"""Per-chain random streams (lqcd_hmc.rng): Philox4x32-10 known answers, distributions,
independence of the batch, state round trip."""

import math

import numpy as np
import pytest
import torch

from lqcd_hmc.rng import ChainRNG, philox4x32

F = 0xFFFFFFFF


@pytest.mark.parametrize(
    "counter,key,expected",
    [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((F, F, F, F), (F, F), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_philox_known_answers(counter, key, expected):
    """Random123's kat_vectors for philox4x32-10 (Salmon et al., SC'11)."""
    t = [torch.tensor([v], dtype=torch.int64) for v in counter]
    k = [torch.tensor([v], dtype=torch.int64) for v in key]
    assert tuple(int(w) for w in philox4x32(t, k)) == expected


def test_uniform_and_normal_distributions():
    """Moments within 5 standard errors; uniforms in [0, 1) with 53-bit resolution; a
    Kolmogorov-Smirnov distance below its 0.1 % critical value."""
    rng = ChainRNG(5, 2)
    n = 200_000
    u = rng.uniform((n,))
    assert u.dtype == torch.float64 and u.min() >= 0 and u.max() < 1
    assert ((u.mean(1) - 0.5).abs() < 5 * math.sqrt(1 / 12 / n)).all()
    k = u * 2.0**53
    assert (k == k.round()).all()
    # all 53 bits carry randomness: the lowest is set half the time (it was never set when the
    # integers were scaled in float32, which also let u reach 1.0)
    assert abs(float((k % 2).mean()) - 0.5) < 5 * math.sqrt(0.25 / (2 * n))
    z = rng.normal((n,))
    assert ((z.mean(1)).abs() < 5 / math.sqrt(n)).all()
    assert ((z.var(1) - 1).abs() < 5 * math.sqrt(2 / n)).all()
    assert ((z**4).mean(1) - 3).abs().max() < 5 * math.sqrt(96 / n)
    s = np.sort(z[0].numpy())
    cdf = 0.5 * (1 + torch.erf(torch.from_numpy(s) / math.sqrt(2))).numpy()
    ks = np.max(np.abs(cdf - np.arange(1, n + 1) / n))
    assert ks < 1.95 / math.sqrt(n)
    f = rng.uniform((1000,), dtype=torch.float32)
    assert f.dtype == torch.float32 and 0 <= f.min() and f.max() < 1


def test_chains_are_independent_of_the_batch_and_of_each_other():
    """Chain 2 drawn alone equals chain 2 of a batch of four; two chains' normals are
    uncorrelated within 5 standard errors."""
    batch, alone = ChainRNG(9, 4), ChainRNG(9, [2])
    for draw in (lambda r: r.normal((3, 5)), lambda r: r.uniform(), lambda r: r.bits(7)):
        assert torch.equal(draw(batch)[2], draw(alone)[0])
    z = batch.normal((100_000,))
    assert abs(float((z[0] * z[1]).mean())) < 5 / math.sqrt(100_000)


def test_state_round_trip_and_bad_state():
    rng = ChainRNG(3, 2)
    rng.normal((11,))
    rng.per_chain(lambda g: torch.rand(3, generator=g))
    state = rng.get_state()
    expect = (rng.normal((4,)), rng.per_chain(lambda g: torch.rand(3, generator=g)))
    other = ChainRNG(3, 2)
    other.set_state(state)
    assert torch.equal(other.normal((4,)), expect[0])
    assert torch.equal(other.per_chain(lambda g: torch.rand(3, generator=g)), expect[1])
    with pytest.raises(ValueError, match="expected"):
        other.set_state([s[:-8] for s in state])
    with pytest.raises(ValueError, match="holds 1 chains"):
        other.set_state(state[:1])


def test_uniform_is_the_philox_words_to_53_bits_and_never_one():
    """``u = ((w0 >> 5) 2^26 + (w1 >> 6)) / 2^53`` exactly, from the chain's Philox words; the
    largest words give ``1 - 2^-53`` (not 1.0, where Box-Muller's log1p(-u) is -inf: the
    NaN momenta of the issue's beta = 5.7 run), and the normals stay finite."""
    rng = ChainRNG(9, 2)
    w = rng.bits(8)
    rng.counters -= 2  # the same two blocks again
    u = rng.uniform((4,))
    for b in range(2):
        for i in range(4):
            k = (int(w[b, 2 * i]) >> 5) * 2**26 + (int(w[b, 2 * i + 1]) >> 6)
            assert float(u[b, i]) == k / 2**53
    ones = ChainRNG(9, 1)
    ones.bits = lambda n: torch.full((1, n), 0xFFFFFFFF, dtype=torch.int64)
    assert float(ones.uniform((3,)).max()) == 1 - 2.0**-53
    assert torch.isfinite(ones.normal((6,))).all()
