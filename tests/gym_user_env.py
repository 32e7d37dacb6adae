"""A user's own gymnasium env, as a user would write it (pure numpy): a point mass pushed to the origin.

Used by tests/test_gym_experiment.py through ``[env] id = "tests.gym_user_env:PointMassEnv"`` and
``[env] module = "tests.gym_user_env"`` (which registers ``UserPointMass-v0``): the gym family runs it
with no change to the project's code. The velocity is unbounded (the calibration rollout measures it).
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces


class PointMassEnv(gymnasium.Env):
    """x'' = force (clipped to +-1), dt = 0.05; reward -x^2 per step; starts at x in [-1, 1] at rest."""

    metadata = {"render_modes": []}

    def __init__(self, friction: float = 0.1, discrete: bool = False) -> None:
        self.friction = float(friction)
        self.dt = 0.05
        self.observation_space = spaces.Box(np.array([-2.0, -np.inf], np.float32), np.array([2.0, np.inf], np.float32))
        self.action_space = spaces.Discrete(3, start=-1) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = np.array([self.np_random.uniform(-1, 1), 0.0])
        return self.state.astype(np.float32), {}

    def step(self, action):
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1, 1))
        x, v = self.state
        v += self.dt * (force - self.friction * v)
        x = float(np.clip(x + self.dt * v, -2, 2))
        self.state = np.array([x, v])
        return self.state.astype(np.float32), -x * x, False, False, {}


gymnasium.register("UserPointMass-v0", entry_point=PointMassEnv, max_episode_steps=100)


class DictObsEnv(PointMassEnv):
    """The point mass with a Dict observation: a space the gym family refuses (naming env.id)."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = spaces.Dict({"x": spaces.Box(-2, 2, (1,), np.float32)})


class MultiBinaryActionEnv(PointMassEnv):
    """The point mass with a MultiBinary action: refused as well."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = spaces.MultiBinary(2)


class MultiDiscreteActionEnv(PointMassEnv):
    """The point mass with a MultiDiscrete action: refused (a Discrete or a 1-D Box only)."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = spaces.MultiDiscrete([3, 3])


class UnboundedActionEnv(PointMassEnv):
    """The point mass with a Box action without finite bounds: refused (an action needs a full scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
