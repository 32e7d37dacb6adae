"""The contract between the evolution framework and a task: :class:`Problem`.

A problem says what a genome is (``bounds``: one ``[low, high]`` row per gene), what it is scored
on (``objectives`` with DEAP-style ``weights``: −1 minimise, +1 maximise) and scores a whole batch
of genomes in one call::

    class Sphere:
        name = "sphere"
        bounds = np.array([[-5.0, 5.0]] * 5)
        objectives = ("distance",)
        weights = (-1.0,)

        def evaluate(self, genomes, seeds, generation):
            return np.sum(genomes**2, axis=1, keepdims=True)

Rules every problem keeps (the framework's determinism rests on them):

- **Per-individual results.** Row ``i`` of the result depends only on ``genomes[i]`` and
  ``seeds[i]`` (and ``generation``, if the problem has a curriculum) — never on which other genomes
  share the batch or on where the batch was cut. Backends split a population into chunks over
  workers; the result must not change with the worker count. Any randomness (initial conditions,
  sensor noise, wind) is drawn from ``np.random.default_rng(seeds[i])`` — never from the global
  ``random``/``np.random`` state.
  Common random numbers (every individual of a generation meets the same wind or reference
  profile, which makes the ranking less noisy) are fine too: derive them from ``generation`` and a
  seed of the problem's own config — never from the batch.
- **Picklable and light.** A problem is pickled once per worker process (or put once in Ray's
  object store). Build heavy things (MuJoCo models, numba-compiled kernels, datasets) lazily, on
  first use inside ``evaluate``, and leave them out of the pickled state (``__getstate__``).
- **Immutable during a run.** Backends keep the copy they were sent; whatever changes between
  generations must be a function of ``generation``.
- Genomes arrive in real units, inside ``bounds``, as float64 ``(P, n_genes)``; the result is
  ``(P, n_objectives)`` float. ``nan`` counts as the worst possible score.

Optional hooks the runner calls when present:

- ``export_best(genome, out_dir)`` — after the run, with the best genome (real units); a blimp
  problem writes ``best.snn`` and its own plots there.
- ``initial_genome`` — an array ``(n_genes,)`` in real units: the CMA-ES start point and one member
  of a GA's first population (default: the middle of the bounds for CMA-ES, uniform for GAs).
- ``objective_labels`` — objective -> axis label with its unit for ``fitness.png`` (default: the
  name and which way is better); ``objective_references`` — objective -> ``(value, name)``, a
  reference drawn as a line (e.g. ``(0.0, "PID")`` for a cost scored relative to the PID).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Problem", "ProblemError", "check_problem", "check_result"]


class ProblemError(ValueError):
    """A problem that breaks the contract (bad bounds, weights, or result shape)."""


@runtime_checkable
class Problem(Protocol):
    """What :func:`evolve.runner.evolve` needs from a task. See the module docstring for the rules."""

    name: str
    bounds: np.ndarray  # (n_genes, 2) float: [low, high] per gene, low < high
    objectives: tuple[str, ...]  # one name per objective
    weights: tuple[float, ...]  # DEAP convention: -1.0 minimise, +1.0 maximise

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        """Score ``genomes`` (P, n_genes) with per-individual ``seeds`` (P,) uint64 -> (P, n_obj)."""
        ...


def check_problem(problem: object) -> tuple[np.ndarray, tuple[float, ...]]:
    """Validate a problem's declarations; return ``(bounds as float64 (n, 2), weights)``."""
    name = getattr(problem, "name", type(problem).__name__)
    for attr in ("bounds", "objectives", "weights", "evaluate"):
        if not hasattr(problem, attr):
            raise ProblemError(f"problem {name!r} has no {attr!r}")
    bounds = np.asarray(problem.bounds, dtype=np.float64)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or bounds.shape[0] < 1:
        raise ProblemError(f"problem {name!r}: bounds must have shape (n_genes, 2), got {bounds.shape}")
    if not np.all(np.isfinite(bounds)) or np.any(bounds[:, 0] >= bounds[:, 1]):
        bad = int(np.flatnonzero(~np.isfinite(bounds).all(axis=1) | (bounds[:, 0] >= bounds[:, 1]))[0])
        raise ProblemError(f"problem {name!r}: gene {bad} has bounds {bounds[bad].tolist()}; need finite low < high")
    weights = tuple(float(w) for w in problem.weights)
    if len(weights) != len(tuple(problem.objectives)) or not weights:
        raise ProblemError(f"problem {name!r}: {len(weights)} weights for {len(tuple(problem.objectives))} objectives")
    if any(w == 0 or not np.isfinite(w) for w in weights):
        raise ProblemError(f"problem {name!r}: weights must be nonzero and finite, got {weights}")
    init = getattr(problem, "initial_genome", None)
    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.shape != (bounds.shape[0],):
            raise ProblemError(f"problem {name!r}: initial_genome has shape {init.shape}, want ({bounds.shape[0]},)")
    return bounds, weights


def check_result(problem: object, result: object, n: int, n_obj: int) -> np.ndarray:
    """``result`` as float64 ``(n, n_obj)``, or :class:`ProblemError` naming the problem and shape."""
    out = np.asarray(result, dtype=np.float64)
    if out.ndim == 1 and n_obj == 1 and out.shape[0] == n:
        out = out[:, None]
    if out.shape != (n, n_obj):
        name = getattr(problem, "name", type(problem).__name__)
        raise ProblemError(f"problem {name!r}: evaluate returned shape {out.shape}, want ({n}, {n_obj})")
    return out
