"""HAR training that cannot fail silently (issue 14): planted long-window data that trains, planted
data that must be refused, the refusal rule by hand, the early-exit rule fitted on partial counts,
and the data-scaled defaults."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evolve.har import (
    HARTrainError,
    auto_hidden_per_channel,
    auto_steps_per_sample,
    check_deployable,
    codes_of,
    spec_params,
    train_l2mu,
)
from evolve.har_exit import check_steps, exit_decisions, exit_table, fit_margin, running_scores
from evolve.har_experiment import SCHEMA
from snnctl.cli import main
from snnctl.controllers.l2mu import L2MUParams, L2MUSpec, memory_matrices
from snnctl.controllers.lmu import lmu_discrete

LONG = 1500  # samples per window: at the old fixed 10 steps per sample, 15,000 steps


def _model(**over) -> dict:
    return {**{name: key.default for name, key in SCHEMA.fields["model"].fields.items()}, **over}


def _long_windows(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of long univariate windows: one bump early (class 0) or late (class 1), in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(LONG)
    xs, ys = [], []
    for cls, centre in ((0, 0.25), (1, 0.75)):
        for _ in range(n_per_class):
            c = (centre + rng.uniform(-0.05, 0.05)) * LONG
            xs.append(np.exp(-0.5 * ((t - c) / 40.0) ** 2) * 3 + rng.normal(0, 0.3, LONG))
            ys.append(cls)
    return np.array(xs)[:, None, :], np.array(ys)


def test_long_windows_train_to_a_working_integer_network():
    """The planted case that used to collapse (long windows): the steps per window stay near 1000,
    the integer network is far above the majority class and keeps the fit's leave-one-out promise."""
    x, y = _long_windows(8, seed=0)
    spec, params = spec_params(1, 2, 10.0, _model(), window_samples=LONG)
    assert spec.steps_per_sample == 1
    tr = train_l2mu(spec, params, x, y)
    assert tr.train_accuracy_int >= tr.ridge.loo_accuracy - 0.1
    assert tr.train_accuracy_int > 0.9
    xt, yt = _long_windows(6, seed=1)
    from evolve.har import evaluate

    assert np.mean(evaluate(tr.net, spec, xt).predictions == yt) >= 0.9


def test_windows_that_carry_no_class_are_refused():
    """Identical windows under two labels: every count is the same, the readout can only answer the
    larger class, and training must refuse rather than save that network."""
    x = np.tile(np.sin(np.arange(60) / 5.0), (9, 1, 1))
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    spec, params = spec_params(1, 2, 10.0, _model(), window_samples=60)
    with pytest.raises(HARTrainError, match="no better than always answering the largest class"):
        train_l2mu(spec, params, x, y)


def test_snnctl_train_refuses_with_one_line_and_saves_nothing(tmp_path, capsys):
    from sim.har_data import write_ts

    x = np.tile(np.sin(np.arange(60) / 5.0), (8, 1, 1))
    labels = ["a"] * 5 + ["b"] * 3
    data = tmp_path / "data"
    data.mkdir()
    for split in ("TRAIN", "TEST"):
        write_ts(data / f"Flat_{split}.ts", x, labels, problem_name="Flat", classes=["a", "b"])
    cfg = tmp_path / "flat.toml"
    cfg.write_text('[experiment]\nfamily = "har"\n[data]\nrate_hz = 10.0\n[train]\nfloat_reference = false\n')
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--data", str(data), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not saved" in err[0] and "62.5%" in err[0]  # 5 of 8 windows are class a
    assert not (out / "best.snn").exists()


