"""`snnctl evolve CONFIG` and `snnctl run CONFIG --controller ...` end to end, on tiny budgets."""

from __future__ import annotations

import csv
import json
import re
import shutil
import tomllib

import numpy as np
import pytest

from snnctl import cli, snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from tests.conftest import TINY

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished_run(tiny_cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), "--quiet"]) == 0
    return out


def _rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _one_line_error(capsys, *needles: str) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnctl: error: "), cap.err
    assert "Traceback" not in cap.err
    for n in needles:
        assert n in lines[0]
    return lines[0]


def test_evolve_writes_the_run_folder(finished_run) -> None:
    for name in ("config.toml", "log.csv", "best_genome.npy", "best.snn", "fitness.png", "flight.png",
                 "raster.png", "heldout.json", "checkpoint.pkl", "source_config.toml"):  # fmt: skip
        assert (finished_run / name).is_file(), name
    for name in ("fitness.png", "flight.png", "raster.png"):
        assert (finished_run / name).read_bytes()[:8] == PNG
    assert len(_rows(finished_run / "log.csv")) == 2
    assert len(_rows(finished_run / "mimic" / "log.csv")) == 2  # phase 1 ran its own generations
    assert (finished_run / "mimic" / "best.snn").is_file()
    cfg = tomllib.loads((finished_run / "config.toml").read_text())
    assert cfg["evolve"]["generations"] == 2 and cfg["evolve"]["population"] == 4
    assert cfg["closed_loop"]["episode_s"] == 5.0 and cfg["network"]["pd_pairs"] == 2


def test_evolve_best_snn_is_the_best_genome_decoded(finished_run) -> None:
    codec = BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2))
    best = np.load(finished_run / "best_genome.npy")
    assert best.shape == (codec.layout.size,)
    net = codec.decode(best)
    net.control_period_s = 0.1  # the 10 Hz loop it was scored in
    assert (finished_run / "best.snn").read_bytes() == snnfile.to_bytes(net)
    # the exported genome is the candidate best on the validation flights, whatever its training score
    info = json.loads((finished_run / "best_genome.json").read_text())
    sel = json.loads((finished_run / "selection.json").read_text())
    assert info["chosen"] == sel["chosen"] and sel["episodes"] == 3
    means = {r["candidate"]: r["validation_tracking_cost_mean"] for r in sel["candidates"]}
    assert means[sel["chosen"]] == min(means.values())
    assert info["objectives"]["tracking_cost"] == pytest.approx(means[sel["chosen"]])
    assert any("initial genome" in c or "PID-derived" in c for c in means)  # the prior is always a candidate
    assert any("CMA-ES mean" in c for c in means)


