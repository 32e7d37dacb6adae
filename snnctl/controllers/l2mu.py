"""L2MU: a natively spiking Legendre Memory Unit for human-activity recognition on raw IMU current.

Follows "Natively neuromorphic LMU architecture for encoding-free SNN-based HAR on commercial edge
devices" (2024): every element of an LMU is a population of spiking neurons and the raw sensor
values enter as current, with no spike-encoding step. Populations, in the network's order:

* `tonic` (1 LIF): fires every step (bias = threshold); its spikes are a constant current, used
  to cancel the offsets of the spike codes below.
* `start` (1 ALIF): fires at step 0 only (its adaptation, which never decays, doubles its
  threshold); carries the one-time impulses that stagger the copies below.
* `enc<c>` (ne LIF per raw channel c): the input/encoder population. The raw value enters as
  current; with no membrane leak and soft reset each neuron is a first-order sigma-delta modulator,
  so its spikes s carry x~ + 1/2, where x~ = gamma_c (x_c - mean_c) in [-0.45, 0.45] is the
  normalised input: sum_t s(t) = sum_t (x~(t) + 1/2) - v(T) + v(0), with 0 <= v < 1 as long as x~
  stays in range (the sigma-delta identity: the error is one spike in a whole window).
* `mem<c>` (D x nm LIF per channel, dimension-major): `memories` LMU memories of order d side by
  side (D = memories x d), over the windows theta, theta/ratio, theta/ratio^2, ... (MiniRocket's
  dilations; `memory_thetas`), with A, B frozen (`snnctl.controllers.lmu`; block-diagonal,
  `memory_matrices`), nm neurons per dimension. The memory lives in
  the neurons' synaptic current u, mapped as below; the neurons are sigma-delta modulators of u + 1/2.
* `hid<c>` (H LIF per channel): the hidden layer. Each neuron sees the raw value (current) and one
  of its channel's memories (spikes of all copies) along a fixed random direction e_j: a rectifying
  tuning curve over (x~, m~), as in the NEF that the LMU comes from, or a random convolution kernel
  and threshold, as in MiniRocket. Its intercept sits at a quantile of its own drive e_j . z on the
  training windows and its gain sets its rate at the drive's 99th percentile (`calibrate`), so its
  spike count is close to MiniRocket's proportion-of-positive-values feature.
* `out` (K LI, no leak, memoryless current): the class scores. Its membrane sums, over the window,
  the hidden spikes times the readout weights plus a bias per step: the final v is exactly a linear
  map of the hidden neurons' spike counts. That map is what `snnctl.controllers.readout_fit`
  fits.

**The memory on the integer model.** A CUBA neuron's current is a leaky integrator,
u[t] = alpha u[t-1] + I[t] (alpha = 1 - du/4096). The memory neurons take the diagonal of Abar as
their decay and a recurrent projection R = Abar - diag(alpha) from the memory's own spikes (lag 1),
so u[t] = Abar u[t-1] + Bbar x~[t] + R e[t-1] + Bbar e_x[t], where e and e_x are the coding errors
of the memory's and the encoder's spikes. What the integer model cannot express exactly, and what
is done about it:

1. spikes are 0/1, not signed: each memory neuron codes u + 1/2 (bias 1/2 on v, threshold 1), and
   the constant R/2 (plus Bbar/2 from the encoder's offset) is cancelled by a current from `tonic`,
   recomputed from the integer weights so that it cancels exactly (`_consistent_offsets`);
2. the coding error of a sigma-delta neuron is a first difference, e[t] = v[t-1] - v[t], so it
   enters the memory high-pass filtered: the memory error is about R (v(0) - v(t)), bounded, not
   accumulating, but of the size of R's rows, dt (2i+1) / theta. With ONE neuron per dimension that
   is as large as the memory signal itself on real data. **Population code:** nm neurons per
   dimension, each receiving the same current (every spike of a copy of dimension j reaches every
   copy of dimension i with weight R_ij / nm), hold the same u; started at the phases k/nm
   (`stagger`, an impulse from `start` that the next step takes out of u again), their summed
   v stays within one threshold instead of nm, so the coding error, and with it the memory error,
   falls as 1/nm. The encoder is a population of ne staggered copies in the same way (its error
   enters through Bbar). Cost: nm^2 more recurrent synapses and nm more memory spikes per step;
3. the memory is scaled per dimension (u_i = m_i / c_i, c from the training data) so that
   |u| <= 0.45 keeps the modulators in range (outside it they clip: v winds up and pays back later,
   the identity of point 2 still holds but the error grows while it lasts);
4. R, Bbar and the cancelling currents are rounded to int8 with a per-projection exponent
   (`snnctl.quantize`); R holds only the off-diagonal part and the small diagonal rest, so the
   rounding error is relative to dt/theta-sized entries. With several memories one exponent serves
   windows theta and theta/16, so R, Bbar and the hidden weights get a second int8 part, 7 bits
   finer (`_fine_weights`): otherwise the longest memory's couplings lose most of their bits and
   the float reference's spike counts drift away from the integer network's.

`memory_error` measures the integer memory against the float LMU on real inputs; the tests bound it.

The float reference (`l2mu_float_network`) is the same topology with real parameters
(`snnctl.reference`); `l2mu_network` quantises it (`snnctl.quantize`) and installs the integer
readout fitted on the integer network's own features (`install_readout`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..config import check_params, param
from ..network import (
    DECAY_ONE,
    EXPONENT_RANGE,
    INPUT,
    MAX_OUTPUTS,
    Kind,
    Network,
    NetworkError,
    Output,
    Population,
    Projection,
    Reset,
)
from ..reference import FloatNetwork, FloatOutput, FloatPopulation, FloatProjection, decay_factor
from .lmu import lmu_discrete, simulate_memory

RANGE = 0.45  # normalised inputs and memory dimensions stay within +-RANGE (spike rates 0.05..0.95)

__all__ = [
    "L2MUSpec",
    "L2MUParams",
    "Calibration",
    "calibrate",
    "memory_thetas",
    "memory_matrices",
    "hidden_encoders",
    "l2mu_float_network",
    "l2mu_network",
    "install_readout",
    "population_index",
    "hidden_slices",
    "count_networks",
    "hidden_counts",
    "memory_error",
]


@dataclass(frozen=True)
class L2MUSpec:
    """Shape of the network: what the data fixes (channels, classes, rate) and the sizes chosen."""

    n_channels: int
    n_classes: int
    # the config's [model] keys (evolve.har_experiment.SCHEMA reads default, limits and help from here)
    order: int = param(4, "LMU order d (Legendre dimensions per channel)", ge=1, le=32)
    hidden_per_channel: int = param(16, "hidden neurons per input channel", ge=1, le=1024)
    dt: float = 0.1  # seconds between input samples (1 / the data's sample rate)
    steps_per_sample: int = param(
        10, "network steps per input sample (each sample held that long)", ge=1, le=1000
    )  # the network runs at 10x the sample rate: finer spike codes
    seed: int = param(0, "seed of the hidden neurons' random tuning", ge=0, le=2**32 - 1)
    encoder_neurons: int = param(4, "sigma-delta neurons per input channel (staggered phases)", ge=1, le=64)
    memory_neurons: int = param(4, "sigma-delta neurons per memory dimension (error ~ 1 / this)", ge=1, le=64)
    memories: int = param(3, "LMU memories per channel, windows theta, theta/ratio, theta/ratio^2, ...", ge=1, le=8)

    def __post_init__(self) -> None:
        checks = {"n_channels": (self.n_channels, 1, 64), "n_classes": (self.n_classes, 2, MAX_OUTPUTS)}
        for name, (value, lo, hi) in checks.items():
            if not lo <= int(value) <= hi:
                raise ValueError(f"L2MU: {name} = {value} is outside {lo}..{hi}")
        check_params(self, "L2MU")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"L2MU: dt = {self.dt} must be finite and > 0 seconds")

    @property
    def n_hidden(self) -> int:
        return self.n_channels * self.hidden_per_channel

    @property
    def memory_dims(self) -> int:
        """Memory dimensions per channel: `memories` LMUs of `order` dimensions each, side by side."""
        return self.order * self.memories

    @property
    def step_s(self) -> float:
        """The network's time step: the sample period over steps_per_sample."""
        return self.dt / self.steps_per_sample

    def held(self, x: np.ndarray) -> np.ndarray:
        """Windows (N, C, T) -> network inputs (N, T * steps_per_sample, C): each sample held."""
        return np.repeat(np.transpose(np.asarray(x, dtype=np.float64), (0, 2, 1)), self.steps_per_sample, axis=1)


