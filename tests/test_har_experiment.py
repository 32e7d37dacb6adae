"""`snnctl train` / `snnctl run` on a HAR config, end to end on a small synthetic dataset.

The dataset: 3 classes of 2-channel windows that differ in per-channel variability (quiet, slow
swing, fast shake), as the real activities do, written as UEA `.ts` files and read through
`--data`. Also the early-exit rule by hand, the host virtual device against numba, and
`snnctl evolve` (the spiking part tuned on the training split's leave-one-out error) on a tiny budget.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl.cli import main
from tests.optional_tools import require_board

CONFIG = """
[experiment]
family = "har"
[data]
rate_hz = 10.0
[model]
order = 2
memories = 2
theta_fraction = 0.3
hidden_per_channel = 8
steps_per_sample = 2
[train]
calibration_windows = 6
[run]
early_exit_margins = [0.5, 100.0]
device_measure_windows = 1
"""


def _synthetic(n_per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    t = np.arange(30) * 0.1
    xs, labels = [], []
    for cls, (amp, freq) in enumerate(((0.05, 0.2), (1.0, 0.5), (2.5, 2.5))):
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi, 2)
            x = amp * np.sin(2 * np.pi * freq * t[None, :] + phase[:, None]) + rng.normal(0, 0.05, (2, 30))
            xs.append(x + np.array([[1.0], [-0.5]]))
            labels.append(f"c{cls}")
    return np.array(xs), labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from sim.har_data import write_ts

    root = tmp_path_factory.mktemp("har")
    data = root / "data"
    data.mkdir()
    for split, n, seed in (("TRAIN", 6, 0), ("TEST", 4, 1)):
        x, labels = _synthetic(n, seed)
        write_ts(data / f"Toy_{split}.ts", x, labels, problem_name="Toy", classes=["c0", "c1", "c2"])
    cfg = root / "har.toml"
    cfg.write_text(CONFIG)
    out = root / "run"
    assert main(["train", str(cfg), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    return cfg, data, out


def test_train_writes_the_run_folder(trained):
    _, _, out = trained
    for name in ("best.snn", "report.json", "confusion.png", "source_config.toml"):
        assert (out / name).is_file(), name
    rep = json.loads((out / "report.json").read_text())
    assert rep["integer"]["accuracy"] >= 11 / 12  # separable by construction
    assert rep["float_reference"]["accuracy"] >= 11 / 12
    assert rep["readout"]["codes_equal_integer_map"] is True
    assert rep["readout"]["max_abs_score_error"] <= rep["readout"]["max_bound"]
    assert rep["device_bytes"]["arena_bytes"] > 0 and rep["integer"]["synops_per_window"] > 0
    assert sum(map(sum, rep["integer"]["confusion"])) == 12


def test_train_seed_sets_the_model_seed_and_the_resolved_config_is_kept(trained, tmp_path):
    import tomllib

    cfg, data, out = trained
    assert tomllib.loads((out / "config.toml").read_text())["model"]["seed"] == 0
    again = tmp_path / "seed5"
    assert main(["train", str(cfg), "--data", str(data), "--seed", "5", "--out", str(again), "--quiet"]) == 0
    assert tomllib.loads((again / "config.toml").read_text())["model"]["seed"] == 5
    assert (again / "best.snn").read_bytes() != (out / "best.snn").read_bytes()  # other random hidden directions


def test_run_json(trained, capsys):
    cfg, data, out = trained
    capsys.readouterr()
    assert main(["run", str(cfg), "--controller", str(out / "best.snn"), "--data", str(data), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "synops_per_window", "spikes_per_window", "confusion", "device_bytes"):
        assert key in res
    rep = json.loads((out / "report.json").read_text())
    assert res["accuracy"] == rep["integer"]["accuracy"]
    # the config's margins and the one fitted in training (on the training split's partial counts)
    fitted = rep["early_exit_fitted"]["margin"]
    assert [r["margin"] for r in res["early_exit"]] == sorted({0.5, 100.0, fitted})
    # a margin never reached runs every window to its end: the full-window accuracy
    (never,) = [r for r in res["early_exit"] if r["margin"] == 100.0]
    assert never["accuracy"] == res["accuracy"] and never["fraction_of_window"] == 1.0


def test_run_rejects_other_families_flags_and_bad_files(trained, tmp_path, capsys):
    cfg, data, out = trained
    assert main(["run", str(cfg), "--controller", str(out / "best.snn"), "--n-links", "4"]) == 2
    assert "--n-links does not apply to a har experiment" in capsys.readouterr().err
    bogus = tmp_path / "x.snn"
    bogus.write_bytes(b"not a network")
    assert main(["run", str(cfg), "--controller", str(bogus), "--data", str(data)]) == 2


def test_early_exit_by_hand():
    from evolve.har import early_exit

    # 2 windows, 4 steps, 2 samples of 2 steps; scores checked at steps 1 and 3
    s = np.zeros((2, 4, 3))
    s[0, 1] = [1.0, 0.2, 0.0]  # margin 0.8 at the first check -> class 0 after 2 steps
    s[0, 3] = [0.0, 2.0, 0.0]
    s[1, 1] = [0.0, 0.1, 0.0]  # margin 0.1, then 3.0 at the end -> class 2 after 4 steps
    s[1, 3] = [0.0, 0.0, 3.0]
    rows = early_exit(s, np.array([0, 2]), [0.5, 5.0], steps_per_sample=2)
    assert rows[0] == {"margin": 0.5, "accuracy": 1.0, "mean_steps": 3.0, "fraction_of_window": 0.75}
    assert rows[1]["accuracy"] == 0.5 and rows[1]["mean_steps"] == 4.0  # never passes: final scores


def test_host_device_equals_numba(trained, capsys):
    from firmware_bridge.emulators import start_emulator

    require_board("host")
    cfg, data, out = trained
    with start_emulator("host") as emu:
        capsys.readouterr()
        code = main(["run", str(cfg), "--controller", str(out / "best.snn"), "--data", str(data), "--json",
                     "--port", emu.url])  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    assert res["device"]["predictions_equal_numba"] and res["device"]["output_codes_equal_numba"]
    assert res["device"]["accuracy"] == res["accuracy"]


EVOLVE_CONFIG = CONFIG.replace(
    "[train]",
    """[evolve]
