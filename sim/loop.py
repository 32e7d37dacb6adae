"""The sensing-to-action loop: sense -> monitor -> controller (any backend) -> act, one control step at a time.

Follows "Intelligent Sensing-to-Action for Robust Autonomy at the Edge" (2025): the same loop runs
whether the controller is in-process (integer network, float reference, PID) or on a board at the
other end of a serial line (`firmware_bridge.loop_device.DeviceBackend`), decides how often to sense
(`sim.sensing`), notices bad data and missing replies and holds a safe action (`sim.monitor`), takes
injected faults (`sim.faults`), and counts what every decision costs.

One control step ``k`` (``LoopRunner.run``):

1. ``on_step(k, t)`` if given (hardware in the loop: tell a fault proxy the loop time).
2. The sensing policy decides whether the sensor is read and a new sample used; sensor faults apply
   to each reading.
3. A new sample goes to the monitor; a sane one becomes the *held* sample.
4. Unless the monitor's sensor flag is up, the backend is called on the env's observation with the
   sensor entries replaced by the held sample (entries derived from them recomputed). A
   `BackendFault`, or a reply after the step's deadline, goes to the monitor as a link fault.
5. The action applied is the controller's, or the monitor's safe action while any flag is up.
6. The env steps; with ``realtime=True`` the loop then sleeps until the next tick.

What the loop knows of the env is what the env declares in a ``loop_spec`` attribute (`LoopSpec`:
sensor layout, monitor with its safe action and noise margins, sensing defaults, task metrics; the
blimp's is `sim.blimp_loop.BLIMP_LOOP`); the loop itself knows no family. Which observation entries
are the sensor (`SensorLayout`): given as ``sensor_index``, else the spec's layout (the blimp: entry 0,
the lidar; entry 2, the error, is recomputed from the reference and the held sample), else every entry.

Timing. Latency is sense-to-act: `time.perf_counter` from before the sensing decision to the
controller's reply. The deadline of a step is ``deadline_s`` after its start (its scheduled tick
when ``realtime``); ``deadline_s=None`` means the control period when ``realtime``, and no deadline
otherwise (an in-process run that is not paced has no wall-clock contract, and its results must not
depend on machine load). A reply after the deadline is a miss: counted, flagged ``late``, and the safe
action is applied in that step. In-process link faults (`sim.faults.FaultyBackend`) use the deadline,
or the control period, as the host's reply timeout. An episode runs with the heap that existed
before it frozen (`snnctl.heap.heap_frozen`), so a full collection of a large process cannot stall a step.

Defaults from the spec: a sensing policy given by name is `sim.sensing.make_sensing` with the spec's
defaults; the monitor is the spec's (blimp: safe action u = 1.0, a gentle descent), else one that
flags only NaN/inf readings with a zero safe action. Every step is a `LoopRecord`;
`LoopResult.summary()` gives the spec's task metrics (blimp: `sim.blimp_metrics.flight_metrics`), samples, bytes,
spikes and synops per second, deadline misses, latency percentiles, flags per reason and, for each
injected fault, the steps from its start to the monitor's flag.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.faults import DEFAULT_FRAME_BYTES, FaultSpec, FaultyBackend, SensorFaults, parse_faults
from sim.monitor import ReliabilityMonitor
from sim.sensing import FixedRate, SenseContext, SensingPolicy, make_sensing
from snnctl.controllers.loop_backends import Action, Backend, BackendDisconnected, BackendFault, BackendTimeout
from snnctl.heap import heap_frozen


@dataclass(frozen=True)
class SensorLayout:
    """Which observation entries the sensor fills, and what the loop may derive from them.

    `derive(obs)` recomputes, in place, entries computed from the sensor (blimp: the error);
    `error(obs)` is the controller's tracking error (for action-to-sensing); `truth` and `reference`
    name the `info` keys of the true value and the reference (for records and the task metric).
    """

    index: tuple[int, ...]
    derive: Callable[[np.ndarray], None] | None = None
    error: Callable[[np.ndarray], float] | None = None
    truth: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class LoopSpec:
    """What an environment declares for the loop (its ``loop_spec`` attribute); the loop knows no family.

    `monitor(env)` builds the env's `ReliabilityMonitor` (safe action, range, noise margins; None: only
    NaN/inf readings, safe action zeros); `sensing` maps a `sim.sensing.make_sensing` name to the env's
    default arguments; `metrics(result)` gives the task metrics of a `LoopResult` (None: none);
    `heldout_seeds`: the env's held-out evaluation episodes, in order (`heldout_seeds`, `run_heldout`).
    """

    layout: SensorLayout
    monitor: Callable[[Any], ReliabilityMonitor] | None = None
    sensing: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    metrics: Callable[[LoopResult], dict[str, Any]] | None = None
    heldout_seeds: Sequence[int] = ()


def loop_spec(env: Any) -> LoopSpec | None:
    """The `LoopSpec` `env` (wrapped or not) declares, None if it declares none."""
    spec = getattr(getattr(env, "unwrapped", env), "loop_spec", None)
    return spec if isinstance(spec, LoopSpec) else None


def sensor_layout(env: Any, sensor_index: int | Sequence[int] | None = None) -> SensorLayout:
    """The layout for `env` (see the module docstring for the order of precedence)."""
    if sensor_index is not None:
        return SensorLayout(tuple(int(i) for i in np.atleast_1d(sensor_index)))
    spec = loop_spec(env)
    if spec is not None:
        return spec.layout
    shape = getattr(env.observation_space, "shape", None)
    if not shape or len(shape) != 1:
        raise ValueError(f"cannot tell the sensor entries of an observation of shape {shape}; give sensor_index")
    return SensorLayout(tuple(range(shape[0])))


@dataclass
class LoopRecord:
    """One control step (k: state seen at t, action applied until t + 1 / control_hz)."""

    k: int
    t: float
    truth: float  # the true value of the first sensor entry (info[layout.truth]), NaN if unknown
    reference: float  # info[layout.reference], NaN if unknown
    sample: np.ndarray | None  # the reading taken this step (faults applied), None if not sensed
    measurement: np.ndarray | None  # the held sample the controller was given (None before the first)
    action: np.ndarray  # applied
    controller_u: np.ndarray | None  # the controller's answer (None: not called, or no reply)
    sensed: bool
    flagged: bool
    reason: str | None
    called: bool
    latency_s: float  # sense-to-act, NaN when the controller was not called
    deadline_miss: bool
    bytes_out: int = 0
    bytes_in: int = 0
    spikes: int = 0
    synops: int = 0
    fault: str | None = None  # the link fault of this step (timeout, disconnected, late, fault)


def _percentile_ms(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q) * 1e3) if x.size else None


@dataclass
class LoopResult:
    records: list[LoopRecord]
    control_hz: float
    faults: list[FaultSpec]
    sensing: str
    samples: int
    reads: int
    flags: dict[str, int]
    detections: dict[str, int]
    events: list[tuple[float, str]]
    total_reward: float
    step_times: tuple[float, ...] = ()
    seed: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: Callable[[LoopResult], dict[str, Any]] | None = None  # the env's task metrics (`LoopSpec.metrics`)

    def column(self, name: str) -> np.ndarray:
        """One field over the steps; sample/measurement/action give their first entry (NaN where None)."""
        vals = [getattr(r, name) for r in self.records]
        if name in ("sample", "measurement", "action", "controller_u"):
            return np.array([np.nan if v is None else float(np.asarray(v).reshape(-1)[0]) for v in vals])
        return np.asarray(vals)

    @property
    def duration_s(self) -> float:
        return len(self.records) / self.control_hz

    def task_metrics(self) -> dict[str, Any]:
        """The env's task metrics (`LoopSpec.metrics`, e.g. the blimp's flight metrics); {} if it declares none."""
        return {} if self.metrics is None else self.metrics(self)

    def steps_to_flag(self) -> list[dict[str, Any]]:
        """Per injected fault: steps from its first step to the first flagged step inside its window."""
        t, flagged = self.column("t"), self.column("flagged")
        eps = 1e-9
        out = []
        for f in self.faults:
            inside = np.flatnonzero((t >= f.start_s - eps) & (t < f.end_s - eps))
            steps = None
            if inside.size:
                hit = np.flatnonzero(flagged[inside])
                steps = int(hit[0]) if hit.size else None
            out.append({"fault": str(f), "steps": steps, "window_steps": int(inside.size)})
        return out

    def summary(self) -> dict[str, Any]:
        """The loop's figures (see the module docstring); JSON-ready."""
        dur = self.duration_s or float("nan")
        called = self.column("called").astype(bool)
        lat = self.column("latency_s")[called] if self.records else np.zeros(0)
        lat = lat[np.isfinite(lat)]
        b_out, b_in = int(self.column("bytes_out").sum()), int(self.column("bytes_in").sum())
        flagged = self.column("flagged").astype(bool)
        out: dict[str, Any] = {
            "steps": len(self.records),
            "duration_s": self.duration_s,
            "control_hz": self.control_hz,
            "sensing": self.sensing,
            **self.task_metrics(),
            "total_reward": self.total_reward,
            "samples": self.samples,
            "samples_per_s": self.samples / dur,
            "reads_per_s": self.reads / dur,
            "bytes_out_per_s": b_out / dur,
            "bytes_in_per_s": b_in / dur,
            "bytes_per_s": (b_out + b_in) / dur,
            "spikes_per_s": float(self.column("spikes").sum()) / dur,
            "synops_per_s": float(self.column("synops").sum()) / dur,
            "controller_calls": int(called.sum()),
            "deadline_misses": int(self.column("deadline_miss").sum()),
            "latency_p50_ms": _percentile_ms(lat, 50),
            "latency_p99_ms": _percentile_ms(lat, 99),
            "latency_max_ms": float(lat.max() * 1e3) if lat.size else None,
            "flags": dict(self.flags),
            "detections": dict(self.detections),
            "flagged_steps": int(flagged.sum()),
            "faults": [str(f) for f in self.faults],
            "steps_to_flag": self.steps_to_flag(),
        }
        return out


