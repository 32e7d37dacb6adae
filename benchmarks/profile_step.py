"""Per-function instruction profile of the core step on the emulated Cortex-M3 (lm3s6965evb).

WHY: `snnctl bench firmware` gives one number per step; to know where it goes, this runs the same
blimp-shaped network and input codes under QEMU with icount off and `-d in_asm,exec,nochain`
(every executed translation block is logged, chaining off), counts the guest instructions of each
block from its disassembly and adds them up per function symbol of the image (nm). Only the
`steps` STEP commands are counted (the trace is cut at markers around them); the device's
protocol code shows up as its own functions.

    PYTHONPATH=. python benchmarks/profile_step.py [--steps 50]
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import stat
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from firmware_bridge import build, emulators
from firmware_bridge.device import Device
from snnctl.models import blimp_shaped_network

_TB_HEAD = re.compile(r"^IN: ?(\S*)")
_INSN = re.compile(r"^0x([0-9a-f]+):")
_EXEC = re.compile(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def _symbols(elf: Path) -> tuple[list[int], list[str]]:
    out = subprocess.run(["arm-none-eabi-nm", "-n", str(elf)], check=True, capture_output=True, text=True).stdout
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            addrs.append(int(parts[0], 16) & ~1)
            names.append(parts[2])
    return addrs, names


def _tb_sizes(trace: str) -> dict[int, int]:
    """Instructions per translation block start address (the last translation of each wins)."""
    sizes: dict[int, int] = {}
    start, n = None, 0
    for line in trace.splitlines():
        if _TB_HEAD.match(line):
            if start is not None:
                sizes[start] = n
            start, n = None, 0
        else:
            m = _INSN.match(line)
            if m:
                if start is None:
                    start = int(m.group(1), 16)
                n += 1
    if start is not None:
        sizes[start] = n
    return sizes


def profile(steps: int = 50) -> tuple[Counter, Counter, int]:
    """Instructions per function and per translation block (start address) summed over `steps`
    steps, and the total."""
    board = "lm3s6965evb"
    elf = build.build_firmware(board)
    net = blimp_shaped_network()
    codes = np.random.default_rng(0).integers(-600, 600, (steps, 1)).astype(np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace.log"
        wrapper = Path(tmp) / "qemu-trace"
        real = emulators.shutil.which(emulators.QEMU)
        if real is None:
            raise SystemExit(f"{emulators.QEMU} not found")
        wrapper.write_text(f'#!/bin/sh\nexec {real} "$@" -d in_asm,exec,nochain -D {log}\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
        saved = emulators.QEMU
        emulators.QEMU = str(wrapper)
        try:
            with emulators.start_emulator(board, icount=False) as emu, Device(emu.url, timeout=5.0) as dev:
                dev.hello()
                dev.deploy(net)
                dev.reset()
                dev.step(codes[0])  # warm-up: translate the step's blocks once
                mark = os.path.getsize(log)
                for k in range(steps):
                    dev.step(codes[k])
                end = os.path.getsize(log)
        finally:
            emulators.QEMU = saved
        text = log.read_text(errors="replace")
    sizes = _tb_sizes(text)
    addrs, names = _symbols(elf)
    per_fn: Counter = Counter()
    per_tb: Counter = Counter()
    for line in text[mark:end].splitlines():
        m = _EXEC.search(line)
        if m:
            pc = int(m.group(1), 16)
            i = bisect.bisect_right(addrs, pc) - 1
            per_fn[names[i] if i >= 0 else "?"] += sizes.get(pc, 0)
            per_tb[(pc, names[i] if i >= 0 else "?")] += sizes.get(pc, 0)
    return per_fn, per_tb, sum(per_fn.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--blocks", type=int, default=0, help="also list the N costliest translation blocks")
    args = ap.parse_args()
    per_fn, per_tb, total = profile(args.steps)
    print(f"instructions per step, by function (mean of {args.steps} steps; protocol code included)")
    for name, n in per_fn.most_common(25):
        print(f"  {name:32s} {n / args.steps:10.1f}")
    print(f"  {'total':32s} {total / args.steps:10.1f}")
    if args.blocks:
        print("costliest translation blocks (start address, function, instructions per step)")
        for (pc, name), n in per_tb.most_common(args.blocks):
            print(f"  0x{pc:08x} {name:24s} {n / args.steps:10.1f}")


if __name__ == "__main__":
    main()
