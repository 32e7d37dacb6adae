"""Host-side client of a device running the snnctl firmware (protocol: docs/protocol.md).

    with Device("/dev/ttyUSB0") as dev:        # or socket://host:port, rfc2217://..., loop://
        print(dev.hello())                      # Info: board name, limits, capabilities
        dev.deploy("blimp.snn")                 # checks limits, uploads, commits, verifies
        out = dev.step(np.array([120], np.int16)).outputs
        outs = dev.run(codes)                   # (T, n_in) -> (T, n_out), pipelined
        dev.start(telemetry_every=1)            # on-board loop from the board's timer (protocol v2)
        dev.send_sensor(codes[0]); tm = dev.read_telemetry(1.0); dev.stop()

Every read has a deadline; a request that gets no reply is re-sent unchanged (same seq, which the
device answers by replaying its stored reply, so nothing runs twice) and after `retries` re-sends
raises DeviceTimeout. All exceptions subclass DeviceError. TELEMETRY frames (unsolicited, while
the board runs on board) never count as replies: they are queued for `read_telemetry`.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import protocol as P
from .protocol import ErrorCode, Info, MsgType, NetInfo, Packet, RunConfig, Stats, StepResult, Telemetry

BAUDRATE = 115200


# -- exceptions ---------------------------------------------------------------------------------------


class DeviceError(Exception):
    """Base of everything the device client raises."""


class DeviceTimeout(DeviceError):
    """No (valid) reply within the deadline, after all retries."""


class ProtocolError(DeviceError):
    """A reply that is garbled or does not answer the request that was sent."""


class DeviceErrorReply(DeviceError):
    """The device answered with ERROR; `code` is the ErrorCode name, `detail` its detail field."""

    def __init__(self, message: str, code: str, detail: int, request: str) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail
        self.request = request


class VersionMismatch(DeviceError):
    """The device speaks another protocol version."""


class NetworkTooLarge(DeviceError):
    """The network exceeds a device limit; `limit` names it (neurons, synapses, blob_bytes, arena_bytes)."""

    def __init__(self, message: str, limit: str = "", need: int = 0, have: int = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.need = need
        self.have = have


class ConnectionLost(DeviceError):
    """The port could not be opened, or closed under us (device unplugged, emulator stopped)."""


def flash_network_refusal(info: Info, url: str, network: str = "NET.snn") -> str:
    """The one-line refusal of an upload to a device whose network is compiled into its firmware
    (HELLO capability bit 4), naming the command that builds `network` into the board's image."""
    from .boards import by_device_name

    board = by_device_name(info.name)
    name = board.name if board is not None else "BOARD"
    return (
        f"{info.name or url} runs a network compiled into its flash and takes no uploads; build the network"
        f" into the image instead: snnctl firmware build --board {name} --network {network}"
    )


_ERROR_HINTS = {
    ErrorCode.UNKNOWN_TYPE: "the firmware does not know this request; update the firmware or snnctl",
    ErrorCode.BAD_LENGTH: "the request payload has the wrong size for its type",
    ErrorCode.BAD_VERSION: "device and host speak different protocol versions",
    ErrorCode.BAD_SEQ: "another program may be using the port; reconnect",
    ErrorCode.NO_NETWORK: "no network is loaded; deploy one first (snnctl deploy NET.snn --port URL)",
    ErrorCode.TOO_LARGE: "the network or chunk exceeds the device's limits (snnctl device info --port URL)",
    ErrorCode.BAD_OFFSET: "upload chunks arrived out of order; retry the deploy",
    ErrorCode.BAD_BLOB_CRC: "the uploaded bytes were damaged in transit; retry the deploy",
    ErrorCode.INVALID_NETWORK: "the device rejected the .snn file (detail = its .snn error code)",
    ErrorCode.NOT_LOADING: "upload chunk or commit without LOAD_BEGIN; retry the deploy",
    ErrorCode.INCOMPLETE: "commit before all bytes arrived; retry the deploy",
    ErrorCode.BAD_INPUT_COUNT: "the number of input codes differs from the network's inputs",
    ErrorCode.RUNNING: "the network runs on board; stop it first (snnctl device stop --port URL)",
    ErrorCode.FLASH_NETWORK: "the network is compiled into this device's firmware: build the new one in"
    " (snnctl firmware build --board BOARD --network NET.snn) instead of uploading it",
    ErrorCode.BAD_PERIOD: "no usable control period: the .snn has no `ctrl` section (pass --period-us), the"
    " board's timer cannot run it, or telemetry does not fit the device's frames (detail 0 / 1 / 2)",
}

