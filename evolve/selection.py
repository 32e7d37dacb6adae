"""Validated selection: what a run exports is chosen on episodes it was not trained on.

The hall of fame holds the genomes with the best *recorded* scores, and a recorded score is one
noisy draw: over 2,400 evaluations the minimum is mostly luck (a blimp run exported a member whose
recorded cost was the best of the run and whose cost on fresh flights was the worst of ten). So after
the last generation the runner gathers a candidate set —

* the hall of fame (NSGA-II: the Pareto front),
* the algorithm's own estimate (`Algorithm.estimate`: the CMA-ES mean, the GA's last best),
* the initial genome (the prior a family derives by hand),
* the best individual of each of the last few generations,
* anything the problem adds (`problem.extra_candidates`, e.g. a second prior) —

and re-scores every candidate on the same validation episodes (`sim.seeds.VALIDATION`, disjoint
from training and held-out seeds) through ``problem.validate(genomes, episodes)``: row ``i`` is
genome ``i`` scored on validation episode ``episodes[i]``. All candidates meet the same episodes,
so differences between them are paired. The candidate with the best validation mean is exported;
for several objectives the validation means are sorted for non-domination again and the front
member best on the first objective is exported. The held-out set is not touched.

``selection.csv`` / ``selection.json`` in the run folder hold the whole table (training score,
validation mean ± standard error, the paired margin over the runner-up, chosen).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.seeds import VALIDATION
from snnctl.text import plural

__all__ = ["Candidate", "Selection", "gather_candidates", "select", "pareto_indices", "SelectionError"]


class SelectionError(RuntimeError):
    """A problem that cannot be validated (no ``validate`` hook) or an empty candidate set."""


@dataclass
class Candidate:
    """A genome (real units) that may be exported, with where it came from."""

    label: str
    genome: np.ndarray
    train: np.ndarray | None = None  # recorded training objective values; None if evolution never scored it
    generation: int | None = None


def gather_candidates(
    algo: Any, recent: list[tuple[int, np.ndarray, np.ndarray]], problem: Any, initial: np.ndarray | None
) -> list[Candidate]:
    """The candidate set of a finished run, identical genomes merged (their labels joined with ' = ')."""
    out: list[Candidate] = []
    front_g, front_v = algo.front()
    name = "front" if algo.multi_objective else "hall of fame"
    for k, (g, v) in enumerate(zip(front_g, front_v, strict=True)):
        out.append(Candidate(f"{name} #{k + 1}", g, v))
    est = algo.estimate()
    if est is not None:
        out.append(Candidate(est[0], est[1]))
    if initial is not None:
        out.append(Candidate("initial genome", np.asarray(initial, dtype=np.float64)))
    for gen, g, v in recent:
        out.append(Candidate(f"best of generation {gen}", g, v, gen))
    for label, g in (getattr(problem, "extra_candidates", None) or {}).items():
        out.append(Candidate(str(label), np.asarray(g, dtype=np.float64)))
    return _merge_identical(out)


def _merge_identical(cands: list[Candidate]) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in cands:
        same = next((k for k in kept if np.array_equal(k.genome, c.genome)), None)
        if same is None:
            kept.append(c)
        else:
            same.label = f"{same.label} = {c.label}"
            same.train = same.train if same.train is not None else c.train
            same.generation = same.generation if same.generation is not None else c.generation
    return kept


def pareto_indices(values: np.ndarray, weights: tuple[float, ...]) -> list[int]:
    """Rows of ``values`` (n, n_obj) that no other row dominates (DEAP weights: -1 minimise, +1 maximise)."""
    w = np.asarray(values, dtype=np.float64) * np.asarray(weights, dtype=np.float64)  # larger is better
    w = np.where(np.isnan(w), -np.inf, w)
    keep = []
    for i in range(len(w)):
        dominated = np.any(np.all(w >= w[i], axis=1) & np.any(w > w[i], axis=1))
        if not dominated:
            keep.append(i)
    return keep


@dataclass
class Selection:
    """Validation scores of every candidate and the choice made from them."""

    candidates: list[Candidate]
    scores: np.ndarray  # (n_candidates, n_episodes, n_objectives)
    objectives: tuple[str, ...]
    weights: tuple[float, ...]
    chosen: int
    front: list[int] = field(default_factory=list)  # several objectives: the validated non-dominated set

    @property
    def episodes(self) -> int:
        return int(self.scores.shape[1])

    @property
    def means(self) -> np.ndarray:
        return self.scores.mean(axis=1)

    @property
    def standard_errors(self) -> np.ndarray:
        n = self.episodes
        return self.scores.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.full(self.means.shape, np.nan)

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]

    def front_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The validated front as (genomes, validation means, training values; nan where never scored)."""
        idx = self.front
        g = np.array([self.candidates[i].genome for i in idx], dtype=np.float64).reshape(len(idx), -1)
        nan = np.full(len(self.objectives), np.nan)
        t = np.array([nan if self.candidates[i].train is None else self.candidates[i].train for i in idx])
        return g, self.means[idx], t.reshape(len(idx), len(self.objectives))

    def order(self) -> list[int]:
        """Candidates from best to worst on the first objective's validation mean."""
        key = self.means[:, 0] * -self.weights[0]  # ascending = best first
        return [int(i) for i in np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")]

    def margin(self) -> tuple[str, float, float] | None:
        """(runner-up label, paired mean difference on objective 0 in the chosen one's favour, its s.e.)."""
        others = [i for i in self.order() if i != self.chosen]
        if not others:
            return None
        j = others[0]
        d = (self.scores[j, :, 0] - self.scores[self.chosen, :, 0]) * -self.weights[0]
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
        return self.candidates[j].label, float(d.mean()), se

    def rank_correlation(self) -> float | None:
        """Spearman's rho between training scores and validation means (objective 0) over the candidates
        that have a training score: how far the recorded scores can be trusted to rank (1: fully)."""
        idx = [i for i, c in enumerate(self.candidates) if c.train is not None]
        if len(idx) < 3:
            return None
        a = np.array([self.candidates[i].train[0] for i in idx])
        b = self.means[idx, 0]
        ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)
        if ra.std() == 0 or rb.std() == 0:
            return None
        return float(np.corrcoef(ra, rb)[0, 1])

    def rows(self) -> list[dict]:
        means, ses = self.means, self.standard_errors
        out = []
        for i in self.order():
            c = self.candidates[i]
            row: dict[str, Any] = {"candidate": c.label, "generation": c.generation}
            for k, o in enumerate(self.objectives):
                row[f"train_{o}"] = None if c.train is None else float(c.train[k])
                row[f"validation_{o}_mean"] = float(means[i, k])
                row[f"validation_{o}_se"] = float(ses[i, k])
            if len(self.objectives) > 1:
                row["validated_front"] = i in self.front
            row["chosen"] = i == self.chosen
            out.append(row)
        return out

    def write(self, out_dir: Path) -> None:
        """``selection.csv`` and ``selection.json`` (with the per-episode scores) in ``out_dir``."""
        rows = self.rows()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        (Path(out_dir) / "selection.csv").write_text(buf.getvalue())
        doc = {
            "episodes": self.episodes,
            "validation_seeds": [VALIDATION.start, VALIDATION.start + self.episodes - 1],
            "objectives": list(self.objectives),
            "chosen": self.best.label,
            "margin": self.margin(),
            "training_validation_spearman": self.rank_correlation(),
            "candidates": rows,
            "scores": {c.label: self.scores[i].tolist() for i, c in enumerate(self.candidates)},
        }
        (Path(out_dir) / "selection.json").write_text(json.dumps(doc, indent=2) + "\n")

    def summary(self, top: int = 6) -> str:
        """The short version printed at the end of a run."""
        o = self.objectives[0]
        lines = [
            f"validated selection: {plural(len(self.candidates), 'candidate')} x"
            f" {plural(self.episodes, 'validation episode')} "
            f"(seeds {VALIDATION.start}..{VALIDATION.start + self.episodes - 1}, disjoint from training and held-out)",
            f"  {'candidate':44} {'training':>10}   validation {o} (mean ± s.e.)",
        ]
        order = self.order()
        shown = order[:top] + ([self.chosen] if self.chosen not in order[:top] else [])
        means, ses = self.means, self.standard_errors
        for i in shown:
            c = self.candidates[i]
            train = "-" if c.train is None else f"{c.train[0]:.4f}"
            mark = "*" if i == self.chosen else " "
            label = c.label if len(c.label) <= 42 else c.label[:39] + "..."
            lines.append(f"{mark} {label:44} {train:>10}   {means[i, 0]:+.4f} ± {ses[i, 0]:.4f}")
        if len(order) > len(shown):
            lines.append(f"  ... {len(order) - len(shown)} more in selection.csv")
        rho = self.rank_correlation()
        if rho is not None:
            lines.append(f"  training score vs validation mean over the scored candidates: Spearman rho = {rho:+.2f}")
        m = self.margin()
        if m is not None:
            label, d, se = m
            verdict = (
                "resolved (> 2 s.e.)"
                if d > 2 * se
                else "within noise: the leading candidates are equally good on validation (either would do)"
            )
            lines.append(f"  chosen: {self.best.label}; ahead of {label} by {d:.4f} ± {se:.4f} (paired s.e.):")
            lines.append(f"  {verdict}")
        return "\n".join(lines)


