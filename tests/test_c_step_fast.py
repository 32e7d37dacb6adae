"""The core's 32-bit fast step path (SNN_STEP_FAST, core/snn_step_fast.h) against its portable path.

Both builds run the same networks and input codes; outputs, spikes, state u/v/a and the per-step
counters (spikes, synaptic events) must agree bit for bit, and both must agree with numba. The
fast path replaces scale(acc, e) for e > 0 by one multiply and saturation when n_act * 2^e < 2^24;
the boundary networks put n_act on both sides of that bound at e = 16. Projections into one
destination are summed straight from the spike words (gather_one_fast).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.build import build_host_tool
from snnctl import runtime, snnfile
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection, Reset

from .randnet import inputs, networks
from .test_c_equivalence import assert_same

MAX24 = (1 << 23) - 1


@pytest.fixture(scope="module")
def snnrun_fast():
    return build_host_tool("snnrun", sanitize=True, defines={"SNN_STEP_FAST": 1})


@pytest.fixture(scope="module")
def snnrun_plain():
    return build_host_tool("snnrun", sanitize=True, defines={"SNN_STEP_FAST": 0})


def _run(tool, net: Network, codes: np.ndarray, tmp_path) -> tuple[runtime.Trace, np.ndarray]:
    """The C trace (outputs, spikes, u, v, a) and the per-step counters (spikes, synops)."""
    path = snnfile.save(net, tmp_path / "net.snn")
    res = subprocess.run([str(tool), str(path), "--trace", "--counters"], input=codes.astype("<i2").tobytes(),
                         capture_output=True, check=True, timeout=300)  # fmt: skip
    n, n_out = net.n_neurons, net.n_outputs
    rec = np.dtype([("out", "<i2", (n_out,)), ("spk", "u1", (n,)), ("u", "<i4", (n,)), ("v", "<i4", (n,)),
                    ("a", "<i4", (n,)), ("cnt", "<u4", (2,))])  # fmt: skip
    assert len(res.stdout) == codes.shape[0] * rec.itemsize, res.stderr.decode()
    r = np.frombuffer(res.stdout, dtype=rec)
    return runtime.Trace(r["out"], r["spk"], r["u"], r["v"], r["a"]), r["cnt"]


def _check(fast, plain, net: Network, codes: np.ndarray, tmp_path) -> None:
    tf, cf = _run(fast, net, codes, tmp_path)
    tp, cp = _run(plain, net, codes, tmp_path)
    assert_same(tf, tp)
    np.testing.assert_array_equal(cf, cp, "counters (spikes, synops)")
    assert_same(tf, runtime.run_trace(net, codes))
    np.testing.assert_array_equal(cf[:, 0], tf.spikes.sum(axis=1), "spike counter = spikes in the trace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_path_matches_portable_path_on_random_networks(data, snnrun_fast, snnrun_plain, tmp_path) -> None:
    """Sparse and dense projections, delays, LIF/ALIF/LI/DELTA, soft/hard reset, refractory periods."""
    net = data.draw(networks(max_pops=5, max_n=40, max_inputs=6))
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


def _pop(kind: Kind, n: int, bias: int, theta: int, reset: Reset, refractory: int, name: str) -> Population:
    return Population(kind, n, du=np.full(n, 700), dv=np.full(n, 300), bias=np.full(n, bias),
                      theta=np.full(n, theta), reset=reset, refractory=refractory, da=90, a_step=2000,
                      name=name)  # fmt: skip


def test_fast_path_at_the_exact_product_bound(snnrun_fast, snnrun_plain, tmp_path) -> None:
    """255, 256 and 300 always-firing sources at e = 16: n_act * 2^16 is under, at and over 2^24, so
    the first projection takes the multiply-and-saturate path and the others the clamping one;
    extreme weights drive acc to +-128 * n_act (saturating both ways), so a looser bound would
    overflow int32 at 300 sources (UBSan aborts the sanitized build)."""
    rng = np.random.default_rng(5)
    pops = [
        _pop(Kind.LIF, 255, MAX24, 1, Reset.HARD, 0, "src255"),
        _pop(Kind.LIF, 256, MAX24, 1, Reset.HARD, 0, "src256"),
        _pop(Kind.LIF, 16, 0, 3_000_000, Reset.SOFT, 2, "dst"),
        _pop(Kind.ALIF, 12, 0, 2_000_000, Reset.HARD, 0, "dst2"),
        _pop(Kind.LIF, 300, MAX24, 1, Reset.HARD, 0, "src300"),
        _pop(Kind.LI, 1, 0, 4096, Reset.HARD, 0, "one"),
    ]
    w255 = rng.choice(np.array([-128, 127, 0, 1]), (255, 16))
    w256 = rng.choice(np.array([-128, 127]), (256, 16))
    projs = [
        Projection(INPUT, 0, np.ones((1, 255), dtype=np.int64), 0, False, 0, False),
        Projection(0, 2, w255, 16, False, 0, False),
        Projection(1, 2, w256, 16, False, 1, False),
        Projection(0, 3, rng.integers(-128, 128, (255, 12)), 7, False, 0, False),
        Projection(1, 3, np.full((256, 12), -128), 16, False, 2, False),
        Projection(2, 3, rng.integers(-128, 128, (16, 12)), 3, False, 0, False),
        Projection(4, 2, np.repeat(np.array([[-128, 127] * 8]), 300, axis=0), 16, True, 0, False),
        Projection(4, 5, np.full((300, 1), -128), 16, False, 0, False),
        Projection(3, 5, rng.integers(-128, 128, (12, 1)), 9, False, 1, False),
    ]
    net = Network(1, pops, projs, [Output(2, 0, 4), Output(3, 5, 2), Output(5, 0, 8)])
    codes = np.random.default_rng(1).integers(-32768, 32768, (60, 1)).astype(np.int16)
    _check(snnrun_fast, snnrun_plain, net, codes, tmp_path)


def test_fast_path_matches_portable_path_for_10000_steps(snnrun_fast, snnrun_plain, tmp_path) -> None:
    """A long run of a random network with every kind, delays, refractory periods and sparse rows."""
    rng = np.random.default_rng(11)
    kinds = [
        (Kind.LIF, Reset.SOFT, 0),
        (Kind.ALIF, Reset.HARD, 3),
        (Kind.LIF, Reset.HARD, 1),
        (Kind.ALIF, Reset.SOFT, 0),
    ]
    pops = [_pop(k, 24 + 8 * i, 150, 3000 + 500 * i, r, refr, f"p{i}") for i, (k, r, refr) in enumerate(kinds)]
    pops.append(_pop(Kind.LI, 3, 0, 4096, Reset.HARD, 0, "out"))
    pops.append(_pop(Kind.LI, 1, 0, 4096, Reset.HARD, 0, "one"))  # one destination: gather_one_fast
    projs = [Projection(INPUT, 0, rng.integers(-128, 128, (2, 24)), 0, False, 0, False)]
    for src, dst, e, delay, sparse in ((0, 1, 5, 0, False), (1, 2, 4, 2, True), (2, 3, 6, 0, False),
                                       (3, 0, 2, 1, False), (3, 4, -2, 0, False), (1, 1, 3, 1, True),
                                       (1, 5, 4, 2, False), (3, 5, -1, 0, False)):  # fmt: skip
        w = rng.integers(-128, 128, (pops[src].n, pops[dst].n))
        w[rng.random(w.shape) < (0.7 if sparse else 0.1)] = 0
        projs.append(Projection(src, dst, w, e, src >= dst, delay, sparse))
    net = Network(2, pops, projs, [Output(4, 0, 6), Output(4, 2, 3), Output(1, 3, 0), Output(5, 0, 5)])
    t = np.arange(10_000)
    codes = np.stack([2000 * np.sin(t / 30), 1500 * np.sin(t / 7 + 1)], axis=1).astype(np.int16)
    tf, cf = _run(snnrun_fast, net, codes, tmp_path)
    tp, cp = _run(snnrun_plain, net, codes, tmp_path)
    assert_same(tf, tp)
    np.testing.assert_array_equal(cf, cp, "counters (spikes, synops)")
    assert 0 < tf.spikes.mean() < 1, "the run exercises spiking and silent neurons"
