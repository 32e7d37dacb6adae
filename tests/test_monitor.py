"""The reliability monitor by hand: each check, the step it flags at, the safe action, recovery."""

import math

import numpy as np
import pytest

from sim.blimp_loop import BLIMP_SAFE_U, blimp_monitor
from sim.monitor import ReliabilityMonitor

DT = 0.25  # exact in binary, so the bounds below are exact


def mon(**kw):
    # jump bound per step: max_rate * DT + margin = 1.0 * 0.25 + 0.25 = 0.5 exactly
    base = dict(low=-1.0, high=10.0, max_rate=1.0, jump_margin=0.25, stuck_samples=3, recover_samples=3,
                recover_replies=2)  # fmt: skip
    return ReliabilityMonitor([0.7], **{**base, **kw})


def feed(m, values, t0=0.0):
    """Check each sample at DT spacing; returns (reason, flagged after it) per sample."""
    out = []
    for i, z in enumerate(values):
        r = m.check_sample(t0 + i * DT, z)
        out.append((r, m.flagged))
    return out


def test_sane_samples_raise_nothing():
    m = mon()
    assert feed(m, [1.0, 1.1, 1.3, 1.0, 0.5]) == [(None, False)] * 5
    assert not m.flagged and m.reason is None and dict(m.flags) == {}
    assert m.action([2.0]).tolist() == [2.0]


@pytest.mark.parametrize("bad, reason", [(math.nan, "nan"), (math.inf, "nan"), (-math.inf, "nan"),
                                         (-1.5, "range"), (10.5, "range")])  # fmt: skip
def test_nan_and_range_flag_at_their_sample(bad, reason):
    m = mon()
    assert feed(m, [1.0, 1.1, bad]) == [(None, False), (None, False), (reason, True)]
    assert m.reason == reason and m.sensor_flagged and m.flags[reason] == 1
    assert m.action([2.0]).tolist() == pytest.approx([0.7])  # the safe action while flagged


def test_jump_bound_is_rate_times_elapsed_time_plus_margin():
    m = mon()
    assert feed(m, [1.0, 1.5])[-1] == (None, False)  # moved exactly the bound 0.5 in 0.25 s: fine
    m = mon()
    assert feed(m, [1.0, 1.5 + 2**-10])[-1] == ("jump", True)
    # the bound grows with the time since the last good sample: 2 s later, 1.0 * 2 + 0.25 = 2.25
    m = mon()
    m.check_sample(0.0, 1.0)
    assert m.check_sample(2.0, 3.25) is None and m.check_sample(2.25, 6.0) == "jump"


def test_a_single_outlier_holds_the_safe_action_for_recover_samples_plus_one():
    m = mon()
    got = feed(m, [1.0, 1.0 + 0.1, 3.0, 1.1, 1.1 + 0.01, 1.1 + 0.02, 1.1 + 0.03])
    # 2: outlier (jump); 3: sane but inconsistent with the outlier before it (count stays 0);
    # 4, 5, 6: consistent -> cleared at the third (recover_samples = 3)
    assert [f for _, f in got] == [False, False, True, True, True, True, False]
    assert got[2][0] == "jump" and got[3][0] is None
    assert m.events == [(0.5, "jump"), (1.5, "clear:sensor")]


def test_stuck_flags_at_the_third_identical_sample_and_recovers():
    m = mon()
    got = feed(m, [1.0, 1.2, 1.2, 1.2, 1.2, 1.25, 1.3, 1.35])
    assert [r for r, _ in got] == [None, None, None, "stuck", "stuck", None, None, None]
    assert [f for _, f in got] == [False, False, False, True, True, True, True, False]
    off = ReliabilityMonitor([0.0], stuck_samples=0)
    assert feed(off, [1.0] * 10)[-1] == (None, False)  # off for a noise-free sensor


def test_dropout_recovers_recover_samples_after_it_ends():
    m = mon()
    got = feed(m, [1.0, math.nan, math.nan, 1.05, 1.1, 1.15])
    # a NaN before a sample counts as consistent: the first finite sample already counts
    assert [f for _, f in got] == [False, True, True, True, True, False]


def test_bad_sample_during_recovery_restarts_the_count():
    m = mon()
    got = feed(m, [1.0, math.nan, 1.0, 1.0 + 1e-3, math.nan, 1.0 + 2e-3, 1.0 + 3e-3, 1.0 + 4e-3])
    assert [f for _, f in got] == [False, True, True, True, True, True, True, False]
    assert m.flags["nan"] == 1 and m.detections["nan"] == 2  # one flag raised, two bad samples


def test_link_flag_and_recovery_after_on_time_replies():
    m = mon()
    assert m.check_reply(0.0, None) is None and not m.flagged
    assert m.check_reply(0.25, "timeout") == "timeout" and m.flagged and not m.sensor_flagged
    m.check_reply(0.5, None)
    assert m.flagged  # one on-time reply of the two needed
    m.check_reply(0.75, "disconnected")  # resets the count; the flag keeps its first reason
    assert m.reason == "timeout"
    m.check_reply(1.0, None)
    m.check_reply(1.25, None)
    assert not m.flagged and m.flags == {"timeout": 1} and m.detections == {"timeout": 1, "disconnected": 1}
    with pytest.raises(ValueError, match="unknown link fault 'gremlins'"):
        m.check_reply(0.0, "gremlins")


def test_both_channels_at_once():
    m = mon()
    m.check_sample(0.0, math.nan)
    m.check_reply(0.0, "late")
    assert m.reason == "nan+late"
    for i in range(3):
        m.check_sample((i + 1) * DT, 1.0 + i * 0.01)
    assert m.flagged and m.reason == "late"  # the sensor recovered, the link not yet


def test_reset_clears_everything():
    m = mon()
    feed(m, [1.0, math.nan])
    m.reset()
    assert not m.flagged and not m.flags and not m.events
    assert feed(m, [5.0])[0] == (None, False)  # no memory of the old last-good sample


def test_blimp_monitor_defaults():
    m = blimp_monitor()
    assert m.safe_action.tolist() == [BLIMP_SAFE_U] == [1.0]
    assert (m.low, m.max_rate, m.stuck_samples, m.recover_samples, m.recover_replies) == (-0.25, 1.0, 3, 5, 3)
    assert m.jump_margin == pytest.approx(5 * math.sqrt(2) * 0.01 + 0.01)  # 0.0807 m for 1-cm noise

    class NoiseFree:
        sensor_noise_m = 0.0
        altitude_max_m = 3.0

    q = blimp_monitor(NoiseFree(), safe_action=[0.5])
    assert q.stuck_samples == 0 and q.jump_margin == 0.05 and q.high == 3.25 and q.safe_action.tolist() == [0.5]


def test_argument_errors():
    for kw, msg in [({"low": 1.0, "high": 0.0}, "low < high"), ({"max_rate": 0.0}, "max_rate"),
                    ({"jump_margin": -1.0}, "jump_margin"), ({"stuck_samples": 1}, "stuck_samples"),
                    ({"recover_samples": 0}, "recover_samples")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            ReliabilityMonitor([0.0], **kw)
    with pytest.raises(ValueError, match="finite"):
        ReliabilityMonitor([np.nan])
