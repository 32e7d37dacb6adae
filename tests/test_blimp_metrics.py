"""The blimp's flight metrics on synthetic signals with known answers; its episode runner; its table row."""

import numpy as np
import pytest

from sim.blimp_metrics import flight_metrics


def synthetic_flight():
    """Steps at 30 (1 -> 2), 60 (2 -> 1), 90 (1 -> 1.5) s, sampled at 10 Hz over [0, 120] s.

    Altitude: 1.01 before 30 s; a 5-s ramp up, 2.15 over [35, 36) s (overshoot 0.15), then 1.98;
    a 5-s ramp down, 0.75 over [66, 67) s (undershoot 0.25), then 1.03; a 5-s ramp up, 1.55 over
    [95, 96) s (overshoot 0.05), then exactly 1.5.
    """
    t = np.round(np.arange(1201) * 0.1, 10)
    r = np.select([t < 30, t < 60, t < 90], [1.0, 2.0, 1.0], 1.5)
    z = np.empty_like(t)
    z[t < 30] = 1.01
    seg = (t >= 30) & (t < 35)
    z[seg] = 1.0 + (t[seg] - 30) / 5
    z[(t >= 35) & (t < 60)] = 1.98
    z[(t >= 35) & (t < 36)] = 2.15
    seg = (t >= 60) & (t < 65)
    z[seg] = 2.0 - (t[seg] - 60) / 5
    z[(t >= 65) & (t < 90)] = 1.03
    z[(t >= 66) & (t < 67)] = 0.75
    seg = (t >= 90) & (t < 95)
    z[seg] = 1.0 + 0.5 * (t[seg] - 90) / 5
    z[t >= 95] = 1.5
    z[(t >= 95) & (t < 96)] = 1.55
    return t, z, r


def test_steps_known_answers():
    t, z, r = synthetic_flight()
    u = np.where(np.arange(t.size) % 2 == 0, 2.0, -1.0)
    m = flight_metrics(t, z, r, u, step_times=(30.0, 60.0, 90.0))
    # steady state: last 10 s of each segment: 0.01, 0.02, 0.03, 0.0 -> mean 0.015
    assert m["steady_state_error_m"] == pytest.approx(0.015, abs=1e-12)
    assert m["overshoot_up_m"] == pytest.approx(0.15, abs=1e-12)
    assert m["overshoot_down_m"] == pytest.approx(0.25, abs=1e-12)
    assert (m["n_steps_up"], m["n_steps_down"]) == (2, 1)
    assert m["control_effort"] == pytest.approx((601 * 2.0 + 600 * 1.0) / 1201)
    assert m["rmse_m"] == pytest.approx(np.sqrt(np.mean((r - z) ** 2)))


def test_constant_offset_and_no_steps():
    t = np.arange(600) * 0.1
    r = np.full_like(t, 1.5)
    m = flight_metrics(t, r - 0.1, r, np.zeros_like(t), step_times=())
    assert m["rmse_m"] == pytest.approx(0.1)
    assert m["steady_state_error_m"] == pytest.approx(0.1)
    assert m["overshoot_up_m"] == 0.0 and m["overshoot_down_m"] == 0.0
    assert m["control_effort"] == 0.0


def test_monotone_approach_has_no_overshoot():
    t = np.arange(600) * 0.1
    r = np.where(t < 20, 1.0, 2.0)
    z = np.where(t < 20, 1.0, 2.0 - np.exp(-(t - 20) / 2.0))
    m = flight_metrics(t, z, r, np.ones_like(t), step_times=(20.0,))
    assert m["overshoot_up_m"] == 0.0 and m["n_steps_up"] == 1
    # segments [0, 20) (error 0) and [20, 59.9]; the last one's final 10 s is t in [49.9, 59.9]
    tail = t[t >= t[-1] - 10.0 - 1e-9]
    assert m["steady_state_error_m"] == pytest.approx(0.5 * np.mean(np.exp(-(tail - 20) / 2.0)))


def test_overshoot_window_is_30_s_and_stops_at_next_step():
    t = np.arange(1200) * 0.1
    r = np.where(t < 10, 1.0, 2.0)
    z = r.copy()
    z[(t >= 45) & (t < 46)] = 2.5  # 35 s after the step: outside the window
    z[(t >= 20) & (t < 21)] = 2.1  # inside
    m = flight_metrics(t, z, r, np.zeros_like(t), step_times=(10.0,))
    assert m["overshoot_up_m"] == pytest.approx(0.1)


def test_ramp_uses_end_target():
    t = np.arange(900) * 0.1
    r = np.interp(t, [0, 30, 40], [2.0, 2.0, 1.0])
    z = r.copy()
    z[(t >= 45) & (t < 46)] = 0.9  # 10 cm under the ramp's end value
    m = flight_metrics(t, z, r, np.zeros_like(t), step_times=(30.0,))
    assert m["overshoot_down_m"] == pytest.approx(0.1)
    assert m["overshoot_up_m"] == 0.0 and m["n_steps_down"] == 1


def test_shape_errors():
    with pytest.raises(ValueError):
        flight_metrics(np.arange(3), np.arange(4), np.arange(3), np.arange(3), ())


def test_run_episode_records_and_extras():
    pytest.importorskip("mujoco")
    pytest.importorskip("gymnasium")
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import run_episode

    class Bang:
        last_spike_count = 0

        def reset(self):
            self.k = 0

        def act(self, obs):
            self.k += 1
            self.last_spike_count = self.k
            return np.array([1.0 if obs[2] > 0 else -1.0], np.float32)

    env = BlimpAltitudeEnv(episode_s=5.0)
    rec = run_episode(env, Bang(), seed=4)
    n = 50
    assert all(a.shape == (n,) for a in (rec.t, rec.altitude, rec.measurement, rec.reference, rec.action))
    np.testing.assert_allclose(rec.t, np.arange(n) * 0.1)
    np.testing.assert_array_equal(rec.extras["spikes"], np.arange(1, n + 1))
    assert rec.step_times == ()
    assert rec.total_reward < 0
    rec2 = run_episode(env, Bang(), seed=4)
    np.testing.assert_array_equal(rec.altitude, rec2.altitude)
    assert set(rec.metrics()) >= {"rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m"}


def test_heldout_means_is_the_mean_and_the_worst_overshoot():
    """Hand-worked: three flights."""
    from sim.blimp_metrics import heldout_means

    rows = [
        {"rmse_m": 0.1, "overshoot_up_m": 0.02, "overshoot_down_m": 0.00},
        {"rmse_m": 0.2, "overshoot_up_m": 0.08, "overshoot_down_m": 0.05},
        {"rmse_m": 0.6, "overshoot_up_m": 0.02, "overshoot_down_m": 0.01},
    ]
    got = heldout_means(rows, ("rmse_m", "overshoot_up_m", "overshoot_down_m", "spikes_per_s"))
    assert list(got) == ["rmse_m", "overshoot_up_m", "overshoot_down_m", "worst_overshoot_up_m",
                         "worst_overshoot_down_m"]  # fmt: skip
    assert got["rmse_m"] == pytest.approx(0.3) and got["overshoot_up_m"] == pytest.approx(0.04)
    assert got["worst_overshoot_up_m"] == 0.08 and got["worst_overshoot_down_m"] == 0.05
