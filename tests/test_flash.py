"""`snnctl firmware flash`: the flashing tool is really run, with the command line its documentation gives.

A fake `avrdude` / `openocd` first on PATH records its argv (and checks the image it is handed
exists); the recorded argv must equal the documented command for the board — avrdude(1) as the
Arduino IDE uploads an Uno: `-p atmega328p -c arduino -P PORT -b 115200 -D -U flash:w:FILE:i`;
OpenOCD's manual: `-f board/ek-lm3s6965.cfg -c "program FILE verify reset exit"`. The Intel HEX
handed to avrdude is parsed here (record checksums) and must hold exactly the image's flash bytes
(text + data, as `avr-size` counts them). A missing tool or a failing one is one line, exit 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from firmware_bridge import boards, build
from snnctl import cli
from tests.optional_tools import skip_unless_ci


def _fake_tool(bin_dir: Path, name: str, status: int = 0) -> Path:
    """An executable `name` that writes its argv (and whether each argument is an existing file) to JSON."""
    log = bin_dir / f"{name}.json"
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, re, sys\n"
        "paths = [re.sub(r'^flash:w:|:i$|^program [{]|[}] verify reset exit$', '', a) for a in sys.argv[1:]]\n"
        "files = [p for p in paths if os.path.isfile(p)]\n"
        f"json.dump({{'argv': sys.argv[1:], 'files': files}}, open({str(log)!r}, 'w'))\n"
        f"sys.exit({status})\n"
    )
    script.chmod(0o755)
    return log


def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _ihex_bytes(path: Path) -> int:
    """Data bytes of an Intel HEX file, every record's checksum checked (Intel HEX-86 spec)."""
    total = 0
    for line in path.read_text().split():
        assert line.startswith(":")
        rec = bytes.fromhex(line[1:])
        assert len(rec) == rec[0] + 5 and sum(rec) % 256 == 0, line
        if rec[3] == 0x00:
            total += rec[0]
    assert line == ":00000001FF"  # the end-of-file record comes last
    return total


@pytest.fixture
def avr_elf() -> Path:
    try:
        return build.build_firmware("atmega328p")
    except RuntimeError as exc:
        skip_unless_ci(f"AVR toolchain missing: {exc}")


def test_avrdude_gets_the_documented_command(avr_elf, tmp_path, monkeypatch, capsys):
    log = _fake_tool(tmp_path, "avrdude")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, out, err = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyACM7"], capsys)
    assert code == 0, err
    got = json.loads(log.read_text())
    image = Path(got["argv"][-1].removeprefix("flash:w:").removesuffix(":i"))
    assert got["argv"] == ["-p", "atmega328p", "-c", "arduino", "-P", "/dev/ttyACM7", "-b", "115200", "-D",
                           "-U", f"flash:w:{image}:i"]  # fmt: skip
    assert got["files"] == [str(image)]  # the image existed when avrdude ran
    assert image.suffix == ".hex" and _ihex_bytes(image) == build.firmware_size(avr_elf)["flash"]
    assert "flashed atmega328p with avrdude" in out and "snnctl device info --port /dev/ttyACM7" in out

    code, _, _ = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyUSB0", "--baud", "57600",
                        "--programmer", "usbasp"], capsys)  # fmt: skip
    assert code == 0
    argv = json.loads(log.read_text())["argv"]
    assert argv[:8] == ["-p", "atmega328p", "-c", "usbasp", "-P", "/dev/ttyUSB0", "-b", "57600"]


def test_dry_run_prints_the_command_and_runs_nothing(avr_elf, tmp_path, monkeypatch, capsys):
    log = _fake_tool(tmp_path, "avrdude")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, out, _ = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyACM0", "--dry-run"], capsys)
    assert code == 0 and not log.exists()
    assert out.startswith("avrdude -p atmega328p -c arduino -P /dev/ttyACM0 -b 115200 -D -U flash:w:")


def test_missing_tool_names_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no avrdude, no openocd
    code, _, err = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyACM0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("snnctl: error: avrdude not found on PATH")
    assert "apt-get install -y --no-install-recommends avrdude" in err
    code, _, err = _main(["firmware", "flash", "--board", "lm3s6965evb"], capsys)
    assert code == 2 and "openocd not found on PATH" in err and "--no-install-recommends openocd" in err


