"""`snnctl hil --onboard`: the blimp flies in MuJoCo while the board runs its network from its own timer
(docs/protocol.md §8), on the host port and the lm3s6965evb under QEMU.

Independent truth: the same held-out flight flown in-process (`IntegerSNNBackend`, numba) — when no
sample missed a period boundary, the board's flight is the in-process flight, action for action;
whatever the timing, every period the board stepped equals numba on the codes it reports. Cutting
the sensor channel must show up in the board's own counters exactly as the samples withheld and
the periods held, with one fail-safe entry and the flight flying on after. Nothing asserts a speed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.optional_tools import require_board

pytest.importorskip("serial")

from snnctl import cli, snnfile  # noqa: E402
from tests.test_hil import blimp_net  # noqa: E402

BOARDS = ("host", "lm3s6965evb")
CONFIG = "configs/blimp_pid.toml"
SECONDS = 3.0  # 30 periods at 10 Hz


@pytest.fixture(scope="module")
def net_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "blimp.snn"
    snnfile.save(blimp_net(3), path)
    return str(path)


def _hil(argv: list[str], capsys) -> dict:
    code = cli.main(["hil", CONFIG, *argv, "--duration", str(SECONDS), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _in_process(net_path: str) -> tuple[dict, np.ndarray]:
    from evolve.blimp_experiment import env_kwargs
    from sim.blimp import BlimpAltitudeEnv
    from sim.loop import run_heldout
    from snnctl.cli import families
    from snnctl.controllers.loop_backends import IntegerSNNBackend

    _, cfg = families.load(CONFIG, {"run.episode_s": SECONDS})
    env = BlimpAltitudeEnv(**env_kwargs(cfg, SECONDS, cfg["run"]["profile"]))
    try:
        (res,) = run_heldout(env, IntegerSNNBackend(snnfile.load(net_path), env.dt), "fixed")
    finally:
        env.close()
    return res.summary(), res.column("action")


@pytest.mark.parametrize("board", BOARDS)
def test_onboard_flight_is_the_in_process_flight(board, net_path, capsys):
    require_board(board)
    r = _hil(["--controller", net_path, "--board", board, "--onboard", "--compare"], capsys)
    ob, dev = r["onboard"], r["onboard"]["device"]
    assert r["compare"]["identical"] and r["compare"]["steps"] == dev["steps"]
    assert r["steps"] == r["controller_calls"] == 30 and r["answers"]["none"] == 0
    # every period the board ran is reported; each without a fresh sample is a held period (a late
    # sample) or one after the flight's last sample
    assert ob["frames"] == dev["run_periods"]
    assert dev["missing_samples"] == ob["held_periods"] + ob["tail_periods"]
    assert dev["sensor_samples"] == 30
    if ob["held_periods"] + ob["tail_periods"] < 3:  # no fail-safe possible: every period stepped
        assert dev["failsafe_entries"] == 0 and dev["steps"] == dev["run_periods"]
    want, _ = _in_process(net_path)
    if ob["late_samples"] == 0 and dev["missed_deadlines"] == 0:
        # each period used the sample sent for it: the lock-step flight exactly
        for key in ("rmse_m", "steady_state_error_m", "control_effort"):
            assert r["flights"][0][key] == want[key], key


def test_sensor_cut_engages_the_fail_safe_and_the_flight_resumes(net_path, capsys):
    require_board("host")
    r = _hil(["--controller", net_path, "--board", "host", "--onboard", "--compare", "--sensor-cut", "1:1",
              "--stale-limit", "3"], capsys)  # fmt: skip
    ob, dev = r["onboard"], r["onboard"]["device"]
    assert ob["withheld_samples"] == 10  # 1 s at 10 Hz
    assert dev["sensor_samples"] == 20
    assert dev["missing_samples"] == ob["withheld_samples"] + ob["held_periods"] + ob["tail_periods"]
    assert dev["failsafe_entries"] >= 1  # 10 silent periods > K = 3
    assert r["compare"]["identical"]
    assert dev["steps"] < dev["run_periods"]  # the fail-safe periods did not step


def test_onboard_refuses_what_does_not_apply(net_path, capsys):
    for extra, words in ((["--onboard", "--faults", "unplug@1:1"], "--sensor-cut"),
                         (["--sensor-cut", "1:1"], "add --onboard"), (["--telemetry", "t.csv"], "add --onboard"),
                         (["--onboard", "--stale-limit", "70000"], "--stale-limit")):  # fmt: skip
        code = cli.main(["hil", CONFIG, "--controller", net_path, "--board", "host", *extra])
        err = capsys.readouterr().err
        assert code != 0 and words in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):  # argparse: usage and the error line
        cli.main(["hil", CONFIG, "--controller", net_path, "--board", "host", "--onboard", "--sensor-cut", "1"])
    assert "expected START:DURATION in seconds" in capsys.readouterr().err