TELEMETRY_TYPE = MsgType.TELEMETRY | P.RESPONSE_BIT
DEFAULT_STALE_LIMIT = 3  # START's fail-safe: periods without a fresh sensor sample (docs/protocol.md §8)


def _load_network(net_or_path: Any):
    """(Network, blob bytes) from a Network, a path to a .snn file, or .snn bytes."""
    from snnctl import snnfile
    from snnctl.network import Network

    if isinstance(net_or_path, Network):
        return net_or_path, snnfile.to_bytes(net_or_path)
    if isinstance(net_or_path, bytes | bytearray):
        blob = bytes(net_or_path)
        return snnfile.from_bytes(blob), blob
    path = Path(net_or_path)
    blob = path.read_bytes()
    return snnfile.load(path), blob


def check_limits(info: Info, net: Any, blob_bytes: int) -> dict[str, tuple[int, int]]:
    """Each device limit as (needed, available); NetworkTooLarge naming the first one exceeded."""
    from .memory import arena_bytes_on

    limits = {
        "neurons": (net.n_neurons, info.max_neurons),
        "synapses": (net.n_synapses, info.max_synapses),
        "blob_bytes": (blob_bytes, info.max_blob_bytes),
        "arena_bytes": (arena_bytes_on(net, info.name or "")[0], info.arena_bytes),
    }
    for name, (need, have) in limits.items():
        if need > have:
            raise NetworkTooLarge(
                f"network needs {need} {name.replace('_', ' ')} but the device {info.name or ''} allows"
                f" {have}; use a smaller network or a board with more memory",
                name,
                need,
                have,
            )
    return limits