_LINK_FAULT = ((BackendTimeout, "timeout"), (BackendDisconnected, "disconnected"), (BackendFault, "fault"))


class LoopRunner:
    """Runs episodes of `env` with `backend` under a sensing policy, a monitor and injected faults.

    `sensing`: a policy, or a `sim.sensing.make_sensing` name built with the defaults the env declares
    (`LoopSpec.sensing`); None: a sample every step. `monitor`: None for the env's (`LoopSpec.monitor`).
    `faults`: `FaultSpec`s or a spec string. Sensor faults are applied here; link faults by wrapping
    the backend in `FaultyBackend` unless ``link_faults_in_process=False`` (hardware in the loop,
    where a proxy breaks the real link). `seed` seeds the fault draws. `on_step(k, t)` is called at the
    start of every step. `frame_bytes`: wire bytes of one step for the in-process drop/corrupt model.
    """

    def __init__(self, env: Any, backend: Backend, sensing: SensingPolicy | str | None = None,
                 monitor: ReliabilityMonitor | None = None, faults: Iterable[FaultSpec] | str | None = (),
                 control_hz: float | None = None, realtime: bool = False, deadline_s: float | None = None, *,
                 sensor_index: int | Sequence[int] | None = None, seed: int = 0,
                 link_faults_in_process: bool = True, on_step: Callable[[int, float], Any] | None = None,
                 frame_bytes: int = DEFAULT_FRAME_BYTES) -> None:  # fmt: skip
        self.env = env
        u = getattr(env, "unwrapped", env)
        env_dt = getattr(u, "dt", None)
        if control_hz is None:
            if env_dt is None:
                raise ValueError("control_hz is needed: the env has no dt attribute to take it from")
            control_hz = 1.0 / float(env_dt)
        if not (math.isfinite(control_hz) and control_hz > 0):
            raise ValueError(f"control_hz must be finite and > 0, got {control_hz}")
        if env_dt is not None and abs(float(env_dt) * control_hz - 1.0) > 1e-9:
            raise ValueError(f"control_hz = {control_hz} but one env step is {env_dt} s ({1 / env_dt:g} Hz); "
                             "the loop steps the env once per control step")  # fmt: skip
        if deadline_s is not None and not (math.isfinite(deadline_s) and deadline_s > 0):
            raise ValueError(f"deadline_s must be finite and > 0 (or None), got {deadline_s}")
        self.control_hz = float(control_hz)
        self.period_s = 1.0 / self.control_hz
        self.realtime = bool(realtime)
        self.deadline_s = deadline_s if deadline_s is not None else (self.period_s if realtime else None)
        spec = loop_spec(env)
        self.layout = sensor_layout(env, sensor_index)
        self._metrics = spec.metrics if spec is not None else None
        if isinstance(sensing, str):
            sensing = make_sensing(sensing, spec.sensing if spec is not None else None)
        self.sensing = sensing if sensing is not None else FixedRate(1)
        if monitor is None:
            if spec is not None and spec.monitor is not None and self.layout is spec.layout:
                monitor = spec.monitor(env)
            else:  # generic: only NaN/inf readings, safe action = zeros
                shape = getattr(env.action_space, "shape", None) or (1,)
                monitor = ReliabilityMonitor(np.zeros(shape, np.float32), stuck_samples=0)
        self.monitor = monitor
        self.faults = parse_faults(faults) if isinstance(faults, str) or faults is None else list(faults)
        self.seed = int(seed)
        self.sensor_faults = SensorFaults(self.faults, self.seed)
        self.on_step = on_step
        self.t = 0.0  # loop time of the current step (the FaultyBackend's clock)
        link = [f for f in self.faults if not f.is_sensor]
        self.inner_backend = backend
        if link and link_faults_in_process:
            backend = FaultyBackend(backend, link, lambda: self.t, self.deadline_s or self.period_s, self.seed,
                                    frame_bytes)  # fmt: skip
        self.backend = backend

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> LoopRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _view(self, obs: np.ndarray, held: np.ndarray | None) -> np.ndarray:
        """The observation the controller gets: obs with the sensor entries = the held sample."""
        idx = self.layout.index
        if held is None or np.array_equal(held, np.asarray(obs, np.float64)[list(idx)]):
            return obs  # a fresh, untouched sample: the env's own observation, bit for bit
        view = np.array(obs, copy=True)
        view[list(idx)] = held
        if self.layout.derive is not None:
            self.layout.derive(view)
        return view

    def _env_action(self, u: np.ndarray) -> Any:
        space = self.env.action_space
        if hasattr(space, "n"):  # Discrete
            return int(np.clip(np.rint(u.reshape(-1)[0]), 0, space.n - 1))
        return np.asarray(u, dtype=getattr(space, "dtype", np.float32)).reshape(space.shape)

    def run(self, seed: int | None = None, options: dict | None = None, max_steps: int | None = None) -> LoopResult:
        """One episode from ``env.reset(seed, options)`` until it ends (or `max_steps`), with the heap
        that existed before it frozen (`heap_frozen`)."""
        with heap_frozen():
            return self._episode(seed, options, max_steps)

    def _episode(self, seed: int | None, options: dict | None, max_steps: int | None) -> LoopResult:
        env, layout, mon, sensing = self.env, self.layout, self.monitor, self.sensing
        obs, info = env.reset(seed=seed, options=options)
        self.backend.reset()
        sensing.reset()
        mon.reset()
        self.sensor_faults.reset()
        idx = list(layout.index)
        held: np.ndarray | None = None
        last_action: np.ndarray | None = None
        records: list[LoopRecord] = []
        total = 0.0
        tick = time.perf_counter()
        k = 0
        while True:
            t = float(info["time_s"]) if "time_s" in info else k * self.period_s
            self.t = t
            if self.on_step is not None:
                self.on_step(k, t)
            t_sense = time.perf_counter()
            start = tick if self.realtime else t_sense
            deadline = None if self.deadline_s is None else start + self.deadline_s
            raw = np.asarray(obs, dtype=np.float64)[idx]

            def read(k=k, t=t, raw=raw) -> np.ndarray:
                return self.sensor_faults.apply(k, t, raw)

            error = None
            if layout.error is not None and held is not None:
                error = layout.error(self._view(obs, held))
            sample = sensing.decide(SenseContext(k, error, last_action, mon.sensor_flagged), read)
            if sample is not None and mon.check_sample(t, sample) is None:
                held = sample
            called = held is not None and not mon.sensor_flagged
            act: Action | None = None
            fault = None
            latency, miss = float("nan"), False
            if called:
                try:
                    act = self.backend.act(self._view(obs, held))
                except BackendFault as e:
                    fault = next(name for cls, name in _LINK_FAULT if isinstance(e, cls))
                done = time.perf_counter()
                latency = done - t_sense
                miss = deadline is not None and done > deadline
                if miss and fault is None:
                    fault = "late"
                mon.check_reply(t, fault)
            if act is not None and fault is None:
                u = mon.action(act.u)
            else:
                u = mon.safe_action.copy()
            records.append(LoopRecord(
                k, t, float(info.get(layout.truth, np.nan)) if layout.truth else np.nan,
                float(info.get(layout.reference, np.nan)) if layout.reference else np.nan,
                sample, None if held is None else held.copy(), u,
                None if act is None else np.asarray(act.u, np.float32), sample is not None, mon.flagged, mon.reason,
                called, latency, miss,
                act.bytes_out if act else 0, act.bytes_in if act else 0, act.spikes if act else 0,
                act.synops if act else 0, fault,
            ))  # fmt: skip
            last_action = u
            obs, reward, terminated, truncated, info = env.step(self._env_action(u))
            total += float(reward)
            k += 1
            if self.realtime:
                tick += self.period_s
                time.sleep(max(0.0, tick - time.perf_counter()))
            if terminated or truncated or (max_steps is not None and k >= max_steps):
                break
        profile = getattr(getattr(env, "unwrapped", env), "profile", None)
        return LoopResult(
            records, self.control_hz, self.faults, sensing.describe(), sensing.samples, sensing.reads,
            dict(mon.flags), dict(mon.detections), list(mon.events), total,
            tuple(getattr(profile, "change_times", ())), seed, metrics=self._metrics,
        )  # fmt: skip


