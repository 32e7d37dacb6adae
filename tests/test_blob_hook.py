"""The core's blob byte hook (core/snn_blob.h) against a Harvard-like host build.

`build_host_tool(..., harvard=True)` hands the core the blob at an address that cannot be read
(a PROT_NONE mapping, as a PROGMEM address is for an AVR's data loads) and fetches each byte
through the hook from a copy: a read that bypasses the hook crashes the tool, a read outside the
blob aborts it. Bit-identity with numba and with the plain-load build, and the same error codes as
the Python reader on the `.snn` fuzz corpus, then show every blob read goes through the hook.
The real AVR (pgm_read_byte from flash under simavr) is tested in tests/test_avr_flash_network.py.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.build import build_host_tool
from snnctl import runtime, snnfile
from snnctl.models import blimp_shaped_network

from . import snn_corrupt
from .randnet import inputs, networks
from .test_c_equivalence import _c_codes, _py_code, assert_same, c_trace

PORTABLE = {"SNN_DECAY_WIDE": 0, "SNN_GATHER_WIDE": 0}  # the paths an 8-bit target compiles


@pytest.fixture(scope="module")
def harvard_portable():
    return build_host_tool("snnrun", sanitize=True, defines=PORTABLE, harvard=True)


@pytest.fixture(scope="module")
def harvard_wide():
    return build_host_tool("snnrun", sanitize=True, harvard=True)


@pytest.fixture(scope="module")
def harvard_check():
    return build_host_tool("snncheck", sanitize=True, harvard=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hooked_portable_core_matches_numba_on_random_networks(data, harvard_portable, tmp_path) -> None:
    net = data.draw(networks(max_pops=5, max_n=40))
    codes = data.draw(inputs(net.n_inputs, max_steps=40))
    assert_same(c_trace(harvard_portable, net, codes, tmp_path), runtime.run_trace(net, codes))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hooked_wide_core_matches_numba_on_random_networks(data, harvard_wide, tmp_path) -> None:
    net = data.draw(networks(max_pops=3, max_n=90, max_inputs=12))
    codes = data.draw(inputs(net.n_inputs, max_steps=25))
    assert_same(c_trace(harvard_wide, net, codes, tmp_path), runtime.run_trace(net, codes))


def test_hooked_core_matches_ram_core_and_numba_on_the_blimp_network(harvard_portable, tmp_path) -> None:
    """10,000 steps of the reference controller: flash-read build == plain-load build == numba."""
    net = blimp_shaped_network(7)
    t = np.arange(10_000)
    codes = net.quantize_inputs((0.6 * np.sin(t / 40) + 0.2 * np.sin(t / 7))[:, None])
    plain = build_host_tool("snnrun", defines=PORTABLE)
    hooked = c_trace(harvard_portable, net, codes, tmp_path)
    assert_same(hooked, c_trace(plain, net, codes, tmp_path))
    assert_same(hooked, runtime.run_trace(net, codes))


def test_every_blob_byte_is_read_through_the_hook_at_load(harvard_portable, tmp_path) -> None:
    """The CRC alone reads each of the file's bytes before the last four once: the hook's count at
    load is at least that, and the tool did not crash on the unreadable stand-in address."""
    path = snnfile.save(blimp_shaped_network(3), tmp_path / "net.snn")
    res = subprocess.run([str(harvard_portable), str(path), "--info"], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    info = dict(line.split("=") for line in res.stdout.split())
    assert int(info["blob_reads"]) >= path.stat().st_size - 4


def test_hooked_parser_agrees_with_python_on_every_corruption(harvard_check) -> None:
    from .test_snnfile import _sample

    cases: list[tuple[str, bytes]] = []
    for buf in (snnfile.to_bytes(_sample()), snnfile.to_bytes(blimp_shaped_network(1))):
        cases += [("intact", buf)]
        cases += list(snn_corrupt.truncations(buf))
        cases += [(w, b) for w, b, _ in snn_corrupt.targeted(buf)]
        cases += list(snn_corrupt.flips(buf, 1000, seed=3))
    c_codes = _c_codes(harvard_check, [b for _, b in cases])
    mismatches = [(w, c, _py_code(b)) for (w, b), c in zip(cases, c_codes, strict=True) if c != _py_code(b)]
    assert not mismatches, mismatches[:10]
    assert c_codes[0] == 0
