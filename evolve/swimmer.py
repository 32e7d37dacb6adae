"""Fitness for swimmer controllers: the spiking NCAP circuit and the float baselines, by return.

`SwimmerProblem` scores a genome by the mean return of its controller over a few episodes of the
swimmer (gymnasium's `Swimmer-v5`, or `snnctl/SwimmerN-v0` with `n_links`), objective `return`,
maximised (DEAP weight +1). The genome is one of three kinds:

* `ncap` -- `snnctl.controllers.ncap.NCAPCodec`: the integer network, flown by `SNNController`
  (the numba `Stepper`, one kernel call per control step): what is scored is `best.snn`;
* `linear` -- `snnctl.controllers.linear.LinearCodec`: a = clip(W obs + b);
* `mlp` -- `snnctl.controllers.mlp.MLPCodec`: a tanh MLP.

Common random numbers: every genome of a generation swims from the same initial states, drawn
from (problem seed, generation) in `sim.seeds.TRAINING`; `validate` (validated selection) swims
`sim.seeds.VALIDATION` episodes; seeds from `HELDOUT_SEED_START` up are the held-out evaluation
set, never trained or chosen on. The env is built lazily in each worker and left out of the
pickled problem.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.metrics import episode_return
from sim.seeds import HELDOUT_START, heldout_seed
from sim.swimmer import MAX_EPISODE_STEPS
from snnctl.config import check_params, param
from snnctl.controllers.linear import LinearCodec, LinearPolicy, LinearSpec
from snnctl.controllers.mlp import MLPCodec, MLPSpec
from snnctl.controllers.ncap import NCAPCodec, NCAPSpec
from snnctl.controllers.snn import SNNController

KINDS = ("ncap", "linear", "mlp")
ENVS = ("Swimmer-v5", "snnctl/SwimmerN-v0")
HELDOUT_SEED_START = HELDOUT_START  # seeds from here up: evaluation only (sim.seeds)


def heldout_seeds(n: int, first: int = 0) -> list[int]:
    """The held-out episode seeds `first .. first + n - 1` (indices into the evaluation set)."""
    return [heldout_seed(first + k) for k in range(n)]


def obs_act_dims(n_links: int) -> tuple[int, int]:
    """Observation and action sizes of an `n_links` swimmer (Swimmer-v5's layout: 2n + 2, n - 1)."""
    return 2 * n_links + 2, n_links - 1


def make_env(env_name: str, n_links: int, **kwargs: Any):
    """The swimmer env: `Swimmer-v5` (3 links only) or `snnctl/SwimmerN-v0` with `n_links`."""
    import gymnasium

    if env_name == "Swimmer-v5":
        if n_links != 3:
            raise ValueError(
                f"Swimmer-v5 has 3 links, not {n_links}; use env name 'snnctl/SwimmerN-v0' for other body lengths"
            )
        return gymnasium.make("Swimmer-v5", **kwargs)
    if env_name == "snnctl/SwimmerN-v0":
        import sim  # noqa: F401  (registers snnctl/SwimmerN-v0)

        return gymnasium.make("snnctl/SwimmerN-v0", n_links=n_links, **kwargs)
    raise ValueError(f"unknown swimmer env {env_name!r}; one of: {', '.join(ENVS)}")


def make_codec(kind: str, options: dict, n_links: int):
    """The genome codec of a controller kind for an `n_links` body.

    `options`: the config's `[controller]` table; keys that are not the kind's are ignored. NCAP
    takes any `NCAPSpec` field but `n_joints` (from `n_links`); linear and MLP take `weight_bound`
    (and MLP `hidden`).
    """
    obs_dim, act_dim = obs_act_dims(n_links)
    if kind == "ncap":
        fields = {f.name for f in dataclasses.fields(NCAPSpec)} - {"n_joints"}
        return NCAPCodec(NCAPSpec(n_joints=act_dim, **{k: v for k, v in options.items() if k in fields}))
    if kind == "linear":
        return LinearCodec(LinearSpec(obs_dim, act_dim, weight_bound=options.get("weight_bound", 1.0)))
    if kind == "mlp":
        hidden = tuple(options.get("hidden", (16,)))
        return MLPCodec(MLPSpec(obs_dim, act_dim, hidden=hidden, weight_bound=options.get("weight_bound", 1.0)))
    raise ValueError(f"unknown controller kind {kind!r}; one of: {', '.join(KINDS)}")


def controller_of(codec, genome: np.ndarray):
    """A controller (`reset()`, `act(obs)`) for a genome: the integer network flown by SNNController for NCAP."""
    if isinstance(codec, NCAPCodec):
        return SNNController(codec.decode(genome))
    return codec.decode(genome)


@dataclass
class SwimmerProblem:
    """Mean return over `episodes_per_generation` episodes; objective `return`, maximised."""

    kind: str
    options: dict
    env_name: str = "Swimmer-v5"
    n_links: int = 3
    # the config's [train] keys (evolve.swimmer_experiment.SCHEMA reads default, limits, help here)
    episodes_per_generation: int = param(2, "episodes per genome and generation (mean return)", ge=1, le=100)
    episode_steps: int = param(
        MAX_EPISODE_STEPS, "steps of a training episode (0.04 s each)", ge=1, le=MAX_EPISODE_STEPS
    )
    seed: int = 0
    env_kwargs: dict = field(default_factory=dict)
    name: str = ""  # default: swimmer-<kind>
    objectives: tuple[str, ...] = ("return",)
    weights: tuple[float, ...] = (1.0,)
    _codec: Any = field(default=None, repr=False)
    _env: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown controller kind {self.kind!r}; one of: {', '.join(KINDS)}")
        check_params(self, "swimmer problem")
        self.name = self.name or f"swimmer-{self.kind}"
        self._codec = make_codec(self.kind, self.options, self.n_links)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_env"] = None  # MuJoCo is built lazily in each worker
        return state

    @property
    def codec(self):
        return self._codec

    def episode_seeds(self, generation: int) -> list[int]:
        """Training seeds of a generation, shared by all its genomes (common random numbers)."""
        from sim.seeds import training_seeds

        return training_seeds([self.seed, generation], self.episodes_per_generation)

    def env(self):
        if self._env is None:
            self._env = make_env(self.env_name, self.n_links, **self.env_kwargs)
        return self._env

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        env = self.env()
        ep_seeds = self.episode_seeds(generation)
        out = np.zeros((len(genomes), 1))
        for i, g in enumerate(genomes):
            ctl = controller_of(self._codec, g)
            out[i, 0] = np.mean([episode_return(env, ctl, s, self.episode_steps) for s in ep_seeds])
        return out

    def validate(self, genomes: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Row i: genome i's return on validation episode episodes[i] (`sim.seeds.VALIDATION`)."""
        from sim.seeds import validation_seed

        env = self.env()
        out = np.zeros((len(genomes), 1))
        for i, (g, e) in enumerate(zip(genomes, episodes, strict=True)):
            out[i, 0] = episode_return(env, controller_of(self._codec, g), validation_seed(int(e)), self.episode_steps)
        return out

    def export_best(self, genome: np.ndarray, out_dir: Path) -> Path:
        return export_controller(self._codec, genome, out_dir, control_period_s=self.env().unwrapped.dt)


def export_controller(codec, genome: np.ndarray, out_dir: Path, control_period_s: float | None = None) -> Path:
    """best.snn (NCAP: the integer network exactly as scored, with the env's control period) or best.npz."""
    if isinstance(codec, NCAPCodec):
        from snnctl.snnfile import save

        net = codec.decode(genome)
        net.control_period_s = control_period_s  # checked by save
        return save(net, Path(out_dir) / "best.snn")
    return codec.decode(genome).save(Path(out_dir) / "best.npz")


def load_controller(
    path: str | Path, n_links: int | None = None, dt: float | None = None, force_rate: bool = False, env: Any = None
):
    """A saved controller for an `n_links` body: `.snn` (NCAP, rebuilt for n_links) or `.npz` (baselines).

    The core factory (`snnctl.controllers.factory.load_controller`) loads the file; `fit_body(n_links)`
    is the swimmer's part. Raises ValueError naming the file when it cannot drive that body (a float
    baseline or a per-joint NCAP was evolved for one body length only), or (`ControlPeriodError`) when
    a network made for another control period than the env's `dt` is loaded without `force_rate`.
    With `env`, a network whose inputs and outputs do not fit it is refused (`ShapeMismatchError`).
    """
    from snnctl.controllers import factory

    path = Path(path)
    if path.suffix not in (".snn", ".npz"):
        raise ValueError(f"{path}: give a .snn (NCAP) or .npz (linear / mlp) controller file")
    return factory.load_controller(path, dt, force=force_rate, fit=fit_body(n_links), env=env)


def fit_body(n_links: int | None):
    """The factory's `fit` for an `n_links` swimmer: NCAP rebuilt for that body, a baseline's shape checked."""

    def fit(kind: str, path: Path, obj: Any) -> Any:
        if n_links is None:
            return obj
        if kind == "snn":
            from snnctl.controllers.ncap import resize_network

            if obj.meta.get("n_links") == n_links:
                return obj
            if not isinstance(obj.meta.get("ncap"), dict):
                from snnctl.controllers.snn import describe_io

                raise ValueError(f"{path} ({describe_io(obj)}) is not an NCAP network: the swimmer runs NCAP"
                                 f" networks (rebuilt for its {n_links} links) or .npz baselines")  # fmt: skip
            try:
                return resize_network(obj, n_links - 1)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        obs_dim, act_dim = obs_act_dims(n_links)
        linear = isinstance(obj, LinearPolicy)
        w_in, w_out = (obj.w if linear else obj.weights[0]).shape[1], (obj.w if linear else obj.weights[-1]).shape[0]
        if (w_in, w_out) != (obs_dim, act_dim):
            raise ValueError(
                f"{path}: a {obj.kind} policy for {w_out + 1} links (obs {w_in}, actions {w_out}) cannot drive"
                f" {n_links} links; only a shared-weight NCAP transfers to other body lengths"
            )
        return obj

    return fit


def measure_steps_per_second(problem: SwimmerProblem, genome: np.ndarray | None = None, steps: int = 1000) -> dict:
    """Env steps per second of one episode with and without the controller (for the report)."""
    env = problem.env()
    ctl = controller_of(problem.codec, problem.initial_genome if genome is None else genome)
    episode_return(env, ctl, 0, 50)  # warm-up (numba compile)
    t0 = time.perf_counter()
    episode_return(env, ctl, 1, steps)
    t_ctl = time.perf_counter() - t0
    zero = np.zeros(env.action_space.shape, np.float32)
    env.reset(seed=1)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(zero)
    t_env = time.perf_counter() - t0
    return {"steps_per_s": steps / t_ctl, "env_only_steps_per_s": steps / t_env,
            "controller_us_per_step": max(0.0, (t_ctl - t_env) / steps * 1e6)}  # fmt: skip
