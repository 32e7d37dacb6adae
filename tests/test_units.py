"""Physical units on the device (snnctl/units.py, firmware/core/snn_units.c, `.snn` `unit` section).

- C and Python agree bit for bit on random fixed-point constants and on constants derived from
  random float scales and units, with raw values and codes at and beyond both saturation ends.
- Against an independent float computation the result is within the documented bound
  1/2 + |d| * 2**-(shift + 1).
- Hand-worked cases: lidar millimetres in, PWM duty out, and the tie rule.
- The loader: the section's length and fields get the same error code in C and Python; an old
  reader (which sees an unknown optional tag) still loads the file; the control period reaches C.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from firmware_bridge import build
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection
from snnctl.snnfile import ErrorCode, SnnFormatError, from_bytes, to_bytes
from snnctl.units import (
    INT32_MAX,
    INT32_MIN,
    MAX_MULT,
    MAX_SHIFT,
    ActuatorUnit,
    DeviceUnits,
    FixedChannel,
    SensorUnit,
    UnitError,
    derive,
    input_code,
    output_raw,
)
from tests.optional_tools import skip_unless_ci

I16 = st.integers(-32768, 32767)
I32 = st.integers(INT32_MIN, INT32_MAX)
# values that stress the ends: the int32/int16 extremes and their neighbours, mixed with anything
EDGE_I32 = st.one_of(I32, st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]))
EDGE_I16 = st.one_of(I16, st.sampled_from([-32768, -32767, -1, 0, 1, 32766, 32767]))


def _net(input_scale, input_zero, outputs: list[Output], units: DeviceUnits | None, period=None) -> Network:
    """The smallest network with these quantisers: one LI population reading every input."""
    n_in, n_out = len(input_zero), len(outputs)
    pop = Population(Kind.LI, n_out)
    proj = Projection(INPUT, 0, np.ones((n_in, n_out), dtype=np.int8))
    return Network(n_in, [pop], [proj], outputs, input_scale, input_zero, control_period_s=period, units=units)


class CUnits:
    """The host build of firmware/host/snnunits.c, one process for many networks."""

    def __init__(self) -> None:
        exe = build.build_host_tool("snnunits", sanitize=shutil.which("gcc") is not None)
        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, blob: bytes, queries: list[tuple[int, int, int]]) -> tuple[int, int, int, list[int]]:
        """(load rc, period_us, has_units, results) for queries (dir, channel, value)."""
        req = struct.pack("<I", len(blob)) + blob + struct.pack("<I", len(queries))
        req += b"".join(struct.pack("<BBHi", d, 0, ch, v) for d, ch, v in queries)
        self.proc.stdin.write(req)
        self.proc.stdin.flush()
        rc, period, has = struct.unpack("<iII", self._read(12))
        n = len(queries) if rc == 0 else 0
        return rc, period, has, list(struct.unpack(f"<{n}i", self._read(4 * n)))

    def _read(self, n: int) -> bytes:
        data = self.proc.stdout.read(n)
        assert len(data) == n, f"snnunits died (exit {self.proc.poll()})"
        return data

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


@pytest.fixture(scope="module")
def cunits():
    try:
        c = CUnits()
    except RuntimeError as exc:  # no C compiler: the whole C side is untestable here
        skip_unless_ci(str(exc).splitlines()[0])
    yield c
    c.close()


def _compare(cunits: CUnits, net: Network, raws: list[list[int]], codes: list[list[int]]) -> None:
    """Every raw input and every output code through C and through the Python reference."""
    queries = [(0, i, r) for i, rs in enumerate(raws) for r in rs] + [
        (1, k, c) for k, cs in enumerate(codes) for c in cs
    ]
    rc, _period, has, got = cunits.ask(to_bytes(net), queries)
    assert rc == 0 and has == 1
    want = []
    for d, ch, v in queries:
        if d == 0:
            want.append(input_code(net.units.inputs[ch], int(net.input_zero[ch]), v))
        else:
            want.append(output_raw(net.units.outputs[ch], net.outputs[ch].zero, v))
    assert got == want


fixed_input = st.builds(FixedChannel, raw_zero=EDGE_I32, mult=st.integers(-MAX_MULT, MAX_MULT),
                        shift=st.integers(0, MAX_SHIFT))  # fmt: skip


@st.composite
def fixed_output(draw) -> FixedChannel:
    lo, hi = sorted((draw(EDGE_I32), draw(EDGE_I32)))
    return FixedChannel(draw(EDGE_I32), draw(st.integers(-MAX_MULT, MAX_MULT)), draw(st.integers(0, MAX_SHIFT)), lo, hi)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ins=st.lists(st.tuples(fixed_input, EDGE_I16, st.lists(EDGE_I32, min_size=1, max_size=8)), min_size=1,
                    max_size=3),
       outs=st.lists(st.tuples(fixed_output(), EDGE_I16, st.lists(EDGE_I16, min_size=1, max_size=8)), min_size=1,
                     max_size=3))  # fmt: skip
@example(  # the largest |d * mult| of both signs, at shift 0 and at shift 62
    ins=[(FixedChannel(INT32_MIN, MAX_MULT, 0), 32767, [INT32_MAX, INT32_MIN]),
         (FixedChannel(INT32_MAX, MAX_MULT, 0), -32768, [INT32_MIN, INT32_MAX]),
         (FixedChannel(INT32_MAX, -MAX_MULT, MAX_SHIFT), -32768, [INT32_MIN, INT32_MAX])],
    outs=[(FixedChannel(0, MAX_MULT, 0, -5, 7), -32768, [32767, -32768, 0]),
          (FixedChannel(INT32_MAX, -MAX_MULT, MAX_SHIFT, INT32_MIN, INT32_MAX), 32767, [-32768, 32767])],
)  # fmt: skip
def test_c_and_python_agree_on_any_fixed_point_constants(cunits, ins, outs):
    units = DeviceUnits(tuple(c for c, _, _ in ins), tuple(c for c, _, _ in outs))
    outputs = [Output(0, k, scale=1.0, zero=z) for k, (_, z, _) in enumerate(outs)]
    net = _net(np.ones(len(ins)), [z for _, z, _ in ins], outputs, units)
    _compare(cunits, net, [v for _, _, v in ins], [v for _, _, v in outs])


# float units and scales over many decades, either sign for the sensor (a setpoint flip)
magnitude = st.floats(1e-6, 1e6).map(float)
signed_magnitude = st.tuples(magnitude, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


@st.composite
def units_case(draw):
    """A network's scales/zeros and a port's units, derived into fixed point (ratios the device can hold)."""
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    in_scale = [draw(magnitude) for _ in range(n_in)]
    in_zero = [draw(I16) for _ in range(n_in)]
    outputs = [Output(0, k, scale=draw(magnitude), zero=draw(I16)) for k in range(n_out)]
    sensors = [SensorUnit(draw(signed_magnitude), draw(EDGE_I32)) for _ in range(n_in)]
    actuators = []
    for _ in range(n_out):
        lo, hi = sorted((draw(EDGE_I32), draw(EDGE_I32)))
        actuators.append(ActuatorUnit(draw(magnitude), lo, hi, draw(EDGE_I32)))
    try:
        units = derive(np.float32(in_scale), [o.scale for o in outputs], sensors, actuators)
    except UnitError:  # a ratio of 2**30 or more (asserted to be exactly that in its own test)
        assume(False)
    return _net(in_scale, in_zero, outputs, units), sensors, actuators


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=units_case(), raws=st.lists(EDGE_I32, min_size=1, max_size=6), codes=st.lists(EDGE_I16, min_size=1,
                                                                                            max_size=6))  # fmt: skip
def test_c_and_python_agree_on_units_derived_from_float_scales(cunits, case, raws, codes):
    net, _sensors, _actuators = case
    _compare(cunits, net, [raws] * net.n_inputs, [codes] * net.n_outputs)


def _bound(c: FixedChannel, d: int) -> float:
    return 0.5 + abs(d) * 2.0 ** -(c.shift + 1)


@settings(max_examples=300, deadline=None)
@given(case=units_case(), raws=st.lists(EDGE_I32, min_size=1, max_size=6), codes=st.lists(EDGE_I16, min_size=1,
                                                                                            max_size=6))  # fmt: skip
def test_integer_conversion_is_within_the_documented_bound_of_a_float_computation(case, raws, codes):
    """Independent truth: the float64 affine map (value * per_count / scale + zero), saturated."""
    net, sensors, actuators = case
    for i, s in enumerate(sensors):
        c, zero, scale = net.units.inputs[i], int(net.input_zero[i]), float(net.input_scale[i])
        for raw in raws:
            d = raw - s.raw_zero
            exact = np.clip(zero + d * s.per_count / scale, -32768, 32767)
            slack = 1e-9 * max(1.0, abs(d * s.per_count / scale))  # float64 rounding of `exact` itself
            assert abs(input_code(c, zero, raw) - exact) <= _bound(c, d) + slack, (i, raw)
    for k, a in enumerate(actuators):
        c, zero, scale = net.units.outputs[k], net.outputs[k].zero, float(np.float32(net.outputs[k].scale))
        for code in codes:
            d = code - zero
            exact = np.clip(a.raw_zero + d * scale / a.per_count, a.raw_min, a.raw_max)
            slack = 1e-9 * max(1.0, abs(d * scale / a.per_count))
            assert abs(output_raw(c, zero, code) - exact) <= _bound(c, d) + slack, (k, code)


def test_saturation_at_both_ends_hand_worked(cunits):
    """Inputs saturate to -32768 and 32767, outputs clamp to raw_min and raw_max, in C and Python.

    input  (raw_zero 0, ratio 3/2 = 3 * 2**28 / 2**29, zero 100): raw 30000 -> 100 + 45000 -> 32767;
           raw -30000 -> 100 - 45000 -> -32768; raw 2**31 - 1 and -2**31 likewise; raw 1 -> 100 + 1.5 -> 102
    output (raw_zero 500, ratio -2 = -2**29 / 2**28, zero -3, range 0..1000): code 300 -> 500 - 606 -> 0;
           code -300 -> 500 + 594 -> 1000; code 32767 -> 0; code -32768 -> 1000; code 0 -> 500 - 6 = 494
    """
    units = DeviceUnits((FixedChannel(0, 3 * 2**28, 29),), (FixedChannel(500, -(2**29), 28, 0, 1000),))
    net = _net([1.0], [100], [Output(0, 0, scale=1.0, zero=-3)], units)
    raws, codes = [30000, -30000, INT32_MAX, INT32_MIN, 1], [300, -300, 32767, -32768, 0]
    want = [32767, -32768, 32767, -32768, 102] + [0, 1000, 0, 1000, 494]
    got_py = [input_code(units.inputs[0], 100, r) for r in raws] + [output_raw(units.outputs[0], -3, c) for c in codes]
    assert got_py == want
    assert cunits.ask(to_bytes(net), [(0, 0, r) for r in raws] + [(1, 0, c) for c in codes])[3] == want


def test_hand_worked_lidar_millimetres_and_pwm_duty(cunits):
    """Lidar mm -> altitude error input (metres, 1 cm per code, setpoint 1.5 m); motor command
    (2**-10 per code) -> PWM duty 0..1000 centred on 500 (1/500 of full thrust per count)."""
    outputs = [Output(0, 0, scale=2.0**-10, zero=0)]
    sensors = [SensorUnit(-0.001, raw_zero=1500)]  # error = setpoint - altitude, in metres
    actuators = [ActuatorUnit(1 / 500, raw_min=0, raw_max=1000, raw_zero=500)]
    net = _net([0.01], [0], outputs, None)
    net.units = derive(net.input_scale, [o.scale for o in net.outputs], sensors, actuators)
    net.validate()
    # input: (raw - 1500) * -0.1 codes per mm; the file holds scale 0.01 as float32(0.01) =
    # 0.0099999997764..., so the ratio is -0.001 / 0.0099999997764... = -0.10000000223...:
    # 1234 mm -> 26.6000006 -> 27; 1500 -> 0; 1505 -> -0.500000011 -> -1 (just past the tie, which
    # would round up to 0); 400000 mm -> -39850 -> -32768 (saturated)
    # output: code * 2**-10 * 500 = code * 0.48828125 duty counts (exact): 1024 -> 500 + 500 = 1000;
    # 1 -> 500.488 -> 500; 3 -> 501.46 -> 501; 2048 -> 1500 -> 1000 (clamped); -4096 -> -1500 -> 0
    raws, codes = [1234, 1500, 1505, 400000], [1024, 1, 3, 2048, -4096]
    want_in, want_out = [27, 0, -1, -32768], [1000, 500, 501, 1000, 0]
    c_in, z_in = net.units.inputs[0], int(net.input_zero[0])
    assert [input_code(c_in, z_in, r) for r in raws] == want_in
    assert [output_raw(net.units.outputs[0], 0, c) for c in codes] == want_out
    rc, _period, has, got = cunits.ask(to_bytes(net), [(0, 0, r) for r in raws] + [(1, 0, c) for c in codes])
    assert (rc, has, got) == (0, 1, want_in + want_out)


def test_ties_round_up_and_exact_ratios_are_exact(cunits):
    """scale 0.5 and 0.25 per count: ratio exactly 1/2, so odd raws are ties: -1 -> -0.5 -> 0, 1 -> 1, 3 -> 2."""
    net = _net([0.5], [0], [Output(0, 0, scale=0.5)], None)
    net.units = derive([0.5], [0.5], [SensorUnit(0.25)], [ActuatorUnit(1.0, INT32_MIN, INT32_MAX)])
    assert (net.units.inputs[0].mult, net.units.inputs[0].shift) == (2**29, 30)  # 1/2 = 2**29 / 2**30
    raws = [-3, -1, 1, 3]
    want = [-1, 0, 1, 2]  # -1.5 -> -1, -0.5 -> 0, 0.5 -> 1, 1.5 -> 2
    assert [input_code(net.units.inputs[0], 0, r) for r in raws] == want
    assert cunits.ask(to_bytes(net), [(0, 0, r) for r in raws])[3] == want


def test_units_survive_the_file_and_a_ratio_too_coarse_is_refused_in_one_line():
    net = _net([0.01], [3], [Output(0, 0, scale=0.25, zero=-2)], None, period=0.1)
    net.units = derive([0.01], [0.25], [SensorUnit(0.001, 7)], [ActuatorUnit(0.5, -100, 100, 1)])
    back = from_bytes(to_bytes(net))
    assert back.units == net.units and back.control_period_s == pytest.approx(0.1)
    with pytest.raises(UnitError, match=r"^input 0: one count is 2\.14748e\+09 of the other side's units"):
        derive([1.0], [1.0], [SensorUnit(2.0**31)], [ActuatorUnit(1.0, 0, 1)])
    with pytest.raises(UnitError, match="^input 0: per_count must be finite and non-zero"):
        derive([1.0], [1.0], [SensorUnit(0.0)], [ActuatorUnit(1.0, 0, 1)])
    # the largest holdable ratio: |round(r)| = 2**30 - 1 at shift 0
    units = derive([1.0], [1.0], [SensorUnit(float(MAX_MULT))], [ActuatorUnit(1.0, 0, 1)])
    assert (units.inputs[0].mult, units.inputs[0].shift) == (MAX_MULT, 0)
    # mult / 2**shift is the ratio rounded: the bound the docs state
    for r in (Fraction(1, 3), Fraction(-7, 1000), Fraction(12345, 1)):
        units = derive([1.0], [1.0], [SensorUnit(float(r))], [ActuatorUnit(1.0, 0, 1)])
        c = units.inputs[0]
        assert abs(Fraction(c.mult, 2**c.shift) - Fraction(float(r))) <= Fraction(1, 2 ** (c.shift + 1))
        assert 2**29 <= abs(c.mult) <= MAX_MULT  # normalised: the largest shift that fits


def _with_unit_body(net: Network, body: bytes, tag: bytes = b"unit") -> bytes:
    """`net`'s file with its `unit` section's body replaced (same length or not), CRC recomputed."""
    blob = to_bytes(net)
    pos = blob.rindex(b"unit")
    (old_len,) = struct.unpack_from("<I", blob, pos + 4)
    padded = (old_len + 3) & ~3
    section = tag + struct.pack("<I", len(body)) + body + b"\0" * (((len(body) + 3) & ~3) - len(body))
    data = blob[:pos] + section + blob[pos + 8 + padded : -4]
    data = data[:8] + struct.pack("<I", len(data) + 4) + data[12:]
    return data + struct.pack("<I", zlib.crc32(data))


def test_unit_section_errors_agree_between_c_and_python_and_old_readers_skip_it(cunits):
    net = _net([0.01, 0.02], [0, 0], [Output(0, 0, scale=0.5)], None, period=0.05)
    net.units = DeviceUnits((FixedChannel(5, 100, 3), FixedChannel(-5, -100, 62)), (FixedChannel(0, 9, 1, -10, 10),))
    good = to_bytes(net)
    body = good[good.rindex(b"unit") + 8 :][: 12 * 2 + 20]
    cases = {
        "length": (body[:-4], ErrorCode.BAD_COUNT),
        "shift 63": (body[:8] + b"\x3f" + body[9:], ErrorCode.BAD_VALUE),
        "mult 2**30": (body[:16] + struct.pack("<i", 2**30) + body[20:], ErrorCode.BAD_VALUE),
        "mult -2**30": (body[:4] + struct.pack("<i", -(2**30)) + body[8:], ErrorCode.BAD_VALUE),
        "reserved": (body[:10] + b"\x01" + body[11:], ErrorCode.BAD_VALUE),
        "raw_min > raw_max": (body[:32] + struct.pack("<ii", 11, 10) + body[40:], ErrorCode.BAD_VALUE),
        "output shift 63": (body[:40] + b"\x3f" + body[41:], ErrorCode.BAD_VALUE),
    }
    for name, (bad, code) in cases.items():
        blob = _with_unit_body(net, bad)
        with pytest.raises(SnnFormatError) as exc:
            from_bytes(blob)
        assert exc.value.code == code, name
        assert cunits.ask(blob, [])[0] == -int(code), name
    # an old reader sees `unit` as an unknown optional tag: rename it to one unknown to this reader too
    old = _with_unit_body(net, body, tag=b"unkn")
    assert from_bytes(old).units is None
    rc, period, has, _ = cunits.ask(old, [(0, 0, 12345)])
    assert (rc, period, has) == (0, 50_000, 0)
    # the control period reaches C (`ctrl`, microseconds) and the units are present in the good file
    assert cunits.ask(good, [])[:3] == (0, 50_000, 1)


def test_without_a_unit_section_the_c_conversion_is_the_identity(cunits):
    net = _net([0.01], [0], [Output(0, 0, scale=0.5)], None)
    rc, period, has, got = cunits.ask(to_bytes(net), [(0, 0, 70000), (0, 0, -5), (1, 0, -32768), (1, 0, 12)])
    assert (rc, period, has, got) == (0, 0, 0, [32767, -5, -32768, 12])


def test_the_c_conversion_uses_no_floating_point(tmp_path):
    """Compiled for AArch64 with -mgeneral-regs-only (any float or double is a compile error), the core
    and device library build; the same flag refuses a one-line float function (the check has teeth)."""
    gcc = shutil.which("aarch64-linux-gnu-gcc")
    if gcc is None:
        from tests.optional_tools import skip_unless_ci

        skip_unless_ci("aarch64-linux-gnu-gcc missing; apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross")
    srcs = [*sorted(build.CORE_DIR.glob("*.c")), *sorted(build.DEVICE_DIR.glob("*.c"))]
    flags = ["-std=c99", "-O2", "-mgeneral-regs-only", "-c", f"-I{build.CORE_DIR}", f"-I{build.DEVICE_DIR}"]
    proc = subprocess.run([gcc, *flags, *map(str, srcs)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "snn_units.o").is_file()
    bad = subprocess.run([gcc, *flags, "-x", "c", "-", "-o", str(tmp_path / "f.o")],
                         input="int f(int x) { return (int)(x * 0.5); }\n", capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert bad.returncode != 0 and "general-regs-only" in bad.stderr


def test_cli_units_writes_what_derive_computes_and_refuses_in_one_line(tmp_path, capsys):
    from snnctl import cli, snnfile

    net = _net([0.01], [2], [Output(0, 0, scale=0.25, zero=-1), Output(0, 1, scale=0.5)], None, period=0.1)
    src, dst = tmp_path / "net.snn", tmp_path / "pwm.snn"
    snnfile.save(net, src)
    argv = ["units", str(src), "--sensor", "0:-0.001:1500", "--actuator", "1:0.002:0:1000:500",
            "--actuator", "0:0.004:-100:100"]  # fmt: skip
    assert cli.main([*argv, "-o", str(dst)]) == 0
    want = derive([0.01], [0.25, 0.5], [SensorUnit(-0.001, 1500)],
                  [ActuatorUnit(0.004, -100, 100), ActuatorUnit(0.002, 0, 1000, 500)])  # fmt: skip
    assert snnfile.load(dst).units == want
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {dst}\n") and "output 1: raw = clamp(500 + (code - 0) * 250," in out
    assert cli.main(["units", str(dst)]) == 0 and "input 0: code = sat16(2 + (raw - 1500) *" in capsys.readouterr().out
    acts = ["--actuator", "0:1:0:1", "--actuator", "1:1:0:1"]
    for bad, msg in [
        (["--sensor", "0:1", "--actuator", "0:1:0:1"], "the network has 2 output(s) (channels 0..1); give one"),
        (["--sensor", "0:1e12", *acts], "input 0: one count is 1e+14 of the other side's units"),
        (["--sensor", "0:x", *acts], "--sensor 0:x: CHANNEL and RAW_ZERO are integers, PER_COUNT a number"),
        (["--sensor", "0:1", *acts, "--actuator", "0:1:2"], "--actuator 0:1:2: expected CHANNEL:PER_COUNT:RAW_MIN"),
        (["--sensor", "0:1", "--actuator", "0:1:5:1", "--actuator", "1:1:0:1"], "output 0: raw_min 5 > raw_max 1"),
    ]:
        assert cli.main(["units", str(src), *bad, "-o", str(tmp_path / "x.snn")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("snnctl: error: ") and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.snn").exists()
