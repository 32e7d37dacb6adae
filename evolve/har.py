"""Training and evaluating the L2MU HAR classifier: no deep-learning framework, only numpy.

`train_l2mu` builds the network (`snnctl.controllers.l2mu`), runs the integer network on every
training window (batched numba), fits the readout in closed form on those integer spike counts
(`snnctl.controllers.readout_fit`), installs it as int8 parts and checks that the deployed integer
scores are exactly the integer form of the fitted map. `evaluate` scores an integer network on windows;
`float_predictions` runs the float reference; `early_exit` stops each window once the readout's
margin passes a threshold; `run_on_device` streams windows to a board over the serial protocol.
`L2MUProblem` is the `snnctl evolve` problem: it tunes the spiking part for the readout's
leave-one-out error on the training split.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from snnctl.config import param
from snnctl.controllers.l2mu import (
    Calibration,
    L2MUParams,
    L2MUSpec,
    count_networks,
    hidden_counts,
    install_readout,
    l2mu_network,
)
from snnctl.controllers.readout_fit import RidgeReadout, accuracy, confusion, fit_ridge, macro_f1
from snnctl.network import Network, NetworkError
from snnctl.progress import progress_bar
from snnctl.reference import FloatNetwork
from snnctl.text import plural


class HARTrainError(ValueError):
    """Training data or settings the L2MU cannot use; the message says what to change."""


@dataclass
class Trained:
    net: Network
    fnet: FloatNetwork
    spec: L2MUSpec
    params: L2MUParams
    cal: Calibration
    ridge: RidgeReadout
    train_counts: np.ndarray
    score_check: dict = field(default_factory=dict)
    train_accuracy_int: float = float("nan")  # the integer network's own predictions on the training windows


# L2MUParams field -> the config's [model] key (the config names seconds with _s); `theta` is set in
# the config as a fraction of the window (`theta_fraction`), see `spec_params`
PARAM_KEYS = {"hidden_tau_syn": "hidden_tau_syn_s", "hidden_tau_mem": "hidden_tau_mem_s"}

# what [model]'s 0 ("auto") means for the keys that scale with the data
AUTO_WINDOW_STEPS = 1000  # steps_per_sample = 0: about this many network steps per window, >= 1 per sample
CALIBRATION_STEPS = 8000  # network steps the quantiser's float calibration run takes at most (>= 1 window per class)
AUTO_HIDDEN = 128  # hidden_per_channel = 0: this many hidden neurons over all channels, >= 16 per channel


def auto_steps_per_sample(window_samples: int) -> int:
    """Network steps per input sample for a window of `window_samples` samples when [model] says 0:
    about AUTO_WINDOW_STEPS steps per window, so a hidden neuron's count has the same resolution, and
    the readout's sums the same size, on 24-sample and on 1,460-sample windows."""
    return max(1, int(round(AUTO_WINDOW_STEPS / max(1, int(window_samples)))))


