"""Sensing policies on hand-made signals: the exact steps at which samples are taken, and their counts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.blimp_loop import BLIMP_SENSING
from sim.sensing import ActionToSensing, FixedRate, SendOnDelta, SenseContext, make_sensing


def drive(policy, signal, errors=None, actions=None, flagged=()):
    """Run `policy` over `signal` (one reading per step); returns the steps sampled and the held values."""
    policy.reset()
    taken, held, last = [], [], None
    for k, x in enumerate(signal):
        ctx = SenseContext(k, None if errors is None else errors[k], None if actions is None else actions[k],
                           k in flagged)  # fmt: skip
        z = policy.decide(ctx, lambda x=x: np.atleast_1d(np.asarray(x, dtype=np.float64)))
        if z is not None:
            taken.append(k)
            last = z
        held.append(last)
    return taken, held


def test_fixed_rate_by_hand():
    p = FixedRate(3)
    taken, _ = drive(p, np.arange(10.0))
    assert taken == [0, 3, 6, 9] and p.samples == 4 and p.reads == 4
    p = FixedRate()
    assert drive(p, np.arange(5.0))[0] == [0, 1, 2, 3, 4] and p.samples == 5


def test_send_on_delta_by_hand():
    # k:  0    1    2    3    4    5    6    7    8    9    10   11
    sig = [0.0, 0.2, 0.6, 0.7, 1.2, 1.2, 1.2, 1.2, 1.2, np.nan, np.nan, 3.0]
    p = SendOnDelta(0.5, max_interval_steps=4)
    taken, held = drive(p, sig)
    # 0: first; 2: |0.6 - 0| > 0.5; 4: |1.2 - 0.6| > 0.5; 8: heartbeat (4 steps after 4);
    # 9: NaN after finite (validity changed); 10: NaN again, nothing new; 11: finite again
    assert taken == [0, 2, 4, 8, 9, 11]
    assert p.samples == 6 and p.reads == 12  # the node reads every step, sends 6
    assert held[3] == [0.6]


def test_send_on_delta_threshold_is_strict_and_vector_entries_count_separately():
    p = SendOnDelta(0.5, max_interval_steps=100)
    assert drive(p, [0.0, 0.5, 1.0, 1.0001])[0] == [0, 2]  # moved by exactly delta: not sent
    p = SendOnDelta(0.5, max_interval_steps=100)
    vec = [[0.0, 0.0], [0.1, -0.4], [0.1, -0.6], [0.0, -0.2]]
    assert drive(p, vec)[0] == [0, 2]  # the second entry moved by 0.6 at step 2
    p = SendOnDelta(0.5, max_interval_steps=100)
    assert drive(p, [[0.0, 1.0], [0.0, np.nan], [0.0, np.nan]])[0] == [0, 1]


@given(
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 2),
    st.integers(1, 20),
)
@settings(max_examples=200, deadline=None)
def test_send_on_delta_holds_within_delta_and_never_waits_longer_than_the_heartbeat(sig, delta, heartbeat):
    p = SendOnDelta(delta, heartbeat)
    taken, held = drive(p, sig)
    assert taken[0] == 0 and p.reads == len(sig) and p.samples == len(taken)
    assert all(b - a <= heartbeat for a, b in zip(taken, taken[1:], strict=False))
    # what the controller holds is never more than delta away from the sensor's reading
    assert all(abs(h[0] - x) <= delta for h, x in zip(held, sig, strict=True))


def test_action_to_sensing_interval_formula():
    p = ActionToSensing(min_interval=2, max_interval=10, gain=20.0)
    # interval = clip(floor(10 / (1 + 20 |e|)), 2, 10)
    for e, want in [(0.0, 10), (0.01, 8), (0.05, 5), (0.2, 2), (5.0, 2), (-0.05, 5), (math.nan, 2)]:
        assert p.interval(SenseContext(0, e)) == want, e


def test_action_to_sensing_on_the_error_by_hand():
    # small error 0.05 -> every 5 steps; the error jumps to 0.5 at k = 12 -> interval 1 from then on
    err = [0.05] * 12 + [0.5] * 4
    p = ActionToSensing(1, 10, 20.0)
    taken, _ = drive(p, np.arange(16.0), errors=err)
    assert taken == [0, 5, 10, 12, 13, 14, 15] and p.samples == p.reads == 7


def test_action_to_sensing_on_output_activity():
    # the action is steady until k = 6, where it moves by 1.0: interval 10 / (1 + 2 * 1) = 3
    actions = [np.array([0.5])] * 6 + [np.array([1.5])] * 10
    p = ActionToSensing(1, 10, 2.0, signal="activity")
    taken, _ = drive(p, np.arange(16.0), actions=actions)
    # 0: first (u at sample 0.5); 6: u moved 1.0 since, 6 - 0 >= 3 -> sample (u at sample 1.5); then
    # steady again: next at 6 + 10
    assert taken == [0, 6]
    with pytest.raises(ValueError, match="signal='activity'"):
        drive(ActionToSensing(1, 10, 2.0), [0.0, 0.0])  # no error known (step 0 samples without asking)


@pytest.mark.parametrize("policy", [FixedRate(5), SendOnDelta(1.0, 10), ActionToSensing(1, 10, 0.0)])
def test_every_policy_samples_every_step_while_the_monitor_flag_is_up(policy):
    taken, _ = drive(policy, np.zeros(12), errors=[0.0] * 12, flagged={3, 4, 5})
    assert taken[:4] == [0, 3, 4, 5] and 1 not in taken and 6 not in taken


def test_reset_clears_state():
    p = SendOnDelta(0.5, 3)
    first = drive(p, [0.0, 1.0, 1.1, 1.2, 1.3])
    assert drive(p, [0.0, 1.0, 1.1, 1.2, 1.3]) == first and p.samples == 3


def test_make_sensing_and_argument_errors():
    assert isinstance(make_sensing("fixed"), FixedRate)
    d = make_sensing("delta", delta=0.1)
    assert isinstance(d, SendOnDelta) and d.delta == 0.1 and d.max_interval_steps == 10
    a = make_sensing("adaptive", BLIMP_SENSING)  # the defaults the blimp declares
    assert (a.min_interval, a.max_interval, a.gain, a.signal) == (1, 10, 20.0, "error")
    d = make_sensing("delta", BLIMP_SENSING, max_interval_steps=20)
    assert (d.delta, d.max_interval_steps) == (0.03, 20)
    assert make_sensing("adaptive").gain == 10.0  # no env defaults: the policy's own
    with pytest.raises(ValueError, match="send-on-delta needs delta"):
        make_sensing("delta")
    with pytest.raises(ValueError, match="unknown sensing policy 'sometimes'; one of: fixed, delta, adaptive"):
        make_sensing("sometimes")
    for bad, msg in [(lambda: FixedRate(0), "every_k"), (lambda: SendOnDelta(-1), "delta"),
                     (lambda: SendOnDelta(0.1, 0), "max_interval_steps"),
                     (lambda: ActionToSensing(5, 2), "min_interval <= max_interval"),
                     (lambda: ActionToSensing(gain=-1), "gain"),
                     (lambda: ActionToSensing(signal="mood"), "signal")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            bad()
