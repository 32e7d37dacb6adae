"""Encoders: the spikes they must produce on signals whose answer is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl import runtime
from snnctl.encoders import delta_pair, pm_pair
from snnctl.network import INPUT, Kind, Network, NetworkError, Output, Population, Projection


def _spikes(pop: Population, w: np.ndarray, codes: np.ndarray) -> np.ndarray:
    sink = Population(Kind.LI, 1)
    net = Network(w.shape[0], [pop, sink], [Projection(INPUT, 0, w)], [Output(1, 0)])
    return runtime.run_trace(net, codes).spikes


def test_pm_pair_splits_by_sign() -> None:
    pop, w = pm_pair(2, [1], 1, 10, theta=100)
    assert w.tolist() == [[0, 0], [10, -10]]
    codes = np.array([[0, 15], [0, 15], [0, -15], [0, -15]], dtype=np.int16)
    # du = 4096, dv = 0: v integrates 150 per step; positive neuron fires on steps 0, 1 (v 150 -> 50+150)
    s = _spikes(pop, w, codes)
    assert s[:2, 0].tolist() == [1, 1] and s[:2, 1].tolist() == [0, 0]
    # the negative neuron's v went to -300, so two steps of +150 only bring it back to 0: no spikes yet
    assert s[2:, 1].tolist() == [0, 0]


@settings(max_examples=50, deadline=None)
@given(
    delta=st.integers(1, 500),
    steps=st.lists(st.integers(-400, 400), min_size=1, max_size=60),
)
def test_delta_pair_counts_level_crossings(delta: int, steps: list[int]) -> None:
    """Up events = rises of >= delta since the last event or trough, replayed independently here."""
    x = np.cumsum(steps).clip(-32768, 32767)
    pop, w = delta_pair(1, [0], delta)
    s = _spikes(pop, w, x.reshape(-1, 1).astype(np.int16))
    for col, sign in ((0, 1), (1, -1)):
        ref, expect = 0, []
        for value in sign * x:
            if value - ref >= delta:
                expect.append(1)
                ref = value
            else:
                expect.append(0)
                ref = min(ref, value)
        assert s[:, col].tolist() == expect


def test_encoder_errors_are_clear() -> None:
    with pytest.raises(NetworkError, match="channel 3"):
        delta_pair(2, [3], 10)
    with pytest.raises(NetworkError, match="magnitudes"):
        pm_pair(1, [0], 2, [5, 200])
    with pytest.raises(NetworkError, match="delta"):
        delta_pair(1, [0], 0)
