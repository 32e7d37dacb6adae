"""Swimmer evolution (evolve/swimmer.py), its experiment (evolve/swimmer_experiment.py) and the float baselines."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.problem import check_problem
from evolve.swimmer import (
    HELDOUT_SEED_START,
    SwimmerProblem,
    controller_of,
    heldout_seeds,
    load_controller,
    make_codec,
    make_env,
)
from evolve.swimmer_experiment import SCHEMA, check_config
from sim.metrics import episode_return
from snnctl import cli, snnfile
from snnctl.config import defaults
from snnctl.controllers.linear import LinearCodec, LinearPolicy, LinearSpec
from snnctl.controllers.mlp import MLPCodec, MLPPolicy, MLPSpec
from snnctl.controllers.ncap import NCAPCodec, NCAPSpec
from snnctl.controllers.snn import SNNController
from tests.optional_tools import skip_unless_ci

STEPS = 40  # short episodes keep these tests fast

# -- the float baselines ------------------------------------------------------------------------------


def test_linear_policy_is_clipped_w_obs_plus_b() -> None:
    p = LinearPolicy([[1.0, -2.0, 0.5], [0.0, 3.0, 0.0]], [0.1, -0.2])
    np.testing.assert_allclose(p.act(np.array([0.2, 0.1, -0.4])), [0.2 - 0.2 - 0.2 + 0.1, 0.3 - 0.2], rtol=1e-6)
    np.testing.assert_array_equal(p.act(np.array([5.0, 0.0, 0.0])), np.float32([1.0, -0.2]))  # clipped to +-1
    assert p.act(np.zeros(3)).dtype == np.float32


def test_mlp_policy_matches_a_hand_computation() -> None:
    w0, b0 = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]]), np.array([0.0, 0.1, -0.3])
    w1, b1 = np.array([[1.0, -1.0, 0.5]]), np.array([0.05])
    p = MLPPolicy([w0, w1], [b0, b1])
    x = np.array([0.3, -0.2])
    h = [np.tanh(0.3), np.tanh(0.15 + 0.2 + 0.1), np.tanh(-0.4 - 0.3)]
    assert p.act(x)[0] == pytest.approx(h[0] - h[1] + 0.5 * h[2] + 0.05, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_baseline_codecs_round_trip(data, hidden: list[int]) -> None:
    for codec in (LinearCodec(LinearSpec(8, 2, weight_bound=2.0)), MLPCodec(MLPSpec(8, 2, tuple(hidden), 2.0))):
        values = st.floats(-2.0, 2.0, allow_nan=False)
        g = np.array(data.draw(st.lists(values, min_size=codec.n_params, max_size=codec.n_params)))
        policy = codec.decode(g)
        assert policy.n_params == codec.n_params == len(g)
        np.testing.assert_array_equal(codec.encode(policy), g)
        assert codec.bounds.shape == (len(g), 2)
    mlp = MLPCodec(MLPSpec(8, 2, tuple(hidden)))
    assert mlp.n_params == sum(o * i + o for i, o in zip((8, *hidden), (*hidden, 2), strict=False))


def test_out_of_bound_genes_are_clipped() -> None:
    codec = LinearCodec(LinearSpec(2, 1, weight_bound=0.5))
    np.testing.assert_array_equal(codec.decode(np.array([3.0, -9.0, 0.2])).w, [[0.5, -0.5]])


@pytest.mark.parametrize("codec", [LinearCodec(LinearSpec(8, 2)), MLPCodec(MLPSpec(8, 2, (5, 3)))])
def test_baseline_save_load_gives_the_same_actions(codec, tmp_path) -> None:
    rng = np.random.default_rng(1)
    policy = codec.decode(rng.uniform(-1, 1, codec.n_params))
    path = policy.save(tmp_path / "best.npz")
    back = type(policy).load(path)
    obs = rng.normal(size=(20, 8))
    np.testing.assert_array_equal([back.act(o) for o in obs], [policy.act(o) for o in obs])
    np.testing.assert_array_equal(codec.encode(back), codec.encode(policy))


def test_loading_the_wrong_kind_is_an_error(tmp_path) -> None:
    path = LinearPolicy(np.zeros((2, 8)), np.zeros(2)).save(tmp_path / "lin.npz")
    with pytest.raises(ValueError, match="not an MLP policy"):
        MLPPolicy.load(path)
    with pytest.raises(ValueError, match="cannot drive 5 links"):
        load_controller(path, 5)


# -- the problem ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ncap_problem() -> SwimmerProblem:
    return SwimmerProblem("ncap", {"neurons_per_unit": 4}, episodes_per_generation=2, episode_steps=STEPS, seed=5)


def _genomes(problem: SwimmerProblem, n: int) -> np.ndarray:
    lo, hi = problem.bounds.T
    return np.random.default_rng(2).uniform(lo, hi, (n, len(lo)))


def test_problem_contract(ncap_problem) -> None:
    bounds, weights = check_problem(ncap_problem)
    assert weights == (1.0,) and ncap_problem.objectives == ("return",)
    np.testing.assert_array_equal(bounds, make_codec("ncap", {"neurons_per_unit": 4}, 3).bounds)
    seeds = [s for g in range(30) for s in ncap_problem.episode_seeds(g)]
    assert all(0 <= s < HELDOUT_SEED_START for s in seeds) and len(set(seeds)) > 50
    assert ncap_problem.episode_seeds(7) == ncap_problem.episode_seeds(7)
    assert all(s >= HELDOUT_SEED_START for s in heldout_seeds(10))


def test_problem_pickles_without_its_env(ncap_problem) -> None:
    ncap_problem.env()  # built
    back = pickle.loads(pickle.dumps(ncap_problem))
    assert back._env is None and ncap_problem._env is not None
    g = _genomes(ncap_problem, 2)
    seeds = np.arange(2, dtype=np.uint64)
    np.testing.assert_array_equal(back.evaluate(g, seeds, 1), ncap_problem.evaluate(g, seeds, 1))


def test_rows_depend_only_on_their_genome(ncap_problem) -> None:
    g = _genomes(ncap_problem, 4)
    seeds = np.arange(4, dtype=np.uint64)
    full = ncap_problem.evaluate(g, seeds, 3)
    assert full.shape == (4, 1) and np.all(np.isfinite(full))
    singles = np.concatenate([ncap_problem.evaluate(g[i : i + 1], seeds[:1], 3) for i in range(4)])
    np.testing.assert_array_equal(singles, full)
    np.testing.assert_array_equal(ncap_problem.evaluate(g[::-1], seeds, 3), full[::-1])


def test_score_is_the_mean_return_of_a_replay(ncap_problem) -> None:
    """An independent replay: gymnasium's own Swimmer-v5 stepped by SNNController, rewards summed."""
    import gymnasium

    g = _genomes(ncap_problem, 1)[0]
    got = ncap_problem.evaluate(g[None], np.zeros(1, np.uint64), 4)[0, 0]
    env = gymnasium.make("Swimmer-v5")
    ctl = SNNController(NCAPCodec(NCAPSpec(n_joints=2, neurons_per_unit=4)).decode(g))
    returns = []
    for s in ncap_problem.episode_seeds(4):
        obs, _ = env.reset(seed=s)
        ctl.reset()
        total = 0.0
        for _ in range(STEPS):
            obs, r, *_ = env.step(ctl.act(obs))
            total += r
        returns.append(total)
    env.close()
    assert got == pytest.approx(np.mean(returns), rel=1e-12)


