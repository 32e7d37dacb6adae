"""The spiking NCAP circuit (snnctl/controllers/ncap.py): oscillator, signs, sharing, transfer, files.

Expected values are worked by hand from docs/integer-model.md and the codec's documented gains, not
read back from the code under test.
"""

from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl import runtime, snnfile
from snnctl.controllers.ncap import NCAPCodec, NCAPSpec, resize_network
from snnctl.controllers.snn import SNNController
from snnctl.network import INPUT, MAX_INPUTS, MAX_NEURONS, MAX_POPULATIONS, MAX_PROJECTIONS
from tests.optional_tools import skip_unless_ci

SPEC = NCAPSpec(n_joints=3, neurons_per_unit=8)
POP = {"osc": 0, "osc_timer": 1, "b_d": 2, "b_v": 3, "m_d": 4, "m_v": 5, "torque": 6}


def genome(codec: NCAPCodec, **genes) -> np.ndarray:
    """The initial genome with some genes set (scalars broadcast over a per-joint block)."""
    g = codec.initial_genome.copy()
    for name, value in genes.items():
        codec.layout.put(g, name.replace("__", "."), value)
    return g


def unit(pop_spikes: np.ndarray, joint: int, m: int) -> np.ndarray:
    return pop_spikes[..., joint * m : (joint + 1) * m]


def pop_slice(net, name: str) -> slice:
    off = net.offsets()
    i = POP[name]
    return slice(int(off[i]), int(off[i + 1]))


def zeros(net, t: int) -> np.ndarray:
    return np.zeros((t, net.n_inputs), np.int16)


