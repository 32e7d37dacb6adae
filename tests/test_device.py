"""The C device (firmware_bridge/firmware/device/) on every emulated board, driven by the host client.

One suite, parametrized over the boards of `firmware_bridge.boards` that hold the blimp network:
`host` (POSIX virtual device on a pty), `lm3s6965evb` (Cortex-M3 image under QEMU), `linux-aarch64` and
`linux-armhf` (the host device cross-compiled for a Raspberry Pi, under QEMU user mode). A board
whose tools are missing is skipped, naming the apt packages, unless CI=true, where it fails.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import zlib

import numpy as np
import pytest

from tests.optional_tools import require_board, running_emulator
from tests.test_boards import hello_limits

pytest.importorskip("serial")

from firmware_bridge import boards  # noqa: E402
from firmware_bridge import protocol as P  # noqa: E402
from firmware_bridge.device import (  # noqa: E402
    ConnectionLost,
    Device,
    DeviceErrorReply,
    DeviceTimeout,
    NetworkTooLarge,
    VersionMismatch,
)
from firmware_bridge.protocol import MsgType  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection  # noqa: E402
from snnctl.runtime import run  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402

# every board of the table big enough for the 160-neuron blimp network (atmega328p: tests/test_atmega328p_port.py)
BOARDS = tuple(b.name for b in boards.BOARDS if b.max_blob_bytes >= 4096)
TIMEOUT = 0.5


@pytest.fixture(scope="module", params=BOARDS)
def emu(request):
    yield from running_emulator(request.param)


@pytest.fixture
def dev(emu):
    with Device(emu.url, timeout=TIMEOUT, retries=2) as d:
        d.hello()
        yield d


@pytest.fixture(scope="module")
def blimp() -> Network:
    net = blimp_shaped_network(seed=5)
    net.fail_safe = np.array([1234, -4321])
    net.validate()
    return net


def _codes(t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-700, 700, (t, 1)).astype(np.int16)


class Follower:
    """The reference run of one network, stepped along with the device to compare every output."""

    def __init__(self, net: Network, dev: Device, seed: int = 11) -> None:
        self.net, self.dev = net, dev
        self.codes = _codes(4000, seed)
        self.ref = run(net, self.codes)
        self.t = 0

    def check(self, n: int = 5) -> None:
        got = self.dev.run(self.codes[self.t : self.t + n])
        np.testing.assert_array_equal(got, self.ref[self.t : self.t + n], err_msg=f"steps {self.t}..{self.t + n}")
        self.t += n


def _fresh(dev: Device, net: Network) -> Follower:
    dev.deploy(net)
    return Follower(net, dev)


# -- behaviour ----------------------------------------------------------------------------------------


def test_hello_and_limits(dev, emu):
    info = dev.info
    assert info.protocol_version == P.PROTOCOL_VERSION
    assert 64 <= info.max_payload <= 1024 and 0 < len(info.name) <= 24
    assert info.has(P.Capability.ATOMIC_COMMIT)
    assert info.max_neurons >= 160 and info.max_blob_bytes >= 4096
    assert hello_limits(info) == hello_limits(boards.get(emu.board))  # the board table says what HELLO says


def test_deploy_and_run_10000_steps_bit_identical(dev, blimp):
    ni = dev.deploy(blimp)
    blob = to_bytes(blimp)
    assert (ni.loaded, ni.blob_bytes, ni.blob_crc32) == (True, len(blob), network_crc(blob))
    assert ni.n_neurons == blimp.n_neurons and ni.n_synapses == blimp.n_synapses
    codes = _codes(10_000, 1)
    got = dev.run(codes, window=8)  # speed is measured by `snnctl bench firmware`, not asserted here
    np.testing.assert_array_equal(got, run(blimp, codes))
    # counts and reset
    dev.reset()
    res = dev.step(codes[0], counts=True)
    ref_out, ref_cnt = run(blimp, codes[:1], counts=True)
    assert res.outputs.tolist() == ref_out[0].tolist()
    assert (res.spikes, res.synops) == tuple(ref_cnt[0])
    assert res.cycles and res.cycles > 0 and not res.watchdog_tripped


class InFlightMeter:
    """Wraps a client's writes and reads to measure what it had unanswered on the line: every frame
    written joins the queue, every reply that arrives retires the oldest (docs/protocol.md §2,
    Pipelining). Replies are counted where the client decodes them, before any queueing."""

    def __init__(self, dev: Device) -> None:
        self.queue: list[int] = []
        self.max_bytes = self.max_frames = 0
        write, feed = dev.write_raw, dev._feed

        def write_raw(data: bytes) -> None:
            self.queue += [len(f) + 1 for f in data.split(b"\0")[:-1] if f]  # encoded length + delimiter
            self.max_bytes = max(self.max_bytes, sum(self.queue))
            self.max_frames = max(self.max_frames, len(self.queue))
            write(data)

        def decode(chunk: bytes) -> list:
            packets = feed(chunk)
            del self.queue[: len(packets)]
            return packets

        dev.write_raw, dev._feed = write_raw, decode


def test_pipelined_run_keeps_at_most_max_payload_bytes_in_flight(dev, blimp):
    """run() with a window far above the byte budget: never more than max_payload encoded bytes
    unanswered, and the budget is used (as many whole STEP frames as fit), outputs bit-exact."""
    dev.deploy(blimp)
    codes = _codes(600, 3)
    frame_bytes = len(P.frame(MsgType.STEP, 1, bytes(1) + codes[0].astype("<i2").tobytes()))
    meter = InFlightMeter(dev)
    got = dev.run(codes, window=10_000)
    np.testing.assert_array_equal(got, run(blimp, codes))
    assert meter.max_bytes <= dev.info.max_payload
    assert meter.max_frames == dev.info.max_payload // frame_bytes  # e.g. 1024 // 16 = 64 on the host


def test_overlong_frames_counted_as_the_framing_table_says(dev):
    """Issue 18 Q10 (docs/protocol.md §1) on every board with max_payload 1024: n = 1034 >= 254, so
    the receiver keeps C = 1034 + 4 + 1 = 1039 encoded bytes; C + 1 bytes are dropped_frames, and C
    bytes of 0x01 decode to 1038 zeros > n: framing_errors (the case a port with n < 254 never sees)."""
    n = dev.info.max_payload + P.OVERHEAD
    c = P.cobs_max_encoded(n)
    assert c - 1 > n
    before = dev.stats()
    dev.write_raw(b"\x01" * (c + 1) + b"\0" + b"\x01" * c + b"\0")
    after = dev.stats()
    assert after.dropped_frames - before.dropped_frames == 1
    assert after.framing_errors - before.framing_errors == 1
    assert after.crc_errors == before.crc_errors


def test_interrupted_uploads_leave_old_network_running(dev, blimp):
    f = _fresh(dev, blimp)
    f.check()
    other = to_bytes(blimp_shaped_network(seed=77))
    rng = np.random.default_rng(0)
    chunk = 200
    n_chunks = -(-len(other) // chunk)
    for cut in sorted(rng.choice(np.arange(0, n_chunks), 4, replace=False)):
        dev.load_begin(len(other), zlib.crc32(other))
        for k in range(cut):
            dev.load_chunk(k * chunk, other[k * chunk : (k + 1) * chunk])
        f.check(7)  # stepping mid-upload: the old network, undisturbed
        with pytest.raises(DeviceErrorReply) as exc:
            dev.commit()
        assert exc.value.code in ("INCOMPLETE", "NOT_LOADING")
        f.check(7)
    # out-of-order chunk and a whole blob with a wrong CRC are refused at once / at commit
    dev.load_begin(len(other), zlib.crc32(other))
    with pytest.raises(DeviceErrorReply) as exc:
        dev.load_chunk(chunk, other[chunk : 2 * chunk])
    assert exc.value.code == "BAD_OFFSET"
    dev.load_begin(len(other), zlib.crc32(other) ^ 1)
    for k in range(n_chunks):
        dev.load_chunk(k * chunk, other[k * chunk : (k + 1) * chunk])
    with pytest.raises(DeviceErrorReply) as exc:
        dev.commit()
    assert exc.value.code == "BAD_BLOB_CRC"
    damaged = bytearray(to_bytes(blimp_shaped_network(seed=78)))
    damaged[40] ^= 0xFF  # a valid upload of an invalid .snn (its own CRC is now wrong)
    with pytest.raises(DeviceErrorReply) as exc:
        dev.upload(bytes(damaged))
    assert exc.value.code == "INVALID_NETWORK"
    f.check(20)
    ni = dev.netinfo()
    assert ni.blob_crc32 == network_crc(to_bytes(blimp))


def _expect_silence(dev: Device, wait: float = 0.15) -> None:
    pkt = dev.read_packet(wait)
    assert pkt is None, f"unexpected reply {pkt}"


def test_line_faults_are_survived(dev, blimp):
    f = _fresh(dev, blimp)
    f.check()
    before = dev.stats()
    rng = np.random.default_rng(3)

    # random garbage, zeros included: dropped, counted, never answered
    dev.write_raw(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes() + b"\0")
    _expect_silence(dev)
    f.check()

    # a bit-flipped frame: no reply; through the client that is a DeviceTimeout within its deadline
    good = bytearray(P.build_packet(MsgType.STATS, dev.next_seq()))
    good[7] ^= 0x08
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout):
        dev.exchange(P.encode_frame(bytes(good)), dev.seq, MsgType.STATS, timeout=0.2, retries=1)
    assert time.monotonic() - t0 < 0.2 * 2 + 0.3
    f.check()

    # truncated frames
    for cut in (1, 3, 6, 12):
        dev.write_raw(P.cobs_encode(P.build_packet(MsgType.STEP, dev.seq + 1, b"\0" + bytes(2)))[:-cut] + b"\0")
        _expect_silence(dev, 0.05)
    f.check()

    # an over-long frame is discarded up to its delimiter
    dev.write_raw(P.frame(MsgType.LOAD_CHUNK, dev.seq + 1, bytes(4) + bytes([7]) * (dev.info.max_payload + 300)))
    _expect_silence(dev)
    f.check()

    after = dev.stats()
    assert after.crc_errors + after.framing_errors > before.crc_errors + before.framing_errors
    assert after.dropped_frames > before.dropped_frames

    # errors the device answers: each raises the documented exception, nothing runs
    with pytest.raises(DeviceErrorReply) as exc:
        dev.request(0x42)
    assert exc.value.code == "UNKNOWN_TYPE"
    with pytest.raises(DeviceErrorReply) as exc:
        dev.request(MsgType.STATS, seq=(dev.seq + 9) & 0xFFFF)
    assert exc.value.code == "BAD_SEQ" and exc.value.detail == (dev.seq + 1) & 0xFFFF
    with pytest.raises(VersionMismatch):
        dev.request(MsgType.STATS, version=7)
    with pytest.raises(DeviceErrorReply) as exc:
        dev.step(np.array([1, 2], np.int16))
    assert exc.value.code == "BAD_INPUT_COUNT"
    with pytest.raises(DeviceErrorReply) as exc:
        dev.request(MsgType.WATCHDOG, b"\1\2\3")
    assert exc.value.code == "BAD_LENGTH"
    f.check(20)

    # a retry (same seq, same frame) is answered from the stored reply: the step is not run twice
    seq = dev.next_seq()
    frame = P.frame(MsgType.STEP, seq, b"\0" + f.codes[f.t].tobytes())
    first = P.unpack_response(MsgType.STEP, dev.exchange(frame, seq, MsgType.STEP).payload)
    again = P.unpack_response(MsgType.STEP, dev.exchange(frame, seq, MsgType.STEP).payload)
    assert first.step == again.step and first.outputs.tolist() == again.outputs.tolist() == f.ref[f.t].tolist()
    f.t += 1
    f.check(20)


def _too_large(info: P.Info, want: str) -> Network:
    """A network over the device's `want` limit ('blob_bytes' or 'arena_bytes') but within the others."""
    if want == "blob_bytes":
        n = int(np.sqrt(info.max_blob_bytes)) + 16
        w = np.ones((n, n), np.int8)
        pops = [Population(Kind.LIF, n, du=1024, dv=512, theta=4096)]
        return Network(1, pops, [Projection(INPUT, 0, np.ones((1, n), np.int8)), Projection(0, 0, w, recurrent=True)],
                       [Output(0, 0)])  # fmt: skip
    from firmware_bridge.memory import device_bytes

    n = 64
    while True:
        pops = [Population(Kind.LIF, min(n, 4000), du=1024, dv=512, theta=4096) for _ in range(-(-n // 4000))]
        net = Network(1, pops, [Projection(INPUT, 0, np.ones((1, pops[0].n), np.int8))], [Output(0, 0)])
        mem = device_bytes(net)
        if mem["arena_bytes"] > info.arena_bytes:
            return net
        n *= 2


def test_too_large_refused_by_host_and_device(dev, blimp):
    f = _fresh(dev, blimp)
    info = dev.info
    for want in ("blob_bytes", "arena_bytes"):
        big = _too_large(info, want)
        blob = to_bytes(big)
        sent = dev.stats().rx_bytes
        with pytest.raises(NetworkTooLarge) as exc:
            dev.deploy(big)
        assert exc.value.limit in ("neurons", "synapses", "blob_bytes", "arena_bytes")
        assert str(exc.value.need) in str(exc.value)
        assert dev.stats().rx_bytes - sent < 100  # only the STATS request itself: nothing was uploaded
        if len(blob) > info.max_blob_bytes:
            with pytest.raises(DeviceErrorReply) as err:
                dev.upload(blob)  # forced: LOAD_BEGIN is refused
            assert err.value.code == "TOO_LARGE"
        else:
            with pytest.raises(DeviceErrorReply) as err:
                dev.upload(blob)  # forced: the whole blob arrives, COMMIT refuses it
            assert err.value.code in ("TOO_LARGE", "INVALID_NETWORK")
        f.check(10)


def test_watchdog_fail_safe(dev, blimp):
    assert dev.info.has(P.Capability.WATCHDOG)
    f = _fresh(dev, blimp)
    trips = dev.stats().watchdog_trips
    dev.watchdog(60)
    try:
        for _ in range(5):
            f.check(3)  # steps keep it from firing
            time.sleep(0.01)
        assert dev.stats().watchdog_trips == trips
        time.sleep(0.4)
        assert dev.stats().watchdog_trips == trips + 1  # fired once for the whole silence
        res = dev.step(f.codes[0])
        assert res.watchdog_tripped
        assert res.outputs.tolist() == f.ref[0].tolist()  # restarted from reset state
        assert not dev.step(f.codes[1]).watchdog_tripped
    finally:
        dev.watchdog(0)


def test_connection_lost(emu, blimp):
    from firmware_bridge.emulators import start_emulator

    with start_emulator(emu.board) as own:
        d = Device(own.url, timeout=0.3, retries=1)
        d.hello()
        own.close()
        with pytest.raises((ConnectionLost, DeviceTimeout)) as exc:
            for _ in range(3):
                d.stats()
        assert isinstance(exc.value, ConnectionLost), f"expected ConnectionLost, got {exc.value!r}"
        with pytest.raises(ConnectionLost):
            d.stats()


def test_host_device_actuator_gets_fail_safe_codes(blimp):
    """The host device logs board_outputs with -v: the watchdog hands it the network's fail-safe codes."""
    require_board("host")
    from firmware_bridge.build import build_host_device

    proc = subprocess.Popen([str(build_host_device()), "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        url = proc.stdout.readline().split()[1]
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
        with Device(url, timeout=TIMEOUT) as d:
            d.hello()
            d.deploy(blimp)
            d.watchdog(30)
            d.run(_codes(5))
            time.sleep(0.25)
            assert d.step(_codes(1)[0]).watchdog_tripped
            d.watchdog(0)
        time.sleep(0.05)
        assert "outputs 1234 -4321" in [ln.strip() for ln in lines]
    finally:
        proc.terminate()
        proc.wait(5)


def _median_step_ms(exe: str, args: list[str], net: Network, steps: int = 40) -> float:
    proc = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[1]
        with Device(url, timeout=TIMEOUT) as d:
            d.hello()
            d.deploy(net)
            codes = _codes(steps)
            times = []
            for k in range(steps):
                t0 = time.perf_counter()
                d.step(codes[k])
                times.append(time.perf_counter() - t0)
        return 1e3 * float(np.median(times))
    finally:
        proc.terminate()
        proc.wait(5)


def test_tcp_host_device_answers_as_fast_as_the_pty_one(blimp):
    """A reply is one write on a TCP_NODELAY socket: no reply waits ~40 ms for the client's delayed
    ACK (that stall is a TCP timer, not machine speed; the 10-ms slack keeps a busy machine green)."""
    require_board("host")
    from firmware_bridge.build import build_host_device

    exe = str(build_host_device())
    pty_ms, tcp_ms = _median_step_ms(exe, [], blimp), _median_step_ms(exe, ["--tcp", "0"], blimp)
    assert tcp_ms <= 2 * pty_ms + 10.0, (tcp_ms, pty_ms)


# -- the command line ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_emu():
    from firmware_bridge.emulators import start_emulator

    require_board("host")
    with start_emulator("host") as e:
        yield e


def test_cli_deploy_info_run(host_emu, blimp, tmp_path, capsys):
    import json

    from snnctl.cli import main
    from snnctl.snnfile import save

    url = host_emu.url
    path = save(blimp, tmp_path / "blimp.snn")
    assert main(["deploy", str(path), "--port", url]) == 0
    out = capsys.readouterr().out
    assert f"crc32 0x{network_crc(to_bytes(blimp)):08x}" in out and f"{blimp.n_neurons} neurons" in out

    assert main(["device", "info", "--port", url, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["network"]["loaded"] and info["network"]["blob_crc32"] == network_crc(to_bytes(blimp))

    codes = _codes(500, 8)
    np.save(tmp_path / "codes.npy", codes)
    assert main(["deploy", str(path), "--port", url, "--quiet"]) == 0  # from reset again
    assert main(["device", "run", "--port", url, "--inputs", str(tmp_path / "codes.npy"),
                 "--outputs", str(tmp_path / "out.npy")]) == 0  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), run(blimp, codes))

    x = codes[:40, 0] * 1e-3  # real values that quantise back to the codes
    np.savetxt(tmp_path / "in.csv", x, header="error_m", comments="", delimiter=",")
    capsys.readouterr()
    assert main(["deploy", str(path), "--port", url, "--quiet"]) == 0
    assert main(["device", "run", "--port", url, "--inputs", str(tmp_path / "in.csv"), "--net", str(path),
                 "--json"]) == 0  # fmt: skip
    lines = capsys.readouterr().out
    got = np.array(json.loads(lines[lines.index("{") :])["outputs"])
    np.testing.assert_allclose(got, blimp.dequantize_outputs(run(blimp, codes[:40])))


def test_cli_errors_are_one_line(host_emu, tmp_path, capsys):
    from snnctl.cli import main
    from snnctl.models import blimp_shaped_network
    from snnctl.snnfile import save

    np.save(tmp_path / "c.npy", _codes(3))
    other = save(blimp_shaped_network(seed=99), tmp_path / "other.snn")
    master, slave = os.openpty()  # a port where nothing answers: DeviceTimeout
    cases = [
        ["device", "info", "--port", os.ttyname(slave), "--connect-timeout", "0.3", "--timeout", "0.1"],
        ["device", "info", "--port", str(tmp_path / "no-such-tty")],
        ["device", "info", "--port", "loop://", "--connect-timeout", "0.3"],
        ["deploy", str(tmp_path / "missing.snn"), "--port", host_emu.url],
        ["device", "run", "--port", host_emu.url, "--inputs", str(tmp_path / "c.npy"), "--net", str(other)],
        ["device", "run", "--port", host_emu.url, "--inputs", str(tmp_path / "nope.csv"), "--net", str(other)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("snnctl: error: ") and err.count("\n") == 1, err
    os.close(master)
    os.close(slave)
