"""The blimp's flight metrics for altitude tracking (as the blimp paper reports them) and its episode runner.

``flight_metrics(t, altitude_true, reference, u, step_times)`` on sampled signals (seconds, metres, the
controller's command):

``rmse_m``
    root mean square of ``reference - altitude`` over the whole flight.
``steady_state_error_m``
    the flight is cut into segments at ``step_times`` (the instants the reference changes, in seconds;
    the first segment starts at ``t[0]``, the last ends at ``t[-1]``); for each segment the mean
    ``|reference - altitude|`` over its last ``steady_window_s`` (10 s) — samples with
    ``end - 10 s <= t < end``, the last segment including ``t[-1]`` — then the mean over segments.
``overshoot_up_m`` / ``overshoot_down_m``
    for each change at time ``s`` the new target is the reference at the end of its window (the last
    sample before ``min(s + 30 s, next change, end)``; the step's new level, or a ramp's end) and the old
    one the reference just before ``s``. Up change (new > old): worst ``altitude - new`` in the window;
    down change: worst ``new - altitude``; each clipped at 0. The reported value is the worst over the
    up (down) changes, 0 if there are none.
``control_effort``
    mean ``|u|``.
``n_steps_up`` / ``n_steps_down``
    how many changes of each kind were scored.
``contact_steps`` (only when ``contact`` is given)
    how many control steps ended with the blimp at the floor or the ceiling (``info["contact"]``).

``heldout_means(rows, keys)``: a table of flights in figures, the mean of each metric and the worst
overshoot up and down (``sim.metrics.summarize``).

``run_episode(env, controller, seed)`` flies one episode and returns an ``EpisodeRecord``: per control
step ``k`` the time ``t[k]``, the true altitude, the measurement and reference the controller saw, and
the action it chose (held until ``t[k+1]``); ``contact[k]``, the env's ``info["contact"]`` after that
action (False for an env without the key); plus ``spikes[k]`` if the controller has a
``last_spike_count`` attribute (read after each ``act``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.metrics import summarize

STEADY_WINDOW_S = 10.0
OVERSHOOT_WINDOW_S = 30.0


def flight_metrics(
    t,
    altitude_true,
    reference,
    u,
    step_times,
    steady_window_s: float = STEADY_WINDOW_S,
    overshoot_window_s: float = OVERSHOOT_WINDOW_S,
    contact=None,
) -> dict:
    """Tracking metrics of one flight (see the module docstring for the definitions)."""
    t = np.asarray(t, dtype=np.float64)
    z = np.asarray(altitude_true, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if not (t.ndim == 1 and t.shape == z.shape == r.shape) or t.size == 0:
        raise ValueError("t, altitude_true and reference must be 1-D arrays of the same, non-zero length")
    eps = 1e-9
    e = r - z
    changes = sorted(float(s) for s in step_times if t[0] + eps < s <= t[-1] + eps)

    bounds = [float(t[0])] + changes + [float(t[-1])]
    steady = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        last = i == len(bounds) - 2
        hi = (t <= end + eps) if last else (t < end - eps)
        mask = hi & (t >= max(start, end - steady_window_s) - eps)
        if mask.any():
            steady.append(np.mean(np.abs(e[mask])))

    over_up, over_down = [], []
    for i, s in enumerate(changes):
        end = min(s + overshoot_window_s, changes[i + 1] if i + 1 < len(changes) else np.inf)
        win = (t >= s - eps) & (t < end - eps)
        if not win.any():
            win = (t >= s - eps) & (t <= end + eps)
        idx = np.flatnonzero(win)
        before = np.flatnonzero(t < s - eps)
        if idx.size == 0 or before.size == 0:
            continue
        old, new = r[before[-1]], r[idx[-1]]
        if new > old:
            over_up.append(max(0.0, float(np.max(z[idx] - new))))
        elif new < old:
            over_down.append(max(0.0, float(np.max(new - z[idx]))))

    out = {
        "rmse_m": float(np.sqrt(np.mean(e**2))),
        "steady_state_error_m": float(np.mean(steady)) if steady else float("nan"),
        "overshoot_up_m": max(over_up, default=0.0),
        "overshoot_down_m": max(over_down, default=0.0),
        "control_effort": float(np.mean(np.abs(u))) if u.size else 0.0,
        "n_steps_up": len(over_up),
        "n_steps_down": len(over_down),
    }
    if contact is not None:
        out["contact_steps"] = int(np.count_nonzero(contact))
    return out


def heldout_means(rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, float]:
    """Mean of each metric in ``keys`` over flights, then ``worst_overshoot_up_m`` / ``_down_m``.

    The one form of a blimp table's row (``snnctl run``, the robustness bench, the loop's summary): a
    mean hides one flight that overshoots badly, so the worst is reported beside it.
    """
    s = summarize(rows, keys)
    out = {k: v["mean"] for k, v in s.items()}
    for k in ("overshoot_up_m", "overshoot_down_m"):
        if k in s:
            out[f"worst_{k}"] = s[k]["worst"]
    return out


@dataclass
class EpisodeRecord:
    """One flight, sampled at the control rate (index k: state seen at t[k], action chosen then)."""

    t: np.ndarray
    altitude: np.ndarray
    measurement: np.ndarray
    reference: np.ndarray
    action: np.ndarray
    step_times: tuple[float, ...]
    total_reward: float
    seed: int | None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    contact: np.ndarray | None = None  # floor/ceiling contact after action k

    def metrics(self) -> dict:
        return flight_metrics(self.t, self.altitude, self.reference, self.action, self.step_times, contact=self.contact)


def run_episode(
    env,
    controller,
    seed: int | None = None,
    options: dict | None = None,
    max_steps: int | None = None,
    lean: bool = True,
) -> EpisodeRecord:
    """Fly ``controller`` (``reset()``, ``act(obs)``) on ``env`` for one episode from ``reset(seed)``.

    ``lean``: on an unwrapped env with ``step_lean`` (``BlimpAltitudeEnv``) skip the per-step info
    dicts, which were a large part of a closed-loop evaluation's Python; the record is the same as the
    plain gymnasium loop's (tested). Wrapped envs always take the plain loop: a wrapper may change steps.
    """
    obs, info = env.reset(seed=seed, options=options)
    controller.reset()
    has_spikes = hasattr(controller, "last_spike_count")
    t, alt, meas, ref, act, spikes, contact = [], [], [], [], [], [], []
    total = 0.0
    k = 0
    if lean and env is getattr(env, "unwrapped", None) and hasattr(env, "step_lean"):
        step = env.step_lean
        while True:
            a = np.asarray(controller.act(obs), dtype=np.float64).reshape(-1)
            t.append(env.time_s)
            alt.append(env.altitude_m)
            meas.append(float(obs[0]))
            ref.append(env.reference_m)
            act.append(a[0])
            if has_spikes:
                spikes.append(controller.last_spike_count)
            obs, reward, truncated = step(float(np.float32(a[0])))  # what step() makes of a.astype(float32)
            contact.append(env.contact)
            total += reward
            k += 1
            if truncated or (max_steps is not None and k >= max_steps):
                break
    else:
        while True:
            a = np.asarray(controller.act(obs), dtype=np.float64).reshape(-1)
            t.append(info["time_s"])
            alt.append(info["altitude_m"])
            meas.append(float(obs[0]))
            ref.append(info["reference_m"])
            act.append(a[0])
            if has_spikes:
                spikes.append(controller.last_spike_count)
            obs, reward, terminated, truncated, info = env.step(a.astype(np.float32))
            contact.append(info.get("contact", False))
            total += float(reward)
            k += 1
            if terminated or truncated or (max_steps is not None and k >= max_steps):
                break
    profile = env.unwrapped.profile
    extras = {"spikes": np.asarray(spikes)} if has_spikes else {}
    return EpisodeRecord(
        np.asarray(t),
        np.asarray(alt),
        np.asarray(meas),
        np.asarray(ref),
        np.asarray(act),
        tuple(profile.change_times),
        total,
        seed,
        extras,
        np.asarray(contact, dtype=bool),
    )
