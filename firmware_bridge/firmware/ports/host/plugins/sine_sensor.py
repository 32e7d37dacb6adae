#!/usr/bin/env python3
"""A sample sensor/actuator plug-in for `snndev --plugin` (docs/firmware-boards.md §6).

The sensor is a sine of the period number: to `read P` it answers, for input i of N,

    round(offset + amplitude * sin(2 pi (P / cycle + i / N)))

(raw sensor units, e.g. lidar millimetres), and it takes each `out V1 ... Vm` line as the
actuators' raw values. With --log it appends what it answered and what it was given, one line
each ("read P V1 ... Vn", "read P none", "out V1 ... Vm"), so a test can hold the device to it.
Fault switches, counted in `read` requests received (1 = the first):
--none-after R --none-for W answers `none` to reads R+1 .. R+W; --stall-at R --stall-ms S sleeps
S ms before answering read R; --exit-after R exits with status 3 after answering read R.

Standard library only: copy it to the board beside snndev and run
    ./snndev --serial /dev/serial0 --plugin 'python3 sine_sensor.py --inputs 1'
It exits at EOF on stdin (snndev closes the pipe when it stops).
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def sample(period: int, n: int, amplitude: float, offset: float, cycle: float) -> list[int]:
    """The raw values for period `period`: a sine, phase-shifted per input."""
    return [round(offset + amplitude * math.sin(2 * math.pi * (period / cycle + i / n))) for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1, help="values per sample (the network's inputs)")
    ap.add_argument("--amplitude", type=float, default=800.0)
    ap.add_argument("--offset", type=float, default=1500.0)
    ap.add_argument("--cycle", type=float, default=40.0, help="periods per sine cycle")
    ap.add_argument("--log", help="append every answer and every `out` line to this file")
    ap.add_argument("--none-after", type=int, default=-1)
    ap.add_argument("--none-for", type=int, default=0)
    ap.add_argument("--stall-at", type=int, default=-1)
    ap.add_argument("--stall-ms", type=float, default=0.0)
    ap.add_argument("--exit-after", type=int, default=-1)
    args = ap.parse_args(argv)
    log = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115 (open for the whole run)
    reads = 0
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["read"] and len(words) == 2:
            reads += 1
            period = int(words[1])
            if args.none_after < reads <= args.none_after + args.none_for:
                answer = "none"
            else:
                answer = " ".join(map(str, sample(period, args.inputs, args.amplitude, args.offset, args.cycle)))
            if reads == args.stall_at:
                time.sleep(args.stall_ms / 1000)
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()  # the device waits for this line: never leave it in a buffer
            if log:
                log.write(f"read {period} {answer}\n")
            if reads == args.exit_after:
                return 3
        elif words[:1] == ["out"]:
            if log:
                log.write(line if line.endswith("\n") else line + "\n")
        else:
            print(f"sine_sensor: unexpected line {line.strip()!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