@dataclass(frozen=True)
class L2MUParams:
    """Real parameters of the spiking part (what evolution may tune); time constants in seconds."""

    # the config's [model] keys, in seconds where the name says _s (evolve.har.PARAM_KEYS)
    theta: float = param(1.0, "LMU window theta (s) of the longest memory", gt=0, le=3600)
    theta_ratio: float = param(4.0, "each further memory's window is the previous one's / this", ge=1, le=1000)
    hidden_gain: float = param(0.5, "hidden rate (spikes/step) at the drive's 99th percentile, median", gt=0,
                               le=1000)  # fmt: skip
    gain_spread: float = param(2.0, "hidden gains log-uniform in [gain/spread, gain*spread]", ge=1, le=1000)
    intercept: float = param(0.4, "hidden intercepts at quantiles 0.5 +- this of the neuron's training drive",
                             gt=0, lt=0.5)  # fmt: skip
    input_weight: float = param(1.0, "weight of the raw-current axis against the memory axes", ge=0, le=100)
    hidden_tau_syn: float = param(0.1, "hidden synaptic time constant (s)", gt=0, le=3600)
    hidden_tau_mem: float = param(0.2, "hidden membrane time constant (s)", gt=0, le=3600)

    def __post_init__(self) -> None:
        check_params(self, "L2MU")


@dataclass
class Calibration:
    """What the training data fixes: input normalisation, the memory's per-dimension scale, and each
    hidden neuron's intercept and gain (from its drive's distribution on the training windows)."""

    mean: np.ndarray  # (C,) per-channel mean of the raw input
    gamma: np.ndarray  # (C,) x~ = gamma (x - mean) stays within +-RANGE on the training data
    mem_scale: np.ndarray  # (C, D) c: memory neuron i of channel c holds m_i / c
    intercepts: np.ndarray  # (C, H) drive e . z at which hidden neuron j starts firing
    gains: np.ndarray  # (C, H) its rate (spikes/step) per unit of drive above the intercept

    def to_dict(self) -> dict:
        return {k: np.asarray(v).tolist() for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**{f.name: np.asarray(d[f.name], dtype=np.float64) for f in fields(cls)})


