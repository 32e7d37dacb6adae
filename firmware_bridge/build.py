"""Compile the host tools of the C99 core (`firmware/host/*.c` + `firmware/core/*.c`) with the system C compiler.

Binaries are cached under a hash of the sources, the compiler command and the flags, so repeated
builds are free and an edit to any core file triggers a rebuild. `CC` overrides the compiler
(it may carry arguments, e.g. ``CC="ccache gcc"``).

`build_firmware(board)` cross-compiles the image of an emulated board (`firmware/ports/<board>/` +
`firmware/device/` + `firmware/core/`) with its toolchain (for `lm3s6965evb`: arm-none-eabi-gcc from
the Debian package gcc-arm-none-eabi; for `atmega328p`: avr-gcc, through `build_avr_firmware`) and
`firmware_size(elf)` reports its flash and RAM use. Toolchains, flags and defines per board come
from the board table, `firmware_bridge.boards`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from firmware_bridge import boards, flash_network

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
CORE_DIR = FIRMWARE_DIR / "core"
HOST_DIR = FIRMWARE_DIR / "host"
HARVARD_DIR = HOST_DIR / "harvard"  # test build of the blob hook (snn_blob_harvard.h)

BASE_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
RELEASE_FLAGS = ["-O2"]
# a `.snn` path or its bytes to compile into an image, or a flash_network.BuiltIn (the network and a built-in START)
NetworkArg = str | Path | bytes | flash_network.BuiltIn | None
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/snnctl/build`, falling back to `~/.cache/snnctl/build`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snnctl" / "build"


def compiler_command() -> list[str]:
    """The C compiler command (`$CC` or `cc`); RuntimeError naming it if it cannot be found."""
    cc = shlex.split(os.environ.get("CC", "cc") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        raise RuntimeError(
            f"C compiler {cc[0] if cc else 'cc'!r} not found on PATH; install a C99 compiler (gcc or clang)"
            " or point the CC environment variable at one"
        )
    return cc


def _compiler_identity(cc: list[str]) -> bytes:
    try:
        proc = subprocess.run([*cc, "--version"], capture_output=True, timeout=30, check=False)
        return proc.stdout
    except (OSError, subprocess.SubprocessError):
        return b""


def build_host_tool(name: str, out_dir: Path | None = None, sanitize: bool = False,
                    defines: dict[str, int] | None = None, harvard: bool = False) -> Path:  # fmt: skip
    """Build `firmware/host/<name>.c` with the core and return the path of the executable.

    `sanitize=True` builds with AddressSanitizer and UBSan (any finding aborts the tool). `defines`
    (e.g. {"SNN_DECAY_WIDE": 0}) select the core's portable code paths on this host, so the paths an
    8/16-bit target compiles are tested here too. `harvard=True` (snnrun, snncheck) gives the core
    the blob at an unreadable address and the byte hook of `host/harvard/snn_blob_harvard.h`, as a
    network in AVR flash is: any read of the blob that bypasses the hook crashes the tool.
    """
    main = HOST_DIR / f"{name}.c"
    if not main.is_file():
        known = sorted(p.stem for p in HOST_DIR.glob("*.c"))
        raise ValueError(f"no host tool {name!r} in {HOST_DIR} (known: {', '.join(known)})")
    core_c = sorted(CORE_DIR.glob("*.c"))
    flags = [f"-D{k}={v}" for k, v in sorted((defines or {}).items())]
    if harvard:
        flags += ["-DSNN_HARVARD=1", '-DSNN_BLOB_CONFIG="snn_blob_harvard.h"']
        hook_c = sorted(HARVARD_DIR.glob("*.c"))
        return _build_cached(name, [main, *core_c, *hook_c], [CORE_DIR, HARVARD_DIR], flags, out_dir, sanitize)
    return _build_cached(name, [main, *core_c], [CORE_DIR], flags, out_dir, sanitize)


def build_host_device(out_dir: Path | None = None, sanitize: bool = False,
                      network: NetworkArg = None) -> Path:  # fmt: skip
    """Build the POSIX virtual device `snndev` (`firmware/ports/host/*.c` + `firmware/device/` +
    the core) and return the path of the executable.

    Run it with no argument to serve on a new pseudo-terminal or with ``--tcp PORT`` to serve on
    127.0.0.1; its first stdout line is ``URL <path or socket://...>`` (docs/protocol.md).
    `sanitize=True` builds with AddressSanitizer and UBSan. `network` (a `.snn` path or bytes)
    compiles that network in (`SNN_DEV_FLASH_NETWORK`, `firmware_bridge.flash_network`).
    """
    port = FIRMWARE_DIR / "ports" / "host"
    device = FIRMWARE_DIR / "device"
    sources = [*sorted(port.glob("*.c")), *sorted(device.glob("*.c")), *sorted(CORE_DIR.glob("*.c"))]
    spec = boards.get("host")
    all_defines, sources = _with_network(spec, dict(spec.defines), sources, network, out_dir)
    defines = [f"-D{k}={v}" for k, v in sorted(all_defines.items())]
    return _build_cached("snndev", sources, [CORE_DIR, device, port], defines, out_dir, sanitize)


def _build_cached(
    name: str,
    sources: list[Path],
    include_dirs: list[Path],
    extra_flags: list[str],
    out_dir: Path | None,
    sanitize: bool,
) -> Path:
    """Compile `sources` into one executable cached under a hash of sources, headers, compiler and flags."""
    cc = compiler_command()
    flags = BASE_FLAGS + (SANITIZE_FLAGS if sanitize else RELEASE_FLAGS) + extra_flags
    digest = hashlib.sha256()
    for part in (cc, flags):
        digest.update("\0".join(part).encode() + b"\n")
    digest.update(_compiler_identity(cc))
    headers = [h for d in include_dirs for h in sorted(d.glob("*.h"))]
    for path in [*sources, *headers]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out_dir = Path(out_dir) if out_dir is not None else default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".exe" if os.name == "nt" else ""
    exe = out_dir / f"{name}{'-san' if sanitize else ''}-{digest.hexdigest()[:16]}{suffix}"
    if exe.is_file():
        return exe
    includes = [arg for d in include_dirs for arg in ("-I", str(d))]
    _compile_into(exe, lambda out: [*cc, *flags, *includes, *map(str, sources), "-o", out], name)
    return exe


def _compile_into(exe: Path, command: Callable[[str], list[str]], what: str) -> None:
    """Run `command(tmp_path)` and rename its output to `exe`: concurrent builds never see a
    half-written binary, and a failed build leaves nothing behind."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{exe.name}-", dir=exe.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = command(str(tmp))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"building {what} failed (exit {proc.returncode}):\n{shlex.join(cmd)}\n{proc.stderr.strip()}"
            )
        tmp.chmod(0o755)
        os.replace(tmp, exe)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Cross-compiled firmware images for the emulated boards (firmware/ports/<board>/).