def select(
    problem: Any, candidates: list[Candidate], backend: Any, episodes: int, weights: tuple[float, ...]
) -> Selection:
    """Score ``candidates`` on validation episodes ``0..episodes-1`` through ``backend``; choose one."""
    if not callable(getattr(problem, "validate", None)):
        raise SelectionError(f"problem {getattr(problem, 'name', problem)!r} has no validate() hook")
    if not candidates:
        raise SelectionError("no candidates to validate")
    if not 1 <= episodes <= len(VALIDATION):
        raise SelectionError(f"validation episodes must be in 1..{len(VALIDATION)}, got {episodes}")
    objectives = tuple(str(o) for o in problem.objectives)
    genomes = np.repeat(np.array([c.genome for c in candidates], dtype=np.float64), episodes, axis=0)
    ep = np.tile(np.arange(episodes, dtype=np.uint64), len(candidates))
    flat = backend.evaluate(problem, genomes, ep, -1, validation=True)
    scores = np.asarray(flat, dtype=np.float64).reshape(len(candidates), episodes, len(objectives))
    worst = np.where(np.asarray(weights) < 0, np.inf, -np.inf)
    scores = np.where(np.isnan(scores), worst, scores)  # a failed episode is the worst possible score
    means = scores.mean(axis=1)
    if len(objectives) == 1:
        key = means[:, 0] * weights[0]
        chosen, front = int(np.argmax(key)), []
    else:
        front = pareto_indices(means, weights)
        chosen = max(front, key=lambda i: means[i, 0] * weights[0])
    return Selection(candidates, scores, objectives, tuple(weights), chosen, front)
