"""Compile the host tools of the C99 core (`firmware/host/*.c` + `firmware/core/*.c`) with the system C compiler.

Binaries are cached under a hash of the sources, the compiler command and the flags, so repeated
builds are free and an edit to any core file triggers a rebuild. `CC` overrides the compiler
(it may carry arguments, e.g. ``CC="ccache gcc"``).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
CORE_DIR = FIRMWARE_DIR / "core"
HOST_DIR = FIRMWARE_DIR / "host"

BASE_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
RELEASE_FLAGS = ["-O2"]
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


def build_host_tool(name: str, out_dir: Path | None = None, sanitize: bool = False) -> Path:
    """Build `firmware/host/<name>.c` with the core and return the path of the executable.

    `sanitize=True` builds with AddressSanitizer and UBSan (any finding aborts the tool).
    """
    main = HOST_DIR / f"{name}.c"
    if not main.is_file():
        known = sorted(p.stem for p in HOST_DIR.glob("*.c"))
        raise ValueError(f"no host tool {name!r} in {HOST_DIR} (known: {', '.join(known)})")
    cc = compiler_command()
    flags = BASE_FLAGS + (SANITIZE_FLAGS if sanitize else RELEASE_FLAGS)
    core_c = sorted(CORE_DIR.glob("*.c"))
    sources = [main, *core_c]
    digest = hashlib.sha256()
    for part in (cc, flags):
        digest.update("\0".join(part).encode() + b"\n")
    digest.update(_compiler_identity(cc))
    for path in [*sources, *sorted(CORE_DIR.glob("*.h"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out_dir = Path(out_dir) if out_dir is not None else default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".exe" if os.name == "nt" else ""
    exe = out_dir / f"{name}{'-san' if sanitize else ''}-{digest.hexdigest()[:16]}{suffix}"
    if exe.is_file():
        return exe
    # compile to a temporary name, then rename: concurrent builds never see a half-written binary
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=suffix, dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = [*cc, *flags, "-I", str(CORE_DIR), *map(str, sources), "-o", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"building {name} failed (exit {proc.returncode}):\n{shlex.join(cmd)}\n{proc.stderr.strip()}"
            )
        tmp.chmod(0o755)
        os.replace(tmp, exe)
    finally:
        tmp.unlink(missing_ok=True)
    return exe
