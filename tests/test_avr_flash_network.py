"""A network compiled into the ATmega328P's flash (SNN_DEV_FLASH_NETWORK), run under libsimavr.

The image keeps the `.snn` blob in program memory (PROGMEM) and the core reads every blob byte with
`pgm_read_byte` through its blob hook (core/snn_blob.h, ports/atmega328p/snn_avr_flash.h); one arena,
no upload slots. Checked against independent truth: the numba runtime (every output of thousands of
steps, spike and synop counts), the ELF's symbol table (the blob's address is a flash address, not
RAM), the board's RAM minus the measured stack (the budget's stack figure), and the protocol's
rules for a device that takes no uploads. Skipped like tests/test_atmega328p_port.py without the
AVR tools (failing under CI=true).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.optional_tools import running_emulator
from tests.test_atmega328p_port import micro_blimp

pytest.importorskip("serial")

from firmware_bridge import boards, budgets, build  # noqa: E402
from firmware_bridge import protocol as P  # noqa: E402
from firmware_bridge.device import Device, DeviceError, DeviceErrorReply  # noqa: E402
from firmware_bridge.memory import device_bytes  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.runtime import run  # noqa: E402
from snnctl.snnfile import network_crc, save, to_bytes  # noqa: E402

BOARD = "atmega328p"
AVR_RAM_START = 0x800000  # avr-gcc's ELF addresses: flash from 0, data memory from 0x800000


def _codes(t: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-700, 700, (t, 1)).astype(np.int16)


def _check_runs_like_numba(url: str, net, steps: int, seed: int) -> Device:
    with Device(url, timeout=0.5, retries=2) as d:
        info = d.hello()
        assert info.has(P.Capability.NETWORK_IN_FLASH) and not info.has(P.Capability.ATOMIC_COMMIT)
        assert info.max_blob_bytes == 0  # protocol.md §3: no upload slot
        # one arena in the core's packed layout (SNN_PACKED_STATE on AVR), + the AVR alignment slack
        assert info.arena_bytes == device_bytes(net, packed=boards.get(BOARD).packed_state)["arena_bytes"] + 3
        blob = to_bytes(net)
        ni = d.netinfo()
        assert (ni.loaded, ni.blob_bytes, ni.blob_crc32) == (True, len(blob), network_crc(blob))
        assert (ni.n_neurons, ni.n_synapses) == (net.n_neurons, net.n_synapses)
        codes = _codes(steps, seed)
        ref = run(net, codes)
        assert np.count_nonzero(np.diff(ref[:, 0])) > steps // 50  # the readout moves
        np.testing.assert_array_equal(d.run(codes), ref)
        d.reset()
        ref_out, ref_cnt = run(net, codes[:40], counts=True)
        for t in range(40):
            res = d.step(codes[t], counts=True)
            assert res.outputs.tolist() == ref_out[t].tolist()
            assert (res.spikes, res.synops) == tuple(ref_cnt[t])
        return d.hello()


@pytest.fixture(scope="module")
def micro():
    net = micro_blimp()
    for emu in running_emulator(BOARD, network=to_bytes(net)):
        yield emu, net


def test_micro_blimp_from_flash_is_bit_identical(micro):
    emu, net = micro
    _check_runs_like_numba(emu.url, net, 5000, seed=1)


def test_18_neuron_blimp_from_flash_is_bit_identical_with_stack_headroom(tmp_path):
    """Both branches of the blimp controller (18 neurons, 6 populations): 2 KB RAM could hold 3 neurons
    with upload slots. After 3,000 steps the stack painting shows >= 256 B never touched, and the
    deepest stack (RAM - static RAM - untouched) is within the budget's firmware stack."""
    net = blimp_shaped_network(n_enc=4, n_hidden=4)
    for emu in running_emulator(BOARD, network=to_bytes(net)):
        info = _check_runs_like_numba(emu.url, net, 3000, seed=2)
    sizes = build.firmware_size(build.build_avr_firmware(BOARD, network=to_bytes(net)))
    deepest_stack = boards.get(BOARD).ram_bytes - sizes["ram"] - info.free_ram
    assert info.free_ram >= budgets.AVR_USER_RAM, (sizes, info.free_ram)
    assert 0 < deepest_stack <= budgets.AVR_FIRMWARE_STACK, deepest_stack
    uno = next(f for f in budgets.check_image(boards.get(BOARD), sizes) if f.budget.board == "Arduino Uno")
    assert uno.fits, uno.summary()


def test_the_blob_lives_in_flash_not_ram():
    net = micro_blimp()
    elf = build.build_avr_firmware(BOARD, network=to_bytes(net))
    nm = shutil.which("avr-nm")
    syms = subprocess.run([nm, "-S", str(elf)], capture_output=True, text=True, check=True).stdout.split("\n")
    addr, size = next(
        (int(f[0], 16), int(f[1], 16)) for f in (ln.split() for ln in syms) if f[-1:] == ["snn_flash_blob"]
    )
    assert size == len(to_bytes(net)) and addr < AVR_RAM_START
    # and the RAM image shrank by more than the upload slots' blob buffers
    upload = build.firmware_size(build.build_avr_firmware(BOARD))
    flash = build.firmware_size(elf)
    assert upload["ram"] - flash["ram"] >= 2 * boards.get(BOARD).max_blob_bytes


def test_uploads_are_refused_after_the_length_check(micro, tmp_path):
    emu, net = micro
    path = save(micro_blimp(pairs=2), tmp_path / "new.snn")
    with Device(emu.url, timeout=0.5, retries=2) as d:
        d.hello()
        for call in (lambda: d.load_begin(100, 0), lambda: d.load_chunk(0, b"\x01"), d.commit):
            with pytest.raises(DeviceErrorReply) as err:
                call()
            assert err.value.code == "FLASH_NETWORK"
        with pytest.raises(DeviceErrorReply) as err:  # COMMIT with a payload: the length comes first
            d.request(P.MsgType.COMMIT, b"\x00")
        assert err.value.code == "BAD_LENGTH"
        want = f"build the network into the image instead: snnctl firmware build --board atmega328p --network {path}"
        with pytest.raises(DeviceError, match=re.escape(want) + "$"):
            d.deploy(path)
        # the compiled-in network is untouched
        assert d.netinfo().blob_crc32 == network_crc(to_bytes(net))
