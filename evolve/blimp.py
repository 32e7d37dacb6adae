"""Fitness for the blimp altitude SNNs: mimic a PID on recorded errors, or fly the MuJoCo blimp.

Two problems share the genome of `snnctl.controllers.blimp_snn.BlimpSNNCodec`:

* `MimicProblem` — the paper's fitness, MAE + (1 - Pearson r) between the SNN's and the PID's
  commands on error sequences recorded from PID flights in the simulator (as the paper recorded
  them in real flights). The whole population runs in one batched numba call per sequence.
* `ClosedLoopProblem` — each genome flies the blimp: a weighted sum of RMSE, steady-state error,
  overshoot (up + down) and control effort, as `sim.metrics` defines them; optionally a second
  objective, spikes per second, for NSGA-II.

Both use common random numbers: every individual of a generation meets the same sequences /
reference profiles and sensor noise, drawn from (problem seed, generation), so rankings compare
like with like and the result does not depend on how a population is split over workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec

TRAIN_SEED_BASE = 10_000  # training profiles/noise: seeds below sim.profiles' held-out range


def record_pid_flights(n: int, env_kwargs: dict, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fly the tuned PID on `n` training profiles; returns measured errors and PID commands (n, T)."""
    from sim.blimp import BlimpAltitudeEnv
    from sim.metrics import run_episode
    from snnctl.controllers.pid import PID

    env = BlimpAltitudeEnv(**env_kwargs)
    errors, commands = [], []
    for k in range(n):
        rec = run_episode(env, PID.for_blimp(dt=env.dt), seed=TRAIN_SEED_BASE + seed * 1000 + k)
        errors.append(rec.reference - rec.measurement)
        commands.append(rec.action)
    env.close()
    return np.asarray(errors), np.asarray(commands)


def mimic_fitness(u: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MAE + (1 - Pearson r) per row of u (B, T) against one target (T,); r = 0 for a flat u."""
    mae = np.abs(u - target).mean(axis=1)
    uc = u - u.mean(axis=1, keepdims=True)
    tc = target - target.mean()
    denom = np.sqrt((uc**2).sum(axis=1) * (tc**2).sum())
    # row-wise products, not a BLAS matrix-vector product: BLAS may round a row differently
    # depending on its position in the batch, and a genome's score must not depend on its chunk
    r = np.divide((uc * tc).sum(axis=1), denom, out=np.zeros(len(u)), where=denom > 0)
    return mae + (1.0 - r)


@dataclass
class MimicProblem:
    """Score genomes on how closely their commands follow the PID's on recorded error sequences."""

    spec: BlimpSNNSpec
    errors: np.ndarray  # (S, T) metres
    targets: np.ndarray  # (S, T) PID commands
    sequences_per_generation: int = 2
    seed: int = 0
    name: str = "blimp-mimic"
    objectives: tuple[str, ...] = ("mae_plus_1_minus_r",)
    weights: tuple[float, ...] = (-1.0,)
    _codec: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._codec = BlimpSNNCodec(self.spec)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome

    def sequences(self, generation: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, generation])
        return rng.choice(len(self.errors), size=min(self.sequences_per_generation, len(self.errors)), replace=False)

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        from snnctl.runtime import run_batch, stack_programs

        nets = [self._codec.decode(g) for g in genomes]
        progs = stack_programs(nets)
        out_scale = np.array([o.scale for o in nets[0].outputs])
        total = np.zeros(len(genomes))
        for s in self.sequences(generation):
            codes = nets[0].quantize_inputs(self.errors[s][:, None])
            out = run_batch(progs, np.broadcast_to(codes, (len(nets), *codes.shape)))
            u = np.clip((out * out_scale).sum(axis=2), -3.3, 3.3)
            total += mimic_fitness(u, self.targets[s])
        return (total / len(self.sequences(generation)))[:, None]

    def export_best(self, genome: np.ndarray, out_dir: Path) -> None:
        export_network(self._codec, genome, out_dir)


@dataclass
class ClosedLoopProblem:
    """Score genomes by flying the MuJoCo blimp on training profiles (common per generation)."""

    spec: BlimpSNNSpec
    env_kwargs: dict
    episodes_per_generation: int = 2
    w_rmse: float = 1.0
    w_steady_state: float = 5.0
    w_overshoot: float = 0.5
    w_effort: float = 0.0
    spikes_objective: bool = False
    initial: np.ndarray | None = None
    seed: int = 0
    name: str = "blimp-closed-loop"
    _codec: Any = field(default=None, repr=False)
    _env: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._codec = BlimpSNNCodec(self.spec)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome if self.initial is None else np.asarray(self.initial)
        self.objectives = ("tracking_cost", "spikes_per_s") if self.spikes_objective else ("tracking_cost",)
        self.weights = (-1.0, -1.0) if self.spikes_objective else (-1.0,)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_env"] = None  # MuJoCo models are built lazily in each worker
        return state

    def episode_seeds(self, generation: int) -> list[int]:
        base = TRAIN_SEED_BASE + 100_000 + self.seed * 100_000
        rng = np.random.default_rng([self.seed, generation])
        return [int(base + x) for x in rng.integers(0, 50_000, self.episodes_per_generation)]

    def cost(self, metrics: dict) -> float:
        return (
            self.w_rmse * metrics["rmse_m"]
            + self.w_steady_state * metrics["steady_state_error_m"]
            + self.w_overshoot * (metrics["overshoot_up_m"] + metrics["overshoot_down_m"])
            + self.w_effort * metrics["control_effort"]
        )

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        from sim.blimp import BlimpAltitudeEnv
        from sim.metrics import run_episode
        from snnctl.controllers.snn import SNNController

        if self._env is None:
            self._env = BlimpAltitudeEnv(**self.env_kwargs)
        out = np.zeros((len(genomes), len(self.objectives)))
        for i, g in enumerate(genomes):
            ctl = SNNController(self._codec.decode(g))
            costs, spikes = [], []
            for s in self.episode_seeds(generation):
                rec = run_episode(self._env, ctl, seed=s)
                costs.append(self.cost(rec.metrics()))
                spikes.append(rec.extras["spikes"].sum() / (rec.t[-1] + self._env.dt))
            out[i, 0] = np.mean(costs)
            if self.spikes_objective:
                out[i, 1] = np.mean(spikes)
        return out

    def export_best(self, genome: np.ndarray, out_dir: Path) -> None:
        export_network(self._codec, genome, out_dir)


def export_network(codec: BlimpSNNCodec, genome: np.ndarray, out_dir: Path) -> Path:
    """best.snn: the integer network of the best genome, exactly as it was scored."""
    from snnctl.snnfile import save

    return save(codec.decode(genome), Path(out_dir) / "best.snn")
