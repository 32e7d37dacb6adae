"""The on-board loop of a Linux edge board fed by a sensor/actuator plug-in (`snndev --plugin`,
docs/firmware-boards.md §6): the real program (host build, and the linux-aarch64 build under
qemu-aarch64), the sample plug-in (ports/host/plugins/sine_sensor.py) on real pipes.

The plug-in logs every answer it gave ("read P V..." / "read P none") and every `out` line it was
handed, so the device is held to the plug-in's own record, not to a timing guess:
- a fresh TELEMETRY frame of period P carries the plug-in's reply to `read P` converted by the
  Python reference of the `unit` section (snnctl/units.py); every frame obeys the §8 rules
  (held / fail-safe / recovery) and its outputs are numba's on the codes the board reports, and the
  STATS counters equal what the frames imply (the reference of tests/test_onboard_loop.py);
- the `out` lines are, in order, the reference's raw values of every board_outputs call: each
  stepped period's outputs and each fail-safe entry's fail codes;
- `none` for W >= K reads in a row engages the fail-safe; a reply stalled past the period's budget
  is not used (that frame is not fresh) and no new `read` is sent until it has arrived; a plug-in
  that exits is logged once and the loop goes on to the fail-safe.
Nothing depends on the machine's speed: a slow plug-in only turns more frames into held ones, which
the reference follows frame by frame.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.optional_tools import require_board

pytest.importorskip("serial")

from firmware_bridge.build import FIRMWARE_DIR  # noqa: E402
from firmware_bridge.device import Device  # noqa: E402
from firmware_bridge.emulators import start_emulator  # noqa: E402
from firmware_bridge.protocol import Telemetry  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.network import Network  # noqa: E402
from snnctl.units import ActuatorUnit, SensorUnit, derive, inputs_from_raw, outputs_to_raw  # noqa: E402
from tests.test_onboard_loop import check_frames, counters, delta  # noqa: E402

PLUGIN = FIRMWARE_DIR / "ports" / "host" / "plugins" / "sine_sensor.py"
BOARDS = ("host", "linux-aarch64", "linux-armhf")
PERIOD_US = 40_000  # the plug-in gets 20 ms to answer: a Python script on a busy machine mostly does
K = 3


def lidar_blimp(with_units: bool = True) -> Network:
    """The blimp net reading a lidar in millimetres (setpoint 1.5 m) and driving two motors whose
    raw command is clamped to -2000..2000 (0.005 output units a count)."""
    net = blimp_shaped_network(seed=5)
    net.fail_safe = np.array([1234, -4321])
    if with_units:
        sensors = [SensorUnit(-0.001, raw_zero=1500)]
        actuators = [ActuatorUnit(0.005, raw_min=-2000, raw_max=2000)] * 2
        net.units = derive(net.input_scale, [o.scale for o in net.outputs], sensors, actuators)
    net.validate()
    return net


def to_codes(net: Network, raw: list[int]) -> np.ndarray:
    if net.units is None:  # no `unit` section: raw values are codes (saturated to int16)
        return np.clip(np.asarray(raw, np.int64), -32768, 32767).astype(np.int16)
    return inputs_from_raw(net.units, net.input_zero, raw)


def to_raw(net: Network, codes: np.ndarray) -> list[int]:
    if net.units is None:
        return [int(c) for c in codes]
    return [int(v) for v in outputs_to_raw(net.units, [o.zero for o in net.outputs], codes)]


class PluginLog:
    """The plug-in's record: its replies by period (in order) and the `out` lines it was handed."""

    def __init__(self, path: Path) -> None:
        self.replies: list[tuple[int, list[int] | None]] = []
        self.outs: list[list[int]] = []
        for line in path.read_text().splitlines():
            words = line.split()
            if words[0] == "read":
                self.replies.append((int(words[1]), None if words[2] == "none" else [int(w) for w in words[2:]]))
            else:
                assert words[0] == "out", line
                self.outs.append([int(w) for w in words[1:]])


def fly(board: str, net: Network, log: Path, plugin_args: str, stop_when, stale_limit: int = K):
    """Deploy, START with telemetry every period, read frames until `stop_when(frames)`, STOP, and
    close the device (the plug-in then reads EOF and exits: its log is complete)."""
    cmd = f"{sys.executable} {PLUGIN} --inputs {net.n_inputs} --log {log} {plugin_args}"
    frames: list[Telemetry] = []
    with start_emulator(board, program_args=["--plugin", cmd]) as emu:
        with Device(emu.url, timeout=2.0, retries=3) as dev:
            dev.hello()
            dev.deploy(net)
            before = counters(dev)
            dev.start(PERIOD_US, telemetry_every=1, stale_limit=stale_limit)
            while not stop_when(frames):
                tm = dev.read_telemetry(10.0)
                assert tm is not None, "the running board sent no telemetry for 10 s"
                frames.append(tm)
                assert len(frames) <= 600, "the condition was never met"
            dev.stop()
            while (tm := dev.read_telemetry(0.3)) is not None:
                frames.append(tm)
            stats = delta(counters(dev), before)
        emu.close()
        output = emu.output()
    return frames, stats, PluginLog(log), output