def test_episodes_are_deterministic_for_a_seed() -> None:
    codec = make_codec("ncap", {}, 3)
    env = make_env("Swimmer-v5", 3)
    ctl = controller_of(codec, codec.initial_genome)
    a = [episode_return(env, ctl, 77, STEPS) for _ in range(2)]
    b = episode_return(env, ctl, 78, STEPS)
    env.close()
    assert a[0] == a[1] and a[0] != b


def test_the_n_link_env_runs_a_resized_circuit() -> None:
    codec = make_codec("ncap", {}, 6)
    assert codec.spec.n_joints == 5
    env = make_env("snnctl/SwimmerN-v0", 6)
    ret = episode_return(env, controller_of(codec, codec.initial_genome), 1, STEPS)
    env.close()
    assert np.isfinite(ret)


def test_env_and_kind_errors() -> None:
    with pytest.raises(ValueError, match="Swimmer-v5 has 3 links"):
        make_env("Swimmer-v5", 5)
    with pytest.raises(ValueError, match="unknown controller kind"):
        SwimmerProblem("lstm", {})
    cfg = defaults(SCHEMA)
    cfg["env"]["n_links"] = 6
    with pytest.raises(ValueError, match="SwimmerN"):
        check_config(cfg)


# -- the CLI end to end --------------------------------------------------------------------------------

