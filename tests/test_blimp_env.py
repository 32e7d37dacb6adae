"""BlimpAltitudeEnv: gymnasium API, physics against closed form, actuator, sensor, profiles."""

import math

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import sim  # noqa: E402,F401  (registers the env)
from sim.blimp import BlimpAltitudeEnv, G, spheroid_transverse_added_mass_coef  # noqa: E402
from sim.profiles import (  # noqa: E402
    HELDOUT_SEED_START,
    HELDOUT_SEEDS,
    KINDS,
    ReferenceProfile,
    heldout_profiles,
    make_profile,
)


def fly(env, actions, seed=0, z0=None):
    """True altitude and velocity after each step under a fixed action sequence."""
    env.reset(seed=seed)
    if z0 is not None:
        env.data.qpos[0] = z0
    z, v = [env.altitude_m], [float(env.data.qvel[0])]
    for a in actions:
        _, _, _, _, info = env.step(np.array([a], dtype=np.float32))
        z.append(info["altitude_m"])
        v.append(info["velocity_m_s"])
    return np.array(z), np.array(v)


pytestmark = [
    # check_env's advice for RL libraries: the paper's command range [-3.3, 3.3] and an unbounded
    # (noisy) altitude are intended.
    pytest.mark.filterwarnings("ignore:.*symmetric and normalized space:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning"),
]


def test_check_env_passes():
    env = BlimpAltitudeEnv()
    check_env(env, skip_render_check=True)


def test_check_env_with_disturbances():
    env = BlimpAltitudeEnv(gust_force_n=0.05, gust_rate_hz=0.5, buoyancy_drift_kg=0.002)
    check_env(env, skip_render_check=True)


def test_registered_and_light_import():
    env = gym.make("snnctl/BlimpAltitude-v0", episode_s=1.0)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (3,) and obs.dtype == np.float32
    n, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        n += 1
        done = term or trunc
    assert n == 10  # 1 s at 10 Hz
    env.close()


def test_spaces_and_observation_layout():
    env = BlimpAltitudeEnv(sensor_noise_m=0.0)
    obs, info = env.reset(seed=1)
    assert env.action_space.low[0] == pytest.approx(-3.3) and env.action_space.high[0] == pytest.approx(3.3)
    assert obs[0] == pytest.approx(info["altitude_m"], abs=1e-6)
    assert obs[1] == pytest.approx(info["reference_m"], abs=1e-6)
    assert obs[2] == pytest.approx(obs[1] - obs[0], abs=1e-6)
    _, reward, _, _, info = env.step(np.zeros(1, np.float32))
    assert reward == pytest.approx(-abs(info["reference_m"] - info["altitude_m"]))


def test_mass_budget():
    env = BlimpAltitudeEnv()
    assert env.mass_kg == pytest.approx(env.displaced_air_kg + env.excess_mass_kg)
    assert env.helium_kg + env.envelope_kg + env.gondola_kg == pytest.approx(env.mass_kg)
    assert env.model.body_mass[env._body] == pytest.approx(env.mass_kg + env.added_mass_kg)
    # Lamb: a sphere has k = 1/2; the default 2:1 spheroid across its axis ~0.70.
    assert spheroid_transverse_added_mass_coef(0.3, 0.3) == 0.5
    assert spheroid_transverse_added_mass_coef(0.6, 0.3) == pytest.approx(0.704, abs=0.002)
    assert spheroid_transverse_added_mass_coef(6.0, 0.3) > 0.95


def test_neutral_blimp_stays_put():
    env = BlimpAltitudeEnv(excess_mass_kg=0.0, sensor_noise_m=0.0)
    z, _ = fly(env, [0.0] * 100, z0=1.5)  # 10 s
    assert np.max(np.abs(z - 1.5)) < 1e-3


