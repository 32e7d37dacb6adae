"""`snnctl device list` and `snnctl device run --reset` against the emulated boards.

`device list` is fed the ports pyserial enumerates (monkeypatched to the emulators' ptys, since
pyserial does not enumerate ptys) plus a `--port` URL, and must name the board each answers as:
the name HELLO carries (= the board table's `device_name`), independent of anything the command
was told. A pty nobody serves must be listed as not answering. `device run --reset` must give
exactly the outputs of an in-process run from reset (`snnctl.run`), a second run without it must not.
"""

from __future__ import annotations

import json
import os
import tty

import numpy as np
import pytest

from tests.optional_tools import require_board

pytest.importorskip("serial")

from serial.tools import list_ports, list_ports_common  # noqa: E402

from firmware_bridge import boards  # noqa: E402
from firmware_bridge.emulators import start_emulator  # noqa: E402
from snnctl import cli, snnfile  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.runtime import run  # noqa: E402


@pytest.fixture(scope="module")
def host():
    require_board("host")
    with start_emulator("host") as emu:
        yield emu


@pytest.fixture
def silent_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_device_list_names_the_board_that_answers(host, silent_pty, monkeypatch, capsys):
    require_board("atmega328p")
    ports = [list_ports_common.ListPortInfo(host.url), list_ports_common.ListPortInfo(silent_pty)]
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: ports)
    with start_emulator("atmega328p") as avr:
        code, out, _ = _main(["device", "list", "--port", avr.url, "--timeout", "5", "--json"], capsys)
    assert code == 0
    got = {e["device"]: e for e in json.loads(out)}
    assert set(got) == {host.url, silent_pty, avr.url}
    assert got[host.url]["board"] == boards.get("host").device_name and got[host.url]["board_table"] == "host"
    assert got[avr.url]["board"] == boards.get("atmega328p").device_name == got[avr.url]["board_table"]
    assert got[avr.url]["network"] == "none" and got[avr.url]["protocol"] == 2
    assert got[silent_pty]["board"] is None and "no snnctl firmware answered" in got[silent_pty]["error"]


def test_device_list_table_and_no_probe(host, silent_pty, monkeypatch, capsys):
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [list_ports_common.ListPortInfo(silent_pty)])
    code, out, _ = _main(["device", "list", "--port", host.url, "--timeout", "5"], capsys)
    assert code == 0
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines[host.url].startswith("host-virtual [host], firmware ")
    assert lines[silent_pty].startswith("no snnctl firmware answered within 5 s")
    code, out, _ = _main(["device", "list", "--no-probe", "--json"], capsys)
    assert code == 0 and [e["device"] for e in json.loads(out)] == [silent_pty]
    assert json.loads(out)[0]["probed"] is False
    code, _, err = _main(["device", "list", "--timeout", "0"], capsys)
    assert code == 2 and err.strip() == "snnctl: error: --timeout must be positive, got 0.0"


def test_device_run_reset_starts_from_reset_state(host, tmp_path, capsys):
    net = blimp_shaped_network(seed=5)
    path = tmp_path / "net.snn"
    snnfile.save(net, path)
    codes = np.random.default_rng(1).integers(-700, 700, (300, 1)).astype(np.int16)
    np.save(tmp_path / "codes.npy", codes)
    ref = run(net, codes)
    assert _main(["deploy", str(path), "--port", host.url, "--quiet"], capsys)[0] == 0
    base = ["device", "run", "--port", host.url, "--inputs", str(tmp_path / "codes.npy")]
    assert _main([*base, "--outputs", str(tmp_path / "a.npy")], capsys)[0] == 0  # fresh after deploy
    assert _main([*base, "--outputs", str(tmp_path / "b.npy")], capsys)[0] == 0  # goes on from there
    code, out, _ = _main([*base, "--outputs", str(tmp_path / "c.npy"), "--reset", "--json"], capsys)
    assert code == 0 and json.loads(out)["reset"] is True
    a, b, c = (np.load(tmp_path / f"{k}.npy") for k in "abc")
    np.testing.assert_array_equal(a, ref)
    assert not np.array_equal(b, ref)  # without --reset the state carried over
    np.testing.assert_array_equal(c, ref)
