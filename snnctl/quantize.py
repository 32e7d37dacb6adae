"""Mapping a float reference network (`snnctl.reference`) onto the integer model, and back.

Rules (docs/integer-model.md §7): decays are rounded from exp(-dt/tau); each population gets its
own real-per-LSB state scale from a calibration run, so its largest state lands near
2^state_bits; input channels are symmetric int16 with zero point 0; each projection gets the
smallest exponent whose rounded int8 weights still fit, so the largest weight uses the int8 range
fully; outputs get the smallest shift whose int16 codes cover the calibration range. `quantize`
then runs both models and reports how far the integer outputs land from the float ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .network import (
    DECAY_ONE,
    EXPONENT_RANGE,
    INPUT,
    MAX24,
    MAX_OUTPUT_SHIFT,
    MIN24,
    Kind,
    Network,
    NetworkError,
    Output,
    Population,
    Projection,
    recordable_time_step,
)
from .reference import FloatNetwork, FloatOutput, FloatPopulation, FloatProjection, check_inputs, decay_factor, simulate
from .runtime import run_trace

CODE_MAX = 32767


def decay_code(tau: Any, dt: float) -> np.ndarray:
    """Integer decay d = round(4096 (1 - exp(-dt/tau))), so decay(x, d) ~ exp(-dt/tau) x."""
    return np.clip(np.rint(DECAY_ONE * (1.0 - decay_factor(tau, dt))), 0, DECAY_ONE).astype(np.int64)


def tau_from_decay(d: Any, dt: float) -> np.ndarray:
    """Inverse of `decay_code`: tau with exp(-dt/tau) = 1 - d/4096 (d = 0 -> inf, d = 4096 -> 0)."""
    alpha = 1.0 - np.asarray(d, dtype=np.float64) / DECAY_ONE
    with np.errstate(divide="ignore"):
        tau = -dt / np.log(np.where((alpha > 0) & (alpha < 1), alpha, 0.5))
    return np.where(alpha >= 1, np.inf, np.where(alpha <= 0, 0.0, tau))


def _f32(x: float) -> float:
    """Scales are stored as float32 in .snn files; quantise with the value a device will see."""
    return float(np.float32(x))


def choose_exponent(target: np.ndarray) -> tuple[int, np.ndarray, int]:
    """Smallest exponent e in -16..16 with round(target / 2^e) inside int8; returns (e, w, n_clipped).

    Rounding is monotonic, so only the extreme targets decide whether an exponent fits. If even
    e = 16 does not fit, weights are clipped (and counted); tiny targets stay at e = -16.
    """
    lo, hi = float(target.min(initial=0.0)), float(target.max(initial=0.0))
    e = EXPONENT_RANGE[1]
    for cand in range(EXPONENT_RANGE[0], EXPONENT_RANGE[1] + 1):
        if np.rint(hi / 2.0**cand) <= 127 and np.rint(lo / 2.0**cand) >= -128:
            e = cand
            break
    raw = np.rint(target / 2.0**e)
    n_clipped = int(np.count_nonzero((raw > 127) | (raw < -128)))
    return e, np.clip(raw, -128, 127).astype(np.int8), n_clipped


@dataclass
class QuantReport:
    """What quantisation chose and how far the integer outputs are from the float ones (real units)."""

    evaluated_on: str  # "test" or "calibration"
    state_scale: np.ndarray  # (n_pop,) real value of one integer LSB of u, v, a, bias, theta
    input_scale: np.ndarray  # (n_in,) real value of one input code
    tau_rel_error: np.ndarray  # (n_pop,) max relative error of the per-step leak 1 - alpha (u, v, a)
    exponents: list[int]
    weight_rel_error: np.ndarray  # (n_proj,) max |w_int 2^e - target| / max |target|
    weights_clipped: list[int]
    output_range: np.ndarray  # (n_out, 2) min, max of the float outputs on the evaluated input
    output_limits: np.ndarray  # (n_out, 2) real values of codes -32768 and 32767
    max_abs_error: np.ndarray  # (n_out,)
    rms_error: np.ndarray  # (n_out,)
    spikes_float: np.ndarray  # (n_pop,) total spikes on the evaluated input
    spikes_int: np.ndarray
    input_saturation: np.ndarray  # (n_in,) fraction of steps whose input code hit -32768 or 32767
    output_saturation: np.ndarray  # (n_out,) fraction of steps whose output code hit -32768 or 32767
    saturated: list[str] = field(default_factory=list)  # populations whose integer state hit the 24-bit limit
    pop_names: list[str] = field(default_factory=list)

    @property
    def rel_rms_error(self) -> np.ndarray:
        """RMS error over the largest |float output|, per output (inf if the output stays 0)."""
        peak = np.abs(self.output_range).max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(peak > 0, self.rms_error / peak, np.inf)

    def __str__(self) -> str:
        lines = [
            f"quantisation report (errors on the {self.evaluated_on} input, real units)",
            "output   float range                code range               max |err|   rms err   rms/peak",
        ]
        for k in range(len(self.max_abs_error)):
            (lo, hi), (clo, chi) = self.output_range[k], self.output_limits[k]
            errs = f"{self.max_abs_error[k]:<11.3g} {self.rms_error[k]:<9.3g} {self.rel_rms_error[k]:.3g}"
            lines.append(f"{k:>6}   [{lo:+.4g}, {hi:+.4g}]".ljust(36) + f"[{clo:+.4g}, {chi:+.4g}]".ljust(25) + errs)
        lines.append("population   state LSB    tau err    spikes float/int")
        for i, s in enumerate(self.state_scale):
            name = self.pop_names[i] if i < len(self.pop_names) and self.pop_names[i] else str(i)
            lines.append(f"{name:<12} {s:<12.4g} {self.tau_rel_error[i]:<10.2g} "
                         f"{int(self.spikes_float[i])}/{int(self.spikes_int[i])}")  # fmt: skip
        lines.append("projection   exponent   weight err   clipped")
        for k, e in enumerate(self.exponents):
            lines.append(f"{k:<12} {e:<10} {self.weight_rel_error[k]:<12.2g} {self.weights_clipped[k]}")
        if np.any(self.input_saturation > 0) or np.any(self.output_saturation > 0):
            lines.append(f"WARNING: codes saturate (inputs {np.round(self.input_saturation, 3).tolist()}, outputs "
                         f"{np.round(self.output_saturation, 3).tolist()} of steps); calibrate on a wider range"
                         " or raise input_headroom / output_headroom")  # fmt: skip
        if self.saturated:
            lines.append("WARNING: 24-bit saturation in " + ", ".join(self.saturated) + "; lower state_bits")
        return "\n".join(lines)


def _input_scales(calibration: np.ndarray, headroom: float) -> np.ndarray:
    """Symmetric per-channel scales: max |x| * headroom maps to code 32767 (unused channel: +-1)."""
    peak = np.abs(calibration).max(axis=0, initial=0.0) * headroom
    return np.array([_f32(m / CODE_MAX) if m > 0 else _f32(1.0 / CODE_MAX) for m in peak])


def _state_scales(fnet: FloatNetwork, cal: Any, state_bits: int, sigma: np.ndarray) -> np.ndarray:
    """Per population: the largest |u|, |v|, threshold + a, |bias| of the calibration run maps to 2^state_bits.

    The scale is then made up to 2x finer so that the largest weight of the population's biggest
    incoming projection maps to exactly 127 * 2^e: exponents are powers of two, and without this
    the largest int8 weight would land anywhere in 64..127, wasting up to one bit of precision.
    """
    off = fnet.offsets()
    out = []
    for i, p in enumerate(fnet.populations):
        sl = slice(off[i], off[i + 1])
        peak = max(np.abs(cal.u[:, sl]).max(initial=0.0), np.abs(cal.v[:, sl]).max(initial=0.0),
                   np.abs(p.bias).max(), p.adapt_step)  # fmt: skip
        if p.kind != Kind.LI:
            peak = max(peak, (p.threshold + cal.a[:, sl]).max(initial=0.0))
        # |real weight| per unit of what the source delivers (one input code, or one spike)
        incoming = [np.abs(q.weights) * (sigma[:, None] if q.src == INPUT else 1.0)
                    for q in fnet.projections if q.dst == i]  # fmt: skip
        if peak == 0:  # silent in calibration: size the state by one step of full-scale input
            full = [q.src == INPUT for q in fnet.projections if q.dst == i]
            sums = [float(w.sum(axis=0).max()) * (CODE_MAX if f else 1.0) for w, f in zip(incoming, full, strict=True)]
            peak = max(sums, default=0.0)
        s = (peak if peak > 0 else 1.0) / 2.0**state_bits
        biggest = max(incoming, key=lambda w: (w.size, w.max(initial=0.0)), default=None)
        if biggest is not None and biggest.max(initial=0.0) > 0:
            w_max = float(biggest.max())  # real weight (times input scale) that should become 127 * 2^e
            e = math.ceil(math.log2(w_max / (127 * s)))
            if EXPONENT_RANGE[0] <= e <= EXPONENT_RANGE[1]:
                s = w_max / (127 * 2.0**e)  # in (s/2, s]
        out.append(_f32(s))
    return np.array(out)


def _rounded(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(x), lo, hi).astype(np.int64)


def _population(p: FloatPopulation, s: float, dt: float) -> Population:
    return Population(
        p.kind, p.n, du=decay_code(p.tau_syn, dt), dv=decay_code(p.tau_mem, dt),
        bias=_rounded(p.bias / s, MIN24, MAX24), theta=_rounded(p.threshold / s, 1, MAX24), reset=p.reset,
        refractory=p.refractory, da=int(decay_code(p.tau_adapt, dt)),
        a_step=int(_rounded(np.float64(p.adapt_step / s), 0, MAX24)), name=p.name,
    )  # fmt: skip


def _tau_error(p: FloatPopulation, dt: float) -> float:
    """Max relative error of the per-step leak (1 - alpha) after rounding d to 1/4096."""
    worst = 0.0
    taus = [p.tau_syn, p.tau_mem] + ([np.array([p.tau_adapt])] if p.kind == Kind.ALIF else [])
    for tau in taus:
        leak = 1.0 - decay_factor(tau, dt)
        got = decay_code(tau, dt) / DECAY_ONE
        rel = np.abs(got - leak) / np.where(leak > 0, leak, 1.0)
        worst = max(worst, float(rel.max(initial=0.0)))
    return worst


def _at_limit(codes: np.ndarray) -> np.ndarray:
    """Per column, the fraction of steps at an int16 limit (0 for an empty run)."""
    hit = (codes <= -32768) | (codes >= CODE_MAX)
    return hit.mean(axis=0) if len(codes) else np.zeros(codes.shape[1])


def _output_shift(v_peak: float, s: float, headroom: float) -> int:
    """Smallest shift with v_peak * headroom / s / 2^shift <= 32767 (codes never overflow on calibration)."""
    need = v_peak * headroom / s / CODE_MAX
    return int(min(max(math.ceil(math.log2(need)), 0), MAX_OUTPUT_SHIFT)) if need > 1 else 0


def quantize(
    fnet: FloatNetwork,
    calibration: np.ndarray,
    test: np.ndarray | None = None,
    state_bits: int = 20,
    input_headroom: float = 1.25,
    output_headroom: float = 1.25,
    on_step: Callable[[int], None] | None = None,
) -> tuple[Network, QuantReport]:
    """Integer network for `fnet`, scaled on `calibration` (T, n_in), with errors measured on `test`.

    `on_step(t)`: called after each step of the float run on `calibration` (progress; `simulate`).

    `state_bits` places each population's largest calibration state near 2^state_bits (at most
    2^(state_bits + 1) after weight alignment), leaving >= 2^(22 - state_bits) headroom below
    24-bit saturation for transients the calibration did not show. Inputs beyond input_headroom x the
    calibration range saturate at the int16 code limits. The network records `fnet.dt` as its time
    step (`control_period_s`) when a `.snn` file can hold it (`recordable_time_step`).
    """
    fnet.validate()
    if not 8 <= int(state_bits) <= 21:  # the weight alignment may add one bit; 2^23 is saturation
        raise NetworkError(f"quantize: state_bits = {state_bits} is outside 8..21")
    if not (input_headroom >= 1 and output_headroom >= 1 and math.isfinite(input_headroom * output_headroom)):
        raise NetworkError("quantize: input_headroom and output_headroom must be finite and >= 1")
    calibration = check_inputs(calibration, fnet.n_inputs)
    if calibration.shape[0] == 0:
        raise NetworkError("quantize: the calibration input has no time steps")
    evaluated = calibration if test is None else check_inputs(test, fnet.n_inputs)
    cal = simulate(fnet, calibration, on_step)
    sigma = _input_scales(calibration, input_headroom)
    s = _state_scales(fnet, cal, int(state_bits), sigma)
    pops = [_population(p, float(s[i]), fnet.dt) for i, p in enumerate(fnet.populations)]
    projs, exps, werr, clipped = [], [], [], []
    for q in fnet.projections:
        target = q.weights * (sigma[:, None] if q.src == INPUT else 1.0) / s[q.dst]
        e, w, n_clip = choose_exponent(target)
        peak = np.abs(target).max(initial=0.0)
        werr.append(float(np.abs(w * 2.0**e - target).max(initial=0.0) / peak) if peak > 0 else 0.0)
        projs.append(Projection(q.src, q.dst, w, e, q.recurrent, q.delay, q.sparse))
        exps.append(e)
        clipped.append(n_clip)
    off = fnet.offsets()
    outs = []
    for o in fnet.outputs:
        sp = float(s[o.pop])
        v_peak = float(np.abs(cal.v[:, off[o.pop] + o.neuron]).max(initial=0.0)) or sp * 2.0**state_bits
        shift = _output_shift(v_peak, sp, output_headroom)
        outs.append(Output(o.pop, o.neuron, shift, _f32(sp * 2.0**shift), 0))
    meta = {**fnet.meta, "quantized_from_float": True, "dt": fnet.dt, "state_bits": int(state_bits)}
    # the time step goes into the file (`ctrl`), so export and control loops know what the decays mean
    net = Network(fnet.n_inputs, pops, projs, outs, input_scale=sigma, input_zero=0, meta=meta,
                  control_period_s=recordable_time_step(fnet.dt))  # fmt: skip
    ref = cal if test is None else simulate(fnet, evaluated)
    codes = net.quantize_inputs(evaluated)
    itr = run_trace(net, codes)
    got = net.dequantize_outputs(itr.outputs)
    err = got - ref.outputs
    n_pop = len(pops)
    hit = np.zeros(net.n_neurons, bool)
    for x in (itr.u, itr.v, itr.a):
        hit |= ((x <= MIN24) | (x >= MAX24)).any(axis=0)
    sat = [f"{i} {fnet.populations[i].name!r}" for i in range(n_pop) if hit[off[i] : off[i + 1]].any()]
    scales = np.array([o.scale for o in outs])
    report = QuantReport(
        evaluated_on="calibration" if test is None else "test",
        state_scale=s, input_scale=sigma,
        tau_rel_error=np.array([_tau_error(p, fnet.dt) for p in fnet.populations]),
        exponents=exps, weight_rel_error=np.array(werr), weights_clipped=clipped,
        output_range=np.stack([ref.outputs.min(axis=0, initial=np.inf), ref.outputs.max(axis=0, initial=-np.inf)], 1),
        output_limits=np.stack([-32768 * scales, CODE_MAX * scales], axis=1),
        max_abs_error=np.abs(err).max(axis=0, initial=0.0),
        rms_error=np.sqrt(np.mean(err**2, axis=0)) if len(err) else np.zeros(len(outs)),
        spikes_float=np.array([ref.spikes[:, off[i]:off[i + 1]].sum() for i in range(n_pop)]),
        spikes_int=np.array([itr.spikes[:, off[i]:off[i + 1]].sum() for i in range(n_pop)]),
        input_saturation=_at_limit(codes), output_saturation=_at_limit(itr.outputs),
        saturated=sat, pop_names=[p.name for p in fnet.populations],
    )  # fmt: skip
    return net, report


def from_integer(net: Network, dt: float, state_scale: float | Sequence[float] | None = None) -> FloatNetwork:
    """The float view of an integer network (for export, e.g. NIR): same dynamics up to rounding.

    Population p's states are read as real = integer * state_scale[p]. Default scales: a
    population holding an output uses that output's scale / 2^shift, so its v is in the output's
    real units; any other population uses 1 / median(theta), so thresholds sit near 1.
    Input zero points must be 0: a non-zero zero point is a constant current, which the float
    model (bias acts on v, not u) cannot express. Output zero points are not carried over (the
    float output is v itself).
    """
    net.validate()
    if not (math.isfinite(dt) and dt > 0):
        raise NetworkError(f"from_integer: dt = {dt} must be finite and > 0 seconds")
    if np.any(net.input_zero != 0):
        raise NetworkError("from_integer: input zero points must be 0 (a zero point is a constant current)")
    n_pop = len(net.populations)
    if state_scale is None:
        scales = [1.0 / float(np.median(p.theta)) for p in net.populations]
        for o in reversed(net.outputs):  # the first output of a population wins
            scales[o.pop] = o.scale / 2.0**o.shift
    else:
        scales = list(np.broadcast_to(np.asarray(state_scale, dtype=np.float64), (n_pop,)))
    if not all(math.isfinite(x) and x > 0 for x in scales):
        raise NetworkError("from_integer: every state_scale must be finite and > 0")
    sigma = np.asarray(net.input_scale, dtype=np.float64)
    pops = [
        FloatPopulation(p.kind, p.n, tau_syn=tau_from_decay(p.du, dt), tau_mem=tau_from_decay(p.dv, dt),
                        bias=p.bias * sc, threshold=p.theta * sc, reset=p.reset, refractory=p.refractory,
                        tau_adapt=float(tau_from_decay(p.da, dt)), adapt_step=p.a_step * sc, name=p.name)
        for p, sc in zip(net.populations, scales, strict=True)
    ]  # fmt: skip
    projs = []
    for q in net.projections:
        w = q.weights.astype(np.float64) * 2.0**q.exponent * scales[q.dst]
        if q.src == INPUT:
            w = w / sigma[:, None]
        projs.append(FloatProjection(q.src, q.dst, w, q.recurrent, q.delay, q.sparse))
    outs = [FloatOutput(o.pop, o.neuron) for o in net.outputs]
    meta = {**net.meta, "state_scale": [float(x) for x in scales]}
    return FloatNetwork(net.n_inputs, pops, projs, outs, dt, meta=meta)
