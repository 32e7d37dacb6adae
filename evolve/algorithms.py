"""Search algorithms as DEAP toolboxes behind one ask/tell face.

Three algorithms, all single objects with ``ask() -> genomes`` and ``tell(fitness)``:

- ``cmaes`` — :class:`deap.cma.Strategy` (what the blimp paper used); one objective.
- ``ga`` — (mu + lambda) GA: blend crossover (``cxBlend``), gaussian mutation (``mutGaussian``),
  tournament selection over parents + offspring; one objective.
- ``nsga2`` — NSGA-II (``selNSGA2`` with ``selTournamentDCD`` mating selection, simulated binary
  crossover and polynomial mutation, both bounded); two (or more) objectives, e.g. task error vs
  spikes per step.

**The normalised gene space.** Every algorithm searches the unit box ``[0, 1]^n``; a point ``x``
maps linearly to the problem's real genome ``low + x * (high - low)`` (and back). So CMA-ES's
``sigma`` and the GA's mutation ``sigma`` are fractions of each gene's range whatever its units
(0.3 = 30 % of the range), and one step size fits genes of very different scales. Points that
leave the box are *clipped onto it* (CMA-ES: each sampled point is clipped before it is evaluated
and CMA-ES learns from the clipped point, which keeps the mean inside the box at the cost of a
slight covariance bias at the boundary; GA/NSGA-II: the operators are bounded or clipped).

**Randomness.** The algorithms draw from the global ``random`` and ``numpy.random`` generators (as
DEAP does). The runner reseeds both from ``(run seed, generation, phase)`` with
:func:`seed_global_rngs` right before every ``ask`` and ``tell``, so a generation's variation
depends only on the state the checkpoint holds — a resumed run continues exactly. Each
individual's evaluation gets its own seed from :func:`individual_seeds`.

**State.** ``state_dict()`` returns plain data (numpy arrays, the CMA strategy object): the
population with its weighted fitness values (and crowding distances), the hall of fame, the
strategy. ``load_state_dict`` restores it into a freshly built algorithm of the same settings.
"""

from __future__ import annotations

import abc
import math
import random
from typing import Any

import numpy as np
from deap import algorithms as deap_algorithms
from deap import base, cma, creator, tools

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "CMAES",
    "GA",
    "NSGA2",
    "make_algorithm",
    "individual_seeds",
    "seed_global_rngs",
    "BoxMap",
]

ALGORITHMS = ("cmaes", "ga", "nsga2")

# spawn_key tag for the algorithm's RNG stream ("algo"); individual seeds use plain 3-word entropy
# [run_seed, generation, index], which can never collide with a SeedSequence carrying a spawn key.
_ALGO_TAG = 0x616C676F
PHASE_ASK = 0
PHASE_TELL = 1


def individual_seeds(run_seed: int, generation: int, n: int, start: int = 0) -> np.ndarray:
    """uint64 seeds for individuals ``start .. start+n-1`` of ``generation``.

    Seed ``i`` is the first 64-bit word of ``np.random.SeedSequence([run_seed, generation, i])``:
    a function of (run seed, generation, index) only, so it does not depend on how the population
    is cut into chunks or on the worker count.
    """
    return np.array(
        [
            np.random.SeedSequence([int(run_seed), int(generation), i]).generate_state(1, np.uint64)[0]
            for i in range(start, start + n)
        ],
        dtype=np.uint64,
    ).reshape(n)


def seed_global_rngs(run_seed: int, generation: int, phase: int = PHASE_ASK) -> None:
    """Seed ``random`` and ``numpy.random`` from ``SeedSequence([run_seed, generation])`` with the
    spawn key ``("algo", phase)``; called by the runner before each ``ask``/``tell``."""
    ss = np.random.SeedSequence([int(run_seed), int(generation)], spawn_key=(_ALGO_TAG, int(phase)))
    words = ss.generate_state(8, np.uint32)
    np.random.seed(words[:4])
    random.seed(int.from_bytes(words[4:].tobytes(), "little"))


