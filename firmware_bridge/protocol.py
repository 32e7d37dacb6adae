"""Codec of the host <-> device serial protocol (spec: docs/protocol.md, version 2).

Table-driven: `MESSAGES` describes every message's request and response payload once; the
client (`firmware_bridge.device`) and the tests pack and unpack through it. Pure Python, no I/O:
COBS framing, packet build/parse with CRC-32 (zlib), and a streaming `FrameDecoder` that turns
arbitrary byte chunks into packets, resynchronising on garbage.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

PROTOCOL_VERSION = 2  # 2: START/STOP, SENSOR, TELEMETRY; STATS 64 B, NETINFO 30 B
HEADER = struct.Struct("<BBHH")  # version, type, seq, length
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size  # 10 bytes around the payload
RESPONSE_BIT = 0x80
DEFAULT_MAX_PAYLOAD = 1024  # the largest any shipped port announces; the host never receives more


class MsgType(enum.IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    COMMIT = 0x04
    STEP = 0x05
    RESET = 0x06
    WATCHDOG = 0x07
    STATS = 0x08
    NETINFO = 0x09
    START = 0x0A
    STOP = 0x0B
    SENSOR = 0x0C  # host -> device datagram: no reply, outside the sequence
    TELEMETRY = 0x0D  # device -> host, unsolicited, sent as 0x8D
    ERROR = 0xFF


class ErrorCode(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_VERSION = 3
    BAD_SEQ = 4
    NO_NETWORK = 5
    TOO_LARGE = 6
    BAD_OFFSET = 7
    BAD_BLOB_CRC = 8
    INVALID_NETWORK = 9
    NOT_LOADING = 10
    INCOMPLETE = 11
    BAD_INPUT_COUNT = 12
    RUNNING = 13
    BAD_PERIOD = 14
    FLASH_NETWORK = 15  # LOAD_BEGIN / LOAD_CHUNK / COMMIT on a device running a compiled-in network


class Capability(enum.IntFlag):
    CYCLE_COUNTER = 1 << 0
    WATCHDOG = 1 << 1
    SPIKE_COUNTS = 1 << 2
    ATOMIC_COMMIT = 1 << 3
    NETWORK_IN_FLASH = 1 << 4
    ONBOARD = 1 << 5
    SENSOR = 1 << 6
    TELEMETRY = 1 << 7
    PERSIST = 1 << 8  # the committed network (and the loop's running flag) survive a reset, §9


STEP_FLAG_COUNTS = 0x01
STATUS_WATCHDOG = 0x01
STATUS_COUNTS = 0x02

# TELEMETRY flags (docs/protocol.md §8)
TM_FRESH = 0x01  # the period's inputs are a fresh sample (else the held last one)
TM_FAILSAFE = 0x02  # fail-safe outputs held; the network did not step
TM_LATE = 0x04  # periods were skipped before this one (missed deadlines)
TM_STEPPED = 0x08  # the network stepped this period


# -- payload records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Info:
    """HELLO's reply: who the device is and what it can hold."""

    protocol_version: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    capabilities: int
    max_payload: int
    max_neurons: int
    max_synapses: int
    max_blob_bytes: int
    arena_bytes: int
    free_ram: int
    tick_hz: int
    name: str = ""

    @property
    def firmware_version(self) -> str:
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"

    @property
    def capability_names(self) -> list[str]:
        return [c.name.lower() for c in Capability if self.capabilities & c]

    def has(self, cap: Capability) -> bool:
        return bool(self.capabilities & cap)


@dataclass(frozen=True)
class NetInfo:
    """The network the device runs (all zero with `loaded` False)."""

    loaded: bool
    n_inputs: int
    n_outputs: int
    n_neurons: int
    n_synapses: int
    blob_bytes: int
    blob_crc32: int
    arena_used: int
    period_us: int = 0  # while running: the loop's period; else the `ctrl` section's, 0 if none
    running: bool = False  # the on-board loop runs (START .. STOP)


@dataclass(frozen=True)
class Stats:
    steps: int
    crc_errors: int
    framing_errors: int
    dropped_frames: int
    watchdog_trips: int
    errors_sent: int
    last_step_cycles: int
    max_step_cycles: int
    rx_bytes: int
    tx_bytes: int
    run_periods: int = 0  # on-board timer periods handled
    missed_deadlines: int = 0  # timer periods skipped because the previous one was still running
    missing_samples: int = 0  # periods without a fresh sensor sample
    failsafe_entries: int = 0  # times the fail-safe engaged (stale_limit periods without a sample)
    sensor_samples: int = 0  # SENSOR frames accepted
    sensor_rejected: int = 0  # SENSOR frames discarded (no network, wrong code count)


