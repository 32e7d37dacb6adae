"""A user's own MuJoCo env, as a user would write it: a motor on a hinge holds a pendulum at an angle.

The model is an inline MJCF string (one hinge, one point-like bob on a massless rod, one torque
motor); `gymnasium.envs.mujoco.MujocoEnv` loads a model from a file, so the string is written to a
temporary file for the load and removed after. The module registers ``UserHinge-v0``, so a config
names it ``[env] id = "tests.gym_user_mujoco_env:UserHinge-v0"`` (gymnasium's module:id syntax) or
the class, ``"tests.gym_user_mujoco_env:HingeEnv"`` with ``max_episode_steps``. Used by
tests/test_gym_user_mujoco.py: the gym family evolves and runs it with no change to the project's code.
"""

from __future__ import annotations

import os
import tempfile

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv

MASS = 0.5  # kg, the bob
LENGTH = 0.25  # m, hinge to the bob's centre of mass
BOB_INERTIA = 1e-4  # kg m^2, the bob's own moment about its centre (about the hinge axis)
TIMESTEP = 0.0025  # s, MuJoCo's step
FRAME_SKIP = 20  # MuJoCo steps per env step: dt = 0.05 s

MJCF = f"""
<mujoco model="user_hinge">
  <option timestep="{TIMESTEP}" gravity="0 0 -9.81"/>
  <worldbody>
    <body name="arm" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0"/>
      <inertial pos="0 0 -{LENGTH}" mass="{MASS}" diaginertia="{BOB_INERTIA} {BOB_INERTIA} {BOB_INERTIA}"/>
      <geom type="capsule" fromto="0 0 0 0 0 -{LENGTH}" size="0.01"/>
      <geom type="sphere" pos="0 0 -{LENGTH}" size="0.03"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="torque" joint="hinge" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


class HingeEnv(MujocoEnv):
    """Hold the pendulum at `target` rad from hanging straight down; reward -(angle error)^2 - 0.001 u^2.

    Observation (cos theta, sin theta, theta'); the angular velocity is unbounded (the gym family's
    calibration rollout measures it). Starts near the bottom, theta and theta' uniform in +-0.1."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 20}

    def __init__(self, target: float = 0.5, **kwargs) -> None:
        self.target = float(target)
        fd, path = tempfile.mkstemp(suffix=".xml", prefix="user_hinge_")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(MJCF)
            obs = spaces.Box(np.array([-1.0, -1.0, -np.inf]), np.array([1.0, 1.0, np.inf]), dtype=np.float64)
            super().__init__(path, FRAME_SKIP, observation_space=obs, **kwargs)
        finally:
            os.remove(path)  # the model is compiled: the file is not read again

    def _obs(self) -> np.ndarray:
        theta, omega = float(self.data.qpos[0]), float(self.data.qvel[0])
        return np.array([np.cos(theta), np.sin(theta), omega])

    def step(self, action):
        self.do_simulation(np.asarray(action, dtype=np.float64).reshape(1), self.frame_skip)
        err = np.angle(np.exp(1j * (float(self.data.qpos[0]) - self.target)))  # wrapped to (-pi, pi]
        u = float(np.asarray(action).reshape(-1)[0])
        reward = -(err**2) - 0.001 * u * u
        if self.render_mode == "human":
            self.render()
        return self._obs(), reward, False, False, {}

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + self.np_random.uniform(-0.1, 0.1, self.model.nq)
        qvel = self.init_qvel + self.np_random.uniform(-0.1, 0.1, self.model.nv)
        self.set_state(qpos, qvel)
        return self._obs()


gymnasium.register("UserHinge-v0", entry_point=HingeEnv, max_episode_steps=100)