class BoxMap:
    """The linear map between the unit box ``[0, 1]^n`` and the problem's bounds."""

    def __init__(self, bounds: np.ndarray):
        self.low = np.asarray(bounds, dtype=np.float64)[:, 0].copy()
        self.span = np.asarray(bounds, dtype=np.float64)[:, 1] - self.low
        self.n = len(self.low)

    def to_real(self, unit: np.ndarray) -> np.ndarray:
        return self.low + np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0) * self.span

    def to_unit(self, real: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(real, dtype=np.float64) - self.low) / self.span, 0.0, 1.0)


_CLASSES: dict[tuple[float, ...], tuple[type, type]] = {}


def deap_classes(weights: tuple[float, ...]) -> tuple[type, type]:
    """``(Fitness, Individual)`` DEAP classes for these weights, made once with ``creator``.

    Individuals are ``list`` subclasses holding unit-box genes. They are never pickled (checkpoints
    hold arrays), so the dynamically created classes need not exist when a checkpoint is loaded.
    """
    weights = tuple(float(w) for w in weights)
    if weights not in _CLASSES:
        tag = "_".join(repr(w).replace("-", "m").replace(".", "p").replace("+", "") for w in weights)
        fname, iname = f"SnnctlFitness_{tag}", f"SnnctlIndividual_{tag}"
        if not hasattr(creator, fname):
            creator.create(fname, base.Fitness, weights=weights)
        if not hasattr(creator, iname):
            creator.create(iname, list, fitness=getattr(creator, fname))
        _CLASSES[weights] = (getattr(creator, fname), getattr(creator, iname))
    return _CLASSES[weights]


def _clip_unit(ind: list) -> list:
    for i, x in enumerate(ind):
        if x < 0.0:
            ind[i] = 0.0
        elif x > 1.0:
            ind[i] = 1.0
    return ind


def _clipped(func):
    """Toolbox decorator: clip every individual a variation operator returns onto [0, 1]^n."""

    def wrapper(*args, **kwargs):
        return tuple(_clip_unit(ind) for ind in func(*args, **kwargs))

    return wrapper