# ---------------------------------------------------------------------------------------------

DEVICE_DIR = FIRMWARE_DIR / "device"
PORTS_DIR = FIRMWARE_DIR / "ports"

ARM_TOOLCHAIN_PACKAGES = boards.ARM_TOOLCHAIN_PACKAGES  # soft_float_symbols' hint

# Software floating point would mean the core or the device library used float/double somewhere.
_SOFT_FLOAT_SYMBOL = re.compile(r"^__aeabi_(?:[fd]\w+|u?[il]2[fd])$")


def apt_install_hint(packages: tuple[str, ...] | list[str]) -> str:
    """The command line that installs `packages` on Debian/Ubuntu."""
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def cross_tools(board: str) -> dict[str, str]:
    """Paths of gcc, nm and size for `board`'s cross toolchain; RuntimeError naming the apt packages."""
    spec = boards.get(board)
    spec = _board_spec(board, "linux" if spec.toolchain == "linux" else "arm-none-eabi")
    tools = {}
    for tool in ("gcc", "nm", "size"):
        path = shutil.which(spec.tool_prefix + tool)
        if path is None:
            raise RuntimeError(
                f"{spec.tool_prefix}{tool} not found on PATH: the {board} firmware needs the "
                f"{', '.join(spec.toolchain_packages)} package(s); install with:"
                f" {apt_install_hint(spec.toolchain_packages)} (or run firmware_bridge/firmware/install-toolchains.sh)"
            )
        tools[tool] = path
    if spec.toolchain == "linux":  # Debian's cross C library: /usr/<triplet>/include, lib/libc.a
        sysroot = Path("/usr") / spec.tool_prefix.rstrip("-")
        if not (sysroot / "include" / "stdio.h").is_file():
            raise RuntimeError(
                f"the {board} C library is missing ({sysroot}/include/stdio.h); install with:"
                f" {apt_install_hint(spec.toolchain_packages)} (or run firmware_bridge/firmware/install-toolchains.sh)"
            )
    return tools


