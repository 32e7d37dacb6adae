"""The fast blimp path: RK4 at the control period against the 2-ms reference, and the lean loop.

Bounds (also in ``sim.blimp``'s docstring), 120-s "steps" flights without sensor noise, the default
env against ``timestep_s=0.002, integrator="implicitfast"`` (the former default):

* closed loop with the PID: altitude within 0.5 mm at every control step (measured <= 0.17 mm);
* open loop, the reference flight's commands replayed: within 10 mm (measured <= 4.6 mm) — the
  reference's own drift (thrust taken from the start of each 2-ms substep) is most of it: against a
  0.1-ms run the default stays within 0.5 mm (0.19 mm), the reference does not (3.5 mm).
"""

import numpy as np
import pytest

pytest.importorskip("mujoco")
gym = pytest.importorskip("gymnasium")

import sim  # noqa: E402,F401  (registers the env)
from sim.blimp import BlimpAltitudeEnv, default_timestep  # noqa: E402
from sim.blimp_metrics import run_episode  # noqa: E402
from snnctl.controllers.pid import PID  # noqa: E402

SEEDS = (1, 2, 3, 4, 5)
CLOSED_LOOP_BOUND_M = 0.5e-3
OPEN_LOOP_BOUND_M = 10e-3
REFERENCE = {"timestep_s": 0.002, "integrator": "implicitfast"}


class Replay:
    """Plays a recorded command sequence (open loop)."""

    def __init__(self, u):
        self.u, self.k = np.asarray(u), 0

    def reset(self):
        self.k = 0

    def act(self, obs):
        self.k += 1
        return np.array([self.u[self.k - 1]], np.float32)


def pid_flight(env, seed):
    return run_episode(env, PID.for_blimp(dt=env.dt), seed=seed)


def test_default_timestep_rule():
    env = BlimpAltitudeEnv()
    assert (env.integrator, env.timestep_s, env.n_substeps) == ("RK4", 0.1, 1)
    assert default_timestep(0.1, 0.05) == pytest.approx(0.05)  # never longer than the motor lag
    assert default_timestep(0.1, 0.0) == pytest.approx(0.1)
    assert default_timestep(1 / 3, 0.1) == pytest.approx(1 / 12)  # equal steps filling the period
    assert default_timestep(0.02, 0.1) == pytest.approx(0.02)
    assert default_timestep(0.1, 0.1, "implicitfast") == 0.002
    assert BlimpAltitudeEnv(motor_tau_s=0.03).n_substeps == 4
    with pytest.raises(ValueError, match="integrator"):
        BlimpAltitudeEnv(integrator="Euler")


@pytest.mark.parametrize("seed", SEEDS)
def test_closed_loop_pid_matches_the_2ms_reference(seed):
    new = pid_flight(BlimpAltitudeEnv(sensor_noise_m=0.0), seed)
    ref = pid_flight(BlimpAltitudeEnv(sensor_noise_m=0.0, **REFERENCE), seed)
    assert new.t.size == ref.t.size == 1200
    assert np.max(np.abs(new.altitude - ref.altitude)) < CLOSED_LOOP_BOUND_M
    m_new, m_ref = new.metrics(), ref.metrics()
    for key in ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m"):
        assert m_new[key] == pytest.approx(m_ref[key], abs=CLOSED_LOOP_BOUND_M)


@pytest.mark.parametrize("seed", SEEDS)
def test_open_loop_replay_matches_the_2ms_reference(seed):
    ref_env = BlimpAltitudeEnv(sensor_noise_m=0.0, **REFERENCE)
    commands = pid_flight(ref_env, seed).action
    ref = run_episode(ref_env, Replay(commands), seed=seed)
    new = run_episode(BlimpAltitudeEnv(sensor_noise_m=0.0), Replay(commands), seed=seed)
    assert np.max(np.abs(new.altitude - ref.altitude)) < OPEN_LOOP_BOUND_M