TINY = """\
[experiment]
family = "swimmer"

[evolve]
algorithm = "cmaes"
generations = 2
population = 4
seed = 2
backend = "serial"

[controller]
kind = "{kind}"
neurons_per_unit = 2
hidden = [4]

[train]
episodes_per_generation = 1
episode_steps = 30

[run]
episodes = 2
episode_steps = 30
"""


def _evolve(tmp_path_factory, kind: str):
    cfg = tmp_path_factory.mktemp("cfg") / f"{kind}.toml"
    cfg.write_text(TINY.format(kind=kind))
    out = tmp_path_factory.mktemp("runs") / kind
    assert cli.main(["evolve", str(cfg), "--out", str(out), "--quiet"]) == 0
    return str(cfg), out


@pytest.fixture(scope="module")
def ncap_run(tmp_path_factory):
    return _evolve(tmp_path_factory, "ncap")


def test_evolve_writes_the_network_and_the_heldout_table(ncap_run) -> None:
    cfg, out = ncap_run
    net = snnfile.load(out / "best.snn")
    assert net.meta["controller"] == "ncap" and net.meta["n_links"] == 3
    table = json.loads((out / "heldout.json").read_text())
    assert table["controller"] == "ncap" and table["params"] == 6
    assert table["evaluations"] == 8 and table["episodes"] == 8 and table["heldout_episodes"] == 2
    assert table["heldout_seeds"] == [HELDOUT_SEED_START, HELDOUT_SEED_START + 1]
    # the table's returns are those of best.snn replayed on the held-out seeds
    env = make_env("Swimmer-v5", 3)
    ctl = SNNController(net)
    again = [episode_return(env, ctl, s, 30) for s in heldout_seeds(2)]
    env.close()
    assert table["returns"] == again
    assert table["return_mean"] == pytest.approx(np.mean(again))
    assert (out / "swim.png").read_bytes()[:4] == b"\x89PNG"


