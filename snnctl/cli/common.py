"""What every `snnctl` command module shares: the one-line user error, reading a .snn file, help.

`UserError` is the core's `snnctl.errors.SnnctlError` under the name the command modules use:
one type, raised by the commands here and by the experiment families in `evolve/`, and printed
by `snnctl.cli.main` as one line (exit status 2). `load_network` is the core's too.
"""

from __future__ import annotations

import argparse

from snnctl.errors import SnnctlError as UserError
from snnctl.errors import load_network

__all__ = ["UserError", "load_network", "print_help"]


def print_help(parser: argparse.ArgumentParser) -> int:
    """A command given without its subcommand: show what it offers."""
    parser.print_help()
    return 0
