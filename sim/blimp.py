"""Blimp altitude control: an indoor helium blimp on a vertical slide, a thruster, a 10-Hz lidar.

``BlimpAltitudeEnv`` follows "Evolving Spiking Neural Networks to Mimic PID Control for Autonomous
Blimps" (TU Delft, 2023): the controller sees the lidar altitude and the reference, commands a
vertical thruster with ``u`` in [-3.3, 3.3] (the paper's units), and the motor does nothing while
``|u| < 0.1``. Written in the style of gymnasium's ``envs/mujoco/*_v5.py`` (parameters are
constructor arguments), but on ``gymnasium.Env`` directly because the MJCF is generated from the
parameters (``blimp_mjcf``; ``python -m sim.blimp > blimp.xml`` writes the default model out, e.g. for
``python -m mujoco.viewer --mjcf=blimp.xml``).

Physics (MuJoCo)
----------------
One rigid body on a slide joint along z (no pitch, roll or horizontal motion): a prolate-spheroid
envelope (semi-axes ``envelope_semi_major_m`` x ``envelope_radius_m`` x ``envelope_radius_m``, long
axis horizontal) with a gondola hanging below it; the lidar sits at the gondola's bottom and the
joint coordinate *is* the lidar's height above the floor.

* Mass: helium (0.1664 kg/m^3 x envelope volume) + envelope fabric (``envelope_areal_density_kg_m2``
  x spheroid surface) + gondola; the gondola (payload and ballast) is sized so that the total mass is
  the displaced air mass plus ``excess_mass_kg`` — a blimp trimmed slightly heavy, as flown.
* Buoyancy: MuJoCo's fluid model has no buoyancy term, so it is applied through the body's
  ``gravcomp``: gravcomp = (displaced air mass + added mass) / body mass, which leaves a net weight of
  exactly ``excess_mass_kg * g``.
* Added mass: a body accelerating through air drags air with it. For vertical (transverse) motion of
  a prolate spheroid, potential flow (Lamb) gives m_a = k * rho * V with k = beta0 / (2 - beta0)
  (k = 0.70 for the default 2:1 envelope). MuJoCo's fluid model only adds the gyroscopic part of
  added mass (zero on a slide joint), so m_a is added to the body's inertial mass here and cancelled
  in gravity by gravcomp: it slows the dynamics without changing the weight. ``added_mass_coef`` sets
  k (``None``: Lamb's value; 0: none). Free-fall acceleration from rest is g * dm / (m + m_a).
* Drag: MuJoCo's ellipsoid fluid model (``fluidshape="ellipsoid"`` on the envelope, air density
  ``air_density_kg_m3`` and viscosity 1.8e-5 Pa s): quadratic blunt drag on the projected area
  pi * a * r plus viscous drag. MuJoCo writes the blunt drag as C * rho * A * |v| v with C = 0.5, i.e.
  a conventional drag coefficient of 1.0 (a spheroid across its axis at Re ~ 1e4); the viscous part is
  ~0.1 % of it here. Terminal sink speed with the defaults: sqrt(dm g / (0.5 rho pi a r)) = 0.38 m/s;
  full thrust climbs at ~0.54 m/s and descends at ~0.76 m/s.
* Thruster: ``u`` is clipped to [-3.3, 3.3], zeroed while ``|u| < dead_zone`` (the motor does not
  turn), then passes a first-order lag (``motor_tau_s``; MuJoCo ``filter`` actuator dynamics under
  RK4, ``filterexact`` under implicitfast); the vertical force is ``thrust_gain_n * lagged u``.
* Floor and ceiling: the slide joint is limited to [0, ``ceiling_m`` - height of the envelope's top
  above the lidar]; the blimp rests on the floor or against the ceiling instead of leaving the room.
  ``info["contact"]`` is True if the joint came within ``CONTACT_TOL_M`` (1 mm) of either limit at
  any physics substep of the step (at reset: in the initial state). MuJoCo's limits are soft:
  resting, the blimp sinks ~0.02 mm into one; a landing at sink speed goes ~2.5 mm in and bounces a
  few mm back for ~0.5 s. Every profile keeps the reference >= 0.5 m from both, so 1 mm is only
  reached by touching. Near a limit (closer than the blimp can travel in one control period) the
  substeps run one at a time so that a touch shorter than the period is not missed; elsewhere the
  period is one ``mj_step`` call. With a timestep above 2 ms the near-limit substeps run the
  reference physics below (implicitfast, ``filterexact``, ~2 ms): MuJoCo stretches a limit's time
  constant to two timesteps, and at 0.1 s a landing would sink ~26 mm into the floor.
* Time stepping: one env step is one control period 1 / ``control_rate_hz`` of physics substeps with
  the command held (zero-order hold). Default: ``RK4`` with ``timestep_s`` = the control period split
  into the fewest equal steps no longer than 0.1 s and ``motor_tau_s`` (``default_timestep``; one
  0.1-s step at 10 Hz). The dynamics are slow and smooth between limits (motor lag 0.1 s, drag time
  constant ~1 s, speeds < 1 m/s), so a 4th-order step per control period is enough, and costs ~1/15
  of the former default, ``integrator="implicitfast"`` at 2 ms (kept as the reference). Fidelity
  (``tests/test_blimp_fast.py``, 120-s "steps" flights without noise, default vs the 2-ms
  reference): closed loop with the PID, altitude within 0.5 mm (measured <= 0.17 mm); open loop, the
  reference's commands replayed, within 10 mm (measured <= 4.6 mm). Open loop nothing corrects an
  impulse error, and the reference has one: implicitfast applies the lagged thrust from the start of
  each 2-ms substep, and that drift (3.5 mm against a 0.1-ms run) is most of the difference — the
  default stays within 0.5 mm of a 0.1-ms run (measured 0.19 mm). A spiking controller's commands
  jump on threshold crossings, so tenths of a millimetre can change them: a noisy SNN flight on the
  default differs from its 2-ms flight by a few cm and its closed-loop score by ~0.01-0.03, about as
  much as the 2-ms flight differs from a 0.1-ms one (measured on the initial genome).

Sensor and disturbances
-----------------------
* Lidar: the true altitude plus Gaussian noise of standard deviation ``sensor_noise_m``, sampled at
  ``sensor_rate_hz`` (default: the control rate, one sample per step). A slower lidar (e.g. 5 Hz
  under a 10-Hz loop) is read by the loop as a real one is: the observation holds the last sample
  (zero-order hold) until the next one, taken at steps 0, n, 2n, ... (n = control_rate_hz /
  sensor_rate_hz, which must be a whole number). Noise is drawn only when a sample is taken, so the
  default rates draw the same random stream as a single-rate env.
* Gusts (off by default, ``gust_force_n`` > 0 turns them on): vertical force pulses starting as a
  Poisson process of rate ``gust_rate_hz``, each lasting ``gust_duration_s`` with a random sign and a
  magnitude uniform in [0.5, 1] x ``gust_force_n``; held constant over each control period.
* Buoyancy drift (off by default, ``buoyancy_drift_kg`` > 0 turns it on): the excess mass varies as
  ``excess_mass_kg + buoyancy_drift_kg * sin(2 pi t / buoyancy_drift_period_s + phase)`` (helium
  warming and cooling); applied as a weight change (the inertia keeps its nominal value).
* All randomness (noise, gusts, drift phase) comes from the env's ``np_random``.

Reference
---------
A ``sim.profiles.ReferenceProfile``: ``profile`` is a kind (``"steps"``, the paper's 30-s steps;
``"alternating"``, ``"ramps"``, ``"random"``) built with ``profile_kwargs`` or a fixed profile. On
``reset(seed=s)`` the profile is ``make_profile(kind, s)`` — the same profile whatever the noise or
disturbance settings; on a reset without a seed a profile seed is drawn from ``np_random`` in
``sim.seeds.TRAINING`` (validation and held-out seeds are only ever used when asked for). ``reset(options={"profile":
p})`` flies a given profile. The blimp starts at rest at ``initial_altitude_m`` (default: the
profile's first value) with the motor off.

Observation
-----------
``Box(-inf, inf, (3,), float32)``:

=====  ====================================================  ====
index  quantity                                              unit
=====  ====================================================  ====
0      lidar altitude measurement (noisy)                    m
1      reference altitude                                    m
2      error = reference - measurement                       m
=====  ====================================================  ====

Action
------
``Box(-3.3, 3.3, (1,), float32)``: the controller command ``u`` (the paper's units). Values outside
are clipped, NaN counts as 0.

Reward
------
``-|reference - true altitude|`` (metres) per step: the tracking error without the sensor noise, so
that a controller is not scored on noise it cannot see through.

Episode end
-----------
Never ``terminated`` (the floor and ceiling are joint limits, not failures); ``truncated`` after
``episode_s`` seconds (``episode_s * control_rate_hz`` steps).

``info``: ``time_s`` (time of the observation), ``altitude_m`` (true), ``contact`` (floor or
ceiling, see Physics), ``velocity_m_s``,
``reference_m``, ``command`` (u after clipping and dead zone), ``thrust_n`` (lagged force),
``excess_mass_kg`` (with drift), ``disturbance_n`` (gust + drift force), ``profile_seed``.

Parameters (units; default)
---------------------------
envelope_semi_major_m (m; 0.6), envelope_radius_m (m; 0.3): envelope semi-axes, a 1.2 m x 0.6 m
    indoor blimp of 0.226 m^3.
envelope_areal_density_kg_m2 (kg/m^2; 0.05): envelope fabric (metallised nylon/mylar, ~50 g/m^2).
excess_mass_kg (kg; 0.005): mass above neutral buoyancy (5 g); negative for a blimp that rises.
added_mass_coef (-; None = Lamb's potential-flow value, 0.70 for the default shape).
air_density_kg_m3 (kg/m^3; 1.2), air_viscosity_pa_s (Pa s; 1.8e-5).
thrust_gain_n (N per unit u; 0.045): full command 3.3 gives 0.149 N (15 gf), three times the
    default excess weight; hovering needs u = 1.09.
motor_tau_s (s; 0.1): motor time constant (0 = no lag).
dead_zone (u; 0.1): commands with |u| below this give no thrust.
u_max (u; 3.3): command bound.
control_rate_hz (Hz; 10): control rate; one env step per control period (``dt``).
sensor_rate_hz (Hz; None = control_rate_hz): lidar rate; control_rate_hz / sensor_rate_hz must be
    a whole number (the observation holds the last sample in between).
sensor_noise_m (m; 0.01): lidar noise standard deviation.
timestep_s (s; None = ``default_timestep``): MuJoCo timestep; 1 / (control_rate_hz * timestep_s) must
    be an integer.
integrator ("RK4" | "implicitfast"; "RK4"): MuJoCo integrator; ``timestep_s=0.002,
    integrator="implicitfast"`` is the former default, the 2-ms reference.
episode_s (s; 120): episode length.
profile ("steps" | "alternating" | "ramps" | "random" | ReferenceProfile; "steps").
profile_kwargs (dict; None): extra arguments to the profile builder (e.g. low_m, high_m, period_s).
initial_altitude_m (m; None = the profile's first value).
ceiling_m (m; 4.0): room height.
gust_force_n (N; 0), gust_rate_hz (1/s; 0.05), gust_duration_s (s; 1.0).
buoyancy_drift_kg (kg; 0), buoyancy_drift_period_s (s; 60).
render_mode (None only: no renderer; the env is meant for headless batch runs).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from sim.profiles import ReferenceProfile, make_profile
from sim.seeds import TRAINING

G = 9.81
HELIUM_DENSITY_KG_M3 = 0.1664  # at 20 degC, 1 atm
GONDOLA_HALF_SIZE_M = (0.06, 0.04, 0.03)  # 12 x 8 x 6 cm box under the envelope
CONTACT_TOL_M = 1e-3  # floor/ceiling contact: within 1 mm of a joint limit (see the module docstring)
MAX_TIMESTEP_S = 0.1  # default RK4 step: at most this and the motor lag (see "Time stepping")
REFERENCE_TIMESTEP_S = 0.002  # the reference physics (implicitfast, 2 ms): the former default, and near a limit
INTEGRATORS = ("RK4", "implicitfast")


def spheroid_volume(a: float, r: float) -> float:
    """Volume (m^3) of a prolate spheroid with semi-major axis ``a`` and radius ``r``."""
    return 4.0 / 3.0 * math.pi * a * r * r


def spheroid_surface(a: float, r: float) -> float:
    """Surface area (m^2) of a prolate spheroid (a >= r); a sphere when a == r."""
    if a < r:
        raise ValueError("the envelope must be prolate: semi-major axis >= radius")
    if a == r:
        return 4.0 * math.pi * r * r
    e = math.sqrt(1.0 - (r / a) ** 2)
    return 2.0 * math.pi * r * r * (1.0 + a / (r * e) * math.asin(e))


def spheroid_transverse_added_mass_coef(a: float, r: float) -> float:
    """Lamb's added-mass coefficient k for a prolate spheroid moving across its long axis.

    k = beta0 / (2 - beta0), beta0 = 1/e^2 - (1 - e^2) / (2 e^3) * ln((1 + e) / (1 - e)); a sphere
    gives 0.5, a long thin body tends to 1.
    """
    if a < r:
        raise ValueError("the envelope must be prolate: semi-major axis >= radius")
    if a == r:
        return 0.5
    e = math.sqrt(1.0 - (r / a) ** 2)
    beta0 = 1.0 / e**2 - (1.0 - e**2) / (2.0 * e**3) * math.log((1.0 + e) / (1.0 - e))
    return beta0 / (2.0 - beta0)


def default_timestep(control_period_s: float, motor_tau_s: float, integrator: str = "RK4") -> float:
    """The default MuJoCo timestep: for RK4 the control period split into the fewest equal steps no
    longer than ``MAX_TIMESTEP_S`` or the motor lag (RK4 is 4th order, but the lag must stay well
    inside its stability region); for the first-order integrators the 2-ms reference step."""
    if integrator != "RK4":
        return REFERENCE_TIMESTEP_S
    h_max = min(MAX_TIMESTEP_S, motor_tau_s) if motor_tau_s > 0 else MAX_TIMESTEP_S
    return control_period_s / max(1, math.ceil(control_period_s / h_max - 1e-9))


def blimp_mjcf(
    *,
    semi_major_m: float,
    radius_m: float,
    body_mass_kg: float,
    gravcomp: float,
    joint_max_m: float,
    air_density_kg_m3: float,
    air_viscosity_pa_s: float,
    timestep_s: float,
    thrust_gain_n: float,
    motor_tau_s: float,
    u_max: float,
    integrator: str = "implicitfast",
) -> str:
    """The MJCF of the blimp for the given (derived) parameters.

    RK4 integrates the motor lag as an ODE (``filter``, 4th order); the first-order integrators take
    ``filterexact`` (exact for a held command; under RK4 it would drop the whole step to first order).
    """
    gx, gy, gz = GONDOLA_HALF_SIZE_M
    env_z = 2 * gz + radius_m  # envelope centre above the lidar (gondola bottom)
    # Inertia of a solid spheroid of the body's mass: irrelevant on a slide joint, but must be valid.
    ixx = 0.4 * body_mass_kg * radius_m**2
    iyy = 0.2 * body_mass_kg * (semi_major_m**2 + radius_m**2)
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    if motor_tau_s > 0:
        dyntype = "filter" if integrator == "RK4" else "filterexact"
        dyn = f'dyntype="{dyntype}" dynprm="{motor_tau_s!r}"'
    else:
        dyn = 'dyntype="none"'
    return f"""<mujoco model="blimp_altitude">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep_s!r}" density="{air_density_kg_m3!r}" viscosity="{air_viscosity_pa_s!r}"
          integrator="{integrator}">
    <flag contact="disable"/>  <!-- nothing collides (the floor and ceiling are the joint's limits) -->
  </option>
  <visual><global offwidth="640" offheight="480"/></visual>
  <worldbody>
    <light pos="0 0 5" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="3 3 0.1" rgba="0.8 0.8 0.8 1"/>
    <body name="blimp" pos="0 0 0" gravcomp="{gravcomp!r}">
      <joint name="z" type="slide" axis="0 0 1" range="0 {joint_max_m!r}" damping="0"/>
      <inertial pos="0 0 {env_z!r}" mass="{body_mass_kg!r}" diaginertia="{ixx!r} {iyy!r} {iyy!r}"/>
      <geom name="envelope" type="ellipsoid" size="{semi_major_m!r} {radius_m!r} {radius_m!r}" pos="0 0 {env_z!r}"
            fluidshape="ellipsoid" contype="0" conaffinity="0" rgba="0.75 0.75 0.8 0.6"/>
      <geom name="gondola" type="box" size="{gx!r} {gy!r} {gz!r}" pos="0 0 {gz!r}"
            contype="0" conaffinity="0" rgba="0.2 0.2 0.2 1"/>
      <site name="lidar" pos="0 0 0" size="0.01"/>
    </body>
  </worldbody>
  <actuator>
    <general name="thruster" joint="z" {dyn} gainprm="{thrust_gain_n!r}" ctrlrange="{-u_max!r} {u_max!r}"/>
  </actuator>
</mujoco>
"""


class BlimpAltitudeEnv(gym.Env):
    """Altitude control of an indoor blimp (see the module docstring for everything)."""

    metadata = {"render_modes": [], "render_fps": 10}

    def __init__(
        self,
        envelope_semi_major_m: float = 0.6,
        envelope_radius_m: float = 0.3,
        envelope_areal_density_kg_m2: float = 0.05,
        excess_mass_kg: float = 0.005,
        added_mass_coef: float | None = None,
        air_density_kg_m3: float = 1.2,
        air_viscosity_pa_s: float = 1.8e-5,
        thrust_gain_n: float = 0.045,
        motor_tau_s: float = 0.1,
        dead_zone: float = 0.1,
        u_max: float = 3.3,
        control_rate_hz: float = 10.0,
        sensor_rate_hz: float | None = None,
        sensor_noise_m: float = 0.01,
        timestep_s: float | None = None,
        integrator: str = "RK4",
        episode_s: float = 120.0,
        profile: str | ReferenceProfile = "steps",
        profile_kwargs: dict | None = None,
        initial_altitude_m: float | None = None,
        ceiling_m: float = 4.0,
        gust_force_n: float = 0.0,
        gust_rate_hz: float = 0.05,
        gust_duration_s: float = 1.0,
        buoyancy_drift_kg: float = 0.0,
        buoyancy_drift_period_s: float = 60.0,
        render_mode: str | None = None,
    ):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported (only None)")
        for name, v in (
            ("envelope_semi_major_m", envelope_semi_major_m),
            ("envelope_radius_m", envelope_radius_m),
            ("control_rate_hz", control_rate_hz),
            ("episode_s", episode_s),
            ("u_max", u_max),
            ("air_density_kg_m3", air_density_kg_m3),
        ):
            if not v > 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        for name, v in (
            ("motor_tau_s", motor_tau_s),
            ("dead_zone", dead_zone),
            ("sensor_noise_m", sensor_noise_m),
            ("thrust_gain_n", thrust_gain_n),
            ("gust_force_n", gust_force_n),
            ("gust_rate_hz", gust_rate_hz),
            ("buoyancy_drift_kg", buoyancy_drift_kg),
        ):
            if not v >= 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
        if timestep_s is None:
            timestep_s = default_timestep(1.0 / control_rate_hz, motor_tau_s, integrator)
        if not timestep_s > 0:
            raise ValueError(f"timestep_s must be > 0, got {timestep_s}")
        n_sub = 1.0 / (control_rate_hz * timestep_s)
        if abs(n_sub - round(n_sub)) > 1e-6 or round(n_sub) < 1:
            raise ValueError(f"1 / (control_rate_hz * timestep_s) must be a positive integer, got {n_sub}")
        sensor_rate_hz = control_rate_hz if sensor_rate_hz is None else sensor_rate_hz
        if not sensor_rate_hz > 0:
            raise ValueError(f"sensor_rate_hz must be > 0, got {sensor_rate_hz}")
        every = control_rate_hz / sensor_rate_hz  # control steps per lidar sample
        if abs(every - round(every)) > 1e-6 or round(every) < 1:
            raise ValueError(
                f"the sensor period must be a whole multiple of the control period: sensor_rate_hz={sensor_rate_hz} "
                f"with control_rate_hz={control_rate_hz} gives {every:g} control steps per sample (a sensor "
                "cannot be read faster than the loop that reads it)"
            )
        if isinstance(profile, str):
            make_profile(profile, 0, episode_s, **(profile_kwargs or {}))  # validate kind and kwargs now
        elif not isinstance(profile, ReferenceProfile):
            raise TypeError("profile must be a kind name or a sim.profiles.ReferenceProfile")

        self.render_mode = render_mode
        self.n_substeps = int(round(n_sub))
        self.timestep_s = float(timestep_s)
        self.integrator = integrator
        self.dt = 1.0 / control_rate_hz
        self.control_rate_hz = float(control_rate_hz)
        self.sensor_rate_hz = float(sensor_rate_hz)
        self.sensor_every = int(round(every))
        self.max_steps = int(round(episode_s * control_rate_hz))
        self.episode_s = episode_s
        self.sensor_noise_m = float(sensor_noise_m)
        self.dead_zone = float(dead_zone)
        self.u_max = float(u_max)
        self.thrust_gain_n = float(thrust_gain_n)
        self.motor_tau_s = float(motor_tau_s)
        self.excess_mass_kg = float(excess_mass_kg)
        self.gust_force_n = float(gust_force_n)
        self.gust_rate_hz = float(gust_rate_hz)
        self.gust_duration_s = float(gust_duration_s)
        self.buoyancy_drift_kg = float(buoyancy_drift_kg)
        self.buoyancy_drift_period_s = float(buoyancy_drift_period_s)
        self.initial_altitude_m = initial_altitude_m
        self._profile_spec = profile
        self._profile_kwargs = dict(profile_kwargs or {})

        # Mass budget (kg).
        a, r = float(envelope_semi_major_m), float(envelope_radius_m)
        self.volume_m3 = spheroid_volume(a, r)
        self.displaced_air_kg = air_density_kg_m3 * self.volume_m3
        self.helium_kg = HELIUM_DENSITY_KG_M3 * self.volume_m3
        self.envelope_kg = envelope_areal_density_kg_m2 * spheroid_surface(a, r)
        self.mass_kg = self.displaced_air_kg + self.excess_mass_kg
        self.gondola_kg = self.mass_kg - self.helium_kg - self.envelope_kg
        payload_kg = self.displaced_air_kg - self.helium_kg - self.envelope_kg
        if payload_kg <= 0:
            raise ValueError(
                f"the envelope cannot lift itself: its gross lift leaves {payload_kg:.4f} kg of payload "
                "(make the envelope bigger or its fabric lighter)"
            )
        if self.gondola_kg <= 0:
            raise ValueError(
                f"excess_mass_kg={excess_mass_kg} would need a gondola mass of {self.gondola_kg:.4f} kg "
                f"(the payload at neutral buoyancy is {payload_kg:.4f} kg)"
            )
        k = spheroid_transverse_added_mass_coef(a, r) if added_mass_coef is None else float(added_mass_coef)
        if k < 0:
            raise ValueError(f"added_mass_coef must be >= 0, got {k}")
        self.added_mass_kg = k * air_density_kg_m3 * self.volume_m3
        self.body_mass_kg = self.mass_kg + self.added_mass_kg
        self.gravcomp = (self.displaced_air_kg + self.added_mass_kg) / self.body_mass_kg
        self.envelope_top_m = 2 * GONDOLA_HALF_SIZE_M[2] + 2 * r
        joint_max = ceiling_m - self.envelope_top_m
        if joint_max <= 0:
            raise ValueError(f"ceiling_m={ceiling_m} is lower than the blimp ({self.envelope_top_m:.2f} m tall)")
        self.altitude_max_m = joint_max

        self.mjcf = blimp_mjcf(
            semi_major_m=a,
            radius_m=r,
            body_mass_kg=self.body_mass_kg,
            gravcomp=self.gravcomp,
            joint_max_m=joint_max,
            air_density_kg_m3=air_density_kg_m3,
            air_viscosity_pa_s=air_viscosity_pa_s,
            timestep_s=timestep_s,
            thrust_gain_n=thrust_gain_n,
            motor_tau_s=motor_tau_s,
            u_max=u_max,
            integrator=integrator,
        )
        self.model = mujoco.MjModel.from_xml_string(self.mjcf)
        self.data = mujoco.MjData(self.model)
        self._body = self.model.body("blimp").id
        self._has_act = self.model.na > 0
        # Near a limit a coarse step would soften it (MuJoCo stretches a constraint's time constant to
        # two timesteps): there the reference physics runs instead (_advance).
        self._limit_substeps = self.n_substeps
        self._limit_timestep = None
        if self.timestep_s > REFERENCE_TIMESTEP_S * (1 + 1e-9):
            self._limit_substeps = math.ceil(self.dt / REFERENCE_TIMESTEP_S - 1e-9)
            self._limit_timestep = self.dt / self._limit_substeps
        self._ref_table = []  # reference at k * dt, filled at reset
        self._disturbed = self.gust_force_n > 0 or self.buoyancy_drift_kg > 0

        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Box(-self.u_max, self.u_max, shape=(1,), dtype=np.float32)

        self.profile: ReferenceProfile | None = None
        self.profile_seed: int | None = None
        self._k = 0
        self._meas = 0.0
        self._command = 0.0
        self._gust_left_s = 0.0
        self._gust_force = 0.0
        self._drift_phase = 0.0
        self._disturbance = 0.0
        self._contact = False
        # Largest |acceleration| any command and disturbance can give (drag only slows): bounds how
        # far the blimp can move in one control period (_advance).
        self._accel_bound = (
            self.thrust_gain_n * self.u_max
            + (abs(self.excess_mass_kg) + self.buoyancy_drift_kg) * G
            + self.gust_force_n
        ) / self.body_mass_kg

    # ---------------------------------------------------------------- helpers
    @property
    def loop_spec(self) -> Any:
        """What the sensing-to-action loop needs to know of the blimp: `sim.blimp_loop.BLIMP_LOOP`
        (sensor layout, monitor and safe action, sensing defaults, flight metrics)."""
        from sim.blimp_loop import BLIMP_LOOP

        return BLIMP_LOOP

    @property
    def time_s(self) -> float:
        return self._k * self.dt

    @property
    def altitude_m(self) -> float:
        """True altitude of the lidar above the floor (m)."""
        return float(self.data.qpos[0])

    @property
    def thrust_n(self) -> float:
        """The motor's lagged force now (N): read from the state, since after an RK4 step
        ``actuator_force`` holds the last stage's estimate, not the force at the step's end."""
        return self.thrust_gain_n * float(self.data.act[0] if self._has_act else self.data.ctrl[0])

    @property
    def reference_m(self) -> float:
        """The reference altitude now (m), from the per-step table built at reset."""
        k = self._k
        return self._ref_table[k] if k < len(self._ref_table) else float(self.profile(k * self.dt))

    def _measure(self) -> float:
        # sigma * standard_normal() is normal(0, sigma) draw for draw (same stream), without its argument parsing
        noise = self.sensor_noise_m * self.np_random.standard_normal() if self.sensor_noise_m > 0 else 0.0
        return self.altitude_m + noise

    def _obs(self) -> np.ndarray:
        ref = self.reference_m
        return np.array([self._meas, ref, ref - self._meas], dtype=np.float32)

    @property
    def in_contact(self) -> bool:
        """The lidar at the floor or the envelope at the ceiling (within ``CONTACT_TOL_M`` of a joint limit)."""
        z = float(self.data.qpos[0])
        return z <= CONTACT_TOL_M or z >= self.altitude_max_m - CONTACT_TOL_M

    def _info(self) -> dict[str, Any]:
        return {
            "time_s": self.time_s,
            "altitude_m": self.altitude_m,
            "contact": self._contact,
            "velocity_m_s": float(self.data.qvel[0]),
            "reference_m": self.reference_m,
            "command": self._command,
            "thrust_n": self.thrust_n,
            "excess_mass_kg": self.excess_mass_kg + self._drift_kg(self.time_s),
            "disturbance_n": self._disturbance,
            "profile_seed": self.profile_seed,
        }

    def _drift_kg(self, t: float) -> float:
        if self.buoyancy_drift_kg == 0:
            return 0.0
        return self.buoyancy_drift_kg * math.sin(2 * math.pi * t / self.buoyancy_drift_period_s + self._drift_phase)

    def command_after_dead_zone(self, u: float) -> float:
        """What reaches the motor for a command ``u``: clipped to [-u_max, u_max], 0 inside the dead zone."""
        if not math.isfinite(u):
            return 0.0
        u = min(max(u, -self.u_max), self.u_max)
        return 0.0 if abs(u) < self.dead_zone else u

    # ---------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "profile" in options:
            self.profile = options["profile"]
            self.profile_seed = getattr(self.profile, "seed", None)
        elif isinstance(self._profile_spec, ReferenceProfile):
            self.profile, self.profile_seed = self._profile_spec, self._profile_spec.seed
        else:
            # no seed: a training seed (sim.seeds), never one of the validation or held-out sets
            self.profile_seed = int(seed) if seed is not None else int(self.np_random.integers(TRAINING.stop))
            self.profile = make_profile(self._profile_spec, self.profile_seed, self.episode_s, **self._profile_kwargs)

        # the reference at every control step, once (profile lookups were a third of a step's Python);
        # k * dt exactly as time_s computes it, so the values are those of profile(time_s)
        self._ref_table = self.profile(np.arange(self.max_steps + 1) * self.dt).tolist()
        mujoco.mj_resetData(self.model, self.data)
        z0 = self.profile.initial if self.initial_altitude_m is None else float(self.initial_altitude_m)
        self.data.qpos[0] = min(max(z0, 0.0), self.altitude_max_m)
        mujoco.mj_forward(self.model, self.data)
        self._k = 0
        self._command = 0.0
        self._gust_left_s = 0.0
        self._gust_force = 0.0
        self._disturbance = 0.0
        self._drift_phase = float(self.np_random.uniform(0, 2 * math.pi)) if self.buoyancy_drift_kg > 0 else 0.0
        self._contact = self.in_contact
        self._meas = self._measure()
        return self._obs(), self._info()

    def _disturbance_force(self) -> float:
        """Vertical disturbance force (N, up positive) held over the coming control period."""
        f = 0.0
        if self.gust_force_n > 0:
            if self._gust_left_s <= 0 and self.np_random.random() < -math.expm1(-self.gust_rate_hz * self.dt):
                self._gust_left_s = self.gust_duration_s
                self._gust_force = (
                    self.gust_force_n
                    * self.np_random.uniform(0.5, 1.0)
                    * (1.0 if self.np_random.random() < 0.5 else -1.0)
                )
            if self._gust_left_s > 0:
                f += self._gust_force
                self._gust_left_s -= self.dt
        if self.buoyancy_drift_kg > 0:
            f -= self._drift_kg(self.time_s + 0.5 * self.dt) * G
        return f

    def _advance(self) -> bool:
        """One control period of physics; True if the blimp touched the floor or ceiling during it.

        Far from both limits (farther than the blimp can travel in a period at its current speed and
        the largest possible acceleration) it is one ``mj_step`` call; near them the substeps run one
        by one so that a touch shorter than the period is seen (identical physics either way).
        """
        z, v = float(self.data.qpos[0]), abs(float(self.data.qvel[0]))
        reach = CONTACT_TOL_M + v * self.dt + 0.5 * self._accel_bound * self.dt**2
        if reach < z < self.altitude_max_m - reach:
            mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
            return self.in_contact
        touched = False
        self._limit_physics(True)
        try:
            for _ in range(self._limit_substeps):
                mujoco.mj_step(self.model, self.data)
                touched = touched or self.in_contact
        finally:
            self._limit_physics(False)
        return touched

    def _limit_physics(self, on: bool) -> None:
        """Switch to the reference physics (implicitfast, ``filterexact``, ~2 ms) near a limit and back."""
        if self._limit_timestep is None:
            return
        m = self.model
        if on:
            m.opt.timestep = self._limit_timestep
            m.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
            if self._has_act:
                m.actuator_dyntype[0] = mujoco.mjtDyn.mjDYN_FILTEREXACT
        else:
            m.opt.timestep = self.timestep_s
            m.opt.integrator = getattr(mujoco.mjtIntegrator, f"mjINT_{self.integrator.upper()}")
            if self._has_act:
                m.actuator_dyntype[0] = (
                    mujoco.mjtDyn.mjDYN_FILTER if self.integrator == "RK4" else mujoco.mjtDyn.mjDYN_FILTEREXACT
                )

    def step(self, action):
        u = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        obs, reward, truncated = self.step_lean(u)
        return obs, reward, False, truncated, self._info()

    def step_lean(self, u: float) -> tuple[np.ndarray, float, bool]:
        """``step`` for scoring loops: the command as a float in, ``(obs, reward, truncated)`` out, no info
        dict (read ``time_s``, ``altitude_m``, ``reference_m``, ``contact`` instead). ``step`` is this
        plus the info dict, so the physics and the random stream are the same."""
        if self.profile is None:
            raise RuntimeError("call reset() before step()")
        self._command = self.command_after_dead_zone(u)
        self.data.ctrl[0] = self._command
        if self._disturbed:  # else the force stays 0 from reset
            self._disturbance = self._disturbance_force()
            self.data.xfrc_applied[self._body, 2] = self._disturbance
        self._contact = self._advance()
        self._k += 1
        if self._k % self.sensor_every == 0:  # else the lidar's last sample is held
            self._meas = self._measure()
        ref, meas = self.reference_m, self._meas
        obs = np.array([meas, ref, ref - meas], dtype=np.float32)
        reward = -abs(ref - float(self.data.qpos[0]))
        return obs, reward, self._k >= self.max_steps

    @property
    def contact(self) -> bool:
        """``info["contact"]``: the floor or ceiling touched during the last step (at reset: now)."""
        return self._contact

    def render(self):
        return None

    def close(self):
        pass


if __name__ == "__main__":  # print the default model's MJCF
    print(BlimpAltitudeEnv().mjcf, end="")
