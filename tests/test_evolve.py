"""The generic evolution framework (evolve/) and the TOML config machinery (snnctl/config.py).

Toy problems with known optima: a shifted sphere (CMA-ES), Rastrigin (GA), ZDT1 (NSGA-II, true
front f2 = 1 - sqrt(f1)). Determinism properties: the same seed gives bit-identical logs with 1 or
2 worker processes, and a run killed after k generations and resumed equals the uninterrupted run.
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from evolve.algorithms import individual_seeds, make_algorithm, seed_global_rngs
from evolve.backends import BackendError, ProcessBackend, SerialBackend, make_backend, split_chunks
from evolve.problem import ProblemError, check_problem
from evolve.runner import EVOLVE_SECTION, EvolveError, EvolveSettings, evolve, load_checkpoint
from snnctl.config import ConfigError, Key, Section, apply_overrides, defaults, dump_toml, load_config, validate

# -- toy problems (module level: picklable for the process backend) ---------------------------------


class ShiftedSphere:
    """sum((x - opt)^2) plus tiny seed-dependent noise (checks that seeds reach the right row)."""

    name = "sphere"
    objectives = ("distance",)
    weights = (-1.0,)

    def __init__(self, n: int = 5, noise: float = 1e-9):
        self.bounds = np.array([[-5.0, 5.0]] * n)
        self.optimum = np.linspace(-2.0, 3.0, n)
        self.noise = noise

    def evaluate(self, genomes, seeds, generation):
        noise = np.array([np.random.default_rng(int(s)).standard_normal() for s in seeds])
        return (np.sum((genomes - self.optimum) ** 2, axis=1) + self.noise * noise)[:, None]


class Rastrigin:
    name = "rastrigin"
    objectives = ("value",)
    weights = (-1.0,)
    bounds = np.array([[-5.12, 5.12]] * 5)

    def evaluate(self, genomes, seeds, generation):
        x = genomes
        return (10 * x.shape[1] + np.sum(x**2 - 10 * np.cos(2 * np.pi * x), axis=1))[:, None]


class ZDT1:
    """Two objectives, minimised; the Pareto front is f2 = 1 - sqrt(f1), f1 in [0, 1]."""

    name = "zdt1"
    objectives = ("f1", "f2")
    weights = (-1.0, -1.0)

    def __init__(self, n: int = 5):
        self.bounds = np.array([[0.0, 1.0]] * n)

    def evaluate(self, genomes, seeds, generation):
        f1 = genomes[:, 0]
        g = 1.0 + 9.0 * genomes[:, 1:].sum(axis=1) / (genomes.shape[1] - 1)
        f2 = g * (1.0 - np.sqrt(f1 / g))
        return np.stack([f1, f2], axis=1)


class Interrupted:
    """Wraps a problem and raises KeyboardInterrupt at one generation: a run killed mid-way."""

    def __init__(self, inner, at: int):
        self.inner, self.at = inner, at
        self.name, self.bounds = inner.name, inner.bounds
        self.objectives, self.weights = inner.objectives, inner.weights

    def evaluate(self, genomes, seeds, generation):
        if generation == self.at:
            raise KeyboardInterrupt
        return self.inner.evaluate(genomes, seeds, generation)


class Exporting(ShiftedSphere):
    def export_best(self, genome, out_dir):
        np.savetxt(out_dir / "exported.txt", genome)


TIME_KEYS = ("time", "gen_time")


def _strip_times(logbook):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in logbook]


def _settings(**kw):
    return EvolveSettings(**{"backend": "serial", "seed": 7, **kw})


# -- algorithms on toy problems ---------------------------------------------------------------------


def test_cmaes_converges_to_the_sphere_optimum(tmp_path):
    p = ShiftedSphere()
    r = evolve(p, _settings(generations=60, sigma=0.3), tmp_path, progress=False)
    assert r.best_fitness[0] < 1e-3
    np.testing.assert_allclose(r.best_genome, p.optimum, atol=0.05)
    best_ever = r.history("distance", "best_ever")
    assert np.all(np.diff(best_ever) <= 0)  # the best-so-far column never gets worse


def test_ga_improves_on_rastrigin(tmp_path):
    s = _settings(algorithm="ga", generations=30, population=40)
    r = evolve(Rastrigin(), s, tmp_path, progress=False)
    best, mean = r.history("value", "best_ever"), r.history("value", "mean")
    assert best[-1] < 0.6 * best[0] and mean[-1] < 0.3 * mean[0]
    assert r.logbook[0]["evals"] == 40  # the first population, then only new offspring
    assert all(0 < rec["evals"] <= 40 for rec in r.logbook[1:])
    assert np.all((r.best_genome >= -5.12) & (r.best_genome <= 5.12))


def test_nsga2_front_approaches_zdt1(tmp_path):
    s = _settings(algorithm="nsga2", generations=60, population=48)
    r = evolve(ZDT1(), s, tmp_path, progress=False)
    f = r.front_fitness
    assert len(f) >= 10
    # generational distance to the true front f2 = 1 - sqrt(f1) (sampled densely)
    t = np.linspace(0, 1, 2001)
    true = np.stack([t, 1 - np.sqrt(t)], axis=1)
    d = np.sqrt(((f[:, None, :] - true[None, :, :]) ** 2).sum(-1)).min(axis=1)
    gd = math.sqrt(np.sum(d**2)) / len(f)
    assert gd < 0.005 and d.mean() < 0.02, (gd, d.mean())
    assert f[:, 0].max() - f[:, 0].min() > 0.5  # spread along the front, not one corner
    front = np.load(tmp_path / "front.npz")
    assert front["values"].shape == f.shape


def test_single_objective_algorithms_reject_two_objectives():
    with pytest.raises(ValueError, match="nsga2"):
        make_algorithm("cmaes", ZDT1().bounds, ZDT1.weights)


# -- determinism: seeds, workers, resume ------------------------------------------------------------


def test_individual_seeds_depend_only_on_run_generation_index():
    a = individual_seeds(3, 5, 10)
    assert a.dtype == np.uint64 and len(set(a.tolist())) == 10
    np.testing.assert_array_equal(a[4:9], individual_seeds(3, 5, 5, start=4))
    assert not np.array_equal(a, individual_seeds(3, 6, 10))
    assert not np.array_equal(a, individual_seeds(4, 5, 10))
    seed_global_rngs(1, 2)
    x = np.random.random(3)
    seed_global_rngs(1, 2)
    np.testing.assert_array_equal(x, np.random.random(3))


def test_split_chunks_is_contiguous_and_complete():
    for n in (1, 5, 16, 17):
        for parts in (1, 2, 3, 8, 40):
            chunks = split_chunks(n, parts)
            assert len(chunks) == min(n, parts)
            assert np.array_equal(np.concatenate([np.arange(n)[c] for c in chunks]), np.arange(n))


def test_backends_agree_and_problem_is_sent_once(tmp_path):
    p = ShiftedSphere(noise=1e-3)
    g = np.random.default_rng(0).uniform(-5, 5, (11, 5))
    seeds = individual_seeds(1, 0, 11)
    ref = SerialBackend().evaluate(p, g, seeds, 0)
    with ProcessBackend(workers=2) as b:
        np.testing.assert_array_equal(b.evaluate(p, g, seeds, 0), ref)
        pool = b._pool
        np.testing.assert_array_equal(b.evaluate(p, g[:3], seeds[:3], 1), ref[:3])
        assert b._pool is pool  # same problem: same pool, no re-send
        assert b.evaluate(p, g[:0], seeds[:0], 2).shape == (0, 1)
    assert b._pool is None
    with make_backend("process", 2, start_method="forkserver") as b:
        np.testing.assert_array_equal(b.evaluate(p, g, seeds, 0), ref)


def test_unpicklable_problem_is_a_clear_error():
    p = ShiftedSphere()
    p.model = lambda: None  # a heavy member that was not built lazily
    with ProcessBackend(workers=2) as b, pytest.raises(BackendError, match="cannot be pickled"):
        b.evaluate(p, np.zeros((4, 5)), np.zeros(4, np.uint64), 0)
    with pytest.raises(ValueError, match="fork"):
        ProcessBackend(2, start_method="fork")


def test_same_seed_same_logs_with_one_or_two_workers(tmp_path):
    p = ShiftedSphere(noise=1e-3)
    s = _settings(generations=6, population=10)
    runs = []
    for workers in (1, 2):
        with make_backend("process", workers) as backend:
            runs.append(evolve(p, s, tmp_path / f"w{workers}", backend=backend, progress=False))
    a, b = runs
    assert _strip_times(a.logbook) == _strip_times(b.logbook)
    np.testing.assert_array_equal(a.best_genome, b.best_genome)
    serial = evolve(p, s, tmp_path / "serial", progress=False)
    assert _strip_times(serial.logbook) == _strip_times(a.logbook)
    csv_a = (tmp_path / "w1" / "log.csv").read_text().splitlines()
    csv_b = (tmp_path / "w2" / "log.csv").read_text().splitlines()
    assert [line.rsplit(",", 2)[0] for line in csv_a] == [line.rsplit(",", 2)[0] for line in csv_b]


@pytest.mark.parametrize(
    ("algorithm", "problem"),
    [("cmaes", ShiftedSphere(noise=1e-3)), ("ga", Rastrigin()), ("nsga2", ZDT1())],
    ids=["cmaes", "ga", "nsga2"],
)
def test_resume_after_interrupt_equals_uninterrupted_run(tmp_path, algorithm, problem):
    s = _settings(algorithm=algorithm, generations=10, population=12)
    full = evolve(problem, s, tmp_path / "full", progress=False)

    with pytest.raises(KeyboardInterrupt):
        evolve(Interrupted(problem, at=4), s, tmp_path / "cut", progress=False)
    ck = load_checkpoint(tmp_path / "cut")
    assert ck["generation"] == 4 and len(ck["logbook"]) == 4
    assert len((tmp_path / "cut" / "log.csv").read_text().splitlines()) == 1 + 4
    resumed = evolve(problem, s, tmp_path / "cut", resume=True, progress=False)

    assert resumed.resumed_from == 4
    assert _strip_times(resumed.logbook) == _strip_times(full.logbook)
    np.testing.assert_array_equal(resumed.best_genome, full.best_genome)
    np.testing.assert_array_equal(resumed.best_fitness, full.best_fitness)
    np.testing.assert_array_equal(resumed.front_fitness, full.front_fitness)
    strip = [line.rsplit(",", 2)[0] for line in (tmp_path / "full" / "log.csv").read_text().splitlines()]
    assert [line.rsplit(",", 2)[0] for line in (tmp_path / "cut" / "log.csv").read_text().splitlines()] == strip


def test_resume_extends_a_finished_run(tmp_path):
    p = ShiftedSphere(noise=1e-3)
    full = evolve(p, _settings(generations=8), tmp_path / "full", progress=False)
    evolve(p, _settings(generations=3), tmp_path / "short", progress=False)
    longer = evolve(p, _settings(generations=8), tmp_path / "short", resume=True, progress=False)
    assert _strip_times(longer.logbook) == _strip_times(full.logbook)
    assert "generations = 8" in (tmp_path / "short" / "config.toml").read_text()


def test_resume_refuses_a_changed_config_and_fresh_runs_refuse_an_occupied_folder(tmp_path):
    p = ShiftedSphere()
    evolve(p, _settings(generations=2), tmp_path, progress=False)
    with pytest.raises(EvolveError, match=r"evolve\.sigma: 0\.3 -> 0\.5"):
        evolve(p, _settings(generations=4, sigma=0.5), tmp_path, resume=True, progress=False)
    with pytest.raises(EvolveError, match="already holds a run"):
        evolve(p, _settings(generations=2), tmp_path, progress=False)
    with pytest.raises(EvolveError, match="no checkpoint.pkl"):
        evolve(p, _settings(generations=2), tmp_path / "empty", resume=True, progress=False)


# -- the run folder ---------------------------------------------------------------------------------


class NanSometimes(ShiftedSphere):
    def evaluate(self, genomes, seeds, generation):
        out = super().evaluate(genomes, seeds, generation)
        out[seeds % 3 == 0] = np.nan
        return out


def test_run_folder_contents_and_export_hook(tmp_path, capsys):
    r = evolve(Exporting(), _settings(generations=4), tmp_path, progress=True)
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"config.toml", "checkpoint.pkl", "log.csv", "log.jsonl", "best_genome.npy", "best_genome.json"}
    assert expected | {"fitness.png", "exported.txt"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    np.testing.assert_array_equal(np.load(tmp_path / "best_genome.npy"), r.best_genome)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "exported.txt"), r.best_genome)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["gen"] for x in lines] == [0, 1, 2, 3]
    assert {"distance_best", "distance_mean", "distance_std", "evals", "time"} <= set(lines[0])
    info = json.loads((tmp_path / "best_genome.json").read_text())
    assert info["objectives"]["distance"] == pytest.approx(r.best_fitness[0])
    cfg = load_config(tmp_path / "config.toml", Section("", evolve=EVOLVE_SECTION))
    assert cfg["evolve"] == _settings(generations=4).to_dict()
    assert (tmp_path / "fitness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "best recorded distance" in out and "evaluations" in out


def test_nan_fitness_counts_as_worst(tmp_path):
    r = evolve(NanSometimes(), _settings(generations=5), tmp_path, progress=False)
    assert sum(rec["invalid"] for rec in r.logbook) > 0
    assert np.isfinite(r.best_fitness).all()


def test_problem_contract_is_checked():
    bad = ShiftedSphere()
    bad.bounds = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ProblemError, match="gene 1"):
        check_problem(bad)
    bad.bounds, bad.weights = np.zeros((2, 3)), (-1.0,)
    with pytest.raises(ProblemError, match="shape"):
        check_problem(bad)

    class WrongShape(ShiftedSphere):
        def evaluate(self, genomes, seeds, generation):
            return np.zeros((len(genomes), 2))

    with pytest.raises(ProblemError, match="shape"):
        SerialBackend().evaluate(WrongShape(), np.zeros((3, 5)), np.zeros(3, np.uint64), 0)
    assert pickle.loads(pickle.dumps(ShiftedSphere())).name == "sphere"


# -- config -----------------------------------------------------------------------------------------

SCHEMA = Section(
    "test experiment",
    name=Key(str, "demo", "experiment name"),
    evolve=EVOLVE_SECTION,
    problem=Section("a problem", gains=Key(list, [1.0, 0.5], "gains", item=float, ge=0, min_len=1)),
)


def _write(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_config_unknown_key_names_file_key_and_suggests(tmp_path):
    path = _write(tmp_path, "[evolve]\ngenerations = 5\nsigmaa = 0.2\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, SCHEMA)
    msg = str(e.value)
    assert str(path) in msg and "evolve.sigmaa" in msg and "did you mean 'evolve.sigma'" in msg
    assert e.value.key == "evolve.sigmaa" and e.value.file == str(path)
    with pytest.raises(ConfigError, match=r"'evolve'\?"):
        load_config(_write(tmp_path, "[evolv]\n"), SCHEMA)


def test_config_out_of_range_names_the_range(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "[evolve]\nsigma = 1.5\n"), SCHEMA)
    msg = str(e.value)
    assert "exp.toml" in msg and "evolve.sigma" in msg and "0 < value <= 1" in msg
    with pytest.raises(ConfigError, match=r"evolve\.ga\.cxpb.*0 <= value <= 1"):
        load_config(_write(tmp_path, "[evolve.ga]\ncxpb = -0.1\n"), SCHEMA)
    with pytest.raises(ConfigError, match=r"problem\.gains\[1\].*out of range"):
        load_config(_write(tmp_path, "[problem]\ngains = [1.0, -2]\n"), SCHEMA)


def test_config_bad_toml_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "[evolve]\ngenerations = 5\nsigma = = 0.2\n"), SCHEMA)
    assert "exp.toml:3" in str(e.value) and "line 3" in str(e.value)


def test_config_types_choices_and_tables(tmp_path):
    with pytest.raises(ConfigError, match=r"evolve\.generations: expected an integer.*string \"ten\""):
        load_config(_write(tmp_path, '[evolve]\ngenerations = "ten"\n'), SCHEMA)
    with pytest.raises(ConfigError, match=r"evolve\.generations: expected an integer.*boolean"):
        load_config(_write(tmp_path, "[evolve]\ngenerations = true\n"), SCHEMA)
    with pytest.raises(ConfigError, match=r'"cma" is not allowed; did you mean "cmaes"'):
        load_config(_write(tmp_path, '[evolve]\nalgorithm = "cma"\n'), SCHEMA)
    with pytest.raises(ConfigError, match="evolve: must be a table"):
        load_config(_write(tmp_path, "evolve = 3\n"), SCHEMA)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", SCHEMA)
    cfg = load_config(_write(tmp_path, "[evolve]\nsigma = 1\n"), SCHEMA)
    assert cfg["evolve"]["sigma"] == 1.0 and isinstance(cfg["evolve"]["sigma"], float)  # int -> float


def test_config_defaults_dump_and_overrides_round_trip(tmp_path):
    cfg = load_config(_write(tmp_path, 'name = "a \\"quoted\\" name"\n[evolve]\ngenerations = 5\n'), SCHEMA)
    assert cfg["evolve"]["generations"] == 5 and cfg["evolve"]["sigma"] == 0.3
    assert cfg["problem"]["gains"] == [1.0, 0.5]
    text = dump_toml(cfg, SCHEMA)
    assert "# CMA-ES initial step size" in text and "[evolve.ga]" in text
    assert load_config(_write(tmp_path, text), SCHEMA) == cfg
    odd = {"a": {"x": float("inf"), "s": "tab\tnew\nline", "l": [True, 2, 3.5, "x"]}, "top": -1e-300}
    import tomllib

    assert tomllib.loads(dump_toml(odd)) == odd
    over = apply_overrides(cfg, SCHEMA, ["evolve.sigma=0.1", "evolve.backend=serial", "problem.gains=[2, 3]"])
    assert over["evolve"]["sigma"] == 0.1 and over["evolve"]["backend"] == "serial"
    assert over["problem"]["gains"] == [2.0, 3.0] and cfg["evolve"]["sigma"] == 0.3
    with pytest.raises(ConfigError, match=r"evolve\.workers.*out of range"):
        apply_overrides(cfg, SCHEMA, {"evolve.workers": -1})
    assert defaults(SCHEMA) == validate({}, SCHEMA)
    assert EvolveSettings.from_dict(cfg["evolve"]).generations == 5
    with pytest.raises(ConfigError, match="evolve.sigma"):
        EvolveSettings(sigma=0.0)


def test_two_processes_cannot_write_one_run_folder(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the folder
        with pytest.raises(EvolveError, match="another process"):
            evolve(ShiftedSphere(), _settings(generations=2), tmp_path, progress=False)
    evolve(ShiftedSphere(), _settings(generations=2), tmp_path, progress=False)  # free again