def test_failing_tool_and_bad_input_are_one_line(avr_elf, tmp_path, monkeypatch, capsys):
    _fake_tool(tmp_path, "avrdude", status=1)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, _, err = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyACM0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("snnctl: error: avrdude failed (exit status 1; its output is above): avrdude -p atmega328p")
    code, _, err = _main(["firmware", "flash", "--board", "atmega328p"], capsys)
    assert code == 2 and "pass --port" in err
    (tmp_path / "fw.bin").write_bytes(b"\0")
    code, _, err = _main(["firmware", "flash", "--board", "atmega328p", "--port", "p", "--image",
                          str(tmp_path / "fw.bin")], capsys)  # fmt: skip
    assert code == 2 and "takes a .elf or .hex image here, got .bin" in err
    code, _, err = _main(["firmware", "flash", "--board", "atmega328p", "--port", "p", "--tool", "openocd"], capsys)
    assert code == 2 and "atmega328p is flashed with avrdude, not openocd" in err


def test_user_image_hex_goes_to_avrdude_as_is(tmp_path, monkeypatch, capsys):
    log = _fake_tool(tmp_path, "avrdude")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    hex_file = tmp_path / "mine.hex"
    hex_file.write_text(":00000001FF\n")
    code, _, _ = _main(["firmware", "flash", "--board", "atmega328p", "--port", "/dev/ttyACM0", "--image",
                        str(hex_file)], capsys)  # fmt: skip
    assert code == 0 and json.loads(log.read_text())["argv"][-1] == f"flash:w:{hex_file}:i"


def test_openocd_gets_the_documented_command(tmp_path, monkeypatch, capsys):
    try:
        elf = build.build_firmware("lm3s6965evb")
    except RuntimeError as exc:
        skip_unless_ci(f"ARM toolchain missing: {exc}")
    log = _fake_tool(tmp_path, "openocd")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, _, err = _main(["firmware", "flash", "--board", "lm3s6965evb"], capsys)
    assert code == 0, err
    got = json.loads(log.read_text())
    assert got["argv"] == ["-f", "board/ek-lm3s6965.cfg", "-c", f"program {{{elf}}} verify reset exit"]
    assert got["files"] == [str(elf)]


def test_flash_tools_are_in_the_board_table():
    assert boards.names("flash") == ("lm3s6965evb", "atmega328p", "atmega2560")
    assert [t.tool for t in boards.get("atmega328p").flash] == ["avrdude"]
    mega = boards.get("atmega2560").flash[0]  # the Arduino IDE's Mega upload: -p atmega2560 -c wiring
    assert (mega.tool, mega.argv[:2], mega.programmer, mega.baud) == ("avrdude", ("-p", "atmega2560"), "wiring", 115200)
    assert [t.tool for t in boards.get("lm3s6965evb").flash] == ["openocd"]
    assert "emulate --board host" in boards.get("host").why_not("flash")


def test_platformio_project_and_pio_upload(tmp_path, monkeypatch, capsys):
    """The project is what PlatformIO reads (platformio.ini sections, lib/<name>/library.json, the sketch in
    src/), and --upload runs `pio run -d DIR -e ENV -t upload --upload-port PORT` (PlatformIO Core's docs)."""
    import configparser

    log = _fake_tool(tmp_path, "pio")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    proj = tmp_path / "proj"
    code, out, err = _main(["firmware", "platformio", str(proj), "--env", "due", "--upload", "--port", "/dev/ttyACM3"],
                           capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(log.read_text())["argv"] == ["run", "-d", str(proj), "-e", "due", "-t", "upload",
                                                   "--upload-port", "/dev/ttyACM3"]  # fmt: skip
    ini = configparser.ConfigParser()
    ini.read(proj / "platformio.ini")
    assert ini["platformio"]["default_envs"] == "due" and ini["env"]["framework"] == "arduino"
    assert (ini["env:due"]["platform"], ini["env:due"]["board"]) == ("atmelsam", "due")
    assert "env:megaatmega2560" in ini
    manifest = json.loads((proj / "lib" / "snnctl" / "library.json").read_text())
    assert manifest["name"] == "snnctl" and "arduino" in manifest["frameworks"]
    assert (proj / "lib" / "snnctl" / "src" / "snn_step.c").is_file()
    example = build.ARDUINO_DIR / "examples" / "SnnDevice" / "SnnDevice.ino"
    assert (proj / "src" / "SnnDevice.ino").read_text() == example.read_text()


def test_platformio_without_pio_or_with_a_bad_env_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = _main(["firmware", "platformio", str(tmp_path / "p"), "--upload"], capsys)
    assert code == 2 and err.startswith("snnctl: error: pio not found on PATH") and "pip install platformio" in err
    assert not (tmp_path / "p").exists()  # nothing written before the check
    code, _, err = _main(["firmware", "platformio", str(tmp_path / "p"), "--env", "uno"], capsys)
    assert code == 2 and "no PlatformIO env 'uno' (known: megaatmega2560, due" in err
    code, out, _ = _main(["firmware", "platformio", str(tmp_path / "p")], capsys)
    assert code == 0 and "upload: pio run -d" in out  # writing the project alone needs no pio