@pytest.mark.parametrize("added", [None, 0.0])
def test_excess_mass_sinks_at_closed_form_acceleration(added):
    dm = 0.005
    env = BlimpAltitudeEnv(excess_mass_kg=dm, added_mass_coef=added, sensor_noise_m=0.0, control_rate_hz=50.0)
    z, v = fly(env, [0.0] * 10, z0=2.0)  # 0.2 s at 50 Hz
    a_closed = -G * dm / (env.mass_kg + env.added_mass_kg)
    t = np.arange(z.size) / 50.0
    # fit z = z0 + a t^2 / 2 over the first 0.2 s (the drag is < 1 % of the weight at these speeds)
    a_fit = 2 * np.polyfit(t**2, z - z[0], 1)[0]
    assert a_fit == pytest.approx(a_closed, rel=0.02)
    assert v[5] / t[5] == pytest.approx(a_closed, rel=0.02)
    if added is None:
        assert abs(a_closed) < G * dm / env.mass_kg * 0.65  # added mass slows the start noticeably


def test_terminal_velocity_matches_drag():
    dm = 0.005
    env = BlimpAltitudeEnv(excess_mass_kg=dm, sensor_noise_m=0.0, ceiling_m=12.0)
    _, v = fly(env, [0.0] * 150, z0=10.0)  # 15 s from 10 m
    speed = -v
    assert np.all(np.diff(speed) >= -1e-9)  # monotone approach from below
    # MuJoCo blunt drag C rho A v^2 with C = 0.5, A = pi a r (+ ~0.1 % viscous drag)
    v_closed = math.sqrt(dm * G / (0.5 * 1.2 * math.pi * 0.6 * 0.3))
    assert speed[-1] == pytest.approx(v_closed, rel=0.01)
    assert speed[-1] < v_closed


def test_dead_zone_thrust_does_nothing():
    env = BlimpAltitudeEnv(sensor_noise_m=0.0)
    z0, _ = fly(env, [0.0] * 50, z0=2.0)
    for u in (0.05, -0.099, 0.0999):
        z1, _ = fly(env, [u] * 50, z0=2.0)
        np.testing.assert_array_equal(z0, z1)
    z2, _ = fly(env, [0.1] * 50, z0=2.0)  # at the edge the motor turns
    assert z2[-1] > z0[-1]


@pytest.mark.parametrize("integrator", ["RK4", "implicitfast"])
def test_motor_lag_step_response(integrator):
    tau = 0.1
    env = BlimpAltitudeEnv(motor_tau_s=tau, control_rate_hz=100.0, sensor_noise_m=0.0, integrator=integrator)
    env.reset(seed=0)
    u = 2.0
    thrust = []
    for _ in range(60):
        env.step(np.array([u], np.float32))
        thrust.append(env.thrust_n)
    # the lagged force at the end of each step (filterexact is exact, RK4 at dt / tau = 0.1 within 1e-7)
    t = np.arange(1, 61) * env.dt
    expected = env.thrust_gain_n * u * (1 - np.exp(-t / tau))
    np.testing.assert_allclose(thrust, expected, atol=1e-6 * env.thrust_gain_n * u, rtol=1e-9)


def test_no_lag_option():
    env = BlimpAltitudeEnv(motor_tau_s=0.0, sensor_noise_m=0.0)
    env.reset(seed=0)
    env.step(np.array([3.3], np.float32))
    assert env.thrust_n == pytest.approx(env.thrust_gain_n * 3.3)
    env.step(np.array([10.0], np.float32))  # clipped
    assert env.thrust_n == pytest.approx(env.thrust_gain_n * 3.3)
    env.step(np.array([np.nan], np.float32))  # NaN -> motor off
    assert env.thrust_n == 0.0


def test_sensor_noise_std():
    sigma = 0.01
    env = BlimpAltitudeEnv(excess_mass_kg=0.0, sensor_noise_m=sigma)
    obs, info = env.reset(seed=5)
    err = []
    for _ in range(2000):
        obs, _, _, _, info = env.step(np.zeros(1, np.float32))
        err.append(float(obs[0]) - info["altitude_m"])
    err = np.array(err)
    assert abs(np.mean(err)) < 4 * sigma / math.sqrt(err.size)
    assert np.std(err) == pytest.approx(sigma, rel=0.08)
    # white: lag-1 autocorrelation near 0
    assert abs(np.corrcoef(err[:-1], err[1:])[0, 1]) < 0.1


