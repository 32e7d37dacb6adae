"""What every `snnctl` command module shares: the one-line user error, reading a .snn file and input files, help.

`UserError` is the core's `snnctl.errors.SnnctlError` under the name the command modules use:
one type, raised by the commands here and by the experiment families in `evolve/`, and printed
by `snnctl.cli.main` as one line (exit status 2). `load_network` is the core's too.
"""

from __future__ import annotations

import argparse
from typing import Any

from snnctl.errors import SnnctlError as UserError
from snnctl.errors import load_network

__all__ = ["UserError", "load_network", "print_help", "read_inputs"]


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
