"""`snnctl device start / monitor / stop` on the host device: the CSV the monitor writes is the board's
own account of every period (checked frame by frame against the documented rule and numba, with the
samples a second connection fed it), the plot is readable, and misuse ends in one line."""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest

from tests.optional_tools import require_board
from tests.plot_checks import PNG, assert_labels_inside, assert_legends_off_the_axes, assert_unit

pytest.importorskip("serial")

from firmware_bridge.device import Device  # noqa: E402
from firmware_bridge.emulators import start_emulator  # noqa: E402
from firmware_bridge.protocol import Telemetry  # noqa: E402
from firmware_bridge.telemetry import FLAG_COLUMNS, TelemetryLog  # noqa: E402
from snnctl import cli, snnfile  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from tests.test_onboard_loop import check_frames  # noqa: E402

FLAG_BITS = {"fresh": 0x01, "failsafe": 0x02, "late": 0x04, "stepped": 0x08}


@pytest.fixture(scope="module")
def host():
    require_board("host")
    with start_emulator("host") as e:
        yield e


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    net = blimp_shaped_network(seed=5)
    net.fail_safe = np.array([1234, -4321])
    net.control_period_s = 0.02
    path = tmp_path_factory.mktemp("net") / "blimp.snn"
    snnfile.save(net, path)
    return net, path


def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _frames_from_csv(path) -> list[Telemetry]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    frames = []
    for r in rows:
        flags = sum(bit for name, bit in FLAG_BITS.items() if r[name] == "1")
        ins = np.array([int(r[k]) for k in r if k.startswith("in")], np.int16)
        outs = np.array([int(r[k]) for k in r if k.startswith("out")], np.int16)
        frames.append(Telemetry(int(r["period"]), flags, int(r["sample_seq"]), int(r["spikes"]),
                                int(r["step_ticks"]), ins, outs))  # fmt: skip
    return frames


def test_start_monitor_stop_records_every_period(host, net_file, tmp_path, capsys):
    net, path = net_file
    code, out, err = _main(["deploy", str(path), "--port", host.url, "--quiet"], capsys)
    assert code == 0, err
    sent: dict[int, np.ndarray] = {}
    stop = threading.Event()

    def feed() -> None:  # the plant: a second connection that only writes SENSOR frames
        rng = np.random.default_rng(1)
        with Device(host.url) as d:
            stop.wait(1.0)  # silent at first: the board engages its fail-safe (and resets the network)
            while not stop.wait(0.007):
                codes = rng.integers(-700, 700, 1).astype(np.int16)
                sent[d.send_sensor(codes)] = codes

    code, out, err = _main(["device", "start", "--port", host.url, "--every", "1", "--stale-limit", "3"], capsys)
    assert code == 0, err
    assert "period 20 ms" in out and "telemetry every 1 period" in out and "after 3 periods" in out
    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        csv_path, png = tmp_path / "run.csv", tmp_path / "run.png"
        code, out, err = _main(["device", "monitor", "--port", host.url, "--csv", str(csv_path), "--plot", str(png),
                                "--duration", "2.0"], capsys)  # fmt: skip
        assert code == 0, err
    finally:
        stop.set()
        feeder.join()
    code, stop_out, err = _main(["device", "stop", "--port", host.url], capsys)
    assert code == 0, err
    frames = _frames_from_csv(csv_path)
    # opening a port flushes what waited on it, so the first frames may be missing: the check starts
    # at the first sample after the fail-safe of the silent start, where the board's network was reset
    first = next(i for i, f in enumerate(frames) if f.fresh)
    assert first > 0 and frames[first - 1].failsafe
    check_frames(net, frames[first:], sent, stale_limit=3, after_period=frames[first - 1].period)
    assert all(b.period > a.period for a, b in zip(frames, frames[1:], strict=False))
    assert f"{len(frames)} telemetry frames" in out
    assert png.read_bytes().startswith(PNG)
    assert "back to host-stepped mode" in stop_out and "missed deadlines" in stop_out
    code, info_out, err = _main(["device", "info", "--port", host.url], capsys)
    assert code == 0 and "on board: " in info_out and "running on board" not in info_out, err


def test_monitor_and_start_refuse_in_one_line(host, capsys):
    net = blimp_shaped_network(seed=5)  # records no control period
    with Device(host.url) as d:
        d.deploy(net)
    code, _, err = _main(["device", "start", "--port", host.url], capsys)
    assert code != 0 and "--period-us" in err and err.count("\n") == 1
    code, _, err = _main(["device", "monitor", "--port", host.url, "--duration", "0.2"], capsys)
    assert code != 0 and "does not run on board" in err and "snnctl device start" in err and err.count("\n") == 1
    code, _, err = _main(["device", "start", "--port", host.url, "--every", "-1"], capsys)
    assert code != 0 and "--every" in err and err.count("\n") == 1


def test_monitor_figure_is_readable():
    rng = np.random.default_rng(0)
    log = TelemetryLog(period_us=100_000, tick_hz=12_500_000)
    for k in range(1, 41):
        flags = 0x02 if 20 <= k < 26 else 0x09  # a fail-safe stretch, else fresh + stepped
        log.add(Telemetry(k, flags, k, 3, 0 if flags == 0x02 else 29_000, rng.integers(-99, 99, 1).astype(np.int16),
                          rng.integers(-99, 99, 2).astype(np.int16)), now=k * 0.1)  # fmt: skip
    fig = log.figure()
    assert assert_legends_off_the_axes(fig) == 2
    assert_labels_inside(fig)
    for ax in fig.axes:
        assert_unit(ax.get_ylabel())
    s = log.summary()
    assert (s["frames"], s["failsafe_frames"], s["max_step_us"]) == (40, 6, 2320.0)  # 29000 ticks / 12.5 MHz
    assert FLAG_COLUMNS == ("fresh", "stepped", "failsafe", "late")
