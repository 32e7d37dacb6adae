"""A user's own MuJoCo env (tests/gym_user_mujoco_env.py: an inline MJCF hinge pendulum) through the gym
family with no change to the project's code: gymnasium's `check_env` passes on it, its physics is the
closed-form pendulum's, and `snnctl evolve` / `snnctl run` evolve and fly it by its registered id."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from snnctl import Policy, cli, snnfile

pytest.importorskip("mujoco")

ENV_ID = "tests.gym_user_mujoco_env:UserHinge-v0"
CONFIG = f"""
[experiment]
family = "gym"
[evolve]
generations = 2
population = 4
backend = "serial"
validation_episodes = 2
recent_generations = 1
[env]
id = "{ENV_ID}"
[env.kwargs]
target = 0.4
[calibration]
episodes = 2
steps = 20
[network]
hidden = 2
evolve_leak = false
[train]
episodes_per_generation = 1
[run]
episodes = 2
"""


def test_check_env_passes() -> None:
    from gymnasium.utils.env_checker import check_env

    from evolve.gym import make_env

    env = make_env({"id": ENV_ID})
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.dt == pytest.approx(0.05) and env.spec.max_episode_steps == 100


def test_small_swings_have_the_compound_pendulum_period() -> None:
    """Released from 0.01 rad with no torque, the bob swings with T = 2 pi sqrt(I / (m g L)), I = m L^2 + I_bob
    about the hinge (the amplitude correction, 1 + theta0^2 / 16, is below 1e-5). The period is measured from
    MuJoCo's own stepping: successive downward zero crossings of the angle, linearly interpolated."""
    import mujoco

    from tests import gym_user_mujoco_env as m

    env = m.HingeEnv()
    model, data = env.unwrapped.model, env.unwrapped.data
    mujoco.mj_resetData(model, data)
    data.qpos[0] = 0.01
    mujoco.mj_forward(model, data)
    times, angles = [0.0], [0.01]
    for _ in range(int(5.5 / m.TIMESTEP)):
        mujoco.mj_step(model, data)
        times.append(float(data.time))
        angles.append(float(data.qpos[0]))
    t, a = np.array(times), np.array(angles)
    k = np.flatnonzero((a[:-1] > 0) & (a[1:] <= 0))  # downward crossings, one per period
    crossings = t[k] + (t[k + 1] - t[k]) * a[k] / (a[k] - a[k + 1])
    inertia = m.MASS * m.LENGTH**2 + m.BOB_INERTIA
    period = 2 * math.pi * math.sqrt(inertia / (m.MASS * 9.81 * m.LENGTH))
    assert len(crossings) >= 4
    assert np.diff(crossings) == pytest.approx(np.full(len(crossings) - 1, period), rel=1e-3)
    env.close()


def test_evolves_and_runs_through_the_cli(tmp_path, capsys) -> None:
    cfg = tmp_path / "hinge.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "run"
    assert cli.main(["evolve", str(cfg), "--out", str(out), "--quiet"]) == 0
    net = snnfile.load(out / "best.snn")
    cal = json.loads((out / "calibration.json").read_text())
    assert net.meta["env_id"] == ENV_ID and net.control_period_s == pytest.approx(0.05)
    assert cal["full_scale"][:2] == [1.0, 1.0] and cal["calibration_max"][2] > 0  # theta' measured
    capsys.readouterr()
    assert cli.main(["run", str(cfg), "--controller", str(out / "best.snn"), "--episodes", "2", "--json",
                     "--quiet"]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    # a second implementation of the held-out loop: the public Policy in a plain gymnasium loop
    import gymnasium

    env = gymnasium.make(ENV_ID, target=0.4)
    policy, returns = Policy(out / "best.snn", force=True), []
    for k in range(2):
        obs, _ = env.reset(seed=1_000_000 + k)
        policy.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(policy(obs))
            total += float(r)
            done = term or trunc
        returns.append(total)
    assert res["returns"] == returns and res["steps"] == 200
