"""The ``snnctl`` command line: one module per command group, assembled here.

=================  ==========================================================================
module             commands
=================  ==========================================================================
``inspect``        ``snnctl inspect``
``units``          ``snnctl units`` (a port's raw sensor/actuator units, converted on the device)
``plot``           ``snnctl plot`` (raster and traces of a network)
``bench``          ``snnctl bench runtime | firmware | loop | robustness | evolve``
``device``         ``snnctl deploy``, ``snnctl device list | info | run``, ``snnctl firmware build | flash |
                   platformio | emulate``
``interchange``    ``snnctl import``, ``snnctl export`` (NIR, C header)
``experiments``    ``snnctl evolve``, ``snnctl train``, ``snnctl run`` (configs/*.toml; the family
                   registry is ``families``)
``loop``           ``snnctl hil`` (hardware in the loop)
=================  ==========================================================================

This subpackage is the only place in ``snnctl`` that imports the other packages (``sim``,
``evolve``, ``firmware_bridge``), and it imports them inside the handlers, so ``snnctl --help``
stays fast and ``import snnctl.cli`` pulls in neither numba nor the other packages. Mistakes a user
can fix (a missing file, a damaged ``.snn``, a bad argument) end as one line ``snnctl: error: ...``
on stderr and exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from snnctl import __version__
from snnctl.cli.common import UserError, load_network, print_help

__all__ = ["EXIT_USAGE", "UserError", "build_parser", "load_network", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnctl",
        description="Integer spiking neural network controllers: inspect networks, benchmark the runtime,"
        " deploy to microcontrollers.",
        epilog="examples:\n  snnctl inspect blimp.snn\n  snnctl bench runtime\n"
        "  snnctl firmware emulate --board host\n  snnctl deploy blimp.snn --port /dev/ttyUSB0\n\n"
        "Run 'snnctl COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snnctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from snnctl.cli import bench, device, experiments, inspect, interchange, loop, plot, units  # the command groups

    for group in (
        inspect,
        units,
        plot,
        bench,
        device,
        interchange,
        experiments,
        loop,
    ):  # the order `snnctl --help` lists
        group.add_parsers(sub)
    parser.set_defaults(handler=lambda _args: print_help(parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"snnctl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("snnctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or similar, which closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
