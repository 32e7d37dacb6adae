"""What every `snnctl` command module shares: the one-line user error, reading a .snn file and input files, help.

`UserError` is the core's `snnctl.errors.SnnctlError` under the name the command modules use:
one type, raised by the commands here and by the experiment families in `evolve/`, and printed
by `snnctl.cli.main` as one line (exit status 2). `load_network` is the core's too.
`output_file` checks a file a command will write (`--plot`, `--video`, `--log`) before the work
that produces it, so a typo in a folder name costs no run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from snnctl.errors import SnnctlError as UserError
from snnctl.errors import load_network
from snnctl.text import listing

__all__ = ["UserError", "image_suffixes", "load_network", "output_file", "print_help", "read_inputs"]


def print_help(parser: argparse.ArgumentParser) -> int:
    """A command given without its subcommand: show what it offers."""
    parser.print_help()
    return 0


def read_inputs(path: str, net: Any) -> tuple[Any, bool]:
    """(codes (T, n_in) int16, real-valued?) from a .npy of codes or a CSV of real values (quantised with `net`).

    What `snnctl device run --inputs` and `snnctl plot --inputs` take; CSV needs the network's input scales.
    """
    import numpy as np

    try:
        if path.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            if not np.issubdtype(arr.dtype, np.integer):
                raise UserError(f"{path}: a .npy input holds int16 codes, got {arr.dtype} (use a CSV of real values"
                                " with --net to quantise)")  # fmt: skip
            if arr.size and (arr.min() < -32768 or arr.max() > 32767):
                raise UserError(f"{path}: input codes must lie in -32768..32767")
            arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
            return arr.astype(np.int16), False
        if net is None:
            raise UserError(f"{path}: CSV inputs are real values; pass --net NET.snn (the deployed network) to"
                            " quantise them, or give int16 codes as .npy")  # fmt: skip
        with open(path) as f:
            first = f.readline()
        skip = 1 if any(c.isalpha() for c in first.replace("e", "").replace("E", "").replace("nan", "")) else 0
        x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip)
        return net.quantize_inputs(x), True
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def image_suffixes() -> tuple[str, ...]:
    """The file types matplotlib writes (`.png`, `.pdf`, `.svg`, ...): what a `--plot` name may end in
    (imported here, in a handler, so that `snnctl --help` does not load matplotlib)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes())


def output_file(path: str, flag: str, suffixes: Iterable[str], default_suffix: str | None = None) -> str:
    """A file the user asked to be written, checked before the work that makes it; returns its final name.

    The folder must exist and be writable and the name must not be a folder. A name without a suffix
    gets `default_suffix` (the writers add it themselves: matplotlib `.png`, numpy `.npz`), so the
    name a command prints is the file it wrote; another suffix than `suffixes` is refused.
    """
    allowed = tuple(suffixes)
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give a file name")
    if not p.suffix and default_suffix:
        p = p.with_name(p.name + default_suffix)
    if p.suffix.lower() not in allowed:
        kind = p.suffix or "suffix-less"
        raise UserError(f"{flag} {path}: cannot write a {kind} file; give {listing(allowed, 'or')}")
    folder = p.parent
    if not folder.is_dir():
        raise UserError(f"{flag} {path}: the folder {folder} does not exist")
    if p.is_dir():
        raise UserError(f"{flag} {path}: {p} is a folder; give a file name")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{flag} {path}: not writable here")
    return str(p)
