"""`snnctl firmware flash`: write a board's firmware image with the board's flashing program.

Which programs can flash a board, and with which command line, is data in the board table
(`firmware_bridge.boards.Board.flash`, one `FlashTool` each: avrdude for the ATmega328P over its
bootloader, OpenOCD for the EK-LM3S6965 over JTAG). This module picks the tool (the first of the
board's that is installed, or the one asked for), builds the image (`build.build_firmware`; Intel
HEX through the toolchain's objcopy when the tool wants it), fills in the command and runs it with
its output on the terminal. A tool that is not installed is a `FlashError` naming the Debian
package; the CLI prints it as one line.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import boards, build
from .boards import FlashTool


class FlashError(RuntimeError):
    """Flashing cannot go on: no tool, a bad option or image, or the tool failed. One line, says what to do."""


def tools_for(board: str) -> tuple[FlashTool, ...]:
    """The flashing tools of `board`, in order of preference; FlashError if it cannot be flashed."""
    try:
        spec = boards.require(board, "flash")
    except boards.BoardError as exc:
        raise FlashError(str(exc)) from None
    if not spec.flash:
        raise FlashError(f"no flashing tool is known for {board}")
    return spec.flash


def choose_tool(board: str, tool: str | None = None) -> FlashTool:
    """The tool asked for, or the first of the board's that is on PATH (else the first: its message names it)."""
    options = tools_for(board)
    if tool is not None:
        for t in options:
            if t.tool == tool:
                return t
        raise FlashError(f"{board} is flashed with {', '.join(t.tool for t in options)}, not {tool}")
    return next((t for t in options if shutil.which(t.tool)), options[0])


def require_tool(t: FlashTool, board: str) -> str:
    """The tool's path on PATH; FlashError naming the package that installs it."""
    path = shutil.which(t.tool)
    if path is None:
        raise FlashError(
            f"{t.tool} not found on PATH: flashing the {board} needs it; install with:"
            f" {build.apt_install_hint(t.packages)} (--dry-run prints the command without it)"
        )
    return path


