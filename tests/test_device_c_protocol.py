"""Protocol-level tests of the C device library (firmware/device) in the POSIX virtual device.

The device (`firmware/ports/host/snndev.c`, built with ASan + UBSan) serves docs/protocol.md on a
pseudo-terminal. The host side here is a minimal raw-bytes client written straight from the
document (COBS, struct, zlib.crc32), independent of firmware_bridge/protocol.py, so the C device
is checked against the spec rather than against the Python codec.

Every test starts a fresh device; its stderr is printed at teardown (pytest shows it for a failed
test), and teardown fails if the process died (a sanitizer finding) or did not exit cleanly on
SIGTERM.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import tty
import zlib

import numpy as np
import pytest

from firmware_bridge.build import build_host_device
from firmware_bridge.memory import device_bytes
from snnctl import models, runtime, snnfile

HELLO, LOAD_BEGIN, LOAD_CHUNK, COMMIT, STEP, RESET, WATCHDOG, STATS, NETINFO = range(1, 10)
ERROR = 0xFF
(UNKNOWN_TYPE, BAD_LENGTH, BAD_VERSION, BAD_SEQ, NO_NETWORK, TOO_LARGE, BAD_OFFSET, BAD_BLOB_CRC,
 INVALID_NETWORK, NOT_LOADING, INCOMPLETE, BAD_INPUT_COUNT) = range(1, 13)  # fmt: skip
STATS_FIELDS = ("steps", "crc_errors", "framing_errors", "dropped_frames", "watchdog_trips", "errors_sent",
                "last_step_cycles", "max_step_cycles", "rx_bytes", "tx_bytes", "run_periods", "missed_deadlines",
                "missing_samples", "failsafe_entries", "sensor_samples", "sensor_rejected")  # fmt: skip
NETINFO_FIELDS = ("loaded", "n_inputs", "n_outputs", "n_neurons", "n_synapses", "blob_bytes", "blob_crc32",
                  "arena_used", "period_us", "running")  # fmt: skip
QUIET = 0.15  # seconds to wait before concluding that no reply is coming


# ---- the wire format, from docs/protocol.md §1 -----------------------------------------------------
def cobs_encode(data: bytes) -> bytes:
    """COBS; a full 254-byte block at the end is followed by an empty 0x01 block (the non-minimal
    variant, so the device's decoder is checked on the form its own encoder does not produce)."""
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        assert code != 0 and i + code <= len(enc), f"malformed COBS from the device: {enc.hex()}"
        out += enc[i + 1 : i + code]
        i += code
        if code < 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def packet(ptype: int, seq: int, payload: bytes = b"", version: int = 2) -> bytes:
    body = struct.pack("<BBHH", version, ptype, seq & 0xFFFF, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def frame(ptype: int, seq: int, payload: bytes = b"", version: int = 2) -> bytes:
    return cobs_encode(packet(ptype, seq, payload, version)) + b"\0"


class Reply:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw  # the encoded frame as received, delimiter included
        pkt = cobs_decode(raw[:-1])
        assert len(pkt) >= 10, pkt.hex()
        assert zlib.crc32(pkt[:-4]) == struct.unpack_from("<I", pkt, len(pkt) - 4)[0], "bad CRC from the device"
        self.version, self.type, self.seq, length = struct.unpack_from("<BBHH", pkt)
        self.payload = pkt[6:-4]
        assert length == len(self.payload)
        assert self.version == 2

    def error(self) -> tuple[int, int, int]:
        assert self.type == ERROR, f"expected ERROR, got type {self.type:#x}"
        return struct.unpack("<BBH", self.payload)

    def __repr__(self) -> str:
        return f"Reply(type={self.type:#x}, seq={self.seq}, payload={self.payload.hex()})"


# ---- the device process and a raw client ------------------------------------------------------------
class Device:
    def __init__(self, exe, *args: str) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=self.stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        assert line.startswith("URL "), f"device did not announce its URL: {line!r}\n{self.stderr_text()}"
        self.url = line.split()[1]
        self.fd = -1
        self.sock = None
        if self.url.startswith("socket://"):
            host, port = self.url[len("socket://") :].split(":")
            self.sock = socket.create_connection((host, int(port)), timeout=5)
            self.sock.setblocking(False)
        else:
            self.fd = os.open(self.url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(self.fd)
        self.buf = bytearray()
        self.seq = 0

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else self.fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fileno()], [], 5)
            try:
                n = self.sock.send(view) if self.sock is not None else os.write(self.fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def read_frame(self, timeout: float = 5.0) -> Reply | None:
        deadline = time.monotonic() + timeout
        while True:
            while self.buf[:1] == b"\0":  # stray delimiters
                del self.buf[0]
            end = self.buf.find(b"\0")
            if end >= 0:
                raw = bytes(self.buf[: end + 1])
                del self.buf[: end + 1]
                return Reply(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fileno()], [], [], left)
            if ready:
                try:
                    chunk = self.sock.recv(65536) if self.sock is not None else os.read(self.fd, 65536)
                except BlockingIOError:
                    continue
                assert chunk, "device closed the connection"
                self.buf += chunk

    def request(self, ptype: int, payload: bytes = b"", seq: int | None = None, version: int = 2) -> Reply:
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
            seq = self.seq
        self.write(frame(ptype, seq, payload, version))
        reply = self.read_frame()
        assert reply is not None, f"no reply to type {ptype:#x} seq {seq}\n{self.stderr_text()}"
        assert reply.seq == seq
        return reply

    def ok(self, ptype: int, payload: bytes = b"") -> bytes:
        reply = self.request(ptype, payload)
        assert reply.type == ptype | 0x80, f"{reply} (error {reply.error() if reply.type == ERROR else None})"
        return reply.payload

    def stats(self) -> dict[str, int]:
        return dict(zip(STATS_FIELDS, struct.unpack("<16I", self.ok(STATS)), strict=True))

    def netinfo(self, payload: bytes | None = None) -> dict[str, int]:
        payload = self.ok(NETINFO) if payload is None else payload
        return dict(zip(NETINFO_FIELDS, struct.unpack("<BHHIIIIIIB", payload), strict=True))

    def upload(self, blob: bytes, chunk: int = 1020, crc: int | None = None) -> Reply:
        self.ok(LOAD_BEGIN, struct.pack("<II", len(blob), zlib.crc32(blob) if crc is None else crc))
        for off in range(0, len(blob), chunk):
            part = blob[off : off + chunk]
            assert struct.unpack("<I", self.ok(LOAD_CHUNK, struct.pack("<I", off) + part))[0] == off + len(part)
        return self.request(COMMIT)

    def step(self, codes, counts: bool = False) -> tuple[int, int, np.ndarray, tuple | None]:
        payload = bytes([1 if counts else 0]) + np.asarray(codes, dtype="<i2").tobytes()
        p = self.ok(STEP, payload)
        step, status = struct.unpack_from("<IB", p)
        n_out = (len(p) - 5 - (10 if counts else 0)) // 2
        outs = np.frombuffer(p, dtype="<i2", count=n_out, offset=5).astype(np.int16)
        extra = struct.unpack_from("<HII", p, 5 + 2 * n_out) if counts else None
        assert bool(status & 2) == counts
        return step, status, outs, extra

    def close(self) -> None:
        try:
            alive = self.proc.poll() is None
            if self.sock is not None:
                self.sock.close()
            if self.fd >= 0:
                os.close(self.fd)
            if alive:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            err = self.stderr_text()
            if err:
                print(f"---- device stderr ----\n{err}")
            assert alive, f"the device process died (exit {self.proc.returncode})"
            assert self.proc.returncode == 0, f"device exit status {self.proc.returncode} after SIGTERM"
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.stderr.close()


@pytest.fixture(scope="module")
def exe():
    return build_host_device(sanitize=True)


@pytest.fixture
def dev(exe):
    d = Device(exe)
    yield d
    d.close()


@pytest.fixture(scope="module")
def net():
    return models.blimp_shaped_network(0)


@pytest.fixture(scope="module")
def blob(net):
    return snnfile.to_bytes(net)


@pytest.fixture(scope="module")
def codes(net):
    rng = np.random.default_rng(1)
    c = rng.integers(-700, 700, size=(500, net.n_inputs)).astype(np.int16)
    c[::97] = -32768  # the int16 extremes travel through the byte-wise decoder too
    c[::89] = 32767
    return c


def run_steps(dev: Device, codes: np.ndarray, counts: bool = False) -> np.ndarray:
    return np.array([dev.step(c, counts)[2] for c in codes])


# ---- tests ------------------------------------------------------------------------------------------
def test_hello_reports_the_build(dev):
    reply = dev.request(HELLO, seq=1234)
    assert reply.type == HELLO | 0x80 and reply.seq == 1234
    p = reply.payload
    proto, major, minor, patch, caps, max_payload, max_neurons, max_syn, max_blob, arena, free_ram, tick_hz = (
        struct.unpack_from("<BBBBIHHIIIII", p)
    )
    name = p[33 : 33 + p[32]].decode("ascii")
    assert len(p) == 33 + p[32]
    assert (proto, major, minor, patch) == (2, 0, 1, 0)
    # cycle counter, watchdog, spike counts, atomic commit, on-board loop, SENSOR, TELEMETRY; not flash
    assert caps == 0b1110_1111
    assert (max_payload, max_neurons, max_syn, max_blob, arena) == (1024, 65535, 262144, 262144, 262144)
    assert free_ram == 0 and tick_hz == 1_000_000_000
    assert name == "host-virtual"


def test_upload_commit_and_500_steps_bit_exact(dev, net, blob, codes):
    dev.request(HELLO, seq=0)
    assert dev.netinfo()["loaded"] == 0
    reply = dev.upload(blob, chunk=1000)
    assert reply.type == COMMIT | 0x80, reply
    info = dev.netinfo(reply.payload)
    assert info == dev.netinfo()
    assert info == dict(loaded=1, n_inputs=net.n_inputs, n_outputs=net.n_outputs, n_neurons=net.n_neurons,
                        n_synapses=sum(q.nnz for q in net.projections), blob_bytes=len(blob),
                        blob_crc32=snnfile.network_crc(blob), arena_used=device_bytes(net)["arena_bytes"],
                        period_us=round((net.control_period_s or 0) * 1e6), running=0)  # fmt: skip
    want, want_counts = runtime.run(net, codes, counts=True)
    got, got_counts, steps = [], [], []
    for k, c in enumerate(codes):
        step, status, outs, extra = dev.step(c, counts=k % 2 == 0)
        steps.append(step)
        assert status & 1 == 0
        got.append(outs)
        if extra is not None:
            got_counts.append((k, extra))
    np.testing.assert_array_equal(np.array(got), want)
    assert steps == list(range(1, 501))
    assert any(spikes for _, (spikes, _, _) in got_counts)
    for k, (spikes, synops, _cycles) in got_counts:
        assert (spikes, synops) == tuple(want_counts[k]), k
    st = dev.stats()
    assert st["steps"] == 500 and st["max_step_cycles"] >= st["last_step_cycles"] > 0
    assert st["crc_errors"] == st["framing_errors"] == st["dropped_frames"] == st["errors_sent"] == 0
    assert st["rx_bytes"] > 0 and st["tx_bytes"] > 0


def test_retry_replays_without_executing_again(dev, blob, codes):
    dev.request(HELLO, seq=7)
    dev.seq = 7
    assert dev.upload(blob).type == COMMIT | 0x80
    dev.step(codes[0])
    dev.seq += 1
    request = frame(STEP, dev.seq, b"\x01" + codes[1].astype("<i2").tobytes())
    dev.write(request)
    first = dev.read_frame()
    dev.write(request)  # the host timed out and re-sends unchanged
    again = dev.read_frame()
    assert first is not None and again is not None
    assert again.raw == first.raw
    assert struct.unpack_from("<I", first.payload)[0] == 2
    assert dev.stats()["steps"] == 2  # applied once
    # a lost chunk reply: the chunk is not written twice, the upload goes on
    dev.ok(LOAD_BEGIN, struct.pack("<II", len(blob), zlib.crc32(blob)))
    dev.seq += 1
    chunk = frame(LOAD_CHUNK, dev.seq, struct.pack("<I", 0) + blob[:500])
    dev.write(chunk)
    dev.write(chunk)
    r1, r2 = dev.read_frame(), dev.read_frame()
    assert r1.raw == r2.raw and struct.unpack("<I", r1.payload)[0] == 500
    assert struct.unpack("<I", dev.ok(LOAD_CHUNK, struct.pack("<I", 500) + blob[500:1000]))[0] == 1000


def test_a_different_request_reusing_the_last_seq_is_refused_not_replayed(dev, blob, codes):
    """protocol.md §2: only an identical request (same CRC) gets the stored reply; a different one
    with the last seq is refused with BAD_SEQ (detail = the expected seq) and not executed."""
    dev.request(HELLO, seq=7)
    dev.seq = 7
    assert dev.upload(blob).type == COMMIT | 0x80
    step_no, _, _, _ = dev.step(codes[0])
    assert step_no == 1
    code, rtype, detail = dev.request(STATS, seq=dev.seq).error()  # a STATS must not get the STEP reply
    assert (code, rtype, detail) == (BAD_SEQ, STATS, (dev.seq + 1) & 0xFFFF)
    other_step = b"\x00" + codes[1].astype("<i2").tobytes()
    code, rtype, _ = dev.request(STEP, other_step, seq=dev.seq).error()  # same type, other payload
    assert (code, rtype) == (BAD_SEQ, STEP)
    assert dev.stats()["steps"] == 1  # neither was executed
    step_no, _, _, _ = dev.step(codes[1])
    assert step_no == 2


def test_check_order_hello_reuse_and_upload_edge_cases(dev, blob):
    """The answers of protocol.md §2-§4 to issue 18's Q1, Q2, Q3, Q6 and Q7, on real bytes."""
    dev.request(HELLO, seq=3)
    dev.seq = 3
    # Q2: the sequence check runs before the type is looked at; UNKNOWN_TYPE then consumes the seq
    assert dev.request(0x40, seq=9).error()[0] == BAD_SEQ
    assert dev.request(0x40).error() == (UNKNOWN_TYPE, 0x40, 0)  # seq 4
    dev.ok(STATS)  # seq 5: the UNKNOWN_TYPE consumed 4
    # Q3: a HELLO with the last seq is executed (a fresh INFO), never a replay of the STATS reply
    assert dev.request(HELLO, seq=dev.seq).type == HELLO | 0x80
    # Q1: STEP checks NO_NETWORK before its length; every other type checks its length first
    assert dev.request(STEP, b"\x00\x00").error()[0] == NO_NETWORK
    assert dev.request(RESET, b"\x00").error()[0] == BAD_LENGTH
    assert dev.request(COMMIT, b"\x00").error()[0] == BAD_LENGTH
    # Q7: LOAD_BEGIN of 0 bytes is accepted; COMMIT then fails snn_load as TRUNCATED (code 1)
    dev.ok(LOAD_BEGIN, struct.pack("<II", 0, zlib.crc32(b"")))
    assert dev.request(COMMIT).error() == (INVALID_NETWORK, COMMIT, 1)
    # Q6: neither HELLO nor a reconnecting client abandons an upload in progress
    dev.ok(LOAD_BEGIN, struct.pack("<II", len(blob), zlib.crc32(blob)))
    dev.ok(LOAD_CHUNK, struct.pack("<I", 0) + blob[:500])
    dev.request(HELLO, seq=100)
    dev.seq = 100
    dev.ok(LOAD_CHUNK, struct.pack("<I", 500) + blob[500:1000])
    for off in range(1000, len(blob), 1000):
        dev.ok(LOAD_CHUNK, struct.pack("<I", off) + blob[off : off + 1000])
    assert dev.request(COMMIT).type == COMMIT | 0x80


def test_sequence_numbers(dev):
    dev.request(HELLO, seq=40000)
    dev.seq = 40000
    code, rtype, detail = dev.request(STATS, seq=40005).error()
    assert (code, rtype, detail) == (BAD_SEQ, STATS, 40001)
    code, _, detail = dev.request(STATS, seq=39999).error()
    assert (code, detail) == (BAD_SEQ, 40001)
    dev.ok(STATS)  # 40001: BAD_SEQ consumed nothing
    # HELLO restarts the sequence anywhere; the counter wraps mod 2^16
    assert dev.request(HELLO, seq=0xFFFF).type == HELLO | 0x80
    assert dev.request(STATS, seq=0).type == STATS | 0x80
    assert dev.request(NETINFO, seq=1).type == NETINFO | 0x80


def test_bad_crc_is_dropped_silently_and_counted(dev):
    dev.request(HELLO, seq=0)
    bad = bytearray(packet(STATS, 1))
    bad[-1] ^= 0x40
    dev.write(cobs_encode(bytes(bad)) + b"\0")
    assert dev.read_frame(timeout=QUIET) is None
    st = dev.stats()  # seq 1 again: the bad frame was never executed
    assert (st["crc_errors"], st["framing_errors"], st["dropped_frames"]) == (1, 0, 0)


def test_garbage_then_valid_frame_resyncs(dev):
    dev.request(HELLO, seq=0)
    # garbage ending in a delimiter: the next frame stands alone
    dev.write(bytes([0x55, 0x03, 0xAA, 0x01, 0x99, 0x00]))
    assert dev.request(NETINFO, seq=1).type == NETINFO | 0x80
    # garbage without a delimiter spoils the frame it runs into (no reply) ...
    f = frame(NETINFO, 2)
    dev.write(bytes([0x12, 0x34, 0x56]) + f)
    assert dev.read_frame(timeout=QUIET) is None
    # ... and the host's retry of that frame gets through
    dev.write(f)
    assert dev.read_frame().type == NETINFO | 0x80
    # an undecodable frame (code byte past the end) is a framing error; a flush (empty frame) is nothing
    dev.write(b"\x00\x00\x07\x01\x02\x00")
    dev.seq = 2
    st = dev.stats()
    assert st["framing_errors"] == 3 and st["crc_errors"] == 0  # each garbage frame: a code byte past its end


def test_oversized_frame_is_dropped_and_counted(dev):
    dev.request(HELLO, seq=0)
    dev.write(bytes([0x11]) * 3000 + b"\0")
    assert dev.read_frame(timeout=QUIET) is None
    st = dev.stats()
    assert st["dropped_frames"] == 1 and st["framing_errors"] == 0
    # the largest legal frame (payload = max_payload) is still taken: a chunk of 1020 bytes
    dev.ok(LOAD_BEGIN, struct.pack("<II", 2000, 0))
    assert struct.unpack("<I", dev.ok(LOAD_CHUNK, struct.pack("<I", 0) + bytes(range(1, 256)) * 4))[0] == 1020
    # one byte more is beyond the receive buffer: discarded (no reply)
    dev.write(frame(LOAD_CHUNK, dev.seq + 1, struct.pack("<I", 1020) + bytes(1021)))
    assert dev.read_frame(timeout=QUIET) is None


def test_unknown_type_bad_version_and_header_length(dev):
    dev.request(HELLO, seq=0)
    assert dev.request(0x42, seq=1).error() == (UNKNOWN_TYPE, 0x42, 0)
    # the unknown-type request consumed seq 1 (the host increments for every new request)
    assert dev.request(0x42, seq=1).error() == (UNKNOWN_TYPE, 0x42, 0)  # a retry: the stored ERROR
    assert dev.request(STATS, seq=2).type == STATS | 0x80
    # a version-1 request (an old client) and one from the future: neither is executed
    assert dev.request(STATS, seq=3, version=1).error() == (BAD_VERSION, STATS, 2)
    assert dev.request(STATS, seq=3, version=3).error() == (BAD_VERSION, STATS, 2)
    # header length field disagreeing with the frame
    bad = bytearray(packet(STATS, 3, b"\x01\x02"))
    struct.pack_into("<H", bad, 4, 5)
    struct.pack_into("<I", bad, len(bad) - 4, zlib.crc32(bytes(bad[:-4])))
    dev.write(cobs_encode(bytes(bad)) + b"\0")
    assert dev.read_frame().error() == (BAD_LENGTH, STATS, 0)
    # a payload the type does not take
    assert dev.request(STATS, b"\x00", seq=3).error() == (BAD_LENGTH, STATS, 0)
    st = dev.request(STATS, seq=4)
    fields = dict(zip(STATS_FIELDS, struct.unpack("<16I", st.payload), strict=True))
    assert fields["framing_errors"] == 1 and fields["errors_sent"] == 6


def test_errors_without_a_network_or_an_upload(dev, net, blob):
    dev.request(HELLO, seq=0)
    assert dev.request(STEP, b"\x00\x00\x00").error() == (NO_NETWORK, STEP, 0)
    assert dev.request(RESET).error() == (NO_NETWORK, RESET, 0)
    assert dev.request(COMMIT).error() == (NOT_LOADING, COMMIT, 0)
    assert dev.request(LOAD_CHUNK, b"\0\0\0\0\x01").error() == (NOT_LOADING, LOAD_CHUNK, 0)
    assert dev.request(LOAD_BEGIN, b"\0" * 7).error() == (BAD_LENGTH, LOAD_BEGIN, 0)
    dev.ok(LOAD_BEGIN, struct.pack("<II", len(blob), zlib.crc32(blob)))
    dev.ok(LOAD_CHUNK, struct.pack("<I", 0) + blob[:300])
    assert dev.request(LOAD_CHUNK, struct.pack("<I", 299) + blob[299:400]).error() == (BAD_OFFSET, LOAD_CHUNK, 300)
    assert dev.request(LOAD_CHUNK, struct.pack("<I", 300)).error() == (BAD_LENGTH, LOAD_CHUNK, 0)
    assert dev.request(COMMIT).error() == (INCOMPLETE, COMMIT, 0)
    for off in range(300, len(blob), 1000):
        dev.ok(LOAD_CHUNK, struct.pack("<I", off) + blob[off : off + 1000])
    assert dev.request(LOAD_CHUNK, struct.pack("<I", len(blob)) + b"x").error() == (TOO_LARGE, LOAD_CHUNK, 0)
    assert dev.request(COMMIT).type == COMMIT | 0x80
    assert dev.request(COMMIT).error() == (NOT_LOADING, COMMIT, 0)  # the upload ended with the commit
    assert dev.request(STEP, b"\x00" + bytes(2 * (net.n_inputs + 1))).error() == (
        BAD_INPUT_COUNT, STEP, net.n_inputs)  # fmt: skip
    assert dev.request(STEP, b"\x00\x00").error() == (BAD_LENGTH, STEP, 0)


def test_too_large_blob_refused_at_load_begin(dev, net, blob, codes):
    dev.request(HELLO, seq=0)
    assert dev.upload(blob).type == COMMIT | 0x80
    assert dev.request(LOAD_BEGIN, struct.pack("<II", 262144 + 1, 0)).error() == (TOO_LARGE, LOAD_BEGIN, 0)
    assert dev.request(LOAD_CHUNK, struct.pack("<I", 0) + b"abc").error()[0] == NOT_LOADING
    np.testing.assert_array_equal(run_steps(dev, codes[:20]), runtime.run(net, codes[:20]))


def test_upload_cut_off_midway_leaves_the_old_network_running(dev, net, blob, codes):
    dev.request(HELLO, seq=0)
    assert dev.upload(blob).type == COMMIT | 0x80
    want = runtime.run(net, codes)
    np.testing.assert_array_equal(run_steps(dev, codes[:250]), want[:250])
    other = snnfile.to_bytes(models.blimp_shaped_network(5))
    dev.ok(LOAD_BEGIN, struct.pack("<II", len(other), zlib.crc32(other)))
    dev.ok(LOAD_CHUNK, struct.pack("<I", 0) + other[:1000])
    dev.ok(LOAD_CHUNK, struct.pack("<I", 1000) + other[1000:2000])
    # the host gives up; the old network goes on exactly where it was
    np.testing.assert_array_equal(run_steps(dev, codes[250:]), want[250:])
    assert dev.netinfo()["blob_crc32"] == snnfile.network_crc(blob)


def test_corrupted_blob_fails_whole_blob_crc(dev, net, blob, codes):
    dev.request(HELLO, seq=0)
    assert dev.upload(blob).type == COMMIT | 0x80
    want = runtime.run(net, codes[:100])
    np.testing.assert_array_equal(run_steps(dev, codes[:50]), want[:50])
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0x01
    reply = dev.upload(bytes(damaged), crc=zlib.crc32(blob))  # chunks fine, the blob is not what was announced
    assert reply.error() == (BAD_BLOB_CRC, COMMIT, 0)
    np.testing.assert_array_equal(run_steps(dev, codes[50:100]), want[50:100])


@pytest.mark.parametrize("damage", ["magic", "inner_crc", "fail_section"])
def test_blob_failing_snn_load_is_invalid_network(dev, net, blob, codes, damage):
    import dataclasses

    if damage == "magic":
        bad = b"SNNX" + blob[4:]
    elif damage == "inner_crc":
        bad = blob[:-1] + bytes([blob[-1] ^ 0xFF])
    else:  # a `fail` section of the wrong length, correctly sealed
        bad = snnfile.to_bytes(dataclasses.replace(net, fail_safe=None))
        section = struct.pack("<4sI", b"fail", 2) + b"\x01\x00\x00\x00"
        body = bytearray(bad[:-4] + section)
        struct.pack_into("<I", body, 8, len(body) + 4)
        bad = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    with pytest.raises(snnfile.SnnFormatError) as err:
        snnfile.from_bytes(bad)
    dev.request(HELLO, seq=0)
    assert dev.upload(blob).type == COMMIT | 0x80
    assert dev.upload(bad).error() == (INVALID_NETWORK, COMMIT, int(err.value.code))
    np.testing.assert_array_equal(run_steps(dev, codes[:30]), runtime.run(net, codes[:30]))


def test_reset_restarts_the_network(dev, net, blob, codes):
    dev.request(HELLO, seq=0)
    assert dev.upload(blob).type == COMMIT | 0x80
    run_steps(dev, codes[:100])
    dev.ok(RESET)
    np.testing.assert_array_equal(run_steps(dev, codes[:100]), runtime.run(net, codes[:100]))


def test_watchdog_trips_to_fail_safe_and_resets(exe, net, codes):
    import dataclasses

    failing = dataclasses.replace(net, fail_safe=np.array([123, -4567]))
    blob = snnfile.to_bytes(failing)
    dev = Device(exe, "-v")
    try:
        dev.request(HELLO, seq=0)
        assert dev.upload(blob).type == COMMIT | 0x80
        want = runtime.run(failing, codes[:60])
        np.testing.assert_array_equal(run_steps(dev, codes[:40]), want[:40])
        # 300 ms: long against the gap between two requests of this test even on a busy machine,
        # and the silence below lasts more than two of them
        dev.ok(WATCHDOG, struct.pack("<H", 300))
        time.sleep(0.8)
        st = dev.stats()
        assert st["watchdog_trips"] == 1  # once per silence, not once per 300 ms
        log = dev.stderr_text().splitlines()
        assert log[-1] == "outputs 123 -4567", log[-3:]
        step, status, outs, _ = dev.step(codes[0])
        assert status & 1 and step == 41
        np.testing.assert_array_equal(outs, want[0])  # from reset state
        for k in range(1, 20):  # the step re-armed the watchdog; stepping back to back keeps it quiet
            step, status, outs, _ = dev.step(codes[k])
            assert status & 1 == 0
            np.testing.assert_array_equal(outs, want[k])
        dev.ok(WATCHDOG, struct.pack("<H", 0))
        time.sleep(0.1)
        assert dev.stats()["watchdog_trips"] == 1
        assert dev.step(codes[20])[1] & 1 == 0
    finally:
        dev.close()


def test_tcp_mode_serves_one_client_after_another(exe, blob):
    dev = Device(exe, "--tcp", "0")
    try:
        assert dev.url.startswith("socket://127.0.0.1:")
        assert dev.request(HELLO, seq=5).type == HELLO | 0x80
        dev.seq = 5
        dev.write(b"\x01\x02\x03")  # leave a partial frame behind
        dev.sock.close()
        host, port = dev.url[len("socket://") :].split(":")
        dev.sock = socket.create_connection((host, int(port)), timeout=5)
        dev.sock.setblocking(False)
        dev.buf.clear()
        assert dev.request(HELLO, seq=9).type == HELLO | 0x80  # the new client starts clean
        dev.seq = 9
        assert dev.upload(blob).type == COMMIT | 0x80
        assert dev.stats()["framing_errors"] == 1  # the partial frame, flushed on the new connection
    finally:
        dev.close()


def test_client_flushes_a_partial_frame_left_by_a_previous_client(dev):
    """protocol.md §1: a host sends 0x00 when it opens the port, so a previous client's cut-off frame
    ends there (one framing error) instead of corrupting the new client's first request."""
    from firmware_bridge.device import Device as Client

    dev.request(HELLO, seq=5)
    dev.write(frame(STATS, 6)[:6])  # a cut-off frame: 6 COBS bytes decode to < 10 bytes
    with Client(dev.url, timeout=2.0, retries=0) as client:  # no retry may hide a lost first request
        # the first request is not a HELLO (HELLO carries its own leading 0x00): only the 0x00 sent
        # at open keeps the cut-off bytes out of it
        reply = client.request(STATS, seq=6)
    assert reply.type == STATS | 0x80 and reply.seq == 6
    stats = dict(zip(STATS_FIELDS, struct.unpack("<16I", reply.payload), strict=True))
    assert (stats["framing_errors"], stats["crc_errors"], stats["dropped_frames"]) == (1, 0, 0)


def test_random_bytes_and_mutated_frames_never_break_the_device(dev, blob):
    """Noise and damaged frames (the sanitizers watch every buffer access) are dropped; the device
    answers the next clean request."""
    rng = np.random.default_rng(7)
    dev.request(HELLO, seq=0)
    noise = rng.integers(0, 256, 20000, dtype=np.uint8)
    noise[rng.random(noise.size) < 0.01] = 0
    dev.write(noise.tobytes())
    good = frame(LOAD_CHUNK, 1, struct.pack("<I", 0) + blob[:600])
    for _ in range(200):  # single-byte damage: CRC or COBS errors, never a reply
        bad = bytearray(good[:-1])
        bad[int(rng.integers(len(bad)))] ^= int(rng.integers(1, 256))  # a 0x00 result splits the frame
        dev.write(bytes(bad) + b"\0")
    dev.write(b"\0")
    time.sleep(QUIET)
    assert dev.read_frame(timeout=QUIET) is None
    dev.seq = 0
    st = dev.stats()
    assert st["crc_errors"] + st["framing_errors"] + st["dropped_frames"] >= 200
    assert st["errors_sent"] == 0


class CountingLink:
    """Counts, on the client's side of the line, what protocol.md §3 STATS says the device counts:
    bytes written (rx_bytes), bytes of replies read (tx_bytes) and ERROR replies read (errors_sent)."""

    def __init__(self, dev: Device) -> None:
        self.written = self.read = self.errors = 0
        write, read_frame = dev.write, dev.read_frame

        def counted_write(data: bytes) -> None:
            self.written += len(data)
            write(data)

        def counted_read(timeout: float = 5.0) -> Reply | None:
            reply = read_frame(timeout)
            if reply is not None:
                self.read += len(reply.raw)
                self.errors += reply.type == ERROR
            return reply

        dev.write, dev.read_frame = counted_write, counted_read


def test_stats_byte_and_error_counters_are_what_crossed_the_line(dev):
    """Issue 18 Q9 (protocol.md §3 STATS): rx_bytes = every byte received up to and including the
    STATS request's delimiter, garbage, flushes and refused frames included; tx_bytes = every byte
    sent before this reply; errors_sent = ERROR packets sent, unstored ones and replays included.
    A retried STATS gets the stored reply: the counters as they were for the original."""
    link = CountingLink(dev)
    dev.write(b"\0")  # the opening flush: an empty frame, counted
    dev.request(HELLO, seq=0)
    dev.write(b"\x05\x01\x02\0")  # COBS says 4 more bytes: a framing error, no reply
    bad_crc = bytearray(frame(STATS, 1))
    bad_crc[3] ^= 0x40
    dev.write(bytes(bad_crc))  # CRC mismatch: no reply
    assert dev.request(0x42, seq=1).error()[0] == UNKNOWN_TYPE  # stored ERROR
    assert dev.request(0x42, seq=1).error()[0] == UNKNOWN_TYPE  # its replay: sent again, counted again
    assert dev.request(STATS, seq=7).error()[0] == BAD_SEQ  # unstored
    assert dev.request(STATS, seq=2, version=1).error()[0] == BAD_VERSION  # unstored
    assert dev.request(STEP, b"\0\0\0", seq=2).error()[0] == NO_NETWORK
    rx, tx, errors = link.written + len(frame(STATS, 3)), link.read, link.errors
    first = dev.request(STATS, seq=3)
    st = dict(zip(STATS_FIELDS, struct.unpack("<16I", first.payload), strict=True))
    assert (st["rx_bytes"], st["tx_bytes"], st["errors_sent"]) == (rx, tx, errors) and errors == 5
    assert (st["framing_errors"], st["crc_errors"]) == (1, 1)
    assert dev.request(STATS, seq=3).payload == first.payload  # a retry: the stored counters


def test_every_error_detail_value(dev, net, blob):
    """Issue 18 Q9 (protocol.md §6): the detail field of each ERROR code that has one; 0 for all others."""
    START, STOP, RUNNING = 0x0A, 0x0B, 13
    n_in = net.n_inputs
    dev.request(HELLO, seq=0)
    got = {
        UNKNOWN_TYPE: dev.request(0x42).error(),
        NO_NETWORK: dev.request(RESET).error(),
        NOT_LOADING: dev.request(COMMIT).error(),
        BAD_LENGTH: dev.request(STATS, b"\x00").error(),
        TOO_LARGE: dev.request(LOAD_BEGIN, struct.pack("<II", 1 << 30, 0)).error(),
    }
    dev.ok(LOAD_BEGIN, struct.pack("<II", len(blob), zlib.crc32(blob) ^ 1))
    dev.ok(LOAD_CHUNK, struct.pack("<I", 0) + blob[:700])
    got[BAD_OFFSET] = dev.request(LOAD_CHUNK, struct.pack("<I", 5) + blob[:8]).error()
    got[INCOMPLETE] = dev.request(COMMIT).error()
    for off in range(700, len(blob), 700):
        dev.ok(LOAD_CHUNK, struct.pack("<I", off) + blob[off : off + 700])
    got[BAD_BLOB_CRC] = dev.request(COMMIT).error()
    assert dev.upload(blob).type == COMMIT | 0x80
    got[BAD_INPUT_COUNT] = dev.request(STEP, b"\x00" + bytes(2 * (n_in + 1))).error()
    dev.ok(START, struct.pack("<IHH", 1_000_000, 0, 0))
    got[RUNNING] = dev.request(RESET).error()
    dev.ok(STOP)
    got[BAD_SEQ] = dev.request(STATS, seq=(dev.seq + 5) & 0xFFFF).error()
    got[BAD_VERSION] = dev.request(STATS, seq=(dev.seq + 1) & 0xFFFF, version=7).error()
    assert got == {
        UNKNOWN_TYPE: (UNKNOWN_TYPE, 0x42, 0),
        NO_NETWORK: (NO_NETWORK, RESET, 0),
        NOT_LOADING: (NOT_LOADING, COMMIT, 0),
        BAD_LENGTH: (BAD_LENGTH, STATS, 0),
        TOO_LARGE: (TOO_LARGE, LOAD_BEGIN, 0),
        BAD_OFFSET: (BAD_OFFSET, LOAD_CHUNK, 700),  # bytes received so far
        INCOMPLETE: (INCOMPLETE, COMMIT, 0),
        BAD_BLOB_CRC: (BAD_BLOB_CRC, COMMIT, 0),
        BAD_INPUT_COUNT: (BAD_INPUT_COUNT, STEP, n_in),
        RUNNING: (RUNNING, RESET, 0),
        BAD_SEQ: (BAD_SEQ, STATS, (dev.seq + 1) & 0xFFFF),  # the expected seq
        BAD_VERSION: (BAD_VERSION, STATS, 2),  # the device's version
    }


def test_overlong_frames_land_in_the_counter_the_framing_table_names(dev):
    """Issue 18 Q10 (protocol.md §1): with n = max_payload + 10 the receiver keeps C = n + n // 254 + 1
    encoded bytes. C + 1 bytes: dropped_frames. C bytes of 0x01 decode to C - 1 zeros, which is more
    than n only when n >= 254 (here 1034 + 4 > 1034): framing_errors. A smaller port (atmega328p,
    n = 74, C = 75) can never decode more than n from C bytes, so all its over-long frames are dropped."""
    n = 1024 + 10
    c = n + n // 254 + 1
    assert len(cobs_decode(b"\x01" * c)) == c - 1 > n
    dev.request(HELLO, seq=0)
    dev.write(b"\x01" * (c + 1) + b"\0")
    dev.write(b"\x01" * c + b"\0")
    assert dev.read_frame(timeout=QUIET) is None
    st = dev.stats()
    assert (st["dropped_frames"], st["framing_errors"], st["crc_errors"]) == (1, 1, 0)


def test_watchdog_arming_commit_and_the_trip_bit(exe, net, codes):
    """Issue 18 Q5 (protocol.md §5): STEP and WATCHDOG requests arm the watchdog, a trip disarms it
    (one trip per arming); COMMIT neither arms nor disarms it and keeps the timeout; the trip bit
    reaches the next STEP even when that STEP runs a network committed after the trip, and a trip
    puts out the fail-safe codes of the network active at that moment."""
    import dataclasses

    net_a = dataclasses.replace(net, fail_safe=np.array([11, -11]))
    net_b = dataclasses.replace(net, fail_safe=np.array([22, -22]))
    dev = Device(exe, "-v")
    try:
        dev.request(HELLO, seq=0)
        assert dev.upload(snnfile.to_bytes(net_a)).type == COMMIT | 0x80
        dev.ok(WATCHDOG, struct.pack("<H", 100))
        time.sleep(0.4)
        assert dev.stats()["watchdog_trips"] == 1
        assert dev.stderr_text().splitlines()[-1] == "outputs 11 -11"
        dev.ok(WATCHDOG, struct.pack("<H", 100))  # a WATCHDOG request arms it again: no STEP needed
        time.sleep(0.4)
        assert dev.stats()["watchdog_trips"] == 2
        assert dev.upload(snnfile.to_bytes(net_b)).type == COMMIT | 0x80
        time.sleep(0.4)
        assert dev.stats()["watchdog_trips"] == 2  # disarmed since the trip: COMMIT does not arm it
        step, status, outs, _ = dev.step(codes[0])
        assert status & 1  # the trip of network A, reported on network B's first STEP
        np.testing.assert_array_equal(outs, runtime.run(net_b, codes[:1])[0])  # B from reset state
        time.sleep(0.4)
        assert dev.stats()["watchdog_trips"] == 3  # the 100 ms timeout survived the COMMIT
        assert dev.stderr_text().splitlines()[-1] == "outputs 22 -22"
    finally:
        dev.close()


def test_watchdog_set_before_any_network_fires_after_the_first_commit(exe, net):
    """Issue 18 Q5 (protocol.md §5): with no network the watchdog never fires but its count runs; a
    timeout that ran out before the first COMMIT fires once right after it (nothing fed it)."""
    import dataclasses

    dev = Device(exe, "-v")
    try:
        dev.request(HELLO, seq=0)
        dev.ok(WATCHDOG, struct.pack("<H", 100))
        time.sleep(0.3)
        assert dev.stats()["watchdog_trips"] == 0  # nothing loaded: nothing to put in fail-safe
        assert dev.upload(snnfile.to_bytes(dataclasses.replace(net, fail_safe=np.array([5, -5])))).type == COMMIT | 0x80
        assert dev.stats()["watchdog_trips"] == 1
        assert dev.stderr_text().splitlines()[-1] == "outputs 5 -5"
    finally:
        dev.close()
