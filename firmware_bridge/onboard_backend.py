"""The network running on board as a loop backend: the plant feeds samples, the board's clock steps.

    backend = OnboardBackend("best.snn", "socket://127.0.0.1:5555", dt=0.1)
    backend.reset()
    action = backend.act(obs)   # SENSOR(encode(obs)) -> wait for the period that used it -> decode

This is `snnctl hil --onboard` (docs/protocol.md §8). Unlike `loop_device.DeviceBackend`, which
sends one STEP per control step (the host's clock drives), the board here runs its own loop
(START, telemetry every period): `act` only hands the plant's latest observation to the board as a
SENSOR frame and waits for the TELEMETRY of the first period that stepped on it; its outputs are the
action. The board's timer paces the flight, so the loop runs un-paced on the host (a plant step is
much shorter than a period) and the host is never the clock.

A sample that misses the next period boundary (the host was late) is not lost: the board steps on
the held previous sample in that period (a *held period*, counted here and in STATS as a missing
sample) and uses the new one in the next. Every period the board stepped is kept in `frames`
(inputs, outputs, flags), so `replay()` checks the board bit for bit against the in-process network
whatever the timing was. `sensor_cut=(start_s, duration_s)` withholds the samples of that stretch of
flight time: the board holds the last one for `stale_limit` − 1 periods, then its fail-safe, until
samples return.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from snnctl.controllers.loop_backends import Action, Backend, BackendDisconnected, BackendTimeout

from .device import DEFAULT_STALE_LIMIT, ConnectionLost, DeviceError, _load_network
from .loop_device import _Counter, _CountingDevice
from .protocol import Capability, Info, Stats, Telemetry

COUNTERS = ("run_periods", "steps", "missed_deadlines", "missing_samples", "failsafe_entries", "sensor_samples")


@dataclass
class OnboardReplay:
    """The board's stepped periods against the in-process network on the same input codes."""

    periods: int  # stepped periods compared
    mismatches: int  # periods whose output codes differ
    first_mismatch: int | None  # index into the stepped periods, None if identical

    @property
    def identical(self) -> bool:
        return self.mismatches == 0


