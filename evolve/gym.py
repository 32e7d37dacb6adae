"""Any gymnasium env as an evolution problem: make the env from the config, read its spaces, score by return.

`make_env(env_cfg)` builds the env a `[env]` table names: a registered id (``CartPole-v1``), a
registered id of the user's own module (``[env] module = "my_envs"`` imported first, or gymnasium's
``"my_envs:MyEnv-v0"``), or an env class (``"my_envs.cartpole:MyEnv"``), with `[env.kwargs]`.
Every mistake is an `EnvConfigError` naming the key. `action_io` / `observation_bounds` read the
spaces (`Box` observations of any shape, flattened; a 1-D `Box` or a `Discrete` action; anything
else is refused naming ``env.id``). `calibrate` is the short rollout that measures unbounded
observation dimensions.

`GymProblem` scores a genome (`snnctl.controllers.gym_snn.GymSNNCodec`) by the mean return of the
integer network (`SNNController`, the numba `Stepper`) over a few training episodes (common random
numbers: every genome of a generation meets the same seeds, `sim.seeds.TRAINING`); with
`spikes_objective`, spikes per step is a second objective to minimise (NSGA-II). `validate` plays
`sim.seeds.VALIDATION` episodes of the held-out kind (`validation_steps`, however short training
ones are); held-out episodes (`sim.seeds.heldout_seed`) are `snnctl run`'s.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.seeds import training_seeds, validation_seed
from snnctl.config import check_params, param
from snnctl.controllers.gym_io import ActionIO
from snnctl.controllers.gym_snn import GymSNNCodec, GymSNNSpec
from snnctl.controllers.snn import SNNController

REGISTRY_HINT = "list the registered ids with: python -c 'import gymnasium; gymnasium.pprint_registry()'"


class EnvConfigError(ValueError):
    """An `[env]` table that names no usable env; the message names the key."""


def _import(module: str, key: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise EnvConfigError(f"{key} = {module!r}: cannot import it ({e}); is its folder on PYTHONPATH?") from None


def make_env(env_cfg: dict, **extra: Any) -> Any:
    """The env of a config's `[env]` table (`id`, `module`, `kwargs`, `max_episode_steps`); `extra` e.g. render_mode."""
    import gymnasium

    env_id, kwargs = env_cfg["id"], {**env_cfg.get("kwargs", {}), **extra}
    limit = int(env_cfg.get("max_episode_steps", 0)) or None
    if env_cfg.get("module"):
        _import(env_cfg["module"], "env.module")
    mod_name, _, attr = env_id.rpartition(":")
    if mod_name:
        mod = _import(mod_name, "env.id")
        cls = getattr(mod, attr, None)
        if isinstance(cls, type) and issubclass(cls, gymnasium.Env):  # an env class: made here, limited by us
            try:
                env = cls(**kwargs)
            except TypeError as e:
                raise EnvConfigError(f"env.kwargs: {mod_name}:{attr} does not take them ({e})") from None
            if limit is None:
                limit = getattr(getattr(env, "spec", None), "max_episode_steps", None)
            if limit is None:
                env.close()
                raise EnvConfigError(f"env.id = {env_id!r} has no episode limit: set env.max_episode_steps")
            return gymnasium.wrappers.TimeLimit(env, limit)
    try:
        return gymnasium.make(env_id, max_episode_steps=limit, **kwargs)
    except gymnasium.error.Error as e:  # NameNotFound, VersionNotFound, DependencyNotInstalled, ...
        hint = REGISTRY_HINT + "; your own env: id = 'my_module:MyEnvClass'"
        raise EnvConfigError(f"env.id = {env_id!r}: {e} ({hint})") from None
    except TypeError as e:
        raise EnvConfigError(f"env.kwargs: {env_id} does not take them ({e})") from None