class Algorithm(abc.ABC):
    """Base: ask for genomes (real units), tell their fitness, keep a hall of fame."""

    name = "base"
    multi_objective = False

    def __init__(
        self,
        bounds: np.ndarray,
        weights: tuple[float, ...],
        population: int = 0,
        initial_genome: np.ndarray | None = None,
        hall_of_fame: int = 10,
    ):
        self.box = BoxMap(bounds)
        self.weights = tuple(float(w) for w in weights)
        self.n_obj = len(self.weights)
        if self.n_obj > 1 and not self.multi_objective:
            raise ValueError(f"{self.name} optimises one objective, the problem has {self.n_obj}; use nsga2")
        self.Fitness, self.Individual = deap_classes(self.weights)
        self.toolbox = base.Toolbox()
        self.initial_unit = None if initial_genome is None else self.box.to_unit(initial_genome)
        self.hof_size = int(hall_of_fame)
        self.hall_of_fame = tools.ParetoFront() if self.multi_objective else tools.HallOfFame(max(1, self.hof_size))
        self.population: list | None = None  # after tell(): the current population
        self._pending: list | None = None  # asked, not yet told
        self.population_size = int(population)

    # -- the interface ---------------------------------------------------------------------------
    @abc.abstractmethod
    def ask(self) -> np.ndarray:
        """Genomes (real units, ``(P, n_genes)``) to evaluate next."""

    @abc.abstractmethod
    def tell(self, fitness: np.ndarray) -> None:
        """Fitness ``(P, n_obj)`` of the genomes the last ``ask`` returned (nan already replaced)."""

    def best(self) -> tuple[np.ndarray, np.ndarray]:
        """The best genome so far (real units) and its objective values.

        Multi-objective: the Pareto-front member best on the first objective (task error).
        """
        items = list(self.hall_of_fame)
        if not items:
            raise ValueError("no individual has been evaluated yet")
        if self.multi_objective:
            w0 = self.weights[0]
            items.sort(key=lambda ind: ind.fitness.values[0] * math.copysign(1.0, -w0))
        ind = items[0]
        return self.box.to_real(np.asarray(ind, dtype=np.float64)), np.asarray(ind.fitness.values, dtype=np.float64)

    def front(self) -> tuple[np.ndarray, np.ndarray]:
        """Hall of fame (Pareto front for NSGA-II) as ``(genomes real (k, n), values (k, n_obj))``."""
        items = list(self.hall_of_fame)
        g = np.array([self.box.to_real(np.asarray(i, dtype=np.float64)) for i in items]).reshape(-1, self.box.n)
        v = np.array([i.fitness.values for i in items], dtype=np.float64).reshape(-1, self.n_obj)
        return g, v

    def estimate(self) -> tuple[str, np.ndarray] | None:
        """The algorithm's own estimate of the optimum (real units) with a label, or None.

        Unlike the hall of fame it is not the minimum of noisy scores, which makes it a candidate
        that validated selection (`evolve.selection`) must always consider."""
        return None

    # -- helpers ---------------------------------------------------------------------------------
    def _new(self, unit_row) -> list:
        return self.Individual(float(x) for x in unit_row)

    def _random_population(self, n: int) -> list:
        rows = np.random.random_sample((n, self.box.n))
        if self.initial_unit is not None:
            rows[0] = self.initial_unit
        return [self._new(r) for r in rows]

    def _genomes(self, inds: list) -> np.ndarray:
        unit = np.array([list(i) for i in inds], dtype=np.float64).reshape(len(inds), self.box.n)
        return self.box.to_real(unit)

    def _assign(self, inds: list, fitness: np.ndarray) -> None:
        fitness = np.asarray(fitness, dtype=np.float64).reshape(len(inds), self.n_obj)
        for ind, row in zip(inds, fitness, strict=True):
            ind.fitness.values = tuple(float(v) for v in row)

    def _take_pending(self, fitness: np.ndarray) -> list:
        if self._pending is None:
            raise RuntimeError("tell() without a matching ask()")
        inds, self._pending = self._pending, None
        self._assign(inds, fitness)
        return inds

    # -- state -----------------------------------------------------------------------------------
    def _pack(self, inds: list | None, crowding: bool = False) -> dict | None:
        if inds is None:
            return None
        out = {
            "genes": np.array([list(i) for i in inds], dtype=np.float64).reshape(len(inds), self.box.n),
            "wvalues": np.array(
                [i.fitness.wvalues if i.fitness.valid else (np.nan,) * self.n_obj for i in inds], dtype=np.float64
            ).reshape(len(inds), self.n_obj),
            "valid": np.array([i.fitness.valid for i in inds], dtype=bool),
        }
        if crowding:
            out["crowding"] = np.array([getattr(i.fitness, "crowding_dist", 0.0) for i in inds], dtype=np.float64)
        return out

    def _unpack(self, packed: dict | None) -> list | None:
        if packed is None:
            return None
        inds = []
        for k, row in enumerate(packed["genes"]):
            ind = self._new(row)
            if packed["valid"][k]:
                ind.fitness.wvalues = tuple(float(v) for v in packed["wvalues"][k])
            if "crowding" in packed:
                ind.fitness.crowding_dist = float(packed["crowding"][k])
            inds.append(ind)
        return inds

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "population": self._pack(self.population, crowding=self.multi_objective),
            "hall_of_fame": self._pack(list(self.hall_of_fame)),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["name"] != self.name:
            raise ValueError(f"checkpoint holds a {state['name']} state, this run uses {self.name}")
        self.population = self._unpack(state["population"])
        hof = self._unpack(state["hall_of_fame"]) or []
        # Restore the hall of fame's lists exactly as they were (order included).
        self.hall_of_fame.items = hof
        self.hall_of_fame.keys = [ind.fitness for ind in hof]
        self._pending = None


