"""Start emulated devices that speak the serial protocol of docs/protocol.md.

`start_emulator(board)` builds what the board needs and returns a running `Emulator` whose `.url`
a serial client opens (`serial.serial_for_url(url)`, or `firmware_bridge.device`). How each board is
emulated (its `emulator`, packages, QEMU machine, `icount_shift`) is in `firmware_bridge.boards`:

- `host`: the POSIX host device (`build.build_host_device()`), which prints `URL <url>` as its first
  line; the url is a pty path such as `/dev/pts/5`. `nv_file=PATH` gives it non-volatile memory
  (`snndev --nv PATH`, docs/protocol.md §9; the linux-* boards too, and the atmega328p's EEPROM):
  a restart with the same file is a power cycle.
- `lm3s6965evb`: `qemu-system-arm -M lm3s6965evb` running the Cortex-M3 image of
  `build.build_firmware`; the url is `socket://127.0.0.1:PORT`.
- `linux-aarch64`, `linux-armhf`: the edge boards' static Linux program (`build.build_linux_device`,
  the host port cross-compiled) under QEMU user mode (`qemu-aarch64`, `qemu-arm`), serving TCP on a
  free localhost port; the url is `socket://127.0.0.1:PORT`.
- `atmega328p`: the 8-bit AVR image of `build.build_avr_firmware` in libsimavr, driven by
  `ports/atmega328p/simavr_runner.c` (`build.build_simavr_runner`), which prints `URL /dev/pts/N`
  like the host device. 2 KB of RAM: only tiny networks fit (docs/firmware-boards.md).

QEMU's UART is a TCP server on a free localhost port with `nodelay=on` (without it every exchange
costs ~40 ms of Nagle delay). With `icount=True` QEMU runs with `-icount shift=N` (the board's
`icount_shift`, 7 for lm3s6965evb): virtual time advances 2**N = 128 ns per guest instruction, so
the device's cycle counter measures instructions and is the same on every run and machine (see
ports/lm3s6965evb/board.c). Bytes the firmware sends before a client connects are lost, so a client
pings (HELLO) until it is answered.

An `Emulator` is a context manager; `close()` terminates the process, then kills it. Processes are
also closed at interpreter exit, and on Linux they get SIGTERM if the Python process that started
them dies, so no emulator outlives its owner.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from firmware_bridge import boards, build

QEMU = "qemu-system-arm"  # the QEMU of every board with emulator "qemu" (all are ARM so far)

_live: set[Emulator] = set()  # closed at exit, even if the caller dropped its reference


class Emulator:
    """A running emulated board: `.board`, `.url` (for the serial client), `.process`."""

    def __init__(self, board: str, url: str, process: subprocess.Popen, log: Path | None = None, output=None):
        self.board = board
        self.url = url
        self.process = process
        self.log = log  # the emulator's stderr (QEMU) or None
        self._output = output  # recent stdout lines (host device), a deque
        _live.add(self)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"Emulator(board={self.board!r}, url={self.url!r}, pid={self.process.pid}, {state})"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """What the emulator printed so far (stderr for QEMU, stdout after the URL line for the host device)."""
        if self._output is not None:
            return "".join(self._output)
        if self.log is not None and self.log.exists():
            return self.log.read_text(errors="replace")
        return ""

    def close(self, timeout: float = 3.0) -> None:
        """Terminate the process, kill it if it does not exit within `timeout`, and reap it."""
        _stop(self.process, timeout)
        for stream in (self.process.stdout, self.process.stderr, self.process.stdin):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self.log is not None:
            self.log.unlink(missing_ok=True)
        _live.discard(self)


def _stop(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        try:
            process.terminate()
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        pass


@atexit.register
def _close_all() -> None:
    for emu in list(_live):
        emu.close(timeout=1.0)


def _die_with_parent():
    """preexec_fn (Linux): the child gets SIGTERM when the thread that started it exits."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None

    def preexec() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


def _missing_packages(board: str) -> list[str]:
    spec = boards.get(board)  # BoardError (a ValueError) naming the known boards
    if spec.emulator == "process":
        try:
            build.compiler_command()
            return []
        except RuntimeError:
            return list(spec.toolchain_packages)
    if spec.emulator == "qemu":
        missing = []
        try:
            build.cross_tools(board)
        except RuntimeError:
            missing.extend(spec.toolchain_packages)
        if shutil.which(QEMU) is None:
            missing.extend(spec.emulator_packages)
        return missing
    if spec.emulator == "qemu-user":
        missing = []
        try:
            build.cross_tools(board)
        except RuntimeError:
            missing.extend(spec.toolchain_packages)
        if spec.qemu_user is None or shutil.which(spec.qemu_user) is None:
            missing.extend(spec.emulator_packages)
        return missing
    if spec.emulator == "simavr":
        missing = []
        try:
            build.avr_tools()
        except RuntimeError:
            missing.extend(spec.toolchain_packages)
        if not Path("/usr/include/simavr/sim_avr.h").is_file():
            missing.extend(spec.emulator_packages)
        try:
            build.compiler_command()
        except RuntimeError:
            missing.append("gcc")
        return missing
    raise ValueError(f"board {board!r}: no emulator of kind {spec.emulator!r}")


def available_boards() -> dict[str, str | None]:
    """For each board: None if its tools are installed, else the apt packages that are missing (space-separated)."""
    return {board: (" ".join(missing) if (missing := _missing_packages(board)) else None) for board in boards.names()}


