"""The packed core on the emulated ATmega328P (simavr), its network compiled into flash.

The 66-neuron blimp controller does not fit the 2 KB AVR's upload slots (32-bit arena 2,180 B); in
the packed layout (arena 836 B) it runs from flash. These tests build the image with each network
compiled in (`SNN_DEV_FLASH_NETWORK`, parameters and weights read with LPM) and check it against
the numba runtime bit for bit, the stack headroom the board paints (HELLO free_ram >= 256 B), the
Uno's flash, and `snnctl hil` on that board. The host builds of the same packed core:
tests/test_c_packed.py. Skipped, naming the apt packages, without avr-gcc / libsimavr (unless CI=true).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import boards
from firmware_bridge.memory import arena_bytes_on, device_bytes
from snnctl.network import Network
from snnctl.runtime import run
from snnctl.snnfile import to_bytes

from .optional_tools import require_board
from .randnet import inputs, networks
from .test_c_packed import blimp_errors, blimp_nets

pytest.importorskip("serial")

from firmware_bridge import protocol as P  # noqa: E402
from firmware_bridge.device import Device  # noqa: E402

BOARD = "atmega328p"
UNO_FLASH = 32768 - 512  # Optiboot
STACK_HEADROOM = 256  # RAM the stack never touched, at least (issue 16)


def _flash_board(net: Network):
    from firmware_bridge.emulators import start_emulator

    require_board(BOARD)
    return start_emulator(BOARD, network=to_bytes(net))


def _check_counts(dev: Device, net: Network, codes: np.ndarray) -> list[int]:
    """Step one at a time from a reset: outputs, spikes and synaptic operations as the runtime's; the
    board's cycle counts (Timer1 CPU cycles per STEP, interrupts included)."""
    dev.reset()
    ref_out, ref_cnt = run(net, codes, counts=True)
    cycles = []
    for t in range(len(codes)):
        res = dev.step(codes[t], counts=True)
        assert res.outputs.tolist() == ref_out[t].tolist()
        assert (res.spikes, res.synops) == tuple(ref_cnt[t])
        cycles.append(res.cycles)
    return cycles


@pytest.mark.parametrize("which, steps", [(0, 2000), (1, 2000), (2, 10_000)], ids=["pid-derived", "random", "alif"])
def test_66_neuron_blimp_net_runs_from_flash_bit_identical(which, steps) -> None:
    net = blimp_nets()[which]
    codes = blimp_errors(steps)
    with _flash_board(net) as emu, Device(emu.url, timeout=5.0, retries=2) as dev:
        info = dev.hello()
        assert info.has(P.Capability.NETWORK_IN_FLASH) and info.max_blob_bytes == 0
        ni = dev.netinfo()
        assert (ni.loaded, ni.n_neurons, ni.n_synapses) == (True, 66, net.n_synapses)
        assert ni.arena_used == device_bytes(net, packed=True)["arena_bytes"] < info.arena_bytes
        got = dev.run(codes)
        ref = run(net, codes)
        assert np.count_nonzero(np.diff(ref, axis=0)) > 100  # the outputs move: not a trivially constant net
        np.testing.assert_array_equal(got, ref)
        cycles = _check_counts(dev, net, codes[:100])
        assert all(c > 0 for c in cycles)
        # the deepest stack of boot (snn_load from flash), thousands of steps and the STEP frames left
        # this much painted RAM untouched: static RAM + deepest stack + 256 B <= 2,048 B
        assert dev.hello().free_ram >= STACK_HEADROOM


def test_blimp_image_fits_the_uno() -> None:
    from firmware_bridge import build

    require_board(BOARD)
    sizes = build.firmware_size(build.build_avr_firmware(BOARD, network=to_bytes(blimp_nets()[0])))
    assert sizes["flash"] <= UNO_FLASH
    assert sizes["ram"] + STACK_HEADROOM <= boards.get(BOARD).ram_bytes  # the stack itself: the test above


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_networks_from_flash_match_numba(data) -> None:
    """Sparse blocks read in place, delays, ALIF cells, soft/hard reset and nibble refractory
    counters, on the 8-bit core with 16-bit int."""
    net = data.draw(networks(max_pops=4, max_n=12))
    codes = data.draw(inputs(net.n_inputs, max_steps=60))
    with _flash_board(net) as emu, Device(emu.url, timeout=5.0, retries=2) as dev:
        dev.hello()
        assert dev.netinfo().arena_used == device_bytes(net, packed=True)["arena_bytes"]
        _check_counts(dev, net, codes)


@pytest.mark.parametrize("onboard", [False, True], ids=["host-stepped", "onboard"])
def test_hil_flies_the_blimp_net_compiled_into_the_atmega328p(onboard, tmp_path, capsys) -> None:
    """`snnctl hil --board atmega328p [--onboard]` builds the controller into the image (it cannot be
    uploaded) and every action of a 5-s held-out flight is the in-process network's."""
    from snnctl.snnfile import save

    from .test_hil import hil, write_config

    require_board(BOARD)
    net = blimp_nets()[1]
    path = save(net, tmp_path / "blimp66.snn")
    cfg = write_config(tmp_path / "blimp.toml", 5.0)
    rc, rep = hil(capsys, cfg, "--controller", str(path), "--board", BOARD, "--compare", *(["--onboard"] * onboard))
    assert rc == 0 and rep["board"] == BOARD and rep["steps"] == 50
    assert rep["compare"]["identical"] and rep["compare"]["steps"] == 50
    if not onboard:
        assert rep["backend"]["uploads"] == 0
    im = rep["image"]
    assert im["network_in_flash"] and im["flash_bytes"] <= UNO_FLASH and im["free_ram"] >= STACK_HEADROOM


def test_arena_layout_follows_the_board_hello_names() -> None:
    net = blimp_nets()[2]
    packed, wide = device_bytes(net, packed=True)["arena_bytes"], device_bytes(net)["arena_bytes"]
    assert boards.get("atmega328p").packed_state and not boards.get("lm3s6965evb").packed_state
    assert arena_bytes_on(net, "atmega328p") == (packed,)
    assert arena_bytes_on(net, "host-virtual") == (wide,)
    assert arena_bytes_on(net, "arduino") == (packed, wide)  # an Arduino build: AVR packs, 32-bit does not


def test_bench_reports_avr_cycles_of_the_66_neuron_controller() -> None:
    """`snnctl bench firmware`'s AVR section: the controller's packed arena, its image, the headroom."""
    from firmware_bridge.bench_firmware import avr_blimp_bench
    from snnctl.controllers.blimp_snn import default_network

    require_board(BOARD)
    r = avr_blimp_bench(steps=20)
    net = default_network()
    assert (r["neurons"], r["synapses"], r["steps"]) == (66, net.n_synapses, 20)
    assert r["net_arena_bytes"] == device_bytes(net, packed=True)["arena_bytes"]
    assert 0 < r["cycles_per_step_min"] <= r["cycles_per_step"] <= r["cycles_per_step_max"]
    assert r["device_step_us"] == pytest.approx(r["cycles_per_step"] / 16, abs=0.1)  # 16 cycles a microsecond
    assert r["flash_bytes"] <= UNO_FLASH and r["free_ram_bytes"] >= STACK_HEADROOM
