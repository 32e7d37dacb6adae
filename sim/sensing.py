"""Sensing policies: at each control step, is a new sensor sample taken, or does the controller keep the last one?

Sensing costs energy, bus time and radio bytes; a controller that is holding an altitude does not
need a fresh lidar sample ten times a second. A policy decides per control step; when it takes no
sample the loop hands the controller the last sample again (sample and hold), so the controller
itself still runs at the control rate.

The loop calls ``decide(ctx, read)`` once per step. ``read()`` reads the sensor (faults applied) and
returns the reading; a policy calls it only when it needs the value, so ``reads`` counts sensor
readings and ``samples`` the readings the controller was given. The policies:

``FixedRate(every_k)``
    a sample at steps 0, every_k, 2 every_k, ... (``every_k = 1``: every step, the 10-Hz baseline).
``SendOnDelta(delta, max_interval_steps)``
    event-driven: the *sensor node* reads every step and sends a sample only when it differs from the
    last one sent by more than ``delta`` (any entry), or ``max_interval_steps`` have passed since it
    (a heartbeat, so that a silent sensor is told from a still world), or its validity changed (a
    NaN reading after finite ones, or back: a node reports its own failure at once). Only the samples
    sent are used and counted in ``samples``; ``reads`` = steps.
``ActionToSensing(min_interval, max_interval, gain, signal)``
    the controller's state sets the next sensing interval:
    ``interval = clip(floor(max_interval / (1 + gain * s)), min_interval, max_interval)`` steps, where
    ``s`` is ``|error|`` (``signal="error"``: reference minus the last sample, as the controller sees
    it now — a reference step shortens the interval at once) or ``|u - u_at_last_sample|``
    (``signal="activity"``: how far the controller's output has moved since the last sample). A
    sample is taken when at least ``interval`` steps have passed since the last one.

Every policy samples at step 0, and at every step while the monitor's sensor flag is up
(``ctx.flagged``: the monitor needs fresh samples to see the sensor recover; a send-on-delta node is
polled), and has ``reset()``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class SenseContext:
    """What a policy may look at when deciding (step k; the controller's view after step k - 1)."""

    k: int
    error: float | None = None  # reference minus the held sample, now (None: the env has no such notion)
    action: np.ndarray | None = None  # the last action applied (None before the first)
    flagged: bool = False  # the monitor's sensor flag is up: it needs samples to recover, take one


class SensingPolicy(ABC):
    name: str = "policy"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start of an episode: forget the last sample, zero the counters."""
        self.samples = 0  # samples given to the controller
        self.reads = 0  # sensor readings taken (>= samples for send-on-delta)
        self.last_k: int | None = None  # step of the last sample

    def _read(self, read: Callable[[], np.ndarray]) -> np.ndarray:
        self.reads += 1
        return np.asarray(read(), dtype=np.float64).reshape(-1)

    def _take(self, k: int, z: np.ndarray) -> np.ndarray:
        self.samples += 1
        self.last_k = k
        return z

    @abstractmethod
    def decide(self, ctx: SenseContext, read: Callable[[], np.ndarray]) -> np.ndarray | None:
        """The sample the controller gets at step ``ctx.k``, or None to keep the last one."""

    def describe(self) -> str:
        return self.name


class FixedRate(SensingPolicy):
    """A sample every ``every_k`` control steps."""

    name = "fixed"

    def __init__(self, every_k: int = 1) -> None:
        if int(every_k) != every_k or every_k < 1:
            raise ValueError(f"every_k must be an integer >= 1, got {every_k}")
        self.every_k = int(every_k)
        super().__init__()

    def decide(self, ctx: SenseContext, read: Callable[[], np.ndarray]) -> np.ndarray | None:
        if ctx.flagged or self.last_k is None or ctx.k - self.last_k >= self.every_k:
            return self._take(ctx.k, self._read(read))
        return None

    def describe(self) -> str:
        return f"fixed (every {self.every_k} step{'s' if self.every_k > 1 else ''})"


class SendOnDelta(SensingPolicy):
    """Event-driven: a sample is sent when it moved by more than ``delta`` or the heartbeat is due."""

    name = "delta"

    def __init__(self, delta: float, max_interval_steps: int = 10) -> None:
        if not (math.isfinite(delta) and delta >= 0):
            raise ValueError(f"delta must be finite and >= 0, got {delta}")
        if int(max_interval_steps) != max_interval_steps or max_interval_steps < 1:
            raise ValueError(f"max_interval_steps must be an integer >= 1, got {max_interval_steps}")
        self.delta = float(delta)
        self.max_interval_steps = int(max_interval_steps)
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._sent: np.ndarray | None = None

    def decide(self, ctx: SenseContext, read: Callable[[], np.ndarray]) -> np.ndarray | None:
        z = self._read(read)  # the node must read to know whether the signal moved
        send = ctx.flagged or self._sent is None or ctx.k - self.last_k >= self.max_interval_steps
        if not send:
            ok, ok_sent = np.isfinite(z), np.isfinite(self._sent)
            if z.shape != self._sent.shape or np.any(ok != ok_sent):
                send = True  # validity changed: report it at once
            else:
                send = bool(np.any(np.abs(z[ok] - self._sent[ok]) > self.delta))
        if send:
            self._sent = z.copy()
            return self._take(ctx.k, z)
        return None

    def describe(self) -> str:
        return f"send-on-delta (delta {self.delta:g}, heartbeat every {self.max_interval_steps} steps)"


class ActionToSensing(SensingPolicy):
    """The controller's error (or output activity) sets the next sensing interval within bounds."""

    name = "adaptive"

    def __init__(self, min_interval: int = 1, max_interval: int = 10, gain: float = 10.0,
                 signal: str = "error") -> None:  # fmt: skip
        for name, v in (("min_interval", min_interval), ("max_interval", max_interval)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v}")
        if min_interval > max_interval:
            raise ValueError(f"need min_interval <= max_interval, got {min_interval} > {max_interval}")
        if not (math.isfinite(gain) and gain >= 0):
            raise ValueError(f"gain must be finite and >= 0, got {gain}")
        if signal not in ("error", "activity"):
            raise ValueError(f"signal must be 'error' or 'activity', got {signal!r}")
        self.min_interval, self.max_interval = int(min_interval), int(max_interval)
        self.gain = float(gain)
        self.signal = signal
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._u_at_sample: np.ndarray | None = None

    def interval(self, ctx: SenseContext) -> int:
        """Steps to wait after the last sample, from the controller's state now."""
        if self.signal == "error":
            if ctx.error is None:
                raise ValueError("adaptive sensing on the error needs an env whose error the loop knows "
                                 "(a sensor layout with `error`); use signal='activity'")  # fmt: skip
            s = abs(ctx.error)
        else:
            if ctx.action is None or self._u_at_sample is None:
                s = 0.0
            else:
                s = float(np.max(np.abs(np.asarray(ctx.action, np.float64) - self._u_at_sample)))
        if not math.isfinite(s):
            return self.min_interval  # a broken view of the world: look again as soon as allowed
        return int(min(max(math.floor(self.max_interval / (1.0 + self.gain * s)), self.min_interval),
                       self.max_interval))  # fmt: skip

    def decide(self, ctx: SenseContext, read: Callable[[], np.ndarray]) -> np.ndarray | None:
        if ctx.flagged or self.last_k is None or ctx.k - self.last_k >= self.interval(ctx):
            if ctx.action is not None:
                self._u_at_sample = np.asarray(ctx.action, np.float64).copy()
            return self._take(ctx.k, self._read(read))
        return None

    def describe(self) -> str:
        return (f"action-to-sensing ({self.signal}: interval {self.min_interval}..{self.max_interval} steps, "
                f"gain {self.gain:g})")  # fmt: skip


POLICIES = ("fixed", "delta", "adaptive")


def make_sensing(name: str, defaults: Mapping[str, Mapping[str, Any]] | None = None, **overrides: Any) -> SensingPolicy:
    """``"fixed" | "delta" | "adaptive"`` with ``defaults[name]`` (what an env declares in its
    `sim.loop.LoopSpec.sensing`, e.g. the blimp's tuned ones in `sim.blimp_loop`); keyword arguments
    override them."""
    if name not in POLICIES:
        raise ValueError(f"unknown sensing policy {name!r}; one of: {', '.join(POLICIES)}")
    kw = {**(defaults or {}).get(name, {}), **overrides}
    if name == "fixed":
        return FixedRate(**kw)
    if name == "delta":
        if "delta" not in kw:
            raise ValueError("send-on-delta needs delta (the env declares no default; give delta=...)")
        return SendOnDelta(**kw)
    return ActionToSensing(**kw)
