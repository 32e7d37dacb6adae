"""The gym family through the CLI: evolve and run on CartPole with a tiny budget, a user's own env class,
the bad-input errors (one line naming the key), and the evolved network on the host board."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from snnctl import Policy, cli, snnfile
from tests.optional_tools import skip_unless_ci

TINY = """
[experiment]
family = "gym"
[evolve]
generations = 2
population = 4
backend = "serial"
validation_episodes = 2
recent_generations = 1
[env]
{env}
[calibration]
episodes = 2
steps = 20
[network]
hidden = 2
[train]
episodes_per_generation = 1
[run]
episodes = 3
"""


def _config(tmp_path: Path, env: str, name: str = "cfg.toml", extra: str = "") -> str:
    path = tmp_path / name
    path.write_text(TINY.format(env=env) + extra)
    return str(path)


def _one_line_error(capsys, *needles: str) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnctl: error: "), cap.err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _heldout_returns(env: gymnasium.Env, net_path: Path, n: int) -> list[float]:
    """A second implementation of the held-out loop: the public Policy in a plain gymnasium loop."""
    policy = Policy(net_path, force=True)
    out = []
    for k in range(n):
        obs, _ = env.reset(seed=1_000_000 + k)
        policy.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(policy(obs))
            total += float(r)
            done = term or trunc
        out.append(total)
    return out


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gym")
    cfg = _config(tmp, 'id = "CartPole-v1"')
    out = tmp / "run"
    assert cli.main(["evolve", cfg, "--out", str(out), "--quiet"]) == 0
    return cfg, out


def test_evolve_records_calibration_and_exports_the_network(cartpole_run) -> None:
    _, out = cartpole_run
    cal = json.loads((out / "calibration.json").read_text())
    net = snnfile.load(out / "best.snn")
    # bounded dims (x, theta) from the bounds; unbounded ones (velocities) 1.5 x the largest value calibration saw
    low, high = (
        gymnasium.make("CartPole-v1").observation_space.low,
        gymnasium.make("CartPole-v1").observation_space.high,
    )
    for i in (0, 2):
        assert cal["full_scale"][i] == pytest.approx(float(high[i]))
    for i in (1, 3):
        assert math.isinf(low[i]) and cal["low"][i] is None  # unbounded: null in the (strict) JSON
        assert cal["full_scale"][i] == pytest.approx(1.5 * cal["calibration_max"][i])
    assert np.allclose(net.input_scale, np.float32(np.array(cal["full_scale"]) / 32767))
    assert net.meta["combine"] == "argmax" and net.n_neurons == 2 + 2
    assert net.control_period_s == pytest.approx(0.02)  # CartPole's tau
    assert (out / "episode.png").stat().st_size > 0 and (out / "selection.json").is_file()


def test_run_json_equals_a_plain_gymnasium_loop(cartpole_run, tmp_path, capsys) -> None:
    cfg, out = cartpole_run
    capsys.readouterr()
    plot = tmp_path / "ep.png"
    assert cli.main(["run", cfg, "--controller", str(out / "best.snn"), "--episodes", "2", "--json", "--quiet",
                     "--plot", str(plot)]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    env = gymnasium.make("CartPole-v1")
    assert res["returns"] == _heldout_returns(env, out / "best.snn", 2)
    assert res["first_seed"] == 1_000_000 and res["episodes"] == 2 and plot.stat().st_size > 0


def test_unknown_env_id_names_the_key_and_how_to_list(tmp_path, capsys) -> None:
    cfg = _config(tmp_path, 'id = "NoSuchEnv-v9"')
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    _one_line_error(capsys, "env.id = 'NoSuchEnv-v9'", "pprint_registry", "module:MyEnvClass")


@pytest.mark.parametrize("cls", ["DictObsEnv", "MultiBinaryActionEnv"])
def test_unsupported_space_names_the_key(tmp_path, capsys, cls) -> None:
    cfg = _config(tmp_path, f'id = "tests.gym_user_env:{cls}"\nmax_episode_steps = 10')
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    _one_line_error(capsys, f"env.id = 'tests.gym_user_env:{cls}'", "is not supported")


def test_unbounded_observation_without_calibration_names_the_key(tmp_path, capsys) -> None:
    cfg = _config(tmp_path, 'id = "CartPole-v1"', extra="")
    text = Path(cfg).read_text().replace("episodes = 2\nsteps = 20", "episodes = 0")
    Path(cfg).write_text(text)
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    _one_line_error(capsys, "dimensions 1, 3 unbounded", "calibration.episodes")


def test_bad_env_kwargs_and_module_name_the_key(tmp_path, capsys) -> None:
    cfg = _config(tmp_path, 'id = "CartPole-v1"\n[env.kwargs]\nno_such_arg = 1')
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    _one_line_error(capsys, "env.kwargs")
    cfg = _config(tmp_path, 'id = "X-v0"\nmodule = "no_such_module_here"', name="m.toml")
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    _one_line_error(capsys, "env.module = 'no_such_module_here'")


def test_user_env_class_passes_check_env() -> None:
    from gymnasium.utils.env_checker import check_env

    from evolve.gym import make_env

    for kwargs in ({}, {"discrete": True}):
        env = make_env({"id": "tests.gym_user_env:PointMassEnv", "kwargs": kwargs, "max_episode_steps": 50})
        check_env(env.unwrapped, skip_render_check=True)
        assert env.spec is None or env._max_episode_steps == 50  # the TimeLimit the family adds


@pytest.mark.parametrize(
    "env_table",
    [
        'id = "tests.gym_user_env:PointMassEnv"\nmax_episode_steps = 40\n[env.kwargs]\nfriction = 0.2\ndiscrete = true',
        'id = "UserPointMass-v0"\nmodule = "tests.gym_user_env"',
    ],
)
def test_user_env_evolves_and_runs_with_no_project_change(tmp_path, capsys, env_table) -> None:
    cfg = _config(tmp_path, env_table)
    out = tmp_path / "run"
    assert cli.main(["evolve", cfg, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["run", cfg, "--controller", str(out / "best.snn"), "--episodes", "2", "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    from evolve.gym import make_env
    from evolve.gym_experiment import SCHEMA
    from snnctl.config import load_config

    env = make_env(load_config(cfg, SCHEMA)["env"])
    assert res["returns"] == _heldout_returns(env, out / "best.snn", 2)
    # on the host board as well (a Box action with the registered id, a Discrete one with the class)
    from tests.optional_tools import require_board

    require_board("host")
    assert cli.main(["hil", cfg, "--controller", str(out / "best.snn"), "--board", "host", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["identical"] and r["returns"] == res["returns"][:1]


def test_hil_on_the_host_board_is_bit_identical(cartpole_run, capsys) -> None:
    """`snnctl hil` with a gym config: the network stepped on the host board drives CartPole (the argmax of the
    board's integer codes, taken on the host); every action and code equals the in-process network's, and the
    returns equal a plain gymnasium loop's with the in-process network."""
    from tests.optional_tools import require_board

    require_board("host")
    cfg, out = cartpole_run
    capsys.readouterr()
    assert cli.main(["hil", cfg, "--controller", str(out / "best.snn"), "--board", "host", "--episodes", "2",
                     "--json", "--quiet"]) == 0  # fmt: skip
    r = json.loads(capsys.readouterr().out)
    assert r["identical"] and r["action_mismatches"] == 0 and r["code_mismatches"] == 0 and r["faults"] == 0
    assert r["returns"] == _heldout_returns(gymnasium.make("CartPole-v1"), out / "best.snn", 2)
    assert r["steps"] == sum(r["returns"])  # CartPole pays 1 per step


def test_hil_refuses_the_blimp_loops_options_for_gym(cartpole_run, capsys) -> None:
    cfg, out = cartpole_run
    assert cli.main(["hil", cfg, "--controller", str(out / "best.snn"), "--board", "host", "--realtime"]) == 2
    _one_line_error(capsys, "--realtime does not apply to a gym experiment")


def test_run_video_films_a_mujoco_env(tmp_path, capsys) -> None:
    """`--video` on a MuJoCo env: a hand-built network (zero weights) on InvertedPendulum-v5, filmed offscreen."""
    pytest.importorskip("mujoco")
    from evolve.gym import action_io, control_period, make_env
    from sim.video import VideoError, ensure_offscreen_gl
    from snnctl.controllers.gym_snn import GymSNNCodec, GymSNNSpec

    try:
        ensure_offscreen_gl()
    except VideoError as e:
        skip_unless_ci(str(e))
    env = make_env({"id": "InvertedPendulum-v5"})
    codec = GymSNNCodec(GymSNNSpec(), np.ones(4), action_io(env, "x"), control_period_s=control_period(env))
    net = tmp_path / "zero.snn"
    snnfile.save(codec.decode(codec.initial_genome), net)
    cfg = _config(tmp_path, 'id = "InvertedPendulum-v5"')
    gif = tmp_path / "ep.gif"
    assert (
        cli.main(["run", cfg, "--controller", str(net), "--episodes", "1", "--json", "--quiet", "--video", str(gif)])
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    from PIL import Image

    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames >= 2
    assert res["video_bytes"] == gif.stat().st_size


def test_nsga2_return_vs_spikes_exports_a_validated_front_member(tmp_path, capsys) -> None:
    """NSGA-II with spikes per step as the second objective: the run exports a network, and nsga2 without the
    second objective is one line naming both keys."""
    cfg = _config(tmp_path, 'id = "CartPole-v1"', extra="")
    text = Path(cfg).read_text().replace("generations = 2\n", 'generations = 2\nalgorithm = "nsga2"\n')
    Path(cfg).write_text(text.replace("population = 4", "population = 8"))
    assert cli.main(["evolve", cfg, "--out", str(tmp_path / "a"), "--quiet"]) == 2
    _one_line_error(capsys, "evolve.algorithm = 'nsga2'", "train.spikes_objective")
    Path(cfg).write_text(
        Path(cfg)
        .read_text()
        .replace("episodes_per_generation = 1", "episodes_per_generation = 1\nspikes_objective = true")
    )
    out = tmp_path / "b"
    assert cli.main(["evolve", cfg, "--out", str(out), "--quiet"]) == 0
    sel = json.loads((out / "selection.json").read_text())
    assert snnfile.load(out / "best.snn").meta["family"] == "gym" and (out / "front.npz").is_file()
    assert "spikes_per_step" in json.dumps(sel)


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[1] / "configs").glob("gym_*.toml")))
def test_shipped_gym_configs_build_their_network_within_their_size_goal(name) -> None:
    from snnctl.cli import families

    mod, cfg = families.load(Path(__file__).parents[1] / "configs" / name)
    problem = mod.problem_of(cfg)  # the env, its spaces, the calibration rollout where a dimension is unbounded
    net = problem.codec.decode(problem.initial_genome)
    assert net.n_neurons <= cfg["goals"]["max_neurons"] and net.meta["env_id"] == cfg["env"]["id"]
