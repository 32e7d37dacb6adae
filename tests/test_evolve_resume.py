"""Interrupt and resume (issue 13): what Ctrl-C leaves, the one hint it prints, and every resume path.

An interrupt is simulated by raising KeyboardInterrupt from inside the run (a problem's evaluate, the
flight recorder) — what Python does on SIGINT — so no test depends on timing; one test sends a real
SIGINT to a subprocess once its first checkpoint exists. Each interrupted run is then continued
with the command it printed, run as printed, and compared with a run that was never interrupted
(runs are deterministic, so the two must agree exactly).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evolve.runner import EvolveSettings, Interrupted, evolve
from snnctl import cli, snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from tests.conftest import TINY
from tests.test_selection import LUCKY, LuckyOutlier

# a target other than the config's (2 and 2), so a hint that dropped a flag would aim elsewhere
FLAGS = ["--generations", "3", "--mimic-generations", "3", "--episode-s", "4"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference(tiny_cfg, tmp_path_factory) -> Path:
    """The same run never interrupted."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), "--quiet", *FLAGS]) == 0
    return out


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in ("time", "gen_time")} for r in csv.DictReader(f)]


def _hints(text: str) -> list[str]:
    return [line for line in text.splitlines() if "snnctl evolve" in line]


def _run_hint(capsys, text: str) -> int:
    """The one printed command, run as printed (through the same entry point as the console script)."""
    hints = _hints(text)
    assert len(hints) == 1, text
    argv = shlex.split(hints[0].split(": ", 1)[1])
    assert argv[:2] == ["snnctl", "evolve"]
    capsys.readouterr()
    return cli.main(argv[1:])


def _same_run(run: Path, ref: Path) -> None:
    for log in ("log.csv", "mimic/log.csv"):
        assert _rows(run / log) == _rows(ref / log), log
    np.testing.assert_array_equal(np.load(run / "best_genome.npy"), np.load(ref / "best_genome.npy"))
    assert (run / "best.snn").read_bytes() == (ref / "best.snn").read_bytes()


def _net_bytes(genome: np.ndarray) -> bytes:
    net = BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2)).decode(genome)
    net.control_period_s = 0.1  # the 10 Hz loop the config flies
    return snnfile.to_bytes(net)


def _better_start(tiny_cfg: str, out: Path) -> np.ndarray:
    """The mimic phase's export or the PID-derived genome, whichever has the lower mean cost on the
    3 validation flights, computed here through the problem's validate hook."""
    from evolve.blimp_experiment import closed_loop_problem
    from snnctl.cli import families

    spec = BlimpSNNSpec(pd_pairs=2, i_pairs=2)
    prior, mimic_best = BlimpSNNCodec(spec).initial_genome, np.load(out / "mimic" / "best_genome.npy")
    _, full = families.load(tiny_cfg, {"evolve.generations": 3, "mimic.generations": 3, "closed_loop.episode_s": 4.0})
    problem = closed_loop_problem(full, spec, initial=prior, extra={})
    costs = problem.validate(np.array([mimic_best] * 3 + [prior] * 3), np.array([0, 1, 2] * 2))[:, 0]
    return mimic_best if costs[:3].mean() <= costs[3:].mean() else prior


def _interrupt_after(monkeypatch, cls, calls: int) -> None:
    """cls.evaluate raises KeyboardInterrupt on call number `calls + 1` (what SIGINT does mid-generation)."""
    inner, seen = cls.evaluate, []

    def evaluate(self, genomes, seeds, generation):
        if len(seen) == calls:
            raise KeyboardInterrupt
        seen.append(generation)
        return inner(self, genomes, seeds, generation)

    monkeypatch.setattr(cls, "evaluate", evaluate)


# -- each resume path, through the command line -----------------------------------------------------


