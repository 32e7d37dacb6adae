"""The core's 32-bit neuron fast path (SNN_NEURON_FAST, core/snn_update_fast.h) and byte-lane gather
(SNN_GATHER_SWAR, core/snn_step_fast.h) against the portable path and numba.

The neuron fast path runs populations whose neurons share du, dv and theta; it computes
decay(x, d) = x - floor(x * d / 4096) as c * x - floor(x * k / 2^32) with k = d * 2^20 mod 2^32 (as
int32) and c = [d < 2048]. The byte-lane gather sums up to 256 active rows four weights per load
(16-bit lanes of biased bytes). Both builds (SNN_STEP_FAST = 1 / 0) run the same networks and codes;
traces and counters must agree bit for bit, and with numba.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.build import build_host_tool
from snnctl.network import INPUT, MAX24, MIN24, Kind, Network, Output, Population, Projection, Reset

from .randnet import inputs
from .test_c_step_fast import _check, _run

# decays at the edges of the two forms of the leak factor (c = 1 below 2048, 0 from 2048 on)
EDGE_DECAYS = [0, 1, 2, 1024, 2047, 2048, 2049, 4095, 4096]


@pytest.fixture(scope="module")
def snnrun_fast():
    return build_host_tool("snnrun", sanitize=True, defines={"SNN_STEP_FAST": 1})


@pytest.fixture(scope="module")
def snnrun_plain():
    return build_host_tool("snnrun", sanitize=True, defines={"SNN_STEP_FAST": 0})


def _leak_decay(x: int, d: int) -> int:
    """snn_update_fast.h's form, in Python integers: k is d * 2^20 mod 2^32 read as int32."""
    m = (d << 20) % 2**32
    k = m - 2**32 if m >= 2**31 else m
    c = 1 if d < 2048 else 0
    return c * x - ((x * k) >> 32)  # Python >> floors


def test_leak_factors_give_decay_for_every_d() -> None:
    """Every d in 0..4096 against x - floor(x * d / 4096), x at the 24-bit extremes and random."""
    rng = np.random.default_rng(3)
    xs = [MIN24, MIN24 + 1, -4097, -4096, -4095, -1, 0, 1, 4095, 4096, MAX24 - 1, MAX24]
    xs += [int(x) for x in rng.integers(MIN24, MAX24 + 1, 40)]
    for d in range(4097):
        for x in xs:
            assert _leak_decay(x, d) == x - (x * d) // 4096, (x, d)