def observation_bounds(env: Any, env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the flattened `Box` observation; EnvConfigError for another space."""
    from gymnasium import spaces

    space = env.observation_space
    if not isinstance(space, spaces.Box):
        raise EnvConfigError(
            f"env.id = {env_id!r}: observation space {space} is not supported (a Box only); wrap the env in "
            "gymnasium.wrappers.FlattenObservation in your own module and name that"
        )
    return space.low.astype(np.float64).reshape(-1), space.high.astype(np.float64).reshape(-1)


def action_io(env: Any, env_id: str) -> ActionIO:
    """The readouts an env's action needs: a 1-D `Box` (one per dimension) or a `Discrete` (one per choice)."""
    from gymnasium import spaces

    space = env.action_space
    if isinstance(space, spaces.Discrete):
        return ActionIO("discrete", int(space.n), start=int(space.start))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        lo, hi = space.low.astype(np.float64), space.high.astype(np.float64)
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            return ActionIO("box", int(space.shape[0]), tuple(lo.tolist()), tuple(hi.tolist()))
    raise EnvConfigError(
        f"env.id = {env_id!r}: action space {space} is not supported (a Discrete, or a 1-D Box with finite bounds)"
    )


def control_period(env: Any) -> float | None:
    """The env's step in seconds (`dt`, MuJoCo; `tau`, classic control), or None when it declares none."""
    u = env.unwrapped
    for name in ("dt", "tau"):
        v = getattr(u, name, None)
        if isinstance(v, int | float) and v > 0:
            return float(v)
    return None


def calibrate(env: Any, episodes: int, steps: int, seed: int) -> np.ndarray:
    """The largest |value| of each observation dimension over `episodes` random-action episodes.

    Training seeds drawn from (`seed`, "calibration"), the action space seeded from `seed`: the
    same run seed, the same scales."""
    env.action_space.seed(int(seed))
    peak = np.zeros(int(np.prod(env.observation_space.shape)))
    for s in training_seeds([seed, 0xCA1], episodes):
        obs, _ = env.reset(seed=s)
        peak = np.maximum(peak, np.abs(np.asarray(obs, dtype=np.float64).reshape(-1)))
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            peak = np.maximum(peak, np.abs(np.asarray(obs, dtype=np.float64).reshape(-1)))
            if terminated or truncated:
                break
    return peak


def published_threshold(env_cfg: dict) -> float | None:
    """The env's registered "solved" return (`EnvSpec.reward_threshold`), None where it has none."""
    env = make_env(env_cfg)
    try:
        spec = getattr(env, "spec", None)
        value = getattr(spec, "reward_threshold", None)
    finally:
        env.close()
    return None if value is None else float(value)


def episode(env: Any, ctl: SNNController, seed: int, steps: int | None) -> tuple[float, int, int]:
    """(return, steps, spikes) of one episode from `env.reset(seed=seed)`; `steps` None: until the env ends it."""
    obs, _ = env.reset(seed=int(seed))
    ctl.reset()
    total, k, spikes = 0.0, 0, 0
    while steps is None or k < steps:
        obs, reward, terminated, truncated, _ = env.step(ctl.act(obs))
        spikes += int(ctl.last_spike_count)
        total += float(reward)
        k += 1
        if terminated or truncated:
            break
    return total, k, spikes


@dataclass
class GymProblem:
    """Mean return over `episodes_per_generation` training episodes (maximised); optionally spikes per step."""

    env_cfg: dict
    spec: GymSNNSpec
    full_scale: tuple[float, ...]
    # the config's [train] keys (evolve.gym_experiment.SCHEMA reads default, limits and help here)
    episodes_per_generation: int = param(3, "episodes per genome and generation (mean return)", ge=1, le=1000)
    episode_steps: int = param(0, "steps of a training episode at most; 0 = until the env ends it", ge=0)
    spikes_objective: bool = param(False, "second objective: spikes per step, minimised (use with nsga2)")
    seed: int = 0
    # validation episodes are held-out episodes' kind (the config's [run] episode_steps; 0 = until the env ends
    # them), so the export is chosen on what it will be judged on even when training episodes are cut short
    validation_steps: int = 0
    name: str = "gym"
    _codec: Any = field(default=None, repr=False)
    _env: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_params(self, "gym problem")
        env = make_env(self.env_cfg)
        try:
            self._codec = GymSNNCodec(self.spec, np.asarray(self.full_scale), action_io(env, self.env_cfg["id"]),
                                      env_id=self.env_cfg["id"], control_period_s=control_period(env))  # fmt: skip
        finally:
            env.close()
        self.name = f"gym-{self.env_cfg['id']}"
        self.objectives = ("return", "spikes_per_step") if self.spikes_objective else ("return",)
        self.weights = (1.0, -1.0) if self.spikes_objective else (1.0,)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_env"] = None  # built lazily in each worker
        return state

    @property
    def codec(self) -> GymSNNCodec:
        return self._codec

    def env(self) -> Any:
        if self._env is None:
            self._env = make_env(self.env_cfg)
        return self._env

    def controller(self, genome: np.ndarray) -> Any:
        """What plays the episodes for `genome`: the integer network (`act`, `reset`, `last_spike_count`)."""
        return SNNController(self._codec.decode(genome))

    def _score(self, genome: np.ndarray, seeds: list[int], steps: int) -> list[float]:
        ctl = self.controller(genome)
        rows = [episode(self.env(), ctl, s, steps or None) for s in seeds]
        ret = float(np.mean([r[0] for r in rows]))
        per_step = sum(r[2] for r in rows) / max(1, sum(r[1] for r in rows))
        return [ret, per_step][: len(self.objectives)]

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        ep = training_seeds([self.seed, generation], self.episodes_per_generation)
        return np.array([self._score(g, ep, self.episode_steps) for g in genomes])

    def validate(self, genomes: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Row i: genome i on validation episode episodes[i] (`sim.seeds.VALIDATION`)."""
        pairs = zip(genomes, episodes, strict=True)
        return np.array([self._score(g, [validation_seed(int(e))], self.validation_steps) for g, e in pairs])

    def export_best(self, genome: np.ndarray, out_dir: Path) -> Path:
        from snnctl.snnfile import save

        return save(self._codec.decode(genome), Path(out_dir) / "best.snn")
