"""The task-independent summary over episodes or seeds, and the plain episode return."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.metrics import episode_return, summarize


def test_summarize_known_answers():
    rows = [{"cost": 1.0, "ret": 10.0}, {"cost": 3.0, "ret": 4.0}, {"cost": 2.0, "ret": 7.0, "extra": 1.0}]
    s = summarize(rows, ["cost", "ret", "extra"], better={"ret": "higher"})
    assert list(s) == ["cost", "ret"]  # 'extra' is missing from two rows: left out, not averaged over one
    assert s["cost"] == {"mean": 2.0, "std": pytest.approx(np.sqrt(2 / 3)), "worst": 3.0}
    assert s["ret"]["mean"] == 7.0 and s["ret"]["worst"] == 4.0 and s["ret"]["std"] == pytest.approx(np.sqrt(6))
    assert summarize([], ["cost"]) == {}
    with pytest.raises(ValueError, match="better"):
        summarize(rows, ["cost"], better="smaller")


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=30), st.sampled_from(["lower", "higher"]))
def test_summarize_matches_the_statistics_module(values, better):
    """A second implementation: statistics.fmean / pstdev, and max (cost) or min (return) for the worst."""
    s = summarize([{"x": v} for v in values], ["x"], better=better)["x"]
    assert s["mean"] == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert s["std"] == pytest.approx(statistics.pstdev(values), rel=1e-6, abs=1e-6)
    assert s["worst"] == (max(values) if better == "lower" else min(values))
    assert min(values) - 1e-6 <= s["mean"] <= max(values) + 1e-6


class _CountingEnv:
    """Reward k at step k; ends (truncated) after `length` steps; the seed offsets nothing."""

    def __init__(self, length: int) -> None:
        self.length, self.k = length, 0

    def reset(self, seed=None):
        self.k = 0
        return np.zeros(1), {}

    def step(self, action):
        self.k += 1
        return np.zeros(1), float(self.k), False, self.k >= self.length, {}


class _Ctl:
    resets = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs):
        return np.zeros(1)


def test_episode_return_sums_rewards_until_truncation_or_steps():
    ctl = _Ctl()
    assert episode_return(_CountingEnv(4), ctl, 0, 100) == 1 + 2 + 3 + 4  # the env ends it
    assert episode_return(_CountingEnv(100), ctl, 0, 3) == 1 + 2 + 3  # the step budget ends it
    assert ctl.resets == 2
