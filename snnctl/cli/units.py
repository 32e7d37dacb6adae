"""`snnctl units`: give a .snn network the raw units of a port's sensors and actuators.

The device then converts with integers only (`snn_input_code` / `snn_output_raw` in the C core,
snnctl/units.py for the maths): a port writes "lidar millimetres in, PWM duty out". Without
options the command shows the units a file carries.
"""

from __future__ import annotations

import argparse
from typing import Any

from snnctl.cli.common import UserError, load_network

_EPILOG = """\
examples:
  snnctl units net.snn
      show the raw units the file carries (and the control period)
  snnctl units net.snn --sensor 0:-0.001:1500 --actuator 0:0.002:0:1000:500 -o net_pwm.snn
      input 0: lidar millimetres, error = 1.5 m - altitude (-1 mm = +0.001 of the input, 0 at 1500 mm);
      output 0: PWM duty 0..1000, 500 = 0, one count = 0.002 of the output (one per input and output)
"""


def _numbers(text: str, option: str, sizes: tuple[int, ...], form: str) -> list[str]:
    parts = text.split(":")
    if len(parts) not in sizes:
        raise UserError(f"{option} {text}: expected {form}")
    return parts


def _parse_sensor(text: str) -> tuple[int, Any]:
    from snnctl.units import SensorUnit

    parts = _numbers(text, "--sensor", (2, 3), "CHANNEL:PER_COUNT[:RAW_ZERO], e.g. 0:0.001 or 0:-0.001:1500")
    try:
        return int(parts[0]), SensorUnit(float(parts[1]), int(parts[2]) if len(parts) == 3 else 0)
    except ValueError:
        raise UserError(f"--sensor {text}: CHANNEL and RAW_ZERO are integers, PER_COUNT a number") from None


def _parse_actuator(text: str) -> tuple[int, Any]:
    from snnctl.units import ActuatorUnit

    parts = _numbers(
        text, "--actuator", (4, 5), "CHANNEL:PER_COUNT:RAW_MIN:RAW_MAX[:RAW_ZERO], e.g. 0:0.002:0:1000:500"
    )
    try:
        zero = int(parts[4]) if len(parts) == 5 else 0
        return int(parts[0]), ActuatorUnit(float(parts[1]), int(parts[2]), int(parts[3]), zero)
    except ValueError:
        raise UserError(f"--actuator {text}: CHANNEL and the RAW values are integers, PER_COUNT a number") from None


def _by_channel(given: list[tuple[int, Any]], n: int, what: str, option: str) -> list[Any]:
    chans = [c for c, _ in given]
    if sorted(chans) != list(range(n)):
        raise UserError(f"the network has {n} {what}(s) (channels 0..{n - 1}); give one {option} for each,"
                        f" got channels {sorted(chans) or 'none'}")  # fmt: skip
    return [u for _, u in sorted(given, key=lambda cu: cu[0])]


def describe(net: Any) -> list[str]:
    """Lines that show a network's device units (what `snnctl units NET` and `snnctl inspect` print)."""
    from fractions import Fraction

    if net.units is None:
        return ["raw units: none (the port works in codes; snnctl units NET --sensor ... --actuator ...)"]
    lines = ["raw units (device conversion: integers only, nearest, ties up)"]
    for i, c in enumerate(net.units.inputs):
        ratio = float(Fraction(c.mult, 2**c.shift))
        lines.append(f"  input {i}: code = sat16({int(net.input_zero[i])} + (raw - {c.raw_zero}) * {ratio:.9g})"
                     f"   [mult {c.mult}, shift {c.shift}]")  # fmt: skip
    for k, c in enumerate(net.units.outputs):
        ratio = float(Fraction(c.mult, 2**c.shift))
        lines.append(f"  output {k}: raw = clamp({c.raw_zero} + (code - {net.outputs[k].zero}) * {ratio:.9g},"
                     f" {c.raw_min}, {c.raw_max})   [mult {c.mult}, shift {c.shift}]")  # fmt: skip
    return lines


def _cmd_units(args: argparse.Namespace) -> int:
    from snnctl import snnfile
    from snnctl.units import UnitError, derive

    net, _blob = load_network(args.path)
    if not args.sensor and not args.actuator:
        if args.output:
            raise UserError("-o needs --sensor and --actuator (the units to write)")
        period = net.control_period_s
        print(f"{args.path}: control period " + ("unspecified" if period is None else f"{period:.6g} s"))
        print("\n".join(describe(net)))
        return 0
    if not args.output:
        raise UserError("give -o OUT.snn: where to write the network with its units")
    sensors = _by_channel([_parse_sensor(t) for t in args.sensor], net.n_inputs, "input", "--sensor")
    actuators = _by_channel([_parse_actuator(t) for t in args.actuator], net.n_outputs, "output", "--actuator")
    try:
        net.units = derive(net.input_scale, [o.scale for o in net.outputs], sensors, actuators)
    except UnitError as exc:
        raise UserError(str(exc)) from None
    try:
        snnfile.save(net, args.output)
    except OSError as exc:
        raise UserError(f"{args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output}")
    print("\n".join(describe(net)))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "units",
        help="give a .snn the raw units of a port's sensors and actuators (integer conversion on the device)",
        description="Attach (or show) the raw units of a port: each input's raw sensor integer and each output's"
        " raw actuator integer, converted on the device with integers only (docs/snn-format.md, `unit`).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="NET.snn", help="network file to read")
    p.add_argument("--sensor", action="append", default=[], metavar="I:PER_COUNT[:RAW_ZERO]",
                   help="input I's raw unit: one raw count is PER_COUNT of the input's real value; RAW_ZERO reads"
                        " as 0 (repeat for each input)")  # fmt: skip
    p.add_argument("--actuator", action="append", default=[], metavar="K:PER_COUNT:RAW_MIN:RAW_MAX[:RAW_ZERO]",
                   help="output K's raw unit: one raw count is PER_COUNT of the output's real value, clamped to"
                        " RAW_MIN..RAW_MAX; RAW_ZERO means 0 (repeat for each output)")  # fmt: skip
    p.add_argument("-o", "--output", metavar="OUT.snn", help="write the network with these units here")
    p.set_defaults(handler=_cmd_units)