def auto_hidden_per_channel(n_channels: int) -> int:
    """Hidden neurons per channel when [model] says 0: AUTO_HIDDEN shared by the channels, >= 16 each."""
    return max(16, AUTO_HIDDEN // max(1, int(n_channels)))


def spec_params(n_channels: int, n_classes: int, rate_hz: float, model: dict,
                window_samples: int = 100) -> tuple[L2MUSpec, L2MUParams]:  # fmt: skip
    """L2MUSpec and L2MUParams from a config's [model] section and the data's shape.

    `theta_fraction` becomes theta = fraction x the window's duration; `steps_per_sample` and
    `hidden_per_channel` 0 become `auto_steps_per_sample` / `auto_hidden_per_channel`."""
    skip = ("n_channels", "n_classes", "dt")
    given = {f.name: model[f.name] for f in fields(L2MUSpec) if f.name not in skip and f.name in model}
    if not given.get("steps_per_sample"):
        given["steps_per_sample"] = auto_steps_per_sample(window_samples)
    if not given.get("hidden_per_channel"):
        given["hidden_per_channel"] = auto_hidden_per_channel(n_channels)
    spec = L2MUSpec(n_channels, n_classes, dt=1.0 / rate_hz, **given)
    vals = {f.name: model[PARAM_KEYS.get(f.name, f.name)] for f in fields(L2MUParams) if f.name != "theta"}
    params = L2MUParams(theta=theta_seconds(model["theta_fraction"], window_samples, spec.dt), **vals)
    return spec, params


def theta_seconds(fraction: float, window_samples: int, dt: float) -> float:
    """theta (s) for a fraction of a window of `window_samples` samples `dt` apart: the one formula
    `spec_params` (the config) and `L2MUProblem` (evolution) share, so both give the same bits."""
    return float(fraction) * (int(window_samples) * float(dt))


def codes_of(net: Network, spec: L2MUSpec, x: np.ndarray) -> np.ndarray:
    """Windows (N, C, T) of real values -> the int16 codes a device receives, (N, T * steps_per_sample, C)."""
    return net.quantize_inputs(spec.held(x))


def train_l2mu(spec: L2MUSpec, params: L2MUParams, x: np.ndarray, y: np.ndarray, alphas: Any = None,
               calibration_windows: int = 40, state_bits: int = 20, progress: bool = False,
               max_accuracy_drop: float = 0.10, exit_agreement: float = 0.99,
               max_score_jitter: float = 0.25) -> Trained:  # fmt: skip
    """Build, quantise, run on the training windows, fit and install the readout (see module docstring).

    The readout's penalty is the leave-one-out choice, raised if needed until the float reference's
    counts move the training scores by at most `max_score_jitter` rms (`robust_readout`).
    Refuses (`HARTrainError`) a network that is not worth saving (`check_deployable`): integer training
    accuracy no better than the majority class, or more than `max_accuracy_drop` below the readout's
    leave-one-out accuracy. Fits the early-exit margin on the training windows' partial counts
    (`evolve.har_exit.fit_margin`, `exit_agreement`) and records it in `net.meta["early_exit"]`.
    """
    from evolve.har_exit import check_steps, fit_margin, running_scores
    from snnctl.controllers.l2mu import calibrate

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise HARTrainError(f"the training split has {plural(len(np.unique(y)), 'class', 'classes')};"
                            " a classifier needs at least 2")  # fmt: skip
    t0 = time.perf_counter()
    cal = calibrate(spec, params, x)
    window_steps = x.shape[2] * spec.steps_per_sample
    pick = calibration_pick(y, calibration_windows, window_steps, CALIBRATION_STEPS)
    calibration = spec.held(x[pick]).reshape(-1, spec.n_channels)
    # the float run the quantiser calibrates on is stepped in Python: capped at CALIBRATION_STEPS
    with progress_bar(progress, len(calibration), "quantiser calibration (float run)", "step") as bar:
        net, fnet = l2mu_network(spec, params, cal, calibration, state_bits, on_step=lambda _t: bar.update(1))
    at = check_steps(window_steps, spec.steps_per_sample)
    counts_at = hidden_counts(count_networks(net), codes_of(net, spec, x), at=at)  # (N, checks, H)
    counts = counts_at[:, -1, :]
    ridge = fit_ridge(counts, y, spec.n_classes, alphas)
    ridge = robust_readout(ridge, counts, float_counts(fnet, spec, x), y, spec.n_classes, alphas, max_score_jitter)
    install_readout(net, fnet, ridge.w, ridge.b, counts, window_steps, running=(counts_at, at))
    if progress:  # counted once the readout is in: what best.snn holds and the report shows
        print(f"  network: {net.n_neurons} neurons, {net.n_synapses} synapses (weights stored, readout included)"
              f" ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    trained = Trained(net, fnet, spec, params, cal, ridge, counts)
    trained.score_check = check_scores(net, spec, x, counts, ridge)
    trained.train_accuracy_int = float(np.mean(trained.score_check.pop("predictions") == y))
    check_deployable(trained.train_accuracy_int, ridge.loo_accuracy, y, max_accuracy_drop)
    scores = running_scores(net, counts_at, at)
    margin = fit_margin(scores, exit_agreement)
    net.meta["early_exit"] = {"margin": margin if math.isfinite(margin) else None,
                              "check_steps": at.tolist(), "agreement": exit_agreement}  # fmt: skip
    return trained


def float_counts(fnet: FloatNetwork, spec: L2MUSpec, x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The float reference's hidden spike counts on windows x (N, C, T), (N, n_hidden) (batched)."""
    from snnctl.reference import simulate_batch

    off = fnet.offsets()
    hid = [i for i, p in enumerate(fnet.populations) if p.name.startswith("hid")]
    out = []
    for lo in range(0, len(x), chunk):
        c = simulate_batch(fnet, spec.held(x[lo : lo + chunk])).counts
        out.append(np.concatenate([c[:, off[i] : off[i + 1]] for i in hid], axis=1))
    return np.concatenate(out, axis=0)


def robust_readout(ridge: RidgeReadout, counts: np.ndarray, fcounts: np.ndarray, y: np.ndarray, n_classes: int,
                   alphas: Any, max_jitter: float) -> RidgeReadout:  # fmt: skip
    """The readout with the smallest penalty, from leave-one-out's choice up the grid, whose scores the
    float reference's counts move by at most `max_jitter` rms on the training windows.

    Integer and float networks fire the same counts to a spike or two, but a lightly penalised readout
    can rest on differences of that size between windows (GunPoint: counts 1 % apart, scores 1.0
    apart, float accuracy 63 % against 99 %). Both counts are of the training windows only; the
    test split never takes part. Scores are in target units (+-1), so 0.25 is a quarter of the gap a
    decision needs.
    """
    from snnctl.controllers.readout_fit import DEFAULT_ALPHAS

    grid = DEFAULT_ALPHAS if alphas is None else np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    for a in [a for a in np.sort(grid) if a >= ridge.alpha]:
        r = ridge if a == ridge.alpha else fit_ridge(counts, y, n_classes, [a])
        if np.sqrt(np.mean((r.scores(fcounts) - r.scores(counts)) ** 2)) <= max_jitter:
            return r
    return r


def check_deployable(train_accuracy_int: float, loo_accuracy: float, y: np.ndarray, max_drop: float) -> None:
    """Refuse to save a network that would fail silently: one line saying which test failed and what to try.

    * integer training accuracy no better than always answering the largest class (a collapsed readout);
    * integer training accuracy more than `max_drop` below the readout's leave-one-out accuracy on
      the same counts (the float fit's promise; training accuracy is normally above it), i.e. the
      integer readout lost what the fit found.
    """
    majority = float(np.max(np.unique(np.asarray(y), return_counts=True)[1]) / len(y))
    if train_accuracy_int <= majority + 1e-12:
        raise HARTrainError(f"not saved: the integer network's training accuracy {train_accuracy_int:.1%} is no better"
                            f" than always answering the largest class ({majority:.1%}); the spike counts do not"
                            " separate the classes (try [data] normalisation, another theta_fraction, or"
                            " snnctl evolve)")  # fmt: skip
    if train_accuracy_int < loo_accuracy - max_drop:
        raise HARTrainError(f"not saved: the integer network's training accuracy {train_accuracy_int:.1%} is more than"
                            f" {max_drop:.0%} below the readout's leave-one-out accuracy {loo_accuracy:.1%} on the"
                            " same counts: the integer readout lost what the fit found (raise [model] state_bits or"
                            " lower steps_per_sample)")  # fmt: skip


def check_scores(net: Network, spec: L2MUSpec, x: np.ndarray, counts: np.ndarray, ridge: RidgeReadout) -> dict:
    """What is trained is what is deployed: the integer network's final output codes, run on `x`, must
    equal floor((W . counts + bias) / 2^shift) of the installed integer map exactly, and dequantised
    they must lie within the rounding bound of the fitted real map
    (`snnctl.controllers.l2mu.install_readout`)."""
    from snnctl.runtime import run_batch

    ro = net.meta["readout"]
    lsb, shift, steps = ro["lsb"], ro["shift"], ro["steps"]
    w_int, b_int = integer_readout(net)
    v = counts @ w_int + steps * b_int[None, :]
    want = np.clip(np.floor_divide(v, 2**shift), -32768, 32767)
    out = run_batch([net] * len(x), codes_of(net, spec, x))[:, -1, :].astype(np.int64)
    if not np.array_equal(out, want):
        bad = int(np.flatnonzero((out != want).any(axis=1))[0])
        raise HARTrainError(f"integer readout of window {bad} gives codes {out[bad].tolist()}, the installed map "
                            f"{want[bad].tolist()}: the deployed network is not the fitted one")  # fmt: skip
    fitted = ridge.scores(counts)
    err = np.abs(v * lsb - fitted)
    bound = lsb / 2 * (counts.sum(axis=1) + steps)
    if np.any(err > bound[:, None] * (1 + 1e-9)):
        raise HARTrainError("integer readout outside its rounding bound of the fitted map")
    return {"codes_equal_integer_map": True, "max_abs_score_error": float(err.max()),
            "max_bound": float(bound.max()), "lsb": lsb, "shift": shift,
            "predictions": np.argmax(out, axis=1)}  # fmt: skip


def integer_readout(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The installed readout as integers: W (n_hidden, K) from hidden spikes and the bias per step (K,)."""
    from snnctl.controllers.l2mu import hidden_slices

    names = [p.name for p in net.populations]
    out, start = names.index("out"), names.index("tonic")
    sl = hidden_slices(net)
    n_h = sum(s.stop - s.start for _, s in sl)
    w = np.zeros((n_h, net.n_outputs), dtype=np.int64)
    b = np.zeros(net.n_outputs, dtype=np.int64)
    where = {pop: s for pop, s in sl}
    for q in net.projections:
        if q.dst != out:
            continue
        part = q.weights.astype(np.int64) * 2**q.exponent
        if q.src == start:
            b += part[0]
        else:
            w[where[q.src]] += part
    return w, b


@dataclass
class Evaluation:
    predictions: np.ndarray  # (N,)
    scores: np.ndarray  # (N, T', K) real scores after every step (dequantised output codes)
    codes: np.ndarray  # (N, T', K) output codes
    spikes_per_window: float
    synops_per_window: float


def evaluate(net: Network, spec: L2MUSpec, x: np.ndarray) -> Evaluation:
    """The integer network on windows x (N, C, T): predicted class = argmax of the final output codes."""
    from snnctl.runtime import run_batch

    codes = codes_of(net, spec, x)
    out, cnt = run_batch([net] * len(x), codes, counts=True)
    pred = np.argmax(out[:, -1, :], axis=1)
    return Evaluation(pred, net.dequantize_outputs(out), out, float(cnt[:, :, 0].sum(axis=1).mean()),
                      float(cnt[:, :, 1].sum(axis=1).mean()))  # fmt: skip


def float_scores(fnet: FloatNetwork, spec: L2MUSpec, x: np.ndarray, progress: bool = False,
                 chunk: int = 256) -> np.ndarray:  # fmt: skip
    """The float reference's final scores on windows x (N, C, T), (N, K): all windows of a chunk stepped
    together (`snnctl.reference.simulate_batch`), so the cost is the window's steps, not windows x steps
    of Python."""
    from snnctl.reference import simulate_batch

    out = np.zeros((len(x), spec.n_classes))
    with progress_bar(progress, len(x), "float reference", "window") as bar:
        for lo in range(0, len(x), chunk):
            res = simulate_batch(fnet, spec.held(x[lo : lo + chunk]))
            out[lo : lo + chunk] = res.outputs[:, -1, :]
            bar.update(len(res.outputs))
    return out


def float_predictions(fnet: FloatNetwork, spec: L2MUSpec, x: np.ndarray, progress: bool = False) -> np.ndarray:
    """The float reference on windows x (N, C, T): argmax of its final scores (`float_scores`)."""
    return np.argmax(float_scores(fnet, spec, x, progress), axis=1)


def metrics(y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict:
    return {"accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred, n_classes),
            "confusion": confusion(y, pred, n_classes).tolist()}  # fmt: skip


def early_exit(scores: np.ndarray, y: np.ndarray, margins: list[float], steps_per_sample: int) -> list[dict]:
    """Per window, stop at the first sample boundary where top score - second score >= margin.

    Scores are the readout's running sums (real units); they are checked once per input sample
    (every `steps_per_sample` steps), as a device would between samples. A window that never passes
    the margin runs to its end. Returns per margin: accuracy and the mean fraction of the window used.
    """
    n, t_len, _ = scores.shape
    at = np.arange(steps_per_sample - 1, t_len, steps_per_sample)
    s = scores[:, at, :]
    top2 = np.sort(s, axis=2)[:, :, -2:]
    margin = top2[:, :, 1] - top2[:, :, 0]
    rows = []
    for m in margins:
        passed = margin >= m
        stop = np.where(passed.any(axis=1), np.argmax(passed, axis=1), len(at) - 1)
        pred = np.argmax(s[np.arange(n), stop], axis=1)
        steps = (stop + 1) * steps_per_sample
        rows.append({"margin": float(m), "accuracy": accuracy(y, pred), "mean_steps": float(steps.mean()),
                     "fraction_of_window": float(steps.mean() / t_len)})  # fmt: skip
    return rows


def run_on_device(url: str, net: Network, spec: L2MUSpec, x: np.ndarray, measure_windows: int = 2,
                  progress: bool = False) -> dict:  # fmt: skip
    """Deploy `net` to the board at `url`, stream every window (reset between windows), return its outputs.

    Output codes come from pipelined STEPs (`Device.run`); instructions per window from the
    device's cycle counter over the first `measure_windows` windows, stepped one by one with
    counts (under QEMU -icount shift=7 one cycle-counter second is 2^-7 ns per instruction).
    """
    from firmware_bridge.boards import by_device_name
    from firmware_bridge.device import Device

    codes = codes_of(net, spec, x)
    res: dict = {"url": url}
    with Device(url, timeout=2.0, retries=3) as dev:
        info = dev.hello()
        ni = dev.deploy(net)
        res.update(board=info.name, firmware=info.firmware_version, blob_bytes=ni.blob_bytes,
                   arena_bytes=ni.arena_used, tick_hz=info.tick_hz)  # fmt: skip
        cycles = []
        for k in range(min(measure_windows, len(x))):
            dev.reset()
            cycles.append(sum(dev.step(c, counts=True).cycles or 0 for c in codes[k]))
        finals, times = [], []
        for k in range(len(x)):
            dev.reset()
            t0 = time.perf_counter()
            out = dev.run(codes[k], window=8)
            times.append(time.perf_counter() - t0)
            finals.append(out[-1])
            if progress and (k + 1) % 10 == 0:
                print(f"  device: {k + 1}/{len(x)} windows")
    finals = np.array(finals, dtype=np.int64)
    res["final_codes"] = finals
    res["predictions"] = np.argmax(finals, axis=1)
    res["round_trip_s_per_window"] = float(np.median(times))
    if info.tick_hz and cycles:
        per_window_s = float(np.mean(cycles)) / info.tick_hz
        res["device_s_per_window"] = per_window_s
        board = by_device_name(info.name)  # instruction counts where the board counts them (QEMU -icount)
        if board is not None and board.icount_shift is not None:
            res["instructions_per_window"] = int(round(board.instructions(per_window_s)))
            res["instructions_per_step"] = int(round(board.instructions(per_window_s) / codes.shape[1]))
    return res


# -- evolution of the spiking part: the readout's leave-one-out score on the training split ---------

# Genes: what `L2MUParams` holds, each searched on a log scale except the intercept (a fraction of
# the drive range, where linear is natural). (gene name, params field, log10?)
GENES: tuple[tuple[str, str, bool], ...] = (
    ("theta_fraction", "theta", True),  # theta as a fraction of the window (`_gene_unit`)
    ("theta_ratio", "theta_ratio", True),
    ("hidden_gain", "hidden_gain", True),
    ("gain_spread", "gain_spread", True),
    ("intercept", "intercept", False),
    ("input_weight", "input_weight", True),
    ("hidden_tau_syn_s", "hidden_tau_syn", True),
    ("hidden_tau_mem_s", "hidden_tau_mem", True),
)


@dataclass
class L2MUProblem:
    """Tune the L2MU's spiking part (window theta, hidden gains, spread, intercepts = thresholds,
    input weight, hidden time constants) for the closed-form readout, on the training split only.

    A genome is one value per searched gene (`ranges`: gene name -> (low, high) in real units; a
    log-scaled gene is carried as log10 of its value). Its fitness is the readout's exact
    leave-one-out squared error (`snnctl.controllers.readout_fit.loo_scores`, the best over the alpha
    grid) on the integer network's own hidden spike counts for every training window: the network is built
    and quantised as `train_l2mu` builds it, except that the quantiser calibrates on
    `calibration_windows` windows spread over the classes (the float calibration run is the
    expensive part). Deterministic: the result depends on the genome only, never on the batch.

    `validate` (validated selection, `evolve.selection`): with windows held apart from the fitness
    (`x_val`, `y_val`; `validation_split`), episode e is validation window e, scored by the squared
    error of the readout fitted on the fitness windows — the leave-one-out error's own unit.
    """

    spec: L2MUSpec
    base: L2MUParams  # values of the genes not searched
    ranges: dict  # gene name -> (low, high), real units
    x: np.ndarray  # (N, C, T) training windows
    y: np.ndarray  # (N,) labels
    alphas: Any = None
    calibration_windows: int = param(4, "training windows the quantiser calibrates on per evaluation", ge=1, le=100000)
    state_bits: int = 20
    x_val: np.ndarray | None = None  # (V, C, T) windows the fitness never sees (validate hook)
    y_val: np.ndarray | None = None
    name: str = "har-l2mu"
    objectives: tuple[str, ...] = ("loo_squared_error",)
    weights: tuple[float, ...] = (-1.0,)

    def __post_init__(self) -> None:
        known = {g for g, _, _ in GENES}
        unknown = set(self.ranges) - known
        if unknown:
            raise HARTrainError(f"unknown search genes {sorted(unknown)}; known: {', '.join(g for g, _, _ in GENES)}")
        self.genes = [(g, f, lg) for g, f, lg in GENES if g in self.ranges]
        if not self.genes:
            raise HARTrainError("the search has no genes: give at least one [search] range")
        rows = []
        for g, _, lg in self.genes:
            lo, hi = (float(v) for v in self.ranges[g])
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and (lo > 0 or not lg)):
                need = "finite low < high" + (", low > 0 (searched on a log scale)" if lg else "")
                raise HARTrainError(f"[search] {g} = [{lo}, {hi}]: need {need}")
            rows.append([np.log10(lo), np.log10(hi)] if lg else [lo, hi])
        self.bounds = np.array(rows, dtype=np.float64)
        start = [getattr(self.base, f) / self._gene_unit(f) for _, f, _ in self.genes]
        start = [np.log10(v) if lg else v for v, (_, _, lg) in zip(start, self.genes, strict=True)]
        self.initial_genome = np.clip(start, self.bounds[:, 0], self.bounds[:, 1])
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y)
        self.pick = calibration_pick(self.y, self.calibration_windows, self.x.shape[2] * self.spec.steps_per_sample,
                                     CALIBRATION_STEPS)  # fmt: skip

    def params(self, genome: np.ndarray) -> L2MUParams:
        """The L2MUParams a genome stands for (real units)."""
        vals = {f: (10.0 ** float(v) if lg else float(v)) for v, (_, f, lg) in zip(genome, self.genes, strict=True)}
        if "theta" in vals:  # searched as a fraction of the window
            vals["theta"] = theta_seconds(vals["theta"], self.x.shape[2], self.spec.dt)
        return replace(self.base, **vals)

    def _gene_unit(self, field_name: str) -> float:
        """Real units of one gene unit: theta is searched as a fraction of the window (s per fraction)."""
        return theta_seconds(1.0, self.x.shape[2], self.spec.dt) if field_name == "theta" else 1.0

    def network(self, genome: np.ndarray) -> Network:
        """The integer network of a genome, calibrated and quantised on the fitness windows only."""
        from snnctl.controllers.l2mu import calibrate

        params = self.params(genome)
        cal = calibrate(self.spec, params, self.x)
        calib_in = self.spec.held(self.x[self.pick]).reshape(-1, self.spec.n_channels)
        return l2mu_network(self.spec, params, cal, calib_in, self.state_bits)[0]

    def features(self, genome: np.ndarray) -> np.ndarray:
        """The integer network's hidden spike counts on every fitness window, (N, n_hidden)."""
        net = self.network(genome)
        return hidden_counts(count_networks(net), codes_of(net, self.spec, self.x))

    def validate(self, genomes: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Row i: squared error (summed over classes) on validation window episodes[i] of the readout fitted
        on the fitness windows; nan where the integer model cannot hold the genome."""
        from snnctl.controllers.readout_fit import one_hot_targets

        if self.x_val is None or self.y_val is None or len(self.x_val) == 0:
            raise ValueError("L2MUProblem.validate needs windows held apart from the fitness (x_val, y_val)")
        episodes = np.asarray(episodes, dtype=np.int64)
        if episodes.max() >= len(self.x_val):
            raise ValueError(f"validation episode {episodes.max()} asked, {len(self.x_val)} validation windows held")
        out = np.full((len(genomes), 1), np.nan)
        uniq, inverse = np.unique(np.asarray(genomes, dtype=np.float64), axis=0, return_inverse=True)
        for k, g in enumerate(uniq):  # rows of one genome share its network and readout
            rows = np.flatnonzero(inverse.reshape(-1) == k)
            try:
                net = self.network(g)
            except (NetworkError, ValueError):
                continue
            counts = count_networks(net)
            fit = hidden_counts(counts, codes_of(net, self.spec, self.x)).astype(np.float64)
            val = hidden_counts(counts, codes_of(net, self.spec, self.x_val[episodes[rows]])).astype(np.float64)
            ridge = fit_ridge(fit, self.y, self.spec.n_classes, self.alphas)
            t = one_hot_targets(np.asarray(self.y_val)[episodes[rows]], self.spec.n_classes)
            out[rows, 0] = ((ridge.scores(val) - t) ** 2).sum(axis=1)
        return out

    def evaluate(self, genomes: np.ndarray, seeds: np.ndarray, generation: int) -> np.ndarray:
        from snnctl.controllers.readout_fit import DEFAULT_ALPHAS, loo_scores, one_hot_targets

        grid = DEFAULT_ALPHAS if self.alphas is None else np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        t = one_hot_targets(self.y, self.spec.n_classes)
        out = np.full((len(genomes), 1), np.nan)
        for i, g in enumerate(genomes):
            try:
                counts = self.features(np.asarray(g, dtype=np.float64))
            except (NetworkError, ValueError):  # parameters the integer model cannot hold: the worst score
                continue
            out[i, 0] = min(r.mse for r in loo_scores(counts.astype(np.float64), t, grid))
        return out


def validation_split(y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fitness indices, validation indices) of the training split: ``fraction`` of each class with at
    least 3 windows held apart (at least one, and two always left), chosen by a fixed permutation, so
    the same data give the same split whatever the run seed."""
    y = np.asarray(y)
    if not 0 <= fraction < 1:
        raise HARTrainError(f"validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(0)
    val: list[int] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        # at least one held apart, at least two left to the fitness (its leave-one-out needs them)
        n = 0 if fraction == 0 or len(idx) < 3 else min(len(idx) - 2, max(1, int(round(fraction * len(idx)))))
        val += rng.permutation(idx)[:n].tolist()
    val_idx = np.sort(np.array(val, dtype=np.int64))
    return np.setdiff1d(np.arange(len(y)), val_idx), val_idx


def calibration_pick(y: np.ndarray, n: int, window_steps: int = 1, max_steps: int | None = None) -> np.ndarray:
    """About n window indices spread over the classes (round robin), for the quantiser's calibration;
    with `max_steps`, no more windows than fit in that many network steps (`window_steps` each), but
    at least one per class: the float calibration run is stepped in Python, its length is its cost."""
    y = np.asarray(y)
    by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    if max_steps is not None:
        n = min(n, max(len(by_class), int(max_steps) // max(1, int(window_steps))))
    pick: list[int] = []
    k = 0
    while len(pick) < min(n, len(y)):
        for idx in by_class:
            if k < len(idx) and len(pick) < n:
                pick.append(int(idx[k]))
        k += 1
    return np.sort(np.array(pick, dtype=np.int64))
