"""`snnctl.reference.simulate_batch` against `simulate`, row by row: the batched float model is a second
implementation of the same update, so every random network (`tests.randnet`, read as real numbers by
`snnctl.quantize.from_integer`) must give the same outputs and spike counts on every row."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnctl.quantize import from_integer
from snnctl.reference import simulate, simulate_batch
from tests.randnet import networks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks(), seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), steps=st.integers(1, 25))
def test_batch_rows_equal_single_runs(net, seed, batch, steps):
    fnet = from_integer(net, dt=0.01)
    rng = np.random.default_rng(seed)
    # dyadic inputs (k/8): every current is then an exact float sum, whatever order a matmul adds in, so
    # the two implementations must agree bit for bit (with arbitrary reals they may differ in the last ulp)
    x = rng.integers(-64, 65, (batch, steps, fnet.n_inputs)) / 8.0 * rng.choice([0.0, 1.0, 64.0], (batch, 1, 1))
    got = simulate_batch(fnet, x)
    for b in range(batch):
        one = simulate(fnet, x[b])
        np.testing.assert_array_equal(got.outputs[b], one.outputs)
        np.testing.assert_array_equal(got.counts[b], one.spikes.sum(axis=0))
