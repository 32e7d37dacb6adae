"""GenomeLayout, the blimp SNN codec (genome <-> integer network) and SNNController.

Expected values come from the layout's bounds, the derivation documented in blimp_snn.py (recomputed
here by hand), the integer model's symmetries, or a manual quantise -> step -> dequantise pipeline;
never from what the code under test prints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnctl import runtime, snnfile
from snnctl.controllers import blimp_snn
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.snn import SNNController
from snnctl.genome import GenomeLayout
from snnctl.network import INPUT, Kind, Reset

# -- GenomeLayout -----------------------------------------------------------------------------------


def _layout() -> GenomeLayout:
    g = GenomeLayout()
    g.add("a", 1, 0, 10, 3)
    g.add("b", (2, 3), -5, 5, np.arange(6).reshape(2, 3) - 2.5)
    g.add("c", 2, 1, 2, [1.25, 1.75])
    return g


def test_layout_bounds_initial_and_names_follow_declaration_order() -> None:
    g = _layout()
    assert g.size == 1 + 6 + 2
    np.testing.assert_array_equal(g.bounds, [[0, 10]] + [[-5, 5]] * 6 + [[1, 2]] * 2)
    np.testing.assert_array_equal(g.initial, [3, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.25, 1.75])
    assert g.names() == ["a", "b[0,0]", "b[0,1]", "b[0,2]", "b[1,0]", "b[1,1]", "b[1,2]", "c[0]", "c[1]"]
    assert [g.genes[n].start for n in "abc"] == [0, 1, 7]


def test_layout_scalar_init_broadcasts_over_the_block() -> None:
    g = GenomeLayout()
    g.add("w", 4, -1, 1, 0.5)
    np.testing.assert_array_equal(g.initial, [0.5] * 4)


def test_layout_get_clips_ints_rounds_half_to_even() -> None:
    g = _layout()
    genome = np.array([12.0, -9, 9, 0.4, 0.5, 1.5, 2.5, 0.0, 3.0])
    np.testing.assert_array_equal(g.get(genome, "a"), [10])
    np.testing.assert_array_equal(g.get(genome, "b"), [[-5, 5, 0.4], [0.5, 1.5, 2.5]])
    np.testing.assert_array_equal(g.get(genome, "c"), [1, 2])
    np.testing.assert_array_equal(g.ints(genome, "b"), [[-5, 5, 0], [0, 2, 2]])
    assert g.ints(genome, "b").dtype == np.int64


@given(st.lists(st.floats(-100, 100), min_size=9, max_size=9))
def test_layout_put_get_round_trip(values) -> None:
    g = _layout()
    genome = np.zeros(g.size)
    g.put(genome, "a", values[0])
    g.put(genome, "b", np.reshape(values[1:7], (2, 3)))
    g.put(genome, "c", values[7:])
    np.testing.assert_array_equal(genome, values)  # put writes raw values, in layout order
    np.testing.assert_array_equal(g.get(genome, "b"), np.clip(np.reshape(values[1:7], (2, 3)), -5, 5))


@pytest.mark.parametrize(
    "adds, match",
    [
        ([("x", 1, 0, 1, 0), ("x", 2, 0, 1, 0)], "declared twice"),
        ([("x", 1, 0, 1, 2)], "outside"),
        ([("x", 3, 0, 1, [0, 0.5, -0.1])], "outside"),
        ([("x", 1, 1, 1, 1)], "must be <"),
    ],
)
def test_layout_declaration_errors(adds, match) -> None:
    g = GenomeLayout()
    with pytest.raises(ValueError, match=match):
        for a in adds:
            g.add(*a)


@pytest.mark.parametrize("shape", [(8,), (10,), (9, 1), (1, 9), ()])
def test_layout_check_rejects_wrong_genome_shape(shape) -> None:
    with pytest.raises(ValueError, match=r"shape \(9,\)"):
        _layout().check(np.zeros(shape))
    np.testing.assert_array_equal(_layout().check([0] * 9), np.zeros(9))


def test_codec_decode_rejects_wrong_genome_length() -> None:
    c = BlimpSNNCodec()
    with pytest.raises(ValueError, match="shape"):
        c.decode(np.zeros(c.layout.size + 1))


# -- codec structure --------------------------------------------------------------------------------

SPECS = [
    BlimpSNNSpec(),
    BlimpSNNSpec(pd_pairs=1, i_pairs=3, i_adaptive=True),
    BlimpSNNSpec(pd_pairs=4, i_pairs=1, pd_range_m=2.5, i_range_m=0.3),
    BlimpSNNSpec(pd_pairs=2, i_pairs=2, i_adaptive=True, in_exponent=-2),
]
CODECS = [BlimpSNNCodec(s) for s in SPECS]


def _random_genome(codec: BlimpSNNCodec, seed: int, inside: bool = True) -> np.ndarray:
    """Uniform inside the bounds, some genes exactly on a bound, some x.5 (rounding) values;
    `inside=False` also pushes genes outside the bounds (an optimiser may)."""
    rng = np.random.default_rng(seed)
    lo, hi = codec.bounds.T
    g = rng.uniform(lo, hi)
    pick = rng.random(len(g))
    g = np.where(pick < 0.1, lo, np.where(pick < 0.2, hi, g))
    half = (pick >= 0.2) & (pick < 0.3)
    g = np.where(half, np.clip(np.floor(g) + 0.5, lo, hi), g)
    if not inside:
        out = rng.random(len(g)) < 0.3
        g = np.where(out, g + rng.choice([-1, 1], len(g)) * (hi - lo) * rng.uniform(0.01, 2, len(g)), g)
    return g


def _expected_ints(codec: BlimpSNNCodec, genome: np.ndarray) -> np.ndarray:
    lo, hi = codec.bounds.T
    return np.rint(np.clip(genome, lo, hi))


def _gene(codec: BlimpSNNCodec, ints: np.ndarray, name: str) -> np.ndarray:
    g = codec.layout.genes[name]
    return ints[g.start : g.start + g.size]


genome_cases = st.tuples(st.integers(0, len(CODECS) - 1), st.integers(0, 2**32 - 1), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome_cases)
def test_decode_structure_matches_the_spec_and_the_genes(case) -> None:
    k, seed, inside = case
    codec, spec = CODECS[k], SPECS[k]
    genome = _random_genome(codec, seed, inside)
    ints = _expected_ints(codec, genome)
    net = codec.decode(genome)
    net.validate()
    assert net.n_inputs == 1 and net.n_outputs == 2
    assert net.n_neurons == spec.n_neurons == 4 * spec.pd_pairs + 2 * spec.i_pairs + 2
    assert [p.n for p in net.populations] == [2 * spec.pd_pairs, 2 * spec.pd_pairs, 1, 2 * spec.i_pairs, 1]
    enc_kind = Kind.ALIF if spec.i_adaptive else Kind.LIF
    assert [p.kind for p in net.populations] == [Kind.LIF, Kind.LIF, Kind.LI, enc_kind, Kind.LI]
    for p in (net.populations[0], net.populations[1], net.populations[3]):
        assert p.reset == Reset.SOFT
    assert net.meta["obs_index"] == 2 and net.meta["combine"] == "sum"
    assert (net.meta["u_min"], net.meta["u_max"]) == (-3.3, 3.3)

    w = {(q.src, q.dst): q for q in net.projections}
    assert set(w) == {(INPUT, 0), (INPUT, 1), (0, 2), (1, 2), (INPUT, 3), (3, 4)}
    assert w[(INPUT, 0)].exponent == w[(INPUT, 1)].exponent == w[(INPUT, 3)].exponent == spec.in_exponent
    assert w[(0, 2)].exponent == w[(1, 2)].exponent == spec.pd_out_exponent
    assert w[(3, 4)].exponent == spec.i_out_exponent

    def pair_genes(weights_row: np.ndarray, name: str) -> None:
        """+w on neuron 2k, -w on neuron 2k+1, w = the gene rounded and clipped."""
        weights_row = weights_row.astype(np.int64)
        np.testing.assert_array_equal(weights_row[0::2], -weights_row[1::2])
        np.testing.assert_array_equal(weights_row[0::2], _gene(codec, ints, name))

    pair_genes(w[(INPUT, 0)].weights[0], "pd.w_fast")
    pair_genes(w[(INPUT, 1)].weights[0], "pd.w_slow")
    pair_genes(w[(INPUT, 3)].weights[0], "i.w")
    pair_genes(w[(0, 2)].weights[:, 0], "pd.a")
    pair_genes(w[(1, 2)].weights[:, 0], "pd.c")
    pair_genes(w[(3, 4)].weights[:, 0], "i.r")
    # sign constraints: encoder input weights of the "+" neuron are positive (gene bounds 1..127), and
    # the readouts are negative feedback: fast (P + D) and I weights of a "+" neuron >= 0, slow (-D) <= 0
    for q in (w[(INPUT, 0)], w[(INPUT, 1)], w[(INPUT, 3)]):
        assert np.all(q.weights[0, 0::2] >= 1) and np.all(q.weights[0, 1::2] <= -1)
    assert np.all(w[(0, 2)].weights[0::2] >= 0) and np.all(w[(3, 4)].weights[0::2] >= 0)
    assert np.all(w[(1, 2)].weights[0::2] <= 0)

    fast, slow, pd_out, i_enc, i_out = net.populations
    for pop, bias in ((fast, "pd.bias"), (i_enc, "i.bias")):
        np.testing.assert_array_equal(pop.bias, np.repeat(_gene(codec, ints, bias), 2))  # shared within a pair
    np.testing.assert_array_equal(fast.theta, 4096)
    np.testing.assert_array_equal(i_enc.theta, 4096)
    # the slow group: threshold and shared bias times its current's DC gain 4096 / du, rounded
    du = int(_gene(codec, ints, "pd.slow_du")[0])
    np.testing.assert_array_equal(slow.du, du)
    np.testing.assert_array_equal(slow.theta, round(4096 * 4096 / du))  # 4096^2 / du is never x.5 for du <= 4096
    np.testing.assert_array_equal(slow.bias, np.rint(np.repeat(_gene(codec, ints, "pd.bias"), 2) * 4096 / du))
    np.testing.assert_array_equal(fast.du, 4096)
    np.testing.assert_array_equal(i_enc.du, 4096)
    np.testing.assert_array_equal(fast.dv, _gene(codec, ints, "pd.dv")[0])
    np.testing.assert_array_equal(slow.dv, _gene(codec, ints, "pd.dv")[0])
    np.testing.assert_array_equal(i_enc.dv, _gene(codec, ints, "i.dv")[0])
    np.testing.assert_array_equal(pd_out.dv, _gene(codec, ints, "pd.out_dv")[0])
    np.testing.assert_array_equal(i_out.dv, _gene(codec, ints, "i.out_dv")[0])
    if spec.i_adaptive:
        assert i_enc.da == _gene(codec, ints, "i.da")[0] and i_enc.a_step == _gene(codec, ints, "i.a_step")[0]
    # the outputs: PD readout and I readout, summed by the controller
    assert [(o.pop, o.neuron) for o in net.outputs] == [(2, 0), (4, 0)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome_cases)
def test_encode_decode_is_rint_clip_and_file_bytes_round_trip(case) -> None:
    k, seed, inside = case
    codec = CODECS[k]
    genome = _random_genome(codec, seed, inside)
    net = codec.decode(genome)
    back = codec.encode(net)
    np.testing.assert_array_equal(back, _expected_ints(codec, genome))  # exact, every gene
    data = snnfile.to_bytes(net)
    assert snnfile.to_bytes(codec.decode(back)) == data
    # the same through a file: the deployed network reads back into the same genome
    loaded = snnfile.from_bytes(data)
    np.testing.assert_array_equal(codec.encode(loaded), back)
    assert snnfile.to_bytes(codec.decode(codec.encode(loaded))) == data


def test_encode_refuses_a_network_of_another_spec() -> None:
    net = CODECS[1].decode(CODECS[1].initial_genome)
    with pytest.raises(ValueError, match="built for"):
        CODECS[0].encode(net)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: f"pd{c.spec.pd_pairs}-i{c.spec.i_pairs}-{c.spec.i_adaptive}")
def test_bounds_and_initial_genome_are_consistent(codec) -> None:
    b = codec.bounds
    assert b.shape == (codec.layout.size, 2) and np.all(b[:, 0] < b[:, 1])
    init = codec.initial_genome
    assert init.shape == (codec.layout.size,)
    assert np.all(init >= b[:, 0]) and np.all(init <= b[:, 1])
    assert len(codec.gene_names()) == codec.layout.size == len(set(codec.gene_names()))
    # every integer parameter of the decoded network stays inside the model's limits
    lo_net, hi_net = codec.decode(b[:, 0]), codec.decode(b[:, 1])
    lo_net.validate()
    hi_net.validate()


# -- the initial genome: the documented derivation, recomputed --------------------------------------

THETA = 4096


def _hand_comparator(t_m: float, ein: int) -> tuple[int, int]:
    """(w, b) of a pair switching at t_m metres: weight 127 and the threshold in the bias
    (b = THETA - w_eff t) while b >= 0, else bias 0 and the weight THETA / t."""
    w_eff = 127 * 2.0**ein  # current per mm
    if t_m * 1000 * w_eff <= THETA:
        return 127, round(THETA - w_eff * t_m * 1000)
    return max(1, round(THETA / (t_m * 1000 * 2.0**ein))), 0


def _hand_thresholds(w: np.ndarray, b: np.ndarray, ein: int) -> np.ndarray:
    """Where a pair's "+" comparator switches (m): w 2^ein e_mm + b = THETA."""
    return (THETA - b) / (w * 2.0**ein) / 1000


