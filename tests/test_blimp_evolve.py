"""Blimp evolution problems (evolve/blimp.py) and the experiment helpers (evolve/blimp_experiment.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from evolve.blimp import ClosedLoopProblem, MimicProblem, export_network, mimic_fitness, record_pid_flights
from evolve.blimp_experiment import SCHEMA, fly_heldout, format_comparison
from evolve.problem import check_problem
from snnctl import snnfile
from snnctl.config import defaults, load_config
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.snn import SNNController

SPEC = BlimpSNNSpec(pd_pairs=2, i_pairs=2)
ENV = {"episode_s": 5.0}


def _genomes(n: int, seed: int = 0, spec: BlimpSNNSpec = SPEC) -> np.ndarray:
    codec = BlimpSNNCodec(spec)
    lo, hi = codec.bounds.T
    rng = np.random.default_rng(seed)
    g = codec.initial_genome + rng.normal(0, 0.05, (n, len(lo))) * (hi - lo)
    g[0] = codec.initial_genome
    return np.clip(g, lo, hi)


# -- mimic_fitness on known signals ---------------------------------------------------------------------


def test_mimic_fitness_known_signals() -> None:
    t = np.linspace(0, 6, 200)
    target = np.sin(t) + 0.3
    u = np.stack([target, target + 0.7, target - 0.2, -target, np.full_like(t, 1.5), 2 * target])
    f = mimic_fitness(u, target)
    assert f.shape == (6,)
    assert f[0] == pytest.approx(0.0, abs=1e-12)  # identical
    assert f[1] == pytest.approx(0.7, abs=1e-12)  # MAE 0.7, r = 1
    assert f[2] == pytest.approx(0.2, abs=1e-12)
    assert f[3] == pytest.approx(np.mean(np.abs(2 * target)) + 2.0, abs=1e-12)  # r = -1
    assert f[4] == pytest.approx(np.mean(np.abs(1.5 - target)) + 1.0, abs=1e-12)  # flat u: r := 0
    assert f[5] == pytest.approx(np.mean(np.abs(target)), abs=1e-12)  # r = 1 for any positive scaling


def test_mimic_fitness_rows_are_independent_and_flat_target_is_finite() -> None:
    rng = np.random.default_rng(1)
    target = rng.normal(size=50)
    u = rng.normal(size=(7, 50))
    f = mimic_fitness(u, target)
    for i in range(7):
        assert mimic_fitness(u[i : i + 1], target)[0] == pytest.approx(f[i], abs=1e-12)
    flat = mimic_fitness(u, np.zeros(50))
    np.testing.assert_allclose(flat, np.abs(u).mean(axis=1) + 1.0)


# -- MimicProblem -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mimic_problem() -> MimicProblem:
    rng = np.random.default_rng(3)
    s, t = 8, 120
    errors = np.cumsum(rng.normal(0, 0.02, (s, t)), axis=1)
    targets = np.clip(5 * errors + rng.normal(0, 0.05, (s, t)), -3.3, 3.3)
    return MimicProblem(SPEC, errors, targets, sequences_per_generation=2, seed=4)


def test_mimic_problem_contract(mimic_problem) -> None:
    bounds, weights = check_problem(mimic_problem)
    np.testing.assert_array_equal(bounds, BlimpSNNCodec(SPEC).bounds)
    assert weights == (-1.0,)
    np.testing.assert_array_equal(mimic_problem.initial_genome, BlimpSNNCodec(SPEC).initial_genome)


def _mimic_batches(problem, rtol):
    g = _genomes(6, seed=1)
    seeds = np.arange(6, dtype=np.uint64)
    full = problem.evaluate(g, seeds, 3)
    assert full.shape == (6, 1) and np.all(np.isfinite(full))
    perm = np.array([4, 1, 5, 0, 3, 2])
    np.testing.assert_allclose(problem.evaluate(g[perm], seeds[::-1], 3), full[perm], rtol=rtol, atol=0)
    parts = np.concatenate([problem.evaluate(g[:1], seeds[:1], 3), problem.evaluate(g[1:], seeds[1:], 3)])
    np.testing.assert_allclose(parts, full, rtol=rtol, atol=0)
    singles = np.concatenate([problem.evaluate(g[i : i + 1], seeds[i : i + 1], 3) for i in range(6)])
    np.testing.assert_allclose(singles, full, rtol=rtol, atol=0)


def test_mimic_problem_rows_depend_only_on_genome_and_generation(mimic_problem) -> None:
    _mimic_batches(mimic_problem, rtol=1e-13)


def test_mimic_problem_rows_are_bit_identical_in_any_batch(mimic_problem) -> None:
    _mimic_batches(mimic_problem, rtol=0)


def test_mimic_problem_score_equals_a_stepwise_controller_replay(mimic_problem) -> None:
    """The batched numba scoring equals flying SNNController over the chosen sequences."""
    codec = BlimpSNNCodec(SPEC)
    g = _genomes(3, seed=2)
    got = mimic_problem.evaluate(g, np.zeros(3, np.uint64), 5)[:, 0]
    seqs = mimic_problem.sequences(5)
    assert len(seqs) == 2 and len(set(seqs.tolist())) == 2
    for i in range(3):
        ctl = SNNController(codec.decode(g[i]))
        scores = []
        for s in seqs:
            ctl.reset()
            u = np.array([ctl.act(np.array([0.0, 0.0, e]))[0] for e in mimic_problem.errors[s]], dtype=np.float64)
            scores.append(mimic_fitness(u[None, :], mimic_problem.targets[s])[0])
        assert got[i] == pytest.approx(np.mean(scores), rel=1e-5, abs=1e-6)


def test_mimic_problem_generations_use_different_sequences(mimic_problem) -> None:
    seqs = [tuple(mimic_problem.sequences(gen)) for gen in range(12)]
    assert seqs[3] == tuple(mimic_problem.sequences(3))  # deterministic
    assert len(set(seqs)) > 1
    a, b = next((i, j) for i in range(12) for j in range(12) if set(seqs[i]) != set(seqs[j]))
    g = _genomes(3, seed=3)
    assert not np.array_equal(mimic_problem.evaluate(g, np.zeros(3), a), mimic_problem.evaluate(g, np.zeros(3), b))
    # another problem seed draws other sequences
    other = MimicProblem(SPEC, mimic_problem.errors, mimic_problem.targets, 2, seed=5)
    assert [tuple(other.sequences(k)) for k in range(12)] != seqs


def test_mimic_problem_pickles(mimic_problem) -> None:
    g = _genomes(3, seed=4)
    clone = pickle.loads(pickle.dumps(mimic_problem))
    np.testing.assert_array_equal(clone.evaluate(g, np.zeros(3), 2), mimic_problem.evaluate(g, np.zeros(3), 2))


# -- ClosedLoopProblem ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def closed_loop() -> ClosedLoopProblem:
    return ClosedLoopProblem(SPEC, dict(ENV), episodes_per_generation=2, seed=2)


def test_closed_loop_rows_depend_only_on_genome_and_generation(closed_loop) -> None:
    g = _genomes(3, seed=5)
    full = closed_loop.evaluate(g, np.zeros(3, np.uint64), 1)
    assert full.shape == (3, 1) and np.all(np.isfinite(full)) and np.all(full >= 0)
    np.testing.assert_array_equal(closed_loop.evaluate(g[::-1], np.ones(3, np.uint64), 1), full[::-1])
    np.testing.assert_array_equal(closed_loop.evaluate(g[2:], np.zeros(1, np.uint64), 1), full[2:])
    # a fresh problem (own env) agrees too: nothing carries over between calls
    fresh = ClosedLoopProblem(SPEC, dict(ENV), episodes_per_generation=2, seed=2)
    np.testing.assert_array_equal(fresh.evaluate(g[1:2], np.zeros(1), 1), full[1:2])


def test_closed_loop_cost_equals_weighted_metrics_of_manual_flights(closed_loop) -> None:
    from sim.blimp import BlimpAltitudeEnv
    from sim.metrics import run_episode

    g = _genomes(2, seed=6)
    got = closed_loop.evaluate(g, np.zeros(2), 4)[:, 0]
    seeds = closed_loop.episode_seeds(4)
    assert len(seeds) == 2 and all(s < 1_000_000 for s in seeds)  # never a held-out profile seed
    env = BlimpAltitudeEnv(**ENV)
    codec = BlimpSNNCodec(SPEC)
    for i in range(2):
        ctl = SNNController(codec.decode(g[i]))
        costs = []
        for s in seeds:
            m = run_episode(env, ctl, seed=s).metrics()
            costs.append(
                1.0 * m["rmse_m"]
                + 5.0 * m["steady_state_error_m"]
                + 0.5 * (m["overshoot_up_m"] + m["overshoot_down_m"])
            )
        assert got[i] == pytest.approx(np.mean(costs), rel=1e-12)
    env.close()


def test_closed_loop_cost_weights_by_hand() -> None:
    p = ClosedLoopProblem(SPEC, dict(ENV), w_rmse=2.0, w_steady_state=3.0, w_overshoot=0.25, w_effort=0.5)
    m = {"rmse_m": 0.1, "steady_state_error_m": 0.02, "overshoot_up_m": 0.3, "overshoot_down_m": 0.1,
         "control_effort": 1.2}  # fmt: skip
    assert p.cost(m) == pytest.approx(0.2 + 0.06 + 0.1 + 0.6)


def test_closed_loop_generations_use_different_profiles(closed_loop) -> None:
    assert closed_loop.episode_seeds(7) == closed_loop.episode_seeds(7)
    assert len({tuple(closed_loop.episode_seeds(k)) for k in range(6)}) == 6
    g = _genomes(1, seed=7)
    assert closed_loop.evaluate(g, np.zeros(1), 0)[0, 0] != closed_loop.evaluate(g, np.zeros(1), 1)[0, 0]


def test_closed_loop_pickles_without_its_env(closed_loop) -> None:
    g = _genomes(2, seed=8)
    before = closed_loop.evaluate(g, np.zeros(2), 0)
    assert closed_loop._env is not None
    clone = pickle.loads(pickle.dumps(closed_loop))
    assert clone._env is None
    np.testing.assert_array_equal(clone.evaluate(g, np.zeros(2), 0), before)
    assert closed_loop._env is not None  # pickling did not strip the original


def test_closed_loop_spikes_objective_and_initial_genome() -> None:
    g = _genomes(2, seed=9)
    p = ClosedLoopProblem(SPEC, dict(ENV), episodes_per_generation=1, spikes_objective=True, initial=g[1])
    bounds, weights = check_problem(p)
    assert p.objectives == ("tracking_cost", "spikes_per_s") and weights == (-1.0, -1.0)
    np.testing.assert_array_equal(p.initial_genome, g[1])
    out = p.evaluate(g, np.zeros(2), 0)
    assert out.shape == (2, 2)
    single = ClosedLoopProblem(SPEC, dict(ENV), episodes_per_generation=1)
    np.testing.assert_array_equal(out[:, 0], single.evaluate(g, np.zeros(2), 0)[:, 0])
    # spikes per second: total spikes over the flight's duration, recomputed by hand
    from sim.blimp import BlimpAltitudeEnv
    from sim.metrics import run_episode

    env = BlimpAltitudeEnv(**ENV)
    rec = run_episode(env, SNNController(BlimpSNNCodec(SPEC).decode(g[0])), seed=p.episode_seeds(0)[0])
    assert out[0, 1] == pytest.approx(rec.extras["spikes"].sum() / 5.0) and out[0, 1] > 0
    env.close()


# -- recording, export, held-out ----------------------------------------------------------------------


def test_record_pid_flights_shapes_and_determinism() -> None:
    errors, commands = record_pid_flights(2, {"episode_s": 4.0})
    assert errors.shape == commands.shape == (2, 40)  # 4 s at 10 Hz
    assert np.all(np.abs(commands) <= 3.3)
    assert not np.array_equal(errors[0], errors[1])  # different training profiles
    e2, c2 = record_pid_flights(2, {"episode_s": 4.0})
    np.testing.assert_array_equal(e2, errors)
    np.testing.assert_array_equal(c2, commands)
    e3, _ = record_pid_flights(1, {"episode_s": 4.0}, seed=1)
    assert not np.array_equal(e3[0], errors[0])


def test_export_network_writes_the_scored_network(tmp_path) -> None:
    codec = BlimpSNNCodec(SPEC)
    g = _genomes(2, seed=10)[1]
    path = export_network(codec, g, tmp_path)
    assert path == tmp_path / "best.snn"
    assert path.read_bytes() == snnfile.to_bytes(codec.decode(g))
    lo, hi = codec.bounds.T
    np.testing.assert_array_equal(codec.encode(snnfile.load(path)), np.rint(np.clip(g, lo, hi)))


def test_configs_blimp_pid_toml_is_valid_and_schema_defaults_resolve() -> None:
    from pathlib import Path

    cfg = load_config(Path(__file__).parents[1] / "configs" / "blimp_pid.toml", SCHEMA)
    assert cfg["experiment"]["family"] == "blimp"
    BlimpSNNSpec(**cfg["network"])  # the network section builds a spec
    d = defaults(SCHEMA)
    assert set(d) == {"experiment", "evolve", "env", "network", "mimic", "closed_loop", "run"}


def _cfg(**run) -> dict:
    cfg = defaults(SCHEMA)
    cfg["run"].update({"episodes": 2, "episode_s": 8.0, **run})
    return cfg


def test_fly_heldout_means_over_flights_and_refuses_too_many() -> None:
    cfg = _cfg()
    mean, rec = fly_heldout(cfg, "pid", record_first=True)
    assert mean["episodes"] == 2 and mean["spikes_per_s"] == 0.0
    one_a, _ = fly_heldout(cfg, "pid", episodes=1, seed=0)
    one_b, _ = fly_heldout(cfg, "pid", episodes=1, seed=1)
    assert mean["rmse_m"] == pytest.approx((one_a["rmse_m"] + one_b["rmse_m"]) / 2)
    assert mean["worst_overshoot_down_m"] == max(one_a["overshoot_down_m"], one_b["overshoot_down_m"])
    assert len(rec.t) == 80
    with pytest.raises(ValueError, match="held-out"):
        fly_heldout(cfg, "pid", episodes=2, seed=19)
    text = format_comparison({"pid": mean}, 2)
    assert "RMSE (m)" in text and "PID" in text


def test_fly_heldout_snn_counts_spikes(tmp_path) -> None:
    codec = BlimpSNNCodec(BlimpSNNSpec())
    path = export_network(codec, codec.initial_genome, tmp_path)
    mean, _ = fly_heldout(_cfg(), str(path), episodes=1)
    assert mean["spikes_per_s"] > 0 and mean["episodes"] == 1