class CMAES(Algorithm):
    """CMA-ES (``deap.cma.Strategy``) in the unit box; ``sigma`` in unit-box units."""

    name = "cmaes"

    def __init__(self, bounds, weights, population=0, initial_genome=None, hall_of_fame=10, sigma=0.3):
        super().__init__(bounds, weights, population, initial_genome, hall_of_fame)
        n = self.box.n
        lambda_ = self.population_size if self.population_size > 0 else int(4 + 3 * math.log(n))
        self.population_size = lambda_
        centroid = self.initial_unit if self.initial_unit is not None else np.full(n, 0.5)
        self._set_strategy(cma.Strategy(centroid=list(centroid), sigma=float(sigma), lambda_=lambda_))

    def _set_strategy(self, strategy: cma.Strategy) -> None:
        self.strategy = strategy
        self.toolbox.register("generate", strategy.generate, self.Individual)
        self.toolbox.register("update", strategy.update)

    def ask(self) -> np.ndarray:
        inds = [_clip_unit(self.Individual(float(x) for x in ind)) for ind in self.toolbox.generate()]
        self._pending = inds
        return self._genomes(inds)

    def tell(self, fitness: np.ndarray) -> None:
        inds = self._take_pending(fitness)
        self.hall_of_fame.update(inds)
        self.toolbox.update(inds)  # sorts inds by fitness, best first
        self.population = inds

    def estimate(self) -> tuple[str, np.ndarray]:
        """The search distribution's mean: what CMA-ES believes is best (never scored by evolution)."""
        return "CMA-ES mean", self.box.to_real(np.clip(np.asarray(self.strategy.centroid, dtype=np.float64), 0, 1))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "strategy": self.strategy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._set_strategy(state["strategy"])


class GA(Algorithm):
    """(mu + lambda) GA in the unit box: blend crossover, gaussian mutation, tournament selection."""

    name = "ga"

    def __init__(
        self,
        bounds,
        weights,
        population=0,
        initial_genome=None,
        hall_of_fame=10,
        *,
        offspring=0,
        cxpb=0.5,
        mutpb=0.3,
        blend_alpha=0.5,
        mut_sigma=0.1,
        indpb=0.2,
        tournsize=3,
    ):
        super().__init__(bounds, weights, population, initial_genome, hall_of_fame)
        self.population_size = self.population_size if self.population_size > 0 else 100
        self.lambda_ = int(offspring) if offspring > 0 else self.population_size
        if cxpb + mutpb > 1.0:
            raise ValueError(f"ga: cxpb + mutpb must be <= 1, got {cxpb} + {mutpb}")
        self.cxpb, self.mutpb = float(cxpb), float(mutpb)
        tb = self.toolbox
        tb.register("mate", tools.cxBlend, alpha=float(blend_alpha))
        tb.register("mutate", tools.mutGaussian, mu=0.0, sigma=float(mut_sigma), indpb=float(indpb))
        tb.register("select", tools.selTournament, tournsize=int(tournsize))
        tb.decorate("mate", _clipped)
        tb.decorate("mutate", _clipped)

    def ask(self) -> np.ndarray:
        if self.population is None:
            self._pending = self._random_population(self.population_size)
            self._offspring = self._pending
        else:
            off = deap_algorithms.varOr(self.population, self.toolbox, self.lambda_, self.cxpb, self.mutpb)
            self._offspring = off
            self._pending = [ind for ind in off if not ind.fitness.valid]
        return self._genomes(self._pending)

    def tell(self, fitness: np.ndarray) -> None:
        self._take_pending(fitness)
        off, self._offspring = self._offspring, None
        self.hall_of_fame.update(off)
        if self.population is None:
            self.population = off
        else:
            self.population = self.toolbox.select(self.population + off, self.population_size)

    def estimate(self) -> tuple[str, np.ndarray] | None:
        """The last population's best (its score is one draw, like the hall of fame's)."""
        if not self.population:
            return None
        best = max(self.population, key=lambda ind: ind.fitness.wvalues)
        return "best of last population", self.box.to_real(np.asarray(best, dtype=np.float64))


