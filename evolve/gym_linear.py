"""The gym family's baseline: a float linear policy evolved with the SNN's budget (issue 17).

What does the spiking network buy over the simplest controller evolution could find with the same
search? `snnctl bench gym` answers by evolving, for each config, a float linear policy with
everything else the config's: the same algorithm, generations, population, training episodes,
validated selection and held-out episodes, and the same observation scaling (the space's bounds or
the calibration rollout: `full_scale`):

    x = clip(obs / full_scale, -1, 1)           (the SNN's input codes saturate at full scale too)
    y = input_gain * W x + b                    (W, b genes in [-1, 1]; input_gain from [network])
    Box:       action = clip(y * max(|low|, |high|), low, high)
    Discrete:  action = start + argmax(y)       (the lowest index on a tie, as the SNN's)

`input_gain` puts the two on the same footing: through a full weight a full-scale observation
drives `input_gain` full-scale actions, as through the SNN's direct input path. The module has the
family face `evolve.multiseed.run_seeds` needs (`evolve_main`, `bench_result`, `BENCH_METRICS`),
so the baseline's seeds run and are cached exactly as the network's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evolve.gym import GymProblem
from evolve.gym_experiment import play_heldout
from evolve.gym_experiment import problem_of as snn_problem_of
from evolve.runner import EvolveSettings, evolve
from snnctl.controllers.gym_io import ActionIO
from snnctl.errors import SnnctlError

POLICY_FILE = "best_linear.json"

BENCH_METRICS = [
    ("return_mean", "return (mean of episodes)", "higher"),
    ("return_std", "return (std over episodes)", "lower"),
    ("return_min", "return (worst episode)", "higher"),
    ("parameters", "parameters", "lower"),
    ("evolution_s", "evolution wall time (s)", "lower"),
]


@dataclass(frozen=True)
class LinearPolicy:
    """action = clip((input_gain W x + b) * max(|low|, |high|), low, high), or start + argmax (module docstring)."""

    w: np.ndarray  # (readouts, observation dimensions), genes in [-1, 1]
    b: np.ndarray  # (readouts,), genes in [-1, 1]
    full_scale: np.ndarray  # (observation dimensions,)
    action: ActionIO
    input_gain: float
    last_spike_count: int = field(default=0, init=False)  # `evolve.gym.episode` counts spikes: a float policy has none

    def reset(self) -> None:
        """Stateless: nothing to reset (the episode loop calls it)."""

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(obs, dtype=np.float64).reshape(-1) / self.full_scale, -1.0, 1.0)
        return self.input_gain * (self.w @ x) + self.b

    def act(self, obs: np.ndarray) -> Any:
        y = self.outputs(obs)
        if self.action.kind == "discrete":
            return int(self.action.start + int(np.argmax(y)))  # np.argmax: the first maximum
        lo, hi = np.asarray(self.action.low), np.asarray(self.action.high)
        return np.clip(y * np.maximum(np.abs(lo), np.abs(hi)), lo, hi).astype(np.float32)

    @property
    def n_params(self) -> int:
        return int(self.w.size + self.b.size)

    def to_json(self) -> dict:
        return {"w": self.w.tolist(), "b": self.b.tolist(), "full_scale": self.full_scale.tolist(),
                "action": {"kind": self.action.kind, "n": self.action.n, "low": list(self.action.low),
                           "high": list(self.action.high), "start": self.action.start},
                "input_gain": self.input_gain}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> LinearPolicy:
        a = d["action"]
        io = ActionIO(a["kind"], int(a["n"]), tuple(a["low"]), tuple(a["high"]), int(a["start"]))
        return cls(np.asarray(d["w"], dtype=np.float64), np.asarray(d["b"], dtype=np.float64),
                   np.asarray(d["full_scale"], dtype=np.float64), io, float(d["input_gain"]))  # fmt: skip


@dataclass
class GymLinearProblem(GymProblem):
    """`GymProblem` (same episodes, seeds, validation) with a linear policy's genome: W then b."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.objectives, self.weights = ("return",), (1.0,)  # a float policy has no spikes to minimise
        self.name = f"gym-linear-{self.env_cfg['id']}"
        n_in, n_out = len(self.full_scale), self._codec.action.n
        self.bounds = np.tile([-1.0, 1.0], (n_out * n_in + n_out, 1))
        self.initial_genome = np.zeros(n_out * n_in + n_out)

    def policy(self, genome: np.ndarray) -> LinearPolicy:
        io, n_in = self._codec.action, len(self.full_scale)
        g = np.asarray(genome, dtype=np.float64)
        return LinearPolicy(g[: io.n * n_in].reshape(io.n, n_in), g[io.n * n_in :], np.asarray(self.full_scale),
                            io, float(self.spec.input_gain))  # fmt: skip

    def controller(self, genome: np.ndarray) -> LinearPolicy:
        return self.policy(genome)

    def export_best(self, genome: np.ndarray, out_dir: Path) -> Path:
        path = Path(out_dir) / POLICY_FILE
        path.write_text(json.dumps(self.policy(genome).to_json(), indent=2) + "\n")
        return path


def problem_of(cfg: dict, out_dir: Path | None = None) -> GymLinearProblem:
    """The config's linear-baseline problem: the network's own problem (`evolve.gym_experiment.problem_of`)
    with the linear genome, the same full scales (calibration of the same run seed)."""
    snn = snn_problem_of(cfg, out_dir)  # validates the env and the config, writes calibration.json
    return GymLinearProblem(cfg["env"], snn.spec, snn.full_scale, seed=snn.seed, validation_steps=snn.validation_steps,
                            episodes_per_generation=snn.episodes_per_generation,
                            episode_steps=snn.episode_steps)  # fmt: skip


def evolve_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> None:
    """Evolve the linear baseline with the config's `[evolve]` and `[train]`; best_linear.json + heldout.json."""
    out_dir = Path(out_dir)
    settings = EvolveSettings.from_dict(cfg["evolve"])
    if settings.algorithm == "nsga2":
        raise SnnctlError("the linear baseline has one objective (return): evolve.algorithm = 'nsga2' needs two")
    problem = problem_of(cfg, out_dir)
    result = evolve(problem, settings, out_dir, resume=resume and (out_dir / "checkpoint.pkl").exists(),
                    progress=progress, config=cfg)  # fmt: skip
    policy = LinearPolicy.from_json(json.loads((out_dir / POLICY_FILE).read_text()))
    _, t = play_heldout(cfg, lambda _env: policy, progress=progress)
    table = {"env": cfg["env"]["id"], "controller": POLICY_FILE, **t, "parameters": policy.n_params,
             "evaluations": int(result.evaluations), "generations": int(result.generations),
             "evolution_s": float(result.elapsed)}  # fmt: skip
    (out_dir / "heldout.json").write_text(json.dumps(table, indent=2) + "\n")


def bench_result(cfg: dict, out_dir: Path, wall_s: float) -> dict:
    """One seed's row (`evolve.multiseed.run_seeds`): the baseline's held-out metrics; it has no goals."""
    t = json.loads((Path(out_dir) / "heldout.json").read_text())
    return {"metrics": {k: float(t[k]) for k, _, _ in BENCH_METRICS}, "baseline": None, "baseline_name": "",
            "episodes": t["episodes"], "goals": []}  # fmt: skip