class OnboardBackend(Backend):
    """`net` (Network, .snn path or bytes) deployed at `url` and run on board at the loop's period `dt`."""

    name = "onboard"

    def __init__(self, net, url: str, dt: float, *, stale_limit: int = DEFAULT_STALE_LIMIT, force_rate: bool = False,
                 sensor_cut: tuple[float, float] | None = None, connect_timeout_s: float = 5.0) -> None:  # fmt: skip
        from snnctl.controllers.snn import SNNController

        self.net, self.blob = _load_network(net)
        self.ctl = SNNController(self.net, dt, force_rate)  # encode/decode only: the board runs the network
        self.dt = float(dt)
        self.period_us = round(self.dt * 1e6)
        self.stale_limit = int(stale_limit)
        self.sensor_cut = sensor_cut
        self.wait_s = max(1.0, (self.stale_limit + 5) * self.dt)  # a running board sends a frame every period
        self._count = _Counter()
        self.dev = _CountingDevice(self._count, url, timeout=max(0.5, 2 * self.dt), retries=2,
                                   connect_timeout=connect_timeout_s)  # fmt: skip
        try:
            self.info: Info = self.dev.hello()
            need = Capability.ONBOARD | Capability.SENSOR | Capability.TELEMETRY
            if self.info.capabilities & need != need:
                raise DeviceError(f"{self.info.name or url} has no on-board loop with a sensor channel and telemetry"
                                  " (protocol 2 START / SENSOR / TELEMETRY); flash the current firmware")  # fmt: skip
            self.dev.stop()  # whatever ran before
            self.dev.deploy(self.blob)
        except BaseException:
            self.dev.close()
            raise
        self.name = f"onboard:{self.info.name}" if self.info.name else "onboard"
        self.frames: list[Telemetry] = []  # every period the board reported, every flight, in order
        self.arrivals: list[float] = []  # time.monotonic() when each frame was read
        self.flight_starts: list[int] = []  # index into frames where each flight's START began
        self.held_periods = 0  # periods that stepped on an older sample while a newer one was on its way
        self.late_samples = 0  # samples that missed at least one period boundary
        self.cut_steps = 0  # control steps whose sample was withheld (sensor_cut)
        self.tail_periods = 0  # periods the board ran on after a flight's last sample, before the STOP
        self._stats0: Stats = self.dev.stats()
        self._running = False
        self._k = 0
        self._billed = (self._count.out, self._count.inp)  # the upload is set-up, not loop traffic

    def reset(self) -> None:
        """A new flight: the loop stops; the next `act` sends its sample and STARTs (network from reset)."""
        self._stop()
        self._k = 0

    def _stop(self) -> None:
        if self._running:
            self.dev.stop()
            while (tm := self.dev.read_telemetry(0.05)) is not None:
                self._keep(tm)  # periods that ran before the STOP took effect
                self.tail_periods += not tm.fresh
            self._running = False

    def act(self, obs: np.ndarray) -> Action:
        codes = self.ctl.encode(np.asarray(obs, dtype=np.float64))
        t = self._k * self.dt
        self._k += 1
        cut = self.sensor_cut is not None and self.sensor_cut[0] <= t < self.sensor_cut[0] + self.sensor_cut[1]
        try:
            seq = None
            if cut:
                self.cut_steps += 1
            else:
                seq = self.dev.send_sensor(codes)
            if not self._running:
                self.flight_starts.append(len(self.frames))
                self.dev.start(self.period_us, telemetry_every=1, stale_limit=self.stale_limit)
                self._running = True
            held = 0
            while True:
                tm = self.dev.read_telemetry(self.wait_s)
                if tm is None:
                    raise BackendTimeout(f"no telemetry from {self.dev.url} for {self.wait_s:g} s")
                self._keep(tm)
                if seq is None or (tm.fresh and tm.sample_seq == seq):
                    break
                held += 1  # a period boundary passed before this sample arrived
        except ConnectionLost as e:
            self._running = False
            raise BackendDisconnected(str(e)) from None
        except DeviceError as e:
            raise BackendTimeout(str(e)) from None
        self.held_periods += held
        self.late_samples += held > 0
        out, inp = self._count.out - self._billed[0], self._count.inp - self._billed[1]
        self._billed = (self._count.out, self._count.inp)
        return Action(self.ctl.decode(tm.outputs), tm.outputs.copy(), tm.spikes, 0, out, inp)

    def _keep(self, tm: Telemetry) -> None:
        self.frames.append(tm)
        self.arrivals.append(time.monotonic())

    def telemetry_log(self):
        """The frames as a `firmware_bridge.telemetry.TelemetryLog` (CSV, figure)."""
        from .telemetry import TelemetryLog

        log = TelemetryLog(self.period_us, self.info.tick_hz)
        for tm, t in zip(self.frames, self.arrivals, strict=True):
            log.add(tm, now=t)
        return log

    def counters(self) -> dict[str, int]:
        """The board's on-board counters since this backend connected (STATS differences)."""
        st = self.dev.stats()
        return {k: getattr(st, k) - getattr(self._stats0, k) for k in COUNTERS}

    def replay(self) -> OnboardReplay:
        """Every stepped period against `snnctl.runtime.Stepper` on the codes the board reports, from
        reset at each START and at each fail-safe entry (docs/protocol.md §8)."""
        from snnctl.runtime import Stepper

        stepper = Stepper(self.net)
        starts = set(self.flight_starts)
        n = mismatches = 0
        first = None
        failsafe = False
        for i, f in enumerate(self.frames):
            if i in starts or (f.failsafe and not failsafe):
                stepper.reset()
            failsafe = f.failsafe
            if not f.stepped:
                continue
            if not np.array_equal(stepper.step(f.inputs), f.outputs):
                mismatches += 1
                first = n if first is None else first
            n += 1
        return OnboardReplay(n, mismatches, first)

    def close(self) -> None:
        try:
            self._stop()
        except DeviceError:
            pass
        self.dev.close()
