"""A TCP proxy between the device client and a board that breaks the serial link on purpose.

Hardware-in-the-loop runs (`snnctl hil --faults`) and the tests put it between `Device` and the
board's port to show what the loop does when the link misbehaves:

    with LinkFaultProxy(emu.url, faults=[LinkFault("drop", 30.0, 5.0, 0.2)], seed=1) as proxy:
        backend = DeviceBackend(net, proxy.url)      # the client talks to socket://127.0.0.1:PORT
        ...
        proxy.set_time(t)                            # loop time: scheduled faults switch on and off

Upstream is the board's URL: `socket://HOST:PORT` (QEMU) or a tty/pty path (the host virtual
device, a USB-serial adapter). Downstream the proxy serves one client at a time on a localhost port.

Fault kinds (`LinkFault(kind, start_s, duration_s, param, direction)`), active while
`start_s <= t < start_s + duration_s` for the loop time `t` given to `set_time`, or from `inject`
until `clear` (on command):

==========  =======================================================  ================  ===========
kind        what happens to bytes read while it is active             param             direction
==========  =======================================================  ================  ===========
delay       forwarded `param` ms after they arrived (order kept)      ms, 0..60000      from_device
drop        each byte dropped with probability p                      p, 0..1           both
corrupt     each byte XORed with a nonzero value with probability p   p, 0..1           both
silent      nothing is forwarded (the device neither hears nor        -                 both
            answers; the connections stay open)
unplug      both connections are closed when it starts; a client      -                 both
            that connects meanwhile is accepted and closed at once;
            when it ends, connections are accepted again
==========  =======================================================  ================  ===========

(`direction`: "to_device", "from_device" or "both"; None takes the default above, so a `delay`
makes every reply late by `param` ms, which is what a slow link looks like from the host.)

Determinism: every (kind, direction) that draws randomness has its own
`numpy.random.Generator(PCG64(SeedSequence([seed, kind_index, direction_index])))`, where kind_index
is 0 for drop, 1 for the corrupt decision, 2 for the corrupt value, and direction_index is 0 toward
the device, 1 from it. Each byte read in that direction while the fault is active takes the next
`random()` draw `u` of the generator: `drop` removes it iff `u < p`; `corrupt` XORs it iff `u < p`,
with the value `1 + floor(255 * v)` (1..255, never a no-op), `v` the next draw of the value
generator. Draws are taken in stream order, so the pattern depends only on the seed and the bytes,
not on how TCP splits them. Drop is applied before corrupt (a dropped byte draws no corrupt
decision).

`set_time`, `inject` and `clear` return once the I/O thread has applied the change, so a step sent
right after them already sees the new link.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LINK_KINDS = ("delay", "drop", "corrupt", "silent", "unplug")
TO_DEVICE, FROM_DEVICE = 0, 1
DIRECTIONS = {"to_device": (TO_DEVICE,), "from_device": (FROM_DEVICE,), "both": (TO_DEVICE, FROM_DEVICE)}
DEFAULT_DIRECTION = {"delay": "from_device", "drop": "both", "corrupt": "both", "silent": "both", "unplug": "both"}
MAX_DELAY_MS = 60_000.0
_RNG_DROP, _RNG_CORRUPT, _RNG_VALUE = 0, 1, 2


@dataclass(frozen=True)
class LinkFault:
    """One link fault: `kind` from `start_s` for `duration_s` seconds of loop time, with `param`."""

    kind: str
    start_s: float = 0.0
    duration_s: float = math.inf
    param: float = 0.0
    direction: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in LINK_KINDS:
            raise ValueError(f"unknown link fault {self.kind!r}; one of: {', '.join(LINK_KINDS)}")
        if not (self.start_s >= 0 and math.isfinite(self.start_s)):
            raise ValueError(f"{self.kind}: start must be a finite time >= 0 s, got {self.start_s}")
        if not self.duration_s > 0:
            raise ValueError(f"{self.kind}: duration must be > 0 s, got {self.duration_s}")
        if self.kind == "delay" and not 0 <= self.param <= MAX_DELAY_MS:
            raise ValueError(f"delay: the delay must be 0..{MAX_DELAY_MS:g} ms, got {self.param}")
        if self.kind in ("drop", "corrupt") and not 0 <= self.param <= 1:
            raise ValueError(f"{self.kind}: the probability must be in 0..1, got {self.param}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"{self.kind}: direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")

    @property
    def directions(self) -> tuple[int, ...]:
        return DIRECTIONS[self.direction or DEFAULT_DIRECTION[self.kind]]

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def active_at(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


def link_faults_of(specs: Iterable[Any]) -> list[LinkFault]:
    """The link faults among parsed fault specs (`sim.faults.FaultSpec`: kind, start_s, duration_s, param)."""
    out = []
    for f in specs:
        if f.kind in LINK_KINDS:
            param = 0.0 if f.param is None else float(f.param)
            out.append(LinkFault(f.kind, float(f.start_s), float(f.duration_s), param))
    return out


@dataclass
class LinkStats:
    """What the proxy did, per direction where it matters (index 0: to the device, 1: from it)."""

    forwarded: list[int] = field(default_factory=lambda: [0, 0])  # bytes written out
    dropped: list[int] = field(default_factory=lambda: [0, 0])
    corrupted: list[int] = field(default_factory=lambda: [0, 0])
    delayed: list[int] = field(default_factory=lambda: [0, 0])  # bytes held back by a delay
    silenced: list[int] = field(default_factory=lambda: [0, 0])  # bytes discarded while silent
    connections: int = 0  # clients served
    refused: int = 0  # clients accepted and closed while unplugged
    unplugs: int = 0


class _Upstream:
    """The board side: a TCP socket or a tty/pty file descriptor, non-blocking, selectable."""

    def __init__(self, url: str, timeout: float) -> None:
        self.sock: socket.socket | None = None
        self.fd = -1
        if url.startswith("socket://"):
            host, _, port = url.removeprefix("socket://").partition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.setblocking(False)
        else:
            self.fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else self.fd

    def read(self) -> bytes | None:
        """Bytes waiting, b'' if none, None if the board side is gone."""
        try:
            if self.sock is not None:
                data = self.sock.recv(65536)
                return data or None
            return os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return None

    def write(self, data: bytes) -> bool:
        if self.sock is not None:
            return _send_all(self.sock.send, data)
        return _send_all(lambda view: os.write(self.fd, view), data)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        elif self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _send_all(send: Callable[[memoryview], int], data: bytes) -> bool:
    """Write everything through a non-blocking `send` (a socket's, or `os.write` on a pty; tiny frames:
    waits at most 1 s); False if the other end is gone."""
    view = memoryview(data)
    end = time.monotonic() + 1.0
    while view:
        try:
            view = view[send(view) :]
        except (BlockingIOError, InterruptedError):
            if time.monotonic() > end:
                return False
            time.sleep(0.0005)
        except OSError:
            return False
    return True


def _check_upstream(url: str) -> None:
    if url.startswith("socket://"):
        host, sep, port = url.removeprefix("socket://").partition(":")
        if not (host and sep and port.isdigit()):
            raise ValueError(f"upstream {url!r}: expected socket://HOST:PORT")
        return
    if "://" in url:
        raise ValueError(f"upstream {url!r}: the link-fault proxy forwards socket://HOST:PORT or a tty path only")
    if not os.path.exists(url):
        raise ValueError(f"upstream {url!r}: no such serial device")


class LinkFaultProxy:
    """Forward a client's bytes to the board and back, breaking them as the active faults say."""

    def __init__(self, upstream: str, faults: Iterable[LinkFault] = (), seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0, connect_timeout: float = 5.0) -> None:  # fmt: skip
        _check_upstream(upstream)
        self.upstream_url = upstream
        self.connect_timeout = float(connect_timeout)
        self.schedule: list[LinkFault] = list(faults)
        self._commanded: list[LinkFault] = []
        self._time = -math.inf  # no loop time yet: only commanded faults apply
        self.stats = LinkStats()
        self.last_error = ""  # the last thing that went wrong on the I/O thread (e.g. the board unreachable)
        ss = np.random.SeedSequence
        self._rng = {(k, d): np.random.Generator(np.random.PCG64(ss([int(seed), k, d])))
                     for k in (_RNG_DROP, _RNG_CORRUPT, _RNG_VALUE) for d in (TO_DEVICE, FROM_DEVICE)}  # fmt: skip
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind((host, port))
        self._listen.listen(4)
        self._listen.setblocking(False)
        self.url = f"socket://{host}:{self._listen.getsockname()[1]}"
        self._client: socket.socket | None = None
        self._board: _Upstream | None = None
        self._queues: tuple[deque, deque] = (deque(), deque())  # (release time, bytes) per direction
        self._active: tuple[LinkFault, ...] = ()
        self._unplugged = False
        self._cond = threading.Condition()
        self._wanted = 0  # generation of the fault set asked for
        self._applied = 0  # generation the I/O thread runs with
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._thread = threading.Thread(target=self._serve, name=f"link-fault-proxy-{self.url}", daemon=True)
        self._thread.start()

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> LinkFaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread and close every socket."""
        if self._stop:
            return
        self._stop = True
        self._wake()
        self._thread.join(timeout=2.0)
        for s in (self._listen, self._wake_r, self._wake_w):
            s.close()

    # -- control -------------------------------------------------------------------------------
    @property
    def active(self) -> tuple[LinkFault, ...]:
        """The faults in force now."""
        return self._active

    def set_time(self, t_s: float) -> None:
        """Tell the proxy the loop time; scheduled faults covering it become active."""
        self._time = float(t_s)
        self._update()

    def inject(self, kind: str, param: float = 0.0, direction: str | None = None) -> LinkFault:
        """Start a fault now, until `clear` (on command, whatever the loop time)."""
        fault = LinkFault(kind, 0.0, math.inf, param, direction)
        self._commanded.append(fault)
        self._update()
        return fault

    def clear(self, kind: str | None = None) -> None:
        """End commanded faults (all, or those of `kind`); scheduled ones keep their windows."""
        self._commanded = [f for f in self._commanded if kind is not None and f.kind != kind]
        self._update()

    def _update(self) -> None:
        active = tuple(f for f in self.schedule if f.active_at(self._time)) + tuple(self._commanded)
        if active == self._active:
            return
        with self._cond:
            self._active = active
            self._wanted += 1
            gen = self._wanted
            self._wake()
            if threading.current_thread() is not self._thread and not self._stop:
                self._cond.wait_for(lambda: self._applied >= gen or self._stop, timeout=2.0)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    # -- the I/O thread ------------------------------------------------------------------------
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listen, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop:
                try:
                    self._round(sel)
                except Exception as exc:  # noqa: BLE001 - keep serving: drop the connection, note why
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._disconnect(sel)
        finally:
            self._disconnect(sel)
            sel.close()
            with self._cond:
                self._cond.notify_all()

    def _round(self, sel: selectors.BaseSelector) -> None:
        """One round: adopt the fault set, wait for bytes (or a queued release), move them."""
        self._apply(sel)
        timeout = 0.05
        for q in self._queues:
            if q:
                timeout = min(timeout, max(0.0, q[0][0] - time.monotonic()))
        for key, _ in sel.select(timeout):
            if key.data == "wake":
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            elif key.data == "listen":
                self._accept(sel)
            elif key.data == "client":
                self._pump(sel, TO_DEVICE)
            elif key.data == "board":
                self._pump(sel, FROM_DEVICE)
        self._flush(sel)

    def _apply(self, sel: selectors.BaseSelector) -> None:
        """Adopt the fault set asked for; an unplug closes both connections as it starts."""
        with self._cond:
            gen = self._wanted
            unplug = any(f.kind == "unplug" for f in self._active)
        if unplug and not self._unplugged:
            self.stats.unplugs += 1
            self._disconnect(sel)
        self._unplugged = unplug
        if gen != self._applied:
            with self._cond:
                self._applied = gen
                self._cond.notify_all()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            conn, _ = self._listen.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self._unplugged:
            self.stats.refused += 1
            conn.close()
            return
        self._disconnect(sel)  # one client at a time: a new one replaces the old (it reconnected)
        try:
            board = _Upstream(self.upstream_url, self.connect_timeout)
        except OSError as exc:
            self.last_error = f"cannot reach the board at {self.upstream_url}: {exc}"
            conn.close()
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        self._client, self._board = conn, board
        sel.register(conn, selectors.EVENT_READ, "client")
        sel.register(board.fileno(), selectors.EVENT_READ, "board")
        self.stats.connections += 1

    def _disconnect(self, sel: selectors.BaseSelector) -> None:
        for q in self._queues:
            q.clear()
        if self._client is not None:
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(self._client)
            self._client.close()
            self._client = None
        if self._board is not None:
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(self._board.fileno())
            self._board.close()
            self._board = None

    def _pump(self, sel: selectors.BaseSelector, d: int) -> None:
        """Read what waits on one side, pass it through the active faults, queue it for the other."""
        if self._client is None or self._board is None:
            return  # closed earlier in this round of events
        if d == TO_DEVICE:
            try:
                data = self._client.recv(65536) or None
            except (BlockingIOError, InterruptedError):
                data = b""
            except OSError:
                data = None
        else:
            data = self._board.read()
        if data is None:  # one side hung up: so does the other (the next client gets a fresh board link)
            self._disconnect(sel)
            return
        if data:
            data, release = self._break(data, d)
            if data:
                self._queues[d].append((release, data))

    def _break(self, data: bytes, d: int) -> tuple[bytes, float]:
        """The bytes after this direction's faults, and when they may leave."""
        now = time.monotonic()
        faults = [f for f in self._active if d in f.directions]
        if any(f.kind == "silent" for f in faults):
            self.stats.silenced[d] += len(data)
            return b"", now
        buf = np.frombuffer(data, dtype=np.uint8)
        for f in faults:
            if f.kind == "drop":
                keep = self._rng[_RNG_DROP, d].random(buf.size) >= f.param
                self.stats.dropped[d] += int(buf.size - keep.sum())
                buf = buf[keep]
        for f in faults:
            if f.kind == "corrupt" and buf.size:
                hit = self._rng[_RNG_CORRUPT, d].random(buf.size) < f.param
                n = int(hit.sum())
                if n:
                    # 1 + floor(255 v), v in [0, 1): a value in 1..255, so the byte always changes
                    value = (1 + np.floor(255.0 * self._rng[_RNG_VALUE, d].random(n))).astype(np.uint8)
                    buf = buf.copy()
                    buf[hit] ^= value
                    self.stats.corrupted[d] += n
        delay_s = max((f.param for f in faults if f.kind == "delay"), default=0.0) / 1000.0
        if delay_s > 0:
            self.stats.delayed[d] += int(buf.size)
        return buf.tobytes(), now + delay_s

    def _flush(self, sel: selectors.BaseSelector) -> None:
        """Write out queued bytes whose time has come; order within a direction is kept."""
        now = time.monotonic()
        for d, q in enumerate(self._queues):
            while q and q[0][0] <= now:
                _, data = q.popleft()
                if d == TO_DEVICE:
                    ok = self._board is not None and self._board.write(data)
                else:
                    ok = self._client is not None and _send_all(self._client.send, data)
                if not ok:
                    self._disconnect(sel)
                    return
                self.stats.forwarded[d] += len(data)


__all__ = ["FROM_DEVICE", "LINK_KINDS", "TO_DEVICE", "LinkFault", "LinkFaultProxy", "LinkStats", "link_faults_of"]
