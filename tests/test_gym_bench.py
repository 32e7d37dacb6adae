"""`snnctl bench gym` and its float linear baseline: the policy against hand-worked actions, the command on a
tiny budget (checked against the run folders and a second implementation of the held-out loop), the cache
(a rerun evolves nothing, a changed config recomputes only its own rows) and the one-line config errors."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from evolve import gym_experiment, gym_linear
from evolve.gym_linear import LinearPolicy
from snnctl import cli
from snnctl.cli import families
from snnctl.controllers.gym_io import ActionIO

TINY = """
[experiment]
family = "gym"
[evolve]
generations = 2
population = {population}
backend = "serial"
validation_episodes = 2
recent_generations = 1
[env]
id = "{env}"
[calibration]
episodes = 2
steps = 20
[network]
hidden = 2
[train]
episodes_per_generation = 1
episode_steps = 50
[run]
episodes = 3
episode_steps = 60
"""


def _config(folder: Path, name: str, env: str, population: int = 4) -> str:
    path = folder / f"{name}.toml"
    path.write_text(TINY.format(env=env, population=population))
    return str(path)


# -- the linear policy, by hand ---------------------------------------------------------------------------------
def test_box_action_is_the_clipped_scaled_affine_map() -> None:
    io = ActionIO("box", 1, (-1.0,), (2.0,))  # max(|low|, |high|) = 2
    p = LinearPolicy(np.array([[0.2, 0.1]]), np.array([-0.05]), np.array([2.0, 4.0]), io, input_gain=2.0)
    # x = (1/2, -2/4) = (0.5, -0.5); y = 2 (0.1 - 0.05) - 0.05 = 0.05; action = 0.05 * 2 = 0.1
    assert p.act(np.array([1.0, -2.0]))[0] == pytest.approx(0.1)
    # obs (1, -8): x = (0.5, -2 -> -1, saturated as the SNN's input code); y = 2 (0.1 - 0.1) - 0.05 = -0.05
    assert p.act(np.array([1.0, -8.0]))[0] == pytest.approx(-0.1)
    q = LinearPolicy(np.array([[1.0, -1.0]]), np.array([0.5]), np.array([2.0, 4.0]), io, input_gain=2.0)
    # y = 2 (0.5 + 0.5) + 0.5 = 2.5 -> 5.0, clipped to high = 2; and to low = -1 the other way
    assert q.act(np.array([1.0, -2.0]))[0] == 2.0
    assert q.act(np.array([-2.0, 4.0]))[0] == -1.0


def test_discrete_action_is_the_first_argmax_from_start() -> None:
    io = ActionIO("discrete", 3, start=-1)
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    p = LinearPolicy(w, np.zeros(3), np.array([1.0, 1.0]), io, input_gain=2.0)
    assert p.act(np.array([0.5, 0.25])) == -1  # y = (1, 0.5, 1): a tie of 0 and 2, the lowest index
    assert p.act(np.array([0.25, 0.5])) == 0  # y = (0.5, 1, 0.5)
    biased = LinearPolicy(w, np.array([0.0, 0.0, 0.1]), np.array([1.0, 1.0]), io, input_gain=2.0)
    assert biased.act(np.array([0.5, 0.25])) == 1  # the bias breaks the tie: (1, 0.5, 1.1)


def test_a_genome_is_w_row_major_then_b_and_survives_the_json_file(tmp_path: Path) -> None:
    _mod, cfg = families.load(_config(tmp_path, "cp", "CartPole-v1"))
    problem = gym_linear.problem_of(cfg)
    assert problem.bounds.shape == (2 * 4 + 2, 2)  # CartPole: 4 observations, 2 actions
    genome = np.linspace(-1, 1, 10)
    p = problem.policy(genome)
    np.testing.assert_array_equal(p.w, genome[:8].reshape(2, 4))
    np.testing.assert_array_equal(p.b, genome[8:])
    path = problem.export_best(genome, tmp_path)
    back = LinearPolicy.from_json(json.loads(path.read_text()))
    for obs in np.random.default_rng(0).normal(size=(20, 4)):
        assert back.act(obs) == p.act(obs)


# -- the command ------------------------------------------------------------------------------------------------
def _bench(capsys, *args: str) -> dict:
    assert cli.main(["bench", "gym", *args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def _linear_heldout(cfg_env: str, policy: LinearPolicy, n: int, steps: int) -> list[float]:
    """A second implementation of the held-out loop: the saved policy in a plain gymnasium loop."""
    env = gymnasium.make(cfg_env)
    out = []
    for k in range(n):
        obs, _ = env.reset(seed=1_000_000 + k)
        total = 0.0
        for _ in range(steps):
            obs, r, term, trunc, _ = env.step(policy.act(obs))
            total += float(r)
            if term or trunc:
                break
        out.append(total)
    env.close()
    return out


def test_bench_gym_tabulates_both_controllers_and_reuses_its_cache(tmp_path, capsys, monkeypatch) -> None:
    cp, mc = _config(tmp_path, "cp", "CartPole-v1"), _config(tmp_path, "mc", "MountainCarContinuous-v0")
    out = tmp_path / "bench"
    first = _bench(capsys, cp, mc, "--seeds", "1", "2", "--out", str(out))
    assert [r["env"] for r in first["rows"]] == ["CartPole-v1", "MountainCarContinuous-v0"]
    for row in first["rows"]:
        assert row["threshold"] == gymnasium.spec(row["env"]).reward_threshold  # 475 and 90: the registry's
        means = [s["metrics"]["return_mean"] for s in row["snn"]["seeds"]]
        assert row["met"] == all(m >= row["threshold"] for m in means)
        for kind in ("snn", "linear"):
            for seed, s in zip((1, 2), row[kind]["seeds"], strict=True):
                folder = Path(row["folder"]) / kind / f"seed{seed}"
                table = json.loads((folder / "heldout.json").read_text())
                assert table["episodes"] == 3 and s["seed"] == seed
                assert s["metrics"]["return_mean"] == pytest.approx(np.mean(table["returns"]))
    # the baseline's held-out returns, replayed from its saved policy by a plain loop
    mc_row = first["rows"][1]
    policy_file = Path(mc_row["folder"]) / "linear" / "seed1" / "best_linear.json"
    policy = LinearPolicy.from_json(json.loads(policy_file.read_text()))
    stored = json.loads((policy_file.parent / "heldout.json").read_text())["returns"]
    assert _linear_heldout("MountainCarContinuous-v0", policy, 3, 60) == pytest.approx(stored)

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("bench.json")}
    assert len(stamps) == 2 * 2 * 2  # configs x kinds x seeds

    def refuse(*_a, **_k):
        raise AssertionError("a cached result was evolved again")

    with monkeypatch.context() as m:
        m.setattr(gym_experiment, "evolve_main", refuse)
        m.setattr(gym_linear, "evolve_main", refuse)
        again = _bench(capsys, cp, mc, "--seeds", "1", "2", "--out", str(out))
        # a key written out at its default (or one the schema gains later, at its default) is the same config
        Path(cp).write_text(Path(cp).read_text().replace("hidden = 2", 'hidden = 2\nneuron = "lif"'))
        same = _bench(capsys, cp, mc, "--seeds", "1", "2", "--out", str(out))
    assert again["rows"] == first["rows"] == same["rows"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # one config changes: only its rows are evolved again, into a folder of its new content
    calls: list[str] = []
    for mod in (gym_experiment, gym_linear):
        real = mod.evolve_main
        monkeypatch.setattr(
            mod, "evolve_main", lambda c, o, *a, _r=real, **k: calls.append(str(o)) or _r(c, o, *a, **k)
        )
    _config(tmp_path, "mc", "MountainCarContinuous-v0", population=5)
    changed = _bench(capsys, cp, mc, "--seeds", "1", "2", "--out", str(out))
    assert len(calls) == 4 and all("/mc/" in c for c in calls)  # 2 kinds x 2 seeds of the changed config
    assert changed["rows"][0] == first["rows"][0]
    assert changed["rows"][1]["folder"] != first["rows"][1]["folder"]
    assert Path(first["rows"][1]["folder"]).is_dir()  # the old content's results stay, unread

    calls.clear()
    _bench(capsys, cp, "--seeds", "1", "--out", str(out), "--fresh")
    assert len(calls) == 2  # --fresh: both kinds of the one seed recomputed


def test_the_table_starts_with_the_command_and_marks_the_threshold(tmp_path, capsys) -> None:
    cp = _config(tmp_path, "cp", "CartPole-v1")
    assert cli.main(["bench", "gym", cp, "--seeds", "3", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == f"$ snnctl bench gym {cp} --seeds 3"
    assert lines[1].startswith("  printed on ")
    result = json.loads((tmp_path / "b" / "bench_gym.json").read_text())
    row = next(line for line in lines if line.startswith("CartPole-v1"))
    assert ("475 met 1/1" in row) == result["rows"][0]["met"]
    assert ("475 NOT MET 0/1" in row) == (not result["rows"][0]["met"])


# -- bad input: one line naming the key -------------------------------------------------------------------------
def _one_line_error(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnctl: error: "), err
    for n in needles:
        assert n in err[0], err[0]


def test_config_errors_are_one_line_naming_the_key(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.format(env="CartPole-v1", population=4).replace("hidden = 2", "hidden = -3"))
    assert cli.main(["bench", "gym", str(bad), "--seeds", "1", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "network.hidden")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(TINY.format(env="NoSuchEnv-v9", population=4))
    assert cli.main(["bench", "gym", str(unknown), "--seeds", "1", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "env.id", "NoSuchEnv-v9")
    other = tmp_path / "blimp.toml"
    other.write_text('[experiment]\nfamily = "blimp"\n')
    assert cli.main(["bench", "gym", str(other), "--seeds", "1"]) == 2
    _one_line_error(capsys, "gym configs", "blimp")
    assert cli.main(["bench", "gym", str(bad), "--seeds", "1", "1"]) == 2
    _one_line_error(capsys, "--seeds")