def test_evolve_heldout_table(finished_run, tiny_cfg, capsys) -> None:
    table = json.loads((finished_run / "heldout.json").read_text())
    assert {"snn", "pid"} <= set(table)
    keys = {"rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "control_effort",
            "spikes_per_s", "worst_overshoot_up_m", "worst_overshoot_down_m", "episodes"}  # fmt: skip
    assert keys <= set(table["snn"]) and keys <= set(table["pid"])
    assert table["pid"]["spikes_per_s"] == 0 and table["snn"]["spikes_per_s"] > 0
    assert table["snn"]["episodes"] == table["pid"]["episodes"] == 1
    # the PID column is what `snnctl run --controller pid` reports on the same config
    assert cli.main(["run", tiny_cfg, "--controller", "pid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(table["pid"])
    assert cli.main(["run", tiny_cfg, "--controller", str(finished_run / "best.snn"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(table["snn"])


def test_evolve_resume_extends_a_finished_run(finished_run, tiny_cfg, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = _rows(run / "log.csv")
    assert cli.main(["evolve", tiny_cfg, "--resume", str(run), "--generations", "3", "--quiet"]) == 0
    after = _rows(run / "log.csv")
    assert len(after) == 3
    assert after[:2] == before  # the first generations are kept as they were
    assert len(_rows(run / "mimic" / "log.csv")) == 2  # the finished phase 1 is not rerun
    assert json.loads((run / "heldout.json").read_text())["snn"]["episodes"] == 1


def test_evolve_resume_of_a_folder_without_checkpoint_is_a_user_error(tiny_cfg, tmp_path, capsys) -> None:
    assert cli.main(["evolve", tiny_cfg, "--resume", str(tmp_path / "nothing")]) == 2
    _one_line_error(capsys, "nothing", "no such run folder")
    assert cli.main(["evolve", tiny_cfg, "--resume", str(tmp_path)]) == 2
    _one_line_error(capsys, str(tmp_path), "not a run folder", "checkpoint.pkl")


def test_evolve_resume_after_an_interrupt_before_the_closed_loop_phase(tiny_cfg, tmp_path, monkeypatch) -> None:
    from evolve.blimp import ClosedLoopProblem

    def interrupted(self, genomes, seeds, generation):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    monkeypatch.setattr(ClosedLoopProblem, "evaluate", interrupted)
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), "--quiet"]) == 130
    monkeypatch.undo()
    assert (out / "mimic" / "checkpoint.pkl").is_file()
    assert cli.main(["evolve", tiny_cfg, "--resume", str(out), "--quiet"]) == 0


def test_run_pid_json_has_the_metrics(tiny_cfg, capsys) -> None:
    assert cli.main(["run", tiny_cfg, "--controller", "pid", "--json", "--episodes", "2", "--seed", "3"]) == 0
    m = json.loads(capsys.readouterr().out)
    for k in ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "spikes_per_s"):
        assert isinstance(m[k], float) and np.isfinite(m[k]) and m[k] >= 0
    assert m["episodes"] == 2 and m["spikes_per_s"] == 0.0
    assert m["worst_overshoot_up_m"] >= m["overshoot_up_m"]


def test_run_text_table_and_plot(finished_run, tiny_cfg, tmp_path, capsys, monkeypatch) -> None:
    import evolve.blimp_experiment as be

    drawn = []  # what the flight plot got: the network by role and the PID on the same flight
    real = be.flight_figure
    monkeypatch.setattr(be, "flight_figure", lambda recs, u_label: drawn.append((recs, u_label)) or real(recs, u_label))
    png = tmp_path / "flight.png"
    assert cli.main(["run", tiny_cfg, "--controller", str(finished_run / "best.snn"), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "RMSE (m)" in out and "BEST.SNN" in out and "PID" not in out and f"plot: {png}" in out
    assert png.read_bytes()[:8] == PNG
    ((recs, u_label),) = drawn
    assert list(recs) == ["SNN (best.snn)", "PID"] and "mN thrust per unit" in u_label
    snn, pid = recs.values()
    np.testing.assert_array_equal(snn.reference, pid.reference)  # the same held-out profile
    assert not np.array_equal(snn.action, pid.action)
    assert cli.main(["run", tiny_cfg, "--controller", "pid", "--plot", str(png)]) == 0
    assert list(drawn[-1][0]) == ["PID"]  # the PID alone is not drawn twice


def test_run_missing_controller_file_is_a_one_line_error(tiny_cfg, tmp_path, capsys) -> None:
    missing = tmp_path / "missing.snn"
    assert cli.main(["run", tiny_cfg, "--controller", str(missing)]) == 2
    _one_line_error(capsys, "missing.snn")


def test_run_corrupt_controller_file_is_a_one_line_error(tiny_cfg, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.snn"
    bad.write_bytes(b"not a network at all")
    assert cli.main(["run", tiny_cfg, "--controller", str(bad)]) == 2
    _one_line_error(capsys, "bad.snn")


@pytest.mark.parametrize("command", ["run", "evolve"])
def test_bad_config_key_names_file_and_key(command, tmp_path, capsys) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text(TINY.replace("episodes_per_generation = 1", "episodes_per_generaton = 1"))
    args = [command, str(cfg)] + (["--controller", "pid"] if command == "run" else ["--out", str(tmp_path / "o")])
    assert cli.main(args) == 2
    _one_line_error(capsys, "broken.toml", "closed_loop.episodes_per_generaton")
    assert not (tmp_path / "o").exists()


def test_bad_config_value_and_missing_config(tmp_path, capsys) -> None:
    cfg = tmp_path / "range.toml"
    cfg.write_text(TINY.replace("episode_s = 5.0", "episode_s = -5.0"))
    assert cli.main(["run", str(cfg), "--controller", "pid"]) == 2
    _one_line_error(capsys, "range.toml", "closed_loop.episode_s")
    assert cli.main(["run", str(tmp_path / "none.toml"), "--controller", "pid"]) == 2
    _one_line_error(capsys, "none.toml")


def test_run_too_many_heldout_flights_is_a_user_error(tiny_cfg, capsys) -> None:
    assert cli.main(["run", tiny_cfg, "--controller", "pid", "--seed", "19", "--episodes", "2"]) == 2
    _one_line_error(capsys, "held-out")


@pytest.mark.parametrize("args", [["--episodes", "-1"], ["--seed", "-1"], ["--episodes", "0"]])
def test_run_rejects_nonpositive_episodes_and_negative_seed(tiny_cfg, args, capsys) -> None:
    code = cli.main(["run", tiny_cfg, "--controller", "pid", "--json", *args])
    cap = capsys.readouterr()
    assert code == 2 and "Warning" not in cap.err
    assert "episodes" in cap.err or "seed" in cap.err


def test_help_lists_the_experiment_commands(capsys) -> None:
    for sub in ("evolve", "run"):
        with pytest.raises(SystemExit) as exc:
            cli.main([sub, "--help"])
        assert exc.value.code == 0
        assert "examples:" in capsys.readouterr().out


# -- family dispatch (snnctl.cli.families) -------------------------------------------------------


def test_config_without_family_names_the_key(tmp_path, capsys) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text("[evolve]\ngenerations = 1\n")
    assert cli.main(["evolve", str(cfg)]) == 2
    _one_line_error(capsys, "[experiment] family is missing", "blimp, swimmer, har")


def test_unknown_family_lists_the_known_ones(tmp_path, capsys) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text('[experiment]\nfamily = "rover"\n')
    assert cli.main(["run", str(cfg), "--controller", "pid"]) == 2
    _one_line_error(capsys, "'rover' is unknown", "blimp, swimmer, har")


def test_run_flag_of_another_family_is_an_error(tiny_cfg, capsys) -> None:
    assert cli.main(["run", tiny_cfg, "--controller", "pid", "--n-links", "5"]) == 2
    _one_line_error(capsys, "--n-links does not apply to a blimp experiment")


def test_train_on_an_evolved_family_points_to_evolve(tiny_cfg, capsys) -> None:
    assert cli.main(["train", tiny_cfg]) == 2
    _one_line_error(capsys, "is evolved, not trained", f"snnctl evolve {tiny_cfg}")


# -- NSGA-II: tracking vs spikes (configs/blimp_nsga2.toml) ----------------------------------------------


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a dominates b when minimising both objectives: no worse in each, better in one."""
    return bool(np.all(a <= b) and np.any(a < b))


def test_nsga2_config_evolves_a_non_dominated_front(tmp_path) -> None:
    from pathlib import Path

    from evolve.blimp import ClosedLoopProblem
    from evolve.blimp_experiment import SCHEMA, env_kwargs
    from snnctl.config import load_config

    config = Path(__file__).parents[1] / "configs" / "blimp_nsga2.toml"
    out = tmp_path / "nsga2"
    args = ["--generations", "2", "--population", "8", "--backend", "serial", "--workers", "1", "--quiet"]
    # 2 validation flights instead of the file's (the line is replaced, or added when the file has none)
    text = re.sub(r"(?m)^validation_episodes\s*=.*\n", "", config.read_text())
    config_text = text.replace("[evolve]", "[evolve]\nvalidation_episodes = 2", 1)
    config = tmp_path / "nsga2.toml"
    config.write_text(config_text)
    assert cli.main(["evolve", str(config), "--out", str(out), *args]) == 0
    cfg = load_config(config, SCHEMA)
    assert cfg["evolve"]["algorithm"] == "nsga2" and cfg["closed_loop"]["spikes_objective"]
    spec = BlimpSNNSpec(**cfg["network"])
    codec = BlimpSNNCodec(spec)

    front = np.load(out / "front.npz")
    g, v, tv = front["genomes"], front["values"], front["training_values"]
    assert list(front["objectives"]) == ["tracking_cost", "spikes_per_s"]
    assert len(v) >= 1 and g.shape == (len(v), codec.layout.size) and v.shape == (len(v), 2)
    assert np.all(np.isfinite(v)) and np.all(v[:, 1] > 0)  # tracking is paired with the PID: may be < 0
    for i in range(len(v)):  # no member dominates another
        for j in range(len(v)):
            assert i == j or not _dominates(v[j], v[i]), (v[j], v[i])
    # the front is the validated one: every member of the training front was re-scored, and what is
    # exported is non-dominated on the validation means (training values kept beside them)
    sel = json.loads((out / "selection.json").read_text())
    rows = {r["candidate"]: r for r in sel["candidates"]}
    on_front = [r for r in rows.values() if r["validated_front"]]
    assert len(on_front) == len(v)
    val = np.array([[r["validation_tracking_cost_mean"], r["validation_spikes_per_s_mean"]] for r in rows.values()])
    for r in on_front:  # nothing validated dominates a validated front member
        f = np.array([r["validation_tracking_cost_mean"], r["validation_spikes_per_s_mean"]])
        assert not any(_dominates(x, f) for x in val)
    assert tv.shape == v.shape
    # sorted by tracking cost; best.snn is its first member
    assert np.all(np.diff(v[:, 0]) >= 0)
    net = codec.decode(g[0])
    net.control_period_s = 0.1
    assert (out / "best.snn").read_bytes() == snnfile.to_bytes(net)
    # the values are what the problem gives: each member re-flown on the two validation flights
    # (the held-out kind of flight, validation seeds) scores exactly its stored means
    cl = cfg["closed_loop"]
    problem = ClosedLoopProblem(
        spec, env_kwargs(cfg, cl["episode_s"]), cl["episodes_per_generation"], w_rmse=cl["w_rmse"],
        w_steady_state=cl["w_steady_state"], w_overshoot_up=cl["w_overshoot_up"],
        w_overshoot_down=cl["w_overshoot_down"], w_effort=cl["w_effort"], spikes_objective=True,
        relative_to_pid=cl["relative_to_pid"], seed=cfg["evolve"]["seed"],
        validation_env_kwargs=env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"]),
    )  # fmt: skip
    for k in range(len(v)):
        per_flight = problem.validate(np.repeat(g[k : k + 1], 2, axis=0), np.arange(2, dtype=np.uint64))
        np.testing.assert_allclose(per_flight.mean(axis=0), v[k], rtol=1e-12)