class Device:
    """A connection to one device. `timeout` bounds each attempt, `retries` is the number of re-sends."""

    def __init__(
        self,
        url: str,
        timeout: float = 0.5,
        retries: int = 3,
        connect_timeout: float = 5.0,
    ) -> None:
        import serial

        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.connect_timeout = float(connect_timeout)
        self._serial_exc = (serial.SerialException, OSError)
        self._write_timeout = serial.SerialTimeoutException
        try:
            self._ser = serial.serial_for_url(url, baudrate=BAUDRATE, timeout=self.timeout, do_not_open=True)
            # a device that stops reading must not block a write forever either
            self._ser.write_timeout = max(1.0, self.timeout * (self.retries + 1))
            # never touch DTR/RTS: on a pty the ioctls fail, and on boards they may reset the MCU
            self._ser.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = str(exc).rsplit("] ", 1)[-1]  # pyserial nests "[Errno N] could not open port X: [Errno N] why"
            raise ConnectionLost(f"cannot open {url}: {reason}") from None
        self._cur_timeout = self.timeout
        self._decoder = P.FrameDecoder(P.DEFAULT_MAX_PAYLOAD * 4)
        self._pending: list[Packet] = []
        self._seq = random.randrange(0x10000)
        self.info: Info | None = None
        self.net_info: NetInfo | None = None
        self.net = None  # the Network deployed through this connection, if any
        self.stale_replies = 0
        self._telemetry: deque[Packet] = deque()
        self._sensor_seq = 0
        self.telemetry_garbled = 0
        # protocol.md §1: a host opens a port with one 0x00, so a partial frame a previous client
        # left in the device's receiver ends there instead of merging with our first request
        self.write_raw(b"\x00")

    # -- context manager / lifetime ---------------------------------------------------------------
    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001 - closing a port that is already gone is fine
            pass

    @property
    def is_open(self) -> bool:
        return bool(self._ser.is_open)

    @property
    def seq(self) -> int:
        """The sequence number of the last request sent."""
        return self._seq

    @property
    def decoder(self) -> P.FrameDecoder:
        return self._decoder

    # -- raw I/O ------------------------------------------------------------------------------------
    def _lost(self, exc: BaseException, doing: str) -> ConnectionLost:
        self.close()
        return ConnectionLost(
            f"connection to {self.url} lost while {doing} ({exc}); check the cable / that the device or"
            " emulator is still running, then reconnect"
        )

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the port as they are (tests use this to inject garbage)."""
        try:
            self._ser.write(data)
            self._ser.flush()
        except self._write_timeout:
            raise DeviceTimeout(
                f"writing to {self.url} timed out after {self._ser.write_timeout:g} s: the device is not reading;"
                " check that its firmware is running and that no flow control holds the line"
            ) from None
        except self._serial_exc as exc:
            raise self._lost(exc, "writing") from None
        except Exception as exc:  # pyserial's PortNotOpenError and friends
            raise self._lost(exc, "writing") from None

    def _set_timeout(self, t: float) -> None:
        if t != self._cur_timeout:
            self._ser.timeout = t
            self._cur_timeout = t

    def _read_some(self, deadline: float) -> bytes:
        """Wait until some bytes arrive or the deadline passes; return what is available."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        try:
            self._set_timeout(remaining)
            first = self._ser.read(1)
            if not first:
                return b""
            self._set_timeout(0)
            return first + self._ser.read(65536)
        except self._serial_exc as exc:
            raise self._lost(exc, "reading") from None
        except Exception as exc:  # noqa: BLE001 - PortNotOpenError etc.
            if not self._ser.is_open:
                raise self._lost(exc, "reading") from None
            raise

    def _feed(self, chunk: bytes) -> list[Packet]:
        """Decode a chunk; TELEMETRY goes to its own queue, the rest is returned."""
        out = []
        for pkt in self._decoder.feed(chunk):
            (self._telemetry if pkt.type == TELEMETRY_TYPE else out).append(pkt)
        return out

    def read_packet(self, timeout: float | None = None) -> Packet | None:
        """The next valid packet from the port (TELEMETRY aside), or None when `timeout` passes without one."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._pending:
            chunk = self._read_some(deadline)
            if not chunk:
                return None
            self._pending.extend(self._feed(chunk))
        return self._pending.pop(0)

    def drain(self, quiet: float = 0.05, limit: float | None = None) -> list[Packet]:
        """Read until the line has been quiet for `quiet` s (at most `limit` s); return what came."""
        end = time.monotonic() + (self.timeout if limit is None else limit)
        got = list(self._pending)
        self._pending.clear()
        while time.monotonic() < end:
            chunk = self._read_some(min(end, time.monotonic() + quiet))
            if not chunk:
                break
            got.extend(self._feed(chunk))
        return got

    # -- requests -----------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _error(self, pkt: Packet, mtype: int) -> DeviceError:
        try:
            err = P.unpack_error(pkt.payload)
        except P.PayloadError as exc:
            return ProtocolError(f"garbled ERROR reply from {self.url}: {exc}")
        req = _type_name(err.request_type if err.request_type else mtype)
        if err.code == ErrorCode.BAD_VERSION:
            return VersionMismatch(
                f"device at {self.url} speaks protocol version {err.detail}, this snnctl speaks"
                f" {P.PROTOCOL_VERSION}; update the firmware or snnctl so they match"
            )
        hint = _ERROR_HINTS.get(ErrorCode(err.code), "") if err.code in ErrorCode._value2member_map_ else ""
        return DeviceErrorReply(
            f"device refused {req}: {err.code_name} (detail {err.detail}){'; ' + hint if hint else ''}",
            err.code_name,
            err.detail,
            req,
        )

    def exchange(self, frame: bytes, seq: int, mtype: int, timeout: float | None = None, retries: int | None = None):
        """Send an encoded frame and return the reply packet answering (`seq`, `mtype`).

        Re-sends the identical frame on timeout; raises DeviceTimeout after `retries` re-sends,
        DeviceErrorReply / VersionMismatch on an ERROR reply, ProtocolError on a mismatched reply.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        for _attempt in range(retries + 1):
            self.write_raw(frame)
            deadline = time.monotonic() + timeout
            while True:
                pkt = self.read_packet(max(0.0, deadline - time.monotonic()))
                if pkt is None:
                    break
                if pkt.seq != seq:
                    self.stale_replies += 1  # a late reply to an earlier request: drop it
                    continue
                if pkt.version != P.PROTOCOL_VERSION:
                    raise VersionMismatch(
                        f"device at {self.url} replied with protocol version {pkt.version}, this snnctl speaks"
                        f" {P.PROTOCOL_VERSION}; update the firmware or snnctl so they match"
                    )
                if pkt.type == MsgType.ERROR:
                    raise self._error(pkt, mtype)
                if pkt.type == mtype and not pkt.is_response:
                    raise ProtocolError(
                        f"{self.url} echoes what is sent (a loop:// URL or a loopback cable?): no device answers"
                    )
                if pkt.type != (mtype | P.RESPONSE_BIT):
                    raise ProtocolError(
                        f"device at {self.url} answered {_type_name(mtype)} (seq {seq}) with message type"
                        f" 0x{pkt.type:02x}; is another program using the port?"
                    )
                return pkt
        total = (retries + 1) * timeout
        raise DeviceTimeout(
            f"no reply from {self.url} to {_type_name(mtype)} after {retries + 1} attempts ({total:.1f} s);"
            " check the port and that the device firmware is running (snnctl device info --port URL)"
        )

    def request(self, mtype: int, payload: bytes = b"", *, seq: int | None = None, version: int = P.PROTOCOL_VERSION,
                timeout: float | None = None, retries: int | None = None) -> Packet:  # fmt: skip
        """Send one request (next seq unless given) and return the reply packet.

        With the seq left to the client, a BAD_SEQ reply (the device expected another number, e.g.
        after it rebooted) re-synchronises once: the request was not executed, so it is re-sent
        with the number the device expects. Replies that do not consume a seq (BAD_SEQ,
        BAD_VERSION) give the number back.
        """
        explicit = seq is not None
        for attempt in range(1 if explicit else 2):
            if not explicit:
                seq = self.next_seq()
            frame = P.frame(mtype, seq, payload, version)
            try:
                return self.exchange(frame, seq, mtype, timeout, retries)
            except VersionMismatch:
                if not explicit and self._seq == seq:
                    self._seq = (seq - 1) & 0xFFFF
                raise
            except DeviceErrorReply as exc:
                if exc.code != "BAD_SEQ" or explicit:
                    raise
                self._seq = (exc.detail - 1) & 0xFFFF  # not executed: take the device's number
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _call(self, mtype: MsgType, payload: bytes = b""):
        pkt = self.request(mtype, payload)
        try:
            return P.unpack_response(mtype, pkt.payload)
        except P.PayloadError as exc:
            raise ProtocolError(f"garbled reply from {self.url}: {exc}") from None

    # -- messages -----------------------------------------------------------------------------------
    def hello(self, connect_timeout: float | None = None) -> Info:
        """Ping until the device answers (bytes sent before an emulator's host connects are lost)."""
        connect_timeout = self.connect_timeout if connect_timeout is None else connect_timeout
        end = time.monotonic() + connect_timeout
        seq = self.next_seq()
        frame = b"\0" + P.frame(MsgType.HELLO, seq)  # the leading 0x00 flushes a half-received frame
        per_try = min(self.timeout, 0.25)
        while True:
            try:
                pkt = self.exchange(frame, seq, MsgType.HELLO, timeout=per_try, retries=0)
                break
            except DeviceTimeout:
                if time.monotonic() >= end:
                    raise DeviceTimeout(
                        f"no answer from {self.url} to HELLO within {connect_timeout:.1f} s; check the port, that"
                        " the device runs the snnctl firmware, and that no other program holds the port"
                    ) from None
        try:
            info = P.unpack_response(MsgType.HELLO, pkt.payload)
        except P.PayloadError as exc:
            raise ProtocolError(f"garbled HELLO reply from {self.url}: {exc}") from None
        if info.protocol_version != P.PROTOCOL_VERSION:
            raise VersionMismatch(
                f"device at {self.url} speaks protocol version {info.protocol_version}, this snnctl speaks"
                f" {P.PROTOCOL_VERSION}; update the firmware or snnctl so they match"
            )
        self.info = info
        self._decoder.max_encoded = max(self._decoder.max_encoded, P.cobs_max_encoded(info.max_payload + P.OVERHEAD))
        return info

    def _ensure_info(self) -> Info:
        return self.info if self.info is not None else self.hello()

    def netinfo(self) -> NetInfo:
        self.net_info = self._call(MsgType.NETINFO)
        return self.net_info

    def stats(self) -> Stats:
        return self._call(MsgType.STATS)

    def reset(self) -> None:
        self._call(MsgType.RESET)

    def watchdog(self, ms: int) -> None:
        """Fail-safe outputs when no STEP arrives for `ms` milliseconds (0 turns it off)."""
        if not 0 <= ms <= 0xFFFF:
            raise ValueError(f"watchdog timeout must be 0..65535 ms, got {ms}")
        self._call(MsgType.WATCHDOG, P.pack_request(MsgType.WATCHDOG, ms))

    # -- upload -------------------------------------------------------------------------------------
    def load_begin(self, total_bytes: int, crc32: int) -> None:
        self._call(MsgType.LOAD_BEGIN, P.pack_request(MsgType.LOAD_BEGIN, total_bytes, crc32))

    def load_chunk(self, offset: int, data: bytes) -> int:
        return self._call(MsgType.LOAD_CHUNK, P.pack_request(MsgType.LOAD_CHUNK, offset, tail=data))

    def commit(self) -> NetInfo:
        self.net_info = self._call(MsgType.COMMIT)
        return self.net_info

    def chunk_size(self) -> int:
        return self._ensure_info().max_payload - 4

    def upload(self, blob: bytes, progress: Callable[[int, int], Any] | None = None) -> NetInfo:
        """LOAD_BEGIN, LOAD_CHUNKs, COMMIT; `progress(sent, total)` after each chunk. Returns NetInfo."""
        blob = bytes(blob)
        size = self.chunk_size()
        self.net = None
        self.load_begin(len(blob), zlib.crc32(blob))
        for off in range(0, len(blob), size):
            got = self.load_chunk(off, blob[off : off + size])
            if got != min(off + size, len(blob)):
                raise ProtocolError(f"device reports {got} bytes received after the chunk at offset {off}")
            if progress is not None:
                progress(min(off + size, len(blob)), len(blob))
        return self.commit()

    def deploy(self, net_or_path: Any, progress: Callable[[int, int], Any] | None = None) -> NetInfo:
        """Check the device limits, upload, commit and verify a Network / .snn path / .snn bytes.

        Raises NetworkTooLarge (before anything is sent) naming the limit that is exceeded. A device
        whose network is compiled into its flash (capability bit 4) takes no uploads: deploying the
        network it already runs returns its NETINFO, another one raises DeviceError saying to build
        that one into the image.
        """
        from snnctl import snnfile

        from .memory import arena_bytes_on

        net, blob = _load_network(net_or_path)
        info = self._ensure_info()
        if info.has(P.Capability.NETWORK_IN_FLASH):  # no uploads: fine if it is this very network
            ni = self.netinfo()
            if ni.loaded and (ni.blob_bytes, ni.blob_crc32) == (len(blob), snnfile.network_crc(blob)):
                return ni
            shown = str(net_or_path) if isinstance(net_or_path, str | Path) else "NET.snn"
            raise DeviceError(flash_network_refusal(info, self.url, shown))
        check_limits(info, net, len(blob))
        ni = self.upload(blob, progress)
        want = {
            "loaded": True,
            "n_inputs": net.n_inputs,
            "n_outputs": net.n_outputs,
            "n_neurons": net.n_neurons,
            "n_synapses": net.n_synapses,
            "blob_bytes": len(blob),
            "blob_crc32": snnfile.network_crc(blob),
            "period_us": round(net.control_period_s * 1e6) if net.control_period_s else 0,
        }
        wrong = [f"{k} {getattr(ni, k)} (expected {v})" for k, v in want.items() if getattr(ni, k) != v]
        arenas = arena_bytes_on(net, info.name or "")  # the core's layout of this board (memory.py)
        if ni.arena_used not in arenas:
            wrong.append(f"arena_used {ni.arena_used} (expected {' or '.join(map(str, arenas))})")
        if wrong:
            raise ProtocolError(f"device at {self.url} reports after commit: {', '.join(wrong)}")
        self.net = net
        return ni

    # -- stepping -----------------------------------------------------------------------------------
    def _n_outputs(self) -> int:
        if self.net_info is None or not self.net_info.loaded:
            self.netinfo()
        if not self.net_info.loaded:
            raise DeviceErrorReply(
                f"no network is loaded on {self.url}; " + _ERROR_HINTS[ErrorCode.NO_NETWORK], "NO_NETWORK", 0, "STEP"
            )
        return self.net_info.n_outputs

    def step(self, codes: np.ndarray, counts: bool = False) -> StepResult:
        """One step: int16 input codes (n_inputs,) -> StepResult (outputs, step number, watchdog flag, counts)."""
        codes = np.asarray(codes)
        if codes.ndim != 1:
            raise ValueError(f"step takes one vector of input codes (n_inputs,), got shape {codes.shape}")
        _check_int16(codes)
        payload = P.pack_request(MsgType.STEP, P.STEP_FLAG_COUNTS if counts else 0, tail=codes)
        return self._call(MsgType.STEP, payload)

    def run(self, codes: np.ndarray, window: int = 4, progress: Callable[[int, int], Any] | None = None) -> np.ndarray:
        """Stream input codes (T, n_in) through the device; return output codes (T, n_out) int16.

        Up to `window` STEP requests are in flight at once (1 = strict stop-and-wait), and never
        more encoded bytes than the device's max_payload (docs/protocol.md §2, *Pipelining*: what
        every port can buffer while it executes a request; one request is always allowed). A request
        lost on the way is re-sent; a *reply* lost while later steps already ran cannot be
        recovered (the device keeps only its last reply), which raises ProtocolError — use
        window=1 on links that lose bytes.
        """
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise ValueError(f"run takes input codes of shape (T, n_inputs), got {codes.shape}")
        _check_int16(codes)
        codes = np.ascontiguousarray(codes, dtype="<i2")
        t_total = codes.shape[0]
        n_out = self._n_outputs()
        out = np.zeros((t_total, n_out), dtype=np.int16)
        if t_total == 0:
            return out
        window = max(1, int(window))
        budget = self._ensure_info().max_payload  # bytes in flight the device can always buffer (§2)
        base = (self._seq + 1) & 0xFFFF
        step_t = MsgType.STEP
        reply_t = step_t | P.RESPONSE_BIT
        head = bytes([0])

        def seq_of(k: int) -> int:
            return (base + k) & 0xFFFF

        def frame_of(k: int) -> bytes:
            return P.frame(step_t, seq_of(k), head + codes[k].tobytes())

        got = np.zeros(t_total, dtype=bool)
        nr = ns = 0  # next step to receive, next step to send

        def take(pkt: Packet) -> bool:
            """Record a reply; True if it asks for recovery (BAD_SEQ)."""
            off = (pkt.seq - seq_of(nr)) & 0xFFFF
            if off >= ns - nr:
                self.stale_replies += 1
                return False
            k = nr + off
            if pkt.version != P.PROTOCOL_VERSION:
                raise VersionMismatch(f"device at {self.url} replied with protocol version {pkt.version}")
            if pkt.type == reply_t:
                try:
                    res = P.unpack_response(step_t, pkt.payload)
                except P.PayloadError as exc:
                    raise ProtocolError(f"garbled STEP reply from {self.url}: {exc}") from None
                if res.outputs.shape != (n_out,):
                    raise ProtocolError(f"STEP reply carries {res.outputs.size} outputs, expected {n_out}")
                out[k] = res.outputs
                got[k] = True
                return False
            if pkt.type == MsgType.ERROR:
                err = self._error(pkt, step_t)
                if isinstance(err, DeviceErrorReply) and err.code == "BAD_SEQ":
                    return True
                raise err
            raise ProtocolError(f"device at {self.url} answered STEP with message type 0x{pkt.type:02x}")

        def lost_reply(k: int) -> ProtocolError:
            return ProtocolError(
                f"the reply to step {k} was lost while later steps had already run, so its outputs are unknown;"
                " re-run with window=1 on a link that loses bytes"
            )

        while nr < t_total:
            if ns - nr < window and ns < t_total:
                burst = [frame_of(k) for k in range(nr, min(t_total, nr + window))]
                burst = burst[: P.in_flight_limit([len(f) for f in burst], budget)][ns - nr :]
                if burst:
                    ns += len(burst)
                    self._seq = seq_of(ns - 1)
                    self.write_raw(b"".join(burst))
            pkt = self.read_packet(self.timeout)
            recover = pkt is None
            if pkt is not None:
                recover = take(pkt)
                while self._pending and not recover:
                    recover = take(self._pending.pop(0))
            if recover:
                for p in self.drain(quiet=min(0.05, self.timeout), limit=self.timeout):
                    take(p)  # late valid replies still count; more BAD_SEQ are expected here
                if not got[nr]:
                    if got[nr:ns].any():
                        raise lost_reply(nr)
                    try:
                        pkt = self.exchange(frame_of(nr), seq_of(nr), step_t)
                    except DeviceErrorReply as exc:
                        if exc.code != "BAD_SEQ":
                            raise
                        if 1 <= (exc.detail - seq_of(nr)) & 0xFFFF <= ns - nr:
                            raise lost_reply(nr) from None
                        # none of our steps ran (e.g. an earlier request timed out unexecuted):
                        # adopt the device's numbering and send them again
                        base = (exc.detail - nr) & 0xFFFF
                        ns = nr
                        continue
                    take(pkt)
                    if not got[nr]:
                        raise ProtocolError(f"device at {self.url} did not return outputs for step {nr}")
                    # re-send whatever after nr has not been answered
                    later = np.flatnonzero(got[nr + 1 : ns])
                    if later.size:
                        raise lost_reply(nr + 1)
                    ns = nr + 1
            while nr < ns and got[nr]:
                nr += 1
                if progress is not None and (nr % 256 == 0 or nr == t_total):
                    progress(nr, t_total)
        self._seq = seq_of(t_total - 1)
        return out

    # -- on-board loop (protocol version 2, docs/protocol.md §8) ---------------------------------------
    def start(self, period_us: int = 0, telemetry_every: int = 0, stale_limit: int = DEFAULT_STALE_LIMIT) -> RunConfig:
        """Run the committed network from the board's own timer (period 0: the .snn's control period).

        Telemetry every `telemetry_every` periods (0 = off); fail-safe outputs after `stale_limit`
        periods without a fresh sensor sample (0 = never). The network starts from reset state.
        """
        for name, v, hi in (("period_us", period_us, 0xFFFFFFFF), ("telemetry_every", telemetry_every, 0xFFFF),
                            ("stale_limit", stale_limit, 0xFFFF)):  # fmt: skip
            if not 0 <= int(v) <= hi:
                raise ValueError(f"{name} must be 0..{hi}, got {v}")
        self._telemetry.clear()
        return self._call(MsgType.START, P.pack_request(MsgType.START, period_us, telemetry_every, stale_limit))

    def stop(self) -> int:
        """Back to host-stepped mode; returns the last timer period the board handled."""
        return self._call(MsgType.STOP)

    def send_sensor(self, codes: np.ndarray, seq: int | None = None) -> int:
        """Send one SENSOR sample (no reply; the board keeps the latest). Returns the seq it carried."""
        codes = np.asarray(codes)
        if codes.ndim != 1:
            raise ValueError(f"a sensor sample is one vector of input codes (n_inputs,), got shape {codes.shape}")
        _check_int16(codes)
        if seq is None:
            self._sensor_seq = (self._sensor_seq + 1) & 0xFFFF
            seq = self._sensor_seq
        self.write_raw(P.frame(MsgType.SENSOR, seq, P.pack_request(MsgType.SENSOR, tail=codes)))
        return seq

    def read_telemetry(self, timeout: float | None = None) -> Telemetry | None:
        """The next TELEMETRY frame, or None when `timeout` passes without one (garbled ones are counted)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while self._telemetry:
                try:
                    return P.unpack_telemetry(self._telemetry.popleft().payload)
                except P.PayloadError:
                    self.telemetry_garbled += 1
            chunk = self._read_some(deadline)
            if not chunk:
                return None
            self._pending.extend(self._feed(chunk))


def _check_int16(codes: np.ndarray) -> None:
    if codes.dtype == np.int16:
        return
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("input codes must be integers (int16); quantise real values with net.quantize_inputs")
    if codes.size and (codes.min() < -32768 or codes.max() > 32767):
        raise ValueError("input codes must lie in the int16 range -32768..32767")


def _type_name(mtype: int) -> str:
    try:
        return MsgType(mtype & 0x7F if mtype != 0xFF else mtype).name
    except ValueError:
        return f"message type 0x{mtype:02x}"


def open_device(url: str, **kwargs: Any) -> Device:
    """Open `url` and say HELLO; the Device is returned with `.info` filled in."""
    dev = Device(url, **kwargs)
    try:
        dev.hello()
    except BaseException:
        dev.close()
        raise
    return dev


__all__ = [
    "ConnectionLost",
    "Device",
    "DeviceError",
    "DeviceErrorReply",
    "DeviceTimeout",
    "NetworkTooLarge",
    "ProtocolError",
    "VersionMismatch",
    "check_limits",
    "open_device",
]