def test_run_transfers_to_five_links(ncap_run, capsys, tmp_path) -> None:
    cfg, out = ncap_run
    capsys.readouterr()
    plot = tmp_path / "swim5.png"
    args = ["run", cfg, "--controller", str(out / "best.snn"), "--n-links", "5", "--episodes", "2", "--json"]
    assert cli.main([*args, "--plot", str(plot)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_links"] == 5 and res["env"] == "snnctl/SwimmerN-v0" and res["episodes"] == 2
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # the same returns as swimming the rebuilt circuit directly
    g = NCAPCodec.from_network(snnfile.load(out / "best.snn")).encode(snnfile.load(out / "best.snn"))
    codec = make_codec("ncap", {"neurons_per_unit": 2}, 5)
    env = make_env("snnctl/SwimmerN-v0", 5)
    direct = [episode_return(env, controller_of(codec, g), s, 30) for s in heldout_seeds(2)]
    env.close()
    assert res["returns"] == direct


def test_run_prints_a_table_on_three_links(ncap_run, capsys) -> None:
    cfg, out = ncap_run
    capsys.readouterr()
    assert cli.main(["run", cfg, "--controller", str(out / "best.snn"), "--episodes", "1", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "Swimmer-v5 (3 links), 1 held-out episode of" in text and "seeds 1000003..1000003" in text


def test_run_rejects_bad_requests(ncap_run, capsys) -> None:
    cfg, out = ncap_run
    best = str(out / "best.snn")
    for extra, msg in [
        (["--n-links", "20"], "--n-links must be in 3..16"),
        (["--video", "swim.avi"], ".mp4 or .gif"),
        (["--port", "loop://"], "--port does not apply to a swimmer experiment"),
    ]:
        capsys.readouterr()
        assert cli.main(["run", cfg, "--controller", best, *extra]) == 2
        assert msg in capsys.readouterr().err
    assert cli.main(["run", cfg, "--controller", str(out / "missing.snn")]) == 2


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_float_baselines_evolve_to_npz(kind: str, tmp_path_factory, capsys) -> None:
    cfg, out = _evolve(tmp_path_factory, kind)
    table = json.loads((out / "heldout.json").read_text())
    assert table["params"] == (18 if kind == "linear" else 8 * 4 + 4 + 4 * 2 + 2)
    policy = load_controller(out / "best.npz", 3)
    assert policy.kind == kind
    capsys.readouterr()
    assert cli.main(["run", cfg, "--controller", str(out / "best.npz"), "--n-links", "5"]) == 2
    assert "only a shared-weight NCAP transfers" in capsys.readouterr().err
    plot = out / "run.png"  # joint angles only: a float policy has no spikes
    assert cli.main(["run", cfg, "--controller", str(out / "best.npz"), "--episodes", "1", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_video_of_a_short_episode(ncap_run, tmp_path, capsys) -> None:
    from sim.video import VideoError, ensure_offscreen_gl

    try:
        ensure_offscreen_gl()
    except VideoError as e:
        skip_unless_ci(str(e))
    cfg, out = ncap_run
    short = tmp_path / "short.toml"  # 6 frames: about 0.1 s each with OSMesa
    short.write_text(TINY.format(kind="ncap").replace("episode_steps = 30\n", "episode_steps = 5\n"))
    gif = tmp_path / "swim.gif"
    code = cli.main(["run", str(short), "--controller", str(out / "best.snn"), "--episodes", "1", "--video", str(gif)])
    out_text, err = capsys.readouterr()
    if code == 2 and ("OSMesa" in err or "libosmesa6" in err or "OpenGL" in err):
        skip_unless_ci(err.strip())
    assert code == 0, err
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert f"video: {gif} ({gif.stat().st_size / 1e6:.1f} MB)" in out_text  # the size written is printed
    from PIL import Image

    with Image.open(gif) as im:
        assert im.size == (320, 240)
        assert im.n_frames == 3 and im.info["duration"] == 80  # 6 frames at 25 fps -> every other, 12.5 fps


@settings(max_examples=100, deadline=None)
@given(
    obs=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-40.0, 40.0)), min_size=8, max_size=8
    )
)
def test_controller_encodes_like_the_plain_quantiser(obs: list[float]) -> None:
    """SNNController.encode skips the NaN/inf pass for finite observations; the codes must not change."""
    codec = make_codec("ncap", {}, 3)
    ctl = controller_of(codec, codec.initial_genome)
    assert type(ctl) is SNNController
    x = np.array(obs)
    sel = x[ctl.obs_index] if ctl.obs_index is not None else x
    with np.errstate(over="ignore"):  # hypothesis' huge floats overflow the scaling to inf (then saturate)
        q = np.nan_to_num(sel * ctl._inv_scale, nan=0.0, posinf=40000.0, neginf=-40000.0)  # the plain version
        codes = ctl.encode(x)
    np.testing.assert_array_equal(codes, np.clip(np.rint(q) + ctl._zero, -32768, 32767).astype(np.int16))
