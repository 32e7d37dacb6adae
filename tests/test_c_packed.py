"""The packed arena of the 8-bit builds (SNN_PACKED_STATE: 24-bit state cells, nibble refractory
counters, parameters and sparse indices read from the blob) runs the same integer model: bit for
bit the numba runtime and the 32-bit core, on random networks and on the blimp controller's shape,
and its loader gives the same error codes as the Python reader. Built on this host with the
sanitizers (an out-of-bounds cell or nibble access aborts) and, like the AVR with its network in
flash, reading the blob only through the byte hook (test_blob_hook.py); the AVR itself under
simavr: test_avr_packed.py.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.build import build_host_tool
from firmware_bridge.memory import device_bytes
from snnctl import runtime, snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.network import Kind, Network

from . import snn_corrupt
from .randnet import inputs, networks
from .test_c_equivalence import _c_codes, _py_code, assert_same, c_trace

PACKED = {"SNN_PACKED_STATE": 1}
# what avr-gcc compiles: the packed cells with the split decay and the one-at-a-time gathers
PACKED_PORTABLE = {**PACKED, "SNN_DECAY_WIDE": 0, "SNN_GATHER_WIDE": 0}


@pytest.fixture(scope="module")
def snnrun_packed():
    """The AVR's configuration on this host: packed, portable paths, and every blob read through the
    byte hook from an unreadable address (as from AVR flash; test_blob_hook.py)."""
    return build_host_tool("snnrun", sanitize=True, defines=PACKED_PORTABLE, harvard=True)


@pytest.fixture(scope="module")
def snnrun_packed_wide():
    return build_host_tool("snnrun", sanitize=True, defines=PACKED)


@pytest.fixture(scope="module")
def snnrun_32():
    return build_host_tool("snnrun", sanitize=True)


def c_arena_bytes(tool, net: Network, tmp_path) -> int:
    path = snnfile.save(net, tmp_path / "net.snn")
    out = subprocess.run([str(tool), str(path), "--info"], capture_output=True, text=True, check=True).stdout
    return int(dict(line.split("=") for line in out.split())["arena_bytes"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_packed_core_matches_numba_on_random_networks(data, snnrun_packed, tmp_path) -> None:
    net = data.draw(networks(max_pops=5, max_n=40))
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    assert_same(c_trace(snnrun_packed, net, codes, tmp_path), runtime.run_trace(net, codes))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_packed_core_matches_numba_on_wide_populations(data, snnrun_packed_wide, tmp_path) -> None:
    """Multi-word spike rows, the 8-wide gathers and refractory nibbles past one byte boundary."""
    net = data.draw(networks(max_pops=3, max_n=90, max_inputs=12))
    codes = data.draw(inputs(net.n_inputs, max_steps=25))
    assert_same(c_trace(snnrun_packed_wide, net, codes, tmp_path), runtime.run_trace(net, codes))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(net=networks(max_pops=6, max_n=40, max_inputs=8))
def test_packed_arena_is_what_memory_py_computes(net, snnrun_packed, snnrun_32, tmp_path) -> None:
    assert c_arena_bytes(snnrun_packed, net, tmp_path) == device_bytes(net, packed=True)["arena_bytes"]
    assert c_arena_bytes(snnrun_32, net, tmp_path) == device_bytes(net)["arena_bytes"]


def _hand_worked_packed_arena(net: Network) -> int:
    """snn.h's packed table, written out for one network: descriptors, 3-byte cells, nibbles, rings."""

    def pad4(n: int) -> int:
        return -(-n // 4) * 4

    n = net.n_neurons
    n_alif = sum(p.n for p in net.populations if p.kind == Kind.ALIF)
    n_refr = sum(p.n for p in net.populations if p.refractory)
    assert not any(q.lag for q in net.projections)  # every history ring is one slot deep
    return (
        pad4(22 * len(net.populations)) + pad4(12 * len(net.projections)) + pad4(4 * net.n_outputs)
        + 2 * pad4(3 * n) + pad4(3 * n_alif) + pad4(-(-n_refr // 2))
        + 4 * sum(-(-p.n // 32) for p in net.populations)
        + 2 * 4 * max(p.n for p in net.populations)
    )  # fmt: skip


def blimp_nets() -> list[Network]:
    """The blimp controller's shape (66 neurons: 24 + 24 LIF, LI, 16 LIF or ALIF, LI; 6 dense
    projections): the PID-derived network `snnctl evolve configs/blimp_pid.toml` starts from, and
    two random genomes within the codec's bounds, one with adaptive (ALIF) I encoders."""
    out = []
    for adaptive, seed in ((False, None), (False, 3), (True, 4)):
        codec = BlimpSNNCodec(BlimpSNNSpec(i_adaptive=adaptive))
        if seed is None:
            genome = codec.initial_genome
        else:
            lo, hi = codec.bounds.T
            genome = np.random.default_rng(seed).uniform(lo, hi)
        out.append(codec.decode(genome))
    return out


def blimp_errors(steps: int) -> np.ndarray:
    """An altitude-error trace in mm codes: slow swings of +-1.5 m, a faster wobble, lidar-like noise."""
    t = np.arange(steps)
    rng = np.random.default_rng(11)
    e = 1500 * np.sin(t / 300) + 200 * np.sin(t / 13) + rng.normal(0, 10, steps)
    return np.clip(np.rint(e), -32768, 32767).astype(np.int16)[:, None]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["pid-derived", "random", "random-alif"])
def test_packed_core_is_bit_identical_on_the_66_neuron_blimp_net(which, snnrun_packed, snnrun_32, tmp_path) -> None:
    net = blimp_nets()[which]
    assert net.n_neurons == 66 and len(net.projections) == 6
    codes = blimp_errors(10_000)
    packed = c_trace(snnrun_packed, net, codes, tmp_path)
    assert packed.spikes.sum() > 1000  # the comparators do switch: the trace exercises spikes and resets
    assert_same(packed, runtime.run_trace(net, codes))
    assert_same(packed, c_trace(snnrun_32, net, codes, tmp_path))
    assert c_arena_bytes(snnrun_packed, net, tmp_path) == _hand_worked_packed_arena(net)


def test_packed_arena_of_the_blimp_net_is_under_40_percent_of_the_32_bit_one() -> None:
    net = blimp_nets()[0]
    packed, wide = device_bytes(net, packed=True), device_bytes(net)
    assert packed["arena_bytes"] == _hand_worked_packed_arena(net)
    assert packed["parameter_bytes"] == 0
    assert packed["state_bytes"] == 2 * 200  # u and v: pad4(3 * 66) each; no ALIF, no refractory period
    assert packed["arena_bytes"] < 0.4 * wide["arena_bytes"]  # 804 of 2,180 bytes


@pytest.fixture(scope="module")
def snncheck_packed():
    return build_host_tool("snncheck", sanitize=True, defines=PACKED, harvard=True)


def test_packed_parser_agrees_with_python_on_every_corruption(snncheck_packed) -> None:
    from .test_snnfile import _sample

    cases: list[tuple[str, bytes]] = []
    for buf in (snnfile.to_bytes(_sample()), snnfile.to_bytes(blimp_nets()[2])):
        cases += [("intact", buf)]
        cases += list(snn_corrupt.truncations(buf))
        cases += [(w, b) for w, b, _ in snn_corrupt.targeted(buf)]
        cases += list(snn_corrupt.flips(buf, 2000, seed=5))
    c_codes = _c_codes(snncheck_packed, [b for _, b in cases])
    mismatches = [(w, c, _py_code(b)) for (w, b), c in zip(cases, c_codes, strict=True) if c != _py_code(b)]
    assert not mismatches, mismatches[:10]
    assert c_codes[0] == 0
