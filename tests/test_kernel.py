"""The numba kernels against hand-worked arithmetic and against the plain-Python executor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnctl import runtime
from snnctl.network import INPUT, Kind, Network, NetworkError, Output, Population, Projection, Reset

from . import intmodel_py
from .randnet import inputs, networks


def _one_neuron(kind: Kind, **kw) -> Network:
    """INPUT --(w=1, e=0)--> one neuron; output = its v."""
    pop = Population(kind, 1, **kw)
    return Network(1, [pop], [Projection(INPUT, 0, np.array([[1]]))], [Output(0, 0)])


def test_lif_hand_worked() -> None:
    # du = 2048 halves u each step, dv = 1024 removes a quarter of v, theta = 100, hard reset.
    net = _one_neuron(Kind.LIF, du=2048, dv=1024, bias=3, theta=100)
    tr = runtime.run_trace(net, np.array([[40], [40], [0], [0]], dtype=np.int16))
    # t0: u = 0 + 40 = 40;            v = 0 + 40 + 3 = 43                      -> no spike
    # t1: u = 40 - 20 + 40 = 60;      v = 43 - floor(43*1024/4096)=43-10 = 33; 33+60+3 = 96
    # t2: u = 60 - 30 = 30;           v = 96 - 24 = 72; 72 + 30 + 3 = 105 >= 100 -> spike, v = 0
    # t3: u = 30 - 15 = 15;           v = 0 - 0 + 15 + 3 = 18
    assert tr.u[:, 0].tolist() == [40, 60, 30, 15]
    assert tr.v[:, 0].tolist() == [43, 96, 0, 18]
    assert tr.spikes[:, 0].tolist() == [0, 0, 1, 0]


def test_soft_reset_refractory_and_negative_decay() -> None:
    net = _one_neuron(Kind.LIF, du=4096, dv=1, theta=10, reset=Reset.SOFT, refractory=2)
    tr = runtime.run_trace(net, np.array([[25], [25], [25], [25], [-7], [0]], dtype=np.int16))
    # t0: u = 25, v = 25 >= 10: spike, soft reset v = 15, r = 2
    # t1, t2: refractory, v frozen at 15, no spike (r 2 -> 1 -> 0)
    # t3: v = 15 - floor(15/4096)=15; 15 + 25 = 40 -> spike, v = 30
    # t4: u = -7; v = 30 frozen (r = 2 again)
    assert tr.spikes[:, 0].tolist() == [1, 0, 0, 1, 0, 0]
    assert tr.v[:, 0].tolist() == [15, 15, 15, 30, 30, 30]
    # decay of a negative value rounds the removed part toward -inf, so -1 decays to 0:
    net2 = _one_neuron(Kind.LI, du=1, dv=4096)
    tr2 = runtime.run_trace(net2, np.array([[-1], [0]], dtype=np.int16))
    # t0: u = -1; t1: u = -1 - floor(-1/4096) = -1 - (-1) = 0
    assert tr2.u[:, 0].tolist() == [-1, 0]


def test_adaptive_threshold() -> None:
    net = _one_neuron(Kind.ALIF, du=4096, dv=4096, theta=50, da=2048, a_step=40)
    tr = runtime.run_trace(net, np.full((4, 1), 60, dtype=np.int16))
    # t0: v = 60 >= 50 + 0 -> spike; a = 0 - 0 + 40 = 40
    # t1: v = 60 <  50 + 40       -> none;  a = 40 - 20 = 20
    # t2: v = 60 >= 70? no        -> none;  a = 20 - 10 = 10
    # t3: v = 60 >= 60            -> spike; a = 10 - 5 + 40 = 45
    assert tr.spikes[:, 0].tolist() == [1, 0, 0, 1]
    assert tr.a[:, 0].tolist() == [40, 20, 10, 45]


def test_saturation_never_wraps() -> None:
    net = Network(
        1,
        [Population(Kind.LI, 1, du=0, dv=0)],
        [Projection(INPUT, 0, np.array([[127]]), exponent=16)],
        [Output(0, 0, shift=8)],
    )
    tr = runtime.run_trace(net, np.array([[32767], [32767], [-32768], [-32768], [-32768]], dtype=np.int16))
    # 127 * 32767 * 2^16 saturates to MAX24 = 8388607 at once; u and v stay pinned there.
    assert tr.u[:2, 0].tolist() == [2**23 - 1] * 2
    assert tr.v[:2, 0].tolist() == [2**23 - 1] * 2
    # three steps of -2^23 input: u goes 2^23-1 -> -1 -> MIN24 and stays; v follows to MIN24.
    assert tr.u[2:, 0].tolist() == [-1, -(2**23), -(2**23)]
    assert tr.v[-1, 0] == -(2**23)
    assert tr.outputs[0, 0] == 32767 and tr.outputs[-1, 0] == -32768  # floor(±2^23 / 2^8) lands on the int16 ends


def test_delta_encoder() -> None:
    net = _one_neuron(Kind.DELTA, du=4096, theta=10)
    tr = runtime.run_trace(net, np.array([[5], [12], [15], [22], [3], [13]], dtype=np.int16))
    # ref starts 0: 5 (<10 up), 12 (>=10: spike, ref 12), 15, 22 (spike, ref 22), 3 (falls: ref 3), 13 (spike)
    assert tr.spikes[:, 0].tolist() == [0, 1, 0, 1, 0, 1]


def test_recurrent_and_delay_timing() -> None:
    # pop0 (one LIF) fires every step the input is high; pop1 receives it with lag 3 (delay 2 + recurrent)
    p0 = Population(Kind.LIF, 1, du=4096, dv=4096, theta=1)
    p1 = Population(Kind.LI, 1, du=4096, dv=4096)
    net = Network(
        1,
        [p0, p1],
        [Projection(INPUT, 0, np.array([[1]])), Projection(0, 1, np.array([[7]]), recurrent=True, delay=2)],
        [Output(1, 0)],
    )
    codes = np.array([[1], [0], [0], [0], [0], [1], [0], [0], [0]], dtype=np.int16)
    out = runtime.run(net, codes)[:, 0]
    assert out.tolist() == [0, 0, 0, 7, 0, 0, 0, 0, 7]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_numba_matches_plain_python(data) -> None:
    net = data.draw(networks())
    codes = data.draw(inputs(net.n_inputs))
    tr = runtime.run_trace(net, codes)
    ref = intmodel_py.simulate(net, codes.tolist())
    assert tr.spikes.tolist() == ref["spikes"]
    assert tr.u.tolist() == ref["u"]
    assert tr.v.tolist() == ref["v"]
    assert tr.a.tolist() == ref["a"]
    assert tr.outputs.tolist() == ref["outputs"]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_stepper_and_batch_match_run(data) -> None:
    nets = [data.draw(networks(max_pops=3, max_inputs=1)) for _ in range(3)]
    nets = [n for n in nets if n.n_outputs == nets[0].n_outputs]  # a batch shares its output count
    t = data.draw(st.integers(1, 20))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    codes = rng.integers(-32768, 32768, (len(nets), t, 1)).astype(np.int16)
    batch = runtime.run_batch(nets, codes)
    for b, net in enumerate(nets):
        single = runtime.run(net, codes[b])
        np.testing.assert_array_equal(batch[b], single)
        stepper = runtime.Stepper(net)
        stepped = np.array([stepper.step(c).copy() for c in codes[b]])
        np.testing.assert_array_equal(stepped, single)
        stepper.reset()  # a reset stepper is a new one: state and the last step's counters
        assert stepper.spikes == stepper.synops == 0 and not stepper.last_spikes.any()
        np.testing.assert_array_equal(np.array([stepper.step(c).copy() for c in codes[b]]), single)


def test_bad_inputs_are_clear_errors() -> None:
    net = _one_neuron(Kind.LIF)
    with pytest.raises(NetworkError, match="shape"):
        runtime.run(net, np.zeros((5, 2), dtype=np.int16))
    with pytest.raises(NetworkError, match="int16"):
        runtime.run(net, np.full((2, 1), 40000))
    with pytest.raises(NetworkError, match="integers"):
        runtime.run(net, np.zeros((2, 1)))


def test_network_validation_names_the_field() -> None:
    with pytest.raises(NetworkError, match=r"population 'enc': du\[2\] = 5000"):
        Population(Kind.LIF, 3, du=[0, 0, 5000], name="enc").validate("population 'enc'")
    pop = Population(Kind.LIF, 2)
    with pytest.raises(NetworkError, match="same-step"):
        Network(1, [pop, Population(Kind.LI, 1)], [Projection(1, 0, np.ones((1, 2), dtype=int))], [Output(1, 0)])
    with pytest.raises(NetworkError, match="expected"):
        Network(1, [pop], [Projection(INPUT, 0, np.ones((3, 2), dtype=int))], [Output(0, 0)])
    with pytest.raises(NetworkError, match="output 0: neuron = 5"):
        Network(1, [pop], [], [Output(0, 5)])


def test_quantize_inputs_saturates_and_maps_nan() -> None:
    net = Network(2, [Population(Kind.LI, 1)], [], [Output(0, 0)], input_scale=[0.5, 2.0], input_zero=[10, 0])
    codes = net.quantize_inputs(np.array([[1.25, np.nan], [np.inf, -np.inf], [1e9, -3.0]]))
    # 1.25/0.5 = 2.5 -> round half to even 2, +10 = 12; NaN -> zero point 0; ±inf and 1e9 saturate
    assert codes.tolist() == [[12, 0], [32767, -32768], [32767, -2]]
