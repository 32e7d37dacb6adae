"""A device in Python, written from docs/protocol.md, served over a pseudo-terminal in a thread.

It exists to test the host client (`firmware_bridge.device`) without a C build and to be a second,
independent reading of the spec. The real devices are tested in tests/test_device.py.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
import zlib

import numpy as np

from firmware_bridge import protocol as P
from firmware_bridge.protocol import ErrorCode, MsgType


class FakeDevice:
    def __init__(self, max_payload: int = 128, max_blob: int = 16384, arena: int = 32768,
                 max_neurons: int = 1024, max_synapses: int = 16384, drop_replies: int = 0) -> None:  # fmt: skip
        self.max_payload = max_payload
        self.max_blob, self.arena, self.max_neurons, self.max_synapses = max_blob, arena, max_neurons, max_synapses
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.url = os.ttyname(self.slave)
        self.decoder = P.FrameDecoder(max_payload)
        self.last_seq: int | None = None
        self.last_reply = b""
        self.active = None  # (net, stepper, blob)
        self.staging: dict | None = None
        self.steps = 0
        self.errors_sent = 0
        self.watchdog_ms = 0
        self.last_step_time = time.monotonic()
        self.tripped = False
        self.trips = 0
        self.outputs_log: list[np.ndarray] = []  # what board_outputs received
        self.drop_replies = drop_replies  # swallow this many replies (simulates a lossy line)
        self.drop_requests = 0  # ignore this many valid requests (as if damaged on the way in)
        self.executed = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- loop --------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.005)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                for pkt in self.decoder.feed(data):
                    self._handle(pkt)
            if self.watchdog_ms and self.active and not self.tripped:
                if (time.monotonic() - self.last_step_time) * 1000 >= self.watchdog_ms:
                    net, stepper, _ = self.active
                    fs = net.fail_safe if net.fail_safe is not None else np.zeros(net.n_outputs)
                    self.outputs_log.append(np.asarray(fs, np.int16))
                    stepper.reset()
                    self.tripped = True
                    self.trips += 1

    def _send(self, mtype: int, seq: int, payload: bytes) -> bytes:
        frame = P.frame(mtype, seq, payload)
        if self.drop_replies > 0:
            self.drop_replies -= 1
        else:
            os.write(self.master, frame)
        return frame

    def _error(self, seq: int, code: ErrorCode, rtype: int, detail: int = 0) -> bytes:
        self.errors_sent += 1
        return self._send(MsgType.ERROR, seq, P.ERROR_PAYLOAD.pack(code, rtype & 0xFF, detail & 0xFFFF))

    def _handle(self, pkt: P.Packet) -> None:
        if self.drop_requests > 0:
            self.drop_requests -= 1
            return
        if pkt.version != P.PROTOCOL_VERSION:
            self._error(pkt.seq, ErrorCode.BAD_VERSION, pkt.type, P.PROTOCOL_VERSION)
            return
        if pkt.type != MsgType.HELLO and self.last_seq is not None:
            if pkt.seq == self.last_seq:
                os.write(self.master, self.last_reply)
                return
            if pkt.seq != (self.last_seq + 1) & 0xFFFF:
                self._error(pkt.seq, ErrorCode.BAD_SEQ, pkt.type, self.last_seq + 1)
                return
        self.last_seq = pkt.seq
        self.executed += 1
        # unknown types consume their seq, as in the C device; this fake has no on-board loop
        if pkt.type not in P.MESSAGES or pkt.type in (MsgType.START, MsgType.STOP, MsgType.SENSOR):
            self.last_reply = self._error(pkt.seq, ErrorCode.UNKNOWN_TYPE, pkt.type)
            return
        self.last_reply = self._execute(MsgType(pkt.type), pkt)

    def _execute(self, mtype: MsgType, pkt: P.Packet) -> bytes:
        seq, pl = pkt.seq, pkt.payload
        reply = mtype | P.RESPONSE_BIT
        m = P.MESSAGES[mtype]
        if len(pl) < m.request.size or (not m.request_tail and len(pl) != m.request.size):
            return self._error(seq, ErrorCode.BAD_LENGTH, mtype)
        if mtype == MsgType.HELLO:
            name = b"fake"
            return self._send(reply, seq, P.pack_response(
                MsgType.HELLO, P.PROTOCOL_VERSION, 0, 1, 0, 0b1111, self.max_payload, self.max_neurons,
                self.max_synapses, self.max_blob, self.arena, 0, 0, len(name), tail=name))  # fmt: skip
        if mtype == MsgType.LOAD_BEGIN:
            total, crc = P.MESSAGES[mtype].request.unpack(pl)
            self.staging = None
            if total > self.max_blob:
                return self._error(seq, ErrorCode.TOO_LARGE, mtype)
            self.staging = {"total": total, "crc": crc, "buf": bytearray()}
            return self._send(reply, seq, b"")
        if mtype == MsgType.LOAD_CHUNK:
            if self.staging is None:
                return self._error(seq, ErrorCode.NOT_LOADING, mtype)
            (off,), data = P.unpack_request(mtype, pl)
            buf = self.staging["buf"]
            if off != len(buf):
                return self._error(seq, ErrorCode.BAD_OFFSET, mtype, len(buf))
            if off + len(data) > self.staging["total"]:
                return self._error(seq, ErrorCode.TOO_LARGE, mtype)
            buf += data
            return self._send(reply, seq, P.pack_response(mtype, len(buf)))
        if mtype == MsgType.COMMIT:
            return self._commit(seq)
        if mtype in (MsgType.NETINFO,):
            return self._send(reply, seq, self._netinfo())
        if mtype == MsgType.STATS:
            return self._send(reply, seq, P.pack_response(
                mtype, self.steps, self.decoder.crc_errors, self.decoder.framing_errors, self.decoder.dropped_frames,
                self.trips, self.errors_sent, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))  # fmt: skip
        if mtype == MsgType.WATCHDOG:
            (self.watchdog_ms,), _ = P.unpack_request(mtype, pl)
            self.last_step_time = time.monotonic()
            return self._send(reply, seq, b"")
        if self.active is None:
            return self._error(seq, ErrorCode.NO_NETWORK, mtype)
        net, stepper, _ = self.active
        if mtype == MsgType.RESET:
            stepper.reset()
            return self._send(reply, seq, b"")
        # STEP
        (flags,), tail = P.unpack_request(mtype, pl)
        if len(tail) != 2 * net.n_inputs:
            return self._error(seq, ErrorCode.BAD_INPUT_COUNT, mtype, len(tail) // 2)
        out = stepper.step(np.frombuffer(tail, "<i2").astype(np.int16))
        self.steps += 1
        self.last_step_time = time.monotonic()
        status = P.STATUS_WATCHDOG if self.tripped else 0
        self.tripped = False
        body = out.astype("<i2").tobytes()
        if flags & P.STEP_FLAG_COUNTS:
            status |= P.STATUS_COUNTS
            body += P.STEP_COUNTS.pack(stepper.spikes, stepper.synops, 0)
        return self._send(reply, seq, P.pack_response(mtype, self.steps, status, tail=body))

    def _netinfo(self) -> bytes:
        if self.active is None:
            return P.pack_response(MsgType.NETINFO, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        net, _, blob = self.active
        from firmware_bridge.memory import device_bytes
        from snnctl import snnfile

        return P.pack_response(MsgType.NETINFO, 1, net.n_inputs, net.n_outputs, net.n_neurons, net.n_synapses,
                               len(blob), snnfile.network_crc(blob), device_bytes(net)["arena_bytes"],
                               round((net.control_period_s or 0) * 1e6), 0)  # fmt: skip

    def _commit(self, seq: int) -> bytes:
        from firmware_bridge.memory import device_bytes
        from snnctl import snnfile
        from snnctl.runtime import Stepper

        mtype = MsgType.COMMIT
        st, self.staging = self.staging, None
        if st is None:
            return self._error(seq, ErrorCode.NOT_LOADING, mtype)
        if len(st["buf"]) != st["total"]:
            return self._error(seq, ErrorCode.INCOMPLETE, mtype)
        blob = bytes(st["buf"])
        if zlib.crc32(blob) != st["crc"]:
            return self._error(seq, ErrorCode.BAD_BLOB_CRC, mtype)
        try:
            net = snnfile.from_bytes(blob)
        except snnfile.SnnFormatError as exc:
            return self._error(seq, ErrorCode.INVALID_NETWORK, mtype, int(exc.code))
        if (net.n_neurons > self.max_neurons or net.n_synapses > self.max_synapses
                or device_bytes(net)["arena_bytes"] > self.arena):  # fmt: skip
            return self._error(seq, ErrorCode.TOO_LARGE, mtype)
        self.active = (net, Stepper(net), blob)
        self.tripped = False
        return self._send(mtype | P.RESPONSE_BIT, seq, self._netinfo())
