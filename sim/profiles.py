"""Altitude reference profiles for the blimp: steps, ramps, random sequences; seeded and reproducible.

A profile is a piecewise function of time (seconds) giving the reference altitude (metres above the
floor, as the lidar measures it). Two interpolations cover every kind here: ``"hold"`` (the value of
the last breakpoint holds until the next one: steps) and ``"linear"`` (straight lines between
breakpoints: ramps). ``change_times`` lists the times at which a new target begins (the step
instants, or the start of each ramp); the flight metrics segment a flight at those times.

Kinds (``make_profile(kind, seed, ...)``):

``"steps"``
    The paper's profile: a new level every ``period_s`` (30 s) drawn uniformly from
    ``[low_m, high_m]``, each at least ``min_jump_m`` away from the previous one.
``"alternating"``
    Deterministic steps between ``low_m`` and ``high_m`` every ``period_s`` (starting low), like the
    real flights' up/down sequence. The seed is ignored.
``"ramps"``
    Every ``period_s`` a new level (as ``"steps"``) reached by a straight ramp of ``ramp_s`` seconds
    instead of a jump.
``"random"``
    Steps at random instants: hold times drawn uniformly from ``[min_hold_s, max_hold_s]``, levels as
    ``"steps"``.

Seeds: a profile is a pure function of ``(kind, seed, parameters)`` (``numpy.random.default_rng(seed)``).
The seed sets are `sim.seeds`': seeds ``>= HELDOUT_SEED_START`` are reserved for evaluation, the
validation range just below them for choosing what a run exports; training draws from
``sim.seeds.TRAINING`` (``BlimpAltitudeEnv`` does so itself when reset without a seed).
``HELDOUT_SEEDS`` is the fixed evaluation set; ``heldout_profiles()`` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.seeds import HELDOUT_START as HELDOUT_SEED_START  # one definition: sim.seeds

HELDOUT_SEEDS = tuple(range(HELDOUT_SEED_START, HELDOUT_SEED_START + 20))
"""The fixed held-out evaluation set (20 profiles per kind)."""

KINDS = ("steps", "alternating", "ramps", "random")

# Defaults shared by every kind (metres, seconds). The altitude band keeps the blimp well inside a
# 4-m-high room: >= 0.5 m above the floor, the envelope top >= 0.8 m below the ceiling.
DEFAULT_LOW_M = 0.5
DEFAULT_HIGH_M = 2.5
DEFAULT_PERIOD_S = 30.0
DEFAULT_MIN_JUMP_M = 0.3


@dataclass(frozen=True)
class ReferenceProfile:
    """A reference altitude as a piecewise function of time.

    ``times`` (s, strictly increasing, ``times[0] == 0``) and ``values`` (m) are the breakpoints;
    ``interpolation`` is ``"hold"`` or ``"linear"``; ``change_times`` (s) are the instants at which a
    new target begins (excluding 0). Beyond the last breakpoint the last value holds.
    """

    times: np.ndarray
    values: np.ndarray
    interpolation: str = "hold"
    change_times: tuple[float, ...] = ()
    kind: str = "custom"
    seed: int | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        times = np.asarray(self.times, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if times.ndim != 1 or times.shape != values.shape or times.size == 0:
            raise ValueError("profile times and values must be 1-D arrays of the same, non-zero length")
        if times[0] != 0.0 or np.any(np.diff(times) <= 0):
            raise ValueError("profile times must start at 0 and increase strictly")
        if self.interpolation not in ("hold", "linear"):
            raise ValueError(f"interpolation must be 'hold' or 'linear', got {self.interpolation!r}")
        times.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "change_times", tuple(float(c) for c in self.change_times))

    def __call__(self, t):
        """Reference at time(s) ``t`` (s). A step at time s is already in force at t == s."""
        t = np.asarray(t, dtype=np.float64)
        if self.interpolation == "linear":
            out = np.interp(t, self.times, self.values)
        else:
            # 1e-9 s of slack so that k * dt landing a hair below a step time still counts as "at" it.
            idx = np.searchsorted(self.times, t + 1e-9, side="right") - 1
            out = self.values[np.clip(idx, 0, self.values.size - 1)]
        return float(out) if out.ndim == 0 else out

    @property
    def initial(self) -> float:
        return float(self.values[0])


def _levels(rng: np.random.Generator, n: int, low_m: float, high_m: float, min_jump_m: float) -> np.ndarray:
    if not high_m > low_m:
        raise ValueError(f"need high_m > low_m, got low_m={low_m}, high_m={high_m}")
    if min_jump_m > 0.5 * (high_m - low_m):
        raise ValueError(f"min_jump_m={min_jump_m} must be at most half the band {high_m - low_m}")
    out = np.empty(n)
    out[0] = rng.uniform(low_m, high_m)
    for i in range(1, n):
        while True:  # rejection: terminates quickly because min_jump <= half the band
            v = rng.uniform(low_m, high_m)
            if abs(v - out[i - 1]) >= min_jump_m:
                break
        out[i] = v
    return out


def step_profile(
    seed: int,
    duration_s: float = 120.0,
    period_s: float = DEFAULT_PERIOD_S,
    low_m: float = DEFAULT_LOW_M,
    high_m: float = DEFAULT_HIGH_M,
    min_jump_m: float = DEFAULT_MIN_JUMP_M,
) -> ReferenceProfile:
    """Random levels every ``period_s`` (the paper's 30-s steps)."""
    rng = np.random.default_rng(seed)
    n = max(1, int(np.ceil(duration_s / period_s - 1e-9)))
    times = period_s * np.arange(n)
    return ReferenceProfile(times, _levels(rng, n, low_m, high_m, min_jump_m), "hold", tuple(times[1:]), "steps", seed)


def alternating_profile(
    duration_s: float = 120.0,
    period_s: float = DEFAULT_PERIOD_S,
    low_m: float = 1.0,
    high_m: float = 2.0,
    seed: int | None = None,
) -> ReferenceProfile:
    """Low, high, low, ... every ``period_s`` (deterministic)."""
    n = max(1, int(np.ceil(duration_s / period_s - 1e-9)))
    times = period_s * np.arange(n)
    values = np.where(np.arange(n) % 2 == 0, low_m, high_m).astype(np.float64)
    return ReferenceProfile(times, values, "hold", tuple(times[1:]), "alternating", seed)


def ramp_profile(
    seed: int,
    duration_s: float = 120.0,
    period_s: float = DEFAULT_PERIOD_S,
    ramp_s: float = 10.0,
    low_m: float = DEFAULT_LOW_M,
    high_m: float = DEFAULT_HIGH_M,
    min_jump_m: float = DEFAULT_MIN_JUMP_M,
) -> ReferenceProfile:
    """New levels every ``period_s`` reached by ``ramp_s``-long straight ramps."""
    if not 0 < ramp_s < period_s:
        raise ValueError(f"need 0 < ramp_s < period_s, got ramp_s={ramp_s}, period_s={period_s}")
    rng = np.random.default_rng(seed)
    n = max(1, int(np.ceil(duration_s / period_s - 1e-9)))
    levels = _levels(rng, n, low_m, high_m, min_jump_m)
    times, values = [0.0], [levels[0]]
    for i in range(1, n):
        s = i * period_s
        times += [s, s + ramp_s]
        values += [levels[i - 1], levels[i]]
    return ReferenceProfile(
        np.array(times), np.array(values), "linear", tuple(period_s * np.arange(1, n)), "ramps", seed
    )


def random_profile(
    seed: int,
    duration_s: float = 120.0,
    min_hold_s: float = 10.0,
    max_hold_s: float = 40.0,
    low_m: float = DEFAULT_LOW_M,
    high_m: float = DEFAULT_HIGH_M,
    min_jump_m: float = DEFAULT_MIN_JUMP_M,
) -> ReferenceProfile:
    """Steps at random instants (hold times uniform in ``[min_hold_s, max_hold_s]``)."""
    if not 0 < min_hold_s <= max_hold_s:
        raise ValueError(f"need 0 < min_hold_s <= max_hold_s, got {min_hold_s}, {max_hold_s}")
    rng = np.random.default_rng(seed)
    times = [0.0]
    while True:
        nxt = times[-1] + rng.uniform(min_hold_s, max_hold_s)
        if nxt >= duration_s:
            break
        times.append(nxt)
    times = np.array(times)
    return ReferenceProfile(
        times, _levels(rng, times.size, low_m, high_m, min_jump_m), "hold", tuple(times[1:]), "random", seed
    )


def make_profile(kind: str, seed: int | None, duration_s: float = 120.0, **kwargs) -> ReferenceProfile:
    """Build a profile of ``kind`` (one of ``KINDS``) from ``seed``; ``kwargs`` go to the builder."""
    if kind == "steps":
        return step_profile(seed, duration_s, **kwargs)
    if kind == "alternating":
        return alternating_profile(duration_s, seed=seed, **kwargs)
    if kind == "ramps":
        return ramp_profile(seed, duration_s, **kwargs)
    if kind == "random":
        return random_profile(seed, duration_s, **kwargs)
    raise ValueError(f"unknown profile kind {kind!r}; expected one of {', '.join(KINDS)}")


def heldout_profiles(
    kind: str = "steps", duration_s: float = 120.0, n: int | None = None, **kwargs
) -> list[ReferenceProfile]:
    """The held-out evaluation profiles (``HELDOUT_SEEDS``, or the first ``n`` of them)."""
    seeds = HELDOUT_SEEDS if n is None else HELDOUT_SEEDS[:n]
    return [make_profile(kind, s, duration_s, **kwargs) for s in seeds]