def _board_spec(board: str, toolchain: str = "arm-none-eabi") -> boards.Board:
    """The table's entry of `board` if `toolchain` builds it; ValueError naming the boards it builds."""
    spec = boards.BY_NAME.get(board)
    if spec is None or spec.toolchain != toolchain:
        known = [b.name for b in boards.BOARDS if b.toolchain == toolchain]
        raise ValueError(f"no {toolchain} firmware board {board!r} (known: {', '.join(known)})")
    return spec


def firmware_sources(board: str) -> list[Path]:
    """The C files of `board`'s image: core, device library, port."""
    port = PORTS_DIR / _board_spec(board).port
    device_c = sorted(DEVICE_DIR.glob("*.c"))
    if not (DEVICE_DIR / "snn_device.h").is_file() or not device_c:
        raise RuntimeError(f"the device library ({DEVICE_DIR}) is missing or incomplete")
    return [*sorted(CORE_DIR.glob("*.c")), *device_c, *sorted(port.glob("*.c"))]


def _with_network(spec: boards.Board, defines: dict[str, str], sources: list[Path], network: NetworkArg,
                  out_dir: Path | None) -> tuple[dict[str, str], list[Path]]:  # fmt: skip
    """`defines` and `sources` of an image, plus a compiled-in `network` (and its built-in START) if one is given."""
    if network is None:
        return defines, sources
    source, start = flash_network.split(network)
    net, blob = flash_network.read_network(source)
    gen = flash_network.write_source(blob, Path(out_dir) if out_dir is not None else default_cache_dir())
    return {**defines, **flash_network.defines(net, spec, start)}, [*sources, gen]


def _source_key(path: Path) -> str:
    """A source's name in an image's hash: its path under firmware/, or its file name (generated sources,
    which are named by their content)."""
    try:
        return str(path.relative_to(FIRMWARE_DIR))
    except ValueError:
        return path.name


