"""`snnctl firmware build|emulate --network` and the refusal of uploads to a device that runs a network
compiled into its image, through the CLI, on the host board (a POSIX process: fast) and the
atmega328p's build. The AVR image itself is checked under simavr in tests/test_avr_flash_network.py.
"""

from __future__ import annotations

import json
import re

import pytest

from firmware_bridge import boards, budgets, build
from snnctl import cli
from snnctl.models import blimp_shaped_network
from snnctl.snnfile import save, to_bytes
from tests.optional_tools import require_board

pytest.importorskip("serial")


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("nets")
    return save(blimp_shaped_network(n_enc=4, n_hidden=4), d / "n18.snn"), save(
        blimp_shaped_network(3), d / "other.snn"
    )


def test_deploy_to_a_flash_network_device_is_refused_in_one_line(nets, capsys):
    from firmware_bridge.emulators import start_emulator

    require_board("host")
    built_in, other = nets
    with start_emulator("host", network=built_in) as emu:
        assert cli.main(["device", "info", "--port", emu.url]) == 0
        info = capsys.readouterr().out
        assert cli.main(["deploy", str(other), "--port", emu.url, "--quiet"]) != 0
        err = capsys.readouterr().err.strip()
    assert "18 neurons" in info and "network_in_flash" in info, info
    assert len(err.splitlines()) == 1, err
    assert err.endswith(
        f"build the network into the image instead: snnctl firmware build --board host --network {other}"
    )


def test_firmware_build_with_a_network_prints_sizes_and_the_budgets(nets, capsys):
    require_board("atmega328p")
    built_in, _ = nets
    assert cli.main(["firmware", "build", "--board", "atmega328p", "--network", str(built_in), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sizes = build.firmware_size(build.build_avr_firmware("atmega328p", network=to_bytes(blimp_shaped_network(
        n_enc=4, n_hidden=4))))  # fmt: skip
    assert {k: out[k] for k in sizes} == sizes  # the same image as the library call builds
    assert [b["board"] for b in out["budgets"]] == [b.board for b in budgets.for_image(boards.get("atmega328p"))]
    assert cli.main(["firmware", "build", "--board", "atmega328p", "--network", str(built_in)]) == 0
    text = capsys.readouterr().out
    assert f"network {built_in} compiled into flash" in text
    assert re.search(rf"Arduino Uno \(Optiboot, 512 B bootloader\): flash {sizes['flash']:,} of 32,256 B", text), text


def test_an_invalid_network_is_refused_before_compiling(tmp_path, capsys):
    bad = tmp_path / "bad.snn"
    bad.write_bytes(b"SNNC" + bytes(40))
    assert cli.main(["firmware", "build", "--board", "atmega328p", "--network", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a valid .snn file" in err, err


def test_deploying_the_built_in_network_itself_sends_nothing(nets, capsys):
    """The network a device has compiled in is already deployed: `snnctl deploy` and Device.deploy
    (which the HIL and on-board backends call) return without an upload instead of refusing."""
    from firmware_bridge.device import Device
    from firmware_bridge.emulators import start_emulator

    require_board("host")
    built_in, _ = nets
    with start_emulator("host", network=built_in) as emu:
        assert cli.main(["deploy", str(built_in), "--port", emu.url, "--quiet"]) == 0
        with Device(emu.url) as d:
            d.hello()
            ni = d.deploy(built_in)
            assert d.stats().rx_bytes < 200  # HELLO, NETINFO, STATS: no upload chunk was sent
    assert "is the network compiled into host-virtual" in capsys.readouterr().out
    assert ni.loaded and ni.n_neurons == 18


def test_a_controller_too_large_for_the_upload_slots_is_built_in(nets):
    """`snnctl hil --board B` compiles the controller into the image when B's slots cannot hold it."""
    from firmware_bridge import flash_network
    from tests.test_atmega328p_port import micro_blimp

    big, _ = nets
    net18, blob18 = flash_network.read_network(big)
    micro = micro_blimp()
    avr, arm = boards.get("atmega328p"), boards.get("lm3s6965evb")
    assert flash_network.fits_upload(micro, len(to_bytes(micro)), avr)  # 208 B blob, 220 + 3 B arena
    assert not flash_network.fits_upload(net18, len(blob18), avr)  # blob 692 B > 208 B
    assert flash_network.fits_upload(net18, len(blob18), arm)


def test_firmware_build_with_a_built_in_start(nets, capsys):
    """`--start PERIOD_MS [--every N] [--stale-limit K]` builds the same image as the library call with
    flash_network.Autostart (the running image itself: tests/test_flash_network_persist.py)."""
    from firmware_bridge.flash_network import Autostart, BuiltIn

    require_board("host")
    built_in, _ = nets
    argv = ["firmware", "build", "--board", "host", "--network", str(built_in), "--start", "20"]
    assert cli.main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["start"] == {"period_ms": 20, "telemetry_every": 0, "stale_limit": 3}  # device start's defaults
    assert out["path"] == str(build.build_host_device(network=BuiltIn(str(built_in), Autostart(20, 0, 3))))
    assert out["path"] != str(build.build_host_device(network=str(built_in)))
    assert cli.main([*argv, "--every", "5", "--stale-limit", "0"]) == 0
    text = capsys.readouterr().out
    assert "boots in the on-board loop: period 20 ms, telemetry every 5 periods" in text
    assert "fail-safe after 0 periods without a sample (0: never)" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--start", "20"], "--start builds START into an image with a compiled-in network: give --network NET.snn"),
        (["--every", "1"], "--every and --stale-limit set the built-in START: give --start PERIOD_MS too"),
        (["--network", "{net}", "--start", "0"], "--start takes a period of 1..65535 ms, got 0"),
        (
            ["--network", "{net}", "--start", "20", "--stale-limit", "70000"],
            "--stale-limit must be 0..65535, got 70000",
        ),
    ],
    ids=["no-network", "no-start", "zero-period", "stale-range"],
)
def test_a_bad_built_in_start_is_one_line(nets, capsys, extra, message):
    argv = ["firmware", "build", "--board", "atmega328p", *(a.format(net=nets[0]) for a in extra)]
    assert cli.main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(message), err


def test_telemetry_that_the_avr_frame_cannot_carry_is_refused_before_compiling(tmp_path, capsys):
    """The atmega328p's TELEMETRY carries 4 codes (ports/atmega328p/snn_port_config.h): a network with
    3 inputs and 2 outputs can start with telemetry off, not on."""
    import numpy as np

    from snnctl.network import INPUT, Kind, Network, Output, Population, Projection

    li = Population(Kind.LI, 2, du=4096, dv=256)
    net = Network(3, [li], [Projection(INPUT, 0, np.ones((3, 2), np.int64), exponent=0)], [Output(0, 0), Output(0, 1)])
    wide = save(net, tmp_path / "wide.snn")
    argv = ["firmware", "build", "--board", "atmega328p", "--network", str(wide), "--start", "20", "--every", "1"]
    assert cli.main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.endswith("atmega328p telemetry carries 4 codes, the network has 3 inputs and 2 outputs: build with"
                        " --every 0"), err  # fmt: skip