def test_default_is_closer_to_a_fine_run_than_the_reference():
    """Against MuJoCo at 0.1 ms, the default is within 0.5 mm open and closed loop; most of the
    open-loop gap to the 2-ms reference is the reference's own error."""
    seed = 2
    fine = BlimpAltitudeEnv(sensor_noise_m=0.0, timestep_s=0.0001, integrator="implicitfast")
    new = BlimpAltitudeEnv(sensor_noise_m=0.0)
    ref = BlimpAltitudeEnv(sensor_noise_m=0.0, **REFERENCE)
    commands = pid_flight(ref, seed).action
    z_fine = run_episode(fine, Replay(commands), seed=seed).altitude
    err_new = np.max(np.abs(run_episode(new, Replay(commands), seed=seed).altitude - z_fine))
    err_ref = np.max(np.abs(run_episode(ref, Replay(commands), seed=seed).altitude - z_fine))
    assert err_new < 0.5e-3 < 2e-3 < err_ref
    assert np.max(np.abs(pid_flight(new, seed).altitude - pid_flight(fine, seed).altitude)) < 0.5e-3


def test_limits_run_the_reference_physics():
    """Near the floor and ceiling the default steps at 2 ms: landings and ceiling hits as the reference."""
    out = {}
    for name, kw in (("new", {}), ("ref", REFERENCE)):
        env = BlimpAltitudeEnv(sensor_noise_m=0.0, episode_s=20.0, initial_altitude_m=1.0, **kw)
        env.reset(seed=0)
        z, contact = [], []
        for k in range(200):  # fall to the floor (5 s at sink speed), then full thrust to the ceiling
            _, _, _, _, info = env.step(np.array([0.0 if k < 80 else 3.3], np.float32))
            z.append(info["altitude_m"])
            contact.append(info["contact"])
        out[name] = np.array(z), np.array(contact)
        assert env.model.opt.timestep == env.timestep_s  # switched back after the limit substeps
    (z_new, c_new), (z_ref, c_ref) = out["new"], out["ref"]
    assert c_ref.any() and c_ref[:80].any() and c_ref[80:].any()  # touched both
    assert np.max(np.abs(z_new - z_ref)) < 2e-3
    assert np.count_nonzero(c_new != c_ref) <= 2  # a touch at the edge of a step may fall either side


def _records_equal(a, b):
    for f in ("t", "altitude", "measurement", "reference", "action", "contact"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f
    assert a.total_reward == b.total_reward and a.step_times == b.step_times and a.seed == b.seed
    assert a.extras.keys() == b.extras.keys()
    for k in a.extras:
        assert a.extras[k].dtype == b.extras[k].dtype and np.array_equal(a.extras[k], b.extras[k])


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"gust_force_n": 0.1, "gust_rate_hz": 0.5, "buoyancy_drift_kg": 0.004},
        {"sensor_rate_hz": 5.0, "profile": "ramps"},
        {"profile": "random", "initial_altitude_m": 0.0, **REFERENCE},  # starts on the floor
    ],
)
def test_lean_loop_gives_the_gymnasium_loops_record(kw):
    from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
    from snnctl.controllers.snn import SNNController

    codec = BlimpSNNCodec(BlimpSNNSpec())
    env = BlimpAltitudeEnv(episode_s=30.0, **kw)
    for make in (lambda: PID.for_blimp(dt=env.dt), lambda: SNNController(codec.decode(codec.initial_genome))):
        for seed in (3, None):
            env.reset(seed=11)  # the same generator state before each run
            lean = run_episode(env, make(), seed=seed)
            state = env.np_random.bit_generator.state
            env.reset(seed=11)
            plain = run_episode(env, make(), seed=seed, lean=False)
            _records_equal(lean, plain)
            assert env.np_random.bit_generator.state == state  # the same random stream consumed
    wrapped = gym.make("snnctl/BlimpAltitude-v0", episode_s=30.0, **kw)  # the plain loop through gymnasium
    _records_equal(
        run_episode(env, PID.for_blimp(dt=env.dt), seed=4), run_episode(wrapped, PID.for_blimp(dt=env.dt), seed=4)
    )
    lean = run_episode(env, PID.for_blimp(dt=env.dt), seed=4, max_steps=7)
    _records_equal(lean, run_episode(env, PID.for_blimp(dt=env.dt), seed=4, max_steps=7, lean=False))
    assert lean.t.size == 7