def _hand_intervals(t: np.ndarray) -> np.ndarray:
    """The staircase's interval ends: the thresholds, closed by t_K^2 / t_K-1 (2 t_1 for one)."""
    return np.append(t, t[-1] ** 2 / t[-2] if len(t) > 1 else 2 * t[-1])


def _hand_steps(t: np.ndarray) -> np.ndarray:
    """Staircase steps: on [t_k, t_k+1) the sum of the first k steps is the midpoint (t_k + t_k+1) / 2."""
    ends = _hand_intervals(t)
    return np.diff((ends[:-1] + ends[1:]) / 2, prepend=0.0)


@pytest.mark.parametrize("spec", SPECS + [BlimpSNNSpec(kp=3.0, ki=0.3, kd=5.0, d_tau_s=0.8, pd_range_m=0.6)])
def test_initial_genome_follows_the_documented_derivation(spec) -> None:
    codec = BlimpSNNCodec(spec)
    L, g0 = codec.layout, codec.initial_genome
    ein, dt = spec.in_exponent, blimp_snn.DT
    # square-law threshold grids t_k = range (k / K)^2, realised as (weight, bias) comparators
    grids = {
        "pd": spec.pd_range_m * (np.arange(1, spec.pd_pairs + 1) / spec.pd_pairs) ** 2,
        "i": spec.i_range_m * (np.arange(1, spec.i_pairs + 1) / spec.i_pairs) ** 2,
    }
    realised = {}
    for part, wname in (("pd", "pd.w_fast"), ("i", "i.w")):
        wb = np.array([_hand_comparator(t, ein) for t in grids[part]])
        np.testing.assert_array_equal(L.get(g0, wname), wb[:, 0])
        np.testing.assert_array_equal(L.get(g0, f"{part}.bias"), wb[:, 1])
        realised[part] = _hand_thresholds(wb[:, 0], wb[:, 1], ein)
        # each realised threshold is the designed one to half a bias unit, or to the weight's rounding
        for t, t_real, (w, b) in zip(grids[part], realised[part], wb, strict=True):
            if w == 127:
                assert abs(t_real - t) <= 0.5 / (127 * 2.0**ein) / 1000 + 1e-12
            else:
                assert b == 0 and abs(t_real / t - 1) <= 0.5 / w + 1e-12
    np.testing.assert_array_equal(L.get(g0, "pd.w_slow"), L.get(g0, "pd.w_fast"))
    # readouts: a PD step times (kp + kd / tau) on the fast pair, times -kd / tau on its slow twin, in
    # units of 3.3 / 2^20 * 2^pd_out_exponent; an I step times ki DT, in units of 3.3 / 2^23 * 2^i_out_exponent
    pd_unit = 3.3 / 2**20 * 2**spec.pd_out_exponent
    i_unit = 3.3 / 2**23 * 2**spec.i_out_exponent
    kdt = spec.kd / spec.d_tau_s
    pd_steps, i_steps = _hand_steps(realised["pd"]), _hand_steps(realised["i"])
    np.testing.assert_allclose(L.get(g0, "pd.a"), np.clip((spec.kp + kdt) * pd_steps / pd_unit, 0, 127), rtol=1e-12)
    np.testing.assert_allclose(L.get(g0, "pd.c"), np.clip(-kdt * pd_steps / pd_unit, -127, 0), rtol=1e-12)
    np.testing.assert_allclose(L.get(g0, "i.r"), np.clip(spec.ki * dt * i_steps / i_unit, 0, 127), rtol=1e-12)
    # the slow current low-passes with tau = d_tau_s; comparators everywhere; memoryless PD, leak-free I
    assert L.get(g0, "pd.slow_du")[0] == round(4096 * (1 - math.exp(-dt / spec.d_tau_s)))
    assert L.get(g0, "pd.dv")[0] == L.get(g0, "i.dv")[0] == 4096
    assert L.get(g0, "pd.out_dv")[0] == 4096 and L.get(g0, "i.out_dv")[0] == 0
    if spec.i_adaptive:
        assert L.get(g0, "i.a_step")[0] == 0  # plain comparators until evolution adds adaptation
    # output scaling: the I readout saturates (2^23) exactly at code 32768 = u 3.3
    net = codec.decode(g0)
    assert 2**23 >> net.outputs[1].shift == 32768 and 2**20 >> net.outputs[0].shift == 32768
    assert net.outputs[0].scale == net.outputs[1].scale == pytest.approx(3.3 / 32768)


