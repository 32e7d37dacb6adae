"""Fault specs (parsing, errors, round trip), sensor faults on readings, link faults of FaultyBackend."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.faults import (
    KINDS,
    PARAM,
    FaultSpec,
    FaultSpecError,
    FaultyBackend,
    SensorFaults,
    format_faults,
    parse_faults,
)
from snnctl.controllers.loop_backends import Action, Backend, BackendDisconnected, BackendTimeout

# -- parsing ---------------------------------------------------------------------------------------


def test_parse_examples():
    got = parse_faults(" dropout@30:5, stuck@60:10 ,noise@90:5:0.5,Spike@40.5:0.1:-2,delay@1:2:150,"
                       "drop@3:4:0.2,corrupt@5:6:1,silent@7:8,unplug@9:10")  # fmt: skip
    assert got == [
        FaultSpec("dropout", 30.0, 5.0),
        FaultSpec("stuck", 60.0, 10.0),
        FaultSpec("noise", 90.0, 5.0, 0.5),
        FaultSpec("spike", 40.5, 0.1, -2.0),
        FaultSpec("delay", 1.0, 2.0, 150.0),
        FaultSpec("drop", 3.0, 4.0, 0.2),
        FaultSpec("corrupt", 5.0, 6.0, 1.0),
        FaultSpec("silent", 7.0, 8.0),
        FaultSpec("unplug", 9.0, 10.0),
    ]
    assert parse_faults(None) == [] and parse_faults("  ") == []
    f = parse_faults("dropout@30:5")[0]
    assert f.end_s == 35.0 and f.is_sensor and not parse_faults("silent@1:1")[0].is_sensor
    # the window is half-open: [start, start + duration)
    assert f.active_at(30.0) and f.active_at(34.999) and not f.active_at(35.0) and not f.active_at(29.999)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("wobble@1:2", ["'wobble@1:2'", "unknown kind 'wobble'", "dropout, stuck, noise, spike, delay, drop"]),
        ("dropout", ["'dropout'", "no '@'", "kind@start:duration"]),
        ("dropout@1", ["'dropout@1'", "dropout takes 2 numbers", "dropout@start:duration"]),
        ("dropout@1:2:3", ["'dropout@1:2:3'", "dropout takes 2 numbers"]),
        ("noise@1:2", ["'noise@1:2'", "noise takes 3 numbers", "noise@start:duration:sigma_m"]),
        ("noise@1:x:0.5", ["'noise@1:x:0.5'", "duration 'x' is not a number"]),
        ("noise@1:2:0", ["'noise@1:2:0'", "sigma must be > 0"]),
        ("drop@1:2:1.5", ["'drop@1:2:1.5'", "probability must be in 0..1"]),
        ("delay@1:2:-5", ["'delay@1:2:-5'", "delay must be 0..60000 ms"]),
        ("spike@1:2:0", ["'spike@1:2:0'", "offset must not be 0"]),
        ("silent@-1:2", ["'silent@-1:2'", "start must be a finite time >= 0"]),
        ("unplug@1:0", ["'unplug@1:0'", "duration must be a finite time > 0"]),
        ("stuck@1:inf", ["'stuck@1:inf'", "duration must be a finite"]),
        ("stuck@nan:1", ["start must be a finite time"]),
        ("dropout@1:2,,stuck@3:4", ["empty entry"]),
    ],
)
def test_parse_errors_name_the_token_and_what_is_allowed(spec, words):
    with pytest.raises(FaultSpecError) as e:
        parse_faults(spec)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_constructor_checks_too():
    with pytest.raises(FaultSpecError, match="unknown fault kind 'x'; kinds: dropout"):
        FaultSpec("x", 0, 1)
    with pytest.raises(FaultSpecError, match="dropout takes no parameter"):
        FaultSpec("dropout", 0, 1, 0.5)
    with pytest.raises(FaultSpecError, match=r"drop needs a finite parameter \(p\)"):
        FaultSpec("drop", 0, 1)


_times = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
_durations = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
_PARAMS = {
    "noise": st.floats(1e-9, 1e3),
    "spike": st.floats(-1e3, 1e3).filter(lambda x: x != 0),
    "delay": st.floats(0, 60_000),
    "drop": st.floats(0, 1),
    "corrupt": st.floats(0, 1),
}


@st.composite
def fault_specs(draw):
    kind = draw(st.sampled_from(KINDS))
    param = draw(_PARAMS[kind]) if kind in PARAM else None
    return FaultSpec(kind, draw(_times), draw(_durations), param)


@given(st.lists(fault_specs(), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_format_parse_round_trip(faults):
    text = format_faults(faults)
    assert parse_faults(text) == faults
    assert parse_faults(text.replace(",", " , ").upper()) == faults  # spaces and case do not matter


# -- sensor faults ---------------------------------------------------------------------------------

DT = 0.1


def _apply_all(faults, values, seed=0, read_every=1):
    sf = SensorFaults(faults, seed)
    out = {}
    for k, v in enumerate(values):
        if k % read_every == 0:
            out[k] = sf.apply(k, k * DT, np.array([v]))[0]
    return out


def test_dropout_is_nan_exactly_inside_its_window():
    out = _apply_all(parse_faults("dropout@0.3:0.2"), np.arange(8.0))
    assert [k for k, v in out.items() if math.isnan(v)] == [3, 4]
    assert out[2] == 2.0 and out[5] == 5.0


def test_stuck_repeats_the_last_value_before_the_window():
    out = _apply_all(parse_faults("stuck@0.3:0.3"), np.arange(10.0) + 0.25)
    assert [out[k] for k in range(8)] == [0.25, 1.25, 2.25, 2.25, 2.25, 2.25, 6.25, 7.25]
    # read every second step: the last value *returned* before the window is the one repeated
    out = _apply_all(parse_faults("stuck@0.3:0.4"), np.arange(10.0), read_every=2)
    assert out == {0: 0.0, 2: 2.0, 4: 2.0, 6: 2.0, 8: 8.0}


def test_spike_adds_its_offset_and_faults_compose():
    out = _apply_all(parse_faults("spike@0.2:0.2:1.5,dropout@0.3:0.1"), np.arange(6.0))
    assert out[1] == 1.0 and out[2] == 3.5 and math.isnan(out[3]) and out[4] == 4.0


def test_noise_burst_statistics_and_determinism():
    n = 4000
    out = _apply_all(parse_faults(f"noise@0:{n * DT}:0.5"), np.zeros(n), seed=3)
    z = np.array(list(out.values()))
    # sample std of 4000 N(0, 0.5) draws: standard error 0.5 / sqrt(2 * 4000) = 0.0056
    assert abs(z.std() - 0.5) < 0.03 and abs(z.mean()) < 0.05
    # the draw of step k depends on (seed, k) only: reading fewer steps gives the same values there
    sparse = _apply_all(parse_faults(f"noise@0:{n * DT}:0.5"), np.zeros(n), seed=3, read_every=7)
    assert all(sparse[k] == out[k] for k in sparse)
    other = _apply_all(parse_faults(f"noise@0:{n * DT}:0.5"), np.zeros(n), seed=4)
    assert other[0] != out[0]


# -- link faults -----------------------------------------------------------------------------------


class Counter(Backend):
    name = "counter"

    def __init__(self):
        self.calls = 0
        self.resets = 0

    def reset(self):
        self.resets += 1
        self.calls = 0

    def act(self, obs):
        self.calls += 1
        return Action(np.array([float(self.calls)], np.float32))


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def _faulty(spec, timeout_s=0.1, seed=0):
    inner, clock = Counter(), Clock()
    return FaultyBackend(inner, parse_faults(spec), clock, timeout_s, seed), inner, clock


def test_unplug_and_silent_windows_and_reset_after_a_fault():
    fb, inner, clock = _faulty("unplug@1:1,silent@3:0.5")
    obs = np.zeros(3)
    seen = []
    for k in range(40):
        clock.t = k * DT
        try:
            seen.append(fb.act(obs).u[0])
        except BackendDisconnected:
            seen.append("D")
        except BackendTimeout:
            seen.append("T")
    assert seen[10:20] == ["D"] * 10 and seen[30:35] == ["T"] * 5
    # before the first fault: calls 1..10; the step after a fault restarts the controller (reset, as the
    # board backend sends RESET before its next STEP), so the count starts again from 1
    assert seen[:10] == list(range(1, 11))
    assert seen[20:30] == list(range(1, 11))
    assert seen[35:40] == list(range(1, 6))
    assert inner.resets == 2  # the inner backend was never stepped inside a window


def test_delay_below_the_timeout_passes_at_or_above_it_times_out():
    fb, inner, clock = _faulty("delay@0:1:30", timeout_s=0.1)
    assert fb.act(np.zeros(3)).u[0] == 1.0 and inner.calls == 1
    fb, inner, clock = _faulty("delay@0:1:100", timeout_s=0.1)
    with pytest.raises(BackendTimeout, match="100 ms late"):
        fb.act(np.zeros(3))
    assert inner.calls == 0


@pytest.mark.parametrize("kind", ["drop", "corrupt"])
def test_drop_and_corrupt_fail_with_the_per_byte_probability(kind):
    fb, inner, clock = _faulty(f"{kind}@0:1000:1")
    with pytest.raises(BackendTimeout):
        fb.act(np.zeros(3))
    fb, inner, clock = _faulty(f"{kind}@0:1000:0")
    assert all(fb.act(np.zeros(3)) for _ in range(100))
    fb, inner, clock = _faulty(f"{kind}@0:1000:0.01", seed=5)
    n, fails = 4000, 0
    for _ in range(n):
        try:
            fb.act(np.zeros(3))
        except BackendTimeout:
            fails += 1
    p = 1 - 0.99**46  # 46 bytes of request + reply, each lost with p = 0.01: 0.370
    assert abs(fails / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_sensor_faults_are_ignored_by_the_backend_and_link_faults_by_the_sensor():
    fb, inner, clock = _faulty("dropout@0:10,stuck@0:10")
    assert fb.act(np.zeros(3)).u[0] == 1.0
    sf = SensorFaults(parse_faults("silent@0:10,unplug@0:10"))
    assert sf.apply(0, 0.0, np.array([1.5]))[0] == 1.5


def test_faulty_backend_arguments():
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        FaultyBackend(Counter(), [], Clock(), 0.0)
    with pytest.raises(ValueError, match="frame_bytes must be >= 1"):
        FaultyBackend(Counter(), [], Clock(), 0.1, frame_bytes=0)
