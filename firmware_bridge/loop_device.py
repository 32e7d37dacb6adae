"""The network on a board as a loop backend: `DeviceBackend`, and the highest rate a board sustains.

    backend = DeviceBackend("best.snn", "socket://127.0.0.1:5555", deadline_s=0.1)
    # or through the controller factory, as `snnctl hil` builds it:
    backend = load_backend("best.snn@socket://127.0.0.1:5555", 0.1, extensions=[board_extension()])
    backend.reset()
    action = backend.act(obs)        # encode -> STEP over the serial link -> decode

`act` quantises the observation with `SNNController.encode` and de-quantises the board's output
codes with `SNNController.decode`, the very functions the in-process controller uses, so board and
in-process act bit-identically on the same observations (`journal` keeps what is needed to check).

Faults. A step that gets no reply within `deadline_s` raises `BackendTimeout`; a closed or
vanished port raises `BackendDisconnected`. Both leave the backend usable: later calls re-open the
port (at most one attempt per `reconnect_interval_s` of wall time or per `reconnect_every` calls,
whichever comes first, so a loop running faster than real time also retries within a few steps),
say HELLO, re-deploy if the board no longer runs this network (see Uploads), and carry on.

Uploads: the first connection always deploys the network (so a flight starts from a freshly
loaded, reset network whatever ran before); a reconnect skips the upload when the board's NetInfo
still agrees with it on every field (size, the file's own CRC-32 — `snnfile.network_crc` —,
neuron/synapse/input/output counts, arena). A board that lost power comes back empty and is
re-deployed.

Board state after a fault: **reset**. After any fault (timeout, lost link, garbled reply) and at
every `reset()`, the next request the board gets before a STEP is RESET, so the SNN restarts from
its reset state, as the board's own watchdog does after a silence (docs/protocol.md §5). A step
that got no reply may or may not have run on the board (its request or its reply may be what was
lost); resetting removes that doubt, so a replay of the journal is exact. The first answered step
after a fault carries `reset_before` in the journal (and `DeviceAction.restarted`): a loop's monitor
can hold its safe action until the restarted network's outputs are sane again (`sim.monitor` holds
it for `recover_replies` on-time replies after a link fault). The board's watchdog is off unless
`watchdog_ms` > 0: `sim.loop` deliberately does not step the controller while the sensor is
flagged, and the network must then resume from the state it had, as it does in-process. A trip
(with the watchdog on) is reported by the next STEP and journalled as a reset the same way.

Costs: `Action.bytes_out` / `bytes_in` count the bytes actually written to and read from the port
(frames, retries, RESET and reconnect/re-deploy traffic included; bytes of a faulted step are added
to the next answered one, so totals are exact; the first connection and upload are set-up and
billed to no step); spikes and synaptic operations come from the board's STEP counts when it has
the capability.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnctl import snnfile
from snnctl.controllers.loop_backends import Action, Backend, BackendDisconnected, BackendFault, BackendTimeout
from snnctl.heap import heap_frozen

from . import protocol as P
from .device import ConnectionLost, Device, DeviceError, DeviceErrorReply, DeviceTimeout, ProtocolError, _load_network
from .protocol import Capability, MsgType, StepResult

MIN_ATTEMPT_S = 0.002  # a reply is never waited for less than this, even when the deadline is spent


@dataclass
class DeviceAction(Action):
    """An `Action` from a board, with what the board said about the step."""

    restarted: bool = False  # the network was reset (after a fault, an episode start, a watchdog trip)
    board_step: int = -1  # the board's step counter after this step
    cycles: int = 0  # the board's cycle counter difference around the step (0 if it has none)


@dataclass
class Journal:
    """Per `act` call: the observation given, the codes sent, the board's answer (for replays)."""

    obs: list[np.ndarray] = field(default_factory=list)
    codes_in: list[np.ndarray] = field(default_factory=list)
    codes_out: list[np.ndarray] = field(default_factory=list)  # zeros where there was no answer
    answered: list[bool] = field(default_factory=list)
    reset_before: list[bool] = field(default_factory=list)  # board state reset since its last executed step
    board_step: list[int] = field(default_factory=list)  # -1 where there was no answer
    spikes: list[int] = field(default_factory=list)  # the board's counts (-1: not reported)
    synops: list[int] = field(default_factory=list)
    fault: list[str] = field(default_factory=list)  # "" | "timeout" | "disconnected" | "error"

    def __len__(self) -> int:
        return len(self.answered)

    def arrays(self) -> dict[str, np.ndarray]:
        """The journal as arrays (for np.savez); obs (T, n_obs) float64, codes int16."""
        n = len(self)
        return {
            "obs": np.asarray(self.obs, dtype=np.float64).reshape(n, -1),
            "codes_in": np.asarray(self.codes_in, dtype=np.int16).reshape(n, -1),
            "codes_out": np.asarray(self.codes_out, dtype=np.int16).reshape(n, -1),
            "answered": np.asarray(self.answered, dtype=bool),
            "reset_before": np.asarray(self.reset_before, dtype=bool),
            "board_step": np.asarray(self.board_step, dtype=np.int64),
            "spikes": np.asarray(self.spikes, dtype=np.int64),
            "synops": np.asarray(self.synops, dtype=np.int64),
            "fault": np.asarray(self.fault, dtype="U12"),
        }