# -- held-out episodes through the loop: the one runner `snnctl run --sensing/--faults`, `snnctl hil` and
# `snnctl bench loop` share (which seeds the env declares; which figures to report is the caller's) --------


def heldout_seeds(env: Any, episodes: int, first: int = 0) -> list[int]:
    """Held-out episodes ``first .. first + episodes - 1`` of those `env` declares (`LoopSpec.heldout_seeds`).

    Raises ValueError when they run past the end of the set.
    """
    spec = loop_spec(env)
    seeds = spec.heldout_seeds if spec is not None else ()
    if first + episodes > len(seeds):
        raise ValueError(f"only {len(seeds)} held-out profiles exist; --seed + --episodes must not exceed it")
    return list(seeds[first : first + episodes])


def run_heldout(env: Any, backend: Backend, sensing: SensingPolicy | str | None = None, episodes: int = 1,
                first: int = 0, *, seeds: Iterable[int] | None = None, **runner: Any) -> list[LoopResult]:  # fmt: skip
    """`LoopRunner(env, backend, sensing, seed=first, **runner)` over `heldout_seeds(env, episodes, first)`,
    or over the given `seeds` (e.g. training seeds when tuning); one `LoopResult` per episode.

    `first` also seeds the fault draws. The caller owns `env` and `backend` (neither is closed here).
    """
    seeds = heldout_seeds(env, episodes, first) if seeds is None else list(seeds)
    loop = LoopRunner(env, backend, sensing, seed=first, **runner)
    return [loop.run(seed=s) for s in seeds]
