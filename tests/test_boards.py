"""The board table (`firmware_bridge.boards`): what the ports compile in, what every command accepts.

- The table's limits and names equal the port headers (`ports/<board>/snn_port_config.h`); what the
  running firmware reports in HELLO is checked against the table in tests/test_device.py (host,
  lm3s6965evb), tests/test_atmega328p_port.py and, through `snnctl firmware emulate`, here.
- Every `--board` option takes exactly the boards whose capability it needs; another board of the
  table is refused in one line that says why.
- `snnctl firmware build` and `snnctl firmware emulate` work for every board of the table.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge import bench_firmware, boards, build, emulators
from snnctl import cli
from tests.optional_tools import require_board, skip_unless_ci

# capability -> argv of the command up to --board (hil's files are only parsed, never read here)
COMMANDS = {
    "build": ["firmware", "build"],
    "emulate": ["firmware", "emulate"],
    "hil": ["hil", "configs/blimp_pid.toml", "--controller", "best.snn"],
    "bench-loop": ["bench", "loop"],
    "flash": ["firmware", "flash"],
}
CASES = [(cap, b) for cap in COMMANDS for b in boards.BOARDS]


def test_table_is_consistent():
    assert boards.names() == ("host", "lm3s6965evb", "atmega328p", "atmega2560", "linux-aarch64", "linux-armhf")
    assert len({b.name for b in boards.BOARDS}) == len(boards.BOARDS)
    assert len({b.device_name for b in boards.BOARDS}) == len(boards.BOARDS)
    for b in boards.BOARDS:
        port = build.PORTS_DIR / b.port
        assert (port / "snn_port_config.h").is_file(), b.name
        if b.linker_script:
            assert (port / b.linker_script).is_file()
        assert b.emulator in ("process", "qemu", "simavr", "qemu-user")
        assert b.toolchain in ("cc", "arm-none-eabi", "avr", "linux")
        assert (b.qemu_machine is not None) == (b.emulator == "qemu")
        assert (b.qemu_user is not None) == (b.emulator == "qemu-user") == (b.toolchain == "linux")
        assert (b.ram_bytes is None) == (b.flash_bytes is None) == b.is_program
        # only Linux programs (ports/host) and AVR chips (ports/atmega328p) share a port
        assert (b.port_dir is None) or b.is_program or b.toolchain == "avr"
        assert 0 < 2 * (b.max_blob_bytes + b.arena_bytes) < (b.ram_bytes or 2**40)  # two upload slots fit
        assert 64 <= b.max_payload <= 1024 and 0 < len(b.device_name) <= 24
        for cap, why in b.unsupported:
            assert cap in boards.CAPABILITIES and why and "\n" not in why
        assert boards.by_device_name(b.device_name) is b and boards.get(b.name) is b
    assert boards.by_device_name("arduino") is None
    known = "host, lm3s6965evb, atmega328p, atmega2560, linux-"
    with pytest.raises(boards.BoardError, match=f"unknown board .nope. .known: {known}"):
        boards.get("nope")
    with pytest.raises(ValueError, match="no board capability"):
        boards.get("host").can("fly")


def _port_macros(board: boards.Board) -> dict[str, str]:
    """The port header's macros, overridden by the board's -D defines (a shared port names each board)."""
    text = (build.PORTS_DIR / board.port / "snn_port_config.h").read_text()
    return {**dict(re.findall(r"#define (SNN_DEV_\w+|F_CPU|BOARD_SYSCLK_HZ) ([^\n/]+)", text)), **dict(board.defines)}


def _number(value: str, macros: dict[str, str]) -> int:
    value = value.strip()
    if value in macros:
        return _number(macros[value], macros)
    return int(re.fullmatch(r"(\d+)[uUlL]*", value).group(1))


@pytest.mark.parametrize("board", boards.BOARDS, ids=lambda b: b.name)
def test_table_limits_equal_the_port_header(board):
    m = _port_macros(board)
    assert m["SNN_DEV_BOARD_NAME"].strip() == f'"{board.device_name}"'
    got = {key: _number(m[macro], m) for key, macro in [
        ("max_payload", "SNN_DEV_MAX_PAYLOAD"), ("max_blob_bytes", "SNN_DEV_MAX_BLOB"),
        ("arena_bytes", "SNN_DEV_ARENA_BYTES"), ("max_neurons", "SNN_DEV_MAX_NEURONS"),
        ("max_synapses", "SNN_DEV_MAX_SYNAPSES"), ("tick_hz", "SNN_DEV_TICK_HZ")]}  # fmt: skip
    assert got == {key: getattr(board, key) for key in got}
    header = _port_macros(boards.Board(**{**board.__dict__, "defines": ()}))
    shared = board.port != board.name  # another chip's port (atmega2560): its -D limits replace the defaults
    for name, value in board.defines:  # e.g. F_CPU: the build's -D agrees with the header's default
        if name in header and name != "SNN_DEV_BOARD_NAME" and not (shared and name.startswith("SNN_DEV_")):
            assert _number(value, m) == _number(header[name], m)


def hello_limits(x) -> dict:
    """The limits of a HELLO `Info` (or of a `Board`, as HELLO would report them)."""
    keys = ("max_payload", "max_blob_bytes", "arena_bytes", "max_neurons", "max_synapses", "tick_hz")
    name = x.device_name if isinstance(x, boards.Board) else x.name
    return {"name": name, **{k: getattr(x, k) for k in keys}}


@pytest.mark.parametrize(("capability", "board"), CASES, ids=[f"{c}-{b.name}" for c, b in CASES])
def test_every_board_option_takes_its_boards_and_refuses_the_others_saying_why(capability, board, capsys):
    parser = cli.build_parser()
    argv = [*COMMANDS[capability], "--board", board.name]
    if board.can(capability):
        assert parser.parse_args(argv).board == board.name
        return
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"snnctl {' '.join(COMMANDS[capability][:2])}: error: argument --board: ")
    assert f"cannot use {board.name}: {board.why_not(capability)}" in last


def test_board_choices_come_from_the_table(capsys):
    for capability, argv in COMMANDS.items():
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args([*argv, "--board", "nope"])
        err = capsys.readouterr().err
        assert "invalid choice: 'nope' (choose from " + ", ".join(f"'{n}'" for n in boards.names(capability)) in err
    assert set(bench_firmware.BOARDS) == set(boards.names("bench-firmware"))
    assert set(emulators.available_boards()) == set(boards.names())


def test_atmega328p_cannot_run_the_benchmarks_and_the_table_says_why():
    avr = boards.get("atmega328p")
    assert avr.can("build") and avr.can("emulate") and avr.can("hil")
    for cap in ("bench-firmware", "bench-loop"):
        assert "2 KB of RAM" in avr.why_not(cap)
        with pytest.raises(boards.BoardError, match=f"^{re.escape(boards.CAPABILITIES[cap])} cannot use atmega328p"):
            boards.require("atmega328p", cap)
    assert "atmega328p" not in bench_firmware.BOARDS


def test_firmware_build_atmega328p_produces_an_image(capsys):
    try:
        build.avr_tools()
    except RuntimeError as exc:
        skip_unless_ci(str(exc))
    assert cli.main(["firmware", "build", "--board", "atmega328p", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    avr = boards.get("atmega328p")
    elf = Path(out["path"])
    assert out["board"] == "atmega328p" and elf.name == "fw.elf" and elf.read_bytes()[:4] == b"\x7fELF"
    assert elf.read_bytes()[18] == 83  # e_machine EM_AVR
    assert 0 < out["flash"] <= avr.flash_bytes and out["ram"] < avr.ram_bytes
    assert out["flash"] == out["text"] + out["data"]
    assert cli.main(["firmware", "build", "--board", "atmega328p"]) == 0
    assert capsys.readouterr().out.startswith(f"atmega328p: {elf}\n  flash {out['flash']} B")


@pytest.mark.parametrize("board", boards.names("emulate"))
def test_firmware_emulate_serves_every_board(board):
    """`snnctl firmware emulate --board B` prints a URL where the firmware answers HELLO as the table
    says; Ctrl-C stops it with exit status 0."""
    from firmware_bridge.device import Device

    require_board(board)
    proc = subprocess.Popen([sys.executable, "-m", "snnctl", "firmware", "emulate", "--board", board],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"serving {board} at "), first + proc.stderr.read()
        url = first.split(" at ", 1)[1].strip()
        with Device(url, timeout=1.0, retries=3) as dev:
            info = dev.hello()
        assert hello_limits(info) == hello_limits(boards.get(board))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert rc == 0


def test_no_board_list_outside_the_table():
    """The board names appear as data only in boards.py (docs, tests and defaults excepted)."""
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"""\(\s*["'](?:host|lm3s6965evb|atmega328p|linux-aarch64|linux-armhf)["']\s*,\s*["']""")
    offenders = []
    for pkg in ("snnctl", "sim", "evolve", "firmware_bridge"):
        for path in (root / pkg).rglob("*.py"):
            if path.name != "boards.py" and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(root)))
    assert not offenders, f"a tuple of board names outside firmware_bridge/boards.py: {offenders}"


def test_firmware_emulate_says_how_its_emulator_ended(tmp_path):
    """When the emulator dies under `snnctl firmware emulate` (here: SIGKILL, as a user killing it to
    cut the power), the command ends with status 2 and one line naming the signal, not a bare colon."""
    require_board("host")
    proc = subprocess.Popen([sys.executable, "-m", "snnctl", "firmware", "emulate", "--board", "host"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().startswith("serving host at ")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == "snnctl: error: the host emulator exited unexpectedly (killed by signal 9)"
