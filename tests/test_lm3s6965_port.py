"""The lm3s6965evb (Cortex-M3) port: the image builds freestanding without float helpers, fits the
chip, and answers the protocol under QEMU.

The wire format is written out here from docs/protocol.md (COBS, header, zlib.crc32) instead of
using firmware_bridge.protocol, so the test checks the firmware against the document itself.

Needs gcc-arm-none-eabi and qemu-system-arm (.ci/run installs them). Without them the tests skip
with the apt command, except under CI=true, where a missing tool is a failure.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
import zlib

import pytest

from firmware_bridge import boards, build, emulators

BOARD = "lm3s6965evb"
FLASH_BYTES = boards.get(BOARD).flash_bytes
RAM_BYTES = boards.get(BOARD).ram_bytes
STACK_MIN_BYTES = 4 * 1024  # lm3s6965.ld refuses to link with less

HELLO, STATS = 0x01, 0x08
INFO_FMT = "<BBBBIHHIIIIIB"  # docs/protocol.md §3 INFO, up to name_len
STATS_FMT = "<16I"


@pytest.fixture(scope="module")
def tools():
    missing = emulators.available_boards()[BOARD]
    if missing is not None:
        msg = f"{BOARD} needs: apt-get install -y --no-install-recommends {missing}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def elf(tools):
    return build.build_firmware(BOARD)


# --- wire format (docs/protocol.md §1) ---------------------------------------------------------


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
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


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data) + (code == 1):
            raise ValueError("bad COBS")
        out += data[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def packet(ptype: int, seq: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BBHH", 2, ptype, seq, len(payload)) + payload
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"


def parse(frame: bytes) -> tuple[int, int, bytes]:
    raw = cobs_decode(frame)
    assert len(raw) >= 10, raw
    body, (crc,) = raw[:-4], struct.unpack("<I", raw[-4:])
    assert zlib.crc32(body) == crc, "response CRC"
    version, ptype, seq, length = struct.unpack_from("<BBHH", body)
    assert version == 2 and length == len(body) - 6
    return ptype, seq, body[6:]


class Link:
    """Raw frames over QEMU's TCP serial port."""

    def __init__(self, url: str):
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, timeout: float) -> bytes | None:
        """The next non-empty frame (without its 0x00), or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\x00" in self.buf:
                end = self.buf.index(b"\x00")
                frame = bytes(self.buf[:end])
                del self.buf[: end + 1]
                if frame:
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("QEMU closed the serial port")
            self.buf += chunk

    def request(self, ptype: int, seq: int, payload: bytes = b"", timeout: float = 2.0) -> tuple[int, int, bytes]:
        self.send(packet(ptype, seq, payload))
        frame = self.frame(timeout)
        assert frame is not None, f"no answer to type {ptype:#x} seq {seq}"
        return parse(frame)

    def hello_until_answered(self, timeout: float = 10.0) -> tuple[bytes, float]:
        """Bytes sent before the host connects are lost: HELLO (any seq) until INFO comes back."""
        deadline = time.monotonic() + timeout
        seq = 0x4000
        while time.monotonic() < deadline:
            seq += 1
            self.send(b"\x00" + packet(HELLO, seq))
            frame = self.frame(0.2)
            while frame is not None:
                ptype, rseq, payload = parse(frame)
                if ptype == HELLO | 0x80 and rseq == seq:
                    return payload, deadline - time.monotonic()
                frame = self.frame(0.05)
        raise AssertionError(f"no INFO within {timeout} s")


def parse_info(payload: bytes) -> dict:
    names = "protocol_version fw_major fw_minor fw_patch capabilities max_payload max_neurons max_synapses"
    names += " max_blob_bytes arena_bytes free_ram tick_hz name_len"
    fields = dict(zip(names.split(), struct.unpack_from(INFO_FMT, payload), strict=True))
    head = struct.calcsize(INFO_FMT)
    assert len(payload) == head + fields["name_len"]
    fields["name"] = payload[head:].decode("ascii")
    return fields


# --- tests -------------------------------------------------------------------------------------


def test_image_is_integer_only(elf):
    assert build.soft_float_symbols(elf) == []
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert "__aeabi_f" not in nm and "__aeabi_d" not in nm
    assert "main" in nm.split() and "snn_step" in nm.split()
    assert (elf.parent / "fw.map").is_file()


def test_image_fits_the_chip(elf):
    size = build.firmware_size(elf)
    assert size["flash"] == size["text"] + size["data"]
    assert size["ram"] == size["data"] + size["bss"]
    assert 0 < size["flash"] < FLASH_BYTES
    assert size["ram"] + STACK_MIN_BYTES <= RAM_BYTES
    # both upload slots are in .bss: 2 x (16 KB blob + 10 KB arena)
    assert size["bss"] >= 2 * (16384 + 10240)


def test_build_is_cached(elf):
    assert build.build_firmware(BOARD) == elf


def test_hello_info_under_qemu(tools):
    with emulators.start_emulator(BOARD) as emu:
        assert emu.board == BOARD and emu.url.startswith("socket://127.0.0.1:")
        link = Link(emu.url)
        try:
            payload, _ = link.hello_until_answered()
            info = parse_info(payload)
            assert info["protocol_version"] == 2
            assert info["name"] == BOARD
            assert 64 <= info["max_payload"] <= 1024
            assert info["max_payload"] == 1024
            assert info["max_blob_bytes"] == 16384
            assert info["arena_bytes"] == 10240
            assert info["max_neurons"] >= 160
            assert info["max_synapses"] >= 1
            assert info["tick_hz"] == 12_500_000
            table = boards.get(BOARD)  # the board table agrees with the firmware
            assert info["name"] == table.device_name
            for key in ("max_payload", "max_blob_bytes", "arena_bytes", "max_neurons", "max_synapses", "tick_hz"):
                assert info[key] == getattr(table, key), key
            assert info["capabilities"] & 1, "cycle counter"
            assert 0 < info["free_ram"] < RAM_BYTES
            # HELLO restarts the sequence anywhere; a few more round trips for the record
            t0 = time.perf_counter()
            n = 50
            for seq in range(1000, 1000 + n):
                ptype, rseq, again = link.request(HELLO, seq)
                assert (ptype, rseq, again) == (HELLO | 0x80, seq, payload)
            rtt_ms = (time.perf_counter() - t0) / n * 1e3
            print(f"HELLO round trip {rtt_ms:.2f} ms")
            assert rtt_ms < 50
        finally:
            link.close()
    assert emu.process.poll() is not None


def test_bursts_and_garbage_lose_nothing(tools):
    """Many frames in one write (more than the UART ring holds), an oversized frame and noise."""
    with emulators.start_emulator(BOARD) as emu:
        link = Link(emu.url)
        try:
            link.hello_until_answered()
            # oversized frame (discarded up to the next 0x00), a frame with a bad CRC, noise
            oversized = bytes([0x55]) * 3000 + b"\x00"
            bad_crc = bytearray(cobs_decode(packet(HELLO, 7)[:-1]))
            bad_crc[-1] ^= 0xFF
            link.send(oversized + cobs_encode(bytes(bad_crc)) + b"\x00" + b"\x01\x02\x03\x00")
            # 40 pipelined HELLOs (~640 bytes) and a STATS: every one answered, in order
            burst = b"".join(packet(HELLO, 2000 + i) for i in range(40))
            link.send(burst + packet(STATS, 2040))
            for i in range(40):
                frame = link.frame(5.0)
                assert frame is not None, f"lost HELLO {i}"
                ptype, seq, _ = parse(frame)
                assert (ptype, seq) == (HELLO | 0x80, 2000 + i)
            frame = link.frame(5.0)
            assert frame is not None
            ptype, seq, payload = parse(frame)
            assert (ptype, seq) == (STATS | 0x80, 2040)
            stats = struct.unpack(STATS_FMT, payload)
            crc_errors, framing_errors, dropped_frames = stats[1:4]
            assert crc_errors == 1
            assert dropped_frames == 1
            assert framing_errors >= 1  # the noise frame
        finally:
            link.close()


def test_blimp_network_runs_bit_identically_under_qemu(tools):
    """Deploy the 162-neuron blimp controller through the Python client and compare 200 steps
    with the numba reference; the cycle counts (SysTick ticks at 12.5 MHz under -icount) are
    deterministic up to quantisation."""
    pytest.importorskip("serial")
    import numpy as np

    from firmware_bridge.device import Device
    from snnctl import runtime
    from snnctl.models import blimp_shaped_network

    net = blimp_shaped_network(7)
    t = np.arange(200)
    codes = net.quantize_inputs((0.6 * np.sin(t / 40) + 0.2 * np.sin(t / 7))[:, None])
    ref = runtime.run_trace(net, codes)
    with emulators.start_emulator(BOARD) as emu, Device(emu.url) as dev:
        dev.hello()
        ni = dev.deploy(net)
        assert ni.arena_used <= 10240 and ni.blob_bytes <= 16384
        results = [dev.step(c, counts=True) for c in codes]
        np.testing.assert_array_equal(np.array([r.outputs for r in results]), ref.outputs)
        cycles = np.array([r.cycles for r in results], dtype=np.int64)
        assert (cycles > 0).all()
        # the same input and state twice -> the same instructions: after a reset, step 0 again
        dev.reset()
        again = dev.step(codes[0], counts=True)
        assert abs(again.cycles - results[0].cycles) <= 16  # +-1 tick; rarely one 8-tick handler (board.c)
        assert dev.stats().max_step_cycles == max(cycles.max(), again.cycles)