def check_against_plugin(net: Network, frames: list[Telemetry], stats: dict, plog: PluginLog, stale_limit: int,
                         alive_until: float = float("inf")) -> dict:  # fmt: skip
    """The frames, the counters and the `out` lines against the plug-in's record (module docstring).
    A plug-in that exits after answering `read alive_until` reads the `out` lines before it only."""
    sent = {p: to_codes(net, raw) for p, raw in plog.replies if raw is not None}
    want = check_frames(net, frames, sent, stale_limit=stale_limit, key=lambda f: f.period)
    assert stats == want
    outs, failsafe = [], False
    for f in frames:  # every board_outputs call: a step, or the fail codes once at a fail-safe entry
        if (f.stepped or (f.failsafe and not failsafe)) and f.period < alive_until:
            outs.append(to_raw(net, f.outputs))
        failsafe = f.failsafe
    assert plog.outs == outs
    asked = [p for p, _ in plog.replies]
    assert asked == sorted(set(asked))  # one `read` a period at most, in period order
    return want


@pytest.mark.parametrize("board", BOARDS)
def test_plugin_samples_drive_the_loop_and_receive_the_outputs(board, tmp_path):
    require_board(board)
    net = lidar_blimp()
    # reads 31..36 answered `none` (W = 6 >= K), read 50 stalled 4 periods (past its 20 ms budget)
    args = f"--none-after 30 --none-for 6 --stall-at 50 --stall-ms {4 * PERIOD_US // 1000}"
    frames, stats, plog, _ = fly(board, net, tmp_path / "plugin.log", args,
                                 lambda fr: len(fr) >= 90 and sum(f.fresh for f in fr) >= 50)  # fmt: skip
    want = check_against_plugin(net, frames, stats, plog, stale_limit=K)
    assert want["failsafe_entries"] >= 1  # the six `none` replies in a row
    by_period = {f.period: f for f in frames}
    for p, raw in plog.replies[30:36]:
        assert raw is None and not by_period[p].fresh
    stalled, after = plog.replies[49][0], plog.replies[50][0]
    assert not by_period[stalled].fresh  # its reply came after the budget: unused
    assert after >= stalled + 4  # no second `read` while the stalled one was unanswered
    clamped = [v for out in plog.outs for v in out if abs(v) == 2000]
    assert len(clamped) < len(plog.outs)  # the outputs are not all at the actuator's limits


def test_without_a_unit_section_raw_values_are_codes(tmp_path):
    require_board("host")
    net = lidar_blimp(with_units=False)
    frames, stats, plog, _ = fly("host", net, tmp_path / "plugin.log", "--offset 0 --amplitude 600",
                                 lambda fr: sum(f.fresh for f in fr) >= 20)  # fmt: skip
    check_against_plugin(net, frames, stats, plog, stale_limit=K)
    assert plog.outs and all(len(o) == net.n_outputs for o in plog.outs)


def test_a_plugin_that_exits_is_logged_once_and_the_fail_safe_holds(tmp_path):
    require_board("host")
    net = lidar_blimp()
    frames, stats, plog, output = fly("host", net, tmp_path / "plugin.log", "--exit-after 10",
                                      lambda fr: sum(f.failsafe for f in fr) >= 10)  # fmt: skip
    last = plog.replies[-1][0]
    want = check_against_plugin(net, frames, stats, plog, stale_limit=K, alive_until=last)
    assert len(plog.replies) == 10 and want["failsafe_entries"] >= 1
    after = [f for f in frames if f.period > last]
    assert not any(f.fresh for f in after) and after[-1].failsafe  # held, then fail-safe for good
    said = [line for line in output.splitlines() if "plug-in" in line]
    assert said == ["snndev: the plug-in exited with status 3: no fresh samples from now on"]


def test_malformed_replies_are_no_fresh_sample_said_once(tmp_path):
    """A shell plug-in answering three values to a one-input network: never a fresh sample, the
    fail-safe after K periods, one line on stderr; its `out` lines still arrive."""
    require_board("host")
    net = lidar_blimp()
    outs = tmp_path / "outs"
    cmd = f"while read verb rest; do case $verb in read) echo 1 2 3;; out) echo $rest >> {outs};; esac; done"
    with start_emulator("host", program_args=["--plugin", cmd]) as emu:
        with Device(emu.url, timeout=2.0, retries=3) as dev:
            dev.hello()
            dev.deploy(net)
            dev.start(PERIOD_US, telemetry_every=1, stale_limit=K)
            frames = [dev.read_telemetry(10.0) for _ in range(2 * K + 2)]
            dev.stop()
            st = dev.stats()
        emu.close()
        output = emu.output()
    assert all(f is not None and not f.fresh for f in frames)
    assert st.failsafe_entries == 1 and st.missing_samples >= len(frames)
    said = [line for line in output.splitlines() if "plug-in" in line]
    want = (
        r'snndev: the plug-in\'s reply to "read \d+" \("1 2 3"\) is neither "none" nor the network\'s 1 input'
        r" value\(s\); such a reply counts as no fresh sample \(said once\)"
    )
    assert len(said) == 1 and re.fullmatch(want, said[0]), said
    fail = to_raw(net, np.asarray(net.fail_safe, np.int16))
    assert [[int(w) for w in line.split()] for line in outs.read_text().splitlines()][-1] == fail
