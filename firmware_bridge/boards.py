"""The board table: every board the firmware runs on, and every trait of it the code reads.

One frozen `Board` per port under `firmware/ports/<name>/`. `build` (how to compile it), `emulators`
(how to run it), `bench_firmware` (which boards to measure, how to turn cycles into instructions),
`evolve.har` (instruction counts on a board) and the CLI (`--board` choices of `snnctl firmware
build/emulate`, `snnctl hil`, `snnctl bench loop`) all read it; nothing else names a board.

The limits (`max_payload` .. `tick_hz`, `device_name`) repeat what the port's `snn_port_config.h`
compiles in and HELLO reports; `tests/test_boards.py` checks them against the headers and the
emulator tests against HELLO. A command a board cannot do is listed in its `unsupported`, with the
reason the CLI prints. Stdlib only: the CLI imports this module at start-up for its argparse choices.

Adding a board: docs/architecture.md, "Adding a board".
"""

from __future__ import annotations

from dataclasses import dataclass

# What a board can be asked to do: capability -> the command that needs it (for messages).
CAPABILITIES: dict[str, str] = {
    "build": "snnctl firmware build",
    "emulate": "snnctl firmware emulate",
    "hil": "snnctl hil --board",
    "bench-firmware": "snnctl bench firmware",
    "bench-loop": "snnctl bench loop --board",
    "flash": "snnctl firmware flash",
}

ARM_TOOLCHAIN_PACKAGES = ("gcc-arm-none-eabi",)
ARM_EMULATOR_PACKAGES = ("qemu-system-arm",)
AVR_TOOLCHAIN_PACKAGES = ("gcc-avr", "avr-libc")
AVR_EMULATOR_PACKAGES = ("libsimavr-dev",)  # the runner links libsimavr; simavr (the CLI) is optional
# Linux edge boards: Debian's cross gcc and its C library (headers + libc.a: the program is linked
# statically, so it runs on any Raspberry Pi OS / Debian / Ubuntu of that architecture), and QEMU's
# user-mode emulator (one Linux program of another architecture, no machine model).
AARCH64_TOOLCHAIN_PACKAGES = ("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross")
ARMHF_TOOLCHAIN_PACKAGES = ("gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross")
QEMU_USER_PACKAGES = ("qemu-user",)

# Freestanding Cortex-M image: no newlib, libgcc only; the port supplies memcpy/memset/... (its
# libc/ directory). -fno-tree-loop-distribute-patterns stops GCC from turning those very loops back
# into calls to themselves. -O2 rather than -Os: the blimp-shaped net steps in ~18.4k instead of
# ~21.5k instructions for ~2.4 KB more flash (snn_step.c's register-hungry loops spill at -Os).
ARM_CM3_FLAGS = (
    "-mcpu=cortex-m3",
    "-mthumb",
    "-O2",
    "-ffreestanding",
    "-nostdlib",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-tree-loop-distribute-patterns",
    "-g",
)
# A Linux program: -static so that one file runs on every distribution of the architecture (no
# glibc version to match); -pedantic like the host build (build.BASE_FLAGS).
LINUX_FLAGS = ("-O2", "-static", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections",
               "-fdata-sections")  # fmt: skip
AVR_FLAGS = ("-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", "-g")


@dataclass(frozen=True)
class FlashTool:
    """How one flashing program writes a board's image: its argv after the program name.

    `argv` holds the placeholders `<image>` (the image file, in the format `image`), `<port>`
    (the serial port), `<baud>` and `<programmer>` (with the defaults given here); `doc` says where
    the command line comes from, so it can be checked against the tool's own documentation.
    """

    tool: str  # the executable
    packages: tuple[str, ...]  # Debian packages that install it
    image: str  # "hex" (Intel HEX from the ELF) | "elf"
    argv: tuple[str, ...]
    doc: str
    programmer: str | None = None  # default of <programmer>
    baud: int | None = None  # default of <baud>

    @property
    def needs_port(self) -> bool:
        return any("<port>" in a for a in self.argv)


