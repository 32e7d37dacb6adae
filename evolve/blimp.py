"""Fitness for the blimp altitude SNNs: mimic a PID on recorded errors, or fly the MuJoCo blimp.

Two problems share the genome of `snnctl.controllers.blimp_snn.BlimpSNNCodec`:

* `MimicProblem` — the paper's fitness, MAE + (1 - Pearson r) between the SNN's and the PID's
  commands on error sequences recorded from PID flights in the simulator (as the paper recorded
  them in real flights). The whole population runs in one batched numba call per sequence.
* `ClosedLoopProblem` — each genome flies the blimp: a weighted sum of RMSE, steady-state error,
  overshoot up, overshoot down and control effort, as `sim.blimp_metrics` defines them; optionally a
  second objective, spikes per second, for NSGA-II. Up and down overshoot have separate weights
  because the plant is not symmetric: the blimp is trimmed heavy, so it sinks faster than it climbs
  and brakes a descent with less force (thrust minus weight) than a climb (thrust plus weight).

Both use common random numbers: every individual of a generation meets the same sequences /
reference profiles and sensor noise, drawn from (problem seed, generation), so rankings compare
like with like and the result does not depend on how a population is split over workers.

Closed-loop flights differ in difficulty (a 2-m step overshoots more than a 0.3-m one), and the
hall of fame compares genomes across generations, i.e. across flights. Two things keep that
comparison fair. The flights are stratified: the first reference change of flight i goes up for
even i and down for odd i, so every generation scores both overshoots (a 60-s flight holds one
step, and two random ones are both up half the time). And with `relative_to_pid` the cost is
paired: the tuned PID flies the same flights (same profile, same sensor noise) and its cost is
subtracted, which removes most of the flights' difficulty from the score (measured on the initial
genome over 50 generations: the spread of its cost across generations drops from 0.049 to 0.020).

Seeds come from `sim.seeds`: training flights and recorded sequences from ``TRAINING``, the
`validate` hooks (validated selection, `evolve.selection`) from ``VALIDATION``; held-out flights are
never flown here. Validation flights are what `snnctl run` flies (its length and profile kind,
`validation_env_kwargs`), on other seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnctl.config import check_params, param
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec

RECORD_KEY = 0xB1  # the recorded mimic flights' seeds: sim.seeds.training_seeds([run seed, RECORD_KEY], n)


def recorded_flight_seeds(n: int, seed: int = 0, validation: bool = False) -> list[int]:
    """Seeds of the PID flights recorded for the mimic phase: training ones, or the validation set's first n."""
    from sim.seeds import training_seeds, validation_seed

    return [validation_seed(k) for k in range(n)] if validation else training_seeds([seed, RECORD_KEY], n)