def to_ihex(elf: Path, board: str) -> Path:
    """Intel HEX of the flash sections of `elf` (beside it; `<prefix>objcopy -O ihex -R .eeprom`)."""
    hex_path = elf.with_suffix(".hex")
    if hex_path.is_file() and hex_path.stat().st_mtime >= elf.stat().st_mtime:
        return hex_path
    objcopy = shutil.which(boards.get(board).tool_prefix + "objcopy")
    if objcopy is None:
        spec = boards.get(board)
        raise FlashError(
            f"{spec.tool_prefix}objcopy not found on PATH (it makes the Intel HEX image); install with:"
            f" {build.apt_install_hint(spec.toolchain_packages)}"
        )
    fd, tmp = tempfile.mkstemp(prefix=".fw-", suffix=".hex", dir=elf.parent)
    os.close(fd)
    try:
        proc = subprocess.run([objcopy, "-O", "ihex", "-R", ".eeprom", str(elf), tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            raise FlashError(f"{objcopy} could not convert {elf} to Intel HEX: {proc.stderr.strip()}")
        os.replace(tmp, hex_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return hex_path


def image_for(board: str, t: FlashTool, image: str | Path | None = None, network: build.NetworkArg = None) -> Path:
    """The file to flash: `image` if given (an ELF converted to HEX if the tool wants HEX), else the built
    firmware (with `network` compiled in, if given)."""
    if image is None:
        try:
            elf = build.build_firmware(board, network=network)
        except (RuntimeError, ValueError, OSError) as exc:
            raise FlashError(str(exc).splitlines()[0]) from None
    else:
        elf = Path(image)
        if not elf.is_file():
            raise FlashError(f"{image}: no such image file")
        suffix = elf.suffix.lower()
        if suffix == ".hex" and t.image == "hex":
            return elf
        if suffix != ".elf":
            kinds = ".elf" if t.image == "elf" else ".elf or .hex"
            raise FlashError(f"{image}: {t.tool} takes a {kinds} image here, got {suffix or 'no extension'}")
    return to_ihex(elf, board) if t.image == "hex" else elf


def _need_port(t: FlashTool, port: str | None) -> None:
    if t.needs_port and not port:
        raise FlashError(f"{t.tool} writes over the board's serial port: pass --port (snnctl device list shows them)")


def command(t: FlashTool, image: Path, port: str | None, baud: int | None = None,
            programmer: str | None = None) -> list[str]:  # fmt: skip
    """The tool's argv (program name first) with the placeholders filled in."""
    _need_port(t, port)
    values = {
        "<image>": str(image),
        "<port>": port or "",
        "<baud>": str(baud if baud is not None else t.baud),
        "<programmer>": programmer if programmer is not None else (t.programmer or ""),
    }
    argv = [t.tool]
    for arg in t.argv:
        for key, value in values.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    return argv


def flash(board: str, port: str | None = None, *, tool: str | None = None, image: str | Path | None = None,
          baud: int | None = None, programmer: str | None = None, dry_run: bool = False,
          network: build.NetworkArg = None) -> list[str]:  # fmt: skip
    """Flash `board` (or with `dry_run` only work out the command); returns the argv that was (to be) run.
    `network` (a `.snn`) is compiled into the image (docs/firmware-boards.md §3); not with `image`."""
    if image is not None and network is not None:
        raise FlashError("--image flashes a built image as it is: build it with --network instead")
    t = choose_tool(board, tool)
    if not dry_run:
        require_tool(t, board)  # before a possibly long build
    _need_port(t, port)  # before a possibly long build
    argv = command(t, image_for(board, t, image, network), port, baud, programmer)
    if dry_run:
        return argv
    try:
        proc = subprocess.run(argv, check=False)
    except OSError as exc:
        raise FlashError(f"could not run {t.tool}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise FlashError(f"{t.tool} failed (exit status {proc.returncode}; its output is above): {shlex.join(argv)}")
    return argv


# -- PlatformIO: any Arduino-framework board, through the generated Arduino library ------------------

# PlatformIO environments of the project template: env name -> (platform, board id). The board's
# limits come from the library's snn_port_config.h by board class (docs/firmware-boards.md §2);
# an Uno is left out: the library's image is larger than its flash (docs/firmware-boards.md §4).
PLATFORMIO_ENVS: dict[str, tuple[str, str]] = {
    "megaatmega2560": ("atmelavr", "megaatmega2560"),
    "due": ("atmelsam", "due"),
    "bluepill_f103c8": ("ststm32", "bluepill_f103c8"),
    "pico": ("raspberrypi", "pico"),
    "esp32dev": ("espressif32", "esp32dev"),
}
PIO_HINT = "pip install platformio (PlatformIO Core; `pio` then fetches the board's toolchain itself)"


def platformio_ini(default_env: str = "megaatmega2560") -> str:
    """The `platformio.ini` of the project template: one env per board of PLATFORMIO_ENVS."""
    if default_env not in PLATFORMIO_ENVS:
        raise FlashError(f"no PlatformIO env {default_env!r} (known: {', '.join(PLATFORMIO_ENVS)})")
    lines = [
        "; snnctl device firmware as a PlatformIO project (written by `snnctl firmware platformio`).",
        "; lib/snnctl is the snnctl Arduino library; src/SnnDevice.ino its example sketch (the board layer).",
        "; Build and upload: pio run -e ENV -t upload --upload-port PORT; then snnctl deploy NET.snn --port PORT.",
        "; Limits: override the library's snn_port_config.h defaults per env, e.g.",
        ";   build_flags = -DSNN_DEV_MAX_BLOB=8192u -DSNN_DEV_ARENA_BYTES=8192u",
        "",
        "[platformio]",
        f"default_envs = {default_env}",
        "",
        "[env]",
        "framework = arduino",
        "monitor_speed = 115200",
        "",
    ]
    for env, (platform, board) in PLATFORMIO_ENVS.items():
        lines += [f"[env:{env}]", f"platform = {platform}", f"board = {board}", ""]
    return "\n".join(lines)


def write_platformio_project(out_dir: str | Path, default_env: str = "megaatmega2560") -> Path:
    """A PlatformIO project in `out_dir`: platformio.ini, lib/snnctl (the Arduino library), src/SnnDevice.ino."""
    out = Path(out_dir)
    ini = platformio_ini(default_env)
    if out.exists() and not out.is_dir():
        raise FlashError(f"{out}: exists and is not a directory")
    (out / "lib").mkdir(parents=True, exist_ok=True)
    (out / "src").mkdir(exist_ok=True)
    lib = build.export_arduino_library(out / "lib")
    shutil.copyfile(lib / "examples" / "SnnDevice" / "SnnDevice.ino", out / "src" / "SnnDevice.ino")
    (out / "platformio.ini").write_text(ini)
    return out


def require_pio() -> str:
    """The path of `pio`; FlashError saying how to install PlatformIO Core."""
    path = shutil.which("pio")
    if path is None:
        raise FlashError(f"pio not found on PATH: uploading a PlatformIO project needs it; install with: {PIO_HINT}")
    return path


def pio_upload_command(project: str | Path, env: str, port: str | None) -> list[str]:
    """`pio run -d PROJECT -e ENV -t upload [--upload-port PORT]` (PlatformIO Core's `pio run`)."""
    argv = ["pio", "run", "-d", str(project), "-e", env, "-t", "upload"]
    return argv + (["--upload-port", port] if port else [])


def pio_upload(project: str | Path, env: str, port: str | None, dry_run: bool = False) -> list[str]:
    """Build and upload the PlatformIO project with `pio` (FlashError naming how to install it if missing)."""
    argv = pio_upload_command(project, env, port)
    if dry_run:
        return argv
    require_pio()
    proc = subprocess.run(argv, check=False)
    if proc.returncode != 0:
        raise FlashError(f"pio failed (exit status {proc.returncode}; its output is above): {shlex.join(argv)}")
    return argv
