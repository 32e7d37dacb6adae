"""The on-board loop (protocol version 2, docs/protocol.md §8) on real firmware: the host port and the
lm3s6965evb image under QEMU, over their serial links.

Nothing here looks at the wall clock. Every period the board handled is reported by a TELEMETRY frame
(telemetry every period), and each frame is checked against a reference written from the document:
a fresh frame carries the codes of the SENSOR frame it names, a held one the previous codes, the
fail-safe engages at exactly the K-th period without a fresh sample and ends at the next fresh one,
and the outputs of every stepped period are numba's (`snnctl.runtime.Stepper`) for the very input
codes the board reports, from reset at START and at each fail-safe entry. The device's own counters
(STATS) must then agree with the frames: periods, steps, missed deadlines (the gaps in the period
numbers), missing samples, fail-safe entries.

The host paces its samples on the telemetry it receives (one sample per frame), so a busy machine
only changes how many periods are held or late, which the reference follows frame by frame.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.optional_tools import require_board, running_emulator, skip_unless_ci

pytest.importorskip("serial")

from firmware_bridge import boards  # noqa: E402
from firmware_bridge import protocol as P  # noqa: E402
from firmware_bridge.device import Device, DeviceErrorReply, VersionMismatch  # noqa: E402
from firmware_bridge.protocol import MsgType, Telemetry  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.network import Network  # noqa: E402
from snnctl.runtime import Stepper, run  # noqa: E402

BOARDS = ("host", "lm3s6965evb")  # the emulated boards that hold the blimp network and have a SENSOR channel
PERIOD_US = 20_000  # 50 Hz: a blimp step (2.4 ms on the emulated Cortex-M3) and a frame fit easily
K = 3  # fail-safe after K periods without a fresh sample


@pytest.fixture(scope="module", params=BOARDS)
def emu(request):
    yield from running_emulator(request.param)


@pytest.fixture
def dev(emu):
    with Device(emu.url, timeout=1.0, retries=2) as d:
        d.hello()
        yield d
        try:
            d.stop()  # a failed test must not leave the next one a running board
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture(scope="module")
def blimp() -> Network:
    net = blimp_shaped_network(seed=5)
    net.fail_safe = np.array([1234, -4321])
    net.validate()
    return net


# -- the reference: docs/protocol.md §8, frame by frame ----------------------------------------------


class Feeder:
    """Sends seeded random SENSOR samples, one per received frame, and remembers each by its seq."""

    def __init__(self, dev: Device, n_inputs: int, seed: int = 3) -> None:
        self.dev, self.n_inputs = dev, n_inputs
        self.rng = np.random.default_rng(seed)
        self.sent: dict[int, np.ndarray] = {}
        self.frames: list[Telemetry] = []

    def send(self) -> None:
        codes = self.rng.integers(-700, 700, self.n_inputs).astype(np.int16)
        self.sent[self.dev.send_sensor(codes)] = codes

    def collect(self, until, sending: bool, limit: int = 400) -> None:
        """Read frames (sending one sample after each if `sending`) until `until(new frames)` holds."""
        new: list[Telemetry] = []
        while not until(new):
            tm = self.dev.read_telemetry(5.0)
            assert tm is not None, "the running board sent no telemetry for 5 s"
            new.append(tm)
            assert len(new) <= limit, "the condition was never met"
            if sending:
                self.send()
        self.frames += new

    def finish(self) -> None:
        """STOP, then the frames still on the way (the STOP reply follows them on the link)."""
        self.dev.stop()
        while (tm := self.dev.read_telemetry(0.3)) is not None:
            self.frames.append(tm)


def check_frames(net: Network, frames: list[Telemetry], sent: dict[int, np.ndarray], stale_limit: int,
                 after_period: int = 0, key=lambda f: f.sample_seq) -> dict:  # fmt: skip
    """Every frame against the documented rules; returns the counters the device must report.

    The frames start at START (`after_period` 0), or at a fresh sample after a fail-safe (the network
    was reset there) that followed period `after_period`. A fresh frame carries `sent[key(frame)]`:
    the SENSOR frame it names by default, a plug-in's reply to its period (tests/test_edge_plugin.py)."""
    stepper = Stepper(net)
    stepper.reset()
    fail = np.asarray(net.fail_safe if net.fail_safe is not None else np.zeros(net.n_outputs), np.int16)
    held = np.zeros(net.n_inputs, np.int16)
    stale, failsafe, prev = 0, False, after_period
    n = {"run_periods": 0, "steps": 0, "missed_deadlines": 0, "missing_samples": 0, "failsafe_entries": 0}
    for i, f in enumerate(frames):
        where = f"frame {i} (period {f.period}, flags {f.flags:#x})"
        assert f.period > prev, where
        assert f.late == (f.period > prev + 1), where
        n["missed_deadlines"] += f.period - prev - 1
        prev = f.period
        n["run_periods"] += 1
        if f.fresh:
            np.testing.assert_array_equal(f.inputs, sent[key(f)], err_msg=where)
            held, stale, failsafe = f.inputs.copy(), 0, False
        else:
            np.testing.assert_array_equal(f.inputs, held, err_msg=where)  # the last sample is held
            n["missing_samples"] += 1
            stale += 1
            if not failsafe and stale_limit and stale >= stale_limit:
                failsafe = True
                n["failsafe_entries"] += 1
                stepper.reset()
        assert f.failsafe == failsafe and f.stepped == (not failsafe), where
        if failsafe:
            np.testing.assert_array_equal(f.outputs, fail, err_msg=where)
            assert f.spikes == 0 and f.step_ticks == 0, where
        else:
            np.testing.assert_array_equal(f.outputs, stepper.step(f.inputs), err_msg=where)
            n["steps"] += 1
    return n


