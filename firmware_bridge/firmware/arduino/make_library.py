#!/usr/bin/env python3
"""Assemble the snnctl Arduino/PlatformIO library from the canonical sources.

    python firmware_bridge/firmware/arduino/make_library.py [OUT_DIR]

writes OUT_DIR/snnctl/ (default: this directory, i.e. firmware_bridge/firmware/arduino/snnctl/,
which git ignores). Copy or symlink that folder into ~/Arduino/libraries/, or zip it for
"Sketch > Include Library > Add .ZIP Library". See docs/firmware-boards.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for firmware_bridge

from firmware_bridge.build import export_arduino_library  # noqa: E402


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE
    out.mkdir(parents=True, exist_ok=True)
    print(export_arduino_library(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
