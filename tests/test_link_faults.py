"""The link-fault proxy (firmware_bridge/link_faults.py) on its own, between two plain TCP ends.

The "board" here is a small TCP server in the test that records what it receives and sends what it
is told, so every byte on both sides is known. Drop and corrupt patterns are recomputed from the
rule the module docstring states (one PCG64 stream per kind and direction, seeded
SeedSequence([seed, kind_index, direction_index])), not by calling the proxy's code.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.link_faults import FROM_DEVICE, TO_DEVICE, LinkFault, LinkFaultProxy, link_faults_of


class Board:
    """A TCP server standing in for the board: records bytes per connection, can send."""

    def __init__(self) -> None:
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.received: list[bytearray] = []
        self.closed: list[bool] = []
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        self.srv.settimeout(0.05)
        while not self._stop:
            try:
                c, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(c)
            self.received.append(bytearray())
            self.closed.append(False)
            threading.Thread(target=self._read, args=(len(self.conns) - 1,), daemon=True).start()

    def _read(self, i: int) -> None:
        c = self.conns[i]
        c.settimeout(0.05)
        while not self._stop:
            try:
                data = c.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self.received[i] += data
        self.closed[i] = True

    def send(self, data: bytes, conn: int = -1) -> None:
        self.conns[conn].sendall(data)

    def close(self) -> None:
        self._stop = True
        self._t.join(1)
        for c in self.conns:
            c.close()
        self.srv.close()


@pytest.fixture
def board():
    b = Board()
    yield b
    b.close()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("socket://").split(":")
    s = socket.create_connection((host, int(port)), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_for(cond, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def recv_exactly(s: socket.socket, n: int, timeout: float = 3.0) -> bytes:
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_for(s: socket.socket, seconds: float) -> bytes:
    """Everything that arrives within `seconds`."""
    end = time.monotonic() + seconds
    buf = bytearray()
    while (left := end - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def stream(seed: int, n: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def gen(seed: int, kind_index: int, direction: int) -> np.random.Generator:
    """The documented stream: PCG64(SeedSequence([seed, kind_index, direction_index]))."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, kind_index, direction])))


def send_chunks(s: socket.socket, data: bytes, sizes: list[int]) -> None:
    off, i = 0, 0
    while off < len(data):
        n = sizes[i % len(sizes)]
        s.sendall(data[off : off + n])
        off += n
        i += 1
        if i % 20 == 0:
            time.sleep(0.001)  # let the proxy read in between: other chunk boundaries


# -- no fault -----------------------------------------------------------------------------------


def test_forwards_bytes_unchanged_both_ways(board):
    up, down = stream(1, 20_000), stream(2, 20_000)
    with LinkFaultProxy(board.url) as proxy:
        c = connect(proxy.url)
        send_chunks(c, up, [1, 7, 300, 4096])
        assert wait_for(lambda: board.received and len(board.received[0]) == len(up))
        assert bytes(board.received[0]) == up
        board.send(down)
        assert recv_exactly(c, len(down)) == down
        c.close()
        assert wait_for(lambda: proxy.stats.forwarded == [len(up), len(down)])
        assert proxy.stats.dropped == proxy.stats.corrupted == [0, 0]


def test_client_closing_closes_the_board_side_and_a_new_client_gets_a_fresh_one(board):
    with LinkFaultProxy(board.url) as proxy:
        c = connect(proxy.url)
        c.sendall(b"first")
        assert wait_for(lambda: board.received and bytes(board.received[0]) == b"first")
        c.close()
        assert wait_for(lambda: board.closed[0])
        c2 = connect(proxy.url)
        c2.sendall(b"second")
        assert wait_for(lambda: len(board.received) == 2 and bytes(board.received[1]) == b"second")
        c2.close()