def test_interrupt_before_the_first_checkpoint(tiny_cfg, reference, tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C while the PID flights are recorded: best.snn is the prior, the hint starts the run again."""
    import evolve.blimp_experiment as bx

    def recording(*a, **k):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    monkeypatch.setattr(bx, "record_pid_flights", recording)
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), *FLAGS]) == 130
    monkeypatch.undo()
    cap = capsys.readouterr()
    assert not any(out.glob("**/checkpoint.pkl"))
    prior = BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2)).initial_genome
    assert (out / "best.snn").read_bytes() == _net_bytes(prior)  # the only candidate so far
    assert "no generation checkpointed yet" in cap.err
    assert _run_hint(capsys, cap.out + cap.err) == 0
    _same_run(out, reference)


def test_interrupt_mid_mimic_phase(tiny_cfg, reference, tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C in phase 1 after one generation: both phases' exports are validated, one hint, same target."""
    from evolve.blimp import MimicProblem

    out = tmp_path / "run"
    _interrupt_after(monkeypatch, MimicProblem, 1)
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), *FLAGS]) == 130
    monkeypatch.undo()
    cap = capsys.readouterr()
    # the mimic phase's export: the candidate best on its validation sequences
    sel = json.loads((out / "mimic" / "selection.json").read_text())
    means = {r["candidate"]: r["validation_mae_plus_1_minus_r_mean"] for r in sel["candidates"]}
    assert means[sel["chosen"]] == min(means.values())
    assert not (out / "config.toml").exists()  # the closed-loop phase never started
    assert (out / "best.snn").read_bytes() == _net_bytes(_better_start(tiny_cfg, out))
    assert f"{out / 'best.snn'}: the best validated candidate so far" in cap.err
    assert _run_hint(capsys, cap.out + cap.err) == 0
    _same_run(out, reference)


