"""The LMU maths, the spiking L2MU on the integer model, and the closed-form readout.

Truth comes from hand-worked values (A, B for d = 1, 2), closed forms (ZOH of d = 1, the LMU's
steady states), a second implementation (scipy's expm, brute-force leave-one-out) and the integer
model's own arithmetic (readout scores recomputed from spike counts).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl import snnfile
from snnctl.controllers.l2mu import (
    L2MUParams,
    L2MUSpec,
    calibrate,
    count_networks,
    hidden_counts,
    install_readout,
    int8_parts,
    kick_for,
    l2mu_network,
    memory_error,
    population_index,
)
from snnctl.controllers.lmu import expm, lmu_ab, lmu_discrete, shifted_legendre, simulate_memory, zoh
from snnctl.controllers.readout_fit import LooRow, choose_alpha, fit_ridge, loo_scores, macro_f1, one_hot_targets
from snnctl.reference import simulate
from snnctl.runtime import run, run_trace
from tests.optional_tools import skip_unless_ci

# -- the LMU matrices --------------------------------------------------------------------------------


def test_lmu_ab_by_hand():
    a, b = lmu_ab(1, 2.0)  # A = -1/theta, B = 1/theta
    np.testing.assert_allclose(a, [[-0.5]])
    np.testing.assert_allclose(b, [0.5])
    a, b = lmu_ab(2, 1.0)  # A_00 = -1, A_01 = -1 (i < j), A_10 = 3 (-1)^2, A_11 = -3; B = (1, -3)
    np.testing.assert_allclose(a, [[-1, -1], [3, -3]])
    np.testing.assert_allclose(b, [1, -3])
    a, b = lmu_ab(3, 0.5)  # row 2: 5/theta * ((-1)^3, (-1)^2, (-1)^1); B_2 = 5/theta
    np.testing.assert_allclose(a[2], [-10, 10, -10])
    np.testing.assert_allclose(a[0], [-2, -2, -2])
    np.testing.assert_allclose(b, [2, -6, 10])


def test_zoh_d1_closed_form():
    for theta, dt in ((1.0, 0.1), (0.3, 0.25), (5.0, 2.0)):
        abar, bbar = lmu_discrete(1, theta, dt)
        q = math.exp(-dt / theta)
        np.testing.assert_allclose(abar, [[q]], rtol=1e-14)
        np.testing.assert_allclose(bbar, [1 - q], rtol=1e-13)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.floats(0.05, 10.0), st.floats(0.001, 2.0))
def test_zoh_matches_scipy(order, theta, dt):
    try:  # the second implementation; scipy is not a dependency of the package (the test extra has it)
        import scipy.linalg as scipy_linalg
    except ImportError:
        skip_unless_ci("scipy not installed (the second implementation of expm)")

    a, b = lmu_ab(order, theta)
    abar, bbar = zoh(a, b, dt)
    aug = np.zeros((order + 1, order + 1))
    aug[:order, :order], aug[:order, order] = a * dt, b * dt
    ref = scipy_linalg.expm(aug)
    np.testing.assert_allclose(abar, ref[:order, :order], atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(bbar, ref[:order, order], atol=1e-12, rtol=1e-10)


def test_expm_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        expm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        expm(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="order"):
        lmu_ab(0, 1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.floats(0.2, 5.0), st.floats(-3.0, 3.0))
def test_constant_input_settles_at_first_coefficient(order, theta, u):
    """A constant window has Legendre coefficients (u, 0, ..., 0): the memory's fixed point, exactly."""
    abar, bbar = lmu_discrete(order, theta, 0.05)
    star = np.zeros(order)
    star[0] = u
    np.testing.assert_allclose(abar @ star + bbar * u, star, atol=1e-12)
    m = simulate_memory(abar, bbar, np.full(int(40 * theta / 0.05), u))
    np.testing.assert_allclose(m[-1], star, atol=1e-6 * max(1.0, abs(u)))