# -- the head oscillator ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(period=st.integers(8, 120), n_joints=st.integers(2, 5))
def test_oscillator_period_equals_the_gene(period: int, n_joints: int) -> None:
    """D is on for floor(P/2) steps, V for the rest, exactly P steps per cycle, from step 0 on."""
    codec = NCAPCodec(NCAPSpec(n_joints=n_joints, neurons_per_unit=2))
    net = codec.decode(genome(codec, osc__period=period))
    tr = runtime.run_trace(net, zeros(net, 4 * period + 3))
    d, v = tr.spikes[:, 0].astype(int), tr.spikes[:, 1].astype(int)
    t = np.arange(len(d))
    expect_d = ((t % period) < period // 2).astype(int)
    np.testing.assert_array_equal(d, expect_d)
    np.testing.assert_array_equal(v, 1 - expect_d)  # exactly one side on at every step
    onsets = np.flatnonzero(np.diff(d) == 1) + 1
    assert np.all(np.diff(onsets) == period)
    assert len(onsets) == 4  # cycles starting at P, 2P, 3P, 4P


@pytest.mark.parametrize("period", [2, 3, 60])
def test_oscillator_period_without_evolving_it(period: int) -> None:
    spec = NCAPSpec(n_joints=2, period=period, evolve_period=False, period_min=2, period_max=120)
    codec = NCAPCodec(spec)
    assert "osc.period" not in codec.gene_names()
    net = codec.decode(codec.initial_genome)
    d = runtime.run_trace(net, zeros(net, 5 * period)).spikes[:, 0]
    np.testing.assert_array_equal(d, (np.arange(5 * period) % period) < period // 2)


def test_oscillator_drives_joint_0_torque_as_a_square_wave() -> None:
    """Joint 0: +w_osc current in the D half, into the ventral unit in the V half; torque follows."""
    codec = NCAPCodec(SPEC)
    # w_osc = 24: current 24 * 2^6 = 1536 per step -> 1536 >= 256, 768, 1280 (theta_k = 256 (2k+1)): 3 of 8.
    # Muscles with w_exc = 32, w_inh = 0: 3 spikes * 32 * 2^(7-3) = 1536 -> again 3 of 8 neurons.
    # Readout: 3 spikes * 64 * 2^(10-3) = 24576 = v; shift 2 -> code 6144; torque 6144 * 4 / 2^16 = 0.375.
    net = codec.decode(genome(codec, osc__w=24, muscle__exc=32, muscle__inh=0, osc__period=20))
    tr = runtime.run_trace(net, zeros(net, 40))
    torque = net.dequantize_outputs(tr.outputs)
    expect = np.where((np.arange(40) % 20) < 10, 0.375, -0.375)
    np.testing.assert_array_equal(torque[:, 0], expect)
    np.testing.assert_array_equal(torque[:, 1:], 0.0)  # no proprioceptive input: other joints idle


# -- proprioception and the muscle rule ---------------------------------------------------------------


@pytest.mark.parametrize("angle", [0.1, -0.1])
def test_proprioception_drives_one_side_only(angle: float) -> None:
    """Joint 0's angle drives joint 1's dorsal unit when positive, its ventral unit when negative.

    w_prop = 32, angle 0.1 rad = code 100: current floor(32 * 100 / 2) = 1600 >= 256, 768, 1280 -> 3 of 8.
    """
    codec = NCAPCodec(SPEC)
    net = codec.decode(genome(codec, prop__w=32, prop__vel_w=0, osc__w=0, muscle__exc=32, muscle__inh=0))
    obs = np.zeros(2 * SPEC.n_links + 2)
    obs[1] = angle  # joint 0 angle in the swimmer observation
    ctl = SNNController(net)
    ctl.act(obs)
    s = ctl.stepper.last_spikes
    same, other = ("b_d", "b_v") if angle > 0 else ("b_v", "b_d")
    assert unit(s[pop_slice(net, same)], 1, 8).sum() == 3
    assert s[pop_slice(net, other)].sum() == 0
    assert unit(s[pop_slice(net, same)], 2, 8).sum() == 0  # joint 2 listens to joint 1, which is straight
    # torque on joint 1: 3/8 with the sign of the side (dorsal -> positive, as NCAP's torque = d - v)
    action = ctl.decode(ctl.last_codes)
    assert action[1] == pytest.approx(np.sign(angle) * 0.375)
    assert action[2] == 0.0


def test_velocity_feedback_adds_to_the_angle_current() -> None:
    """B current = floor(w_p * angle_code / 2) + floor(w_v * rate_code / 4), rates coded at 2e-3 rad/s."""
    codec = NCAPCodec(SPEC)
    net = codec.decode(genome(codec, prop__w=32, prop__vel_w=40, osc__w=0))
    obs = np.zeros(2 * SPEC.n_links + 2)
    obs[1], obs[SPEC.n_links + 3] = 0.02, 0.4  # joint 0: 20 mrad (code 20), 0.4 rad/s (code 200)
    ctl = SNNController(net)
    ctl.act(obs)
    # 32 * 20 / 2 + 40 * 200 / 4 = 320 + 2000 = 2320 >= 256, 768, 1280, 1792, 2304 (< 2816): 5 of 8
    assert unit(ctl.stepper.last_spikes[pop_slice(net, "b_d")], 1, 8).sum() == 5
    obs[SPEC.n_links + 3] = -0.4  # the rate term now opposes: 320 - 2000 = -1680 -> the ventral unit
    ctl.reset()
    ctl.act(obs)
    assert ctl.stepper.last_spikes[pop_slice(net, "b_d")].sum() == 0
    assert unit(ctl.stepper.last_spikes[pop_slice(net, "b_v")], 1, 8).sum() == 3  # 1680 >= 256, 768, 1280


def test_muscles_are_wired_same_side_excitatory_opposite_side_inhibitory() -> None:
    """m_d <- w_exc from its joint's b_d unit, w_inh from its b_v unit (all-to-all within the unit); m_v mirrored.

    (In the swimmer circuit a joint's two B units are never on together -- the oscillator sides
    and the angle's sign are exclusive -- so, as in NCAP without turn inputs, w_inh only shapes
    nothing but this wiring; the test checks the wiring itself.)
    """
    codec = NCAPCodec(NCAPSpec(n_joints=2, shared=False, neurons_per_unit=2, velocity_feedback=False))
    net = codec.decode(genome(codec, muscle__exc=[5, 6], muscle__inh=[-7, -8]))
    block = lambda a, b: np.array([[a, a, 0, 0], [a, a, 0, 0], [0, 0, b, b], [0, 0, b, b]])  # noqa: E731
    w = {(q.src, q.dst): q.weights.astype(int) for q in net.projections if q.src >= POP["b_d"]}
    np.testing.assert_array_equal(w[(POP["b_d"], POP["m_d"])], block(5, 6))
    np.testing.assert_array_equal(w[(POP["b_v"], POP["m_v"])], block(5, 6))
    np.testing.assert_array_equal(w[(POP["b_v"], POP["m_d"])], block(-7, -8))
    np.testing.assert_array_equal(w[(POP["b_d"], POP["m_v"])], block(-7, -8))
    # readout: +64 from every dorsal muscle neuron of a joint, -64 from every ventral one
    np.testing.assert_array_equal(w[(POP["m_d"], POP["torque"])], [[64, 0], [64, 0], [0, 64], [0, 64]])
    np.testing.assert_array_equal(w[(POP["m_v"], POP["torque"])], [[-64, 0], [-64, 0], [0, -64], [0, -64]])


def test_saturated_drive_gives_full_torque() -> None:
    """1 rad with w_prop = 127: current 63500 >> theta, all 8 B_d and (gain 2) all 8 m_d neurons fire."""
    codec = NCAPCodec(dataclasses.replace(SPEC, velocity_feedback=False))
    net = codec.decode(genome(codec, prop__w=127, osc__w=0, muscle__exc=64, muscle__inh=-64))
    tr = runtime.run_trace(net, np.array([[1000, 0]], np.int16))
    assert unit(tr.spikes[0, pop_slice(net, "m_d")], 1, 8).sum() == 8
    assert tr.spikes[0, pop_slice(net, "m_v")].sum() == 0
    np.testing.assert_array_equal(net.dequantize_outputs(tr.outputs)[0], [0.0, 1.0, 0.0])


# -- sign constraints and weight sharing ---------------------------------------------------------------


def _weights_by_role(net) -> dict[str, list[np.ndarray]]:
    roles: dict[str, list[np.ndarray]] = {"exc": [], "inh": [], "input_d": [], "input_v": [], "osc": []}
    b_d, b_v, m_d, m_v = POP["b_d"], POP["b_v"], POP["m_d"], POP["m_v"]
    for q in net.projections:
        w = q.weights.astype(int)
        if q.src == INPUT:
            roles["input_d" if q.dst == b_d else "input_v"].append(w)
        elif q.src == POP["osc"] and q.dst in (b_d, b_v):
            roles["osc"].append(w)
        elif (q.src, q.dst) in ((b_d, m_d), (b_v, m_v)):
            roles["exc"].append(w)
        elif (q.src, q.dst) in ((b_v, m_d), (b_d, m_v)):
            roles["inh"].append(w)
    return roles


@settings(max_examples=60, deadline=None)
@given(
    shared=st.booleans(),
    n_joints=st.integers(2, 6),
    m=st.sampled_from([1, 2, 4]),
    data=st.data(),
)
def test_sign_constraints_hold_for_any_genome(shared: bool, n_joints: int, m: int, data) -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=n_joints, shared=shared, neurons_per_unit=m))
    floats = st.floats(-1e6, 1e6, allow_nan=False)
    g = np.array(data.draw(st.lists(floats, min_size=codec.n_params, max_size=codec.n_params)))
    net = codec.decode(g)
    roles = _weights_by_role(net)
    assert all(len(v) for k, v in roles.items())
    for w in roles["exc"] + roles["osc"] + roles["input_d"]:
        assert w.min() >= 0
    for w in roles["inh"] + roles["input_v"]:
        assert w.max() <= 0
    # the dorsal and ventral input populations see opposite-sign copies of the same weights
    for wd, wv in zip(roles["input_d"], roles["input_v"], strict=True):
        np.testing.assert_array_equal(wd, -wv)
    period = int(net.populations[POP["osc_timer"]].theta.sum()) // 64
    assert codec.spec.period_min <= period <= codec.spec.period_max


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n_joints=st.integers(2, 7))
def test_decode_encode_round_trip(data, n_joints: int) -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=n_joints, shared=data.draw(st.booleans()), neurons_per_unit=4))
    lo, hi = codec.bounds.T
    ints = [data.draw(st.integers(int(a), int(b))) for a, b in zip(lo, hi, strict=True)]
    g = np.array(ints, dtype=float)
    net = codec.decode(g)
    np.testing.assert_array_equal(codec.encode(net), g)
    again = snnfile.from_bytes(snnfile.to_bytes(net))
    np.testing.assert_array_equal(NCAPCodec.from_network(again).encode(again), g)