def test_interrupt_while_choosing_the_closed_loop_start(tiny_cfg, reference, tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C after the mimic phase finished, while its export and the prior fly validation flights."""
    import evolve.blimp_experiment as bx

    inner, calls = bx.choose_start, []

    def choose_start(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return inner(*a, **k)

    out = tmp_path / "run"
    monkeypatch.setattr(bx, "choose_start", choose_start)
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), *FLAGS]) == 130
    monkeypatch.undo()
    cap = capsys.readouterr()
    assert "the mimic phase is checkpointed" in cap.err and "no generation checkpointed" not in cap.err
    assert _rows(out / "mimic" / "log.csv") == _rows(reference / "mimic" / "log.csv")
    assert len(calls) == 2  # the interrupted choice made again for best.snn
    assert (out / "best.snn").read_bytes() == _net_bytes(_better_start(tiny_cfg, out))
    assert _run_hint(capsys, cap.out + cap.err) == 0
    _same_run(out, reference)


def test_interrupt_mid_closed_loop_with_generations(tiny_cfg, reference, tmp_path, monkeypatch, capsys) -> None:
    """Ctrl-C in phase 2: best.snn is the validation-best candidate so far; the hint keeps --generations 3."""
    from evolve.blimp import ClosedLoopProblem

    out = tmp_path / "run"
    _interrupt_after(monkeypatch, ClosedLoopProblem, 1)
    assert cli.main(["evolve", tiny_cfg, "--out", str(out), *FLAGS]) == 130
    monkeypatch.undo()
    cap = capsys.readouterr()
    assert len(_rows(out / "log.csv")) == 1
    sel = json.loads((out / "selection.json").read_text())
    means = {r["candidate"]: r["validation_tracking_cost_mean"] for r in sel["candidates"]}
    assert means[sel["chosen"]] == min(means.values())
    assert json.loads((out / "best_genome.json").read_text())["chosen"] == sel["chosen"]
    assert (out / "best.snn").read_bytes() == _net_bytes(np.load(out / "best_genome.npy"))
    assert "interrupted: 1 of 3 generations" in cap.err
    (hint,) = _hints(cap.out + cap.err)
    assert "--generations 3" in hint and "--mimic-generations 3" in hint and "--episode-s 4.0" in hint
    assert _run_hint(capsys, cap.out + cap.err) == 0
    _same_run(out, reference)


def test_resume_with_the_wrong_config_touches_nothing(tiny_cfg, reference, tmp_path, monkeypatch, capsys) -> None:
    """Refused in one line naming the key and the right command, before any work, the folder unchanged."""
    import shutil

    import evolve.blimp_experiment as bx

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}

    def no_work(*a, **k):
        raise AssertionError("work started before the config was checked")

    monkeypatch.setattr(bx, "record_pid_flights", no_work)
    monkeypatch.setattr(bx, "closed_loop_problem", no_work)
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("seed = 3", "seed = 4"))
    swimmer = tmp_path / "swim.toml"
    swimmer.write_text('[experiment]\nfamily = "swimmer"\n')
    for argv, needle in (([str(other), *FLAGS], "evolve.seed: 3 -> 4"),
                         ([tiny_cfg, "--generations", "3"], "mimic.generations: 3 -> 2"),
                         ([str(swimmer)], "holds a blimp run, not a swimmer experiment")):  # fmt: skip
        assert cli.main(["evolve", *argv, "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("snnctl: error: ") and needle in err[0], err
        assert f"continue it with: snnctl evolve {tiny_cfg} --resume " in err[0]
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}
    assert after == before
    # a fresh run into the same folder is refused the same way
    assert cli.main(["evolve", tiny_cfg, "--out", str(run), *FLAGS]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()} == before


def test_resume_extends_a_finished_run_with_more_generations(reference, tiny_cfg, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    argv = ["evolve", tiny_cfg, "--resume", str(run), "--quiet", *FLAGS[2:], "--generations", "4"]
    assert cli.main(argv) == 0
    assert _rows(run / "log.csv")[:3] == _rows(reference / "log.csv") and len(_rows(run / "log.csv")) == 4
    assert _rows(run / "mimic" / "log.csv") == _rows(reference / "mimic" / "log.csv")


# The child process: `python -m snnctl evolve ...`, except that the moment its first mimic checkpoint is
# on disk it sends itself a real SIGINT, so the signal lands at the same point on any machine and load.
SIGINT_AT_FIRST_CHECKPOINT = """
import os, signal, sys
import evolve.runner as runner
from snnctl.cli import main
save = runner._save_checkpoint
def save_then_interrupt(path, state):
    save(path, state)
    if path.parent.name == "mimic" and not os.environ.get("SNNCTL_TEST_SIGNALLED"):
        os.environ["SNNCTL_TEST_SIGNALLED"] = "1"
        os.kill(os.getpid(), signal.SIGINT)
runner._save_checkpoint = save_then_interrupt
sys.exit(main(sys.argv[1:]))
"""


def test_real_sigint_prints_one_hint_that_continues_the_run(tiny_cfg, tmp_path, capsys) -> None:
    """A real SIGINT, delivered by the OS right after the first mimic checkpoint: one hint, and the
    printed command finishes the same run to the same targets."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cfg = tmp_path / "long.toml"
    cfg.write_text(TINY.replace("[mimic]\ngenerations = 2", "[mimic]\ngenerations = 6"))
    argv = [sys.executable, "-c", SIGINT_AT_FIRST_CHECKPOINT, "evolve", str(cfg), "--out", str(out),
            *FLAGS[:2], *FLAGS[4:]]  # fmt: skip
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(_rows(out / "mimic" / "log.csv")) < 6 and not (out / "log.csv").exists()
    (hint,) = _hints(proc.stdout + proc.stderr)
    assert hint == f"continue with: snnctl evolve {cfg} --resume {out} --generations 3 --episode-s 4.0"
    assert (out / "best.snn").is_file()
    assert _run_hint(capsys, proc.stdout + proc.stderr) == 0
    assert len(_rows(out / "log.csv")) == 3 and len(_rows(out / "mimic" / "log.csv")) == 6


# -- the runner on its own ----------------------------------------------------------------------------


class ExportingLucky(LuckyOutlier):
    """LuckyOutlier (tests/test_selection.py) that writes its export, and stops at one generation."""

    def __init__(self, stop_at: int | None = None):
        self.stop_at = stop_at

    def evaluate(self, genomes, seeds_, generation):
        if generation == self.stop_at:
            raise KeyboardInterrupt
        return super().evaluate(genomes, seeds_, generation)

    def export_best(self, genome, out_dir):
        np.save(Path(out_dir) / "exported.npy", genome)


def test_runner_interrupt_exports_the_validation_best_not_the_lucky_outlier(tmp_path, capsys) -> None:
    s = EvolveSettings(algorithm="ga", generations=6, population=12, seed=3, backend="serial", validation_episodes=12)
    with pytest.raises(Interrupted) as info:
        evolve(ExportingLucky(stop_at=3), s, tmp_path, progress=False)
    assert (info.value.done, info.value.target) == (3, 6) and "validated" in info.value.exported
    exported = np.load(tmp_path / "exported.npy")
    sel = json.loads((tmp_path / "selection.json").read_text())
    means = {r["candidate"]: r["validation_cost_mean"] for r in sel["candidates"]}
    assert sel["episodes"] == 12 and len(means) > 2 and means[sel["chosen"]] == min(means.values())
    # independent truth: the exported genome's mean over the 12 validation episodes, by the validate hook itself
    truth = LuckyOutlier().validate(np.full((12, 1), exported[0]), np.arange(12)).mean()
    assert truth == pytest.approx(means[sel["chosen"]], abs=1e-12) and exported[0] != LUCKY
    np.testing.assert_array_equal(np.load(tmp_path / "best_genome.npy"), exported)
    err = capsys.readouterr().err
    assert "snnctl evolve" not in err  # the runner states what it kept; the one hint is the CLI's


def test_runner_interrupt_before_a_generation_exports_the_initial_genome(tmp_path) -> None:
    s = EvolveSettings(algorithm="ga", generations=4, population=8, seed=3, backend="serial")
    with pytest.raises(Interrupted) as info:
        evolve(ExportingLucky(stop_at=0), s, tmp_path, progress=False)
    assert info.value.done == 0 and "initial genome" in info.value.exported
    np.testing.assert_array_equal(np.load(tmp_path / "exported.npy"), LuckyOutlier.initial_genome)


class StopInValidation(ExportingLucky):
    def validate(self, genomes, episodes):
        raise KeyboardInterrupt


def test_runner_interrupt_during_selection_keeps_every_generation_and_resume_selects(tmp_path) -> None:
    s = EvolveSettings(algorithm="ga", generations=4, population=8, seed=3, backend="serial", validation_episodes=6)
    full = evolve(ExportingLucky(), s, tmp_path / "full", progress=False)
    with pytest.raises(Interrupted) as info:
        evolve(StopInValidation(), s, tmp_path / "cut", progress=False)
    assert (info.value.done, info.value.exported) == (4, None)
    assert not (tmp_path / "cut" / "exported.npy").exists()  # nothing half-chosen is exported
    resumed = evolve(ExportingLucky(), s, tmp_path / "cut", resume=True, progress=False)
    np.testing.assert_array_equal(resumed.best_genome, full.best_genome)
    np.testing.assert_array_equal(
        np.load(tmp_path / "cut" / "exported.npy"), np.load(tmp_path / "full" / "exported.npy")
    )


def test_process_workers_ignore_sigint(tmp_path) -> None:
    """Ctrl-C reaches the whole process group; the pool's workers must survive it (the main process
    decides), so the next evaluation still works and gives the same numbers."""
    from evolve.backends import ProcessBackend

    p = LuckyOutlier()
    genomes, seeds_ = np.linspace(0, 1, 6)[:, None], np.arange(6, dtype=np.uint64)
    with ProcessBackend(workers=2) as backend:
        first = backend.evaluate(p, genomes, seeds_, 0)
        pids = list(backend._pool._processes)
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        again = backend.evaluate(p, genomes, seeds_, 0)
        assert list(backend._pool._processes) == pids  # the same workers, alive
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, p.evaluate(genomes, seeds_, 0))


