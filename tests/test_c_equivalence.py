"""The C99 core against the numba runtime (bit for bit) and against the Python reader (error codes).

Both C tools are built with AddressSanitizer and UBSan, so an out-of-bounds read, a signed
overflow or a negative shift in the core fails the test even when the result happens to match.
"""

from __future__ import annotations

import struct
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.build import build_host_tool
from snnctl import runtime, snnfile
from snnctl.models import blimp_shaped_network
from snnctl.network import Network
from snnctl.snnfile import SnnFormatError

from . import snn_corrupt
from .randnet import inputs, networks


@pytest.fixture(scope="module")
def snnrun():
    return build_host_tool("snnrun", sanitize=True)


@pytest.fixture(scope="module")
def snnrun_portable():
    """The core's portable paths (what an 8/16-bit target compiles): split decay, one-at-a-time gather."""
    return build_host_tool("snnrun", sanitize=True, defines={"SNN_DECAY_WIDE": 0, "SNN_GATHER_WIDE": 0})


@pytest.fixture(scope="module")
def snncheck():
    return build_host_tool("snncheck", sanitize=True)


def c_trace(tool, net: Network, codes: np.ndarray, tmp_path) -> runtime.Trace:
    path = snnfile.save(net, tmp_path / "net.snn")
    res = subprocess.run([str(tool), str(path), "--trace"], input=codes.astype("<i2").tobytes(),
                         capture_output=True, check=True, timeout=60)  # fmt: skip
    t, n, n_out = codes.shape[0], net.n_neurons, net.n_outputs
    rec = np.dtype([("out", "<i2", (n_out,)), ("spk", "u1", (n,)), ("u", "<i4", (n,)), ("v", "<i4", (n,)),
                    ("a", "<i4", (n,))])  # fmt: skip
    assert len(res.stdout) == t * rec.itemsize, res.stderr.decode()
    r = np.frombuffer(res.stdout, dtype=rec)
    return runtime.Trace(r["out"], r["spk"], r["u"], r["v"], r["a"])


def assert_same(a: runtime.Trace, b: runtime.Trace) -> None:
    np.testing.assert_array_equal(a.spikes, b.spikes, "spikes")
    np.testing.assert_array_equal(a.u, b.u, "u")
    np.testing.assert_array_equal(a.v, b.v, "v")
    np.testing.assert_array_equal(a.a, b.a, "a")
    np.testing.assert_array_equal(a.outputs, b.outputs, "outputs")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_c_matches_numba_on_random_networks(data, snnrun, tmp_path) -> None:
    net = data.draw(networks(max_pops=5, max_n=8))
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    assert_same(c_trace(snnrun, net, codes, tmp_path), runtime.run_trace(net, codes))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_portable_c_paths_match_numba_on_random_networks(data, snnrun_portable, tmp_path) -> None:
    net = data.draw(networks(max_pops=5, max_n=40))
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    assert_same(c_trace(snnrun_portable, net, codes, tmp_path), runtime.run_trace(net, codes))


def test_c_matches_numba_on_the_blimp_network(snnrun, tmp_path) -> None:
    net = blimp_shaped_network(7)
    t = np.arange(3000)
    codes = net.quantize_inputs((0.6 * np.sin(t / 40) + 0.2 * np.sin(t / 7))[:, None])
    assert_same(c_trace(snnrun, net, codes, tmp_path), runtime.run_trace(net, codes))


def _c_codes(tool, blobs: list[bytes]) -> list[int]:
    stream = b"".join(struct.pack("<I", len(b)) + b for b in blobs)
    res = subprocess.run([str(tool)], input=stream, capture_output=True, check=True, timeout=300)
    return list(struct.unpack(f"<{len(blobs)}i", res.stdout))


def _py_code(blob: bytes) -> int:
    try:
        snnfile.from_bytes(blob)
    except SnnFormatError as e:
        return -int(e.code)
    return 0


def test_c_parser_agrees_with_python_on_every_corruption(snncheck) -> None:
    from .test_snnfile import _sample

    cases: list[tuple[str, bytes]] = []
    for buf in (snnfile.to_bytes(_sample()), snnfile.to_bytes(blimp_shaped_network(1))):
        cases += [("intact", buf)]
        cases += list(snn_corrupt.truncations(buf))
        cases += [(w, b) for w, b, _ in snn_corrupt.targeted(buf)]
        cases += list(snn_corrupt.flips(buf, 2000, seed=2))
    c_codes = _c_codes(snncheck, [b for _, b in cases])
    mismatches = [(w, c, _py_code(b)) for (w, b), c in zip(cases, c_codes, strict=True) if c != _py_code(b)]
    assert not mismatches, mismatches[:10]
    assert c_codes[0] == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blobs=st.lists(
        st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"SNNC\x01\x00" + b)),
        min_size=1,
        max_size=50,
    )
)
def test_c_parser_survives_arbitrary_bytes(blobs, snncheck) -> None:
    assert _c_codes(snncheck, blobs) == [_py_code(b) for b in blobs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_c_matches_numba_on_wide_populations(data, snnrun, tmp_path) -> None:
    """Populations past 32 neurons reach the C core's multi-word spike rows and 8-wide gathers."""
    net = data.draw(networks(max_pops=3, max_n=90, max_inputs=12))
    codes = data.draw(inputs(net.n_inputs, max_steps=25))
    assert_same(c_trace(snnrun, net, codes, tmp_path), runtime.run_trace(net, codes))