def _per_joint(net, m: int) -> dict[str, np.ndarray]:
    """Each joint's weights read off the network: first neuron of each unit, by role."""
    n = net.n_outputs
    first = np.arange(n) * m
    by = {(q.src, q.dst, q.exponent): q.weights.astype(int) for q in net.projections}
    prop = net.projections[5].weights.astype(int)
    return {
        "osc_d": by[(POP["osc"], POP["b_d"], 6)][0, first],
        "prop": np.array([prop[j - 1, first[j]] for j in range(1, n)]),
        "exc": by[(POP["b_d"], POP["m_d"], 7 - int(np.log2(m)))][first, first],
        "inh": by[(POP["b_v"], POP["m_d"], 7 - int(np.log2(m)))][first, first],
    }


@pytest.mark.parametrize("n_joints", [2, 5, 9, 15])
def test_shared_weights_are_the_same_on_every_joint(n_joints: int) -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=n_joints, neurons_per_unit=4))
    g = genome(codec, osc__w=50, prop__w=33, prop__vel_w=7, muscle__exc=90, muscle__inh=-20, osc__period=44)
    w = _per_joint(codec.decode(g), 4)
    np.testing.assert_array_equal(w["osc_d"], [50] + [0] * (n_joints - 1))  # the oscillator drives joint 0 only
    np.testing.assert_array_equal(w["prop"], [33] * (n_joints - 1))
    np.testing.assert_array_equal(w["exc"], [90] * n_joints)
    np.testing.assert_array_equal(w["inh"], [-20] * n_joints)
    assert codec.n_params == 6  # 5 weights + the period, whatever the body length