def test_seeded_reset_is_reproducible_and_profile_independent_of_noise():
    a = BlimpAltitudeEnv(gust_force_n=0.05, gust_rate_hz=1.0)
    b = BlimpAltitudeEnv(sensor_noise_m=0.0)
    za, _ = fly(a, [1.0] * 100, seed=11)
    za2, _ = fly(a, [1.0] * 100, seed=11)
    np.testing.assert_array_equal(za, za2)
    b.reset(seed=11)
    np.testing.assert_array_equal(a.profile.values, b.profile.values)
    a.reset()
    assert a.profile_seed < HELDOUT_SEED_START


def test_gusts_and_drift_disturb():
    base = BlimpAltitudeEnv(sensor_noise_m=0.0)
    gusty = BlimpAltitudeEnv(sensor_noise_m=0.0, gust_force_n=0.05, gust_rate_hz=1.0)
    drift = BlimpAltitudeEnv(sensor_noise_m=0.0, buoyancy_drift_kg=0.003, buoyancy_drift_period_s=20.0)
    z0, _ = fly(base, [1.09] * 100, seed=2, z0=2.0)
    assert not np.array_equal(z0, fly(gusty, [1.09] * 100, seed=2, z0=2.0)[0])
    drift.reset(seed=2)
    masses = []
    for _ in range(200):
        masses.append(drift.step(np.zeros(1, np.float32))[4]["excess_mass_kg"])
    assert max(masses) - min(masses) > 0.004


def test_custom_profile_option():
    p = ReferenceProfile(np.array([0.0, 1.0]), np.array([1.0, 1.5]), change_times=(1.0,))
    env = BlimpAltitudeEnv(sensor_noise_m=0.0, episode_s=2.0)
    obs, info = env.reset(seed=0, options={"profile": p})
    assert info["reference_m"] == 1.0 and info["altitude_m"] == pytest.approx(1.0)
    for _ in range(10):
        obs, *_ = env.step(np.zeros(1, np.float32))
    assert obs[1] == pytest.approx(1.5)  # the step at t = 1.0 s is in force at t = 1.0 s


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="timestep_s"):
        BlimpAltitudeEnv(timestep_s=0.003)
    with pytest.raises(ValueError, match="cannot lift"):
        BlimpAltitudeEnv(envelope_semi_major_m=0.2, envelope_radius_m=0.1)
    with pytest.raises(ValueError, match="gondola mass"):
        BlimpAltitudeEnv(excess_mass_kg=-0.2)
    with pytest.raises(ValueError, match="unknown profile kind"):
        BlimpAltitudeEnv(profile="zigzag")


# ---------------------------------------------------------------- profiles


@pytest.mark.parametrize("kind", KINDS)
def test_profiles_deterministic_per_seed(kind):
    p1, p2, p3 = make_profile(kind, 7), make_profile(kind, 7), make_profile(kind, 8)
    np.testing.assert_array_equal(p1.times, p2.times)
    np.testing.assert_array_equal(p1.values, p2.values)
    assert p1.change_times == p2.change_times
    t = np.linspace(0, 120, 1201)
    np.testing.assert_array_equal(p1(t), p2(t))
    if kind != "alternating":
        assert not np.array_equal(p1(t), p3(t))
    assert np.all((p1(t) >= 0.5 - 1e-12) & (p1(t) <= 2.5 + 1e-12))


def test_step_profile_shape():
    p = make_profile("steps", 3, 120.0)
    assert p.change_times == (30.0, 60.0, 90.0)
    assert np.all(np.abs(np.diff(p.values)) >= 0.3)
    assert p(29.999) == p.values[0] and p(30.0) == p.values[1] and p(300.0) == p.values[-1]


