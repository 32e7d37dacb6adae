"""The three disjoint sets of episode seeds: training, validation, held-out.

A seed names one episode of an environment (a blimp's reference profile and sensor noise, a
swimmer's initial state). Results hold up only if what chose a controller never saw what scores it:

``TRAINING``  ``[0, 900_000)``
    what fitness sees during evolution (drawn per generation from the run seed).
``VALIDATION``  ``[900_000, 1_000_000)``
    used once, after evolution, to choose what a run exports among its candidates
    (`evolve.selection`); never by the fitness.
``HELDOUT``  ``[1_000_000, ...)``
    only `snnctl run` and the benchmarks; nothing is tuned or chosen on it.

Every family draws its seeds through these functions, so the sets stay disjoint by construction
(and a test asserts it for each family's problem).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TRAINING = range(0, 900_000)
VALIDATION = range(900_000, 1_000_000)
HELDOUT_START = 1_000_000
HELDOUT = range(HELDOUT_START, HELDOUT_START + 1_000_000)

__all__ = [
    "TRAINING",
    "VALIDATION",
    "HELDOUT",
    "HELDOUT_START",
    "training_seeds",
    "validation_seed",
    "heldout_seed",
    "which_set",
]


def training_seeds(key: Sequence[int], n: int) -> list[int]:
    """``n`` training seeds drawn from ``key`` (e.g. ``[run seed, generation]``): the same key, the same seeds."""
    rng = np.random.default_rng([int(k) for k in key])
    return [int(s) for s in rng.integers(TRAINING.start, TRAINING.stop, n)]


def validation_seed(index: int) -> int:
    """Seed of validation episode ``index`` (0, 1, ...): one fixed validation set for every run."""
    if not 0 <= index < len(VALIDATION):
        raise ValueError(f"validation episode index {index} out of range 0..{len(VALIDATION) - 1}")
    return VALIDATION.start + int(index)


def heldout_seed(index: int) -> int:
    """Seed of held-out episode ``index`` (0, 1, ...)."""
    if not 0 <= index < len(HELDOUT):
        raise ValueError(f"held-out episode index {index} out of range 0..{len(HELDOUT) - 1}")
    return HELDOUT.start + int(index)


def which_set(seed: int) -> str:
    """``"training"``, ``"validation"`` or ``"heldout"``: the set an episode seed belongs to."""
    for name, r in (("training", TRAINING), ("validation", VALIDATION), ("heldout", HELDOUT)):
        if seed in r:
            return name
    raise ValueError(f"seed {seed} is in none of the episode seed sets")
