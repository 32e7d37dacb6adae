"""Spaces the gym family cannot map onto a network, beyond tests/test_gym_experiment.py's Dict and
MultiBinary: each refused before any evolution as one line naming `env.id` and the space."""

from __future__ import annotations

import pytest

from snnctl import cli


@pytest.mark.parametrize(
    ("env_table", "space"),
    [
        ('id = "Blackjack-v1"', "observation space Tuple("),  # a registered env with a Tuple observation
        ('id = "FrozenLake-v1"', "observation space Discrete(16)"),
        ('id = "tests.gym_user_env:MultiDiscreteActionEnv"\nmax_episode_steps = 10', "action space MultiDiscrete("),
        ('id = "tests.gym_user_env:UnboundedActionEnv"\nmax_episode_steps = 10', "action space Box(-inf, inf"),
    ],
)
def test_unsupported_space_is_one_line_naming_the_key(tmp_path, capsys, env_table, space) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[experiment]\nfamily = "gym"\n[env]\n{env_table}\n[calibration]\nepisodes = 1\nsteps = 5\n')
    assert cli.main(["evolve", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    env_id = env_table.split('"')[1]
    assert len(lines) == 1 and lines[0].startswith(f"snnctl: error: env.id = '{env_id}': {space}"), lines
    assert "is not supported" in lines[0] and not (tmp_path / "r" / "best.snn").exists()