@pytest.mark.parametrize("kw", [{"pd_pairs": 0}, {"i_pairs": 41}, {"pd_range_m": 0.0}, {"i_range_m": 5.0}])
def test_spec_rejects_sizes_and_ranges_out_of_bounds(kw) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        BlimpSNNSpec(**kw)


def _initial_net(spec: BlimpSNNSpec | None = None):
    codec = BlimpSNNCodec(spec or BlimpSNNSpec())
    return codec, codec.decode(codec.initial_genome)


def _run_constant(net, e: float, steps: int) -> np.ndarray:
    """Output (T, 2) in u units for a constant error e (metres)."""
    codes = net.quantize_inputs(np.full((steps, 1), e))
    return runtime.run(net, codes).astype(np.float64) * 3.3 / 32768


def _pair_ints(codec: BlimpSNNCodec, wname: str, bname: str) -> tuple[np.ndarray, np.ndarray]:
    g0 = codec.initial_genome
    return codec.layout.ints(g0, wname), codec.layout.ints(g0, bname)


def test_initial_network_zero_error_gives_exactly_zero() -> None:
    _, net = _initial_net()
    out = _run_constant(net, 0.0, 300)
    assert np.all(out == 0.0)
    ctl = SNNController(net)
    for _ in range(50):
        assert ctl.act(np.array([1.0, 1.0, 0.0]))[0] == 0.0


