"""PID baseline: the reference controller the blimp SNNs are evolved to mimic.

Discrete PID at the control rate (``dt`` seconds per call), pure Python/numpy:

* P term: ``kp * e``, with ``e = reference - measurement`` (observation index 2).
* I term: ``ki * sum(e * dt)`` (forward Euler, the current error included), stored already multiplied
  by ``ki`` so the gains can be changed without a bump.
* D term (``derivative``):
  ``"measurement"`` (default): ``-kd * (y_k - y_{k-1}) / dt`` — the rate of the *measurement*, so a
  reference step gives no derivative kick (what a flight controller does);
  ``"error"``: ``kd * (e_k - e_{k-1}) / dt`` (kicks on reference steps, as a textbook PID).
  The first call after ``reset()`` has no previous sample: its D term is 0. If ``d_filter_tau > 0`` the
  raw D term passes a first-order low-pass filter, discretised backward-Euler:
  ``D_f <- D_f + dt / (d_filter_tau + dt) * (D - D_f)`` (the filter starts from the first raw value,
  i.e. 0). The lidar's 1-cm noise differentiated at 10 Hz is ~0.14 m/s, so the filter matters.
* Anti-windup by *conditional integration* (clamping): the integrator takes the step ``ki * e * dt``
  unless the output with it would be beyond a limit *and* the error pushes further that way; then the
  integrator holds. (Back-calculation needs a tracking gain to tune; clamping has none.)
* Integral band (``i_band``, off by default): the integrator's input is ``clip(e, -i_band, i_band)``,
  so a long transit far from the target adds at most ``ki * i_band`` per second — the form of
  anti-windup the blimp SNN's I net has (its comparators stop at ``i_range_m``), used as the target
  its mimic phase can copy. Clamping still applies on top.
* Output: ``clip(P + I + D, u_min, u_max)``. The motor's dead zone is the plant's business, not the
  controller's.

The controller face: ``reset()``, ``act(obs) -> np.ndarray`` of shape (1,), float32, with
``obs = [measurement, reference, error]`` (the ``BlimpAltitudeEnv`` observation). ``last_p``,
``last_i``, ``last_d`` hold the terms of the last call, ``last_u_unsat`` the unclipped sum.

``BLIMP_PID_GAINS`` are tuned in simulation on ``sim.blimp.BlimpAltitudeEnv`` defaults (10 Hz, 1-cm
noise) on training seeds; ``PID.for_blimp(dt=env.dt)`` builds that controller for the env's control period.
"""

from __future__ import annotations

import math

import numpy as np

# Tuned by grid search on the default blimp (training seeds 0-19 of the "steps" profile, 1-cm noise):
# mean overshoot ~10 cm up / ~16 cm down (worst 15 / 20 cm), like the paper's real-flight PID (14 cm up,
# 20 cm down), steady-state error ~1 cm. Stiffer gains (kp 8-12, kd 12-16) cut the overshoot to 5-8 cm
# but make the command chatter 1.5-3x more on the lidar noise; these keep the command smooth enough for
# an SNN to mimic.
BLIMP_PID_GAINS = {"kp": 5.0, "ki": 0.6, "kd": 8.0, "d_filter_tau": 0.5}


class PID:
    """Discrete PID with derivative on measurement (or error), D filter, and clamping anti-windup."""

    def __init__(
        self,
        kp: float,
        ki: float,
        kd: float,
        dt: float,
        u_min: float = -3.3,
        u_max: float = 3.3,
        derivative: str = "measurement",
        d_filter_tau: float = 0.0,
        i_band: float | None = None,
    ):
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        if not u_min < u_max:
            raise ValueError(f"need u_min < u_max, got {u_min}, {u_max}")
        if derivative not in ("measurement", "error"):
            raise ValueError(f"derivative must be 'measurement' or 'error', got {derivative!r}")
        if not d_filter_tau >= 0:
            raise ValueError(f"d_filter_tau must be >= 0, got {d_filter_tau}")
        if i_band is not None and not i_band > 0:
            raise ValueError(f"i_band must be > 0 (or None: no band), got {i_band}")
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.dt = float(dt)
        self.u_min, self.u_max = float(u_min), float(u_max)
        self.derivative = derivative
        self.d_filter_tau = float(d_filter_tau)
        self.i_band = None if i_band is None else float(i_band)
        self._alpha = self.dt / (self.d_filter_tau + self.dt)
        self.reset()

    @classmethod
    def for_blimp(cls, *, dt: float, **overrides) -> PID:
        """The PID tuned for the default blimp (``BLIMP_PID_GAINS``), with optional overrides.

        `dt` is required: the I and D terms scale with it, so a PID built for 10 Hz and run at 5 Hz
        would be another controller, silently."""
        return cls(dt=dt, **{**BLIMP_PID_GAINS, **overrides})

    def reset(self) -> None:
        self.integral = 0.0  # already multiplied by ki (units of u)
        self._prev_y: float | None = None
        self._prev_e: float | None = None
        self._d_filt = 0.0
        self.last_p = self.last_i = self.last_d = 0.0
        self.last_u_unsat = 0.0

    def update(self, error: float, measurement: float) -> float:
        """One control step from the error and the measurement; returns the saturated command."""
        e, y = float(error), float(measurement)
        if not (math.isfinite(e) and math.isfinite(y)):
            # A broken sample: hold the integrator and the derivative memory, output P+I+D of the last
            # good state (never propagate NaN to the motor).
            return float(np.clip(self.last_u_unsat, self.u_min, self.u_max))
        p = self.kp * e
        if self.derivative == "measurement":
            d_raw = 0.0 if self._prev_y is None else -self.kd * (y - self._prev_y) / self.dt
        else:
            d_raw = 0.0 if self._prev_e is None else self.kd * (e - self._prev_e) / self.dt
        if self.d_filter_tau > 0:
            self._d_filt += self._alpha * (d_raw - self._d_filt)
            d = self._d_filt
        else:
            d = d_raw
        e_i = e if self.i_band is None else min(max(e, -self.i_band), self.i_band)
        i_candidate = self.integral + self.ki * e_i * self.dt
        u_candidate = p + i_candidate + d
        saturating = (u_candidate > self.u_max and e > 0) or (u_candidate < self.u_min and e < 0)
        if not saturating:
            self.integral = i_candidate
        u_unsat = p + self.integral + d
        self._prev_y, self._prev_e = y, e
        self.last_p, self.last_i, self.last_d, self.last_u_unsat = p, self.integral, d, u_unsat
        return min(max(u_unsat, self.u_min), self.u_max)

    def act(self, obs) -> np.ndarray:
        """``obs = [measurement, reference, error]`` -> ``array([u], float32)``."""
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        return np.array([self.update(obs[2], obs[0])], dtype=np.float32)

    def __repr__(self) -> str:
        return (
            f"PID(kp={self.kp}, ki={self.ki}, kd={self.kd}, dt={self.dt}, u=[{self.u_min}, {self.u_max}], "
            f"derivative={self.derivative!r}, d_filter_tau={self.d_filter_tau}"
            + (f", i_band={self.i_band})" if self.i_band is not None else ")")
        )
