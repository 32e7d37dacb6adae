"""The 66-neuron blimp controller in the ATmega328P's flash runs alone: START survives a power cut in
the EEPROM (docs/protocol.md §9 "Flash-network boards"), and an image built with a START boots in
the on-board loop with no host at all. Under libsimavr; the EEPROM is a file (`simavr_runner -e`).

The truth: the RUN record's bytes from the document (tests/flash_run.py), every TELEMETRY frame after
the reboot against §8 and numba on the codes the board reports, the image key rule (another network
on the same EEPROM boots stopped), and the stack headroom the board paints (HELLO free_ram >= 256 B
with the loop, telemetry and the EEPROM code in the image). The power cut is killing the emulator;
inside a write it is `simavr_runner -c N` (the EEPROM keeps the first N bytes that changed).
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import pytest

from tests.flash_run import RUN_BYTES, check_resumed_loop, run_record
from tests.optional_tools import require_board

pytest.importorskip("serial")

from firmware_bridge import build  # noqa: E402
from firmware_bridge.device import Device, DeviceError  # noqa: E402
from firmware_bridge.flash_network import Autostart, BuiltIn  # noqa: E402
from firmware_bridge.protocol import Capability  # noqa: E402
from snnctl.controllers.blimp_snn import default_network  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402
from tests.test_atmega328p_port import micro_blimp  # noqa: E402
from tests.test_persist import powered  # noqa: E402

BOARD = "atmega328p"
K = 3
START = (20_000, 1, K)  # 50 Hz, telemetry every period, fail-safe after 3 periods without a sample
STACK_HEADROOM = 256  # RAM the stack never touched (issue 16)


def _board(network, nv=None):
    from firmware_bridge.emulators import start_emulator

    require_board(BOARD)
    return start_emulator(BOARD, network=network, nv_file=nv)


def _running(d: Device) -> tuple[bool, int]:
    ni = d.netinfo()
    return ni.running, (ni.period_us if ni.running else 0)


def test_blimp_controller_in_flash_resumes_after_a_power_cut(tmp_path):
    net = default_network()
    assert net.n_neurons == 66
    blob = to_bytes(net)
    ee = tmp_path / "eeprom.bin"  # missing: the erased EEPROM
    with _board(blob, ee) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        info = d.hello(connect_timeout=10.0)
        assert info.has(Capability.PERSIST) and info.has(Capability.NETWORK_IN_FLASH)
        assert not d.netinfo().running
        d.start(*START)
        assert d.read_telemetry(5.0) is not None
        emu.process.kill()  # the power cut
    assert ee.read_bytes()[:RUN_BYTES] == run_record(blob, *START, running=True)
    # another network built into the board, the same EEPROM: not its record, it boots stopped
    with _board(to_bytes(micro_blimp()), ee) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        d.hello(connect_timeout=10.0)
        assert _running(d) == (False, 0)
        emu.process.kill()
    # the blimp image again: straight into the loop with START's settings
    with _board(blob, ee) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        d.hello(connect_timeout=10.0)
        ni = d.netinfo()
        assert (ni.blob_crc32, ni.running, ni.period_us) == (network_crc(blob), True, START[0])
        want = check_resumed_loop(d, net, stale_limit=K)  # every frame against numba, then STOP
        assert want["steps"] >= 15
        assert d.hello().free_ram >= STACK_HEADROOM  # boot, EEPROM reads and writes, loop, telemetry
        emu.process.kill()
    assert ee.read_bytes()[:RUN_BYTES] == run_record(blob, *START, running=False)
    with _board(blob, ee) as emu, Device(emu.url, timeout=2.0, retries=2) as d:  # STOP persisted too
        d.hello(connect_timeout=10.0)
        assert _running(d) == (False, 0)


def test_blimp_image_with_a_built_in_start_runs_with_no_host_and_no_eeprom_record():
    net = default_network()
    image = BuiltIn(to_bytes(net), Autostart(START[0] // 1000, START[1], START[2]))
    with _board(image) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        d.hello(connect_timeout=10.0)
        assert _running(d) == (True, START[0])
        want = check_resumed_loop(d, net, stale_limit=K)
        assert want["steps"] >= 15
        assert d.hello().free_ram >= STACK_HEADROOM


def test_blimp_image_with_persistence_fits_the_uno():
    """The flash / RAM budget of the image the tests above run (tests/test_avr_packed.py checks the
    stack of the same image without an EEPROM file)."""
    from firmware_bridge import boards, budgets

    require_board(BOARD)
    for network in (to_bytes(default_network()), BuiltIn(to_bytes(default_network()), Autostart(20, 1, K))):
        sizes = build.firmware_size(build.build_avr_firmware(BOARD, network=network))
        uno = next(f for f in budgets.check_image(boards.get(BOARD), sizes) if f.budget.board == "Arduino Uno")
        assert uno.fits, uno.summary()


def _runner(elf: Path, ee: Path, cut: int | None = None):
    """`simavr_runner ELF -e ee [-c cut]` under `tests.test_persist.powered`: (process, Device after HELLO)."""
    cmd = [str(build.build_simavr_runner()), str(elf), "-e", str(ee)] + ([] if cut is None else ["-c", str(cut)])
    return powered(cmd, connect_timeout=10.0)


def test_a_run_record_torn_in_the_eeprom_never_boots_with_wrong_settings(tmp_path):
    """The EEPROM says "running at A"; START B is cut after each byte eeprom_update_block changes (it
    skips equal bytes). The EEPROM must then hold the old record with the first N changed bytes new
    (the write order, address order), and the board boots with A (N = 0), B (all written) or stopped:
    a mixture fails the record's CRC."""
    require_board(BOARD)
    net = micro_blimp()
    blob = to_bytes(net)
    elf = build.build_avr_firmware(BOARD, network=blob)
    a, b = (30_000, 0, 0), (20_000, 1, K)
    base = tmp_path / "base.bin"
    with _runner(elf, base) as (_, d):
        d.start(*a)
    old, new = run_record(blob, *a, running=True), run_record(blob, *b, running=True)
    assert base.read_bytes()[:RUN_BYTES] == old
    changed = [k for k in range(RUN_BYTES) if old[k] != new[k]]
    ee = tmp_path / "ee.bin"
    for cut in range(len(changed) + 1):
        shutil.copyfile(base, ee)
        with _runner(elf, ee, cut) as (proc, d):
            try:
                d.start(*b)
            except DeviceError:
                assert cut < len(changed), f"cut {cut}: START failed although its writes fit"
            if cut < len(changed):
                assert proc.wait(10) == 3, f"cut {cut}: the runner did not stop at the cut"
        torn = bytearray(old)
        for k in changed[:cut]:
            torn[k] = new[k]
        assert ee.read_bytes()[:RUN_BYTES] == bytes(torn), f"cut {cut}"
        if torn == new:
            want = (True, b[0])
        elif torn == old:
            want = (True, a[0])
        else:
            assert zlib.crc32(torn[:20]) != int.from_bytes(torn[20:], "little")  # a mixture: CRC fails
            want = (False, 0)
        with _runner(elf, ee) as (_, d):
            assert _running(d) == want, f"cut after {cut} of {len(changed)} changed bytes"
