"""Fixtures more than one test module flies with."""

from __future__ import annotations

import pytest

# A blimp experiment small enough for a test: both phases, validated selection, seconds in all.
TINY = """\
[experiment]
family = "blimp"

[evolve]
algorithm = "cmaes"
generations = 2
population = 4
sigma = 0.05
seed = 3
backend = "serial"
workers = 1
validation_episodes = 3

[network]
pd_pairs = 2
i_pairs = 2

[mimic]
generations = 2
flights = 2
sequences_per_generation = 1

[closed_loop]
episode_s = 5.0
episodes_per_generation = 1

[run]
episodes = 1
episode_s = 20.0
"""


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY)
    return str(path)