def _check_windows(x: np.ndarray, n_channels: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != n_channels:
        raise ValueError(f"windows must have shape (N, {n_channels} channels, T), got {x.shape}")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise ValueError(f"windows must not be empty, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("windows contain NaN or inf; fill or drop missing samples before training")
    return x


def memory_thetas(spec: L2MUSpec, params: L2MUParams) -> np.ndarray:
    """The windows (s) of a channel's memories: theta, theta / ratio, theta / ratio^2, ... (`spec.memories`).

    Several windows play the part of MiniRocket's dilations: a hidden neuron reading a short memory
    sees local shape, one reading the longest sees the window's slow course."""
    return params.theta / params.theta_ratio ** np.arange(spec.memories, dtype=np.float64)


def memory_matrices(spec: L2MUSpec, params: L2MUParams) -> tuple[np.ndarray, np.ndarray]:
    """(Abar, Bbar) of a channel's whole memory, (D, D) and (D,): the memories' LMUs block-diagonal."""
    d = spec.order
    abar = np.zeros((spec.memory_dims, spec.memory_dims))
    bbar = np.zeros(spec.memory_dims)
    for k, theta in enumerate(memory_thetas(spec, params)):
        a, b = lmu_discrete(d, float(theta), spec.step_s)
        if np.any(np.rint(DECAY_ONE * (1.0 - np.diag(a))) >= DECAY_ONE):  # a dimension forgets within one step
            raise ValueError(f"L2MU: memory {k + 1}'s window {theta:.3g} s spans {theta / spec.step_s:.2g} network "
                             f"steps, too short for order {d}; use fewer memories, a smaller theta_ratio, a larger "
                             "theta or more steps_per_sample")  # fmt: skip
        abar[k * d : (k + 1) * d, k * d : (k + 1) * d] = a
        bbar[k * d : (k + 1) * d] = b
    return abar, bbar


CALIBRATION_SAMPLES = 200_000  # time steps per channel the hidden intercepts' quantiles are taken over (at most)
TOP_QUANTILE = 0.99  # the drive level at which a hidden neuron fires at its chosen rate
MEMORY_CHUNK = 64  # windows whose float memory calibrate runs at once (bounds its RAM)


def calibrate(spec: L2MUSpec, params: L2MUParams, x: np.ndarray) -> Calibration:
    """Normalisation from training windows x (N, C, T): channel means and ranges, memory ranges, and
    the hidden neurons' intercepts and gains.

    Intercepts as MiniRocket sets its biases: at a quantile of the neuron's own drive e . z over the
    training windows (levels drawn in 0.5 +- `params.intercept`), so every neuron fires for a
    chosen share of the time whatever the data's scale, and none is silent or saturated on all
    windows. Gains: the rate at the drive's 99th percentile is `hidden_gain` (times the neuron's
    log-uniform spread). The memory is the exact float LMU, each window from rest as the network runs it.
    """
    x = _check_windows(x, spec.n_channels)
    mean = x.mean(axis=(0, 2))
    span = np.abs(x - mean[None, :, None]).max(axis=(0, 2))
    gamma = RANGE / np.where(span > 0, span, 1.0)
    abar, bbar = memory_matrices(spec, params)
    n, c_n, t_len = x.shape
    steps = t_len * spec.steps_per_sample
    xn = gamma[None, :, None] * (x - mean[None, :, None])  # (N, C, T)
    stride = max(1, int(math.ceil(steps * n / CALIBRATION_SAMPLES)))
    kept = np.arange(0, steps, stride)  # the steps whose drive the intercepts' quantiles are taken over
    peak = np.zeros((c_n, spec.memory_dims))
    m_kept = np.zeros((len(kept), n, c_n, spec.memory_dims))
    for lo in range(0, n, MEMORY_CHUNK):  # windows in chunks: the whole memory run would not fit in RAM
        part = xn[lo : lo + MEMORY_CHUNK]
        # every window and channel of the chunk is a column of one memory run; samples held steps_per_sample
        cols = np.repeat(part.reshape(-1, t_len).T, spec.steps_per_sample, axis=0)  # (T', n' C)
        m = simulate_memory(abar, bbar, cols).reshape(steps, len(part), c_n, spec.memory_dims)
        peak = np.maximum(peak, np.abs(m).max(axis=(0, 1)))
        m_kept[:, lo : lo + len(part)] = m[kept]
    mem_scale = np.where(peak > 1e-9, peak / RANGE, 1.0)
    e, spread_u, level = hidden_encoders(spec, params)
    x_kept = np.repeat(xn, spec.steps_per_sample, axis=2)[:, :, kept]  # (N, C, kept)
    intercepts = np.zeros((c_n, spec.hidden_per_channel))
    gains = np.zeros_like(intercepts)
    for c in range(c_n):
        z = np.concatenate([x_kept[:, c].T[:, :, None], m_kept[:, :, c] / mem_scale[c]], axis=2)
        drive = z.reshape(-1, 1 + spec.memory_dims) @ e[c].T  # (samples, H)
        for j in range(spec.hidden_per_channel):
            lo, top = np.quantile(drive[:, j], [level[c, j], TOP_QUANTILE])
            intercepts[c, j] = lo
            gains[c, j] = params.hidden_gain * params.gain_spread ** spread_u[c, j] / max(top - lo, 1e-3)
    return Calibration(mean, gamma, mem_scale, intercepts, gains)


def hidden_encoders(spec: L2MUSpec, params: L2MUParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden neurons' fixed random tuning: directions (C, H, 1+D), gain spreads u (C, H) in [-1, 1]
    and intercept quantile levels (C, H).

    Axis 0 of a direction is the raw input x~, axes 1.. the memory dimensions m~_i. Neuron j reads
    one memory, number j mod `memories` (a random kernel at one dilation, as in MiniRocket), along a
    direction uniform on the sphere after the input axis is weighted by `input_weight`; drawn from
    `spec.seed` only, so the same spec gives the same hidden layer whatever the other parameters.
    """
    rng = np.random.default_rng(spec.seed)
    c, h, d = spec.n_channels, spec.hidden_per_channel, spec.order
    draw = rng.standard_normal((c, h, 1 + d))
    gain_u = rng.uniform(-1.0, 1.0, (c, h))
    level_u = rng.uniform(-1.0, 1.0, (c, h))
    draw[:, :, 0] *= params.input_weight
    norm = np.linalg.norm(draw, axis=2, keepdims=True)
    draw = draw / np.where(norm > 0, norm, 1.0)
    e = np.zeros((c, h, 1 + spec.memory_dims))
    e[:, :, 0] = draw[:, :, 0]
    for j in range(h):
        k = j % spec.memories
        e[:, j, 1 + k * d : 1 + (k + 1) * d] = draw[:, j, 1:]
    return e, gain_u, 0.5 + params.intercept * level_u


def stagger(n: int) -> np.ndarray:
    """Initial phases k / n (in thresholds) of the n copies of one encoder or memory element.

    n sigma-delta neurons fed the same value x and started at these phases fire, together, n x
    spikes per step on average with a running error below one spike, not n: their membranes are
    frac(k/n + S(t)), S the running sum of x, and sum_k frac(k/n + S) = (n - 1)/2 + frac(n S) stays
    within one threshold. The population is an n-level sigma-delta modulator.
    """
    return np.arange(int(n), dtype=np.float64) / int(n)


def population_index(spec: L2MUSpec) -> dict[str, int]:
    """Population name -> index in the network."""
    names = ["tonic", "start"]
    for kind in ("enc", "mem", "hid"):
        names += [f"{kind}{c}" for c in range(spec.n_channels)]
    names.append("out")
    return {n: i for i, n in enumerate(names)}


def l2mu_float_network(
    spec: L2MUSpec,
    params: L2MUParams,
    cal: Calibration,
    readout_w: np.ndarray | None = None,
    readout_b: np.ndarray | None = None,
) -> FloatNetwork:
    """The float reference: real LMU matrices, real gains; readout (n_hidden, K) per spike, bias (K,) per step."""
    c_n, d, h, k = spec.n_channels, spec.memory_dims, spec.hidden_per_channel, spec.n_classes
    idx = population_index(spec)
    dt = spec.step_s
    abar, bbar = memory_matrices(spec, params)
    e = hidden_encoders(spec, params)[0]
    gains, icpt = cal.gains, cal.intercepts
    a_syn = float(decay_factor(np.array(params.hidden_tau_syn), dt))
    a_mem = float(decay_factor(np.array(params.hidden_tau_mem), dt))
    readout_w = np.zeros((spec.n_hidden, k)) if readout_w is None else np.asarray(readout_w, dtype=np.float64)
    readout_b = np.zeros(k) if readout_b is None else np.asarray(readout_b, dtype=np.float64)
    if readout_w.shape != (spec.n_hidden, k) or readout_b.shape != (k,):
        raise ValueError(f"readout must be ({spec.n_hidden}, {k}) weights and ({k},) biases, "
                         f"got {readout_w.shape} and {readout_b.shape}")  # fmt: skip

    ne, nm = spec.encoder_neurons, spec.memory_neurons
    # tonic fires every step (v = bias = threshold); start only at step 0: then its adaptation,
    # which never decays, lifts the threshold to 2
    once = {"tau_adapt": math.inf, "adapt_step": 1.0}
    pops = [
        FloatPopulation(Kind.LIF, 1, tau_syn=None, tau_mem=0.0, bias=1.0, threshold=1.0, name="tonic"),
        FloatPopulation(Kind.ALIF, 1, tau_syn=None, tau_mem=0.0, bias=1.0, threshold=1.0, name="start", **once),
    ]
    projs: list[FloatProjection] = []
    tonic, start = idx["tonic"], idx["start"]
    for c in range(c_n):  # encoders: u = gamma x (memoryless), v integrates u + 1/2 - gamma mean
        bias = 0.5 - cal.gamma[c] * cal.mean[c]
        pops.append(FloatPopulation(Kind.LIF, ne, tau_syn=None, tau_mem=math.inf, threshold=1.0, bias=bias,
                                    reset=Reset.SOFT, name=f"enc{c}"))  # fmt: skip
        w = np.zeros((c_n, ne))
        w[c, :] = cal.gamma[c]
        projs.append(FloatProjection(INPUT, idx[f"enc{c}"], w))
        # stagger: copy k starts at phase k/ne. Its current is memoryless (u = I), so an impulse of
        # k/ne at step 0 (from `start`) adds exactly k/ne to v and nothing after
        projs.append(FloatProjection(start, idx[f"enc{c}"], stagger(ne)[None, :]))
    # memory decay per neuron = the diagonal of Abar, rounded to what the integer model can hold
    # (d = round(4096 (1 - Abar_ii))), so only the off-diagonal couplings go through spikes
    leak = np.clip(np.rint(DECAY_ONE * (1.0 - np.diag(abar))), 0, DECAY_ONE) / DECAY_ONE
    alpha = 1.0 - leak
    with np.errstate(divide="ignore"):
        tau_mem_syn = np.where(
            alpha >= 1, math.inf, np.where(alpha > 0, -dt / np.log(np.where(alpha > 0, alpha, 0.5)), 0.0)
        )
    for c in range(c_n):  # memory in u (scaled by 1/c_i), nm copies per dimension; spikes code u + 1/2
        sc = cal.mem_scale[c]
        r = (abar - np.diag(alpha)) * sc[None, :] / sc[:, None]  # D^-1 (Abar - alpha I) D
        b = bbar / sc  # D^-1 Bbar
        pops.append(FloatPopulation(Kind.LIF, d * nm, tau_syn=np.repeat(tau_mem_syn, nm), tau_mem=math.inf,
                                    bias=0.5, threshold=1.0, reset=Reset.SOFT, name=f"mem{c}"))  # fmt: skip
        m = idx[f"mem{c}"]
        # every copy of dimension j sends R[i, j] / nm to every copy of dimension i (and each encoder
        # copy b_i / ne), so all copies of a dimension receive the same current and hold the same u;
        # together they code nm (u + 1/2) per step with a running error below one spike (`stagger`)
        projs.append(FloatProjection(idx[f"enc{c}"], m, np.tile(np.repeat(b, nm), (ne, 1)) / ne))
        projs.append(FloatProjection(m, m, np.repeat(np.repeat(r.T, nm, axis=0), nm, axis=1) / nm, recurrent=True))
        # the codes' offsets (1/2 per encoder spike, now; 1/2 per memory spike, a step late) cancelled by
        # one constant current; at step 0 no memory spike has arrived yet, so `start` takes its part out
        rec_off = 0.5 * np.repeat(r.sum(axis=1), nm)
        projs.append(FloatProjection(tonic, m, -(rec_off + 0.5 * np.repeat(b, nm))[None, :]))
        # stagger: copy k of every dimension starts at phase k/nm by an impulse K into u at step 0,
        # which step 1 takes out again after u's own decay has kept alpha K of it
        kick = np.tile(stagger(nm), d)
        projs.append(FloatProjection(start, m, (kick + rec_off)[None, :]))
        projs.append(FloatProjection(start, m, (-np.repeat(alpha, nm) * kick)[None, :], delay=1))
    for c in range(c_n):  # hidden: steady current g e . z, bias puts the onset at e . z = intercept
        g = gains[c]
        win = np.zeros((c_n, h))
        win[c] = g * e[c, :, 0] * cal.gamma[c] * (1 - a_syn)
        # (d nm, H): every copy of m_i sends 1/nm of the weight, so the hidden neurons read the
        # population's nm-level code of m~_i + 1/2 (dense: no index arrays in a device's RAM)
        wmem = np.repeat(g[None, :] * e[c, :, 1:].T, nm, axis=0) * (1 - a_syn) / nm
        offset = -g * (e[c, :, 0] * cal.gamma[c] * cal.mean[c] + 0.5 * e[c, :, 1:].sum(axis=1))
        bias = (1 - a_mem) - g * icpt[c] + offset
        pops.append(FloatPopulation(Kind.LIF, h, tau_syn=params.hidden_tau_syn, tau_mem=params.hidden_tau_mem,
                                    bias=bias, threshold=1.0, reset=Reset.SOFT, name=f"hid{c}"))  # fmt: skip
        projs.append(FloatProjection(INPUT, idx[f"hid{c}"], win, sparse=True))
        projs.append(FloatProjection(idx[f"mem{c}"], idx[f"hid{c}"], wmem))
    pops.append(FloatPopulation(Kind.LI, k, tau_syn=None, tau_mem=math.inf, threshold=1.0, name="out"))
    for c in range(c_n):
        projs.append(FloatProjection(idx[f"hid{c}"], idx["out"], readout_w[c * h : (c + 1) * h]))
    projs.append(FloatProjection(idx["tonic"], idx["out"], readout_b[None, :]))
    outs = [FloatOutput(idx["out"], j) for j in range(k)]
    meta = {"family": "har", "l2mu_spec": asdict(spec), "l2mu_params": asdict(params), "calibration": cal.to_dict()}
    return FloatNetwork(c_n, pops, projs, outs, dt=dt, meta=meta)


def hidden_slices(net: Network) -> list[tuple[int, slice]]:
    """(population index, neuron slice in the concatenated hidden vector) of every hid<c> population."""
    out, start = [], 0
    for i, p in enumerate(net.populations):
        if p.name.startswith("hid"):
            out.append((i, slice(start, start + p.n)))
            start += p.n
    if not out:
        raise NetworkError("network has no hidden (hid<c>) populations; is it an L2MU network?")
    return out


def l2mu_network(
    spec: L2MUSpec,
    params: L2MUParams,
    cal: Calibration,
    calibration_input: np.ndarray,
    state_bits: int = 20,
    on_step: Callable[[int], None] | None = None,
) -> tuple[Network, FloatNetwork]:
    """The integer L2MU (readout still zero) and its float reference, quantised on `calibration_input` (T, C).

    Give `calibration_input` the training windows laid end to end (held, `spec.held`), so every
    state's range is seen. After `snnctl.quantize` the constant offsets are recomputed from the
    integer weights (`_consistent_offsets`), so that they cancel exactly in the integer network.
    `on_step(t)`: after each step of the float calibration run, the long part (progress).
    """
    from ..quantize import quantize

    fnet = l2mu_float_network(spec, params, cal)
    net, report = quantize(fnet, calibration_input, state_bits=state_bits, on_step=on_step)
    net.meta = {k: v for k, v in net.meta.items() if k != "quantized_from_float"}
    net.meta["state_scale"] = [float(v) for v in report.state_scale]
    _consistent_offsets(net, fnet, spec, cal)
    return net, fnet


def _int_weights(q: Projection) -> np.ndarray:
    """What one spike (or code) delivers through q, in the destination's integer current units."""
    return q.weights.astype(np.float64) * 2.0**q.exponent


def _fine_weights(q: Projection, target: np.ndarray, projs: list[Projection]) -> np.ndarray:
    """A second int8 part for q (7 bits finer), appended to `projs`; returns what q and it deliver.

    A hidden neuron's intercept sits at a quantile of its drive, where the drive is densest, so a
    weight off by a few per cent moves its spike count by tens of spikes (the integer network's and
    the float reference's counts parted by ~12 % on GunPoint with one int8 part). The second part,
    exponent e - 7, takes the first part's rounding error down to ~2^-7 of it: the two networks then
    differ only by the integer model's own rounding. `target` is q's real weight in integer units
    (rows of q's source, columns of its destination), as the quantiser computed it.
    """
    e2 = max(q.exponent - 7, EXPONENT_RANGE[0])
    rest = target - q.weights.astype(np.float64) * 2.0**q.exponent
    w2 = np.clip(np.rint(rest / 2.0**e2), -128, 127).astype(np.int8)
    if q.sparse:  # keep the first part's pattern: a sparse projection's zeros are not stored
        w2[q.weights == 0] = 0
    if np.any(w2 != 0):
        projs.append(Projection(q.src, q.dst, w2, e2, q.recurrent, q.delay, q.sparse))
    return _int_weights(q) + (w2.astype(np.float64) * 2.0**e2)


def _consistent_offsets(net: Network, fnet: FloatNetwork, spec: L2MUSpec, cal: Calibration) -> None:
    """Recompute every constant offset of the integer network from its own rounded weights.

    The spike codes carry offsets (a memory or encoder spike codes value + 1/2) and the inputs a
    mean; the float reference cancels them exactly. Quantised independently, a cancelling current
    would be off by up to half an int8 step of its own projection, and in the memory, whose DC
    gain is ~theta/dt, that would become a standing error of the memory state. So here:

    * encoder bias = theta/2 - w_in * code(mean)  (on v; the encoder has no synaptic memory);
    * the memory's cancelling currents = -(what its recurrent and encoder projections deliver for
      the codes' constant parts), as int8 parts with exponents >= 0 (`int8_parts`): exact to half
      an LSB of the memory state;
    * hidden bias = the float design's bias without its offset part, plus the offset the integer
      weights actually produce, through the integer synapse's DC gain 4096 / du;
    * the stagger impulses from `start` (one int8 part each where only a phase is wanted, and the
      memory's step-1 removal matched to the step-0 impulse through the integer decay, `kick_for`);
    * the `start` neuron itself, set exactly: bias = theta = a_step, dv = 4096, da = 0.
    """
    idx = population_index(spec)
    s = np.asarray(net.meta["state_scale"], dtype=np.float64)
    sigma = np.asarray(net.input_scale, dtype=np.float64)
    tonic, start = idx["tonic"], idx["start"]
    by_key = {(q.src, q.dst, q.lag): q for q in net.projections}
    f_by_key = {(q.src, q.dst, q.lag): q for q in fnet.projections}
    ne, nm = spec.encoder_neurons, spec.memory_neurons
    # every current from tonic and start into the encoders and memories is rebuilt below
    projs = [q for q in net.projections if q.src not in (tonic, start) or q.dst == idx["out"]]
    # start: fires at step 0 only (v = bias = theta; then theta + a = 2 theta > v for ever)
    th = int(net.populations[start].theta[0])
    net.populations[start] = Population(Kind.ALIF, 1, du=DECAY_ONE, dv=DECAY_ONE, bias=th, theta=th, da=0,
                                        a_step=th, name="start")  # fmt: skip

    def add(src: int, dst: int, target: np.ndarray, delay: int = 0, max_parts: int | None = None) -> np.ndarray:
        """Projections src -> dst delivering `target` (exact, or to max_parts parts); returns what they deliver."""
        parts = int8_parts(target, max_parts)
        got = sum(w.astype(np.int64) * 2**e for w, e in parts)
        if np.any(got != 0):
            projs.extend(Projection(src, dst, w[None, :], exponent=e, delay=delay) for w, e in parts if np.any(w != 0))
        return got

    for c in range(spec.n_channels):
        e_i, m_i, h_i = idx[f"enc{c}"], idx[f"mem{c}"], idx[f"hid{c}"]
        mu_code = cal.mean[c] / sigma[c]  # the channel mean in input codes (real)
        enc = net.populations[e_i]
        w_in = _int_weights(by_key[(INPUT, e_i, 0)])[c]  # (ne,)
        enc.bias = np.rint(enc.theta / 2 - w_in * mu_code).astype(np.int64)
        const_e = (enc.bias + w_in * mu_code) / enc.theta  # constant part of each encoder's rate (1/2)
        # encoder stagger: u = I (du = 4096), so +K at step 0 puts exactly K into v and nothing into u
        # later. Any K near k theta / ne staggers as well: one int8 part
        add(start, e_i, enc.theta * stagger(ne), max_parts=1)
        mem = net.populations[m_i]
        const_m = mem.bias / mem.theta  # constant part of each memory neuron's rate (1/2 up to rounding)
        # the memories of all windows share one recurrent projection, whose exponent the shortest sets:
        # a second, finer part keeps the longest memory's small couplings (dt / theta) as exact
        w_rec = _fine_weights(by_key[(m_i, m_i, 1)], f_by_key[(m_i, m_i, 1)].weights / s[m_i], projs)
        w_enc = _fine_weights(by_key[(e_i, m_i, 0)], f_by_key[(e_i, m_i, 0)].weights / s[m_i], projs)
        rec_off = np.rint(const_m @ w_rec)
        enc_off = np.rint(const_e @ w_enc)
        add(tonic, m_i, -(rec_off + enc_off))  # exact: an error here would be a standing memory error
        # memory stagger: +K into u at step 0; u then loses floor(u du / 4096) to its decay, of which
        # g(K) = K - floor(K du / 4096) stays (to 1 LSB: decay(m + K) - decay(m) is g(K) or g(K) - 1),
        # and step 1 takes g(K) out. The removal Q is one int8 part near the wanted phase; K solves
        # g(K) = Q (g rises by 0 or 1 per unit, so it does). Step 0 also gets rec_off back (no memory
        # spike has arrived yet to need cancelling); that current is two parts, its rounding a
        # one-time kick of at most 2^(e - 1) LSB, which the memory forgets like any initial state
        q = add(start, m_i, -mem.theta * np.tile(stagger(nm), spec.memory_dims) * (1 - mem.du / DECAY_ONE), delay=1,
                max_parts=1)  # fmt: skip
        k_m = np.array([kick_for(-int(qi), int(du)) for qi, du in zip(q, mem.du, strict=True)], dtype=np.float64)
        add(start, m_i, k_m + rec_off, max_parts=2)
        hid, fhid = net.populations[h_i], fnet.populations[h_i]
        k_syn = 1.0 - decay_factor(fhid.tau_syn, fnet.dt)  # float synapse: DC gain 1 / k_syn
        f_in, f_mem = f_by_key[(INPUT, h_i, 0)].weights[c], f_by_key[(m_i, h_i, 0)].weights
        offset_f = -(f_in * cal.mean[c] + 0.5 * f_mem.sum(axis=0)) / k_syn
        f_in_all = f_by_key[(INPUT, h_i, 0)].weights * sigma[:, None] / s[h_i]  # (C, H), row c non-zero
        w_in_h = _fine_weights(by_key[(INPUT, h_i, 0)], f_in_all, projs)[c]
        w_mem_h = _fine_weights(by_key[(m_i, h_i, 0)], f_mem / s[h_i], projs)
        offset_i = -(w_in_h * mu_code + const_m @ w_mem_h) * DECAY_ONE / hid.du
        hid.bias = np.rint((fhid.bias - offset_f) / s[h_i] + offset_i).astype(np.int64)
    net.projections = projs
    net.validate()


WEIGHT_PARTS_MAX = 127 * 128 + 64  # largest |integer weight| two int8 parts (exponents 7 and 0) represent


@dataclass
class IntegerReadout:
    """The readout as installed: integer weights and bias in units of v, real score per unit of v."""

    weights: np.ndarray  # (n_hidden, K) int64: the sum of the int8 parts times 2^exponent
    bias: np.ndarray  # (K,) int64, added to v every step
    lsb: float  # real score per unit of v
    shift: int  # output code = floor(v / 2^shift)


def kick_for(q: int, du: int) -> int:
    """The smallest K >= 0 with K - floor(K du / 4096) = q >= 0: the impulse of which one step of decay leaves q."""
    if q < 0 or not 0 <= du < DECAY_ONE:
        raise ValueError(f"kick_for needs q >= 0 and 0 <= du < {DECAY_ONE}, got q = {q}, du = {du}")
    # g(K) = K - floor(K du / 4096) lies in [K (1 - du/4096), K (1 - du/4096) + 1) and rises by 0 or 1
    # per unit of K: start below the solution and walk up to the first K with g(K) = q
    k = max(0, (q * DECAY_ONE) // (DECAY_ONE - du) - DECAY_ONE // (DECAY_ONE - du) - 2)
    while k - (k * du) // DECAY_ONE < q:
        k += 1
    return k


def int8_parts(target: np.ndarray, max_parts: int | None = None) -> list[tuple[np.ndarray, int]]:
    """int8 arrays w_p with exponents e_p >= 0 such that sum_p w_p 2^e_p = round(target), exactly.

    Exponents are never negative, so a projection's `scale(acc, e)` is an exact multiplication
    (docs/integer-model.md §1), and the parts of one weight add up without any rounding. Each part
    takes the next 7 bits; |round(target)| <= WEIGHT_PARTS_MAX needs two parts, any value < 2^22
    at most four. With `max_parts` the parts stop there: the sum is then round(target) to within
    2^(e - 1) of the last part's exponent e (each part rounds what is left to nearest).
    """
    rest = np.rint(np.asarray(target, dtype=np.float64))
    if np.any(np.abs(rest) >= 2**22):
        raise NetworkError("int8_parts: integer weights must stay below 2^22 in magnitude")
    parts: list[tuple[np.ndarray, int]] = []
    while (np.any(rest != 0) or not parts) and (max_parts is None or len(parts) < max_parts):
        peak = float(np.abs(rest).max(initial=0.0))
        e = 0  # smallest e >= 0 with round(rest / 2^e) inside int8
        while np.rint(peak / 2.0**e) > 127:
            e += 1
        w = np.clip(np.rint(rest / 2.0**e), -128, 127)
        parts.append((w.astype(np.int8), e))
        rest = rest - w * 2.0**e
    return parts


def _peak_bound(w: np.ndarray, b_step: np.ndarray, steps: int, counts: np.ndarray, running: tuple | None) -> float:
    """A bound on |v| of the readout at every step of the training windows, for weights w per spike and
    b_step per step (real or integer units).

    Without `running`: sum_j |w_j| c_j + steps |b_step| on the final counts (counts only grow; no
    cancellation assumed). With `running` = (counts so far (N, K, n_hidden) after the steps `at`
    (K,), the last = the window's end): |v| at each check exactly, and between two checks at most
    the last check's |v| plus what the spikes and steps in between can add. The fitted map cancels
    large terms (centred counts), so on long windows this bound is orders of magnitude tighter,
    and the readout's lsb (its rounding) scales with the scores, not with the window's length.
    """
    if running is None:
        return float((counts @ np.abs(w) + steps * np.abs(b_step)[None, :]).max(initial=0.0))
    c_at, at = running
    t_at = np.asarray(at, dtype=np.float64) + 1.0  # steps done after each check
    v = np.abs(c_at @ w + t_at[None, :, None] * b_step[None, None, :])  # (N, K, classes)
    dc = np.diff(c_at, axis=1, prepend=0.0)  # spikes in each interval
    dt = np.diff(t_at, prepend=0.0)
    inc = dc @ np.abs(w) + dt[None, :, None] * np.abs(b_step)[None, None, :]
    before = np.concatenate([np.zeros_like(v[:, :1]), v[:, :-1]], axis=1)
    return float(np.maximum(v, before + inc).max(initial=0.0))


def install_readout(net: Network, fnet: FloatNetwork, w: np.ndarray, b: np.ndarray, counts: np.ndarray,
                    steps: int, running: tuple[np.ndarray, np.ndarray] | None = None) -> IntegerReadout:  # fmt: skip
    """Put the fitted linear map score = w . counts + b (w: (n_hidden, K), b: (K,)) into both networks.

    Integer side, exactly: the readout population is LI with du = 4096 (u = I, no synaptic memory)
    and dv = 0 (no leak); each hidden->out weight is the sum of int8 parts with exponents >= 0
    (`int8_parts`: up to 15 bits, the fitted map cancels large terms and needs them), and the
    bias comes a `steps`-th per step from the `tonic` neuron, the same way (the readout is a time
    sum: after t steps it holds t/steps of the bias, which keeps running scores comparable for
    early exit). After t steps from reset, with c_j the spike counts so far,
        v_k = sum_j W[j, k] * c_j + t * beta_k        (integers, no rounding anywhere)
    with W = round(w / lsb), beta = round(b / (steps * lsb)): after `steps` steps the deployed
    score lsb * v differs from the fitted map only by these roundings,
        |lsb * v - (w . c + b)| <= lsb / 2 * (sum_j c_j + steps).
    `counts` (N, n_hidden), the training windows' final counts, sizes the lsb: as fine as two
    parts allow, but coarse enough that a bound on |v| at every step of every training window
    (`_peak_bound`; tighter with `running` = (counts so far (N, K, n_hidden), their step indices
    (K,))) stays below 2^22 (a factor 2 to spare below 24-bit saturation); the output shift keeps
    their final scores inside int16, twice.
    Float side: the same w per spike and b / steps per step in the reference's readout.
    """
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    sl = hidden_slices(net)
    n_h = sum(s.stop - s.start for _, s in sl)
    k = net.n_outputs
    if w.shape != (n_h, k) or b.shape != (k,):
        raise ValueError(f"readout must be ({n_h}, {k}) weights and ({k},) biases, got {w.shape} and {b.shape}")
    if counts.ndim != 2 or counts.shape[1] != n_h or counts.shape[0] == 0:
        raise ValueError(f"counts must be (N, {n_h}) spike counts of the training windows, got {counts.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise ValueError("readout weights and biases must be finite")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    names = [p.name for p in net.populations]
    out_pop, tonic = names.index("out"), names.index("tonic")
    w_max = float(np.abs(w).max(initial=0.0))
    if running is not None:
        running = (np.asarray(running[0], dtype=np.float64), np.asarray(running[1], dtype=np.int64))
        if running[0].ndim != 3 or running[0].shape[2] != n_h or running[1][-1] != steps - 1:
            raise ValueError("running must be (counts so far (N, K, n_hidden), step indices (K,) ending at steps - 1)")
    reach = _peak_bound(w, b / steps, steps, counts, running)
    lsb = max(w_max / (127 * 128), reach / 2**22, 1e-300)
    while True:  # rounding can push a bound over by a hair: check in integers, coarsen if needed
        w_int = np.rint(w / lsb).astype(np.int64)
        b_int = np.rint(b / (steps * lsb)).astype(np.int64)
        if _peak_bound(w_int.astype(np.float64), b_int.astype(np.float64), steps, counts, running) < 2**22:
            break
        lsb *= 1.01
    final = np.abs(counts @ w_int + steps * b_int[None, :]).max(initial=1.0)
    shift = max(0, math.ceil(math.log2(2 * final / 32767)))
    p = net.populations[out_pop]
    net.populations[out_pop] = Population(Kind.LI, p.n, du=DECAY_ONE, dv=0, bias=0, theta=p.theta, name=p.name)
    keep = [q for q in net.projections if q.dst != out_pop]
    for pop, s in sl:
        keep += [Projection(pop, out_pop, part, exponent=e) for part, e in int8_parts(w_int[s])]
    keep += [Projection(tonic, out_pop, part[None, :], exponent=e) for part, e in int8_parts(b_int)]
    net.projections = keep
    net.outputs = [Output(out_pop, j, shift=shift, scale=float(np.float32(lsb * 2**shift))) for j in range(k)]
    net.meta = {**net.meta, "readout": {"lsb": lsb, "shift": shift, "steps": int(steps)}}
    net.validate()
    fkeep = [q for q in fnet.projections if q.dst != out_pop]
    fkeep += [FloatProjection(pop, out_pop, w[s]) for pop, s in sl]
    fkeep.append(FloatProjection(tonic, out_pop, b[None, :] / steps))
    fnet.projections = fkeep
    fnet.validate()
    return IntegerReadout(w_int, b_int, lsb, shift)


# -- features: hidden spike counts, computed by the integer model itself -----------------------------


def count_networks(net: Network) -> list[Network]:
    """Copies of `net` whose readout counts hidden spikes: output j of copy i = spikes of hidden neuron 256 i + j.

    The readout is replaced by an LI population with identity weights (exponent 0), du = 4096 and
    dv = 0, so its v after t steps is exactly the number of spikes the neuron fired so far: the
    same sum the real readout weights. At most 256 outputs per network, hence a list.
    """
    sl = hidden_slices(net)
    out_pop = len(net.populations) - 1
    if net.populations[out_pop].name != "out":
        raise NetworkError("the last population of an L2MU network must be its readout 'out'")
    n_h = sum(s.stop - s.start for _, s in sl)
    nets = []
    for start in range(0, n_h, MAX_OUTPUTS):
        stop = min(n_h, start + MAX_OUTPUTS)
        projs = [q for q in net.projections if q.dst != out_pop]
        for pop, s in sl:
            lo, hi = max(s.start, start), min(s.stop, stop)
            if lo >= hi:
                continue
            w = np.zeros((s.stop - s.start, stop - start), np.int8)
            w[np.arange(lo, hi) - s.start, np.arange(lo, hi) - start] = 1
            projs.append(Projection(pop, out_pop, w, exponent=0, sparse=True))
        pops = list(net.populations[:out_pop]) + [Population(Kind.LI, stop - start, du=DECAY_ONE, dv=0, name="count")]
        outs = [Output(out_pop, j) for j in range(stop - start)]
        nets.append(Network(net.n_inputs, pops, projs, outs, net.input_scale, net.input_zero, meta={}))
    return nets


def hidden_counts(
    nets: list[Network] | list[list[Network]], codes: np.ndarray, at: np.ndarray | None = None
) -> np.ndarray:
    """Spike count of every hidden neuron over each window: codes (B, T, C) -> (B, n_hidden) int64.

    `nets` is `count_networks(net)` (one network for every row of codes), or one such list per row
    (evolution: a different network per row). Runs `snnctl.runtime.run_batch` on the integer model.
    With `at` (step indices), the counts so far after each of those steps: (B, len(at), n_hidden),
    the partial-window features early exit is fitted on (the same run, no extra cost).
    """
    from ..runtime import run_batch

    codes = np.asarray(codes)
    per_row = bool(nets) and isinstance(nets[0], list)
    groups = len(nets[0]) if per_row else len(nets)
    if codes.shape[1] > 32767:
        raise ValueError(f"windows of {codes.shape[1]} steps: spike counts are read as int16 codes (<= 32767)")
    steps = np.array([codes.shape[1] - 1]) if at is None else np.asarray(at, dtype=np.int64)
    out = []
    for g in range(groups):
        batch = [row[g] for row in nets] if per_row else [nets[g]] * codes.shape[0]
        res = run_batch(batch, codes)
        out.append(res[:, steps, :].astype(np.int64))
    counts = np.concatenate(out, axis=2)
    return counts[:, 0, :] if at is None else counts


def memory_error(net: Network, fnet: FloatNetwork, x: np.ndarray) -> dict[str, float]:
    """The integer spiking memory against the exact float LMU, on windows x (N, C, T).

    Both in the memory's scaled units (|m~| <= 0.45 on the training data): the float LMU fed the
    exact normalised input, the integer memory read as u * state_scale from `run_trace` (the mean
    over a dimension's copies, which agree to a few LSB). Returns the RMS and max absolute error and
    the RMS of the float memory itself, over all windows, channels, dimensions and steps from step
    1 on (at step 0 u holds the stagger impulse by design). Give windows of every class: the RMS of
    the signal, and so the ratio, depends on the activity (a standing subject barely moves it).
    """
    from ..runtime import run_trace

    meta = fnet.meta
    spec = L2MUSpec(**meta["l2mu_spec"])
    params = L2MUParams(**meta["l2mu_params"])
    cal = Calibration.from_dict(meta["calibration"])
    x = _check_windows(x, spec.n_channels)
    abar, bbar = memory_matrices(spec, params)
    idx = population_index(spec)
    off = net.offsets()
    scale = net.meta.get("state_scale")
    if scale is None:
        raise NetworkError("memory_error needs net.meta['state_scale'] (set by l2mu_network)")
    errs, refs = [], []
    held = spec.held(x)
    for n in range(x.shape[0]):
        xn = cal.gamma[None, :] * (held[n] - cal.mean[None, :])  # (T', C)
        ref = simulate_memory(abar, bbar, xn) / cal.mem_scale[None]  # (T', C, d)
        tr = run_trace(net, net.quantize_inputs(held[n]))
        for c in range(spec.n_channels):
            p = idx[f"mem{c}"]
            # every copy of a dimension holds the same u (to the stagger's 1 LSB): take their mean
            got = (
                (tr.u[:, off[p] : off[p + 1]] * scale[p])
                .reshape(-1, spec.memory_dims, spec.memory_neurons)
                .mean(axis=2)
            )
            errs.append(got[1:] - ref[1:, c])  # step 0: u holds the stagger impulse (by design)
            refs.append(ref[1:, c])
    err, ref = np.concatenate(errs), np.concatenate(refs)
    return {"rms": float(np.sqrt(np.mean(err**2))), "max": float(np.abs(err).max()),
            "rms_signal": float(np.sqrt(np.mean(ref**2)))}  # fmt: skip