# -- one-line errors before any work ----------------------------------------------------------------


def test_out_that_cannot_be_a_run_folder_is_one_line(tiny_cfg, tmp_path, monkeypatch, capsys) -> None:
    import evolve.blimp_experiment as bx

    def no_work(*a, **k):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(bx, "record_pid_flights", no_work)
    a_file = tmp_path / "existing_file"
    a_file.write_text("x")
    cases = [(["--out", str(a_file)], "exists and is not a folder"),
             (["--out", str(a_file / "sub")], "cannot create the run folder"),
             (["--resume", str(tmp_path / "none")], "no such run folder"),
             (["--resume", str(tmp_path)], "not a run folder"),
             (["--resume", str(tmp_path), "--out", str(tmp_path / "elsewhere")], "give one of them"),
             (["--episode-steps", "10"], "--episode-steps does not apply to a blimp experiment"),
             (["--mimic-generations", "-1"], "mimic.generations")]  # fmt: skip
    if Path("/proc").is_dir():
        cases.append((["--out", "/proc/nope"], "cannot create the run folder"))
    for argv, needle in cases:
        assert cli.main(["evolve", tiny_cfg, *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("snnctl: error: ") and needle in err[0], (argv, err)


def test_swimmer_rejects_the_blimp_flags_and_takes_episode_steps(tmp_path, capsys) -> None:
    cfg = tmp_path / "swim.toml"
    cfg.write_text('[experiment]\nfamily = "swimmer"\n')
    assert cli.main(["evolve", str(cfg), "--mimic-generations", "3", "--out", str(tmp_path / "r")]) == 2
    assert "its options: --episode-steps" in capsys.readouterr().err
    from snnctl.cli import families

    args = cli.build_parser().parse_args(["evolve", str(cfg), "--episode-steps", "50"])
    mod = families.module_of("swimmer")
    assert families.evolve_overrides(args, "swimmer", mod) == {"train.episode_steps": 50}


def test_recording_the_pid_flights_shows_a_bar_on_a_terminal(monkeypatch) -> None:
    from evolve.blimp import record_pid_flights

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    kw = {"episode_s": 2.0, "profile": "steps"}
    for progress, shown in ((True, True), (False, False)):
        term = Terminal()
        monkeypatch.setattr(sys, "stderr", term)
        errors, commands = record_pid_flights(3, kw, seed=1, progress=progress)
        monkeypatch.undo()
        assert errors.shape == commands.shape == (3, 20)
        assert ("recording PID flights" in term.getvalue() and "/3" in term.getvalue()) == shown


def test_ray_error_names_the_ray_address_flag(monkeypatch) -> None:
    """Ray's own message names its CLI's `--address`; snnctl's flag is --ray-address."""
    import types

    from evolve.backends import BackendError, RayBackend

    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False

    def init(**kw):
        raise ConnectionError(
            "Could not find any running Ray instance. Please specify the one to connect to by setting "
            "`--address` flag or `RAY_ADDRESS` environment variable."
        )

    fake.init = init
    monkeypatch.setitem(sys.modules, "ray", fake)
    with pytest.raises(BackendError) as info:
        RayBackend(1, address="auto")
    msg = str(info.value)
    assert "--ray-address" in msg and "`--address`" not in msg and "'auto'" in msg


def test_ray_error_comes_before_any_work(tiny_cfg, tmp_path, monkeypatch, capsys) -> None:
    import types

    import evolve.blimp_experiment as bx

    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False

    def init(**kw):
        raise ConnectionError("Could not find any running Ray instance. Please specify ... `--address` flag ...")

    def no_work(*a, **k):
        raise AssertionError("work started before the backend was checked")

    fake.init = init
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(bx, "record_pid_flights", no_work)
    out = tmp_path / "run"
    assert cli.main(["evolve", tiny_cfg, "--backend", "ray", "--ray-address", "auto", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address" in err[0] and "`--address`" not in err[0], err
    assert not (out / "run.json").exists()  # the folder holds no run: the same command works once Ray is up


def test_a_run_refused_at_its_start_does_not_block_its_folder(tmp_path, monkeypatch, capsys) -> None:
    """A config error found by the family after run.json was written: fixed, the same command starts."""
    import evolve.swimmer_experiment as sx

    cfg, out = tmp_path / "swim.toml", tmp_path / "run"
    cfg.write_text('[experiment]\nfamily = "swimmer"\n[env]\nn_links = 4\n')
    assert cli.main(["evolve", str(cfg), "--out", str(out)]) == 2
    assert "Swimmer-v5 has 3 links" in capsys.readouterr().err
    assert not out.exists()  # the refused run's folder (it made it) is gone with it
    cfg.write_text('[experiment]\nfamily = "swimmer"\n')

    def started(*a, **k):
        raise KeyboardInterrupt  # the run got past the folder checks

    monkeypatch.setattr(sx, "evolve", started)
    assert cli.main(["evolve", str(cfg), "--out", str(out)]) == 130
    assert json.loads((out / "run.json").read_text())["config"]["env"]["n_links"] == 3
    capsys.readouterr()
    # stopped before its first checkpoint, the folder holds nothing to keep: the same command starts anew
    assert cli.main(["evolve", str(cfg), "--out", str(out)]) == 130
    assert "starting a new run" in capsys.readouterr().err


def test_hil_duration_sets_the_flight_length(tmp_path, capsys) -> None:
    from tests.optional_tools import require_board

    pytest.importorskip("serial")
    require_board("host")
    cfg = tmp_path / "blimp.toml"
    cfg.write_text('[experiment]\nfamily = "blimp"\n\n[run]\nepisode_s = 120.0\n')
    net = BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2)).decode(
        BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2)).initial_genome
    )
    net.control_period_s = 0.1
    snn = tmp_path / "net.snn"
    snnfile.save(net, snn)
    assert cli.main(["hil", str(cfg), "--controller", str(snn), "--board", "host", "--duration", "0"]) == 2
    assert "--duration must be a positive number" in capsys.readouterr().err
    assert cli.main(["hil", str(cfg), "--controller", str(snn), "--board", "host", "--duration", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 20  # 2 s at 10 Hz, not the config's 120 s


def test_interrupted_train_prints_the_same_command_line(tmp_path, monkeypatch, capsys) -> None:
    """`snnctl train` keeps no checkpoint: its hint is the command as given (every flag kept)."""
    import evolve.har_experiment as hx

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(hx, "train_main", interrupted)
    cfg = tmp_path / "har.toml"
    cfg.write_text('[experiment]\nfamily = "har"\n')
    argv = ["train", str(cfg), "--data", str(tmp_path / "my data"), "--seed", "5", "--out", str(tmp_path / "r")]
    assert cli.main([*argv, "--quiet"]) == 130
    (hint,) = [line for line in capsys.readouterr().err.splitlines() if "snnctl train" in line]
    again = shlex.split(hint.split(": ", 1)[1])
    assert vars(cli.build_parser().parse_args(again[1:])) == vars(cli.build_parser().parse_args([*argv, "--quiet"]))