code_lists = st.lists(st.integers(-1500, 1500) | st.integers(-32768, 32767), min_size=1, max_size=80)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code_lists, st.integers(0, len(CODECS) - 1))
def test_initial_fast_and_i_encoders_are_memoryless_comparators(codes, k) -> None:
    """With du = dv = 4096 a fast or I neuron fires at step t exactly when floor(+-w code 2^e) + b >= THETA:
    a function of this step's error alone, whatever errors (however large) came before."""
    codec = CODECS[k]
    net = codec.decode(codec.initial_genome)
    c = np.array(codes, dtype=np.int64)[:, None]
    tr = runtime.run_trace(net, c.astype(np.int16))
    off = net.offsets()
    den = 2**-codec.spec.in_exponent
    for pop, wname, bname in ((0, "pd.w_fast", "pd.bias"), (3, "i.w", "i.bias")):
        w, b = _pair_ints(codec, wname, bname)
        fires_plus = (w * c) // den + b >= THETA  # Python's // is the model's floordiv
        fires_minus = (-w * c) // den + b >= THETA
        spikes = tr.spikes[:, off[pop] : off[pop + 1]].astype(bool)
        np.testing.assert_array_equal(spikes[:, 0::2], fires_plus)
        np.testing.assert_array_equal(spikes[:, 1::2], fires_minus)


