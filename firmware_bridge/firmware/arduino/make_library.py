#!/usr/bin/env python3
"""Assemble the snnctl Arduino/PlatformIO library from the canonical sources.

    python firmware_bridge/firmware/arduino/make_library.py [OUT_DIR] [--network NET.snn]

writes OUT_DIR/snnctl/ (default: this directory, i.e. firmware_bridge/firmware/arduino/snnctl/,
which git ignores). Copy or symlink that folder into ~/Arduino/libraries/, or zip it for
"Sketch > Include Library > Add .ZIP Library". With --network the library runs that network from
the board's flash (PROGMEM on AVR) and takes no uploads: the way a 2 KB Uno runs more than a toy
network. See docs/firmware-boards.md §4.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for firmware_bridge

from firmware_bridge.build import export_arduino_library  # noqa: E402


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="make_library.py", description="Write the snnctl Arduino library.")
    parser.add_argument("out", nargs="?", default=str(HERE), help="folder to write snnctl/ into")
    parser.add_argument("--network", metavar="NET.snn", help="compile this network into the library (flash)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        print(export_arduino_library(out, network=args.network))
    except (ValueError, OSError) as exc:
        print(f"make_library.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
