"""Task-independent figures over episodes or seeds: the one summary of a metric, and an episode's return.

Every table that reports a metric over several episodes or seeds (held-out runs, benchmarks over
seeds, the sensing-to-action loop) summarises it through `summarize`, so mean, spread and worst mean
the same everywhere. A task's own metrics live with the task (the blimp's: `sim.blimp_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def summarize(
    rows: Sequence[Mapping[str, Any]], keys: Iterable[str], better: str | Mapping[str, str] = "lower"
) -> dict[str, dict[str, float]]:
    """Mean, spread (population standard deviation) and worst of each metric in ``keys`` over ``rows``.

    ``rows``: one mapping per episode or seed. A key missing from any row is left out (a figure some
    episodes lack is not averaged over the others). ``better`` ("lower" or "higher", or per key; default
    "lower") picks the worst: the largest value of a cost, the smallest of a return.
    """
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        if not rows or not all(k in r for r in rows):
            continue
        vals = np.array([r[k] for r in rows], dtype=np.float64)
        b = better if isinstance(better, str) else better.get(k, "lower")
        if b not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', got {b!r} for {k!r}")
        worst = vals.max() if b == "lower" else vals.min()
        out[k] = {"mean": float(vals.mean()), "std": float(vals.std()), "worst": float(worst)}
    return out


def episode_return(env: Any, controller: Any, seed: int, steps: int) -> float:
    """Sum of rewards of one episode of at most ``steps`` steps from ``env.reset(seed=seed)``.

    The plain gymnasium loop (``controller``: ``reset()``, ``act(obs)``), what a task scored by its
    return alone needs (the swimmer); a task that scores the trajectory records it (``sim.blimp_metrics``).
    """
    obs, _ = env.reset(seed=int(seed))
    controller.reset()
    total = 0.0
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(controller.act(obs))
        total += float(reward)
        if terminated or truncated:
            break
    return total