def test_initial_slow_pairs_switch_where_their_fast_twins_do() -> None:
    """The slow group's bias is scaled with its threshold by the current's DC gain 4096 / du (the bug was an
    unscaled bias): for a held error, once the filter has settled, every slow neuron fires exactly when its
    fast twin does, so the D path cancels at DC. The integer floors may differ only where the fast
    neuron's current is within one unit of its threshold."""
    codec, net = _initial_net()
    w, b = _pair_ints(codec, "pd.w_fast", "pd.bias")
    den = 2**-codec.spec.in_exponent
    off = net.offsets()
    checked = 0
    for code in range(-1300, 1301, 3):
        tr = runtime.run_trace(net, np.full((100, 1), code, dtype=np.int16))
        fast = tr.spikes[-1, off[0] : off[1]].astype(bool)
        slow = tr.spikes[-1, off[1] : off[2]].astype(bool)
        margin = np.empty(2 * len(w), dtype=np.int64)
        margin[0::2] = (w * code) // den + b - THETA
        margin[1::2] = (-w * code) // den + b - THETA
        edge = (margin == 0) | (margin == -1)
        np.testing.assert_array_equal(slow[~edge], fast[~edge], err_msg=f"code {code}")
        checked += int((~edge).sum())
    assert checked > 0.99 * 867 * 2 * len(w)


