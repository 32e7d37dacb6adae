"""Validated selection (evolve.selection): the export is chosen on validation episodes, not on luck."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.backends import ProcessBackend, SerialBackend
from evolve.runner import EvolveSettings, evolve
from evolve.selection import Candidate, pareto_indices, select
from sim import seeds

LUCKY = 0.9  # the planted genome: the best training score of the run, the worst on validation


class LuckyOutlier:
    """True cost (x - 0.3)^2 on [0, 1]. Training scores carry noise; the planted genome drew a lucky -10."""

    name = "lucky-outlier"
    bounds = np.array([[0.0, 1.0]])
    objectives = ("cost",)
    weights = (-1.0,)
    initial_genome = np.array([LUCKY])  # the GA evaluates the initial genome in its first population

    def evaluate(self, genomes, seeds_, generation):
        out = np.empty((len(genomes), 1))
        for i, (g, s) in enumerate(zip(genomes, seeds_, strict=True)):
            noise = np.random.default_rng(int(s)).normal(0, 0.01)
            out[i, 0] = -10.0 if g[0] == LUCKY else (g[0] - 0.3) ** 2 + noise
        return out

    def validate(self, genomes, episodes):
        # the same noise model on validation episodes: nobody is lucky every time
        out = np.empty((len(genomes), 1))
        for i, (g, e) in enumerate(zip(genomes, episodes, strict=True)):
            noise = np.random.default_rng(seeds.validation_seed(int(e))).normal(0, 0.01)
            out[i, 0] = (g[0] - 0.3) ** 2 + noise
        return out


def test_planted_lucky_outlier_is_not_exported(tmp_path):
    s = EvolveSettings(algorithm="ga", generations=6, population=12, seed=3, backend="serial", validation_episodes=12)
    result = evolve(LuckyOutlier(), s, tmp_path / "run", progress=False)
    sel = result.selection
    assert sel is not None
    labels = [c.label for c in sel.candidates]
    lucky = next(i for i, c in enumerate(sel.candidates) if c.genome[0] == LUCKY)
    # the outlier is the hall of fame's best (its recorded score is the run's best) ...
    assert sel.candidates[lucky].label.startswith("hall of fame #1")
    assert sel.candidates[lucky].train[0] == -10.0
    # ... and the worst on validation; the export is the validation-best candidate
    means = sel.means[:, 0]
    assert lucky == int(np.argmax(means))
    assert sel.chosen == int(np.argmin(means)) and sel.chosen != lucky
    exported = np.load(tmp_path / "run" / "best_genome.npy")
    np.testing.assert_array_equal(exported, sel.best.genome)
    assert abs(exported[0] - 0.3) < abs(LUCKY - 0.3)
    info = json.loads((tmp_path / "run" / "best_genome.json").read_text())
    assert info["chosen"] == sel.best.label and info["validation_episodes"] == 12
    doc = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert doc["chosen"] == sel.best.label and len(doc["candidates"]) == len(labels)
    assert "initial genome" in sel.candidates[lucky].label  # the planted genome was also the initial one


def test_validation_means_are_plain_means_of_the_validate_hook():
    prob = LuckyOutlier()
    cands = [Candidate("a", np.array([0.1])), Candidate("b", np.array([0.35])), Candidate("c", np.array([0.8]))]
    sel = select(prob, cands, SerialBackend(), 5, prob.weights)
    for i, c in enumerate(cands):
        expect = [
            (c.genome[0] - 0.3) ** 2 + np.random.default_rng(seeds.validation_seed(e)).normal(0, 0.01) for e in range(5)
        ]
        np.testing.assert_allclose(sel.scores[i, :, 0], expect, rtol=0, atol=0)
        assert abs(sel.standard_errors[i, 0] - np.std(expect, ddof=1) / np.sqrt(5)) < 1e-15
    assert sel.best.label == "b"
    label, d, se = sel.margin()
    assert label == "a" and d > 0 and se > 0


def test_selection_does_not_depend_on_the_worker_count():
    prob = LuckyOutlier()
    cands = [Candidate(str(x), np.array([x])) for x in np.linspace(0, 1, 7)]
    a = select(prob, cands, SerialBackend(), 4, prob.weights)
    with ProcessBackend(2) as be:
        b = select(prob, cands, be, 4, prob.weights)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.chosen == b.chosen


def test_unvalidated_run_says_so(tmp_path, capsys):
    s = EvolveSettings(algorithm="ga", generations=2, population=8, seed=1, backend="serial", validation_episodes=0)
    result = evolve(LuckyOutlier(), s, tmp_path / "run", progress=True)
    assert result.selection is None
    assert "NOT validated" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "best_genome.json").read_text())["chosen"].endswith("(not validated)")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=12), st.booleans())
def test_pareto_indices_match_brute_force(points, maximise_second):
    v = np.array(points, dtype=float)
    w = (-1.0, 1.0 if maximise_second else -1.0)
    got = pareto_indices(v, w)
    g = v * np.array(w)
    for i in range(len(v)):
        dominated = any((g[j] >= g[i]).all() and (g[j] > g[i]).any() for j in range(len(v)))
        assert (i in got) == (not dominated)


def test_seed_sets_are_disjoint_and_cover_their_ranges():
    sets = [seeds.TRAINING, seeds.VALIDATION, seeds.HELDOUT]
    for a in range(3):
        for b in range(a + 1, 3):
            assert max(sets[a].start, sets[b].start) >= min(sets[a].stop, sets[b].stop)
    assert seeds.which_set(seeds.validation_seed(0)) == "validation"
    assert seeds.which_set(seeds.heldout_seed(0)) == "heldout"
    drawn = seeds.training_seeds([2**32 - 1, 10_000], 1000)
    assert all(seeds.which_set(s) == "training" for s in drawn)
    from sim.profiles import HELDOUT_SEEDS

    assert all(seeds.which_set(s) == "heldout" for s in HELDOUT_SEEDS)


def test_rank_correlation_of_training_and_validation_scores():
    from evolve.selection import Selection

    def sel(train, val):
        cands = [Candidate(str(i), np.array([float(i)]), np.array([t])) for i, t in enumerate(train)]
        cands.append(Candidate("prior", np.array([9.0])))  # no training score: left out of the correlation
        scores = np.array([[[v]] for v in [*val, 0.0]])
        return Selection(cands, scores, ("cost",), (-1.0,), 0)

    assert sel([1, 2, 3, 4], [10, 20, 30, 40]).rank_correlation() == 1.0
    assert sel([1, 2, 3, 4], [40, 30, 20, 10]).rank_correlation() == -1.0
    # 1 - 6 sum d^2 / (n (n^2 - 1)) for ranks (0,1,2,3) vs (1,0,3,2): d^2 = 4 -> 1 - 24/60 = 0.6
    assert abs(sel([1, 2, 3, 4], [2, 1, 4, 3]).rank_correlation() - 0.6) < 1e-12
    assert sel([1, 2], [1, 2]).rank_correlation() is None