def test_ramp_profile_is_continuous():
    p = make_profile("ramps", 4, 120.0, ramp_s=10.0)
    t = np.linspace(0, 120, 12001)
    assert np.max(np.abs(np.diff(p(t)))) < 2.0 / 10.0 * 0.01 + 1e-9  # slope <= 2 m / 10 s
    assert p(40.0) == pytest.approx(p.values[2])


def test_random_profile_holds():
    p = make_profile("random", 9, 300.0, min_hold_s=10.0, max_hold_s=40.0)
    d = np.diff(p.times)
    assert np.all((d >= 10.0) & (d <= 40.0))


def test_heldout_set_is_reserved_and_fixed():
    assert min(HELDOUT_SEEDS) >= HELDOUT_SEED_START
    a, b = heldout_profiles(n=3), heldout_profiles(n=3)
    assert [x.seed for x in a] == list(HELDOUT_SEEDS[:3])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.values, y.values)


# ---------------------------------------------------------------- floor/ceiling contact, sensor rate


def _time_to_travel(env, force_n: float, dist_m: float) -> float:
    """Closed form, from rest under a constant net force with quadratic drag c v^2 (viscous part ~0.1 %):
    v = vt tanh(a t / vt), distance = vt^2 / a * ln cosh(a t / vt)."""
    c = 0.5 * 1.2 * math.pi * 0.6 * 0.3
    vt, a = math.sqrt(force_n / c), force_n / (env.mass_kg + env.added_mass_kg)
    return vt / a * math.acosh(math.exp(dist_m * a / vt**2))


@pytest.mark.parametrize("where", ["floor", "ceiling"])
def test_contact_flag_when_the_blimp_lands_or_hits_the_ceiling(where):
    from sim.blimp import CONTACT_TOL_M

    env = BlimpAltitudeEnv(sensor_noise_m=0.0, motor_tau_s=0.0, control_rate_hz=50.0)
    _, info = env.reset(seed=0)
    assert info["contact"] is False
    u = 0.0 if where == "floor" else 3.3  # motor off: the 5 g of excess mass sinks it; full thrust lifts it
    z0 = 0.6 if where == "floor" else env.altitude_max_m - 0.6
    env.data.qpos[0] = z0
    force = abs(u * env.thrust_gain_n - env.excess_mass_kg * G)
    t_hit = _time_to_travel(env, force, 0.6 - CONTACT_TOL_M)
    contact, z = [], []
    for _ in range(int((t_hit + 2.0) * 50)):
        _, _, _, _, info = env.step(np.array([u], np.float32))
        contact.append(info["contact"])
        z.append(info["altitude_m"])
    contact = np.array(contact)
    first = int(np.argmax(contact))
    assert contact.any() and not contact[:first].any()
    assert first / 50.0 < t_hit <= (first + 1) / 50.0 + 0.02  # touched in the step the closed form says
    assert contact[-25:].all()  # resting against it (the soft limit's bounce has died out)
    assert (z[-1] < CONTACT_TOL_M) if where == "floor" else (z[-1] > env.altitude_max_m - CONTACT_TOL_M)


def test_contact_flag_sees_a_touch_shorter_than_a_control_period():
    """Land at sink speed, thrust up at once: the limit's bounce lifts the blimp off the floor within one
    100-ms period, yet the step that touched says so (and the flight before it does not)."""
    env = BlimpAltitudeEnv(sensor_noise_m=0.0)
    env.reset(seed=0)
    env.data.qpos[0] = 0.6
    contact, z_end = [], []
    for k in range(60):
        _, _, _, _, info = env.step(np.array([0.0 if k < 35 else 3.3], np.float32))
        contact.append(info["contact"])
        z_end.append(info["altitude_m"])
    hits = np.flatnonzero(contact)
    assert hits.size and hits[-1] < 40 and not any(contact[40:])
    assert any(z_end[k] > 1e-3 for k in hits)  # a step that ended in the air but touched during it