def counters(dev: Device) -> dict:
    st = dev.stats()
    return {k: getattr(st, k) for k in ("run_periods", "steps", "missed_deadlines", "missing_samples",
                                        "failsafe_entries")}  # fmt: skip


def wait_periods(dev: Device, n: int) -> None:
    """Return once the running board has handled n more timer periods (asks STATS, at most 500 times)."""
    start = dev.stats().run_periods
    for _ in range(500):
        if dev.stats().run_periods >= start + n:
            return
        dev.read_telemetry(0.01)
    raise AssertionError(f"the board did not handle {n} periods while answering 500 STATS requests")


def delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


# -- behaviour ----------------------------------------------------------------------------------------


def test_outputs_are_numbas_for_the_inputs_each_period_used(dev, blimp):
    dev.deploy(blimp)
    feed = Feeder(dev, blimp.n_inputs)
    feed.send()  # before START: the first period's input
    before = counters(dev)
    cfg = dev.start(PERIOD_US, telemetry_every=1, stale_limit=0)
    assert (cfg.period_us, cfg.telemetry_every, cfg.stale_limit) == (PERIOD_US, 1, 0)
    ni = dev.netinfo()
    assert ni.running and ni.period_us == PERIOD_US
    feed.collect(lambda new: len(new) >= 60, sending=True)
    feed.finish()
    assert not dev.netinfo().running
    want = check_frames(blimp, feed.frames, feed.sent, stale_limit=0)
    assert delta(counters(dev), before) == want
    assert feed.frames[0].fresh and sum(f.fresh for f in feed.frames) > len(feed.frames) // 2
    # the same input sequence through numba in one go (a second look at bit-identity)
    ins = np.array([f.inputs for f in feed.frames])
    np.testing.assert_array_equal(run(blimp, ins), np.array([f.outputs for f in feed.frames]))
    assert all(f.step_ticks > 0 and f.spikes >= 0 for f in feed.frames)
    st = dev.stats()
    assert st.max_step_cycles >= max(f.step_ticks for f in feed.frames)


def test_fail_safe_after_k_missing_periods_and_recovery(dev, blimp):
    dev.deploy(blimp)
    feed = Feeder(dev, blimp.n_inputs, seed=8)
    feed.send()
    before = counters(dev)
    dev.start(PERIOD_US, telemetry_every=1, stale_limit=K)
    for _silence in range(2):  # two cuts: the fail-safe engages and recovers each time
        feed.collect(lambda new: sum(f.fresh for f in new) >= 10, sending=True)
        # the sensor channel is cut: K - 1 held periods, then the fail-safe, held until samples return
        feed.collect(lambda new: sum(f.failsafe for f in new) >= 4, sending=False)
        feed.send()
    feed.collect(lambda new: sum(f.fresh for f in new) >= 10, sending=True)
    feed.finish()
    want = check_frames(blimp, feed.frames, feed.sent, stale_limit=K)
    assert want["failsafe_entries"] >= 2
    assert delta(counters(dev), before) == want
    assert feed.frames[-1].fresh or not feed.frames[-1].failsafe  # it flew again after the cuts


def test_telemetry_every_n_periods(dev, blimp):
    dev.deploy(blimp)
    feed = Feeder(dev, blimp.n_inputs)
    before = counters(dev)
    dev.start(PERIOD_US, telemetry_every=4, stale_limit=0)
    feed.collect(lambda new: len(new) >= 6, sending=True)
    feed.finish()
    # a frame after every 4th handled period: between two frames the board handled exactly 4
    handled = delta(counters(dev), before)["run_periods"]
    assert len(feed.frames) == handled // 4
    missed = delta(counters(dev), before)["missed_deadlines"]
    gaps = np.diff([0] + [f.period for f in feed.frames])
    assert (gaps >= 4).all() and gaps.sum() - 4 * len(gaps) <= missed