def _dc_u(net, e: float) -> float:
    """The PD readout (u) for an error held long enough for the slow current to settle."""
    return float(_run_constant(net, e, 120)[-1, 0])


@pytest.mark.parametrize("e", [0.01, 0.2, -0.05, 0.5])
def test_initial_pd_net_dc_gain_is_kp(e) -> None:
    """At DC the PD net outputs kp times the staircase level of the interval holding e (its midpoint),
    so it stays within kp * half an interval of kp * e (plus the readout weights' rounding)."""
    codec, net = _initial_net()
    s = codec.spec
    w, b = _pair_ints(codec, "pd.w_fast", "pd.bias")
    ends = _hand_intervals(_hand_thresholds(w, b, s.in_exponent))
    k = int(np.searchsorted(ends, abs(e), side="right"))  # pairs whose threshold |e| has passed
    assert 1 <= k < len(ends)
    level = np.sign(e) * (ends[k - 1] + ends[k]) / 2
    rounding = k * 1.0 * 3.3 / 2**20 * 2**s.pd_out_exponent  # a + c of each active pair, rounded to integers
    u = _dc_u(net, e)
    assert u == pytest.approx(s.kp * level, abs=rounding + 3.3 / 32768)
    assert abs(u - s.kp * e) <= s.kp * (ends[k] - ends[k - 1]) / 2 + rounding