def build_firmware(board: str, out_dir: Path | None = None, network: NetworkArg = None) -> Path:
    """Cross-compile the firmware of `board` and return the path of its `fw.elf` (a `fw.map` beside it).

    The image is cached in a directory named after a hash of the sources, headers, linker script,
    flags and compiler version. RuntimeError if the toolchain is missing (naming the apt packages),
    if compiling fails, or if the image contains software floating-point helpers. An AVR board is
    built by `build_avr_firmware`; the host board has no image (`build_host_device`). `network` (a
    `.snn` path or bytes) is compiled into the image: the device runs it from flash and takes no
    uploads (`firmware_bridge.flash_network`).
    """
    if boards.get(board).toolchain == "avr":
        return build_avr_firmware(board, out_dir, network=network)
    if boards.get(board).toolchain == "linux":
        return build_linux_device(board, out_dir, network=network)
    spec = _board_spec(board)
    tools = cross_tools(board)
    port = PORTS_DIR / spec.port
    ldscript = port / spec.linker_script
    include_dirs = [CORE_DIR, DEVICE_DIR, port, port / "libc"]
    all_defines, sources = _with_network(spec, dict(spec.defines), firmware_sources(board), network, out_dir)
    defines = [f"-D{k}={v}" for k, v in sorted(all_defines.items())]
    flags = [*spec.cflags, *defines]
    link = [f"-T{ldscript}", "-Wl,--gc-sections", "-Wl,-Map=fw.map", "-lgcc"]

    def check_floats(tmp: Path) -> None:
        floats = soft_float_symbols(tmp / "fw.elf", nm=tools["nm"])
        if floats:
            raise RuntimeError(
                f"the {board} firmware links software floating point ({', '.join(floats)}): the core and"
                f" the device library must not use float or double; see {tmp / 'fw.map'} for who pulls them in"
            )

    return _build_image(board, tools["gcc"], flags, include_dirs, sources, link, [ldscript], out_dir, check_floats)


def _build_image(board: str, gcc: str, flags: list[str], include_dirs: list[Path], sources: list[Path],
                 link: list[str], extra_inputs: list[Path], out_dir: Path | None,
                 check_floats: Callable[[Path], None], output: str = "fw.elf") -> Path:  # fmt: skip
    """Compile and link one firmware image (`fw.elf`, `fw.map` beside it) into the cache, once per content.

    The cache folder is named after a hash of compiler, flags, link options and every source, header
    and `extra_inputs` file (a linker script): a change anywhere rebuilds. The image is built in a
    private folder, checked (`check_floats(folder)` raises on software floating point), then renamed
    into place, so concurrent builds never see a half-written image.
    """
    headers = sorted(p for d in include_dirs for p in d.glob("*.h"))
    digest = hashlib.sha256()
    for part in ([gcc], flags, link):
        digest.update("\0".join(part).encode() + b"\n")
    digest.update(_compiler_identity([gcc]))
    for path in [*sources, *headers, *extra_inputs]:
        digest.update(_source_key(path).encode() + b"\0" + path.read_bytes())
    out_dir = Path(out_dir) if out_dir is not None else default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"fw-{board}-{digest.hexdigest()[:16]}"
    elf = final / output
    if elf.is_file():
        return elf
    tmp = Path(tempfile.mkdtemp(prefix=f".fw-{board}-", dir=out_dir))
    try:
        cmd = [gcc, *flags, *(f"-I{d}" for d in include_dirs), *map(str, sources), "-o", output, *link]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"building the {board} firmware failed (exit {proc.returncode}):\n{shlex.join(cmd)}\n"
                f"{proc.stderr.strip()}"
            )
        check_floats(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not elf.is_file():  # not a concurrent build that won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return elf


def soft_float_symbols(elf: Path, nm: str | None = None) -> list[str]:
    """The software floating-point helpers (`__aeabi_f*`, `__aeabi_d*`, `__aeabi_i2f`, ...) in `elf`."""
    nm = nm or shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise RuntimeError(f"arm-none-eabi-nm not found; install with: {apt_install_hint(ARM_TOOLCHAIN_PACKAGES)}")
    proc = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True)
    names = (line.split()[-1] for line in proc.stdout.splitlines() if line.strip())
    return sorted({n for n in names if _SOFT_FLOAT_SYMBOL.match(n)})


