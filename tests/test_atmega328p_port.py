"""The atmega328p port (8-bit AVR, 16-bit int, 2 KB RAM) under libsimavr, over the serial protocol.

The image is the unchanged core and device library compiled by avr-gcc, so these tests show the
core is correct where `int` has 16 bits, and what the protocol costs in 2 KB. It cannot run the
160-neuron blimp network of tests/test_device.py (its arena alone is 4.7 KB), so this is a reduced
suite on the largest blimp-like network that fits two upload slots: error -> +/- LIF pair -> LI
readout (docs/firmware-boards.md). Skipped, naming the apt packages, when avr-gcc / avr-libc /
libsimavr-dev are missing, unless CI=true, where that fails.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import zlib

import numpy as np
import pytest

from tests.optional_tools import running_emulator
from tests.test_boards import hello_limits
from tests.test_device import InFlightMeter

pytest.importorskip("serial")

from firmware_bridge import boards  # noqa: E402
from firmware_bridge import protocol as P  # noqa: E402
from firmware_bridge.device import Device, DeviceErrorReply, NetworkTooLarge  # noqa: E402
from firmware_bridge.memory import device_bytes  # noqa: E402
from snnctl.encoders import pm_pair  # noqa: E402
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection  # noqa: E402
from snnctl.runtime import run  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402

BOARD = "atmega328p"
STACK_RESERVE = 400  # bytes of RAM the image must leave for the stack (measured deepest: ~330 + an ISR)


def micro_blimp(pairs: int = 1, seed: int = 5, fail_safe: bool = True) -> Network:
    """One branch of the blimp controller shrunk to 2 KB: the error input -> `pairs` +/- LIF encoder
    pairs (the blimp's encoder parameters) -> one LI readout (its output scaling)."""
    rng = np.random.default_rng(seed)
    enc, w = pm_pair(1, [0], pairs, rng.integers(20, 60, pairs), bias=200, theta=4096, du=1024, dv=512, name="")
    out = Population(Kind.LI, 1, du=4096, dv=256)
    projs = [Projection(INPUT, 0, w, exponent=0), Projection(0, 1, rng.integers(-128, 128, (2 * pairs, 1)), exponent=6)]
    net = Network(1, [enc, out], projs, [Output(1, 0, shift=4, scale=3.3 / 2048)], input_scale=1e-3)
    if fail_safe:
        net.fail_safe = np.array([-77])
    net.validate()
    return net


def _codes(t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-700, 700, (t, 1)).astype(np.int16)


@pytest.fixture(scope="module")
def emu():
    yield from running_emulator(BOARD)


@pytest.fixture
def dev(emu):
    with Device(emu.url, timeout=0.5, retries=2) as d:
        d.hello()
        yield d


def test_image_fits_2k_ram_and_32k_flash(emu):
    from firmware_bridge import build

    sizes = build.firmware_size(build.build_avr_firmware(BOARD))
    spec = boards.get(BOARD)
    assert sizes["flash"] <= spec.flash_bytes
    assert sizes["ram"] + STACK_RESERVE <= spec.ram_bytes, sizes


def test_hello_and_limits(dev):
    info = dev.info
    assert info.name == "atmega328p" and info.max_payload == 64 and info.tick_hz == 16_000_000
    assert info.has(P.Capability.ATOMIC_COMMIT) and info.has(P.Capability.CYCLE_COUNTER)
    assert not info.has(P.Capability.NETWORK_IN_FLASH)
    assert hello_limits(info) == hello_limits(boards.get(BOARD))  # the board table says what HELLO says
    net = micro_blimp()
    mem = device_bytes(net, packed=True)  # the AVR build's layout (SNN_PACKED_STATE)
    assert mem["blob_bytes"] <= info.max_blob_bytes and mem["arena_bytes"] + 3 <= info.arena_bytes


def test_micro_blimp_runs_bit_identical(dev):
    net = micro_blimp()
    ni = dev.deploy(net)
    blob = to_bytes(net)
    assert (ni.loaded, ni.blob_bytes, ni.blob_crc32, ni.n_neurons) == (True, len(blob), network_crc(blob), 3)
    codes = _codes(3000, 1)
    got = dev.run(codes)
    ref = run(net, codes)
    assert np.count_nonzero(np.diff(ref[:, 0])) > 100  # the readout moves: not a trivially constant net
    np.testing.assert_array_equal(got, ref)
    dev.reset()
    ref_out, ref_cnt = run(net, codes[:50], counts=True)
    for t in range(50):
        res = dev.step(codes[t], counts=True)
        assert res.outputs.tolist() == ref_out[t].tolist()
        assert (res.spikes, res.synops) == tuple(ref_cnt[t])
        assert 1000 < res.cycles < 100_000  # CPU cycles at 16 MHz
    # the stack never reached .bss: HELLO's free_ram is the untouched stack headroom
    assert dev.hello().free_ram >= 100


def test_pipelining_within_the_64_byte_ring_loses_nothing(dev):
    """docs/protocol.md §2 Pipelining: at most max_payload (64) bytes in flight, what the AVR's
    64-byte receive ring holds while it steps: 64 // 15 = 4 STEP frames of one input, no byte lost."""
    net = micro_blimp()
    dev.deploy(net)
    codes = _codes(400, 2)
    before = dev.stats()
    meter = InFlightMeter(dev)
    got = dev.run(codes, window=1000)
    after = dev.stats()
    np.testing.assert_array_equal(got, run(net, codes))
    assert meter.max_bytes <= dev.info.max_payload == 64 and meter.max_frames == 64 // 15
    assert (after.crc_errors, after.framing_errors, after.dropped_frames) == (
        before.crc_errors,
        before.framing_errors,
        before.dropped_frames,
    )


def test_larger_net_refused_old_one_keeps_running(dev):
    net = micro_blimp()
    dev.deploy(net)
    codes = _codes(60, 2)
    ref = run(net, codes)
    np.testing.assert_array_equal(dev.run(codes[:20]), ref[:20])
    big = micro_blimp(pairs=2)
    with pytest.raises(NetworkTooLarge):
        dev.deploy(big)
    with pytest.raises(DeviceErrorReply) as exc:
        dev.upload(to_bytes(big))
    assert exc.value.code == "TOO_LARGE"
    # an interrupted upload of another valid network
    other = to_bytes(micro_blimp(seed=9))
    dev.load_begin(len(other), zlib.crc32(other))
    dev.load_chunk(0, other[:40])
    np.testing.assert_array_equal(dev.run(codes[20:40]), ref[20:40])
    with pytest.raises(DeviceErrorReply) as exc:
        dev.commit()
    assert exc.value.code == "INCOMPLETE"
    np.testing.assert_array_equal(dev.run(codes[40:]), ref[40:])


def test_line_garbage_is_survived(dev):
    net = micro_blimp()
    dev.deploy(net)
    before = dev.stats()
    dev.write_raw(np.random.default_rng(3).integers(0, 256, 400, dtype=np.uint8).tobytes() + b"\0")
    time.sleep(0.2)
    codes = _codes(30, 4)
    np.testing.assert_array_equal(dev.run(codes), run(net, codes))
    after = dev.stats()

    def faults(s):
        return s.crc_errors + s.framing_errors + s.dropped_frames

    assert faults(after) > faults(before)


def test_a_long_single_write_arrives_whole(emu):
    """301 bytes in one write at the line rate, then a STATS: every byte received and the request
    answered at its first attempt (issue 18: with UBRR0 written before U2X0 the emulated USART ran
    at half speed and lost the delimiter, so only a retry was answered)."""
    with Device(emu.url, timeout=1.0, retries=0) as d:
        d.hello()
        before = d.stats()
        d.write_raw(b"A" * 300 + b"\0")  # one frame too long for the device: dropped, but read to its end
        after = d.stats()
    assert after.rx_bytes - before.rx_bytes == 301 + len(P.frame(P.MsgType.STATS, 1))
    assert after.dropped_frames - before.dropped_frames == 1 and after.framing_errors == before.framing_errors


def _runner_session(*args: str) -> tuple[str, int, int]:
    """Start simavr_runner on the image with `args`, send 300 bytes + 0x00 in one write and a STATS;
    return the runner's stderr and the rx_bytes / dropped_frames the device counted for them."""
    from firmware_bridge import build

    cmd = [str(build.build_simavr_runner()), str(build.build_avr_firmware(BOARD)), *args]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        try:
            line = proc.stdout.readline().decode()
            assert line.startswith("URL "), line
            with Device(line.split()[1], timeout=2.0, retries=0) as d:
                d.hello()
                before = d.stats()
                d.write_raw(b"A" * 300 + b"\0")
                after = d.stats()
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
        err.seek(0)
        return err.read().decode(), after.rx_bytes - before.rx_bytes, after.dropped_frames - before.dropped_frames


def test_overlong_frames_are_dropped_never_framing_errors(dev):
    """Issue 18 Q10 (docs/protocol.md §1): n = 64 + 10 = 74 < 254, so the receiver keeps C = 75
    encoded bytes and C bytes decode to at most C - 1 = 74 = n: 76 bytes are dropped_frames, 75
    bytes of 0x01 (74 zeros) reach the CRC check (crc_errors); framing_errors never moves."""
    before = dev.stats()
    dev.write_raw(b"\x01" * 76 + b"\0" + b"\x01" * 75 + b"\0")
    after = dev.stats()
    assert after.dropped_frames - before.dropped_frames == 1
    assert after.crc_errors - before.crc_errors == 1
    assert after.framing_errors == before.framing_errors


def test_runner_paces_to_the_baud_rate_the_firmware_configured(emu):
    """The runner hands bytes over at the rate in the emulated UBRR0/U2X0, not a constant: board.c
    sets UBRR0 = 16 with U2X0 = 1, so 16 MHz / (8 * 17) = 117,647 baud, 10 bits = 10 * 8 * 17 =
    1,360 cycles; simavr's own byte (11 bits: 1,496 cycles) is the slower, so that is the pace."""
    log, rx, dropped = _runner_session("-v")
    assert "UBRR0=16 U2X0=1: 117647 baud, 10 bits = 1360 cycles; simavr's byte 1496; one byte every 1496 cycles" in log
    assert "warning" not in log  # +2.1 % from the 115,200 baud line: within the 5 % a receiver tolerates
    assert rx == 301 + len(P.frame(P.MsgType.STATS, 1)) and dropped == 1


def test_runner_reports_a_firmware_baud_rate_the_line_would_garble(emu):
    """The same image clocked at 8 MHz (an F_CPU mismatch) runs its USART at 8e6 / (8 * 17) = 58,824
    baud, -48.9 % from the 115,200 baud line: a real line would lose every byte. The runner says so
    on stderr once, and still paces to the firmware's rate, so nothing is lost silently."""
    log, rx, dropped = _runner_session("-f", "8000000")
    assert "the firmware set USART0 to 58824 baud (UBRR0=16, U2X0=1 at 8000000 Hz), -48.9 %" in log, log
    assert log.count("warning") == 1
    assert rx == 301 + len(P.frame(P.MsgType.STATS, 1)) and dropped == 1


def test_watchdog_fail_safe(dev):
    net = micro_blimp()
    dev.deploy(net)
    trips = dev.stats().watchdog_trips
    dev.watchdog(60)
    try:
        codes = _codes(20, 5)
        ref = run(net, codes)
        np.testing.assert_array_equal(dev.run(codes[:10]), ref[:10])
        time.sleep(0.4)
        assert dev.stats().watchdog_trips == trips + 1
        res = dev.step(codes[0])
        assert res.watchdog_tripped and res.outputs.tolist() == ref[0].tolist()  # from reset state
    finally:
        dev.watchdog(0)


def test_onboard_loop_with_fail_safe(dev):
    """The on-board loop in 2 KB (docs/protocol.md §8): Timer0 drives it, SENSOR frames feed it, every
    period's TELEMETRY matches the documented rule and numba, and STATS agrees with the frames."""
    from tests.test_onboard_loop import Feeder, check_frames, counters, delta

    net = micro_blimp()
    dev.deploy(net)
    feed = Feeder(dev, 1, seed=4)
    feed.send()
    before = counters(dev)
    dev.start(20_000, telemetry_every=1, stale_limit=2)
    feed.collect(lambda new: sum(f.fresh for f in new) >= 15, sending=True)
    feed.collect(lambda new: sum(f.failsafe for f in new) >= 3, sending=False)
    feed.send()
    feed.collect(lambda new: sum(f.fresh for f in new) >= 10, sending=True)
    feed.finish()
    want = check_frames(net, feed.frames, feed.sent, stale_limit=2)
    assert want["failsafe_entries"] >= 1 and feed.frames[-1].stepped
    assert delta(counters(dev), before) == want
    assert dev.hello().free_ram >= 100  # the telemetry packet on the stack stayed within the headroom