# -- seeded drop / corrupt ------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [[1], [13, 1, 250], [8192]])
def test_drop_follows_the_documented_seeded_pattern(board, chunks):
    data, p, seed = stream(3, 6000), 0.3, 7
    with LinkFaultProxy(board.url, seed=seed) as proxy:
        proxy.inject("drop", p, direction="to_device")
        c = connect(proxy.url)
        send_chunks(c, data, chunks)
        keep = gen(seed, 0, TO_DEVICE).random(len(data)) >= p
        want = np.frombuffer(data, np.uint8)[keep].tobytes()
        assert wait_for(lambda: board.received and len(board.received[0]) >= len(want))
        assert bytes(board.received[0]) == want  # the same bytes whatever the TCP chunking
        assert proxy.stats.dropped[TO_DEVICE] == len(data) - len(want)
        c.close()
    # the drop rate is p: binomial, n = 6000, 5 standard deviations
    assert abs((len(data) - len(want)) / len(data) - p) < 5 * np.sqrt(p * (1 - p) / len(data))


def test_corrupt_follows_the_documented_seeded_pattern(board):
    data, p, seed = stream(4, 5000), 0.05, 11
    with LinkFaultProxy(board.url, seed=seed) as proxy:
        proxy.inject("corrupt", p, direction="from_device")
        c = connect(proxy.url)
        c.sendall(b"x")  # connects the board side
        assert wait_for(lambda: board.received and bytes(board.received[0]) == b"x")
        board.send(data)
        got = recv_exactly(c, len(data))
        c.close()
    hit = gen(seed, 1, FROM_DEVICE).random(len(data)) < p
    value = (1 + np.floor(255 * gen(seed, 2, FROM_DEVICE).random(int(hit.sum())))).astype(np.uint8)
    want = np.frombuffer(data, np.uint8).copy()
    want[hit] ^= value
    assert got == want.tobytes()
    diff = np.frombuffer(got, np.uint8) != np.frombuffer(data, np.uint8)
    assert np.array_equal(diff, hit)  # every hit byte changed (the XOR value is never 0), no other did
    assert proxy.stats.corrupted[FROM_DEVICE] == int(hit.sum())


@settings(max_examples=15, deadline=None)
@given(p=st.sampled_from([0.0, 1.0]), kind=st.sampled_from(["drop", "corrupt"]), seed=st.integers(0, 2**32 - 1))
def test_probability_zero_changes_nothing_and_one_changes_everything(p, kind, seed):
    board = Board()
    try:
        data = stream(seed % 1000, 500)
        with LinkFaultProxy(board.url, seed=seed) as proxy:
            proxy.inject(kind, p, direction="to_device")
            c = connect(proxy.url)
            c.sendall(data)
            if kind == "drop" and p == 1.0:
                time.sleep(0.1)
                assert not board.received or bytes(board.received[0]) == b""
            else:
                assert wait_for(lambda: board.received and len(board.received[0]) == len(data))
                got = np.frombuffer(bytes(board.received[0]), np.uint8)
                changed = got != np.frombuffer(data, np.uint8)
                assert changed.all() if p == 1.0 else not changed.any()
            c.close()
    finally:
        board.close()


def test_same_seed_same_pattern_other_seed_other_pattern(board):
    data = stream(5, 3000)

    def run(seed: int) -> bytes:
        n = len(board.received)
        with LinkFaultProxy(board.url, seed=seed) as proxy:
            proxy.inject("drop", 0.5, direction="to_device")
            c = connect(proxy.url)
            c.sendall(data)
            st = proxy.stats
            assert wait_for(lambda: st.forwarded[0] + st.dropped[0] == len(data) and len(board.received) == n + 1)
            assert wait_for(lambda: len(board.received[n]) == st.forwarded[0])
            c.close()
            return bytes(board.received[n])

    a, b, other = run(3), run(3), run(4)
    assert a == b and a != other


# -- delay, silent, unplug ------------------------------------------------------------------------


def test_delay_holds_replies_back_and_keeps_their_order(board):
    with LinkFaultProxy(board.url) as proxy:
        c = connect(proxy.url)
        c.sendall(b"hi")
        assert wait_for(lambda: board.received and bytes(board.received[0]) == b"hi")
        proxy.inject("delay", 150.0)  # default direction: replies (from the device)
        t0 = time.monotonic()
        board.send(b"abc")
        board.send(b"def")
        got = recv_exactly(c, 6)
        assert got == b"abcdef"
        assert time.monotonic() - t0 >= 0.15
        # requests are not delayed: the board gets them at once (well before the delay)
        c.sendall(b"req")
        assert wait_for(lambda: bytes(board.received[0]).endswith(b"req"), timeout=0.1)
        proxy.clear()
        c.close()