def record_pid_flights(
    n: int, env_kwargs: dict, seed: int = 0, pid: dict | None = None, validation: bool = False, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Fly a PID on `n` training (or validation) profiles; returns measured errors and PID commands (n, T).

    `pid`: overrides of the tuned PID's settings (`PID.for_blimp`), e.g. `banded_pid(spec)`. `progress`:
    a bar (on a terminal only), as the default 40 two-minute flights take several seconds."""
    import sys

    from tqdm.auto import tqdm

    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import run_episode
    from snnctl.controllers.pid import PID

    env = BlimpAltitudeEnv(**env_kwargs)
    errors, commands = [], []
    desc = "recording validation PID flights" if validation else "recording PID flights"
    seeds = recorded_flight_seeds(n, seed, validation)
    try:
        for s in tqdm(
            seeds, desc=desc, unit="flight", file=sys.stderr, disable=None if progress else True, leave=False
        ):
            rec = run_episode(env, PID.for_blimp(dt=env.dt, **(pid or {})), seed=s)
            errors.append(rec.reference - rec.measurement)
            commands.append(rec.action)
    finally:
        env.close()
    return np.asarray(errors), np.asarray(commands)


def banded_pid(spec: BlimpSNNSpec) -> dict:
    """The PID the initial network is derived from: the spec's gains, the derivative of the error
    (what an error-only network can form; it kicks on reference steps) and the I net's integral band."""
    return {"kp": spec.kp, "ki": spec.ki, "kd": spec.kd, "d_filter_tau": spec.d_tau_s, "derivative": "error",
            "i_band": spec.i_range_m}  # fmt: skip


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
    sequences_per_generation: int = param(3, "sequences each generation is scored on", ge=1, le=1000)  # [mimic]
    seed: int = 0
    val_errors: np.ndarray | None = None  # (V, T) sequences recorded on validation flights (validate hook)
    val_targets: np.ndarray | None = None
    name: str = "blimp-mimic"
    objectives: tuple[str, ...] = ("mae_plus_1_minus_r",)
    weights: tuple[float, ...] = (-1.0,)
    # fitness.png's axis (evolve.runner.fitness_figure)
    objective_labels: dict = field(
        default_factory=lambda: {"mae_plus_1_minus_r": "MAE (units of u) + (1 - Pearson r)\nvs the PID's command"}
    )
    _codec: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._codec = BlimpSNNCodec(self.spec)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome

    def sequences(self, generation: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, generation])
        return rng.choice(len(self.errors), size=min(self.sequences_per_generation, len(self.errors)), replace=False)

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        chosen = self.sequences(generation)
        total = sum(self._fitness(genomes, self.errors[s], self.targets[s]) for s in chosen)
        return (total / len(chosen))[:, None]

    def validate(self, genomes: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Row i: genome i's fitness on the sequence recorded on validation flight episodes[i]."""
        if self.val_errors is None or self.val_targets is None:
            raise ValueError("MimicProblem.validate needs sequences recorded on validation flights (val_errors)")
        if int(np.max(episodes)) >= len(self.val_errors):
            raise ValueError(
                f"validation episode {int(np.max(episodes))} asked, {len(self.val_errors)} validation flights recorded"
            )
        out = np.empty((len(genomes), 1))
        for e in np.unique(episodes):
            rows = np.flatnonzero(episodes == e)
            out[rows, 0] = self._fitness(genomes[rows], self.val_errors[int(e)], self.val_targets[int(e)])
        return out

    def _fitness(self, genomes: np.ndarray, errors: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The population's commands on one error sequence in one batched numba call, scored against the PID's."""
        from snnctl.runtime import run_batch, stack_programs

        nets = [self._codec.decode(g) for g in genomes]
        codes = nets[0].quantize_inputs(errors[:, None])
        out = run_batch(stack_programs(nets), np.broadcast_to(codes, (len(nets), *codes.shape)))
        u = np.clip((out * np.array([o.scale for o in nets[0].outputs])).sum(axis=2), -3.3, 3.3)
        return mimic_fitness(u, target)

    def export_best(self, genome: np.ndarray, out_dir: Path) -> None:
        export_network(self._codec, genome, out_dir)


@dataclass
class ClosedLoopProblem:
    """Score genomes by flying the MuJoCo blimp on training profiles (common per generation)."""

    spec: BlimpSNNSpec
    env_kwargs: dict
    # the config's [closed_loop] keys (evolve.blimp_experiment.SCHEMA reads default, limits, help here)
    episodes_per_generation: int = param(2, "training flights per genome and generation", ge=1, le=100)
    w_rmse: float = param(1.0, "cost weight of the RMSE (m)", ge=0)
    w_steady_state: float = param(5.0, "cost weight of the steady-state error (m)", ge=0)
    w_overshoot_up: float = param(0.5, "cost weight of the overshoot after up steps (m)", ge=0)
    w_overshoot_down: float = param(0.5, "cost weight of the overshoot after down steps (m)", ge=0)
    w_effort: float = param(0.0, "cost weight of the mean |u|", ge=0)
    w_overshoot_excess: float = param(
        0.0, "cost weight of a flight's overshoot (up and down) beyond the PID's on the same flight", ge=0
    )
    spikes_objective: bool = param(False, "second objective: spikes per second (use with algorithm = nsga2)")
    relative_to_pid: bool = param(False, "score the cost minus the PID's on the same flights (a paired comparison)")
    initial: np.ndarray | None = None
    seed: int = 0
    validation_env_kwargs: dict | None = None  # validation flights (default: the training flights' env)
    extra_candidates: dict = field(default_factory=dict)  # label -> genome, also validated after the run
    name: str = "blimp-closed-loop"
    _codec: Any = field(default=None, repr=False)
    _env: Any = field(default=None, repr=False)
    _val_env: Any = field(default=None, repr=False)
    _pid_metrics: dict = field(default_factory=dict, repr=False)  # (validation, flight seed) -> PID metrics

    def __post_init__(self) -> None:
        check_params(self, "closed-loop problem")
        self._codec = BlimpSNNCodec(self.spec)
        self.bounds = self._codec.bounds
        self.initial_genome = self._codec.initial_genome if self.initial is None else np.asarray(self.initial)
        self.objectives = ("tracking_cost", "spikes_per_s") if self.spikes_objective else ("tracking_cost",)
        self.weights = (-1.0, -1.0) if self.spikes_objective else (-1.0,)
        # fitness.png's axes (evolve.runner.fitness_figure): what the cost is, and where the PID stands
        paired = "cost - PID's cost, same flights (m)\n< 0: better than the PID"
        cost = paired if self.relative_to_pid else "weighted tracking cost (m)"
        self.objective_labels = {"tracking_cost": cost, "spikes_per_s": "spikes per second (1/s)"}
        self.objective_references = {"tracking_cost": (0.0, "PID")} if self.relative_to_pid else {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_env"] = state["_val_env"] = None  # MuJoCo models are built lazily in each worker
        state["_pid_metrics"] = {}
        return state

    def episode_seeds(self, generation: int) -> list[int]:
        """Training flights of a generation: profile seeds drawn from (seed, generation), flight i taken
        only if its first reference change goes up (even i) or down (odd i), when it has one."""
        from sim.profiles import make_profile
        from sim.seeds import TRAINING

        rng = np.random.default_rng([self.seed, generation])
        kind = self.env_kwargs.get("profile", "steps")
        duration = self.env_kwargs.get("episode_s", 120.0)
        extra = self.env_kwargs.get("profile_kwargs") or {}
        seeds: list[int] = []
        while len(seeds) < self.episodes_per_generation:
            want_up = len(seeds) % 2 == 0
            for _ in range(1000):  # about half the profiles qualify
                s = int(rng.integers(TRAINING.start, TRAINING.stop))
                prof = make_profile(kind, s, duration, **extra)
                if not prof.change_times:
                    break  # flights too short for a step: any profile will do
                t = prof.change_times[0]
                if (prof(t + 1e-3) > prof(t - 1e-3)) == want_up:
                    break
            seeds.append(s)
        return seeds

    def pid_metrics(self, flight_seed: int, validation: bool = False) -> dict:
        """The tuned PID's flight metrics on one flight (cached: the same for every genome)."""
        key = (validation, flight_seed)
        if key not in self._pid_metrics:
            from sim.blimp_metrics import run_episode
            from snnctl.controllers.pid import PID

            env = self._get_val_env() if validation else self._get_env()
            self._pid_metrics[key] = run_episode(env, PID.for_blimp(dt=env.dt), seed=flight_seed).metrics()
        return self._pid_metrics[key]

    def pid_cost(self, flight_seed: int, validation: bool = False) -> float:
        """The tuned PID's cost on one flight."""
        m = self.pid_metrics(flight_seed, validation)
        return self.cost(m, m)

    def _get_env(self):
        if self._env is None:
            from sim.blimp import BlimpAltitudeEnv

            self._env = BlimpAltitudeEnv(**self.env_kwargs)
        return self._env

    def _get_val_env(self):
        if self.validation_env_kwargs is None:
            return self._get_env()
        if self._val_env is None:
            from sim.blimp import BlimpAltitudeEnv

            self._val_env = BlimpAltitudeEnv(**self.validation_env_kwargs)
        return self._val_env

    def validation_seeds(self, episodes: np.ndarray) -> list[int]:
        from sim.seeds import validation_seed

        return [validation_seed(int(e)) for e in episodes]

    def cost(self, metrics: dict, pid: dict | None = None) -> float:
        """The weighted cost of one flight; ``pid``: the PID's metrics on the same flight (for the excess term).

        The excess term is the blimp goal "overshoot no worse than the PID" as a hinge: it costs only
        where a flight overshoots more than the PID did on that very flight, which is what drives
        the worst-flight overshoot a mean-overshoot weight lets slip."""
        excess = 0.0
        if self.w_overshoot_excess > 0:
            if pid is None:
                raise ValueError("w_overshoot_excess needs the PID's metrics on the same flight")
            excess = self.w_overshoot_excess * (
                max(0.0, metrics["overshoot_up_m"] - pid["overshoot_up_m"])
                + max(0.0, metrics["overshoot_down_m"] - pid["overshoot_down_m"])
            )
        return excess + (
            self.w_rmse * metrics["rmse_m"]
            + self.w_steady_state * metrics["steady_state_error_m"]
            + self.w_overshoot_up * metrics["overshoot_up_m"]
            + self.w_overshoot_down * metrics["overshoot_down_m"]
            + self.w_effort * metrics["control_effort"]
        )

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        flights = self.episode_seeds(generation)
        return np.array([self._score(g, flights, validation=False) for g in genomes]).reshape(len(genomes), -1)

    def validate(self, genomes: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Row i: genome i on validation flight episodes[i] (the held-out flights' kind, other seeds)."""
        flights = self.validation_seeds(episodes)
        return np.array([self._score(g, [s], validation=True) for g, s in zip(genomes, flights, strict=True)])

    def _score(self, genome: np.ndarray, flights: list[int], validation: bool) -> np.ndarray:
        """Mean cost (minus the PID's on the same flights, if paired) and spikes/s of one genome."""
        from sim.blimp_metrics import run_episode
        from snnctl.controllers.snn import SNNController

        env = self._get_val_env() if validation else self._get_env()
        ctl = SNNController(self._codec.decode(genome))
        costs, spikes = [], []
        for s in flights:
            rec = run_episode(env, ctl, seed=s)
            pid = self.pid_metrics(s, validation) if self.w_overshoot_excess > 0 else None
            costs.append(self.cost(rec.metrics(), pid))
            spikes.append(rec.extras["spikes"].sum() / (rec.t[-1] + env.dt))
        baseline = np.mean([self.pid_cost(s, validation) for s in flights]) if self.relative_to_pid else 0.0
        row = [np.mean(costs) - baseline]
        return np.array(row + [np.mean(spikes)] if self.spikes_objective else row)

    def export_best(self, genome: np.ndarray, out_dir: Path) -> None:
        export_network(self._codec, genome, out_dir, control_period_s=self._get_env().dt)


def export_network(codec: BlimpSNNCodec, genome: np.ndarray, out_dir: Path,
                   control_period_s: float | None = None) -> Path:  # fmt: skip
    """best.snn: the integer network of the best genome, exactly as it was scored, with the control
    period it was scored at (so that a loop of another rate refuses it)."""
    from snnctl.snnfile import save

    net = codec.decode(genome)
    net.control_period_s = control_period_s  # checked by save
    return save(net, Path(out_dir) / "best.snn")