# An Arduino Uno / Nano (ATmega328P with the optiboot bootloader) over its USB serial port, as the
# Arduino IDE uploads (-D: the bootloader erases the pages it writes). avrdude(1): -p part, -c
# programmer, -P port, -b baud, -U memtype:op:file:format.
AVRDUDE_ATMEGA328P = FlashTool(
    tool="avrdude",
    packages=("avrdude",),
    image="hex",
    argv=("-p", "atmega328p", "-c", "<programmer>", "-P", "<port>", "-b", "<baud>", "-D", "-U", "flash:w:<image>:i"),
    doc="avrdude(1); the Arduino IDE's upload of an Uno: -c arduino -b 115200 -D",
    programmer="arduino",
    baud=115200,
)
# An Arduino Mega 2560 over its USB serial port (its stk500v2 bootloader), as the Arduino IDE uploads.
AVRDUDE_ATMEGA2560 = FlashTool(
    tool="avrdude",
    packages=("avrdude",),
    image="hex",
    argv=("-p", "atmega2560", "-c", "<programmer>", "-P", "<port>", "-b", "<baud>", "-D", "-U", "flash:w:<image>:i"),
    doc="avrdude(1); the Arduino IDE's upload of a Mega 2560: -c wiring -b 115200 -D",
    programmer="wiring",
    baud=115200,
)
# The EK-LM3S6965 evaluation kit through its on-board FTDI JTAG: OpenOCD's board script and its
# `program FILE verify reset exit` command (OpenOCD manual, "Flash programming"); the path is in Tcl
# braces so that spaces survive.
OPENOCD_EK_LM3S6965 = FlashTool(
    tool="openocd",
    packages=("openocd",),
    image="elf",
    argv=("-f", "board/ek-lm3s6965.cfg", "-c", "program {<image>} verify reset exit"),
    doc='OpenOCD manual, "Flash Programming": program <file> verify reset exit; board/ek-lm3s6965.cfg',
)

_TOO_SMALL_FOR_BLIMP = (
    "its 2 KB of RAM holds networks of ~3 neurons with uploads, ~18 compiled into flash, and the benchmark"
    " runs the blimp-shaped network (blob 5.7 KB, arena 4.8 KB; docs/firmware-boards.md)"
)