def test_start_stop_rules(dev, blimp):
    dev.deploy(blimp)  # the blimp net records no control period
    assert dev.netinfo().period_us == 0
    with pytest.raises(DeviceErrorReply) as exc:
        dev.start(0)
    assert (exc.value.code, exc.value.detail) == ("BAD_PERIOD", 0)
    timed = blimp_shaped_network(seed=5)
    timed.control_period_s = 0.025
    dev.deploy(timed)
    assert dev.netinfo().period_us == 25_000
    dev.watchdog(30)  # the STEP watchdog sleeps while the board runs itself
    trips = dev.stats().watchdog_trips
    rejected = dev.stats().sensor_rejected
    cfg = dev.start()  # period 0: the .snn's own
    assert cfg.period_us == 25_000 and dev.netinfo().period_us == 25_000
    for request in (lambda: dev.step(np.zeros(1, np.int16)), dev.reset, lambda: dev.deploy(blimp)):
        with pytest.raises(DeviceErrorReply) as exc:
            request()
        assert exc.value.code == "RUNNING"
    dev.send_sensor(np.zeros(2, np.int16))  # two codes for a one-input net: discarded and counted
    wait_periods(dev, 3)
    assert dev.read_telemetry(0.05) is None  # telemetry is off by default
    assert dev.stats().sensor_rejected == rejected + 1
    assert dev.stats().watchdog_trips == trips
    dev.stop()
    dev.watchdog(0)
    dev.reset()  # host-stepped again: STEP from reset equals numba
    codes = np.random.default_rng(2).integers(-700, 700, (40, 1)).astype(np.int16)
    np.testing.assert_array_equal(dev.run(codes), run(timed, codes))
    assert dev.stop() >= 0  # STOP when not running: harmless


# -- version 2 against version 1, both ways (real bytes on the host device's pty) ----------------------


def _v1_commit() -> str | None:
    """The last commit whose device library speaks protocol version 1 (the parent of the bump)."""
    root = Path(__file__).resolve().parents[1]
    path = "firmware_bridge/firmware/device/snn_device.h"
    try:
        bump = subprocess.run(["git", "-C", str(root), "log", "--format=%H", "-S#define SNN_PROTOCOL_VERSION 2u",
                               "--", path], capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{bump[-1]}^" if bump else None


def test_old_client_gets_a_version_error_from_a_new_device():
    require_board("host")
    from firmware_bridge.emulators import start_emulator

    with start_emulator("host") as e, Device(e.url, timeout=1.0) as d:
        # what a version-1 client sends: its HELLO, byte for byte (docs/protocol.md §1, version 1)
        import struct
        import zlib

        body = struct.pack("<BBHH", 1, MsgType.HELLO, 7, 0)
        d.write_raw(b"\0" + P.encode_frame(body + struct.pack("<I", zlib.crc32(body))))
        pkt = d.read_packet(2.0)
        assert pkt is not None, "no reply to a version-1 HELLO"
        assert (pkt.version, pkt.type, pkt.seq) == (2, 0xFF, 7)
        assert P.unpack_error(pkt.payload) == P.ErrorReply(P.ErrorCode.BAD_VERSION, MsgType.HELLO, 2)


def test_new_client_gets_a_version_error_from_an_old_device(tmp_path):
    require_board("host")
    from firmware_bridge.build import FIRMWARE_DIR, compiler_command

    commit = _v1_commit()
    if commit is None:
        skip_unless_ci("no git history with the protocol-version-1 firmware (a source archive)")
    root = Path(__file__).resolve().parents[1]
    rel = FIRMWARE_DIR.relative_to(root)
    archive = subprocess.run(["git", "-C", str(root), "archive", commit, str(rel)], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    fw = tmp_path / rel
    sources = [fw / "ports/host/snndev.c", *sorted((fw / "device").glob("*.c")), *sorted((fw / "core").glob("*.c"))]
    exe = tmp_path / "snndev-v1"
    defines = [f"-D{k}={v}" for k, v in sorted(boards.get("host").defines)]
    subprocess.run([*compiler_command(), "-std=c99", "-O1", *defines, "-I", str(fw / "core"), "-I", str(fw / "device"),
                    "-I", str(fw / "ports/host"), *map(str, sources), "-o", str(exe)], check=True)  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            url = proc.stdout.readline().split()[1]
            with Device(url, timeout=1.0, retries=1) as d:
                with pytest.raises(VersionMismatch, match=r"protocol version 1, this snnctl speaks 2"):
                    d.hello(connect_timeout=3.0)
        finally:
            proc.terminate()
            proc.wait(5)
