"""`snnctl bench har` (issue 14, item 5): the 1-NN baseline against brute force, which datasets it
finds, how a report becomes a row, which targets a row misses — and the command end to end on tiny
synthetic UEA-format files (structure and baselines, not the network's numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evolve.har_baselines import nearest_neighbour
from evolve.har_bench import find_datasets, misses, seed_row, summarise_dataset
from sim.har_data import write_ts
from snnctl.cli import main
from tests.test_har_experiment import CONFIG, _synthetic


def test_nearest_neighbour_by_hand():
    train = np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[10.0, 0.0]]])  # 3 windows, 1 channel, 2 steps
    y = np.array([0, 1, 2])
    test = np.array([[[1.0, 1.0]], [[3.0, 3.0]], [[7.0, 0.0]], [[5.0, 0.0]], [[1.5, 2.0]]])
    # distances: (1,1): sqrt2 / 3.6 / 9.05 -> 0; (3,3): 4.2 / 1 / 7.6 -> 1; (7,0): 7 / 5.66 / 3 -> 2;
    # (5,0): 5 / 4.47 / 5 -> 1; (1.5,2): 2.5 / 2.5 / 8.7 -> a tie, the first training window -> 0
    np.testing.assert_array_equal(nearest_neighbour(train, y, test), [0, 1, 2, 1, 0])


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_nearest_neighbour_equals_brute_force(data):
    c, t = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 6))
    n_tr, n_te = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    ints = st.integers(-20, 20)  # integers: squared distances are exact, so ties are real ties
    X_tr = data.draw(arrays(np.float64, (n_tr, c, t), elements=ints))
    X_te = data.draw(arrays(np.float64, (n_te, c, t), elements=ints))
    y = np.arange(n_tr)
    brute = [min(range(n_tr), key=lambda j, x=x: (float(np.sum((x - X_tr[j]) ** 2)), j)) for x in X_te]
    np.testing.assert_array_equal(nearest_neighbour(X_tr, y, X_te, chunk=3), brute)


def _tree(root: Path) -> Path:
    """Toy (equal lengths, 2 channels), Uneq (unequal, 1 channel), Reg (regression), Stray (no pair)."""
    data = root / "data"
    for split, n, seed in (("TRAIN", 6, 0), ("TEST", 4, 1)):
        x, labels = _synthetic(n, seed)
        write_ts(data / "Toy" / f"Toy_{split}.ts", x, labels, problem_name="Toy", classes=["c0", "c1", "c2"])
        short = [w[:1, : 20 + 5 * (i % 3)] for i, w in enumerate(x)]  # 20, 25, 30 steps
        write_ts(data / "Uneq" / f"Uneq_{split}.ts", short, labels, problem_name="Uneq", classes=["c0", "c1", "c2"])
    (data / "Reg").mkdir()
    for split in ("TRAIN", "TEST"):
        (data / "Reg" / f"Reg_{split}.ts").write_text(
            "@problemName Reg\n@univariate true\n@equalLength true\n@targetLabel true\n@data\n1,2,3:0.5\n"
        )
    (data / "Stray").mkdir()
    write_ts(data / "Stray" / "Stray_TRAIN.ts", np.zeros((1, 1, 3)), ["a"])
    return data


def test_find_datasets_reads_the_headers(tmp_path):
    sets, skipped = find_datasets([_tree(tmp_path)])
    assert [(s.name, s.length) for s in sets] == [("Toy", 0), ("Uneq", 25)]  # median of 20, 25, 30, 20, 25, 30
    assert skipped == [{"dataset": "Reg", "reason": "regression (@targetLabel true)"}]


def test_seed_row_reads_todays_report_and_the_planned_flat_keys():
    nested = {"integer": {"accuracy": 0.8, "train_accuracy": 0.9, "synops_per_window": 100.0},
              "float_reference": {"accuracy": 0.85}, "network": {"neurons": 40},
              "device_bytes": {"arena_bytes": 2000}, "train_wall_s": 3.0}  # fmt: skip
    flat = {"test_accuracy_int": 0.8, "test_accuracy_float": 0.85, "train_accuracy_int": 0.9, "val_accuracy_int": 0.7,
            "neurons": 40, "arena_bytes": 2000, "synops_per_window": 100.0, "train_s": 3.0}  # fmt: skip
    base = {"wall_s": 5.0, "peak_rss_mb": 300.0, "error": None}
    a, b = seed_row(0, {**base, "report": nested}), seed_row(0, {**base, "report": flat})
    assert a.pop("val_int_acc") is None and b.pop("val_int_acc") == 0.7
    assert a == b and a["gap_points"] == pytest.approx(5.0)
    refused = seed_row(1, {**base, "report": None, "error": "Toy: the integer network is no better than chance"})
    assert refused["error"] and "int_acc" not in refused


def _row(name="GunPoint", channels=1, ints=(0.90, 0.92), floats=(0.90, 0.92), nn=0.91, mr=0.95, arena=9000,
         wall=10.0, peak=500.0, error=None) -> dict:  # fmt: skip
    seeds = [{"seed": k, "wall_s": wall, "peak_rss_mb": peak, "error": error if k == 0 else None, "int_acc": i,
              "float_acc": f, "gap_points": 100 * abs(i - f), "neurons": 30, "arena_bytes": arena,
              "synops_per_window": 1e4} for k, (i, f) in enumerate(zip(ints, floats, strict=True))]  # fmt: skip
    shape = {"channels": channels, "length": 150, "classes": 2, "resampled_from_unequal": False}
    return summarise_dataset(name, shape, seeds, nn, [mr])


def test_misses_by_hand():
    assert _row()["misses"] == []  # mean 0.91 >= 1-NN 0.91 (equal counts), 3 points under MiniRocket
    assert _row(nn=0.915)["misses"] == [">=1-NN"]
    assert _row(mr=0.97)["misses"] == ["MiniRocket-5"]  # 6 points under it, on a motion set
    assert _row(name="OSULeaf", mr=0.99)["misses"] == []  # not a motion set: MiniRocket is not a target
    assert _row(floats=(0.90, 0.95))["misses"] == ["int~float 2pt"]  # one seed 3 points apart
    assert _row(arena=10241)["misses"] == ["arena 10KB"]
    assert _row(arena=10241, channels=6)["misses"] == []  # the arena target is for univariate sets
    assert _row(wall=61.0, peak=1001.0)["misses"] == ["60s", "1GB"]
    refused = _row(ints=(0.5, 0.92), floats=(0.5, 0.92), error="refused to save")
    assert refused["refused"] == [0] and refused["misses"][0] == "refused"
    assert refused["summary"]["int_acc"]["mean"] == pytest.approx(0.92)  # over the seeds that trained


def test_bench_har_end_to_end(tmp_path, capsys):
    from sim.har_data import load_dataset

    data = _tree(tmp_path)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    capsys.readouterr()
    argv = ["bench", "har", "--from", str(data), "--config", str(cfg), "--seeds", "0", "--out", str(out), "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res == json.loads((out / "bench_har.json").read_text())
    assert [r["dataset"] for r in res["rows"]] == ["Toy", "Uneq"] and res["skipped"][0]["dataset"] == "Reg"
    toy, uneq = res["rows"]
    assert (toy["channels"], toy["length"], toy["classes"]) == (2, 30, 3)
    assert (uneq["channels"], uneq["length"], uneq["resampled_from_unequal"]) == (1, 25, True)
    ds = load_dataset(data / "Toy")  # the baseline on the same split, computed again here
    assert toy["nn_acc"] == float(np.mean(nearest_neighbour(ds.X_train, ds.y_train, ds.X_test) == ds.y_test))
    seed = toy["seeds"][0]
    rep = json.loads((out / "Toy" / "seed0" / "report.json").read_text())  # the run folder `snnctl train` writes
    assert seed["int_acc"] == rep["integer"]["accuracy"] and seed["arena_bytes"] == rep["device_bytes"]["arena_bytes"]
    assert seed["peak_rss_mb"] > 0 and seed["wall_s"] > 0
    assert toy["misses"] == misses(toy)
    assert main(["bench", "har", "--from", str(data), "--config", str(cfg), "--datasets", "Nope"]) == 2
    assert "--datasets: Nope not among the classification sets" in capsys.readouterr().err


def test_bench_har_table_marks_a_row(tmp_path, capsys):
    from evolve.har_bench import format_table

    result = {"command": "snnctl bench har --seeds 0 1", "seeds": [0, 1], "skipped": [], "machine": "here",
              "rows": [{**_row(), "dataset": "GunPoint"}, {**_row(nn=0.95), "dataset": "ArrowHead"}]}  # fmt: skip
    lines = format_table(result).splitlines()
    assert lines[0] == "snnctl bench har --seeds 0 1"
    gun = next(ln for ln in lines if ln.startswith("GunPoint"))
    arrow = next(ln for ln in lines if ln.startswith("ArrowHead"))
    assert gun.endswith("ok") and "91.0±1.0 (90.0)" in gun
    assert arrow.endswith("MISS: >=1-NN")
