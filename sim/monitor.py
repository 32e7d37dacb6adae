"""Reliability monitor: notices bad sensor data and missing controller replies, and holds a safe action.

The loop (`sim/loop.py`) shows the monitor every sample the controller is about to get
(`check_sample`) and the outcome of every controller call (`check_reply`). The monitor keeps two
flags, one per channel; while either is up the loop applies `safe_action` instead of the
controller's, and while the *sensor* flag is up it does not step the controller at all (it never
sees data the monitor rejected, and resumes from the state it had).

Sensor checks, on each new sample ``z`` at time ``t`` (every entry of a vector sample):

=======  ==============================================================================================
reason   raised when
=======  ==============================================================================================
nan      ``z`` is NaN or infinite (a dropout: the sensor returned nothing usable)
range    ``z`` is outside ``[low, high]``
jump     ``|z - z_ok| > max_rate * (t - t_ok) + jump_margin``, with ``(t_ok, z_ok)`` the last sample
         that passed every check: faster than the plant can move (outliers, glitches, noise bursts)
stuck    ``z`` is bit-identical to the ``stuck_samples - 1`` samples before it. A sensor with noise
         never repeats a float exactly (two equal float32 lidar readings with 1-cm noise: p ~ 3e-6),
         so repeats mean a frozen sensor or driver. Off (0) for a noise-free sensor.
=======  ==============================================================================================

Link checks, on each controller call: ``timeout`` (`BackendTimeout`), ``disconnected``
(`BackendDisconnected`), ``fault`` (any other `BackendFault`), ``late`` (the reply came after the
step's deadline; the loop decides that).

Flags are raised at the sample or reply that shows the fault. With the blimp defaults
(`sim.blimp_loop.blimp_monitor`: 10 Hz, ``max_rate`` 1 m/s, ``jump_margin`` 0.08 m, ``stuck_samples``
3) and a sample every step, counted from the first step of a fault window (`sim.faults`):

=============================  ======================================================================
fault                          flagged
=============================  ======================================================================
dropout (NaN)                  0 steps (its first sample)
spike out of [low, high]       0 steps
spike by >= 0.35 m in range    0 steps (0.35 m exceeds the 0.18-m jump bound plus one step of motion
                               at 0.76 m/s and 5 sigma of noise)
stuck                          1 step (3 identical samples: the last one before the window and two
                               repeats)
noise burst, sigma >= 0.5 m    within 5 steps with probability > 99.5 % (each noisy sample passes the
                               jump bound with p < 0.28; the tests use fixed seeds)
silent, unplug, delay >=       0 steps (the first call without a reply)
timeout
drop / corrupt with prob. p    at the first step whose frames are hit: P = 1 - (1 - p)^46 per step
=============================  ======================================================================

Checked on 200 seeds each with the default blimp: noise bursts were flagged within 3 steps, 0.35-m
spikes, stuck and dropout exactly as stated; 30 clean 120-s flights per policy raised no flag.

A slower sampling policy stretches the sensor rows: the monitor can only judge samples it is given
(send-on-delta sends a stuck sensor's value only at its heartbeat, so stuck takes up to ~3
heartbeats), and the jump bound grows with the time since the last good sample (1 s after it,
1.08 m), so sparse samples hide smaller spikes. NaN and out-of-range readings are still caught at
the first sample that shows them.

Recovery. The sensor flag clears at the ``recover_samples``-th consecutive sample that passes every
check *and* is consistent with the sample just before it (``|z - z_prev| <= max_rate * dt +
jump_margin``; a NaN before it counts as consistent), and that sample already gets the controller's
action. So a single outlier holds the safe action for ``recover_samples + 1`` samples (itself, the
next one, inconsistent with it, and ``recover_samples - 1`` more); after a dropout the flag clears at
the ``recover_samples``-th sane sample (5 at 10 Hz: 0.4 s of safe action after the sensor is back).
Inside a noise burst a run of consistent samples is unlikely (p ~ 0.2 each at sigma 0.5 m), so the
flag mostly holds through it. The link flag clears at the ``recover_replies``-th consecutive on-time
reply. Any bad sample or reply resets the count.

The monitor knows no family: an env declares its own (range, noise margins, safe action) in its
`sim.loop.LoopSpec`; the blimp's is `sim.blimp_loop.blimp_monitor`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

SENSOR_REASONS = ("nan", "range", "jump", "stuck")
LINK_REASONS = ("timeout", "disconnected", "late", "fault")


class ReliabilityMonitor:
    """Two flags (sensor, link) with reasons, a safe action, recovery counters, and flag statistics."""

    def __init__(self, safe_action: Any, *, low: float | None = None, high: float | None = None,
                 max_rate: float | None = None, jump_margin: float = 0.05, stuck_samples: int = 3,
                 recover_samples: int = 5, recover_replies: int = 3) -> None:  # fmt: skip
        self.safe_action = np.atleast_1d(np.asarray(safe_action, dtype=np.float32)).copy()
        if not np.all(np.isfinite(self.safe_action)):
            raise ValueError(f"the safe action must be finite, got {safe_action}")
        if low is not None and high is not None and not low < high:
            raise ValueError(f"need low < high, got low={low}, high={high}")
        if max_rate is not None and not (math.isfinite(max_rate) and max_rate > 0):
            raise ValueError(f"max_rate must be finite and > 0 (or None: no jump check), got {max_rate}")
        if not (math.isfinite(jump_margin) and jump_margin >= 0):
            raise ValueError(f"jump_margin must be finite and >= 0, got {jump_margin}")
        if stuck_samples != 0 and stuck_samples < 2:
            raise ValueError(f"stuck_samples must be 0 (off) or >= 2, got {stuck_samples}")
        for name, v in (("recover_samples", recover_samples), ("recover_replies", recover_replies)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.low, self.high = low, high
        self.max_rate = max_rate
        self.jump_margin = float(jump_margin)
        self.stuck_samples = int(stuck_samples)
        self.recover_samples = int(recover_samples)
        self.recover_replies = int(recover_replies)
        self.reset()

    def reset(self) -> None:
        """Start of an episode: flags down, history and statistics cleared."""
        self.sensor_reason: str | None = None
        self.link_reason: str | None = None
        self._sensor_ok_run = 0
        self._link_ok_run = 0
        self._ok: tuple[float, np.ndarray] | None = None  # last sample that passed every check
        self._prev: tuple[float, np.ndarray] | None = None  # last sample received
        self._same_run = 0
        self.flags: Counter[str] = Counter()  # flag raises per reason
        self.detections: Counter[str] = Counter()  # every bad sample or reply, per reason
        self.events: list[tuple[float, str]] = []  # (time, reason) of each raise, and (time, "clear:<channel>")

    # -- state -------------------------------------------------------------------------------------
    @property
    def flagged(self) -> bool:
        return self.sensor_reason is not None or self.link_reason is not None

    @property
    def sensor_flagged(self) -> bool:
        return self.sensor_reason is not None

    @property
    def reason(self) -> str | None:
        """The reasons of the flags that are up ("jump", "timeout", "jump+timeout"), or None."""
        r = [x for x in (self.sensor_reason, self.link_reason) if x is not None]
        return "+".join(r) if r else None

    def action(self, u: Any) -> np.ndarray:
        """What to apply: the safe action while flagged, else `u`."""
        return self.safe_action.copy() if self.flagged else np.asarray(u, dtype=np.float32)

    # -- checks ------------------------------------------------------------------------------------
    def _step_bound(self, dt: float) -> float:
        return self.max_rate * max(dt, 0.0) + self.jump_margin

    def _classify(self, t: float, z: np.ndarray) -> str | None:
        if not np.all(np.isfinite(z)):
            return "nan"
        if (self.low is not None and np.any(z < self.low)) or (self.high is not None and np.any(z > self.high)):
            return "range"
        if self.max_rate is not None and self._ok is not None:
            t_ok, z_ok = self._ok
            if z.shape != z_ok.shape or np.any(np.abs(z - z_ok) > self._step_bound(t - t_ok)):
                return "jump"
        if self.stuck_samples and self._same_run >= self.stuck_samples:
            return "stuck"
        return None

    def check_sample(self, t: float, z: Any) -> str | None:
        """Judge the sample the controller is about to get; returns the fault reason or None (sane)."""
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        prev = self._prev
        same = prev is not None and prev[1].shape == z.shape and np.array_equal(prev[1], z)
        self._same_run = self._same_run + 1 if same else 1
        bad = self._classify(t, z)
        consistent = True
        if prev is not None and self.max_rate is not None and np.all(np.isfinite(prev[1])):
            consistent = prev[1].shape == z.shape and bool(np.all(np.abs(z - prev[1]) <= self._step_bound(t - prev[0])))
        self._prev = (t, z.copy())
        if bad is not None:
            self.detections[bad] += 1
            self._sensor_ok_run = 0
            if self.sensor_reason is None:
                self.sensor_reason = bad
                self.flags[bad] += 1
                self.events.append((t, bad))
            return bad
        self._ok = (t, z.copy())
        if self.sensor_reason is not None:
            self._sensor_ok_run = self._sensor_ok_run + 1 if consistent else 0
            if self._sensor_ok_run >= self.recover_samples:
                self.sensor_reason = None
                self._sensor_ok_run = 0
                self.events.append((t, "clear:sensor"))
        return None

    def check_reply(self, t: float, fault: str | None) -> str | None:
        """Record a controller call: `fault` is None for an on-time reply, else one of LINK_REASONS."""
        if fault is None:
            if self.link_reason is not None:
                self._link_ok_run += 1
                if self._link_ok_run >= self.recover_replies:
                    self.link_reason = None
                    self._link_ok_run = 0
                    self.events.append((t, "clear:link"))
            return None
        if fault not in LINK_REASONS:
            raise ValueError(f"unknown link fault {fault!r}; one of: {', '.join(LINK_REASONS)}")
        self.detections[fault] += 1
        self._link_ok_run = 0
        if self.link_reason is None:
            self.link_reason = fault
            self.flags[fault] += 1
            self.events.append((t, fault))
        return fault

    def describe(self) -> str:
        rng = f"[{self.low}, {self.high}]" if self.low is not None or self.high is not None else "none"
        return (f"range {rng}, max rate {self.max_rate} per s + {self.jump_margin:.3g}, stuck after "
                f"{self.stuck_samples or 'off'}, recover after {self.recover_samples} samples / "
                f"{self.recover_replies} replies, safe action {self.safe_action.tolist()}")  # fmt: skip
