"""`snnctl bench evolve`: one config over seeds, goals computed from each seed's held-out table."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from evolve import multiseed
from snnctl import cli
from tests.test_cli_experiments import TINY


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    out = root / "out"
    assert cli.main(["bench", "evolve", str(cfg), "--seeds", "3", "5", "--out", str(out), "--quiet"]) == 0
    return cfg, out


def test_each_seed_is_its_own_run_and_goals_follow_the_heldout_table(bench) -> None:
    _, out = bench
    result = json.loads((out / "bench.json").read_text())
    assert [r["seed"] for r in result["seeds"]] == [3, 5]
    for row in result["seeds"]:
        run = out / f"seed{row['seed']}"
        assert (run / "best.snn").is_file() and (run / "selection.csv").is_file()
        assert row["config"]["evolve"]["seed"] == row["seed"]
        table = json.loads((run / "heldout.json").read_text())
        snn, pid = table["snn"], table["pid"]
        expect = {
            "steady-state error <= 2 cm": snn["steady_state_error_m"] <= 0.02,
            "RMSE <= 1.05 x PID": snn["rmse_m"] <= 1.05 * pid["rmse_m"],
            "overshoot up <= PID": snn["overshoot_up_m"] <= pid["overshoot_up_m"],
            "overshoot down <= PID": snn["overshoot_down_m"] <= pid["overshoot_down_m"],
            "worst overshoot up <= PID": snn["worst_overshoot_up_m"] <= pid["worst_overshoot_up_m"],
            "worst overshoot down <= PID": snn["worst_overshoot_down_m"] <= pid["worst_overshoot_down_m"],
            "wall time <= 300 s": row["wall_s"] <= 300,
        }
        assert {g["goal"]: g["passed"] for g in row["goals"]} == expect
    # the two seeds evolved different controllers
    a, b = ((out / f"seed{s}" / "best.snn").read_bytes() for s in (3, 5))
    assert a != b
    summ = result["summary"]["metrics"]["rmse_m"]
    vals = [r["metrics"]["rmse_m"] for r in result["seeds"]]
    assert summ["mean"] == pytest.approx(np.mean(vals)) and summ["worst"] == max(vals)
    assert summ["std"] == pytest.approx(np.std(vals))


def test_reuse_reads_finished_seeds_back_without_running(bench, monkeypatch, capsys) -> None:
    cfg, out = bench
    import evolve.blimp_experiment as bx

    def boom(*a, **k):
        raise AssertionError("a finished seed was run again")

    monkeypatch.setattr(bx, "evolve_main", boom)
    assert cli.main(["bench", "evolve", str(cfg), "--seeds", "3", "5", "--out", str(out), "--reuse"]) == 0
    text = capsys.readouterr().out
    assert "seed 3" in text and "mean ± std" in text and "seeds met" in text
    # without --reuse an occupied folder is one clean error line, not a traceback or an overwrite
    assert cli.main(["bench", "evolve", str(cfg), "--seeds", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--reuse" in err and "Traceback" not in err


def test_bad_seeds_are_a_user_error(bench, capsys) -> None:
    cfg, out = bench
    assert cli.main(["bench", "evolve", str(cfg), "--seeds", "1", "1", "--out", str(out / "x")]) == 2
    assert "distinct" in capsys.readouterr().err


def _fake_family(goal_results: dict[int, bool]) -> types.SimpleNamespace:
    def bench_result(cfg, out, wall):
        ok = goal_results[cfg["evolve"]["seed"]]
        return {"metrics": {"score": float(cfg["evolve"]["seed"])}, "baseline": {"score": 2.5},
                "baseline_name": "base", "episodes": 4, "goals": [{"goal": "score ok", "passed": ok}]}  # fmt: skip

    def evolve_main(cfg, out, resume=False, progress=True):
        out.mkdir(parents=True, exist_ok=True)

    return types.SimpleNamespace(BENCH_METRICS=[("score", "score", "higher")], bench_result=bench_result,
                                 evolve_main=evolve_main)  # fmt: skip


def test_a_failed_goal_stays_visible(tmp_path) -> None:
    mod = _fake_family({1: True, 2: False, 3: True})
    result = multiseed.run_seeds(mod, {"evolve": {"seed": 0}}, [1, 2, 3], tmp_path, progress=False)
    assert result["summary"]["goals"]["score ok"] == {"passed": 2, "of": 3}
    assert not result["summary"]["all_goals_met"]
    assert result["summary"]["metrics"]["score"]["worst"] == 1.0  # higher is better: the worst is the minimum
    text = multiseed.format_table(mod, result, "title")
    assert "FAIL" in text and "NOT all goals met" in text and "base" in text
