"""Controllers know their time step (issue 11, part 5).

A `.snn` records the control period it was made for, and a loop of another period refuses it unless
forced; the PID is built with the env's actual period, never a silent 10-Hz default.
"""

from __future__ import annotations

import numpy as np
import pytest

from snnctl import cli, snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.snn import ControlPeriodError, SNNController, check_control_period

SPEC = BlimpSNNSpec(pd_pairs=2, i_pairs=2)

# a blimp experiment whose control loop runs at 5 Hz (dt = 0.2 s), one short held-out flight
FIVE_HZ = """\
[experiment]
family = "blimp"

[env]
control_rate_hz = 5.0
sensor_rate_hz = 5.0

[network]
pd_pairs = 2
i_pairs = 2

[run]
episodes = 1
episode_s = 10.0
"""


def _net(period: float | None):
    codec = BlimpSNNCodec(SPEC)
    net = codec.decode(codec.initial_genome)
    net.control_period_s = period
    return net


@pytest.fixture(scope="module")
def ten_hz_file(tmp_path_factory) -> str:
    return str(snnfile.save(_net(0.1), tmp_path_factory.mktemp("nets") / "ten_hz.snn"))


@pytest.fixture(scope="module")
def five_hz_cfg(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "five_hz.toml"
    path.write_text(FIVE_HZ)
    return str(path)


# -- SNNController -------------------------------------------------------------------------------


def test_controller_refuses_another_rate_with_an_actionable_message() -> None:
    with pytest.raises(ControlPeriodError) as e:
        SNNController(_net(0.1), dt=0.2, label="best.snn")
    msg = str(e.value)
    assert "best.snn" in msg and "0.1 s (10 Hz)" in msg and "0.2 s (5 Hz)" in msg and "--force-rate" in msg
    assert isinstance(e.value, ValueError) and "\n" not in msg


def test_controller_accepts_its_own_rate_forced_or_unknown_periods() -> None:
    SNNController(_net(0.1), dt=0.1)
    SNNController(_net(0.1), dt=0.1 * (1 + 5e-7))  # within 1 ppm
    SNNController(_net(1 / 3), dt=round(1e6 / 3) / 1e6)  # the file's whole microseconds
    assert SNNController(_net(0.1), dt=0.2, force=True).dt == 0.2
    assert SNNController(_net(None), dt=0.2).dt == 0.2  # an old file: nothing to check
    assert SNNController(_net(0.1)).dt == 0.1  # no loop period given: nothing to check
    with pytest.raises(ControlPeriodError):
        check_control_period(_net(0.1), 0.1 + 2e-6)


def test_load_checks_the_file_and_names_it(ten_hz_file) -> None:
    with pytest.raises(ControlPeriodError, match="ten_hz.snn"):
        SNNController.load(ten_hz_file, dt=0.2)
    assert SNNController.load(ten_hz_file, dt=0.1).net.control_period_s == 0.1


def test_in_process_loop_backends_check_the_rate(ten_hz_file) -> None:
    from snnctl.controllers.factory import load_backend
    from snnctl.controllers.loop_backends import FloatReferenceBackend, IntegerSNNBackend, PIDBackend

    for spec in (ten_hz_file, f"float:{ten_hz_file}"):
        with pytest.raises(ControlPeriodError, match="ten_hz.snn"):
            load_backend(spec, 0.2)
    assert isinstance(load_backend(ten_hz_file, 0.2, force=True), IntegerSNNBackend)
    assert isinstance(load_backend(f"float:{ten_hz_file}", 0.1), FloatReferenceBackend)
    pid = load_backend("pid", 0.2)
    assert isinstance(pid, PIDBackend) and pid.pid.dt == 0.2


# -- the PID is built for the env's period ---------------------------------------------------------


def test_run_builds_the_pid_for_the_configs_control_period(five_hz_cfg, monkeypatch) -> None:
    """`snnctl run` at 5 Hz: the PID has dt = 0.2 s, and the held-out flight flies that PID."""
    from evolve import blimp_experiment as bx
    from snnctl.cli import families
    from snnctl.controllers.pid import PID

    _, cfg = families.load(five_hz_cfg)
    assert bx.load_controller("pid", 0.2).dt == 0.2
    built: list[PID] = []
    original = bx.load_controller

    def spy(spec, dt, force=False, **kw):
        ctl = original(spec, dt, force=force, **kw)
        built.append(ctl)
        return ctl

    monkeypatch.setattr(bx, "load_controller", spy)
    metrics, _ = bx.fly_heldout(cfg, "pid", episodes=1)
    assert len(built) == 1 and isinstance(built[0], PID) and built[0].dt == pytest.approx(0.2)
    assert np.isfinite(metrics["rmse_m"])


# -- the CLI: refused as one line, accepted with --force-rate ----------------------------------------


def _one_line_error(capsys, *needles: str) -> None:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnctl: error: "), cap.err
    assert "Traceback" not in cap.err
    for n in needles:
        assert n in lines[0], lines[0]


def test_run_refuses_a_10hz_network_at_5hz_unless_forced(five_hz_cfg, ten_hz_file, capsys) -> None:
    assert cli.main(["run", five_hz_cfg, "--controller", ten_hz_file]) == 2
    _one_line_error(capsys, "ten_hz.snn", "0.1 s (10 Hz)", "0.2 s (5 Hz)", "--force-rate")
    assert cli.main(["run", five_hz_cfg, "--controller", ten_hz_file, "--sensing", "fixed"]) == 2
    _one_line_error(capsys, "ten_hz.snn", "--force-rate")
    assert cli.main(["run", five_hz_cfg, "--controller", ten_hz_file, "--force-rate", "--json"]) == 0
    assert "rmse_m" in capsys.readouterr().out


def test_hil_refuses_a_10hz_network_at_5hz_before_starting_a_board(five_hz_cfg, ten_hz_file, capsys) -> None:
    assert cli.main(["hil", five_hz_cfg, "--controller", ten_hz_file, "--board", "host"]) == 2
    _one_line_error(capsys, "ten_hz.snn", "0.2 s (5 Hz)", "--force-rate")


# -- exports record the period they were scored at ---------------------------------------------------


def test_blimp_closed_loop_export_records_the_envs_period(tmp_path) -> None:
    from evolve.blimp import ClosedLoopProblem

    problem = ClosedLoopProblem(SPEC, {"episode_s": 5.0, "control_rate_hz": 5.0}, 1)
    problem.export_best(problem.initial_genome, tmp_path)
    assert snnfile.load(tmp_path / "best.snn").control_period_s == 0.2


def test_swimmer_ncap_export_records_the_envs_period_and_load_checks_it(tmp_path) -> None:
    pytest.importorskip("gymnasium")
    from evolve.swimmer import SwimmerProblem, load_controller

    problem = SwimmerProblem("ncap", {"neurons_per_unit": 2})
    path = problem.export_best(problem.initial_genome, tmp_path)
    assert snnfile.load(path).control_period_s == pytest.approx(0.04)
    assert load_controller(path, 3, dt=0.04).net.control_period_s == pytest.approx(0.04)
    with pytest.raises(ControlPeriodError, match="best.snn"):
        load_controller(path, 3, dt=0.02)
    assert load_controller(path, 3, dt=0.02, force_rate=True) is not None