@pytest.mark.parametrize(
    ("train_acc", "loo", "labels", "refused"),
    [
        (0.5, 0.5, [0, 1], "largest class"),  # a coin's worth on balanced classes
        (0.75, 0.7, [0, 0, 0, 1], "largest class"),  # 3 of 4 = always answering class 0
        (0.76, 0.7, [0, 0, 0, 1], None),
        (0.80, 0.95, [0, 1], "leave-one-out"),  # 15 points below the fit's promise (limit 10)
        (0.86, 0.95, [0, 1], None),  # 9 points below: kept
    ],
)
def test_check_deployable_by_hand(train_acc, loo, labels, refused):
    if refused is None:
        check_deployable(train_acc, loo, np.array(labels), 0.10)
    else:
        with pytest.raises(HARTrainError, match=refused):
            check_deployable(train_acc, loo, np.array(labels), 0.10)


def test_exit_rule_by_hand():
    # 3 windows, 3 checks, 2 classes: margins (top - second) per check
    s = np.zeros((3, 3, 2))
    s[0] = [[0.3, 0.0], [1.0, 0.0], [2.0, 0.0]]  # margins 0.3, 1, 2 -> class 0 throughout
    s[1] = [[0.0, 0.5], [1.0, 0.0], [2.0, 0.0]]  # early lead for class 1 (0.5), then class 0 wins
    s[2] = [[0.1, 0.0], [0.0, 0.2], [0.0, 1.0]]  # class 1 at the end
    pred, stop = exit_decisions(s, 0.5)
    np.testing.assert_array_equal(pred, [0, 1, 1])  # window 1 stops too early on its 0.5 lead
    np.testing.assert_array_equal(stop, [1, 0, 2])
    # the smallest margin agreeing with the full window on all three: above 0.5 (window 1) -> 1.0
    assert fit_margin(s, agreement=1.0) == 1.0
    # one disagreement allowed: 0.1 stops windows 1 and 2 at their first check (both wrong); 0.2 lets
    # window 2 wait for its 0.2 lead of class 1 (right), window 1 still stops on 0.5 (wrong): 2 of 3
    assert fit_margin(s, agreement=2 / 3) == 0.2
    assert fit_margin(s[:, :1].repeat(2, axis=1) * 0, agreement=1.0) == math.inf  # never decided
    never = exit_table(s, np.array([0, 0, 1]), np.array([1, 3, 5]), 6, math.inf)
    assert never["margin"] is None and never["rule_fraction_of_window"] == 1.0  # JSON-safe, whole windows
    tab = exit_table(s, np.array([0, 0, 1]), np.array([1, 3, 5]), 6, 1.0)
    # checks after 2, 4, 6 of 6 steps: 25 % is read at the first check at or after it, 75 % at the end
    assert [r["fraction"] for r in tab["at_fraction"]] == [2 / 6, 4 / 6, 1.0, 1.0]
    assert tab["rule_accuracy"] == 1.0 and tab["rule_fraction_of_window"] == pytest.approx((4 / 6 + 4 / 6 + 1) / 3)


def test_running_scores_are_the_networks_outputs_at_the_checks():
    """Second implementation: the exit rule's scores from partial counts through the integer map equal
    the integer network's own dequantised outputs at those steps (run_batch)."""
    from snnctl.controllers.l2mu import count_networks, hidden_counts
    from snnctl.runtime import run_batch

    x, y = _long_windows(4, seed=2)
    x = x[:, :, ::10]  # 150 samples: a quick network
    spec, params = spec_params(1, 2, 10.0, _model(hidden_per_channel=16), window_samples=150)
    tr = train_l2mu(spec, params, x, y)
    codes = codes_of(tr.net, spec, x)
    at = check_steps(codes.shape[1], spec.steps_per_sample)
    assert at[-1] == codes.shape[1] - 1 and len(at) <= 51
    got = running_scores(tr.net, hidden_counts(count_networks(tr.net), codes, at=at), at)
    out = run_batch([tr.net] * len(x), codes)[:, at, :]
    np.testing.assert_array_equal(got, tr.net.dequantize_outputs(out))
    assert tr.net.meta["early_exit"]["check_steps"] == at.tolist()