def start_emulator(board: str, *, icount: bool = True, timeout: float = 10.0, nv_file: Path | str | None = None,
                   program_args: Sequence[str] = (), network: build.NetworkArg = None) -> Emulator:  # fmt: skip
    """Build and start `board` (see the module docstring); wait until its serial port can be opened.

    `nv_file` is the device's non-volatile memory (`snndev --nv` on the host and Linux edge boards,
    the EEPROM file of `simavr_runner -e` on the atmega328p; ValueError for the others); with a
    compiled-in `network` it keeps the on-board loop's RUN record only (docs/protocol.md §9).
    `program_args` go to a board that is a Linux program (host, linux-aarch64, linux-armhf): the
    options of ports/host/snndev.c such as ``["--plugin", "CMD"]``; ValueError for other boards.
    `network` (a `.snn` path or bytes) is compiled into the image (`flash_network`): the device runs
    it from boot and refuses uploads. RuntimeError naming the apt packages if tools are missing, or
    if the emulator does not come up within `timeout` seconds (with its output).
    """
    spec = boards.get(board)
    if nv_file is not None and (spec.emulator not in ("process", "qemu-user", "simavr") or spec.name == "atmega2560"):
        raise ValueError(f"board {board!r} keeps no network across a restart (no NV memory in its emulator); --nv"
                         " works with the host, linux-* and atmega328p boards (firmware-boards.md §7)")  # fmt: skip
    nv_args = [] if nv_file is None else ["-e" if spec.emulator == "simavr" else "--nv", str(nv_file)]
    missing = _missing_packages(board)
    if missing:
        raise RuntimeError(
            f"board {board!r} needs the Debian package(s) {', '.join(missing)}; install with: "
            f"{build.apt_install_hint(missing)}"
        )
    if program_args and not spec.is_program:
        raise ValueError(f"board {board!r} is a firmware image, not a program: it takes no program_args")
    if spec.emulator == "process":
        return _start_url_printer("host", [str(build.build_host_device(network=network)), *nv_args, *program_args],
                                  timeout)  # fmt: skip
    if spec.emulator == "simavr":
        elf = build.build_avr_firmware(board, network=network)
        mcu = ["-m", spec.name] if spec.name != "atmega328p" else []  # the runner's default core
        return _start_url_printer(board, [str(build.build_simavr_runner()), str(elf), *mcu, *nv_args], timeout)
    if spec.emulator == "qemu-user":  # the program prints its URL itself, as the host device does
        program = build.build_linux_device(board, network=network)
        return _start_url_printer(board, [shutil.which(spec.qemu_user) or spec.qemu_user, str(program), "--tcp", "0",
                                          *nv_args, *program_args], timeout)  # fmt: skip
    elf = build.build_firmware(board, network=network)
    return start_qemu(board, elf, icount=icount, timeout=timeout)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_qemu(board: str, elf: Path, *, icount: bool = True, timeout: float = 10.0) -> Emulator:
    """Run the image `elf` on QEMU's `board` machine with UART0 on a localhost TCP server."""
    spec = boards.get(board)
    if spec.qemu_machine is None:
        raise ValueError(f"board {board!r} is not emulated by QEMU (its emulator: {spec.emulator})")
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise RuntimeError(f"{QEMU} not found; install with: {build.apt_install_hint(spec.emulator_packages)}")
    deadline = time.monotonic() + timeout
    last_error = ""
    for _attempt in range(5):  # another process may grab the port between _free_port and QEMU's bind
        port = _free_port()
        cmd = [qemu, "-M", spec.qemu_machine, "-nographic", "-monitor", "none", "-kernel", str(elf)]
        cmd += ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"]
        if icount and spec.icount_shift is not None:
            cmd += ["-icount", f"shift={spec.icount_shift}"]
        fd, log_name = tempfile.mkstemp(prefix=f"qemu-{board}-", suffix=".log")
        log = Path(log_name)
        with os.fdopen(fd, "wb") as log_file:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        emu = Emulator(board, f"socket://127.0.0.1:{port}", process, log=log)
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return emu
                except OSError:
                    time.sleep(0.02)
            last_error = emu.output().strip()
        except BaseException:
            emu.close()
            raise
        emu.close()
        if time.monotonic() >= deadline or "Address already in use" not in last_error:
            break
    raise RuntimeError(
        f"QEMU ({board}) did not open its serial port within {timeout:g} s:\n{shlex.join(cmd)}\n{last_error}"
    )


def _start_url_printer(board: str, cmd: list[str], timeout: float) -> Emulator:
    """Run `cmd` (the host device or the simavr runner), whose first stdout line is `URL <url>`."""
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=_die_with_parent(),
    )
    lines: deque[str] = deque(maxlen=200)
    first: list[str] = []
    got_first = threading.Event()

    def pump() -> None:  # keep reading so the device never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            if not got_first.is_set():
                first.append(line)
                got_first.set()
            else:
                lines.append(line)
        got_first.set()

    threading.Thread(target=pump, name=f"{board}-device-{process.pid}", daemon=True).start()
    emu = Emulator(board, "", process, output=lines)
    if not got_first.wait(timeout) or not first or not first[0].startswith("URL "):
        emu.close()
        seen = first[0].strip() if first else "nothing"
        raise RuntimeError(f"the {board} device ({shlex.join(cmd)}) did not print 'URL <url>' within {timeout:g} s"
                           f" (got {seen})")  # fmt: skip
    emu.url = first[0][4:].strip()
    return emu