@dataclass(frozen=True)
class RunConfig:
    """START's reply: the on-board loop as the device runs it."""

    period_us: int
    telemetry_every: int
    stale_limit: int
    steps: int


@dataclass(frozen=True)
class Telemetry:
    """One TELEMETRY frame: what the on-board loop did in timer period `period`."""

    period: int  # the timer's period index since START (1 = the first)
    flags: int
    sample_seq: int  # seq of the SENSOR frame whose codes were used (emulated sensor channel)
    spikes: int
    step_ticks: int  # the step's duration in INFO tick_hz units (0 when it did not step)
    inputs: np.ndarray  # (n_inputs,) int16
    outputs: np.ndarray  # (n_outputs,) int16

    @property
    def fresh(self) -> bool:
        return bool(self.flags & TM_FRESH)

    @property
    def failsafe(self) -> bool:
        return bool(self.flags & TM_FAILSAFE)

    @property
    def late(self) -> bool:
        return bool(self.flags & TM_LATE)

    @property
    def stepped(self) -> bool:
        return bool(self.flags & TM_STEPPED)


@dataclass(frozen=True)
class ErrorReply:
    code: int
    request_type: int
    detail: int

    @property
    def code_name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"error {self.code}"


@dataclass
class StepResult:
    """One STEP's reply. `spikes`, `synops`, `cycles` are None unless counts were requested."""

    outputs: np.ndarray  # (n_outputs,) int16
    step: int
    watchdog_tripped: bool
    spikes: int | None = None
    synops: int | None = None
    cycles: int | None = None