class _Counter:
    def __init__(self) -> None:
        self.out = 0
        self.inp = 0


class _CountingDevice(Device):
    """A `Device` that counts the bytes it writes to and reads from the port."""

    def __init__(self, counter: _Counter, *args: Any, **kwargs: Any) -> None:
        self.counter = counter  # before Device.__init__: it writes the opening 0x00 (protocol.md §1)
        super().__init__(*args, **kwargs)

    def write_raw(self, data: bytes) -> None:
        super().write_raw(data)
        self.counter.out += len(data)

    def _read_some(self, deadline: float) -> bytes:
        chunk = super()._read_some(deadline)
        self.counter.inp += len(chunk)
        return chunk

    def close(self) -> None:
        # pyserial's socket:// close() sleeps 0.3 s "for quick reconnects": three 10-Hz deadlines
        # lost on every dropped link. Close the socket itself instead.
        ser = self._ser
        sock = getattr(ser, "_socket", None)
        if sock is not None and ser.is_open:
            try:
                sock.close()
            except OSError:
                pass
            ser._socket = None
            ser.is_open = False
            return
        super().close()


class DeviceBackend(Backend):
    """A network running on a board behind `url`, stepped once per `act` (see the module docstring).

    `net`: a Network, a .snn path or .snn bytes. `deadline_s`: how long one `act` waits for the
    board's answer (the loop's control period, typically); it is split over `retries` + 1 attempts,
    re-sending the identical request after each. `watchdog_ms`: the board's watchdog (0 = off). Opening
    the port the first time raises `DeviceError` (ConnectionLost, DeviceTimeout, NetworkTooLarge, ...)
    so that a wrong URL or a network too large for the board is an error, not a fault. `dt`: the loop's
    control period, checked against the network's own (`ControlPeriodError`) unless `force_rate`.
    """

    name = "device"

    def __init__(self, net: Any, url: str, deadline_s: float = 0.1, reconnect: bool = True, *, retries: int = 1,
                 watchdog_ms: int = 0, connect_timeout_s: float = 5.0, reconnect_interval_s: float = 0.25,
                 reconnect_every: int = 5, counts: bool = True, journal: bool = True, dt: float | None = None,
                 force_rate: bool = False) -> None:  # fmt: skip
        from snnctl.controllers.snn import SNNController

        if not (deadline_s > 0 and math.isfinite(deadline_s)):
            raise ValueError(f"deadline_s must be a positive number of seconds, got {deadline_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if not 0 <= watchdog_ms <= 0xFFFF:
            raise ValueError(f"watchdog_ms must be 0..65535, got {watchdog_ms}")
        if reconnect_every < 1:
            raise ValueError(f"reconnect_every must be >= 1, got {reconnect_every}")
        self.net, self.blob = _load_network(net)
        self.blob_crc = snnfile.network_crc(self.blob)
        self.ctl = SNNController(self.net, dt, force_rate)  # encode/decode only: the board runs the network
        self.url = url
        self.deadline_s = float(deadline_s)
        self.reconnect = bool(reconnect)
        self.retries = int(retries)
        self.watchdog_ms = int(watchdog_ms)
        self.connect_timeout_s = float(connect_timeout_s)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.reconnect_every = int(reconnect_every)
        self.counts = bool(counts)
        self.journal: Journal | None = Journal() if journal else None
        self._count = _Counter()
        self._billed = (0, 0)  # byte counters at the last answered step
        self._need_reset = True
        self._reset_done = True  # a reset happened since the board's last executed step
        self._last_attempt = -math.inf
        self._calls_since_attempt = 0
        # what happened, for summaries
        self.uploads = 0  # deploys sent: the first connection's, and a reconnect's to a board that lost the network
        self.reconnects = 0  # successful re-opens after a lost link
        self.faults: dict[str, int] = {"timeout": 0, "disconnected": 0, "error": 0}
        self.watchdog_trips = 0
        self.info: P.Info | None = None
        self.dev: _CountingDevice | None = self._connect(self.connect_timeout_s, first=True)
        self._billed = (self._count.out, self._count.inp)  # the first upload is set-up, not loop traffic

    # -- connection ----------------------------------------------------------------------------
    def _attempt_s(self, remaining: float) -> float:
        return max(MIN_ATTEMPT_S, remaining / (self.retries + 1))

    def _runs_this_network(self, info: P.Info, ni: P.NetInfo) -> bool:
        """NetInfo agrees on every field with this network (size, CRC-32, shape, the arena of the board's layout)."""
        from .memory import arena_bytes_on

        n = self.net
        want = (True, len(self.blob), self.blob_crc, n.n_inputs, n.n_outputs, n.n_neurons, n.n_synapses)
        got = (ni.loaded, ni.blob_bytes, ni.blob_crc32, ni.n_inputs, ni.n_outputs, ni.n_neurons, ni.n_synapses)
        return got == want and ni.arena_used in arena_bytes_on(n, info.name or "")

    def _connect(self, connect_timeout: float, first: bool = False) -> _CountingDevice:
        """Open, HELLO, deploy unless (on a reconnect) the board still runs this network, set the watchdog."""
        dev = _CountingDevice(self._count, self.url, timeout=self._attempt_s(self.deadline_s), retries=self.retries,
                              connect_timeout=connect_timeout)  # fmt: skip
        try:
            info = dev.hello()
            ni = dev.netinfo()
            runs = self._runs_this_network(info, ni)
            if info.has(Capability.NETWORK_IN_FLASH) and not runs:
                raise DeviceError(
                    f"{info.name or self.url} runs another network from flash (crc32 0x{ni.blob_crc32:08x},"
                    f" this one 0x{self.blob_crc:08x}) and takes no uploads"
                )
            if (first or not runs) and not info.has(Capability.NETWORK_IN_FLASH):
                dev.timeout = max(dev.timeout, 0.5)  # uploads are not held to the control deadline
                dev.deploy(self.blob)
                dev.timeout = self._attempt_s(self.deadline_s)
                self.uploads += 1
            if self.watchdog_ms and info.has(Capability.WATCHDOG):
                dev.watchdog(self.watchdog_ms)
        except BaseException:
            dev.close()
            raise
        self.info = info
        self.name = f"device:{info.name}" if info.name else "device"
        self._need_reset = True
        return dev

    def _lost(self) -> None:
        if self.dev is not None:
            self.dev.close()
        self.dev = None
        self._need_reset = True

    def _may_reconnect(self) -> bool:
        now = time.monotonic()
        due = now - self._last_attempt >= self.reconnect_interval_s or self._calls_since_attempt >= self.reconnect_every
        if not due:
            self._calls_since_attempt += 1
            return False
        self._last_attempt = now
        self._calls_since_attempt = 0
        return True

    @property
    def connected(self) -> bool:
        return self.dev is not None

    def __enter__(self) -> DeviceBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Backend -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Episode start: the board's network restarts from reset state (now if the link is up)."""
        self._need_reset = True
        if self.dev is None:
            return
        try:
            self._request(MsgType.RESET, b"", time.monotonic() + self.deadline_s)
            self._need_reset = False
            self._reset_done = True
        except ConnectionLost:
            self._lost()
        except DeviceError:
            pass  # tried again before the next step

    def act(self, obs: np.ndarray) -> DeviceAction:
        end = time.monotonic() + self.deadline_s
        codes = self.ctl.encode(obs).copy()
        if self.dev is None:
            self._reopen(obs, codes, end)
        assert self.dev is not None
        try:
            if self._need_reset:
                self._request(MsgType.RESET, b"", end)
                self._need_reset = False
                self._reset_done = True
            res = self._step(codes, end)
        except DeviceTimeout as exc:
            self._fault(obs, codes, "timeout")
            raise BackendTimeout(f"no reply from the board within {self.deadline_s * 1e3:.1f} ms ({exc})") from None
        except ConnectionLost as exc:
            self._lost()
            self._fault(obs, codes, "disconnected")
            raise BackendDisconnected(str(exc)) from None
        except DeviceErrorReply as exc:
            if exc.code == "NO_NETWORK":  # the board restarted without a network: deploy it again next call
                self._lost()
            self._fault(obs, codes, "error")
            raise BackendFault(f"the board refused the step: {exc}") from None
        except (DeviceError, P.PayloadError) as exc:  # a garbled or unexpected reply
            self._fault(obs, codes, "error")
            raise BackendFault(f"no usable reply from the board: {exc}") from None
        restarted = self._reset_done or res.watchdog_tripped
        self.watchdog_trips += int(res.watchdog_tripped)
        self._reset_done = False
        out = res.outputs.copy()
        self._log(obs, codes, out, True, restarted, res.step, "", res.spikes, res.synops)
        b_out, b_in = self._count.out - self._billed[0], self._count.inp - self._billed[1]
        self._billed = (self._count.out, self._count.inp)
        return DeviceAction(
            self.ctl.decode(out), codes=out, spikes=int(res.spikes or 0), synops=int(res.synops or 0),
            bytes_out=b_out, bytes_in=b_in, restarted=restarted, board_step=res.step, cycles=int(res.cycles or 0),
        )  # fmt: skip

    def close(self) -> None:
        if self.dev is not None:
            self.dev.close()
            self.dev = None

    # -- internals -----------------------------------------------------------------------------
    def _reopen(self, obs: np.ndarray, codes: np.ndarray, end: float) -> None:
        """Re-open a lost link (rate-limited); BackendDisconnected while the board is not back."""
        if not self.reconnect or not self._may_reconnect():
            self._fault(obs, codes, "disconnected")
            why = "reconnect is off" if not self.reconnect else "waiting before the next attempt"
            raise BackendDisconnected(f"no connection to {self.url} ({why})")
        try:
            self.dev = self._connect(max(MIN_ATTEMPT_S, end - time.monotonic()))
        except DeviceError as exc:  # mid-flight even a wrong board must not stop the loop: it holds its safe action
            self._fault(obs, codes, "disconnected")
            raise BackendDisconnected(f"{self.url} is not back yet: {exc}") from None
        self.reconnects += 1

    def _request(self, mtype: MsgType, payload: bytes, end: float) -> P.Packet:
        assert self.dev is not None
        return self.dev.request(mtype, payload, timeout=self._attempt_s(end - time.monotonic()), retries=self.retries)

    def _step(self, codes: np.ndarray, end: float) -> StepResult:
        payload = P.pack_request(MsgType.STEP, P.STEP_FLAG_COUNTS if self.counts else 0, tail=codes)
        res = P.unpack_response(MsgType.STEP, self._request(MsgType.STEP, payload, end).payload)
        if res.outputs.shape != (self.net.n_outputs,):
            raise ProtocolError(f"STEP reply carries {res.outputs.size} outputs, the network has {self.net.n_outputs}")
        return res

    def _fault(self, obs: np.ndarray, codes: np.ndarray, kind: str) -> None:
        self.faults[kind] += 1
        self._need_reset = True
        self._log(obs, codes, np.zeros(self.net.n_outputs, np.int16), False, False, -1, kind)

    def _log(self, obs, codes, out, answered: bool, reset_before: bool, step: int, fault: str,
             spikes: int | None = None, synops: int | None = None) -> None:  # fmt: skip
        j = self.journal
        if j is None:
            return
        j.obs.append(np.asarray(obs, dtype=np.float64).reshape(-1).copy())
        j.codes_in.append(codes.copy())
        j.codes_out.append(out)
        j.answered.append(answered)
        j.reset_before.append(reset_before)
        j.board_step.append(int(step))
        j.spikes.append(-1 if spikes is None else int(spikes))
        j.synops.append(-1 if synops is None else int(synops))
        j.fault.append(fault)


# -- replay ------------------------------------------------------------------------------------


def board_extension(**options: Any):
    """The board's part of the controller factory (`snnctl.controllers.factory.load_backend(extensions=...)`):
    ``NET.snn@URL`` -> a `DeviceBackend` running NET on the board at URL (any pyserial URL).

    NET is the part before the first ``@`` that names an existing file; a spec with none is not the
    board's (None). `options` go to `DeviceBackend` (`deadline_s` defaults to the loop's period `dt`);
    `dt` and `force` are the factory's.
    """
    from pathlib import Path

    def extension(spec: str, dt: float, force: bool) -> DeviceBackend | None:
        at = [i for i, c in enumerate(spec) if c == "@" and Path(spec[:i]).is_file()]
        if not at:
            return None
        net, url = spec[: at[0]], spec[at[0] + 1 :]
        return DeviceBackend(net, url, dt=dt, force_rate=force, **{"deadline_s": dt, **options})

    return extension


@dataclass
class ReplayReport:
    """Board vs in-process on the same observations."""

    steps: int  # answered steps compared
    faulted: int  # steps without an answer (not comparable)
    code_mismatches: int  # steps whose output codes differ
    action_mismatches: int  # steps whose actions differ in any bit
    count_mismatches: int  # steps whose spike or synaptic-operation counts differ (where the board reported them)
    first_mismatch: int | None  # journal index
    inconsistencies: list[str]  # journal entries that break the reset-after-fault rule

    @property
    def identical(self) -> bool:
        bad = self.code_mismatches or self.action_mismatches or self.count_mismatches or self.inconsistencies
        return self.steps > 0 and not bad


def replay(net: Any, log: dict[str, np.ndarray]) -> ReplayReport:
    """Replay a journal (`Journal.arrays()`, or a `snnctl hil --log` file) through the in-process controller.

    For every answered step: reset the controller where the board's state was reset, then compare
    `encode(obs)` with the codes that were sent, the in-process output codes with the board's, the
    decoded actions bit for bit, and the spike and synaptic-operation counts where the board sent
    them. Also checks that the board's step counter advanced by exactly one between answered steps
    with no fault between them (no step ran twice or went missing).
    """
    from snnctl.controllers.snn import SNNController

    net, _ = _load_network(net)
    ctl = SNNController(net)
    obs, cin, cout = log["obs"], log["codes_in"], log["codes_out"]
    answered, reset_before, board_step = log["answered"], log["reset_before"], log["board_step"]
    spikes, synops = log.get("spikes"), log.get("synops")
    steps = faulted = code_mm = act_mm = count_mm = 0
    first: int | None = None
    issues: list[str] = []
    after_fault = False
    prev_step: int | None = None
    for k in range(len(answered)):
        if not answered[k]:
            faulted += 1
            after_fault = True
            prev_step = None
            continue
        if after_fault and not reset_before[k]:
            issues.append(f"step {k}: answered after a fault without a reset before it")
        if prev_step is not None and not reset_before[k] and board_step[k] != prev_step + 1:
            issues.append(f"step {k}: board step counter {board_step[k]} after {prev_step}")
        after_fault = False
        prev_step = int(board_step[k])
        if reset_before[k]:
            ctl.reset()
        codes = ctl.encode(obs[k])
        if not np.array_equal(codes, cin[k]):
            issues.append(f"step {k}: encode(obs) gives {codes.tolist()}, {cin[k].tolist()} was sent")
        u_in = ctl.act(obs[k])
        u_board = ctl.decode(cout[k])
        steps += 1
        c_bad = not np.array_equal(ctl.last_codes, cout[k])
        a_bad = u_in.tobytes() != u_board.tobytes()
        n_bad = (
            spikes is not None
            and spikes[k] >= 0
            and (spikes[k], synops[k]) != (min(ctl.last_spike_count, 0xFFFF), ctl.last_synops)
        )  # the board reports spikes as u16, saturated
        code_mm += c_bad
        act_mm += a_bad
        count_mm += n_bad
        if (c_bad or a_bad or n_bad) and first is None:
            first = k
    return ReplayReport(steps, faulted, code_mm, act_mm, count_mm, first, issues[:20])


# -- the highest control rate a board sustains -------------------------------------------------


@dataclass
class RateTrial:
    rate_hz: float
    steps: int
    misses: int  # steps answered after their period ended (or not at all)
    faults: int  # steps with no answer at all
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float

    @property
    def ok(self) -> bool:
        return self.steps > 0 and self.misses == 0


@dataclass
class RateSearch:
    board: str
    max_rate_hz: float  # the highest rate tried with no deadline miss (0 if none)
    trials: list[RateTrial]
    device_step_us: float | None  # the board's own time per step (its cycle counter), median
    seconds_per_trial: float

    def as_dict(self) -> dict:
        return {
            "board": self.board,
            "max_rate_hz": self.max_rate_hz,
            "device_step_us": self.device_step_us,
            "seconds_per_trial": self.seconds_per_trial,
            "trials": [dict(t.__dict__, ok=t.ok) for t in self.trials],
        }


LADDER_HZ = (10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400)


def _sleep_until(t: float) -> None:
    """Wait until perf_counter() reaches t: sleep most of the way, spin the last millisecond."""
    while True:
        left = t - time.perf_counter()
        if left <= 0:
            return
        if left > 0.0015:
            time.sleep(left - 0.001)


def _trial_obs(ctl: Any, n: int, rate_hz: float) -> np.ndarray:
    """(n, n_obs) observations: slow sines of +-0.5 (metres of error for the blimp), one per input."""
    width = int(ctl.obs_index.max()) + 1 if ctl.obs_index is not None else ctl.net.n_inputs
    t = np.arange(n)[:, None] / rate_hz
    return 0.5 * np.sin(2 * np.pi * 0.2 * t + np.arange(width)[None, :])


def run_rate_trial(backend: DeviceBackend, rate_hz: float, seconds: float, warmup: int | None = None) -> RateTrial:
    """Step the board at `rate_hz` in real time for `seconds`; a step answered after its period is a miss.

    The first `warmup` steps (default: half a second's worth, at most 20) are not scored.
    """
    period = 1.0 / rate_hz
    warmup = min(20, max(1, int(rate_hz * 0.5))) if warmup is None else int(warmup)
    n = max(1, int(round(seconds * rate_hz)))
    obs = _trial_obs(backend.ctl, n + warmup, rate_hz)
    backend.deadline_s = period
    backend.reset()
    lat: list[float] = []
    misses = faults = 0
    with heap_frozen():  # a full collection of the process's heap would be a miss of the host's, not the board's
        t0 = time.perf_counter() + 0.01
        for k in range(n + warmup):
            tick = t0 + k * period
            _sleep_until(tick)
            try:
                backend.act(obs[k])
                done = time.perf_counter()
                late = done - tick > period
            except BackendFault:
                done = time.perf_counter()
                late = True
                faults += k >= warmup
            if k >= warmup:
                lat.append(done - tick)
                misses += late
    ms = np.asarray(lat) * 1e3
    return RateTrial(float(rate_hz), n, int(misses), int(faults), round(float(np.median(ms)), 4),
                     round(float(np.percentile(ms, 99)), 4), round(float(ms.max()), 4))  # fmt: skip


def max_control_rate(
    board: str = "lm3s6965evb",
    net: Any = None,
    seconds: float = 3.0,
    *,
    url: str | None = None,
    ladder: tuple[float, ...] = LADDER_HZ,
    refine: int = 3,
    progress: Any = None,
) -> RateSearch:
    """The highest control rate (Hz) at which `board` answers every step within its period.

    Starts the board's emulator (or uses `url`), deploys `net` (default: the blimp SNN), then steps
    it in real time (encode -> STEP -> decode, as `DeviceBackend.act` in a loop) for `seconds` at
    each rate of `ladder` until one misses a deadline, and bisects (geometrically, `refine` times)
    between the last rate without a miss and the first with one. Wall-clock timing on a shared
    machine: other load can cost a deadline at rates the board would otherwise sustain.
    `progress(trial)` is called after each trial.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if net is None:
        from snnctl.controllers.blimp_snn import default_network

        net = default_network()
    emu = None
    if url is None:
        from .emulators import start_emulator

        emu = start_emulator(board)
        url = emu.url
    try:
        backend = DeviceBackend(net, url, deadline_s=0.1, journal=False, reconnect=False)
        try:
            trials: list[RateTrial] = []

            def trial(rate: float) -> RateTrial:
                tr = run_rate_trial(backend, rate, seconds)
                trials.append(tr)
                if progress is not None:
                    progress(tr)
                return tr

            best, fail = 0.0, None
            for rate in ladder:
                if trial(rate).ok:
                    best = float(rate)
                else:
                    fail = float(rate)
                    break
            if best and fail:
                lo, hi = best, fail
                for _ in range(refine):
                    mid = float(round(math.sqrt(lo * hi)))
                    if mid <= lo or mid >= hi:
                        break
                    if trial(mid).ok:
                        lo = best = mid
                    else:
                        hi = mid
            device_us = _device_step_us(backend)
        finally:
            backend.close()
    finally:
        if emu is not None:
            emu.close()
    return RateSearch(board, best, trials, device_us, float(seconds))


def _device_step_us(backend: DeviceBackend, steps: int = 50) -> float | None:
    """Median of the board's own cycle counter around a step, in microseconds (None without a counter)."""
    info = backend.info
    if info is None or not info.tick_hz or not info.has(Capability.CYCLE_COUNTER):
        return None
    backend.deadline_s = 1.0
    obs = _trial_obs(backend.ctl, steps, 100.0)
    cycles = [backend.act(o).cycles for o in obs]
    return round(1e6 * statistics.median(cycles) / info.tick_hz, 3)


__all__ = [
    "DeviceAction",
    "DeviceBackend",
    "Journal",
    "RateSearch",
    "RateTrial",
    "ReplayReport",
    "max_control_rate",
    "replay",
    "run_rate_trial",
]