@st.composite
def shared_networks(draw, max_pops: int = 4, max_n: int = 70) -> Network:
    """Random networks whose populations share du, dv and theta (the fast path's case), the shared
    values drawn at the leak factor's edges and the range extremes; bias per neuron or shared."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in = draw(st.integers(1, 3))
    n_pop = draw(st.integers(1, max_pops))
    pops = []
    for i in range(n_pop):
        n = draw(st.sampled_from([1, 5, 31, 32, 33, draw(st.integers(1, max_n))]))
        if draw(st.booleans()):
            bias = rng.integers(-3000, 3001, n)
            bias[rng.random(n) < 0.2] = rng.choice([MIN24, MAX24, 0])
        else:
            bias = draw(st.sampled_from([MIN24, -200, 0, 150, MAX24]))
        pops.append(Population(
            draw(st.sampled_from(list(Kind))), n,
            du=draw(st.sampled_from(EDGE_DECAYS)), dv=draw(st.sampled_from(EDGE_DECAYS)), bias=bias,
            theta=draw(st.sampled_from([1, 2, 900, 4096, 3_000_000, MAX24])),
            reset=draw(st.sampled_from(list(Reset))), refractory=draw(st.sampled_from([0, 0, 1, 3, 15])),
            da=draw(st.sampled_from(EDGE_DECAYS)), a_step=draw(st.sampled_from([0, 1, 2000, MAX24])), name=f"p{i}",
        ))  # fmt: skip
    projs = []
    for _ in range(draw(st.integers(1, 6))):
        dst = draw(st.integers(0, n_pop - 1))
        src = draw(st.sampled_from([INPUT, *range(n_pop)]))
        recurrent, delay = False, 0
        if src != INPUT:
            delay = draw(st.sampled_from([0, 0, 1, 2]))
            recurrent = src >= dst and delay == 0
        n_src = n_in if src == INPUT else pops[src].n
        w = rng.integers(-128, 128, (n_src, pops[dst].n))
        w[rng.random(w.shape) < draw(st.sampled_from([0.0, 0.5]))] = 0
        projs.append(Projection(src, dst, w, draw(st.integers(-16, 16)), recurrent, delay, draw(st.booleans())))
    p = draw(st.integers(0, n_pop - 1))
    return Network(n_in, pops, projs, [Output(p, draw(st.integers(0, pops[p].n - 1)), draw(st.integers(0, 23)))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_neuron_path_matches_portable_path_on_shared_parameters(data, snnrun_fast, snnrun_plain, tmp_path):
    """LIF/ALIF (and LI/DELTA beside them), both resets, refractory periods, population sizes
    across the 32-neuron history words, shared values at the extremes (states saturate)."""
    net = data.draw(shared_networks())
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


def _always_firing(n: int, name: str) -> Population:
    return Population(Kind.LIF, n, du=4096, dv=0, bias=MAX24, theta=1, reset=Reset.HARD, name=name)


@pytest.mark.parametrize("n_dst", [8, 12, 13, 20, 40, 47])
def test_byte_lane_gather_at_the_lane_bound(n_dst: int, snnrun_fast, snnrun_plain, tmp_path) -> None:
    """256 always-firing sources (the most swar_sums takes: a lane reaches 255 * 256 = 65280 with all
    weights 127, 0 with all -128) and 257 (the 8-wide fallback), weights at both extremes and
    random, exponents that take the exact and the clamping scale; n_dst covers 12- and 8-blocks
    and the one-at-a-time tail."""
    rng = np.random.default_rng(n_dst)
    pops = [
        _always_firing(256, "src256"),
        _always_firing(257, "src257"),
        Population(
            Kind.ALIF,
            n_dst,
            du=900,
            dv=3000,
            bias=0,
            theta=2_000_000,
            reset=Reset.SOFT,
            da=100,
            a_step=5000,
            name="dst",
        ),  # fmt: skip
        Population(
            Kind.LIF,
            n_dst,
            du=2048,
            dv=2047,
            bias=rng.integers(-500, 500, n_dst),
            theta=4_000_000,
            reset=Reset.HARD,
            refractory=2,
            name="dst2",
        ),  # fmt: skip
    ]
    top = np.full((256, n_dst), 127)
    bottom = np.full((257, n_dst), -128)
    mixed = rng.choice(np.array([-128, 127, 0, 1, -1]), (256, n_dst))
    projs = [
        Projection(INPUT, 0, np.ones((1, 256), dtype=np.int64), 0, False, 0, False),
        Projection(0, 2, top, 0, False, 0, False),
        Projection(1, 2, bottom, 2, False, 0, False),
        Projection(0, 2, mixed, 16, False, 1, False),
        Projection(0, 3, mixed, 6, False, 0, False),
        Projection(1, 3, rng.integers(-128, 128, (257, n_dst)), -3, False, 0, False),
        Projection(2, 3, rng.integers(-128, 128, (n_dst, n_dst)), 9, False, 0, False),
    ]
    net = Network(1, pops, projs, [Output(2, 0, 4), Output(3, n_dst - 1, 6)])
    codes = np.random.default_rng(1).integers(-32768, 32768, (30, 1)).astype(np.int16)
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


@pytest.mark.parametrize("n_src", [3, 4, 7, 33, 38, 64, 257])
def test_one_destination_gather_on_dense_and_sparse_words(n_src: int, snnrun_fast, snnrun_plain, tmp_path) -> None:
    """A projection into one neuron from an always-firing source (every word dense: the
    four-at-a-time masked sums, with the row's last 0..3 weights one at a time) and from a source
    whose neurons fire at random (sparse and dense words), weights at both extremes."""
    rng = np.random.default_rng(n_src)
    pops = [
        _always_firing(n_src, "all"),
        Population(
            Kind.LIF,
            n_src,
            du=4096,
            dv=1000,
            bias=rng.integers(-4000, 6000, n_src),
            theta=3000,
            reset=Reset.SOFT,
            name="some",
        ),  # fmt: skip
        Population(Kind.LI, 1, du=4096, dv=300, name="one"),
        Population(Kind.LIF, 1, du=100, dv=3000, theta=500_000, reset=Reset.HARD, name="one2"),
    ]
    projs = [
        Projection(INPUT, 0, np.ones((1, n_src), dtype=np.int64), 0, False, 0, False),
        Projection(INPUT, 1, rng.integers(-128, 128, (1, n_src)), 0, False, 0, False),
        Projection(0, 2, rng.choice(np.array([-128, 127]), (n_src, 1)), 3, False, 0, False),
        Projection(1, 2, rng.choice(np.array([-128, 127, 5]), (n_src, 1)), 16, False, 1, False),
        Projection(1, 3, rng.integers(-128, 128, (n_src, 1)), -2, False, 0, False),
        Projection(0, 3, np.full((n_src, 1), -128), 0, False, 0, False),
    ]
    net = Network(1, pops, projs, [Output(2, 0, 3), Output(3, 0, 0)])
    t = np.arange(40)
    codes = (3000 * np.sin(t / 3)).astype(np.int16)[:, None]
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


@pytest.mark.parametrize("e", [-1, 0, 1, 8, 9, 16])
def test_one_nonzero_input_code(e: int, snnrun_fast, snnrun_plain, tmp_path) -> None:
    """Steps where exactly one input code is nonzero take gather_input_one for 0 <= e <= 8 (its
    product row[j] * x * 2^e reaches 2^30 at e = 8 with w = -128, x = -32768); e = -1, 9 and 16
    and the steps with several nonzero codes take gather_input. Two input projections into one
    population: the second adds to the first (not fresh)."""
    rng = np.random.default_rng(e + 20)
    n = 13
    pops = [
        Population(
            Kind.LIF, n, du=0, dv=2048, bias=rng.integers(-100, 100, n), theta=MAX24, reset=Reset.SOFT, name="a"
        ),  # fmt: skip
        Population(Kind.LI, 3, du=4096, dv=4096, name="b"),
    ]
    extremes = np.array([-128, 127, 0, 1, -1])
    projs = [
        Projection(INPUT, 0, rng.choice(extremes, (3, n)), e, False, 0, False),
        Projection(INPUT, 0, rng.choice(extremes, (3, n)), max(e - 3, -16), False, 0, False),
        Projection(INPUT, 1, np.full((3, 3), -128), e, False, 0, False),
    ]
    net = Network(3, pops, projs, [Output(0, 0, 0), Output(1, 2, 0)])
    pool = np.array([-32768, 32767, -1, 1, 500, -700], dtype=np.int16)
    codes = np.zeros((60, 3), dtype=np.int16)
    for t in range(60):  # one nonzero code in most steps, two or none in some
        k = rng.choice([1, 1, 1, 2, 0])
        codes[t, rng.choice(3, k, replace=False)] = rng.choice(pool, k)
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


@pytest.mark.parametrize("decays", [(0, 1, 2047), (1024, 512, 64), (2047, 0, 1), (2047, 2047, 2047)])
def test_alif_with_slow_leaks(decays: tuple[int, int, int], snnrun_fast, snnrun_plain, tmp_path) -> None:
    """ALIF populations whose du, dv and da are all below 2048 take the loops with c = 1 as a
    constant: both resets, with and without a refractory period, driven to saturation both ways
    and through threshold many times (a grows and decays)."""
    du, dv, da = decays
    rng = np.random.default_rng(du + dv + da)
    n = 37
    pops = [
        Population(
            Kind.ALIF,
            n,
            du=du,
            dv=dv,
            bias=rng.integers(-5000, 5000, n),
            theta=40_000,
            reset=reset,
            refractory=refr,
            da=da,
            a_step=a_step,
            name=f"alif{i}",
        )  # fmt: skip
        for i, (reset, refr, a_step) in enumerate(
            [(Reset.SOFT, 0, 3000), (Reset.HARD, 0, MAX24), (Reset.SOFT, 2, 1), (Reset.HARD, 15, 20_000)]
        )
    ]
    projs = [Projection(INPUT, k, rng.integers(-128, 128, (2, n)), 8, False, 0, False) for k in range(4)]
    projs += [Projection(k, (k + 1) % 4, rng.integers(-128, 128, (n, n)), 10, True, 0, False) for k in range(4)]
    net = Network(2, pops, projs, [Output(k, k, 4) for k in range(4)])
    t = np.arange(200)
    codes = np.stack([32767 * np.sin(t / 5), 20000 * np.cos(t / 11)], axis=1).astype(np.int16)
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


def test_one_input_code_at_the_no_saturation_bound(snnrun_fast, snnrun_plain, tmp_path) -> None:
    """|x * 2^e| = 65534 needs no saturation (128 * 65534 < 2^23), 65536 does (-128 * -65536 = 2^23 >
    MAX24): u without leak (du = 0) is first driven to MIN24, then one step adds the product, which
    shows whether it was saturated (MIN24 + MAX24 = -1) or not (0)."""
    pops = [Population(Kind.LIF, 4, du=0, dv=0, theta=MAX24, name="a"), Population(Kind.LI, 1, name="b")]
    projs = [
        Projection(INPUT, 0, np.array([[-128, 127, -128, 1]]), 1, False, 0, False),
        Projection(INPUT, 1, np.array([[-128]]), 1, False, 0, False),
    ]
    net = Network(1, pops, projs, [Output(0, 0, 0), Output(1, 0, 0)])
    codes = np.array([32767, 32767, 32767, -32768, -32768, 32767, 0, -32767, 32767], dtype=np.int16)[:, None]
    trace, _ = _run(snnrun_fast, net, codes, tmp_path)
    assert trace.u[2, 0] == MIN24 and trace.u[3, 0] == MIN24 + MAX24, "the bound case is reached"
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)