def test_ramp_steady_state_is_its_legendre_projection():
    """u(t) = a t: the window u(t - r theta) = a (t - theta/2) - (a theta / 2) P~_1(r), and the LMU's
    continuous dynamics carry exactly those coefficients along (dm/dt = (a, 0, ..., 0))."""
    theta, a, t = 1.5, 0.7, 4.0
    for order in (2, 3, 6):
        A, B = lmu_ab(order, theta)
        m = np.zeros(order)
        m[0], m[1] = a * (t - theta / 2), -a * theta / 2
        dm = A @ m + B * (a * t)
        want = np.zeros(order)
        want[0] = a
        np.testing.assert_allclose(dm, want, atol=1e-12)


def test_memory_decodes_a_delayed_slow_sine():
    theta, dt, order = 1.0, 0.01, 6
    abar, bbar = lmu_discrete(order, theta, dt)
    t = np.arange(0, 6, dt)
    u = np.sin(2 * np.pi * 0.3 * t)
    m = simulate_memory(abar, bbar, u)
    for r in (0.0, 0.25, 0.5, 1.0):
        dec = m[300:] @ shifted_legendre(order, r)
        lag = int(round(r * theta / dt))
        np.testing.assert_allclose(dec, u[300 - lag : len(u) - lag], atol=0.02)


def test_shifted_legendre_by_hand():
    p = shifted_legendre(3, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(p[:, 1], [-1, 0, 1])  # 2r - 1
    np.testing.assert_allclose(p[:, 2], [1, -0.5, 1])  # 6r^2 - 6r + 1


# -- the spiking network -------------------------------------------------------------------------------


def _windows(n: int, c: int = 2, t: int = 40, seed: int = 0) -> np.ndarray:
    """Smooth IMU-like windows: a per-window offset, a slow sine and a little noise."""
    rng = np.random.default_rng(seed)
    tt = np.arange(t) * 0.1
    x = np.empty((n, c, t))
    for i in range(n):
        for ch in range(c):
            swing = rng.uniform(0.2, 2) * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * tt + rng.uniform(0, 6))
            x[i, ch] = rng.normal(0, 0.5) + swing + rng.normal(0, 0.05, t)
    return x


@pytest.fixture(scope="module")
def small():
    spec = L2MUSpec(2, 3, order=3, hidden_per_channel=8, dt=0.1, steps_per_sample=10, seed=3, encoder_neurons=1,
                    memory_neurons=1, memories=1)  # fmt: skip
    params = L2MUParams(theta=1.0)
    x = _windows(9)
    cal = calibrate(spec, params, x)
    net, fnet = l2mu_network(spec, params, cal, spec.held(x).reshape(-1, 2))
    return spec, params, cal, net, fnet, x


def test_population_layout(small):
    spec, _, _, net, _, _ = small
    idx = population_index(spec)
    assert [p.name for p in net.populations] == list(idx)
    assert net.populations[idx["mem0"]].n == 3 and net.populations[idx["hid1"]].n == 8
    # the memory's diagonal sits in the synaptic decay: du = round(4096 (1 - Abar_ii))
    abar, _ = lmu_discrete(3, 1.0, spec.step_s)
    np.testing.assert_array_equal(net.populations[idx["mem0"]].du, np.rint(4096 * (1 - np.diag(abar))))
    tr = run_trace(net, net.quantize_inputs(spec.held(small[5][:1])[0]))
    assert tr.spikes[:, net.offsets()[idx["tonic"]]].all()  # the tonic neuron fires every step


def test_integer_memory_tracks_the_float_lmu(small):
    """The spiking memory against the exact float LMU (scaled units, |m~| <= 0.45 on the data):
    bounded error, and no standing offset (the cancelling currents are exact)."""
    spec, _, _, net, fnet, x = small
    err = memory_error(net, fnet, x[:4])
    assert err["rms"] < 0.06, err
    assert err["max"] < 0.35, err
    # the offset: the mean memory error over time is near 0 (an int8-rounded cancellation left
    # a standing error of ~0.05 here before the offsets were made consistent)
    from snnctl.controllers.lmu import simulate_memory as sim

    idx = population_index(spec)
    abar, bbar = lmu_discrete(spec.order, 1.0, spec.step_s)
    cal = small[2]
    held = spec.held(x[:4])
    scale = net.meta["state_scale"][idx["mem0"]]
    bias = []
    for w in held:
        ref = sim(abar, bbar, cal.gamma[0] * (w[:, 0] - cal.mean[0])) / cal.mem_scale[0]
        got = run_trace(net, net.quantize_inputs(w)).u[:, net.offsets()[idx["mem0"]] :][:, :3] * scale
        bias.append((got - ref).mean(axis=0))
    assert np.abs(np.mean(bias, axis=0)).max() < 0.01