def firmware_size(elf: Path) -> dict[str, int]:
    """Flash and RAM use of a firmware image, read from its ELF section headers (no tools needed).

    `text` = code, read-only data and tables; `data` = initialised RAM (its initial values also
    occupy flash); `bss` = zeroed RAM. `flash` = text + data, `ram` = data + bss (the stack comes
    on top, from the end of RAM down).
    """
    raw = Path(elf).read_bytes()
    if raw[:4] != b"\x7fELF" or raw[4] != 1 or raw[5] != 1:
        raise ValueError(f"{elf}: not a little-endian 32-bit ELF file")
    (shoff,) = struct.unpack_from("<I", raw, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", raw, 0x2E)
    sizes = {"text": 0, "data": 0, "bss": 0}
    for i in range(shnum):
        _name, sh_type, sh_flags, _addr, _off, sh_size = struct.unpack_from("<IIIIII", raw, shoff + i * shentsize)
        if not sh_flags & 0x2 or sh_size == 0:  # SHF_ALLOC
            continue
        if sh_type == 8:  # SHT_NOBITS
            sizes["bss"] += sh_size
        elif sh_flags & 0x1:  # SHF_WRITE
            sizes["data"] += sh_size
        else:
            sizes["text"] += sh_size
    sizes["flash"] = sizes["text"] + sizes["data"]
    sizes["ram"] = sizes["data"] + sizes["bss"]
    return sizes


# ---------------------------------------------------------------------------------------------
# Linux edge boards (linux-aarch64, linux-armhf): the host port, ports/host/snndev.c, cross-compiled
# as one static Linux program (docs/firmware-boards.md §6). The same source as `build_host_device`,
# so the edge board serves exactly what the tests check on the host, plus its limits' board name.
# ---------------------------------------------------------------------------------------------

# the C path (core + device library) must hold no float: -mgeneral-regs-only makes the compiler
# refuse any floating-point or SIMD register use, so a float slipping in fails the build (AArch64)
_NO_FLOAT_FLAG = {"aarch64-linux-gnu-": "-mgeneral-regs-only"}


def build_linux_device(board: str, out_dir: Path | None = None, network: NetworkArg = None) -> Path:
    """Cross-compile the protocol server `snndev` for the Linux board `board` and return its path.

    Core + device library + ports/host/*.c (snndev.c, snn_plugin.c), static, cached like the firmware images (a `fw.map`
    beside it). RuntimeError naming the apt packages if the cross gcc or its C library is missing.
    On AArch64 the core and device library are first compiled alone with -mgeneral-regs-only, which
    fails on any float or double: the same guarantee the MCU builds get from their soft-float check.
    """
    spec = _board_spec(board, "linux")
    tools = cross_tools(board)
    port = PORTS_DIR / spec.port
    sources = [*sorted(CORE_DIR.glob("*.c")), *sorted(DEVICE_DIR.glob("*.c")), *sorted(port.glob("*.c"))]
    include_dirs = [CORE_DIR, DEVICE_DIR, port]
    all_defines, sources = _with_network(spec, dict(spec.defines), sources, network, out_dir)
    flags = [*spec.cflags, *(f"-D{k}={v}" for k, v in sorted(all_defines.items()))]
    link = ["-Wl,--gc-sections", "-Wl,-Map=fw.map"]

    def check_floats(tmp: Path) -> None:
        no_float = _NO_FLOAT_FLAG.get(spec.tool_prefix)
        if no_float is None:
            return
        c_path = [s for s in sources if s.parent in (CORE_DIR, DEVICE_DIR)]
        cmd = [tools["gcc"], *flags, no_float, "-c", *(f"-I{d}" for d in include_dirs), *map(str, c_path)]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        for obj in tmp.glob("*.o"):
            obj.unlink()
        if proc.returncode != 0:
            raise RuntimeError(
                f"the {board} core/device library uses floating point (refused by {no_float}):\n{proc.stderr.strip()}"
            )

    return _build_image(board, tools["gcc"], flags, include_dirs, sources, link, [], out_dir, check_floats, "snndev")


# ---------------------------------------------------------------------------------------------
# 8-bit AVR: the atmega328p port under simavr (ports/atmega328p/, docs/firmware-boards.md).
# Kept apart from build_firmware: avr-gcc needs no linker script or libc of the port's own, and
# the simulator is a host program (simavr_runner.c) linked against libsimavr.
# ---------------------------------------------------------------------------------------------

AVR_TOOLCHAIN_PACKAGES = boards.AVR_TOOLCHAIN_PACKAGES
AVR_EMULATOR_PACKAGES = boards.AVR_EMULATOR_PACKAGES
_AVR_SOFT_FLOAT_SYMBOL = re.compile(
    r"^__(?:(?:add|sub|mul|div|cmp|eq|ne|lt|le|gt|ge|unord)sf3|float\w*sf|fix\w*sfsi|fp_\w+)$"
)
_AVR_RUNNER = "simavr_runner.c"  # a host program in the port directory, not part of the image


def avr_tools() -> dict[str, str]:
    """Paths of avr-gcc, avr-nm and avr-size; RuntimeError naming the apt packages if missing."""
    tools = {}
    for tool in ("gcc", "nm", "size"):
        path = shutil.which("avr-" + tool)
        if path is None:
            raise RuntimeError(
                f"avr-{tool} not found on PATH: the AVR firmware needs {', '.join(AVR_TOOLCHAIN_PACKAGES)}; "
                f"install with: {apt_install_hint(AVR_TOOLCHAIN_PACKAGES)}"
            )
        tools[tool] = path
    if not Path("/usr/lib/avr/include/avr/io.h").is_file():  # avr-libc (Debian's path)
        raise RuntimeError(f"avr-libc is missing; install with: {apt_install_hint(AVR_TOOLCHAIN_PACKAGES)}")
    return tools


def build_avr_firmware(board: str = "atmega328p", out_dir: Path | None = None,
                       defines: dict[str, str] | None = None, network: NetworkArg = None) -> Path:  # fmt: skip
    """Cross-compile the AVR image of `board` (core + device library + ports/<board>/) with avr-gcc.

    `defines` override the port's limits (e.g. ``{"SNN_DEV_MAX_BLOB": "180u"}``); `network` (a `.snn`
    path or bytes) is compiled into flash (PROGMEM, read with LPM through the core's blob hook) with
    one arena sized for it, and the device takes no uploads. Returns `fw.elf`
    (a `fw.map` beside it), cached under a hash of sources, flags and compiler. RuntimeError if
    the toolchain is missing, compiling fails, or the image links software floating point.
    """
    spec = _board_spec(board, "avr")
    tools = avr_tools()
    port = PORTS_DIR / spec.port
    sources = [
        *sorted(CORE_DIR.glob("*.c")),
        *sorted(DEVICE_DIR.glob("*.c")),
        *sorted(p for p in port.glob("*.c") if p.name != _AVR_RUNNER),
    ]
    include_dirs = [CORE_DIR, DEVICE_DIR, port]
    all_defines, sources = _with_network(spec, dict(spec.defines), sources, network, out_dir)
    all_defines.update(defines or {})
    flags = [*spec.cflags, *(f"-D{k}={v}" for k, v in sorted(all_defines.items()))]
    link = ["-Wl,--gc-sections", "-Wl,-Map=fw.map"]

    def check_floats(tmp: Path) -> None:
        nm = subprocess.run([tools["nm"], str(tmp / "fw.elf")], capture_output=True, text=True, check=True)
        floats = sorted({ln.split()[-1] for ln in nm.stdout.splitlines()
                         if ln.strip() and _AVR_SOFT_FLOAT_SYMBOL.match(ln.split()[-1])})  # fmt: skip
        if floats:
            raise RuntimeError(f"the {board} firmware links software floating point ({', '.join(floats)})")

    return _build_image(board, tools["gcc"], flags, include_dirs, sources, link, [], out_dir, check_floats)


def build_simavr_runner(out_dir: Path | None = None) -> Path:
    """Build `ports/atmega328p/simavr_runner.c` (host gcc + libsimavr from libsimavr-dev)."""
    cc = compiler_command()
    src = PORTS_DIR / "atmega328p" / _AVR_RUNNER
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        raise RuntimeError(f"libsimavr headers not found; install with: {apt_install_hint(AVR_EMULATOR_PACKAGES)}")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
    libs = ["-lsimavr", "-lutil"]
    digest = hashlib.sha256()
    digest.update("\0".join([*cc, *flags, *libs]).encode() + src.read_bytes())
    digest.update(_compiler_identity(cc))
    out_dir = Path(out_dir) if out_dir is not None else default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"simavr_runner-{digest.hexdigest()[:16]}"
    if exe.is_file():
        return exe
    _compile_into(exe, lambda out: [*cc, *flags, str(src), "-o", out, *libs], "the simavr runner")
    return exe


# ---------------------------------------------------------------------------------------------
# Arduino / PlatformIO library (firmware/arduino/, docs/firmware-boards.md), assembled from the
# canonical sources: core/ and device/ are copied, never edited by hand in the library.
# ---------------------------------------------------------------------------------------------

ARDUINO_DIR = FIRMWARE_DIR / "arduino"
ARDUINO_LIBRARY_NAME = "snnctl"


def _project_version() -> str:
    try:
        from snnctl import __version__

        return str(__version__)
    except Exception:  # pragma: no cover - the package is importable wherever this runs
        return "0.0.0"


_ARDUINO_NETWORK_CONFIG = "snn_network_config.h"  # a flash-network library's settings (generated)


def _arduino_network_files(network: NetworkArg) -> dict[str, str]:
    """The generated sources of a library with `network` compiled in: its settings header (flash
    mode, one arena sized for the network + the AVR alignment slack, the network's own counts; the
    AVR blob hook) and the C file holding the blob (PROGMEM on AVR) and `board_flash_network`."""
    source, start = flash_network.split(network)
    if start is not None:
        raise ValueError("the Arduino library takes no built-in START (--start): start it from the host"
                         " with snnctl device start --port PORT")  # fmt: skip
    net, blob = flash_network.read_network(source)
    # the arena in the core's layout of each architecture: packed on AVR (+ its alignment slack), 32-bit elsewhere
    avr_arena = flash_network.arena_bytes(net, boards.get("atmega328p"))
    arena = flash_network.arena_bytes(net, boards.get("lm3s6965evb"))
    settings = {
        "SNN_DEV_FLASH_NETWORK": "1",
        "SNN_DEV_MAX_NEURONS": f"{net.n_neurons}u",
        "SNN_DEV_MAX_SYNAPSES": f"{max(net.n_synapses, 1)}u",
        "SNN_DEV_MAX_INPUTS": f"{net.n_inputs}u",
        "SNN_DEV_MAX_OUTPUTS": f"{net.n_outputs}u",
        "SNN_DEV_SENSOR_CODES": f"{net.n_inputs}u",
    }
    header = [
        "/* snn_network_config.h - this library runs ONE network compiled into the sketch's flash",
        " * (generated by make_library.py --network; do not edit). The device takes no uploads; HELLO",
        " * reports capability bit 4. On AVR the blob is PROGMEM, read with pgm_read_byte (snn_avr_flash.h). */",
        "#ifndef SNN_NETWORK_CONFIG_H",
        "#define SNN_NETWORK_CONFIG_H",
        *(f"#define {k} {v}" for k, v in settings.items()),
        "#if defined(__AVR__)",
        f"#define SNN_DEV_ARENA_BYTES {avr_arena}u /* packed state (SNN_PACKED_STATE, snn.h) */",
        '#include "snn_avr_flash.h"',
        "#else",
        f"#define SNN_DEV_ARENA_BYTES {arena}u",
        "#endif",
        "#endif /* SNN_NETWORK_CONFIG_H */",
        "",
    ]
    return {_ARDUINO_NETWORK_CONFIG: "\n".join(header), "snn_flash_network.c": flash_network.source_text(blob)}


def export_arduino_library(out_dir: Path, network: NetworkArg = None) -> Path:
    """Write the Arduino library `snnctl` into `out_dir/snnctl/` and return that directory.

    Layout (Arduino library format 1.5, also a PlatformIO library): `library.properties`,
    `library.json`, `src/` = core/*.c|h + device/*.c|h + arduino/snnctl.h + arduino/snn_port_config.h
    (`src/snn_dev_config.h` gets `SNN_DEV_PORT_CONFIG` defined up front, since the Arduino IDE has
    no per-library compiler flags), `examples/SnnDevice/SnnDevice.ino`. An existing `snnctl/` is
    replaced. With `network` (a `.snn` path or bytes) the library runs that network from flash
    (`_arduino_network_files`; `snn_blob.h` and `snn_dev_config.h` include its settings first).
    """
    import json

    sentence = "Integer spiking neural networks from snnctl, run bit-identically and served over a serial protocol"
    out = Path(out_dir) / ARDUINO_LIBRARY_NAME
    version = _project_version()
    tmp = Path(tempfile.mkdtemp(prefix=".snnctl-arduino-", dir=Path(out_dir)))
    try:
        src = tmp / "src"
        src.mkdir()
        generated = _arduino_network_files(network) if network is not None else {}
        first = f'#include "{_ARDUINO_NETWORK_CONFIG}" /* the compiled-in network (generated line) */\n'
        for d in (CORE_DIR, DEVICE_DIR):
            for path in sorted([*d.glob("*.c"), *d.glob("*.h")]):
                text = path.read_text()
                if path.name == "snn_dev_config.h":
                    text = (
                        "/* snnctl Arduino library: use the library's snn_port_config.h (generated line). */\n"
                        "#ifndef SNN_DEV_PORT_CONFIG\n#define SNN_DEV_PORT_CONFIG 1\n#endif\n" + text
                    )
                if generated and path.name in ("snn_dev_config.h", "snn_blob.h"):
                    text = first + text
                (src / path.name).write_text(text)
        if generated:
            shutil.copyfile(PORTS_DIR / "atmega328p" / "snn_avr_flash.h", src / "snn_avr_flash.h")
            for name, text in generated.items():
                (src / name).write_text(text)
        for name in ("snnctl.h", "snn_port_config.h"):
            shutil.copyfile(ARDUINO_DIR / name, src / name)
        examples = ARDUINO_DIR / "examples"
        shutil.copytree(examples, tmp / "examples")
        (tmp / "library.properties").write_text(
            "\n".join(
                [
                    f"name={ARDUINO_LIBRARY_NAME}",
                    f"version={version}",
                    "author=snnctl developers",
                    "maintainer=snnctl developers",
                    f"sentence={sentence}.",
                    "paragraph=Upload a .snn network from the host (snnctl deploy), step it over USB serial, get a"
                    " watchdog fail-safe. Portable C99 core, no malloc, no float; the sketch supplies seven board"
                    " functions.",
                    "category=Data Processing",
                    "url=https://pypi.org/project/snnctl/",
                    "architectures=*",
                    "includes=snnctl.h",
                    "",
                ]
            )
        )
        manifest = {
            "name": ARDUINO_LIBRARY_NAME,
            "version": version,
            "description": sentence,
            "keywords": ["snn", "spiking", "neural network", "controller", "serial"],
            "authors": [{"name": "snnctl developers", "maintainer": True}],
            "frameworks": ["arduino"],
            "platforms": "*",
            "headers": "snnctl.h",
            "build": {"srcDir": "src", "includeDir": "src", "flags": ["-DSNN_DEV_PORT_CONFIG=1"]},
            "examples": [{"name": "SnnDevice", "base": "examples/SnnDevice", "files": ["SnnDevice.ino"]}],
        }
        (tmp / "library.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
