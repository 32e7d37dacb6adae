"""Blimp evolution problems (evolve/blimp.py) and the experiment helpers (evolve/blimp_experiment.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from evolve.blimp import (
    ClosedLoopProblem,
    MimicProblem,
    banded_pid,
    export_network,
    mimic_fitness,
    record_pid_flights,
    recorded_flight_seeds,
)
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


def test_mimic_validate_scores_each_row_on_its_validation_sequence(mimic_problem) -> None:
    """validate: row i on validation sequence episodes[i], as a stepwise controller replay scores it."""
    import dataclasses

    rng = np.random.default_rng(9)
    val_e = np.cumsum(rng.normal(0, 0.02, (3, 120)), axis=1)
    val_t = np.clip(5 * val_e, -3.3, 3.3)
    p = dataclasses.replace(mimic_problem, val_errors=val_e, val_targets=val_t)
    codec = BlimpSNNCodec(SPEC)
    g = _genomes(2, seed=4)
    rows, eps = np.repeat(g, 3, axis=0), np.tile(np.arange(3, dtype=np.uint64), 2)
    got = p.validate(rows, eps)[:, 0]
    for k, (genome, e) in enumerate(zip(rows, eps, strict=True)):
        ctl = SNNController(codec.decode(genome))
        u = np.array([ctl.act(np.array([0.0, 0.0, x]))[0] for x in val_e[int(e)]], dtype=np.float64)
        assert got[k] == pytest.approx(mimic_fitness(u[None, :], val_t[int(e)])[0], rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match="3 validation flights recorded"):
        p.validate(g[:1], np.array([3], dtype=np.uint64))  # never wraps around to a repeated sequence
    with pytest.raises(ValueError, match="recorded on validation flights"):
        mimic_problem.validate(g[:1], np.array([0], dtype=np.uint64))


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
    from sim.blimp_metrics import run_episode

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
    p = ClosedLoopProblem(SPEC, dict(ENV), w_rmse=2.0, w_steady_state=3.0, w_overshoot_up=0.25,
                          w_overshoot_down=1.5, w_effort=0.5)  # fmt: skip
    m = {"rmse_m": 0.1, "steady_state_error_m": 0.02, "overshoot_up_m": 0.3, "overshoot_down_m": 0.1,
         "control_effort": 1.2}  # fmt: skip
    assert p.cost(m) == pytest.approx(0.2 + 0.06 + 0.075 + 0.15 + 0.6)
    # up and down are weighted apart: moving overshoot from up to down changes the cost by the difference
    swapped = dict(m, overshoot_up_m=0.1, overshoot_down_m=0.3)
    assert p.cost(swapped) - p.cost(m) == pytest.approx((1.5 - 0.25) * 0.2)
    # the defaults weigh both 0.5, i.e. 0.5 * (up + down)
    d = ClosedLoopProblem(SPEC, dict(ENV))
    assert d.cost(m) == pytest.approx(0.1 + 5.0 * 0.02 + 0.5 * 0.4)
    # the excess term: only overshoot beyond the PID's on the same flight costs, up and down alike
    x = ClosedLoopProblem(SPEC, dict(ENV), w_overshoot_excess=4.0)
    pid = dict(m, overshoot_up_m=0.2, overshoot_down_m=0.25)
    assert x.cost(m, pid) - d.cost(m) == pytest.approx(4.0 * (0.3 - 0.2))  # down 0.1 < 0.25: no excess
    assert x.cost(m, m) == pytest.approx(d.cost(m))
    with pytest.raises(ValueError, match="PID"):
        x.cost(m)


def test_config_w_overshoot_was_split_into_up_and_down(tmp_path) -> None:
    from snnctl.config import ConfigError

    cfg = tmp_path / "old.toml"
    cfg.write_text("[closed_loop]\nw_overshoot = 1.0\n")
    with pytest.raises(ConfigError, match=r"closed_loop\.w_overshoot: unknown key.*w_overshoot_up.*w_overshoot_down"):
        load_config(cfg, SCHEMA)
    cfg.write_text("[closed_loop]\nw_overshoot_up = 0.25\nw_overshoot_down = -1.0\n")
    with pytest.raises(ConfigError, match=r"closed_loop\.w_overshoot_down"):
        load_config(cfg, SCHEMA)


def test_closed_loop_flights_alternate_up_and_down_first_steps() -> None:
    from sim.profiles import HELDOUT_SEED_START, make_profile

    p = ClosedLoopProblem(SPEC, {"episode_s": 60.0}, episodes_per_generation=3, seed=5)
    for gen in range(8):
        seeds = p.episode_seeds(gen)
        assert len(seeds) == 3 and all(0 <= x < HELDOUT_SEED_START for x in seeds)
        for i, x in enumerate(seeds):
            prof = make_profile("steps", x, 60.0)
            t = prof.change_times[0]  # 30 s: one step in a 60-s flight
            jump = prof(t + 1e-3) - prof(t - 1e-3)
            assert (jump > 0) if i % 2 == 0 else (jump < 0), (gen, i, jump)
    # flights too short to hold a step take any profile, still reproducibly
    short = ClosedLoopProblem(SPEC, dict(ENV), episodes_per_generation=2, seed=5)
    assert short.episode_seeds(3) == short.episode_seeds(3) and len(short.episode_seeds(3)) == 2


def test_closed_loop_relative_to_pid_subtracts_the_pid_on_the_same_flights() -> None:
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import run_episode
    from snnctl.controllers.pid import PID

    env_kw = {"episode_s": 35.0}  # one step, at 30 s
    g = _genomes(2, seed=11)
    plain = ClosedLoopProblem(SPEC, env_kw, episodes_per_generation=2, w_overshoot_down=2.0, seed=3)
    paired = ClosedLoopProblem(SPEC, env_kw, episodes_per_generation=2, w_overshoot_down=2.0, seed=3,
                               relative_to_pid=True, spikes_objective=True)  # fmt: skip
    env = BlimpAltitudeEnv(**env_kw)
    pid_costs = []
    for x in paired.episode_seeds(6):
        m = run_episode(env, PID.for_blimp(dt=env.dt), seed=x).metrics()
        pid_costs.append(m["rmse_m"] + 5.0 * m["steady_state_error_m"] + 0.5 * m["overshoot_up_m"]
                         + 2.0 * m["overshoot_down_m"])  # fmt: skip
    env.close()
    got = paired.evaluate(g, np.zeros(2), 6)
    np.testing.assert_allclose(
        got[:, 0], plain.evaluate(g, np.zeros(2), 6)[:, 0] - np.mean(pid_costs), rtol=0, atol=1e-12
    )
    assert got[:, 1].min() > 0  # the spikes objective is not paired
    # the PID's flights are cached per process and the cache is not pickled
    assert len(paired._pid_metrics) == 2
    assert pickle.loads(pickle.dumps(paired))._pid_metrics == {}


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
    from sim.blimp_metrics import run_episode

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
    assert set(d) == {"experiment", "evolve", "env", "network", "mimic", "closed_loop", "run", "goals"}


def test_mimic_phase_records_flights_of_mimic_flight_s(tmp_path, monkeypatch) -> None:
    """The recorded PID flights have their own length ([mimic] flight_s), not the held-out one ([run])."""
    import evolve.blimp_experiment as bx

    seen = {}

    def record(n, env_kwargs, seed=0, pid=None, **_):
        seen.update(n=n, pid=pid, **env_kwargs)
        raise KeyboardInterrupt  # stop before any evolution

    monkeypatch.setattr(bx, "record_pid_flights", record)
    cfg = defaults(SCHEMA)
    cfg["mimic"].update(generations=1, flights=3, flight_s=42.0)
    cfg["run"]["episode_s"] = 77.0
    with pytest.raises(KeyboardInterrupt):
        bx.evolve_blimp(cfg, tmp_path / "run", progress=False)
    assert seen["n"] == 3 and seen["episode_s"] == 42.0 and seen["profile"] == "steps"
    assert seen["sensor_noise_m"] == cfg["env"]["sensor_noise_m"]
    assert seen["pid"] is None  # the tuned baseline, as in the paper
    # target = "banded_pid": the PID the network is derived from (spec gains, D of the error, the band)
    cfg["mimic"]["target"] = "banded_pid"
    cfg["network"]["i_range_m"] = 0.07
    with pytest.raises(KeyboardInterrupt):
        bx.evolve_blimp(cfg, tmp_path / "run2", progress=False)
    spec = BlimpSNNSpec(**cfg["network"])
    assert seen["pid"] == {"kp": spec.kp, "ki": spec.ki, "kd": spec.kd, "d_filter_tau": spec.d_tau_s,
                           "derivative": "error", "i_band": 0.07}  # fmt: skip


def test_pid_integral_band_caps_the_integration_rate() -> None:
    from snnctl.controllers.pid import PID

    def integral(e: float, steps: int = 10, **kw) -> float:
        pid = PID(kp=0.0, ki=0.5, kd=0.0, dt=0.1, **kw)
        for _ in range(steps):
            pid.update(e, 0.0)
        return pid.integral

    assert integral(1.0, i_band=0.1) == pytest.approx(0.5 * 0.1 * 0.1 * 10)  # ki * band * dt per step
    assert integral(-3.0, i_band=0.1) == pytest.approx(-0.05)
    assert integral(1.0) == pytest.approx(0.5 * 1.0 * 0.1 * 10)  # no band
    assert integral(0.04, i_band=0.1) == pytest.approx(integral(0.04))  # inside the band: unchanged
    # clamping still holds the integrator while the output is saturated and the error pushes on
    pid = PID(kp=10.0, ki=0.5, kd=0.0, dt=0.1, i_band=0.1)
    assert pid.update(1.0, 0.0) == 3.3 and pid.integral == 0.0
    with pytest.raises(ValueError, match="i_band"):
        PID(kp=1.0, ki=1.0, kd=0.0, dt=0.1, i_band=0.0)
    assert "i_band=0.1" in repr(PID.for_blimp(dt=0.1, i_band=0.1)) and "i_band" not in repr(PID.for_blimp(dt=0.1))


def test_record_pid_flights_flies_the_given_pid() -> None:
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import run_episode
    from snnctl.controllers.pid import PID

    target = banded_pid(BlimpSNNSpec())
    errors, commands = record_pid_flights(1, {"episode_s": 40.0}, pid=target)
    env = BlimpAltitudeEnv(episode_s=40.0)
    rec = run_episode(env, PID.for_blimp(dt=env.dt, **target), seed=recorded_flight_seeds(1)[0])
    env.close()
    np.testing.assert_array_equal(errors[0], rec.reference - rec.measurement)
    np.testing.assert_array_equal(commands[0], rec.action)
    _, plain = record_pid_flights(1, {"episode_s": 40.0})
    assert not np.array_equal(plain[0], commands[0])  # the step at 30 s: D of the error kicks


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
