"""PID baseline: terms against hand arithmetic, saturation and anti-windup, closed loop on the blimp."""

import numpy as np
import pytest

from snnctl.controllers.pid import BLIMP_PID_GAINS, PID


def obs(y, r):
    return np.array([y, r, r - y], dtype=np.float32)


# A known sequence (measurement y, reference r): e = 0.5, 0.4, 0.95 (a reference step at k = 2).
SEQ = [(1.0, 1.5), (1.1, 1.5), (1.05, 2.0)]


def test_terms_by_hand_derivative_on_measurement():
    pid = PID(kp=2.0, ki=0.5, kd=0.3, dt=0.1)
    # k=0: P = 2*0.5 = 1.0; I = 0.5*0.5*0.1 = 0.025; D = 0 (no previous sample) -> 1.025
    # k=1: P = 0.8; I = 0.025 + 0.5*0.4*0.1 = 0.045; D = -0.3*(1.1-1.0)/0.1 = -0.3 -> 0.545
    # k=2: P = 1.9; I = 0.045 + 0.5*0.95*0.1 = 0.0925; D = -0.3*(1.05-1.1)/0.1 = +0.15 -> 2.1425
    expected = [(1.0, 0.025, 0.0, 1.025), (0.8, 0.045, -0.3, 0.545), (1.9, 0.0925, 0.15, 2.1425)]
    for (y, r), (p, i, d, u) in zip(SEQ, expected, strict=True):
        out = pid.act(obs(y, r))
        assert out.shape == (1,) and out.dtype == np.float32
        assert (pid.last_p, pid.last_i, pid.last_d) == pytest.approx((p, i, d), abs=1e-6)
        assert out[0] == pytest.approx(u, abs=1e-6)


def test_terms_by_hand_derivative_on_error_with_antiwindup():
    pid = PID(kp=2.0, ki=0.5, kd=0.3, dt=0.1, derivative="error")
    # k=1: D = 0.3*(0.4-0.5)/0.1 = -0.3 (same as on measurement: the reference did not move)
    # k=2: D = 0.3*(0.95-0.4)/0.1 = 1.65 (the kick); P + I_candidate + D = 1.9 + 0.0925 + 1.65 = 3.6425
    #      > 3.3 with e > 0, so the integrator holds at 0.045: u_unsat = 3.595 -> clipped to 3.3
    outs = [pid.act(obs(y, r))[0] for y, r in SEQ]
    assert outs[:2] == pytest.approx([1.025, 0.545], abs=1e-6)
    assert pid.last_d == pytest.approx(1.65, abs=1e-5)
    assert pid.last_i == pytest.approx(0.045, abs=1e-7)
    assert pid.last_u_unsat == pytest.approx(3.595, abs=1e-5)
    assert outs[2] == pytest.approx(3.3)


def test_derivative_filter_by_hand():
    pid = PID(kp=0.0, ki=0.0, kd=0.3, dt=0.1, d_filter_tau=0.1)  # alpha = dt / (tau + dt) = 0.5
    # raw D: 0, -0.3, +0.15 -> filtered: 0, 0 + 0.5*(-0.3 - 0) = -0.15, -0.15 + 0.5*(0.15 + 0.15) = 0.0
    outs = [pid.act(obs(y, r))[0] for y, r in SEQ]
    assert outs == pytest.approx([0.0, -0.15, 0.0], abs=1e-6)


def test_reset_clears_state():
    pid = PID(kp=2.0, ki=0.5, kd=0.3, dt=0.1)
    first = [pid.act(obs(y, r))[0] for y, r in SEQ]
    pid.reset()
    assert [pid.act(obs(y, r))[0] for y, r in SEQ] == first


def test_saturation_and_conditional_integration():
    pid = PID(kp=1.0, ki=1.0, kd=0.0, dt=0.1)
    for _ in range(100):  # e = 5 for 10 s: P alone saturates, the integrator must not wind up
        u = pid.act(obs(0.0, 5.0))[0]
        assert u == pytest.approx(3.3)
    assert pid.integral == 0.0
    u = pid.act(obs(0.2, 0.0))[0]  # error flips: the output follows at once (no stored windup)
    assert u == pytest.approx(-0.2 - 0.02, abs=1e-6)
    # The other limit, symmetric.
    pid.reset()
    for _ in range(100):
        assert pid.act(obs(5.0, 0.0))[0] == pytest.approx(-3.3)
    assert pid.integral == 0.0


def test_integrator_unwinds_while_saturated():
    pid = PID(kp=10.0, ki=1.0, kd=0.0, dt=0.1)
    pid.integral = 2.0
    # e = -0.05: P + I = -0.5 + 2.0 - 0.005: inside the limits, integrates down
    pid.act(obs(1.05, 1.0))
    assert pid.integral == pytest.approx(2.0 - 0.005, abs=1e-7)
    # e = 0.5 with the integrator high: P + I = 5 + 1.995 + 0.05 > 3.3 and e > 0 -> hold
    pid.act(obs(0.5, 1.0))
    assert pid.integral == pytest.approx(1.995, abs=1e-7)
    # still saturated high but e < 0 would pull back: allowed
    pid.integral = 5.0
    pid.act(obs(1.1, 1.0))  # P + I = -1 + 4.99 > 3.3 but e < 0: integrates
    assert pid.integral == pytest.approx(4.99, abs=1e-7)


def test_nonfinite_measurement_does_not_propagate():
    pid = PID(kp=2.0, ki=0.5, kd=0.3, dt=0.1)
    pid.act(obs(1.0, 1.5))
    u = pid.act(np.array([np.nan, 1.5, np.nan], np.float32))[0]
    assert np.isfinite(u) and u == pytest.approx(1.025, abs=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError):
        PID(1, 0, 0, dt=0.0)
    with pytest.raises(ValueError):
        PID(1, 0, 0, dt=0.1, u_min=1, u_max=-1)
    with pytest.raises(ValueError):
        PID(1, 0, 0, dt=0.1, derivative="velocity")


def test_for_blimp_defaults():
    pid = PID.for_blimp(dt=0.1)
    assert (pid.kp, pid.ki, pid.kd, pid.d_filter_tau) == (
        BLIMP_PID_GAINS["kp"],
        BLIMP_PID_GAINS["ki"],
        BLIMP_PID_GAINS["kd"],
        BLIMP_PID_GAINS["d_filter_tau"],
    )
    assert (pid.u_min, pid.u_max, pid.dt) == (-3.3, 3.3, 0.1)
    assert PID.for_blimp(dt=0.2).dt == 0.2


def test_for_blimp_needs_the_control_period():
    """No silent 10-Hz default: the I and D terms scale with dt, so the caller must say the loop's period."""
    with pytest.raises(TypeError, match="dt"):
        PID.for_blimp()


def test_closed_loop_on_default_blimp():
    pytest.importorskip("mujoco")
    pytest.importorskip("gymnasium")
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import run_episode

    env = BlimpAltitudeEnv()
    for seed in (0, 1):  # training seeds
        m = run_episode(env, PID.for_blimp(dt=env.dt), seed).metrics()
        assert m["steady_state_error_m"] < 0.02
        assert m["overshoot_up_m"] < 0.3 and m["overshoot_down_m"] < 0.3  # noticeable but stable
        assert m["n_steps_up"] + m["n_steps_down"] == 3
