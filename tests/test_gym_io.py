"""The gym family's I/O mapping against hand-worked numbers: scales from bounds, calibration, argmax ties, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snnctl.controllers.gym_io import ACTION_CODE_FS, ActionIO, UnboundedObservationError, observation_full_scale
from snnctl.controllers.gym_snn import THETA, V_FS, W_MAX, GymSNNCodec, GymSNNSpec, exponent_for
from snnctl.controllers.snn import SNNController
from snnctl.network import Kind, Network, Output, Population

INF = math.inf


def test_full_scale_from_bounds_and_calibration() -> None:
    # CartPole's bounds; the calibration saw 0.2, 1.6, 0.25, 2.0; headroom 1.5 applies to measured dims only
    low, high = [-4.8, -INF, -0.418, -INF], [4.8, INF, 0.418, INF]
    got = observation_full_scale(low, high, [0.2, 1.6, 0.25, 2.0], headroom=1.5)
    assert got == pytest.approx([4.8, 2.4, 0.418, 3.0])
    # asymmetric bounds: the larger magnitude; a dimension never seen away from 0 gets 1
    assert observation_full_scale([0, -3], [2, 1]) == pytest.approx([2, 3])
    assert observation_full_scale([-INF], [INF], [0.0]) == pytest.approx([1.0])


def test_unbounded_without_calibration_names_the_key_and_dimensions() -> None:
    with pytest.raises(UnboundedObservationError, match=r"dimensions 1, 3 unbounded.*set calibration\.episodes >= 1"):
        observation_full_scale([-1, -INF, 0, -INF], [1, INF, 1, INF], None)


def _codec(full_scale, action, **spec) -> GymSNNCodec:
    return GymSNNCodec(GymSNNSpec(**spec), np.asarray(full_scale, float), action)


def test_input_codes_span_the_bounds() -> None:
    ctl = SNNController(
        _codec([2.0], ActionIO("discrete", 2)).decode(_codec([2.0], ActionIO("discrete", 2)).initial_genome)
    )
    # code = round(x / 2 * 32767): 1.0 -> 16383.5 -> 16384 (half to even), 2 -> 32767, beyond saturates, -2 -> -32767
    assert ctl.encode(np.array([1.0]))[0] == 16384
    assert ctl.encode(np.array([2.0]))[0] == 32767
    assert ctl.encode(np.array([5.0]))[0] == 32767
    assert ctl.encode(np.array([-2.0]))[0] == -32767


def _readout_net(n: int, meta: dict, scale: float = 1.0) -> Network:
    return Network(1, [Population(Kind.LI, n)], [], [Output(0, k, 0, scale) for k in range(n)], meta=meta)


def test_argmax_of_codes_lowest_index_wins_ties() -> None:
    ctl = SNNController(_readout_net(3, ActionIO("discrete", 3, start=0).meta()))
    assert ctl.decode(np.array([5, 7, 7], np.int16)) == 1
    assert ctl.decode(np.array([7, 7, 7], np.int16)) == 0
    assert ctl.decode(np.array([-3, -9, -2], np.int16)) == 2
    shifted = SNNController(_readout_net(3, ActionIO("discrete", 3, start=-1).meta()))
    assert shifted.decode(np.array([1, 1, 0], np.int16)) == -1  # Discrete(3, start=-1): index 0 is action -1
    assert isinstance(ctl.decode(np.array([0, 1, 0], np.int16)), np.integer)


def test_box_action_scaled_and_clipped() -> None:
    act = ActionIO("box", 2, (-2.0, 0.0), (2.0, 1.0))
    scales = act.output_scales()
    assert scales == pytest.approx([2 / ACTION_CODE_FS, 1 / ACTION_CODE_FS])  # the larger |bound| at code 4096
    net = Network(1, [Population(Kind.LI, 2)], [], [Output(0, k, 0, float(scales[k])) for k in range(2)],
                  meta=act.meta())  # fmt: skip
    ctl = SNNController(net)
    # 2048 * 2/4096 = 1.0; 2048 * 1/4096 = 0.5
    assert ctl.decode(np.array([2048, 2048], np.int16)) == pytest.approx([1.0, 0.5])
    # 8192 -> 4.0 clipped to 2.0; -100 -> -0.0244 clipped to the low bound 0
    assert ctl.decode(np.array([8192, -100], np.int16)) == pytest.approx([2.0, 0.0])
    assert ctl.decode(np.array([-32768, 32767], np.int16)) == pytest.approx([-2.0, 1.0])


def test_exponents_meet_the_gains_by_hand() -> None:
    # full observation (32767) x full weight (127) ~ 2**22; 2 thresholds = 2**17 -> e = -5
    assert exponent_for(2 * THETA, W_MAX * 32767) == -5
    # one spike x 127 ~ 2**7; one full-scale action 2**16 -> e = 9
    assert exponent_for(V_FS, W_MAX) == 9
    net = _codec([1.0, 1.0], ActionIO("discrete", 2), hidden=3, encoding="pm").decode(
        _codec([1.0, 1.0], ActionIO("discrete", 2), hidden=3, encoding="pm").initial_genome)  # fmt: skip
    assert [q.exponent for q in net.projections] == [-6, 9, 9]  # encoders (1 threshold), spikes -> hidden, -> readout


def test_sparse_prunes_small_genes_dense_keeps_every_entry() -> None:
    act = ActionIO("discrete", 2)
    sparse = _codec([1.0] * 3, act, connectivity="sparse", prune=0.25)
    g = sparse.initial_genome.copy()
    sparse.layout.put(g, "w_in_out", [[0.2, -0.3], [0.5, 0.0], [-1.0, 0.24]])
    w = sparse.decode(g).projections[0].weights
    assert w.tolist() == [
        [0, -38],
        [64, 0],
        [-127, 0],
    ]  # round(127 g) = 25, -38, 64, 0, -127, 30; kept where >= 127 x 0.25 = 31.75
    assert sparse.decode(g).n_synapses == 3
    dense = _codec([1.0] * 3, act)
    assert dense.decode(g).n_synapses == 6


def test_a_hand_built_network_balances_cartpole() -> None:
    """No evolution: readout 1 (push right) gets +(0.1 x + 0.5 v + 3 theta + omega) in full-scale units, readout 0
    the negative; the argmax of the two is the sign of that sum, a linear policy that balances the pole."""
    import gymnasium

    from evolve.gym import episode

    env = gymnasium.make("CartPole-v1")
    fs = np.array([4.8, 3.0, 0.418, 3.5])
    codec = _codec(fs, ActionIO("discrete", 2))
    g = codec.initial_genome.copy()
    k = np.array([0.1, 0.5, 3.0, 1.0]) * fs  # gene per unit of full scale
    k = 0.9 * k / np.abs(k).max()
    codec.layout.put(g, "w_in_out", np.stack([-k, k], axis=1))
    ctl = SNNController(codec.decode(g))
    returns = [episode(env, ctl, s, None)[0] for s in range(5)]
    env.close()
    assert min(returns) >= 475