@pytest.fixture(scope="module")
def coded():
    """The same memory with 4 staggered neurons per encoder and memory element."""
    spec = L2MUSpec(2, 3, order=3, hidden_per_channel=8, dt=0.1, steps_per_sample=10, seed=3, encoder_neurons=4,
                    memory_neurons=4, memories=1)  # fmt: skip
    params = L2MUParams(theta=1.0)
    x = _windows(9)
    cal = calibrate(spec, params, x)
    net, fnet = l2mu_network(spec, params, cal, spec.held(x).reshape(-1, 2))
    return spec, params, cal, net, fnet, x


def test_population_code_memory_fidelity(small, coded):
    """The goal of the population code: the memory's RMS error against the exact float LMU is at most
    0.3 of the memory signal's RMS with 4 neurons per element, and about 1/4 of the one-neuron error
    (the sigma-delta error of n staggered copies falls as 1/n)."""
    one = memory_error(small[3], small[4], small[5][:4])
    four = memory_error(coded[3], coded[4], coded[5][:4])
    assert one["rms_signal"] == pytest.approx(four["rms_signal"])  # the same reference memory
    assert four["rms"] <= 0.3 * four["rms_signal"], four
    assert four["rms"] <= 0.4 * one["rms"], (one, four)


def test_copies_hold_one_state_and_form_an_n_level_code(coded):
    """Every copy of a memory dimension holds the same u after the stagger impulse has been taken
    out (to that impulse's rounding, two int8 parts: ~theta / 40000, plus the decay's 1 LSB), and
    the copies' membranes, started at phases k/n, sum to within about one threshold:
    v_k = frac(k/n + S) summed over k is (n - 1)/2 + frac(n S). Unstaggered, the sum would swing over
    n thresholds."""
    spec, _, _, net, _, x = coded
    idx = population_index(spec)
    off = net.offsets()
    for w in spec.held(x[:3]):
        tr = run_trace(net, net.quantize_inputs(w))
        for c in range(spec.n_channels):
            p = idx[f"mem{c}"]
            theta = int(net.populations[p].theta[0])
            u = tr.u[1:, off[p] : off[p + 1]].reshape(-1, spec.order, 4)
            assert np.ptp(u, axis=2).max() <= theta * 1e-4 + 2
            v = tr.v[1:, off[p] : off[p + 1]]
            assert np.all((v >= 0) & (v < theta))  # in range: no modulator winds up on these windows
            assert np.ptp(v.reshape(-1, spec.order, 4).sum(axis=2), axis=0).max() <= 1.1 * theta


def test_start_fires_once_and_the_tonic_always(coded):
    spec, _, _, net, fnet, x = coded
    idx = population_index(spec)
    w = spec.held(x[:1])[0]
    tr = run_trace(net, net.quantize_inputs(w))
    ft = simulate(fnet, w)
    for spikes, off in ((tr.spikes, net.offsets()), (ft.spikes, fnet.offsets())):
        assert np.flatnonzero(spikes[:, off[idx["start"]]]).tolist() == [0]
        assert spikes[:, off[idx["tonic"]]].all()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**21), st.integers(0, 4095))