def test_initial_pd_net_dc_staircase_has_slope_kp() -> None:
    """Least squares up to +-0.6 m (beyond ~0.66 m kp * e passes 3.3, where the PD output code saturates,
    as the actuator does): the staircase's gain is kp (a 5 % tolerance for the quantisation)."""
    codec, net = _initial_net()
    e = np.linspace(-0.6, 0.6, 121)
    u = np.array([_dc_u(net, x) for x in e])
    assert float(e @ u / (e @ e)) == pytest.approx(codec.spec.kp, rel=0.05)


@pytest.mark.parametrize("e", [0.01, 0.03, 0.1, 0.4])
def test_initial_network_is_odd_in_the_error(e) -> None:
    _, net = _initial_net()
    up = np.clip(_run_constant(net, e, 300).sum(axis=1), -3.3, 3.3)
    down = np.clip(_run_constant(net, -e, 300).sum(axis=1), -3.3, 3.3)
    assert up.mean() > 0 and down.mean() < 0
    # mirror image up to the model's floor rounding (a code or so per step)
    np.testing.assert_allclose(down.mean(), -up.mean(), rtol=0.02, atol=2e-3)


@pytest.mark.parametrize("e", [0.01, 0.02, 0.05, -0.05])
def test_initial_i_net_integrates_ki_e_dt_per_step(e) -> None:
    codec, net = _initial_net()
    i_out = _run_constant(net, e, 250)[:, 1]
    slope = np.polyfit(np.arange(20, 220), i_out[20:220], 1)[0]
    expected = codec.spec.ki * e * blimp_snn.DT
    assert slope == pytest.approx(expected, rel=0.3)


def test_initial_i_net_rate_is_capped_beyond_the_integral_band() -> None:
    """Beyond i_range_m every I comparator is on: the integral grows at ki DT times the top staircase
    level, however large the error (the anti-windup of the band)."""
    codec, net = _initial_net()
    s = codec.spec
    w, b = _pair_ints(codec, "i.w", "i.bias")
    ends = _hand_intervals(_hand_thresholds(w, b, s.in_exponent))
    top = (ends[-2] + ends[-1]) / 2
    for e in (0.3, 2.0, -20.0):
        i_out = _run_constant(net, e, 200)[:, 1]
        slope = np.polyfit(np.arange(20, 200), i_out[20:200], 1)[0]
        assert slope == pytest.approx(np.sign(e) * s.ki * blimp_snn.DT * top, rel=0.02)


def test_initial_i_net_saturates_at_u_max_without_windup() -> None:
    _, net = _initial_net()
    i_out = _run_constant(net, 0.5, 3000)[:, 1]
    assert i_out.max() == pytest.approx(3.3, abs=3.3 / 32768 * 2)
    # no hidden wind-up: the comparators have no memory, so the integrator runs down from the very
    # first step after the error reverses, at the band's capped rate
    codes = net.quantize_inputs(np.concatenate([np.full((3000, 1), 0.5), np.full((100, 1), -0.5)]))
    back = runtime.run(net, codes)[:, 1].astype(float) * 3.3 / 32768
    assert back[3000] < back[2999] and np.all(np.diff(back[3000:]) < 0)
    assert back[-1] < back[2999] - 0.5


# -- SNNController ------------------------------------------------------------------------------------


def _manual_controller_outputs(net, observations: np.ndarray) -> np.ndarray:
    """quantise -> Stepper.step -> dequantise -> sum -> clip, from the network's own fields."""
    stepper = runtime.Stepper(net)
    scale = np.array([o.scale for o in net.outputs])
    zero = np.array([o.zero for o in net.outputs])
    us = []
    for obs in observations:
        x = obs[2]
        code = 0 if np.isnan(x) else int(np.clip(np.rint(x / np.float32(1e-3)), -32768, 32767))
        out = stepper.step(np.array([code], dtype=np.int16)).astype(np.float64)
        us.append(np.clip(((out - zero) * scale).sum(), -3.3, 3.3))
    return np.array(us)


