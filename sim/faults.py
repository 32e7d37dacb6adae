"""Fault injection for sensing-to-action loops: a spec string, sensor faults, and link faults in-process.

A fault spec (`snnctl run --faults SPEC`, `snnctl hil --faults SPEC`) is a comma-separated list of
``kind@start:duration[:param]`` (seconds of loop time; a fault is active while
``start <= t < start + duration``), e.g. ``dropout@30:5,stuck@60:10,noise@90:5:0.5``.

Sensor faults change what the sensor returns (applied here, `SensorFaults`):

==========  ===========  =========================================================================
kind        param        what the sensor returns while active
==========  ===========  =========================================================================
dropout     -            NaN: no reading (a sensor node forwards "invalid" at once, see sim/sensing)
stuck       -            the last value it returned before the window, again and again
noise       sigma (m)    the reading plus Gaussian noise of standard deviation sigma (a burst)
spike       offset (m)   the reading plus offset (a glitch; a short window gives one bad sample)
==========  ===========  =========================================================================

Link faults break the controller's link (a serial line to a board). On a real link they are made
by `firmware_bridge.link_faults.LinkFaultProxy` (hardware in the loop); in-process `FaultyBackend`
models what the host then sees, so an in-process run covers every kind too:

==========  ===========  =========================================================================
kind        param        in-process model (`FaultyBackend`)
==========  ===========  =========================================================================
delay       ms           replies come ``ms`` late: slept when shorter than the reply timeout,
                         else `BackendTimeout` (the host gives up at its timeout)
drop        p (0..1)     each byte of the step's request + reply is lost with probability p: the
                         step fails (`BackendTimeout`) with probability 1 - (1 - p)^frame_bytes
corrupt     p (0..1)     each byte is corrupted with probability p: the CRC rejects the frame, so
                         the same failure probability as drop (`BackendTimeout`)
silent      -            the device does not answer (`BackendTimeout`)
unplug      -            the connection is closed (`BackendDisconnected`); when the window ends the
                         link is back and the controller answers again, with the state it had
==========  ===========  =========================================================================

A step that fails on the link never reaches the controller (the request is what is lost), so the
in-process controller is not stepped in it; the next step that gets through first resets the
controller, as the board backend (`firmware_bridge.loop_device.DeviceBackend`) sends RESET before
its next STEP after any fault, so the network restarts from its reset state in both. Randomness
(noise, drop/corrupt draws) is seeded: the same spec and seed give the same run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from snnctl.controllers.loop_backends import Action, Backend, BackendDisconnected, BackendTimeout

SENSOR_KINDS = ("dropout", "stuck", "noise", "spike")
LINK_KINDS = ("delay", "drop", "corrupt", "silent", "unplug")
KINDS = SENSOR_KINDS + LINK_KINDS
PARAM = {"noise": "sigma_m", "spike": "offset_m", "delay": "ms", "drop": "p", "corrupt": "p"}
"""Kinds that take a parameter, and what it is; the others take none."""

DEFAULT_FRAME_BYTES = 46
"""Bytes on the wire for one step of a 1-input, 2-output network (the blimp's) on a board: STEP request
(flags + 1 int16 code: 15 B framed) plus its reply (step, status, 2 int16 outputs, spike/synop/cycle
counts: 31 B framed); see `firmware_bridge.protocol`. Used for the drop/corrupt failure probability."""


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the bad token and what is allowed."""


@dataclass(frozen=True)
class FaultSpec:
    """One fault: `kind` active while ``start_s <= t < start_s + duration_s`` (loop time), with `param`."""

    kind: str
    start_s: float
    duration_s: float
    param: float | None = None

    def __post_init__(self) -> None:
        where = self.kind
        if self.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise FaultSpecError(f"{where}: start must be a finite time >= 0 s, got {self.start_s}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise FaultSpecError(f"{where}: duration must be a finite time > 0 s, got {self.duration_s}")
        name = PARAM.get(self.kind)
        if name is None:
            if self.param is not None:
                raise FaultSpecError(f"{where} takes no parameter, got {self.param}")
            return
        p = self.param
        if p is None or not math.isfinite(p):
            raise FaultSpecError(f"{where} needs a finite parameter ({name}), got {p}")
        if self.kind == "noise" and not p > 0:
            raise FaultSpecError(f"{where}: sigma must be > 0 m, got {p}")
        if self.kind == "spike" and p == 0:
            raise FaultSpecError(f"{where}: the offset must not be 0 m")
        if self.kind == "delay" and not 0 <= p <= 60_000:
            raise FaultSpecError(f"{where}: the delay must be 0..60000 ms, got {p}")
        if self.kind in ("drop", "corrupt") and not 0 <= p <= 1:
            raise FaultSpecError(f"{where}: the probability must be in 0..1, got {p}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def is_sensor(self) -> bool:
        return self.kind in SENSOR_KINDS

    def active_at(self, t: float) -> bool:
        return self.start_s <= t < self.end_s

    def __str__(self) -> str:
        # repr(float) is the shortest string that reads back to the same float: parse(str(f)) == f
        parts = [repr(float(self.start_s)), repr(float(self.duration_s))]
        if self.param is not None:
            parts.append(repr(float(self.param)))
        return f"{self.kind}@{':'.join(parts)}"


_USAGE = "expected kind@start:duration[:param], e.g. 'dropout@30:5' or 'noise@90:5:0.5'"


def _number(text: str, token: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FaultSpecError(f"fault {token!r}: {what} {text!r} is not a number ({_USAGE})") from None


def parse_fault(token: str) -> FaultSpec:
    """One ``kind@start:duration[:param]`` token."""
    token = token.strip()
    kind, at, rest = token.partition("@")
    kind = kind.strip().lower()
    if not at:
        raise FaultSpecError(f"fault {token!r}: no '@' ({_USAGE}); kinds: {', '.join(KINDS)}")
    if kind not in KINDS:
        raise FaultSpecError(f"fault {token!r}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    fields = rest.split(":")
    name = PARAM.get(kind)
    want = 3 if name else 2
    if len(fields) != want:
        form = f"{kind}@start:duration" + (f":{name}" if name else "")
        raise FaultSpecError(f"fault {token!r}: {kind} takes {want} numbers ({form})")
    start = _number(fields[0].strip(), token, "start")
    duration = _number(fields[1].strip(), token, "duration")
    param = _number(fields[2].strip(), token, name) if name else None
    try:
        return FaultSpec(kind, start, duration, param)
    except FaultSpecError as e:
        raise FaultSpecError(f"fault {token!r}: {e}") from None


def parse_faults(spec: str | None) -> list[FaultSpec]:
    """A comma-separated spec -> faults in the order given; None or blank -> no faults."""
    if spec is None or not spec.strip():
        return []
    tokens = spec.split(",")
    if any(not t.strip() for t in tokens):
        raise FaultSpecError(f"fault spec {spec!r} has an empty entry (stray comma?)")
    return [parse_fault(t) for t in tokens]


def format_faults(faults: Iterable[FaultSpec]) -> str:
    """The spec string of `faults` (`parse_faults(format_faults(f)) == f`)."""
    return ",".join(str(f) for f in faults)


def _rng(seed: int, k: int, salt: int) -> np.random.Generator:
    """A generator for step k: draws do not depend on which steps were read before."""
    return np.random.default_rng([seed, salt, k])


class SensorFaults:
    """Applies the sensor faults of a list to readings; call `apply` only on steps the sensor is read."""

    def __init__(self, faults: Iterable[FaultSpec], seed: int = 0) -> None:
        self.faults = [f for f in faults if f.is_sensor]
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        self._last: np.ndarray | None = None  # the last value returned (what "stuck" repeats)
        self._stuck: dict[int, np.ndarray] = {}  # per stuck fault (index): its frozen value

    def active(self, t: float) -> list[FaultSpec]:
        return [f for f in self.faults if f.active_at(t)]

    def apply(self, k: int, t: float, reading: np.ndarray) -> np.ndarray:
        """The reading the sensor returns at step k (time t), faults applied; float64 copy."""
        z = np.array(reading, dtype=np.float64, copy=True).reshape(-1)
        # order: additive faults (spike, noise), then stuck (freezes the output), then dropout (NaN wins)
        for i, f in enumerate(self.faults):
            if not f.active_at(t):
                self._stuck.pop(i, None)
                continue
            if f.kind == "spike":
                z += f.param
            elif f.kind == "noise":
                z += _rng(self.seed, k, 1 + i).normal(0.0, f.param, z.shape)
        for i, f in enumerate(self.faults):
            if f.kind == "stuck" and f.active_at(t):
                if i not in self._stuck:
                    self._stuck[i] = (self._last if self._last is not None else z).copy()
                z = self._stuck[i].copy()
        if any(f.kind == "dropout" and f.active_at(t) for f in self.faults):
            z[:] = np.nan
        self._last = z.copy()
        return z


class FaultyBackend(Backend):
    """Wraps a backend; inside link-fault windows it fails as a board behind a broken link would.

    `clock()` returns the loop time (s). `timeout_s` is the host's reply timeout (the loop's deadline,
    or its control period): a delay at or beyond it is a timeout. `frame_bytes` is the size of one
    step's request plus reply on the wire (drop/corrupt probabilities act per byte).
    """

    def __init__(self, inner: Backend, faults: Iterable[FaultSpec], clock: Callable[[], float], timeout_s: float,
                 seed: int = 0, frame_bytes: int = DEFAULT_FRAME_BYTES) -> None:  # fmt: skip
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if frame_bytes < 1:
            raise ValueError(f"frame_bytes must be >= 1, got {frame_bytes}")
        self.inner = inner
        self.name = inner.name
        self.faults = [f for f in faults if not f.is_sensor]
        self.clock = clock
        self.timeout_s = float(timeout_s)
        self.seed = int(seed)
        self.frame_bytes = int(frame_bytes)
        self._rng = np.random.default_rng([self.seed, 99])
        self._faulted = False

    def reset(self) -> None:
        self._rng = np.random.default_rng([self.seed, 99])
        self._faulted = False
        self.inner.reset()

    def act(self, obs: np.ndarray) -> Action:
        try:
            action = self._act(obs)
        except (BackendTimeout, BackendDisconnected):
            self._faulted = True
            raise
        return action

    def _act(self, obs: np.ndarray) -> Action:
        t = self.clock()
        delay_s = 0.0
        for f in self.faults:
            if not f.active_at(t):
                continue
            if f.kind == "unplug":
                raise BackendDisconnected(f"link unplugged (fault {f})")
            if f.kind == "silent":
                raise BackendTimeout(f"no reply: the device is silent (fault {f})")
            if f.kind in ("drop", "corrupt"):
                # P(every byte of request + reply survives) = (1 - p)^n; one uniform draw per step
                if self._rng.random() >= (1.0 - f.param) ** self.frame_bytes:
                    what = "lost" if f.kind == "drop" else "failed its CRC"
                    raise BackendTimeout(f"no reply: a frame {what} (fault {f})")
            if f.kind == "delay":
                delay_s = max(delay_s, f.param / 1000.0)
        if delay_s >= self.timeout_s:
            late = f"replies are {delay_s * 1000:g} ms late"
            raise BackendTimeout(f"no reply within {self.timeout_s * 1000:g} ms: {late}")
        if self._faulted:  # the board backend resets its network before the first STEP after a fault
            self.inner.reset()
            self._faulted = False
        action = self.inner.act(obs)
        if delay_s > 0:
            time.sleep(delay_s)
        return action

    def close(self) -> None:
        self.inner.close()
