"""Linux edge boards (linux-aarch64, linux-armhf): the host device cross-compiled, run under QEMU user mode.

- `snnctl firmware build --board B` produces a static Linux executable for that CPU (ELF header).
- Under qemu-aarch64 / qemu-arm it serves TCP: `snnctl device info` answers with the board's name
  and limits, and a deployed blimp network matches numba (`snnctl.runtime.run`) bit for bit over
  10,000 steps.
- On a real serial device path (`--serial DEV`, termios raw mode; here one side of a pseudo-terminal,
  bridged to another that the client opens) the same protocol works.
The whole protocol suite also runs on linux-aarch64 in tests/test_device.py. Skipped, naming the
apt packages, only where the cross toolchain or QEMU user mode is missing (never under CI=true).
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from firmware_bridge import boards, build
from snnctl import cli
from snnctl.models import blimp_shaped_network
from snnctl.runtime import run
from tests.optional_tools import require_board

pytest.importorskip("serial")

from firmware_bridge.device import Device  # noqa: E402
from firmware_bridge.emulators import start_emulator  # noqa: E402

EDGE = tuple(b.name for b in boards.BOARDS if b.toolchain == "linux")
# ELF e_machine and class of each CPU (ELF spec: EM_AARCH64 183, EM_ARM 40; class 2 = 64-bit, 1 = 32-bit)
ELF_MACHINE = {"linux-aarch64": (183, 2), "linux-armhf": (40, 1)}


def test_the_table_has_the_edge_boards():
    assert EDGE == ("linux-aarch64", "linux-armhf")
    for name in EDGE:
        b = boards.get(name)
        assert b.is_program and b.port == "host" and b.qemu_user in ("qemu-aarch64", "qemu-arm")
        assert not b.can("flash") and "copy the binary" in b.why_not("flash")


def _elf_is_static(data: bytes, elf_class: int) -> bool:
    """No PT_INTERP program header: no dynamic loader needed (runs on any distribution)."""
    if elf_class == 2:
        phoff, phentsize, phnum = struct.unpack_from("<Q", data, 0x20)[0], *struct.unpack_from("<HH", data, 0x36)
        types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    else:
        phoff, phentsize, phnum = struct.unpack_from("<I", data, 0x1C)[0], *struct.unpack_from("<HH", data, 0x2A)
        types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 not in types  # PT_INTERP


@pytest.mark.parametrize("board", EDGE)
def test_firmware_build_produces_a_static_executable_for_the_cpu(board, capsys):
    require_board(board)
    assert cli.main(["firmware", "build", "--board", board, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    exe = build.build_linux_device(board)
    assert out["board"] == board and out["path"] == str(exe) and out["file"] == exe.stat().st_size
    data = exe.read_bytes()
    machine, elf_class = ELF_MACHINE[board]
    assert data[:4] == b"\x7fELF" and data[4] == elf_class and data[5] == 1  # little-endian
    assert struct.unpack_from("<H", data, 18)[0] == machine
    assert struct.unpack_from("<H", data, 16)[0] == 2  # ET_EXEC: -static, not a PIE needing a loader
    assert _elf_is_static(data, elf_class)
    assert os.access(exe, os.X_OK)
    assert cli.main(["firmware", "build", "--board", board]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"{board}: {exe}", f"  executable {out['file']} B"]
    assert lines[2].startswith(f"  a static {boards.get(board).cpu} Linux program: copy it to the board")


@pytest.mark.parametrize("board", EDGE)
def test_device_info_over_tcp_and_10000_steps_bit_identical_to_numba(board, capsys):
    require_board(board)
    net = blimp_shaped_network(seed=3)
    codes = np.random.default_rng(7).integers(-700, 700, (10_000, 1)).astype(np.int16)
    with start_emulator(board) as emu:
        assert emu.url.startswith("socket://127.0.0.1:")
        assert cli.main(["device", "info", "--port", emu.url, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)["info"]
        spec = boards.get(board)
        assert info["name"] == board
        assert (info["max_neurons"], info["max_blob_bytes"], info["tick_hz"]) == (
            spec.max_neurons, spec.max_blob_bytes, spec.tick_hz)  # fmt: skip
        with Device(emu.url, timeout=1.0, retries=3) as dev:
            dev.hello()
            dev.deploy(net)
            got = dev.run(codes, window=8)
    np.testing.assert_array_equal(got, run(net, codes))


class PtyBridge:
    """Two pseudo-terminals joined back to back: the device opens one slave path as its serial
    device (--serial), the client the other, as if a null-modem cable joined two UARTs."""

    def __init__(self) -> None:
        self.a_master, a_slave = os.openpty()
        self.b_master, b_slave = os.openpty()
        self.device_path, self.client_path = os.ttyname(a_slave), os.ttyname(b_slave)
        self._slaves = (a_slave, b_slave)  # kept open so a side's close never hangs up the pty
        for fd in self._slaves:  # raw on the client side too (the device sets its own side raw itself)
            import tty

            tty.setraw(fd)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        pairs = {self.a_master: self.b_master, self.b_master: self.a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(pairs[fd], data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self.a_master, self.b_master, *self._slaves):
            os.close(fd)


def test_serves_the_protocol_on_a_serial_device_path():
    board = "linux-aarch64"
    require_board(board)
    exe = build.build_linux_device(board)
    bridge = PtyBridge()
    proc = subprocess.Popen([boards.get(board).qemu_user, str(exe), "--serial", bridge.device_path, "--baud", "115200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"URL {bridge.device_path}"
        net = blimp_shaped_network(n_enc=8, n_hidden=8, seed=2)
        codes = np.random.default_rng(1).integers(-500, 500, (500, 1)).astype(np.int16)
        with Device(bridge.client_path, timeout=1.0, retries=3) as dev:
            assert dev.hello().name == board
            dev.deploy(net)
            got = dev.run(codes, window=4)
        np.testing.assert_array_equal(got, run(net, codes))
    finally:
        proc.terminate()
        try:
            assert proc.wait(10) == 0  # SIGTERM: a clean exit
        finally:
            if proc.poll() is None:
                proc.kill()
            bridge.close()


def test_bad_serial_arguments_are_one_line_errors():
    board = "linux-aarch64"
    require_board(board)
    qemu, exe = boards.get(board).qemu_user, str(build.build_linux_device(board))
    for argv, msg in [
        (["--serial", "/nonexistent/tty"], "snndev: --serial /nonexistent/tty: No such file or directory"),
        (["--serial", "/dev/null", "--baud", "7"], "snndev: --baud 7: use one of 9600 19200"),
        (["--tcp", "0", "--serial", "/dev/null"], "usage: snndev"),
        (["--tcp", "0", "--bind", "nowhere"], "snndev: --bind nowhere is not an IPv4 address"),
    ]:
        proc = subprocess.run([qemu, exe, *argv], capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 2 and proc.stderr.startswith(msg) and proc.stderr.count("\n") == 1, (
            argv,
            proc.stderr,
        )


RUNTIME_ALONE = r"""
import importlib.abc, sys
BLOCKED = {"mujoco", "gymnasium", "deap", "matplotlib", "sim", "evolve", "ray", "torch", "nir", "sktime", "imageio"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the runtime alone must not need it")

sys.meta_path.insert(0, Block())
import numpy as np
from snnctl import cli, runtime, snnfile
from firmware_bridge.emulators import start_emulator

path = sys.argv[1]
net = snnfile.load(path)
assert runtime.run(net, np.zeros((20, net.n_inputs), np.int16)).shape == (20, net.n_outputs)
assert cli.main(["inspect", path]) == 0 and cli.main(["units", path]) == 0
with start_emulator("host") as emu:
    assert cli.main(["deploy", path, "--port", emu.url]) == 0
    assert cli.main(["device", "info", "--port", emu.url]) == 0
print("OK", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def test_the_python_runtime_alone_needs_no_simulator_evolution_or_plotting(tmp_path):
    """What docs/firmware-boards.md §6 promises a Raspberry Pi: load, run, inspect, deploy to a
    device and query it with numpy + numba + pyserial + tqdm only (the rest is blocked at import)."""
    from snnctl import snnfile

    path = tmp_path / "net.snn"
    snnfile.save(blimp_shaped_network(n_enc=4, n_hidden=4, seed=1), path)
    env = {**os.environ, "PYTHONPATH": str(build.FIRMWARE_DIR.parent.parent)}
    proc = subprocess.run([sys.executable, "-c", RUNTIME_ALONE, str(path)], capture_output=True, text=True,
                          timeout=300, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "OK []"


def _context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of a process so far, from /proc."""
    fields = dict(line.split(":\t") for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    return int(fields["voluntary_ctxt_switches"]), int(fields["nonvoluntary_ctxt_switches"])


def _stderr_line(proc: subprocess.Popen, needle: str, timeout: float = 20.0) -> str:
    """The first stderr line of proc containing needle (fails after timeout)."""
    while True:
        ready, _, _ = select.select([proc.stderr], [], [], timeout)
        assert ready, f"snndev never printed {needle!r}"
        line = proc.stderr.readline()
        assert line, f"snndev ended before printing {needle!r}"
        if needle in line:
            return line


def test_a_serial_device_that_hangs_up_is_reopened_and_keeps_its_network(tmp_path):
    """A pulled USB-serial cable: the device path hangs up, later the same path is back. snndev
    sleeps meanwhile (a hung-up descriptor is readable at once, so re-reading it would spin a core),
    reopens the path, and still holds the network it had (no re-deploy needed)."""
    exe = build.build_host_device()
    path = tmp_path / "ttySNN"  # the stable name a udev rule gives a USB adapter
    first = PtyBridge()
    path.symlink_to(first.device_path)
    proc = subprocess.Popen([str(exe), "--serial", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    second = None
    try:
        assert proc.stdout.readline().strip() == f"URL {path}"
        net = blimp_shaped_network(n_enc=4, n_hidden=4, seed=3)
        codes = np.random.default_rng(2).integers(-800, 800, (200, 1)).astype(np.int16)
        with Device(first.client_path, timeout=1.0, retries=3) as dev:
            dev.deploy(net)
            np.testing.assert_array_equal(dev.run(codes), run(net, codes))
        first.close()  # the cable is pulled: the device side of the pty hangs up
        _stderr_line(proc, "hung up")
        # A process that sleeps gives the CPU up itself (voluntary switches, one per wait); one that
        # spins on the hung-up descriptor never waits and is only ever preempted (involuntary ones).
        # Counts, not CPU time: they do not depend on how busy the machine is.
        vol0, invol0 = _context_switches(proc.pid)
        time.sleep(1.5)
        vol1, invol1 = _context_switches(proc.pid)
        vol, invol = vol1 - vol0, invol1 - invol0
        assert vol > 10 * invol, f"while hung up snndev waited {vol} times and was preempted {invol} times: it spins"
        second = PtyBridge()  # plugged in again: the same name, a new line
        tmp_link = tmp_path / "ttySNN.new"
        tmp_link.symlink_to(second.device_path)
        os.replace(tmp_link, path)
        _stderr_line(proc, "is back")
        with Device(second.client_path, timeout=1.0, retries=3) as dev:
            dev.reset()
            np.testing.assert_array_equal(dev.run(codes), run(net, codes))  # the same network, not re-deployed
    finally:
        proc.terminate()
        try:
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            if second is not None:
                second.close()
