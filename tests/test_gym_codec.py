"""The gym network codec: genome length by hand, decode(encode(net)) == net, and the integer network
executed by the runtime equal to the plain-Python executor (tests/intmodel_py.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl.controllers.gym_io import ActionIO
from snnctl.controllers.gym_snn import GymSNNCodec, GymSNNSpec
from snnctl.network import MAX_DELAY
from snnctl.runtime import run
from tests.intmodel_py import simulate


@st.composite
def specs(draw) -> GymSNNSpec:
    """Any shape, with each delay drawn where its projection exists (elsewhere a delay is refused)."""
    encoding, hidden, recurrent = draw(st.sampled_from(["current", "pm"])), draw(st.integers(0, 5)), draw(st.booleans())
    delay = st.integers(0, MAX_DELAY)
    return GymSNNSpec(
        encoding=encoding,
        hidden=hidden,
        neuron=draw(st.sampled_from(["lif", "alif"])),
        recurrent=recurrent,
        connectivity=draw(st.sampled_from(["dense", "sparse"])),
        prune=draw(st.floats(0, 0.5)),
        skip=draw(st.booleans()),
        evolve_leak=draw(st.booleans()),
        encoder_delay=draw(delay) if encoding == "pm" else 0,
        hidden_delay=draw(delay) if hidden else 0,
        recurrent_delay=draw(delay) if hidden and recurrent else 0,
    )


actions = st.one_of(
    st.builds(lambda n, s: ActionIO("discrete", n, start=s), st.integers(2, 4), st.integers(-2, 2)),
    st.integers(1, 3).map(lambda n: ActionIO("box", n, (-1.0,) * n, (2.0,) * n)),
)


def expected_length(spec: GymSNNSpec, n_obs: int, n_out: int) -> int:
    """Gene count by hand: weights of every evolved projection, then per-neuron biases and leaks."""
    n_src = n_obs * (2 if spec.encoding == "pm" else 1)
    h = spec.hidden
    leak = 1 if spec.evolve_leak else 0  # a leak gene per neuron, or none
    n = (1 + leak) * n_out  # readout biases and leaks
    if h:
        n += (
            n_src * h
            + (1 + leak) * h
            + h * n_out
            + (h * h if spec.recurrent else 0)
            + (2 if spec.neuron == "alif" else 0)
        )
    if not h or spec.skip:
        n += n_src * n_out
    return n


@settings(max_examples=60, deadline=None)
@given(specs(), st.integers(1, 5), actions, st.integers(0, 2**32 - 1))
def test_decode_encode_round_trip(spec, n_obs, action, seed) -> None:
    codec = GymSNNCodec(spec, np.linspace(0.5, 3, n_obs), action, env_id="X", control_period_s=0.02)
    assert codec.n_params == len(codec.initial_genome) == expected_length(spec, n_obs, action.n)
    b = codec.bounds
    genome = np.random.default_rng(seed).uniform(b[:, 0] - 0.2, b[:, 1] + 0.2)  # optimisers step outside
    net = codec.decode(genome)
    again = codec.decode(codec.encode(net))
    for p, q in zip(net.populations, again.populations, strict=True):
        for f in ("du", "dv", "bias", "theta"):
            assert np.array_equal(getattr(p, f), getattr(q, f)), f
        assert (p.kind, p.a_step, p.da) == (q.kind, q.a_step, q.da)
    for p, q in zip(net.projections, again.projections, strict=True):
        assert np.array_equal(p.weights, q.weights) and (p.exponent, p.sparse, p.lag) == (q.exponent, q.sparse, q.lag)
    assert net.n_neurons == spec.hidden + action.n + (2 * n_obs if spec.encoding == "pm" else 0)


@settings(max_examples=15, deadline=None)
@given(specs(), st.integers(1, 4), actions, st.integers(0, 2**32 - 1))
def test_runtime_equals_the_python_executor(spec, n_obs, action, seed) -> None:
    codec = GymSNNCodec(spec, np.ones(n_obs), action)
    rng = np.random.default_rng(seed)
    b = codec.bounds
    net = codec.decode(rng.uniform(b[:, 0], b[:, 1]))
    codes = rng.integers(-32768, 32768, size=(30, n_obs)).astype(np.int16)
    assert np.array_equal(run(net, codes), np.array(simulate(net, codes.tolist())["outputs"]))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 5), st.booleans(), st.integers(1, 4), actions, st.integers(0, 2**32 - 1))
def test_without_leak_genes_the_network_is_a_static_map(hidden, skip, n_obs, action, seed) -> None:
    """evolve_leak = false, current inputs, LIF, no recurrence: nothing carries over from one step to the
    next, so shuffling the input steps shuffles the outputs the same way (and every membrane decay is 4096)."""
    spec = GymSNNSpec(hidden=hidden, skip=skip, evolve_leak=False, input_gain=8.0)
    codec = GymSNNCodec(spec, np.ones(n_obs), action)
    assert "hid_leak" not in codec.layout.genes and "out_leak" not in codec.layout.genes
    rng = np.random.default_rng(seed)
    b = codec.bounds
    net = codec.decode(rng.uniform(b[:, 0], b[:, 1]))
    assert all((p.dv == 4096).all() for p in net.populations)
    codes = rng.integers(-32768, 32768, size=(40, n_obs)).astype(np.int16)
    perm = rng.permutation(len(codes))
    assert np.array_equal(run(net, codes[perm]), run(net, codes)[perm])