def test_sensor_rate_below_control_rate_holds_the_last_sample():
    """A 5-Hz lidar under a 10-Hz loop: the measurement changes only every second step, each sample is the
    true altitude then plus the next noise draw of the env's stream (one draw per sample)."""
    sigma = 0.01
    for rate, every in ((10.0, 1), (5.0, 2)):
        env = BlimpAltitudeEnv(sensor_rate_hz=rate, sensor_noise_m=sigma)
        assert env.dt == pytest.approx(0.1) and env.sensor_every == every
        obs, info = env.reset(seed=3)
        noise = np.random.Generator(np.random.PCG64(np.random.SeedSequence(3))).normal(0.0, sigma, size=41)
        meas, alt = [float(obs[0])], [info["altitude_m"]]
        for _ in range(40):
            obs, _, _, _, info = env.step(np.array([1.5], np.float32))
            assert obs[2] == pytest.approx(obs[1] - obs[0], abs=1e-6)  # the error uses the held sample
            meas.append(float(obs[0]))
            alt.append(info["altitude_m"])
        for k in range(41):
            j = k - k % every  # step of the last sample
            assert meas[k] == np.float32(alt[j] + noise[j // every])
        if every == 2:
            assert all(meas[k] == meas[k - 1] for k in range(1, 41, 2))
            assert all(meas[k] != meas[k - 1] for k in range(2, 41, 2))


# lidar readings at steps 0, 1, 2, 25, 50 of the flight below, recorded from the single-rate env (commit c935130)
GOLDEN_MEAS_SEED7 = [1.753178358078003, 1.7410544157028198, 1.739391565322876, 1.5987377166748047, 1.403814673423767]


def test_default_rates_reproduce_the_single_rate_env():
    """10-Hz control and lidar give the numbers of the env before the rates were separate (recorded
    from it: same physics, same random stream with gusts and drift on)."""
    env = BlimpAltitudeEnv(
        gust_force_n=0.1,
        gust_rate_hz=0.5,
        buoyancy_drift_kg=0.004,
        episode_s=5.0,
        timestep_s=0.002,
        integrator="implicitfast",
    )  # the reference physics of that commit (the default is RK4 at the control period since)
    obs, _ = env.reset(seed=7)
    out = [obs]
    for k in range(50):
        obs, *_ = env.step(np.array([1.5 * math.sin(k / 7)], np.float32))
        out.append(obs)
    out = np.array(out)
    np.testing.assert_allclose(out[[0, 1, 2, 25, 50], 0], GOLDEN_MEAS_SEED7, rtol=0, atol=1e-6)


def test_rate_parameters_raise():
    with pytest.raises(ValueError, match="whole multiple of the control period"):
        BlimpAltitudeEnv(sensor_rate_hz=20.0)  # a sensor faster than the loop that reads it
    with pytest.raises(ValueError, match="whole multiple of the control period"):
        BlimpAltitudeEnv(sensor_rate_hz=4.0)  # 2.5 control steps per sample
    with pytest.raises(ValueError, match="sensor_rate_hz must be > 0"):
        BlimpAltitudeEnv(sensor_rate_hz=0.0)
    with pytest.raises(ValueError, match="control_rate_hz"):
        BlimpAltitudeEnv(control_rate_hz=3.0, timestep_s=0.002)  # 1 / (3 Hz * 2 ms) is not whole
    env = BlimpAltitudeEnv(control_rate_hz=50.0, episode_s=2.0)
    assert env.dt == pytest.approx(0.02) and env.max_steps == 100 and env.sensor_rate_hz == 50.0


def test_unseeded_reset_draws_a_training_seed() -> None:
    from sim.seeds import which_set

    env = BlimpAltitudeEnv(episode_s=1.0)
    env.reset(seed=None)
    for _ in range(50):
        env.reset()
        assert which_set(env.profile_seed) == "training"