def test_kick_for_inverts_one_step_of_decay(q, du):
    k = kick_for(q, du)
    g = lambda kk: kk - (kk * du) // 4096  # noqa: E731  (docs/integer-model.md: decay(K, du) = K - floor(K du / 4096))
    assert g(k) == q
    assert k == 0 or g(k - 1) < q


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**21), 2**21), min_size=1, max_size=6), st.integers(1, 3))
def test_int8_parts_truncated_rounds_to_the_last_exponent(values, n):
    target = np.array(values, dtype=np.float64)
    parts = int8_parts(target, max_parts=n)
    assert 1 <= len(parts) <= n
    total = sum(w.astype(np.int64) * 2**e for w, e in parts)
    assert np.all(np.abs(total - target) <= 2 ** parts[-1][1] / 2)


def test_hidden_counts_are_the_spike_sums(small):
    spec, _, _, net, _, x = small
    codes = net.quantize_inputs(spec.held(x[:3]))
    got = hidden_counts(count_networks(net), codes)
    off = net.offsets()
    hid = [i for i, p in enumerate(net.populations) if p.name.startswith("hid")]
    for k in range(3):
        tr = run_trace(net, codes[k])
        want = np.concatenate([tr.spikes[:, off[i] : off[i + 1]].sum(axis=0) for i in hid])
        np.testing.assert_array_equal(got[k], want)


def test_installed_readout_is_the_fitted_map(small):
    """v of the readout after a window = sum_j W_j c_j + steps * beta in integers, exactly, and
    lsb * v is the fitted real map within lsb/2 * (sum c + steps)."""
    spec, params, cal, _, _, x = small
    net, fnet = l2mu_network(spec, params, cal, spec.held(x).reshape(-1, 2))
    y = np.arange(len(x)) % 3
    codes = net.quantize_inputs(spec.held(x))
    counts = hidden_counts(count_networks(net), codes)
    ridge = fit_ridge(counts, y, 3)
    steps = codes.shape[1]
    ro = install_readout(net, fnet, ridge.w, ridge.b, counts, steps)
    from evolve.har import integer_readout

    w_int, b_int = integer_readout(net)
    np.testing.assert_array_equal(w_int, ro.weights)
    np.testing.assert_array_equal(b_int, ro.bias)
    out_pop = [p.name for p in net.populations].index("out")
    for k in range(len(x)):
        tr = run_trace(net, codes[k])
        v = tr.v[-1, net.offsets()[out_pop] :]
        np.testing.assert_array_equal(v, counts[k] @ w_int + steps * b_int)
        np.testing.assert_array_equal(tr.outputs[-1], np.floor_divide(v, 2**ro.shift))
        err = np.abs(ro.lsb * v - ridge.scores(counts[k : k + 1])[0])
        assert np.all(err <= ro.lsb / 2 * (counts[k].sum() + steps))
    # the readout weights use exponents >= 0 only (exact multiplications)
    assert all(q.exponent >= 0 for q in net.projections if q.dst == out_pop)
    # .snn round trip: the same network, the same outputs
    again = snnfile.from_bytes(snnfile.to_bytes(net))
    np.testing.assert_array_equal(run(again, codes[0]), run(net, codes[0]))
    assert again.meta["l2mu_spec"] == net.meta["l2mu_spec"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**22) + 1, 2**22 - 1), min_size=1, max_size=8))
def test_int8_parts_sum_exactly(values):
    target = np.array(values, dtype=np.float64)
    parts = int8_parts(target)
    assert all(e >= 0 and w.dtype == np.int8 for w, e in parts)
    total = sum(w.astype(np.int64) * 2**e for w, e in parts)
    np.testing.assert_array_equal(total, target.astype(np.int64))
    if np.abs(target).max() <= 127 * 128:
        assert len(parts) <= 2


def test_spec_and_params_reject_bad_values():
    with pytest.raises(ValueError, match="order"):
        L2MUSpec(2, 3, order=0)
    with pytest.raises(ValueError, match="n_classes"):
        L2MUSpec(2, 1)
    with pytest.raises(ValueError, match="theta"):
        L2MUParams(theta=0.0)
    with pytest.raises(ValueError, match="NaN"):
        calibrate(L2MUSpec(1, 2), L2MUParams(), np.full((2, 1, 5), np.nan))


# -- the readout fit ------------------------------------------------------------------------------------