@dataclass(frozen=True)
class Board:
    """One board: identity, toolchain, emulator, memory, the device library's limits, instruction counting."""

    name: str  # what --board takes; the port lives in firmware/ports/<name>/ (unless `port_dir` says)
    cpu: str
    description: str  # a phrase for messages and docs
    device_name: str  # the name HELLO reports (SNN_DEV_BOARD_NAME)
    # -- build
    toolchain: str  # "cc" (the system C compiler, $CC) | "arm-none-eabi" | "avr" | "linux" (a cross gcc + libc)
    tool_prefix: str  # prefix of gcc/nm/size ("" = the system compiler)
    toolchain_packages: tuple[str, ...]  # Debian packages of the toolchain
    cflags: tuple[str, ...]  # cross-compiler flags (host: build.BASE_FLAGS and RELEASE/SANITIZE_FLAGS)
    defines: tuple[tuple[str, str], ...]  # -D macros of the image (the port's limits come via SNN_DEV_PORT_CONFIG)
    linker_script: str | None  # in the port directory (None: the toolchain's default)
    # -- emulator
    emulator: str  # "process" (a POSIX program on a pty) | "qemu" | "simavr" | "qemu-user" (a Linux program)
    emulator_packages: tuple[str, ...]  # Debian packages of the emulator
    qemu_machine: str | None  # qemu-system-arm -M ...
    # -- memory of the chip (None: a host process)
    ram_bytes: int | None
    flash_bytes: int | None
    # -- the device library's limits (snn_port_config.h; HELLO reports them)
    max_payload: int
    max_blob_bytes: int  # ONE upload slot (there are two)
    arena_bytes: int  # ONE slot's arena
    max_neurons: int
    max_synapses: int
    tick_hz: int  # rate of the cycle counter (0: none)
    # -- instruction counting: QEMU -icount shift=N makes every guest instruction take 2**N ns of
    # virtual time, so the cycle counter measures instructions (None: no instruction counts)
    icount_shift: int | None
    # -- what it cannot do: (capability, why), the why printed by the CLI
    unsupported: tuple[tuple[str, str], ...] = ()
    # -- flashing a real board: the tools that can, in order of preference (`snnctl firmware flash`)
    flash: tuple[FlashTool, ...] = ()
    # -- a port shared with another board (the Linux edge boards build ports/host/); None: ports/<name>/
    port_dir: str | None = None
    # -- emulator "qemu-user": the QEMU user-mode program that runs the binary (qemu-aarch64, qemu-arm)
    qemu_user: str | None = None

    @property
    def port(self) -> str:
        """The folder under firmware/ports/ holding this board's port."""
        return self.port_dir or self.name

    @property
    def is_program(self) -> bool:
        """A Linux program (the host device, an edge board's binary), not a microcontroller image."""
        return self.toolchain in ("cc", "linux")

    @property
    def packed_state(self) -> bool:
        """The core is built with SNN_PACKED_STATE (the packed arena of 8-bit targets; memory.py): as
        snn.h defaults it, on for an AVR unless the board's defines say otherwise."""
        return dict(self.defines).get("SNN_PACKED_STATE", "1" if self.toolchain == "avr" else "0") == "1"

    def can(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise ValueError(f"no board capability {capability!r} (known: {', '.join(CAPABILITIES)})")
        return all(cap != capability for cap, _ in self.unsupported)

    def why_not(self, capability: str) -> str | None:
        """Why this board cannot do `capability` (None if it can)."""
        return None if self.can(capability) else dict(self.unsupported)[capability]

    def instructions(self, seconds: float) -> float | None:
        """Guest instructions in `seconds` of the cycle counter's time (None without instruction counting)."""
        return None if self.icount_shift is None else seconds * 1e9 / 2**self.icount_shift


# The limits of ports/host/snn_port_config.h, shared by every board that runs the host port's program
# (the POSIX device and the Linux edge builds); tick: CLOCK_MONOTONIC nanoseconds.
HOST_PORT_LIMITS = dict(max_payload=1024, max_blob_bytes=262144, arena_bytes=262144, max_neurons=65535,
                        max_synapses=262144, tick_hz=1_000_000_000)  # fmt: skip
_LINUX_NO_FLASH = "a Linux board runs the program: copy the binary (scp) and start it there; docs/firmware-boards.md §6"
_QEMU_USER_TIMES = (
    "under qemu user mode its step times are this computer's emulation speed, not the board's:"
    " run the benchmark on the board itself"
)


def _linux_board(name: str, cpu: str, prefix: str, packages: tuple[str, ...], qemu_user: str) -> Board:
    """A Linux edge board: the host port (ports/host/snndev.c) cross-compiled, limits and all."""
    return Board(
        name=name,
        cpu=cpu,
        description=f"the {cpu} Linux program under {qemu_user}",
        device_name=name,
        toolchain="linux",
        tool_prefix=prefix,
        toolchain_packages=packages,
        cflags=LINUX_FLAGS,
        defines=(("SNN_DEV_PORT_CONFIG", "1"), ("SNN_DEV_BOARD_NAME", f'"{name}"')),
        linker_script=None,
        emulator="qemu-user",
        emulator_packages=QEMU_USER_PACKAGES,
        qemu_machine=None,
        ram_bytes=None,
        flash_bytes=None,
        **HOST_PORT_LIMITS,  # the same program (ports/host/snndev.c), cross-compiled
        icount_shift=None,
        unsupported=(
            ("flash", _LINUX_NO_FLASH),
            ("bench-firmware", _QEMU_USER_TIMES),
            ("bench-loop", _QEMU_USER_TIMES),
        ),
        port_dir="host",
        qemu_user=qemu_user,
    )


BOARDS: tuple[Board, ...] = (
    Board(
        name="host",
        cpu="the host's CPU",
        description="the POSIX virtual device",
        device_name="host-virtual",
        toolchain="cc",
        tool_prefix="",
        toolchain_packages=("gcc",),
        cflags=(),
        defines=(("SNN_DEV_PORT_CONFIG", "1"),),
        linker_script=None,
        emulator="process",
        emulator_packages=(),
        qemu_machine=None,
        ram_bytes=None,
        flash_bytes=None,
        **HOST_PORT_LIMITS,
        icount_shift=None,
        unsupported=(("flash", "it is a program on this computer, not a chip: snnctl firmware emulate --board host"),),
    ),
    Board(
        name="lm3s6965evb",
        cpu="Cortex-M3",
        description="the Cortex-M3 image under QEMU",
        device_name="lm3s6965evb",
        toolchain="arm-none-eabi",
        tool_prefix="arm-none-eabi-",
        toolchain_packages=ARM_TOOLCHAIN_PACKAGES,
        cflags=ARM_CM3_FLAGS,
        defines=(("SNN_DEV_PORT_CONFIG", "1"),),  # ports/lm3s6965evb/snn_port_config.h
        linker_script="lm3s6965.ld",
        emulator="qemu",
        emulator_packages=ARM_EMULATOR_PACKAGES,
        qemu_machine="lm3s6965evb",
        ram_bytes=64 * 1024,
        flash_bytes=256 * 1024,
        max_payload=1024,
        max_blob_bytes=16384,
        arena_bytes=10240,
        max_neurons=2048,
        max_synapses=16384,
        tick_hz=12_500_000,  # SysTick at the 12.5 MHz system clock QEMU gives it after reset
        icount_shift=7,
        flash=(OPENOCD_EK_LM3S6965,),
    ),
    Board(
        name="atmega328p",
        cpu="ATmega328P (8-bit AVR)",
        description="the 8-bit AVR image under libsimavr",
        device_name="atmega328p",
        toolchain="avr",
        tool_prefix="avr-",
        toolchain_packages=AVR_TOOLCHAIN_PACKAGES,
        cflags=("-mmcu=atmega328p", *AVR_FLAGS),
        defines=(
            ("SNN_DEV_PORT_CONFIG", "1"),
            ("F_CPU", "16000000UL"),
            ("SNN_CORE_UNITS", "0"),
            ("SNN_PACKED_STATE", "1"),
        ),
        linker_script=None,
        emulator="simavr",
        emulator_packages=AVR_EMULATOR_PACKAGES,
        qemu_machine=None,
        ram_bytes=2 * 1024,
        flash_bytes=32 * 1024,
        max_payload=64,
        max_blob_bytes=208,
        arena_bytes=124,
        max_neurons=16,
        max_synapses=208,
        tick_hz=16_000_000,  # CPU cycles (Timer1 at F_CPU)
        icount_shift=None,
        unsupported=(("bench-firmware", _TOO_SMALL_FOR_BLIMP), ("bench-loop", _TOO_SMALL_FOR_BLIMP)),
        flash=(AVRDUDE_ATMEGA328P,),
    ),
    # Arduino Mega 2560: the atmega328p port built for the ATmega2560 (8 KB RAM, 256 KB flash), with the
    # Arduino library's Mega-class slots (its payload is 64 there, for the core's Serial buffer); run
    # under libsimavr's atmega2560 core (simavr_runner -m).
    # No EEPROM persistence: the runner mirrors a 1 KB EEPROM file only.
    Board(
        name="atmega2560",
        cpu="ATmega2560 (8-bit AVR)",
        description="the 8-bit AVR image (Arduino Mega 2560) under libsimavr",
        device_name="atmega2560",
        toolchain="avr",
        tool_prefix="avr-",
        toolchain_packages=AVR_TOOLCHAIN_PACKAGES,
        cflags=("-mmcu=atmega2560", *AVR_FLAGS),
        defines=(
            ("SNN_DEV_PORT_CONFIG", "1"),
            ("F_CPU", "16000000UL"),
            ("SNN_CORE_UNITS", "0"),
            ("SNN_DEV_BOARD_NAME", '"atmega2560"'),
            ("SNN_DEV_MAX_PAYLOAD", "128u"),
            ("SNN_DEV_MAX_BLOB", "1024u"),
            ("SNN_DEV_ARENA_BYTES", "1344u"),
            ("SNN_DEV_MAX_NEURONS", "128u"),
            ("SNN_DEV_MAX_SYNAPSES", "1024u"),
            ("SNN_DEV_PERSIST", "0"),
            ("BOARD_RX_RING", "128u"),  # holds max_payload: the host's pipelining budget (protocol.md §2)
        ),  # fmt: skip
        linker_script=None,
        emulator="simavr",
        emulator_packages=AVR_EMULATOR_PACKAGES,
        qemu_machine=None,
        ram_bytes=8 * 1024,
        flash_bytes=256 * 1024,
        max_payload=128,
        max_blob_bytes=1024,
        arena_bytes=1344,
        max_neurons=128,
        max_synapses=1024,
        tick_hz=16_000_000,
        icount_shift=None,
        unsupported=(
            (
                "bench-firmware",
                "the benchmark's 160-neuron network (blob 5.7 KB, arena 4.8 KB) does not fit two 8 KB-board"
                " upload slots; docs/firmware-boards.md §2",
            ),
            ("bench-loop", "the benchmark's 160-neuron network does not fit two upload slots in 8 KB of RAM"),
        ),  # fmt: skip
        flash=(AVRDUDE_ATMEGA2560,),
        port_dir="atmega328p",
    ),
    # Raspberry Pi 3/4/5, Zero 2 W with a 64-bit OS; Jetson, Rock Pi, ... (docs/firmware-boards.md §6)
    _linux_board(
        "linux-aarch64", "AArch64 (64-bit ARM)", "aarch64-linux-gnu-", AARCH64_TOOLCHAIN_PACKAGES, "qemu-aarch64"
    ),  # fmt: skip
    # 32-bit Raspberry Pi OS (ARMv7 hard-float; Pi 2 and up, Zero 2 W on a 32-bit OS)
    _linux_board(
        "linux-armhf", "ARMv7 (32-bit ARM, hard float)", "arm-linux-gnueabihf-", ARMHF_TOOLCHAIN_PACKAGES, "qemu-arm"
    ),  # fmt: skip
)

BY_NAME = {b.name: b for b in BOARDS}


class BoardError(ValueError):
    """An unknown board, or one that cannot do what was asked; the message is one line and says why."""


def names(capability: str | None = None) -> tuple[str, ...]:
    """Board names in table order (those with `capability`, if given): what --board takes."""
    return tuple(b.name for b in BOARDS if capability is None or b.can(capability))


def get(name: str) -> Board:
    """The board called `name`; BoardError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r} (known: {', '.join(names())})") from None


def by_device_name(device_name: str) -> Board | None:
    """The board whose firmware reports `device_name` in HELLO (None for a board not in the table)."""
    return next((b for b in BOARDS if b.device_name == device_name), None)


def require(name: str, capability: str) -> Board:
    """The board `name` if it can do `capability`; else BoardError saying why, in one line."""
    board = get(name)
    why = board.why_not(capability)
    if why is not None:
        raise BoardError(f"{CAPABILITIES[capability]} cannot use {name}: {why}")
    return board


def argparse_type(capability: str):
    """`type=` of a --board option whose `choices` are `names(capability)`: a board of the table that
    lacks the capability is refused with the reason (argparse's "invalid choice" says none)."""
    import argparse

    def board_name(name: str) -> str:
        if name in BY_NAME:
            try:
                require(name, capability)
            except BoardError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return name  # unknown names: argparse's own "invalid choice" message lists the boards

    return board_name