def test_snn_controller_equals_manual_pipeline() -> None:
    codec = BlimpSNNCodec()
    rng = np.random.default_rng(5)
    net = codec.decode(_random_genome(codec, 11))
    obs = rng.normal(0, 0.3, (300, 3))
    obs[:, 2] += np.repeat(rng.normal(0, 0.5, 10), 30)  # steps of error
    obs[[7, 50, 51], 2] = np.nan
    obs[[100, 101], 2] = [100.0, -1e9]
    ctl = SNNController(net)
    ctl.reset()
    got = np.array([ctl.act(o)[0] for o in obs])
    np.testing.assert_allclose(got, _manual_controller_outputs(net, obs).astype(np.float32), rtol=0, atol=0)
    assert ctl.act(obs[0]).shape == (1,) and ctl.act(obs[0]).dtype == np.float32
    # reset really restarts: the same inputs give the same outputs again
    ctl.reset()
    np.testing.assert_array_equal([ctl.act(o)[0] for o in obs[:50]], got[:50])


def test_snn_controller_reads_only_obs_index_2() -> None:
    _, net = _initial_net()
    a, b = SNNController(net), SNNController(net)
    for e in np.linspace(-0.5, 0.5, 40):
        assert a.act(np.array([0.0, 0.0, e]))[0] == b.act(np.array([123.0, -7.0, e]))[0]


def test_snn_controller_nan_observation_is_the_zero_point() -> None:
    _, net = _initial_net()
    ctl, ref = SNNController(net), SNNController(net)
    for k in range(30):
        obs = np.array([np.nan, np.nan, np.nan]) if k % 3 == 0 else np.array([1.0, 1.2, 0.2])
        clean = obs if k % 3 else np.array([0.0, 0.0, 0.0])
        assert ctl.act(obs)[0] == ref.act(clean)[0]
    assert ctl.last_codes.dtype == np.int16


def test_snn_controller_clips_to_u_range() -> None:
    _, net = _initial_net()
    for sign in (1, -1):
        ctl = SNNController(net)
        u = np.array([ctl.act(np.array([0, 0, sign * 20.0]))[0] for _ in range(100)])
        assert np.all(np.abs(u) <= np.float32(3.3))
        assert u[-1] == np.float32(sign * 3.3)  # PD saturated plus a charged integrator exceed 3.3
        assert ctl.last_spike_count > 0


def test_snn_controller_without_meta_returns_one_action_per_output() -> None:
    codec, net = _initial_net()
    net.meta = {}
    ctl = SNNController(net)
    stepper = runtime.Stepper(codec.decode(codec.initial_genome))
    for e in (0.1, 0.3, -0.2):
        u = ctl.act(np.array([e]))  # no obs_index: every observation entry is an input
        codes = stepper.step(np.array([round(e / np.float32(1e-3))], dtype=np.int16))
        assert u.shape == (2,)
        np.testing.assert_array_equal(u, (codes * (3.3 / 32768)).astype(np.float32))


def test_snn_controller_reset_clears_the_last_step() -> None:
    """reset() forgets the previous episode: counters and output codes read as a new controller's."""
    _, net = _initial_net()
    ctl, fresh = SNNController(net), SNNController(net)
    for e in np.linspace(-0.5, 0.5, 30):
        ctl.act(np.array([0.0, 0.0, e]))
    assert ctl.last_spike_count > 0 and ctl.last_synops > 0 and np.any(ctl.last_codes != 0)
    ctl.reset()
    assert (ctl.last_spike_count, ctl.last_synops) == (fresh.last_spike_count, fresh.last_synops) == (0, 0)
    assert ctl.last_codes.dtype == np.int16
    np.testing.assert_array_equal(ctl.last_codes, np.zeros(net.n_outputs, dtype=np.int16))
    # the next episode is the new controller's, step by step, counters included
    for e in np.linspace(0.3, -0.3, 20):
        obs = np.array([0.0, 0.0, e])
        assert ctl.act(obs)[0] == fresh.act(obs)[0]
        assert (ctl.last_spike_count, ctl.last_synops) == (fresh.last_spike_count, fresh.last_synops)
        np.testing.assert_array_equal(ctl.last_codes, fresh.last_codes)