# -- the message table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One request type: fixed-size head of the request/response payloads and what may follow it.

    `request_tail` / `response_tail` name the variable part after the fixed struct:
    "" none, "bytes" raw bytes, "i16" an int16 array, "name" a u8-length-prefixed ASCII string,
    "step" STEP's outputs + optional counts.
    """

    type: MsgType
    request: struct.Struct
    response: struct.Struct
    request_tail: str = ""
    response_tail: str = ""
    response_record: type | None = None


_INFO = struct.Struct("<BBBBIHHIIIIIB")
_NETINFO = struct.Struct("<BHHIIIIIIB")
_STATS = struct.Struct("<16I")
_TELEMETRY_HEAD = struct.Struct("<IBxHHHHI")  # period, flags, sample_seq, spikes, n_in, n_out, ticks
_STEP_HEAD = struct.Struct("<IB")
STEP_COUNTS = struct.Struct("<HII")  # spikes, synops, cycles
ERROR_PAYLOAD = struct.Struct("<BBH")
_NONE = struct.Struct("<")

MESSAGES: dict[MsgType, Message] = {
    m.type: m
    for m in (
        Message(MsgType.HELLO, _NONE, _INFO, response_tail="name", response_record=Info),
        Message(MsgType.LOAD_BEGIN, struct.Struct("<II"), _NONE),
        Message(MsgType.LOAD_CHUNK, struct.Struct("<I"), struct.Struct("<I"), request_tail="bytes"),
        Message(MsgType.COMMIT, _NONE, _NETINFO, response_record=NetInfo),
        Message(MsgType.STEP, struct.Struct("<B"), _STEP_HEAD, request_tail="i16", response_tail="step"),
        Message(MsgType.RESET, _NONE, _NONE),
        Message(MsgType.WATCHDOG, struct.Struct("<H"), _NONE),
        Message(MsgType.STATS, _NONE, _STATS, response_record=Stats),
        Message(MsgType.NETINFO, _NONE, _NETINFO, response_record=NetInfo),
        Message(MsgType.START, struct.Struct("<IHH"), struct.Struct("<IHHI"), response_record=RunConfig),
        Message(MsgType.STOP, _NONE, struct.Struct("<I")),
        Message(MsgType.SENSOR, _NONE, _NONE, request_tail="i16"),
    )
}

MAX_NAME = 24


class PayloadError(ValueError):
    """A payload that does not match the message table (wrong length, bad tail)."""


def pack_request(mtype: MsgType, *values: int, tail: bytes | np.ndarray = b"") -> bytes:
    """Request payload of `mtype` from the fixed fields and the variable tail."""
    m = MESSAGES[MsgType(mtype)]
    head = m.request.pack(*values)
    if m.request_tail == "i16":
        tail = np.ascontiguousarray(tail, dtype="<i2").tobytes()
    elif m.request_tail == "":
        if len(tail):
            raise PayloadError(f"{m.type.name} takes no variable payload")
        tail = b""
    return head + bytes(tail)


def unpack_request(mtype: MsgType, payload: bytes) -> tuple[tuple, bytes]:
    """(fixed fields, tail bytes) of a request payload (used by tests and a Python device model)."""
    m = MESSAGES[MsgType(mtype)]
    if len(payload) < m.request.size or (not m.request_tail and len(payload) != m.request.size):
        raise PayloadError(f"{m.type.name} request payload has {len(payload)} bytes")
    return m.request.unpack_from(payload), bytes(payload[m.request.size :])


def pack_response(mtype: MsgType, *values: int, tail: bytes = b"") -> bytes:
    m = MESSAGES[MsgType(mtype)]
    return m.response.pack(*values) + bytes(tail)


def unpack_response(mtype: MsgType, payload: bytes):
    """Decode a response payload: a record (Info, NetInfo, Stats), a StepResult, a tuple, or None."""
    m = MESSAGES[MsgType(mtype)]
    size = m.response.size
    if len(payload) < size or (not m.response_tail and len(payload) != size):
        raise PayloadError(f"{m.type.name} reply payload has {len(payload)} bytes, expected {size}")
    head = m.response.unpack_from(payload)
    tail = bytes(payload[size:])
    if m.response_tail == "name":
        n = head[-1]
        if n > MAX_NAME or len(tail) != n:
            raise PayloadError(f"{m.type.name} reply: name length {n} does not match {len(tail)} trailing bytes")
        return Info(*head[:-1], name=tail.decode("ascii", errors="replace"))
    if m.response_tail == "step":
        return _unpack_step(head, tail)
    if m.response_record is NetInfo:
        return NetInfo(bool(head[0]), *head[1:-1], bool(head[-1]))
    if m.response_record is not None:
        return m.response_record(*head)
    if not head:
        return None
    return head[0] if len(head) == 1 else head


def _unpack_step(head: tuple, tail: bytes) -> StepResult:
    step, status = head
    counts = None
    if status & STATUS_COUNTS:
        if len(tail) < STEP_COUNTS.size:
            raise PayloadError("STEP reply announces counts but is too short for them")
        counts = STEP_COUNTS.unpack_from(tail, len(tail) - STEP_COUNTS.size)
        tail = tail[: -STEP_COUNTS.size]
    if len(tail) % 2:
        raise PayloadError(f"STEP reply carries {len(tail)} output bytes, not a whole number of int16 codes")
    outputs = np.frombuffer(tail, dtype="<i2").astype(np.int16)
    result = StepResult(outputs, step, bool(status & STATUS_WATCHDOG))
    if counts is not None:
        result.spikes, result.synops, result.cycles = counts
    return result


def unpack_telemetry(payload: bytes) -> Telemetry:
    """Decode a TELEMETRY payload (docs/protocol.md §8)."""
    if len(payload) < _TELEMETRY_HEAD.size:
        raise PayloadError(f"TELEMETRY payload has {len(payload)} B, under its {_TELEMETRY_HEAD.size}-byte head")
    period, flags, sample_seq, spikes, n_in, n_out, ticks = _TELEMETRY_HEAD.unpack_from(payload)
    if len(payload) != _TELEMETRY_HEAD.size + 2 * (n_in + n_out):
        raise PayloadError(f"TELEMETRY payload has {len(payload)} bytes, its head announces {n_in} + {n_out} codes")
    codes = np.frombuffer(payload, dtype="<i2", offset=_TELEMETRY_HEAD.size).astype(np.int16)
    return Telemetry(period, flags, sample_seq, spikes, ticks, codes[:n_in], codes[n_in:])


def unpack_error(payload: bytes) -> ErrorReply:
    if len(payload) != ERROR_PAYLOAD.size:
        raise PayloadError(f"ERROR reply payload has {len(payload)} bytes, expected {ERROR_PAYLOAD.size}")
    return ErrorReply(*ERROR_PAYLOAD.unpack(payload))


def record_dict(rec) -> dict:
    """A payload record as plain data (for JSON)."""
    return {f.name: getattr(rec, f.name) for f in fields(rec)}


# -- COBS ---------------------------------------------------------------------------------------------


class CobsError(ValueError):
    pass


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode `data` (the result holds no 0x00; the wire delimiter is not included)."""
    out = bytearray()
    for seg in bytes(data).split(b"\0"):
        while len(seg) >= 254:
            out.append(0xFF)
            out += seg[:254]
            seg = seg[254:]
        out.append(len(seg) + 1)
        out += seg
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Inverse of `cobs_encode`; CobsError on a zero byte or a block running past the end."""
    out = bytearray()
    i, n = 0, len(enc)
    while i < n:
        code = enc[i]
        if code == 0:
            raise CobsError(f"zero byte inside a COBS frame at offset {i}")
        i += 1
        end = i + code - 1
        if end > n:
            raise CobsError("COBS block runs past the end of the frame")
        block = enc[i:end]
        if 0 in block:
            raise CobsError("zero byte inside a COBS frame")
        out += block
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def cobs_max_encoded(n: int) -> int:
    """Largest COBS encoding of n bytes (without the delimiter)."""
    return n + n // 254 + 1


def in_flight_limit(frame_bytes: Sequence[int], max_payload: int) -> int:
    """How many of these frames (encoded lengths with delimiter, in send order) a host may have
    unanswered at once: the longest prefix totalling at most max_payload bytes, and at least one.

    docs/protocol.md §2 *Pipelining*: every port buffers max_payload received bytes while it
    executes a request, so a pipeline within that budget never overruns the device (the
    atmega328p's 64-byte ring with max_payload 64); a single request is stop-and-wait, always safe.
    """
    total = count = 0
    for n in frame_bytes:
        total += n
        if count and total > max_payload:
            break
        count += 1
    return count


# -- packets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    version: int
    type: int
    seq: int
    payload: bytes

    @property
    def is_response(self) -> bool:
        return bool(self.type & RESPONSE_BIT)


class FrameError(ValueError):
    """A frame that cannot become a packet; `kind` is the counter it lands in."""

    def __init__(self, kind: str, msg: str) -> None:
        self.kind = kind  # "framing_errors", "crc_errors", "dropped_frames"
        super().__init__(msg)


def build_packet(mtype: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """Header + payload + CRC-32 (not yet COBS-encoded)."""
    body = HEADER.pack(version, mtype & 0xFF, seq & 0xFFFF, len(payload)) + bytes(payload)
    return body + CRC.pack(zlib.crc32(body))


def encode_frame(packet: bytes) -> bytes:
    """A packet as it goes on the wire: COBS plus the 0x00 delimiter."""
    return cobs_encode(packet) + b"\0"


def frame(mtype: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    return encode_frame(build_packet(mtype, seq, payload, version))


def parse_packet(data: bytes) -> Packet:
    """Check a COBS-decoded frame (length, CRC, header length) and split it into a Packet."""
    if len(data) < OVERHEAD:
        raise FrameError("framing_errors", f"frame of {len(data)} bytes is shorter than the {OVERHEAD}-byte minimum")
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    if zlib.crc32(data[: -CRC.size]) != crc:
        raise FrameError("crc_errors", "CRC-32 mismatch")
    version, mtype, seq, length = HEADER.unpack_from(data)
    if length != len(data) - OVERHEAD:
        raise FrameError("framing_errors", f"header says {length} payload bytes, frame carries {len(data) - OVERHEAD}")
    return Packet(version, mtype, seq, bytes(data[HEADER.size : -CRC.size]))


def decode_frame(encoded: bytes) -> Packet:
    """One wire frame (with or without its trailing 0x00) to a Packet."""
    if encoded.endswith(b"\0"):
        encoded = encoded[:-1]
    try:
        data = cobs_decode(encoded)
    except CobsError as exc:
        raise FrameError("framing_errors", str(exc)) from None
    return parse_packet(data)


class FrameDecoder:
    """Streaming receiver: feed arbitrary chunks, get complete valid packets.

    Bytes are collected up to each 0x00; a frame that fails COBS, CRC or length checks is dropped
    and counted; an over-long frame is discarded up to the next 0x00 (so garbage costs at most one
    frame). Counter names follow the device's STATS.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_encoded = cobs_max_encoded(max_payload + OVERHEAD)
        self._buf = bytearray()
        self._overflow = False
        self.framing_errors = 0
        self.crc_errors = 0
        self.dropped_frames = 0
        self.packets = 0
        self.last_error = ""

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False

    @property
    def errors(self) -> int:
        return self.framing_errors + self.crc_errors + self.dropped_frames

    def feed(self, chunk: bytes) -> list[Packet]:
        out: list[Packet] = []
        parts = bytes(chunk).split(b"\0")
        for i, part in enumerate(parts):
            if not self._overflow:
                if len(self._buf) + len(part) > self.max_encoded:
                    self._overflow = True
                    self._buf.clear()
                else:
                    self._buf += part
            if i == len(parts) - 1:
                break  # no delimiter after the last part: the frame continues in the next chunk
            if self._overflow:
                self.dropped_frames += 1
                self.last_error = "over-long frame"
            elif self._buf:
                try:
                    out.append(decode_frame(bytes(self._buf)))
                    self.packets += 1
                except FrameError as exc:
                    setattr(self, exc.kind, getattr(self, exc.kind) + 1)
                    self.last_error = str(exc)
            self._buf.clear()
            self._overflow = False
        return out

    def feed_all(self, chunks: Iterable[bytes]) -> list[Packet]:
        return [p for c in chunks for p in self.feed(c)]
