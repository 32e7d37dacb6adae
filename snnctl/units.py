"""Physical units on the device: integer-only conversion between a port's raw units and codes.

A port reads its sensor as an integer in its own unit (lidar millimetres, ADC counts) and drives
its actuator with an integer (PWM duty 0..N). The network speaks int16 codes with a float scale
and an integer zero point (`Network.input_scale/input_zero`, `Output.scale/zero`). This module
derives, on the host, one fixed-point ratio per channel so that the device converts with integers
only (docs/snn-format.md, `unit` section; the C side is firmware/core/snn_units.c):

    input i:   code = sat16(zero_i + R((raw - raw_zero_i) * mult_i, shift_i))
    output k:  raw  = clamp(raw_zero_k + R((code - zero_k) * mult_k, shift_k), raw_min_k, raw_max_k)

    R(p, s) = floor((p + 2**(s - 1)) / 2**s) for s >= 1, R(p, 0) = p   (nearest, ties up)

with mult / 2**shift ~ per_count / scale for inputs and scale / per_count for outputs. The
functions below are the reference of exactly that integer arithmetic: Python integers are
unbounded and `>>` floors, so there is nothing to get wrong; the C core must agree bit for bit.

Error bound (before and after saturation, which only shrinks differences): with r the exact ratio
and d = raw - raw_zero (or code - zero),

    |result - (zero + d * r)| <= 1/2 + |d| * 2**-(shift + 1)

since |mult / 2**shift - r| <= 2**-(shift + 1) (mult is r * 2**shift rounded to nearest) and R
adds at most 1/2. `derive` takes the largest shift that keeps |mult| <= 2**30 - 1, so the ratio's
relative error is below 2**-29.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_MULT = 2**30 - 1  # |mult|: keeps d * mult + 2**(shift-1) inside int64 on the device (snn_units.c)
MAX_SHIFT = 62


class UnitError(ValueError):
    """A unit definition the device conversion cannot carry; the message says which channel and why."""


@dataclass(frozen=True)
class SensorUnit:
    """A port's raw sensor reading of one input: `per_count` network input units per raw count.

    E.g. a lidar in millimetres feeding an input in metres: `SensorUnit(0.001)`. `raw_zero` is the
    raw reading that means 0 (a setpoint, an ADC's mid-scale); a negative `per_count` flips the sign
    (altitude error = setpoint - altitude: `SensorUnit(-0.001, raw_zero=setpoint_mm)`).
    """

    per_count: float
    raw_zero: int = 0


@dataclass(frozen=True)
class ActuatorUnit:
    """A port's raw actuator value of one output: `per_count` network output units per raw count,
    clamped to `raw_min .. raw_max` (e.g. a motor command in -1..1 to a PWM duty 0..1000 centred on
    500: `ActuatorUnit(1 / 500, raw_min=0, raw_max=1000, raw_zero=500)`)."""

    per_count: float
    raw_min: int
    raw_max: int
    raw_zero: int = 0


@dataclass(frozen=True)
class FixedChannel:
    """The fixed-point constants of one channel, as the `unit` section stores them."""

    raw_zero: int
    mult: int
    shift: int
    raw_min: int = INT32_MIN  # outputs only (inputs saturate to int16 codes)
    raw_max: int = INT32_MAX

    def check(self, where: str) -> None:
        for name, value in (("raw_zero", self.raw_zero), ("raw_min", self.raw_min), ("raw_max", self.raw_max)):
            if not INT32_MIN <= value <= INT32_MAX:
                raise UnitError(f"{where}: {name} = {value} is outside the int32 range")
        if not -MAX_MULT <= self.mult <= MAX_MULT:
            raise UnitError(f"{where}: mult = {self.mult} is outside -(2**30 - 1) .. 2**30 - 1")
        if not 0 <= self.shift <= MAX_SHIFT:
            raise UnitError(f"{where}: shift = {self.shift} is outside 0..{MAX_SHIFT}")
        if self.raw_min > self.raw_max:
            raise UnitError(f"{where}: raw_min {self.raw_min} > raw_max {self.raw_max}")


@dataclass(frozen=True)
class DeviceUnits:
    """One `FixedChannel` per input and per output: what a `.snn` `unit` section carries."""

    inputs: tuple[FixedChannel, ...]
    outputs: tuple[FixedChannel, ...]

    def check(self, n_inputs: int, n_outputs: int) -> None:
        if len(self.inputs) != n_inputs or len(self.outputs) != n_outputs:
            raise UnitError(
                f"units: {len(self.inputs)} inputs and {len(self.outputs)} outputs given, the network has"
                f" {n_inputs} and {n_outputs}"
            )
        for i, c in enumerate(self.inputs):
            c.check(f"units: input {i}")
            if (c.raw_min, c.raw_max) != (INT32_MIN, INT32_MAX):
                raise UnitError(f"units: input {i}: inputs have no raw_min/raw_max (they saturate to int16 codes)")
        for k, c in enumerate(self.outputs):
            c.check(f"units: output {k}")


def round_half_up(x: Fraction) -> int:
    """The nearest integer to `x`, ties upwards (the same rule as R)."""
    return (x + Fraction(1, 2)).__floor__()


def fixed_ratio(ratio: Fraction, where: str) -> tuple[int, int]:
    """(mult, shift) with mult / 2**shift = `ratio` rounded: the largest shift <= 62 whose
    mult = round_half_up(ratio * 2**shift) has |mult| <= 2**30 - 1. UnitError if even shift 0
    cannot hold it (one count would be over a billion of the other unit)."""
    if ratio == 0:
        raise UnitError(f"{where}: the unit ratio is 0")
    if abs(round_half_up(ratio)) > MAX_MULT:
        raise UnitError(
            f"{where}: one count is {float(abs(ratio)):.6g} of the other side's units; the device conversion"
            f" holds at most {MAX_MULT} (choose a finer raw unit)"
        )
    # largest s with |ratio| * 2**s < 2**30 - 1/2, then step down while rounding overshoots
    shift = MAX_SHIFT
    while shift > 0 and abs(round_half_up(ratio * 2**shift)) > MAX_MULT:
        shift -= 1
    return round_half_up(ratio * 2**shift), shift


def _exact(x: float, what: str, where: str) -> Fraction:
    if not np.isfinite(x) or x == 0:
        raise UnitError(f"{where}: {what} must be finite and non-zero, got {x}")
    return Fraction(float(x))


def derive(
    input_scale: Sequence[float],
    output_scale: Sequence[float],
    sensors: Sequence[SensorUnit],
    actuators: Sequence[ActuatorUnit],
) -> DeviceUnits:
    """The fixed-point constants of a network with these (float32, as stored) scales and these units.

    `input_scale` / `output_scale` are taken as float32 (what the `.snn` holds), so the device's
    ratio is derived from the very scale it will be paired with.
    """
    if len(sensors) != len(input_scale) or len(actuators) != len(output_scale):
        raise UnitError(
            f"units: {len(sensors)} sensor and {len(actuators)} actuator units given for a network with"
            f" {len(input_scale)} inputs and {len(output_scale)} outputs"
        )
    ins, outs = [], []
    for i, (scale, s) in enumerate(zip(input_scale, sensors, strict=True)):
        where = f"input {i}"
        ratio = _exact(s.per_count, "per_count", where) / _exact(float(np.float32(scale)), "scale", where)
        mult, shift = fixed_ratio(ratio, where)
        ins.append(FixedChannel(int(s.raw_zero), mult, shift))
    for k, (scale, a) in enumerate(zip(output_scale, actuators, strict=True)):
        where = f"output {k}"
        ratio = _exact(float(np.float32(scale)), "scale", where) / _exact(a.per_count, "per_count", where)
        mult, shift = fixed_ratio(ratio, where)
        outs.append(FixedChannel(int(a.raw_zero), mult, shift, int(a.raw_min), int(a.raw_max)))
    units = DeviceUnits(tuple(ins), tuple(outs))
    units.check(len(ins), len(outs))
    return units


def mul_round_shift(d: int, mult: int, shift: int) -> int:
    """R(d * mult, shift): Python ints are exact and `>>` is floor division by 2**shift."""
    p = d * mult
    return p if shift == 0 else (p + (1 << (shift - 1))) >> shift


def input_code(c: FixedChannel, zero: int, raw: int) -> int:
    """sat16(zero + R((raw - raw_zero) * mult, shift)): the device's snn_input_code."""
    return min(max(zero + mul_round_shift(raw - c.raw_zero, c.mult, c.shift), -32768), 32767)


def output_raw(c: FixedChannel, zero: int, code: int) -> int:
    """clamp(raw_zero + R((code - zero) * mult, shift), raw_min, raw_max): the device's snn_output_raw."""
    return min(max(c.raw_zero + mul_round_shift(code - zero, c.mult, c.shift), c.raw_min), c.raw_max)


def _per_channel(convert: Any, channels: Sequence[FixedChannel], zeros: Sequence[int], values: Any,
                 dtype: Any) -> np.ndarray:  # fmt: skip
    """`convert(channel, zero, value)` over an array whose last axis is the channel, exact Python ints."""
    values = np.asarray(values, dtype=np.int64)
    out = np.empty(values.shape, dtype=dtype)
    for idx in np.ndindex(values.shape):
        ch = idx[-1]
        out[idx] = convert(channels[ch], int(zeros[ch]), int(values[idx]))
    return out


def inputs_from_raw(units: DeviceUnits, input_zero: Sequence[int], raw: Any) -> np.ndarray:
    """Raw readings (..., n_inputs) of int32 to int16 input codes, as the device converts them."""
    return _per_channel(input_code, units.inputs, input_zero, raw, np.int16)


def outputs_to_raw(units: DeviceUnits, output_zero: Sequence[int], codes: Any) -> np.ndarray:
    """Output codes (..., n_outputs) to the actuators' raw int32 values, as the device converts them."""
    return _per_channel(output_raw, units.outputs, output_zero, codes, np.int32)