def test_per_joint_weights_go_to_their_joint() -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=4, shared=False, neurons_per_unit=2))
    assert codec.n_params == 1 + 3 + 3 + 4 + 4 + 1
    g = genome(codec, prop__w=[10, 20, 30], muscle__exc=[1, 2, 3, 4], muscle__inh=[-5, -6, -7, -8])
    w = _per_joint(codec.decode(g), 2)
    np.testing.assert_array_equal(w["prop"], [10, 20, 30])
    np.testing.assert_array_equal(w["exc"], [1, 2, 3, 4])
    np.testing.assert_array_equal(w["inh"], [-5, -6, -7, -8])


@pytest.mark.parametrize("k", [2, 3, 7, 11, 15])
def test_resize_rebuilds_the_same_weights_for_another_body(k: int) -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=5))
    g = genome(codec, osc__w=70, prop__w=41, prop__vel_w=12, muscle__exc=100, muscle__inh=-3, osc__period=31)
    net = snnfile.from_bytes(snnfile.to_bytes(codec.decode(g)))  # from the file alone
    big = resize_network(net, k)
    direct = NCAPCodec(NCAPSpec(n_joints=k)).decode(g)
    assert snnfile.to_bytes(big) == snnfile.to_bytes(direct)
    assert big.meta["n_links"] == k + 1 and big.n_outputs == k
    assert big.meta["obs_index"] == [*range(1, k), *range(k + 4, 2 * k + 3)]


def test_per_joint_circuits_do_not_transfer() -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=3, shared=False))
    net = codec.decode(codec.initial_genome)
    with pytest.raises(ValueError, match="per-joint weights for 3 joints"):
        resize_network(net, 5)
    assert snnfile.to_bytes(resize_network(net, 3)) == snnfile.to_bytes(net)


def test_resize_needs_an_ncap_network() -> None:
    from snnctl.models import blimp_shaped_network

    with pytest.raises(ValueError, match="not an NCAP network"):
        resize_network(blimp_shaped_network(3), 4)


# -- files, limits, controller ------------------------------------------------------------------------