generations = 2
population = 3
backend = "serial"
[search]
theta_fraction = [0.2, 0.6]
hidden_gain = [1.0, 4.0]
intercept = []
input_weight = []
hidden_tau_syn_s = []
calibration_windows = 3
[train]""",
).replace("calibration_windows = 6", "calibration_windows = 6\nfloat_reference = false")


def test_evolve_tunes_on_the_training_split_only(trained, tmp_path):
    """`snnctl evolve` on a HAR config: a normal run folder (log, best genome, best.snn, report),
    genes inside their [search] ranges, and the same evolution whatever the test split holds."""
    from sim.har_data import write_ts

    _, data, _ = trained
    cfg = tmp_path / "evo.toml"
    other = tmp_path / "other"
    other.mkdir()
    (other / "Toy_TRAIN.ts").write_bytes((data / "Toy_TRAIN.ts").read_bytes())
    x, labels = _synthetic(4, seed=7)  # a different test split, labels shuffled
    rng = np.random.default_rng(0)
    write_ts(other / "Toy_TEST.ts", x, list(rng.permutation(labels)), problem_name="Toy", classes=["c0", "c1", "c2"])
    runs = []
    for i, d in enumerate((data, other)):  # `snnctl evolve` has no --data: the config names the data
        out = tmp_path / f"run{i}"
        cfg.write_text(EVOLVE_CONFIG.replace("[data]", f"[data]\npath = {str(d)!r}"))
        assert main(["evolve", str(cfg), "--out", str(out), "--quiet"]) == 0
        for name in ("best.snn", "report.json", "log.csv", "best_genome.npy", "checkpoint.pkl"):
            assert (out / name).is_file(), name
        runs.append((json.loads((out / "report.json").read_text()), np.load(out / "best_genome.npy"),
                     (out / "log.csv").read_text()))  # fmt: skip
    (rep, genome, log), (rep2, genome2, log2) = runs
    np.testing.assert_array_equal(genome, genome2)
    assert _same_fitness(log, log2)
    ev = rep["evolved"]
    # genes are log10 of theta (as a fraction of the 30-sample, 3-s window) and of the gain, inside the ranges
    assert ev["params"] == pytest.approx({"theta": 3.0 * 10 ** genome[0], "hidden_gain": 10 ** genome[1]})
    assert 0.6 <= ev["params"]["theta"] <= 1.8 and 1.0 <= ev["params"]["hidden_gain"] <= 4.0
    assert ev["evaluations"] == 6
    # the export was chosen on training windows held apart from the fitness (validated selection)
    sel = json.loads((tmp_path / "run0" / "selection.json").read_text())
    means = {r["candidate"]: r["validation_loo_squared_error_mean"] for r in sel["candidates"]}
    assert means[sel["chosen"]] == min(means.values())
    assert ev["validation_squared_error"] == pytest.approx(means[sel["chosen"]])
    # the toy training split: 3 classes x 6 windows; a quarter of each class (round(1.5) = 2) held apart
    assert sel["episodes"] == ev["validation_windows"] == 6 and ev["fitness_windows"] == 12
    assert rep["l2mu_params"]["theta"] == pytest.approx(ev["params"]["theta"])
    assert rep["integer"]["accuracy"] >= 11 / 12


def _rows(log: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(log)))


def _same_fitness(a: str, b: str) -> bool:
    """log.csv rows agree except in timing columns."""
    ra, rb = _rows(a), _rows(b)
    keys = [k for k in ra[0] if "time" not in k]
    return all(x[k] == y[k] for x, y in zip(ra, rb, strict=True) for k in keys)


def test_evolve_rejects_bad_ranges(trained, tmp_path, capsys):
    _, data, _ = trained
    cfg = tmp_path / "bad.toml"
    bad = EVOLVE_CONFIG.replace("theta_fraction = [0.2, 0.6]", "theta_s = [2.0, 0.5]")
    cfg.write_text(bad.replace("[data]", f"[data]\npath = {str(data)!r}"))
    assert main(["evolve", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "theta_fraction" in capsys.readouterr().err


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.floats(0.0, 0.85))
def test_validation_split_is_a_disjoint_stratified_partition(labels, fraction):
    from evolve.har import validation_split

    y = np.array(labels)
    fit, val = validation_split(y, fraction)
    assert np.intersect1d(fit, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, val])), np.arange(len(y)))
    for c in np.unique(y):
        n, nv = int((y == c).sum()), int((y[val] == c).sum())
        if fraction == 0 or n < 3:
            assert nv == 0
        else:
            assert nv == min(n - 2, max(1, round(fraction * n)))  # two always left to the fitness
    np.testing.assert_array_equal(validation_split(y, fraction)[1], val)  # the same data, the same split


def test_interrupted_evolve_leaves_a_best_snn_of_the_validated_parameters(trained, tmp_path, monkeypatch, capsys):
    """Ctrl-C after one generation (issue 13): best.snn is the readout trained on the best validated
    parameters so far, exactly what `snnctl train` makes of those parameters; the printed command resumes."""
    import shlex

    from evolve.har import L2MUProblem

    _, data, _ = trained
    cfg = tmp_path / "evo.toml"
    cfg.write_text(EVOLVE_CONFIG.replace("[data]", f"[data]\npath = {str(data)!r}"))
    inner, calls = L2MUProblem.evaluate, []

    def evaluate(self, genomes, seeds, generation):
        if generation == 1:
            raise KeyboardInterrupt
        calls.append(generation)
        return inner(self, genomes, seeds, generation)

    out = tmp_path / "run"
    monkeypatch.setattr(L2MUProblem, "evaluate", evaluate)
    assert main(["evolve", str(cfg), "--out", str(out), "--quiet"]) == 130
    monkeypatch.undo()
    err = capsys.readouterr().err
    sel = json.loads((out / "selection.json").read_text())
    means = {r["candidate"]: r["validation_loo_squared_error_mean"] for r in sel["candidates"]}
    assert means[sel["chosen"]] == min(means.values())
    genome = np.load(out / "best_genome.npy")
    rep = json.loads((out / "report.json").read_text())
    assert rep["interrupted_after_generations"] == 1
    assert rep["l2mu_params"]["theta"] == pytest.approx(3.0 * 10 ** genome[0])  # genes are log10 (see above)
    # second truth: `snnctl train` with those parameters written into [model] gives the same network
    fraction, gain = float(10 ** genome[0]), rep["l2mu_params"]["hidden_gain"]
    plain = tmp_path / "plain.toml"
    plain.write_text(CONFIG.replace("theta_fraction = 0.3", f"theta_fraction = {fraction!r}\nhidden_gain = {gain!r}"))
    assert main(["train", str(plain), "--data", str(data), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    assert (out / "best.snn").read_bytes() == (tmp_path / "t" / "best.snn").read_bytes()
    (hint,) = [line for line in err.splitlines() if "snnctl evolve" in line]
    assert main(shlex.split(hint.split(": ", 1)[1])[1:]) == 0
    assert len(_rows((out / "log.csv").read_text())) == 2