def _brute_loo(x, t, pen, standardise):
    """Refit without each sample; the penalty (absolute) and any standardisation fixed from all N."""
    n = len(x)
    mu, sd = x.mean(0), (x.std(0) if standardise else np.ones(x.shape[1]))
    z = (x - mu) / sd
    y = np.argmax(t, axis=1)
    res, hits = [], 0
    for i in range(n):
        keep = np.arange(n) != i
        tm = t[keep].mean(0)
        zc = z[keep] - z[keep].mean(0)
        w = np.linalg.solve(zc.T @ zc + pen * np.eye(x.shape[1]), zc.T @ (t[keep] - tm))
        pred = (z[i] - z[keep].mean(0)) @ w + tm
        res.append(((t[i] - pred) ** 2).sum())
        hits += int(np.argmax(pred) == y[i])
    return hits / n, float(np.mean(res))


def test_loo_matches_brute_force():
    """Count units (the default): the closed-form LOO is exact. Standardised: close (scales from all N)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(14, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, 0, -2, 1]
    y = rng.integers(0, 3, 14)
    t = one_hot_targets(y, 3)
    for alpha in (0.01, 0.3):
        (row,) = loo_scores(x, t, np.array([alpha]))
        pen = alpha * np.mean((x - x.mean(0)) ** 2) * 14  # the relative penalty's unit: N * mean variance
        acc, mse = _brute_loo(x, t, pen, standardise=False)
        assert row.accuracy == acc
        assert row.mse == pytest.approx(mse, rel=1e-9)
        (row,) = loo_scores(x, t, np.array([alpha]), standardise=True)
        acc, mse = _brute_loo(x, t, alpha * 14, standardise=True)
        assert abs(row.accuracy - acc) <= 1 / 14 + 1e-12
        assert row.mse == pytest.approx(mse, rel=0.15)


def test_choose_alpha_one_standard_error_rule():
    table = [LooRow(0.01, 0.9, 0.50, 0.05), LooRow(0.1, 1.0, 0.30, 0.04), LooRow(1.0, 1.0, 0.33, 0.05),
             LooRow(10.0, 1.0, 0.35, 0.05), LooRow(100.0, 0.9, 0.31, 0.05)]  # fmt: skip
    # best accuracy 1.0 at 0.1, 1, 10; the lowest error there is 0.30 +- 0.04: 1.0 is within, 10 not
    assert choose_alpha(table).alpha == 1.0
    assert choose_alpha(table[:2]).alpha == 0.1


def test_fit_ridge_separates_and_folds_scaling():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    noise = rng.normal(size=(30, 4))
    # count-like features (one unit, similar spreads) for the default; wildly different scales,
    # with the class information in a tiny one, only for the standardised fit
    for standardise, sd, sep in ((False, [5, 2, 1, 1], [20, 8, 3, 0]), (True, [5, 0.01, 1, 1], [20, 0.05, 3, 0])):
        x = noise * sd + np.eye(3, 4)[y] * sep + [100, -3, 0, 0]
        r = fit_ridge(x, y, 3, standardise=standardise)
        assert r.loo_accuracy == 1.0 and np.all(r.predict(x) == y)
        # the folded map equals scale-then-multiply with the chosen penalty, solved independently
        sd = x.std(0) if standardise else np.ones(4)
        z = (x - x.mean(0)) / sd
        pen = r.alpha * np.mean(z**2) * 30
        t = one_hot_targets(y, 3)
        wz = np.linalg.solve(z.T @ z + pen * np.eye(4), z.T @ (t - t.mean(0)))
        np.testing.assert_allclose(r.scores(x), z @ wz + t.mean(0), rtol=1e-9, atol=1e-9)


def test_fit_ridge_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fit_ridge(np.zeros((2, 3)), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="NaN"):
        fit_ridge(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]), 2)
    with pytest.raises(ValueError, match="alphas"):
        fit_ridge(np.eye(4), np.array([0, 1, 0, 1]), 2, alphas=[-1.0])


def test_macro_f1_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    # class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1, FN 0 -> 4/5; class 2: TP 1, FP 0, FN 1 -> 2/3
    assert macro_f1(y, p, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