def test_silent_forwards_nothing_until_it_ends(board):
    with LinkFaultProxy(board.url, faults=[LinkFault("silent", 1.0, 2.0)]) as proxy:
        proxy.set_time(0.5)
        c = connect(proxy.url)
        c.sendall(b"a")
        assert wait_for(lambda: board.received and bytes(board.received[0]) == b"a")
        proxy.set_time(1.0)  # silent from here
        c.sendall(b"lost")
        board.send(b"also lost")
        assert recv_for(c, 0.2) == b""
        assert bytes(board.received[0]) == b"a"
        assert proxy.stats.silenced == [4, 9]
        proxy.set_time(3.0)  # the window [1, 3) is over
        c.sendall(b"b")
        board.send(b"back")
        assert recv_exactly(c, 4) == b"back"
        assert wait_for(lambda: bytes(board.received[0]) == b"ab")
        c.close()


def test_unplug_closes_both_ends_refuses_meanwhile_and_comes_back(board):
    with LinkFaultProxy(board.url, faults=[LinkFault("unplug", 10.0, 5.0)]) as proxy:
        proxy.set_time(0.0)
        c = connect(proxy.url)
        c.sendall(b"1")
        assert wait_for(lambda: board.received and bytes(board.received[0]) == b"1")
        proxy.set_time(10.0)
        assert recv_for(c, 0.5) == b""  # EOF: the cable is out
        assert wait_for(lambda: board.closed[0])
        c.close()
        c2 = connect(proxy.url)  # the port answers, but the connection is closed at once
        assert recv_for(c2, 0.5) == b""
        c2.close()
        assert proxy.stats.refused >= 1 and len(board.received) == 1
        proxy.set_time(15.0)  # plugged back in
        c3 = connect(proxy.url)
        c3.sendall(b"2")
        assert wait_for(lambda: len(board.received) == 2 and bytes(board.received[1]) == b"2")
        board.send(b"ok")
        assert recv_exactly(c3, 2) == b"ok"
        assert proxy.stats.unplugs == 1
        c3.close()


def test_schedule_windows_follow_loop_time(board):
    faults = [LinkFault("drop", 1.0, 1.0, 0.5), LinkFault("delay", 2.0, 0.5, 20)]
    with LinkFaultProxy(board.url, faults=faults) as proxy:
        kinds = []
        for t in (0.0, 0.99, 1.0, 1.5, 2.0, 2.49, 2.5):
            proxy.set_time(t)
            kinds.append(tuple(f.kind for f in proxy.active))
        assert kinds == [(), (), ("drop",), ("drop",), ("delay",), ("delay",), ()]


# -- validation and specs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "melt"}, "unknown link fault"),
        ({"kind": "drop", "param": 1.5}, "probability"),
        ({"kind": "corrupt", "param": -0.1}, "probability"),
        ({"kind": "delay", "param": 70_000}, "delay"),
        ({"kind": "silent", "duration_s": 0}, "duration"),
        ({"kind": "silent", "start_s": -1}, "start"),
        ({"kind": "drop", "param": 0.1, "direction": "sideways"}, "direction"),
    ],
)
def test_bad_faults_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinkFault(**kwargs)


def test_bad_upstream_is_a_clear_error():
    with pytest.raises(ValueError, match="socket://HOST:PORT or a tty path"):
        LinkFaultProxy("rfc2217://localhost:1")
    with pytest.raises(ValueError, match="no such serial device"):
        LinkFaultProxy("/dev/does-not-exist")


def test_link_faults_taken_from_a_fault_spec():
    from sim.faults import parse_faults

    faults = link_faults_of(parse_faults("dropout@1:2,delay@3:1:40,drop@5:1:0.2,unplug@8:2"))
    assert faults == [LinkFault("delay", 3.0, 1.0, 40.0), LinkFault("drop", 5.0, 1.0, 0.2),
                      LinkFault("unplug", 8.0, 2.0, 0.0)]  # fmt: skip
    assert faults[0].directions == (FROM_DEVICE,) and faults[1].directions == (TO_DEVICE, FROM_DEVICE)