def test_data_scaled_defaults_by_hand():
    assert auto_steps_per_sample(100) == 10 and auto_steps_per_sample(24) == 42
    assert auto_steps_per_sample(1460) == 1 and auto_steps_per_sample(5000) == 1
    assert auto_hidden_per_channel(1) == 128 and auto_hidden_per_channel(6) == 21 and auto_hidden_per_channel(12) == 16


def test_memories_are_block_diagonal_lmus():
    spec = L2MUSpec(1, 2, order=3, memories=3, dt=0.1, steps_per_sample=10)
    params = L2MUParams(theta=8.0, theta_ratio=4.0)
    abar, bbar = memory_matrices(spec, params)
    for k, theta in enumerate((8.0, 2.0, 0.5)):
        a, b = lmu_discrete(3, theta, 0.01)
        np.testing.assert_array_equal(abar[3 * k : 3 * k + 3, 3 * k : 3 * k + 3], a)
        np.testing.assert_array_equal(bbar[3 * k : 3 * k + 3], b)
    off = np.ones_like(abar, bool)
    for k in range(3):
        off[3 * k : 3 * k + 3, 3 * k : 3 * k + 3] = False
    assert not abar[off].any()
    with pytest.raises(ValueError, match="too short for order 3"):
        memory_matrices(spec, L2MUParams(theta=0.02, theta_ratio=4.0))


def test_readout_peak_bound_holds_on_every_step():
    """The bound that sizes the readout's lsb (`_peak_bound` with running counts) is a true bound:
    |v| of the readout at every step of every training window stays below it (traced), and the lsb
    it allows is finer than the no-cancellation bound's (here > 2x; ACSF1: 0.18 -> 0.005 max score error)."""
    from evolve.har import integer_readout
    from snnctl.controllers.l2mu import _peak_bound, count_networks, hidden_counts
    from snnctl.runtime import run_trace

    x, y = _long_windows(3, seed=3)
    spec, params = spec_params(1, 2, 10.0, _model(hidden_per_channel=16), window_samples=LONG)
    tr = train_l2mu(spec, params, x, y)
    codes = codes_of(tr.net, spec, x)
    at = check_steps(codes.shape[1], spec.steps_per_sample)
    c_at = hidden_counts(count_networks(tr.net), codes, at=at).astype(np.float64)
    w_int, b_int = integer_readout(tr.net)
    bound = _peak_bound(w_int.astype(np.float64), b_int.astype(np.float64), codes.shape[1], c_at[:, -1], (c_at, at))
    out = [p.name for p in tr.net.populations].index("out")
    for k in range(len(x)):
        v = run_trace(tr.net, codes[k]).v[:, tr.net.offsets()[out] :]
        assert np.abs(v).max() <= bound
    loose = _peak_bound(w_int.astype(np.float64), b_int.astype(np.float64), codes.shape[1], c_at[:, -1], None)
    assert bound < loose / 2


def test_robust_readout_is_the_smallest_penalty_within_the_jitter():
    """Counts of two classes plus a float copy jittered by +-2 spikes: the readout returned moves the
    training scores by at most the allowed rms, and the next smaller penalty on the grid (at or above
    leave-one-out's choice) does not."""
    from evolve.har import robust_readout
    from snnctl.controllers.readout_fit import DEFAULT_ALPHAS, fit_ridge

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    counts = rng.poisson(100, (40, 30)).astype(np.float64) + 6.0 * y[:, None] * (np.arange(30) < 3)
    fcounts = counts + rng.integers(-2, 3, counts.shape)
    base = fit_ridge(counts, y, 2)

    def jitter(r):
        return np.sqrt(np.mean((r.scores(fcounts) - r.scores(counts)) ** 2))

    for limit in (0.05, 0.25):
        r = robust_readout(base, counts, fcounts, y, 2, None, limit)
        assert r.alpha >= base.alpha and jitter(r) <= limit
        smaller = [a for a in DEFAULT_ALPHAS if base.alpha <= a < r.alpha]
        if smaller:
            assert jitter(fit_ridge(counts, y, 2, [max(smaller)])) > limit
