"""Training and evaluating the L2MU HAR classifier: no deep-learning framework, only numpy.

`train_l2mu` builds the network (`snnctl.l2mu`), runs the integer network on every training window
(batched numba), fits the readout in closed form on those integer spike counts
(`snnctl.readout_fit`), installs it as int8 parts and checks that the deployed integer scores are
exactly the integer form of the fitted map. `evaluate` scores an integer network on windows;
`float_predictions` runs the float reference; `early_exit` stops each window once the readout's
margin passes a threshold; `run_on_device` streams windows to a board over the serial protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnctl.l2mu import (
    Calibration,
    L2MUParams,
    L2MUSpec,
    count_networks,
    hidden_counts,
    install_readout,
    l2mu_network,
)
from snnctl.network import Network
from snnctl.readout_fit import RidgeReadout, accuracy, confusion, fit_ridge, macro_f1
from snnctl.reference import FloatNetwork

ICOUNT_BOARDS = ("lm3s6965evb",)  # emulated under QEMU -icount shift=7: cycle counter = instructions * 128 ns


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


def spec_params(n_channels: int, n_classes: int, rate_hz: float, model: dict) -> tuple[L2MUSpec, L2MUParams]:
    """L2MUSpec and L2MUParams from a config's [model] section and the data's shape."""
    spec = L2MUSpec(n_channels, n_classes, order=model["order"], hidden_per_channel=model["hidden_per_channel"],
                    dt=1.0 / rate_hz, steps_per_sample=model["steps_per_sample"], seed=model["seed"])  # fmt: skip
    params = L2MUParams(theta=model["theta_s"], hidden_gain=model["hidden_gain"], gain_spread=model["gain_spread"],
                        intercept=model["intercept"], input_weight=model["input_weight"],
                        hidden_tau_syn=model["hidden_tau_syn_s"], hidden_tau_mem=model["hidden_tau_mem_s"])  # fmt: skip
    return spec, params


def codes_of(net: Network, spec: L2MUSpec, x: np.ndarray) -> np.ndarray:
    """Windows (N, C, T) of real values -> the int16 codes a device receives, (N, T * steps_per_sample, C)."""
    return net.quantize_inputs(spec.held(x))


def train_l2mu(spec: L2MUSpec, params: L2MUParams, x: np.ndarray, y: np.ndarray, alphas: Any = None,
               calibration_windows: int = 20, state_bits: int = 20, progress: bool = False) -> Trained:  # fmt: skip
    """Build, quantise, run on the training windows, fit and install the readout (see module docstring)."""
    from snnctl.l2mu import calibrate

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise HARTrainError(f"the training split has {len(np.unique(y))} class(es); a classifier needs at least 2")
    t0 = time.perf_counter()
    cal = calibrate(spec, params, x)
    pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), calibration_windows)).round().astype(int))
    net, fnet = l2mu_network(spec, params, cal, spec.held(x[pick]).reshape(-1, spec.n_channels), state_bits)
    if progress:
        print(f"  network: {net.n_neurons} neurons, {net.n_synapses} synapses ({time.perf_counter() - t0:.1f} s)")
    counts = hidden_counts(count_networks(net), codes_of(net, spec, x))
    ridge = fit_ridge(counts, y, spec.n_classes, alphas)
    install_readout(net, fnet, ridge.w, ridge.b, counts, x.shape[2] * spec.steps_per_sample)
    trained = Trained(net, fnet, spec, params, cal, ridge, counts)
    trained.score_check = check_scores(net, spec, x, counts, ridge)
    return trained


def check_scores(net: Network, spec: L2MUSpec, x: np.ndarray, counts: np.ndarray, ridge: RidgeReadout) -> dict:
    """What is trained is what is deployed: the integer network's final output codes, run on `x`, must
    equal floor((W . counts + bias) / 2^shift) of the installed integer map exactly, and dequantised
    they must lie within the rounding bound of the fitted real map (`snnctl.l2mu.install_readout`)."""
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
            "max_bound": float(bound.max()), "lsb": lsb, "shift": shift}  # fmt: skip


def integer_readout(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The installed readout as integers: W (n_hidden, K) from hidden spikes and the bias per step (K,)."""
    from snnctl.l2mu import hidden_slices

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


def float_predictions(fnet: FloatNetwork, spec: L2MUSpec, x: np.ndarray) -> np.ndarray:
    """The float reference on windows x (N, C, T): argmax of its final scores."""
    from snnctl.reference import simulate

    return np.array([int(np.argmax(simulate(fnet, w).outputs[-1])) for w in spec.held(x)])


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
        if info.name in ICOUNT_BOARDS:
            res["instructions_per_window"] = int(round(per_window_s * 1e9 / 2**7))  # QEMU -icount shift=7
            res["instructions_per_step"] = int(round(per_window_s * 1e9 / 2**7 / codes.shape[1]))
    return res