class NSGA2(Algorithm):
    """NSGA-II in the unit box (SBX crossover and polynomial mutation, bounded to [0, 1])."""

    name = "nsga2"
    multi_objective = True

    def __init__(
        self,
        bounds,
        weights,
        population=0,
        initial_genome=None,
        hall_of_fame=10,
        *,
        cxpb=0.9,
        eta_cx=20.0,
        eta_mut=20.0,
        indpb=0.0,
    ):
        super().__init__(bounds, weights, population, initial_genome, hall_of_fame)
        mu = self.population_size if self.population_size > 0 else 100
        self.population_size = 4 * math.ceil(mu / 4)  # selTournamentDCD needs a multiple of 4
        self.cxpb = float(cxpb)
        indpb = float(indpb) if indpb > 0 else 1.0 / self.box.n
        tb = self.toolbox
        tb.register("mate", tools.cxSimulatedBinaryBounded, eta=float(eta_cx), low=0.0, up=1.0)
        tb.register("mutate", tools.mutPolynomialBounded, eta=float(eta_mut), low=0.0, up=1.0, indpb=indpb)
        tb.register("select", tools.selNSGA2)

    def ask(self) -> np.ndarray:
        if self.population is None:
            self._pending = self._random_population(self.population_size)
        else:
            off = [self.toolbox.clone(i) for i in tools.selTournamentDCD(self.population, len(self.population))]
            for a, b in zip(off[::2], off[1::2], strict=False):
                if random.random() <= self.cxpb:
                    self.toolbox.mate(a, b)
                self.toolbox.mutate(a)
                self.toolbox.mutate(b)
                del a.fitness.values, b.fitness.values
            for ind in off:
                _clip_unit(ind)  # SBX is bounded, but keep float round-off out of the box
            self._pending = off
        return self._genomes(self._pending)

    def tell(self, fitness: np.ndarray) -> None:
        off = self._take_pending(fitness)
        self.hall_of_fame.update(off)
        pool = off if self.population is None else self.population + off
        self.population = self.toolbox.select(pool, self.population_size)  # also assigns crowding_dist


def make_algorithm(
    kind: str,
    bounds: np.ndarray,
    weights: tuple[float, ...],
    *,
    population: int = 0,
    sigma: float = 0.3,
    initial_genome: np.ndarray | None = None,
    hall_of_fame: int = 10,
    ga: dict | None = None,
    nsga2: dict | None = None,
) -> Algorithm:
    """Build an algorithm by name (``"cmaes"``, ``"ga"``, ``"nsga2"``).

    ``population``: CMA-ES lambda (0: ``4 + 3 ln n``), GA/NSGA-II mu (0: 100; NSGA-II rounds up to
    a multiple of 4). ``sigma``: CMA-ES initial step in unit-box units. ``ga``/``nsga2``: the
    operator settings of those algorithms (see :class:`GA` and :class:`NSGA2`).
    """
    common = {"population": population, "initial_genome": initial_genome, "hall_of_fame": hall_of_fame}
    if kind == "cmaes":
        return CMAES(bounds, weights, sigma=sigma, **common)
    if kind == "ga":
        return GA(bounds, weights, **common, **(ga or {}))
    if kind == "nsga2":
        return NSGA2(bounds, weights, **common, **(nsga2 or {}))
    raise ValueError(f"unknown algorithm {kind!r}; choose one of {', '.join(ALGORITHMS)}")