def test_snn_file_round_trip_runs_bit_identically() -> None:
    codec = NCAPCodec(SPEC)
    net = codec.decode(genome(codec, osc__w=40, prop__w=50, prop__vel_w=30, muscle__inh=-40, osc__period=26))
    back = snnfile.from_bytes(snnfile.to_bytes(net))
    assert back.meta == net.meta
    rng = np.random.default_rng(0)
    t = np.arange(600)
    x = np.stack([0.8 * np.sin(t / 6), 0.5 * np.sin(t / 9 + 1), 4 * np.cos(t / 6), 3 * np.cos(t / 9)], axis=1)
    codes = net.quantize_inputs(x + rng.normal(0, 0.05, x.shape))
    a, b = runtime.run_trace(net, codes), runtime.run_trace(back, codes)
    for field in ("outputs", "spikes", "u", "v", "a"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.spikes.sum() > 1000  # the circuit is active on this input


def test_the_largest_body_fits_the_model_limits() -> None:
    codec = NCAPCodec(NCAPSpec(n_joints=15, neurons_per_unit=16))
    net = codec.decode(codec.initial_genome)
    net.validate()
    assert net.n_neurons == 4 + 4 * 15 * 16 + 15 <= MAX_NEURONS
    assert net.n_inputs == 28 <= MAX_INPUTS
    assert len(net.populations) <= MAX_POPULATIONS and len(net.projections) <= MAX_PROJECTIONS
    assert snnfile.from_bytes(snnfile.to_bytes(net)).n_neurons == net.n_neurons


def test_controller_reads_the_swimmer_observation_from_meta() -> None:
    """obs_index picks joint angles obs[1 .. n-1] and joint rates obs[n+3 ..] (n = links)."""
    net = NCAPCodec(NCAPSpec(n_joints=4)).decode(NCAPCodec(NCAPSpec(n_joints=4)).initial_genome)
    ctl = SNNController(snnfile.from_bytes(snnfile.to_bytes(net)))
    obs = np.arange(12, dtype=float) / 100  # 5 links: 12 observations
    codes = ctl.encode(obs)
    # angles of joints 0..2 = obs[1..3] in mrad; rates of joints 0..2 = obs[8..10] in units of 2 mrad/s
    np.testing.assert_array_equal(codes, [10, 20, 30, 40, 45, 50])
    act = ctl.act(obs)
    assert act.shape == (4,) and act.dtype == np.float32 and np.all(np.abs(act) <= 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_joints": 1}, "n_joints"),
        ({"neurons_per_unit": 3}, "neurons_per_unit"),
        ({"period": 200}, "period must be"),
        ({"period_min": 50, "period_max": 40}, "period_min"),
        ({"out_dv": 0}, "out_dv"),
        ({"theta": True}, "theta"),
    ],
)
def test_bad_specs_are_clear_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NCAPSpec(**kwargs)


def test_spec_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        NCAPSpec.from_dict({"n_joints": 3, "joints": 4})


# -- the host firmware runs the same circuit ----------------------------------------------------------


def test_host_firmware_gives_the_same_actions_for_a_whole_episode(tmp_path) -> None:
    """Codes recorded while the numba runtime swims Swimmer-v5 for 1000 steps, replayed by the C core."""
    from evolve.swimmer import make_env
    from firmware_bridge.build import build_host_tool

    try:
        tool = build_host_tool("snnrun")
    except (OSError, subprocess.CalledProcessError, RuntimeError) as e:  # no C compiler
        skip_unless_ci(f"cannot build the host tool: {e}")
    codec = NCAPCodec(NCAPSpec(n_joints=2))
    net = codec.decode(genome(codec, osc__w=30, prop__w=75, prop__vel_w=66, muscle__exc=65, muscle__inh=-8,
                              osc__period=26))  # fmt: skip
    ctl = SNNController(net)
    env = make_env("Swimmer-v5", 3)
    obs, _ = env.reset(seed=123)
    codes, outs = [], []
    for _ in range(1000):
        codes.append(ctl.encode(obs).copy())
        out = ctl.stepper.step(codes[-1]).copy()
        outs.append(out)
        obs, *_ = env.step(ctl.decode(out))
    env.close()
    codes, outs = np.array(codes), np.array(outs)
    path = snnfile.save(net, tmp_path / "ncap.snn")
    res = subprocess.run([str(tool), str(path)], input=codes.astype("<i2").tobytes(), capture_output=True,
                         check=True, timeout=60)  # fmt: skip
    c_out = np.frombuffer(res.stdout, dtype="<i2").reshape(outs.shape)
    np.testing.assert_array_equal(c_out, outs)
    assert len(np.unique(outs[:, 1])) > 3  # the proprioceptive joint moved through several levels
