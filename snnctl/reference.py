"""The float reference model: the integer model's topology and update order with real parameters.

This is what a user designs or trains in (time constants in seconds, real weights and thresholds),
and what `snnctl.quantize` maps onto the integer model of docs/integer-model.md. Every rule of §3
holds here with two changes only: states are float64, and `decay(x, d)` becomes `alpha * x` with
`alpha = exp(-dt / tau)`. Inputs enter `INPUT` projections as real values, not codes.

It is a reference, not the fast path: a numpy loop over time, vectorised over neurons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .network import (
    INPUT,
    MAX_DELAY,
    MAX_INPUTS,
    MAX_NEURONS,
    MAX_OUTPUTS,
    MAX_POPULATIONS,
    MAX_PROJECTIONS,
    MAX_REFRACTORY,
    Kind,
    NetworkError,
    Reset,
)


def _floats(value: Any, n: int, name: str, where: str, allow_none: bool = False) -> np.ndarray:
    """A scalar or (n,) array as float64 (n,); None means 0 when allowed."""
    if value is None:
        if not allow_none:
            raise NetworkError(f"{where}: {name} must be given")
        value = 0.0
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"{where}: {name} must be real numbers ({exc})") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise NetworkError(f"{where}: {name} must be a scalar or have shape ({n},), got {arr.shape}")
    return arr


def _first_bad(mask: np.ndarray, arr: np.ndarray, name: str, where: str, rule: str) -> None:
    bad = np.flatnonzero(mask)
    if bad.size:
        i = int(bad[0])
        more = f" ({bad.size} bad values)" if bad.size > 1 else ""
        raise NetworkError(f"{where}: {name}[{i}] = {arr[i]!r} {rule}{more}")


def decay_factor(tau: np.ndarray, dt: float) -> np.ndarray:
    """Per-step retention alpha = exp(-dt/tau); tau = 0 -> 0 (no memory), tau = inf -> 1 (no leak)."""
    tau = np.asarray(tau, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(tau > 0, np.exp(-dt / np.where(tau > 0, tau, 1.0)), 0.0)


@dataclass
class FloatPopulation:
    """Real-valued neurons of one kind. Time constants are seconds; None or 0 means 'no memory'.

    `tau_syn` None/0 makes the current non-persistent (u = I each step, integer du = 4096);
    `tau_mem` inf means no membrane leak (dv = 0). `threshold` is the firing threshold (LIF,
    ALIF), the delta (DELTA), and ignored by LI (but must still be > 0).
    """

    kind: Kind
    n: int
    tau_syn: Any = None
    tau_mem: Any = math.inf
    bias: Any = 0.0
    threshold: Any = 1.0
    reset: Reset = Reset.HARD
    refractory: int = 0
    tau_adapt: float = math.inf
    adapt_step: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        self.reset = Reset(self.reset)
        self.n = int(self.n)
        where = f"population {self.name!r}"
        if not 1 <= self.n <= MAX_NEURONS:
            raise NetworkError(f"{where}: n = {self.n} is outside 1..{MAX_NEURONS}")
        self.tau_syn = _floats(self.tau_syn, self.n, "tau_syn", where, allow_none=True)
        self.tau_mem = _floats(self.tau_mem, self.n, "tau_mem", where, allow_none=True)
        self.bias = _floats(self.bias, self.n, "bias", where)
        self.threshold = _floats(self.threshold, self.n, "threshold", where)
        self.tau_adapt = 0.0 if self.tau_adapt is None else float(self.tau_adapt)
        self.adapt_step = float(self.adapt_step)
        self.refractory = int(self.refractory)
        self.validate(where)

    def validate(self, where: str) -> None:
        for name in ("tau_syn", "tau_mem"):
            arr = getattr(self, name)
            _first_bad(np.isnan(arr) | (arr < 0), arr, name, where, "must be >= 0 seconds (inf = no leak)")
        _first_bad(~np.isfinite(self.bias), self.bias, "bias", where, "must be finite")
        th = self.threshold
        _first_bad(~np.isfinite(th) | (th <= 0), th, "threshold", where, "must be finite and > 0")
        if not 0 <= self.refractory <= MAX_REFRACTORY:
            raise NetworkError(f"{where}: refractory = {self.refractory} is outside 0..{MAX_REFRACTORY} steps")
        if math.isnan(self.tau_adapt) or self.tau_adapt < 0:
            raise NetworkError(f"{where}: tau_adapt = {self.tau_adapt} must be >= 0 seconds (inf = no decay)")
        if not math.isfinite(self.adapt_step) or self.adapt_step < 0:
            raise NetworkError(f"{where}: adapt_step = {self.adapt_step} must be finite and >= 0")


@dataclass
class FloatProjection:
    """Real weights (n_src, n_dst) from INPUT (-1) or a population index to a population."""

    src: int
    dst: int
    weights: Any
    recurrent: bool = False
    delay: int = 0
    sparse: bool = False

    def __post_init__(self) -> None:
        where = f"projection {self.src}->{self.dst}"
        try:
            w = np.array(self.weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise NetworkError(f"{where}: weights must be real numbers ({exc})") from None
        if w.ndim != 2:
            raise NetworkError(f"{where}: weights must be 2-D (n_src, n_dst), got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            i, j = np.argwhere(~np.isfinite(w))[0]
            raise NetworkError(f"{where}: weights[{i}, {j}] = {w[i, j]} is not finite")
        self.weights = w
        self.src, self.dst, self.delay = int(self.src), int(self.dst), int(self.delay)
        self.recurrent, self.sparse = bool(self.recurrent), bool(self.sparse)

    @property
    def lag(self) -> int:
        return self.delay + int(self.recurrent)


@dataclass
class FloatOutput:
    """Output = membrane v of one neuron, in the network's real units."""

    pop: int
    neuron: int


@dataclass
class FloatNetwork:
    n_inputs: int
    populations: list[FloatPopulation]
    projections: list[FloatProjection]
    outputs: list[FloatOutput]
    dt: float = 1e-3
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.n_inputs, self.dt = int(self.n_inputs), float(self.dt)
        self.validate()

    @property
    def n_neurons(self) -> int:
        return sum(p.n for p in self.populations)

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    def src_size(self, q: FloatProjection) -> int:
        return self.n_inputs if q.src == INPUT else self.populations[q.src].n

    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([p.n for p in self.populations])]).astype(np.int64)

    def validate(self) -> None:
        """The integer model's structural rules (docs §2), so every valid float net can be quantised."""
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise NetworkError(f"network: dt = {self.dt} must be finite and > 0 seconds")
        if not 1 <= self.n_inputs <= MAX_INPUTS:
            raise NetworkError(f"network: n_inputs = {self.n_inputs} is outside 1..{MAX_INPUTS}")
        n_pop = len(self.populations)
        if not 1 <= n_pop <= MAX_POPULATIONS:
            raise NetworkError(f"network: {n_pop} populations; allowed 1..{MAX_POPULATIONS}")
        if len(self.projections) > MAX_PROJECTIONS:
            raise NetworkError(f"network: {len(self.projections)} projections; at most {MAX_PROJECTIONS}")
        if not 1 <= len(self.outputs) <= MAX_OUTPUTS:
            raise NetworkError(f"network: {len(self.outputs)} outputs; allowed 1..{MAX_OUTPUTS}")
        if self.n_neurons > MAX_NEURONS:
            raise NetworkError(f"network: {self.n_neurons} neurons in all; at most {MAX_NEURONS}")
        for i, p in enumerate(self.populations):
            p.validate(f"population {i} {p.name!r}")
        for k, q in enumerate(self.projections):
            where = f"projection {k} ({'INPUT' if q.src == INPUT else q.src}->{q.dst})"
            if not 0 <= q.dst < n_pop:
                raise NetworkError(f"{where}: dst = {q.dst} is not a population index (0..{n_pop - 1})")
            if q.src != INPUT and not 0 <= q.src < n_pop:
                raise NetworkError(f"{where}: src = {q.src} is not a population index or INPUT (-1)")
            shape = (self.src_size(q), self.populations[q.dst].n)
            if q.weights.shape != shape:
                raise NetworkError(f"{where}: weights have shape {q.weights.shape}, expected {shape} (n_src, n_dst)")
            if not 0 <= q.delay <= MAX_DELAY:
                raise NetworkError(f"{where}: delay = {q.delay} is outside 0..{MAX_DELAY}")
            if q.src == INPUT and q.lag:
                raise NetworkError(f"{where}: projections from INPUT must have delay 0 and recurrent=False")
            if q.src != INPUT and q.lag == 0 and q.src >= q.dst:
                raise NetworkError(f"{where}: a same-step (lag 0) projection must run from an earlier population"
                                   " to a later one; set recurrent=True or a delay >= 1")  # fmt: skip
        for k, o in enumerate(self.outputs):
            if not 0 <= o.pop < n_pop:
                raise NetworkError(f"output {k}: pop = {o.pop} is not a population index (0..{n_pop - 1})")
            if not 0 <= o.neuron < self.populations[o.pop].n:
                raise NetworkError(f"output {k}: neuron = {o.neuron} is outside 0..{self.populations[o.pop].n - 1}")


@dataclass
class FloatTrace:
    outputs: np.ndarray  # (T, n_out) float64: the output neurons' v
    spikes: np.ndarray  # (T, N) uint8, neurons in population order
    u: np.ndarray  # (T, N) float64
    v: np.ndarray
    a: np.ndarray


def check_inputs(x: Any, n_inputs: int) -> np.ndarray:
    """Real inputs as a finite float64 (T, n_inputs) array, or a NetworkError saying what is wrong."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise NetworkError(f"inputs must have shape (T, n_inputs) with n_inputs = {n_inputs}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        t, c = np.argwhere(~np.isfinite(x))[0]
        raise NetworkError(f"inputs[{t}, {c}] = {x[t, c]} is not finite; the float reference takes real values only")
    return x


def simulate(fnet: FloatNetwork, x: Any, on_step: Callable[[int], None] | None = None) -> FloatTrace:
    """Run the float model from rest over real inputs x (T, n_inputs), recording every state.

    `on_step(t)` is called after each step: a progress bar for long runs (a float step is Python)."""
    stepper = FloatStepper(fnet)  # validates the network first
    x = check_inputs(x, fnet.n_inputs)
    t_len, n_all = x.shape[0], fnet.n_neurons
    tr = FloatTrace(np.zeros((t_len, fnet.n_outputs)), np.zeros((t_len, n_all), np.uint8),
                    np.zeros((t_len, n_all)), np.zeros((t_len, n_all)), np.zeros((t_len, n_all)))  # fmt: skip
    for t in range(t_len):
        tr.outputs[t] = stepper.step(x[t])
        tr.spikes[t] = stepper.last_spikes
        tr.u[t], tr.v[t], tr.a[t] = np.concatenate(stepper.u), np.concatenate(stepper.v), np.concatenate(stepper.a)
        if on_step is not None:
            on_step(t)
    return tr


class FloatStepper:
    """The float model stepped once per call, state kept between calls: what a control loop needs,
    and what `simulate` runs T times (one implementation of the step)."""

    def __init__(self, fnet: FloatNetwork) -> None:
        fnet.validate()
        self.fnet = fnet
        self._input = INPUT
        pops = fnet.populations
        self._off = fnet.offsets()
        self._alpha_u = [decay_factor(p.tau_syn, fnet.dt) for p in pops]
        self._alpha_v = [decay_factor(p.tau_mem, fnet.dt) for p in pops]
        self._alpha_a = [float(decay_factor(p.tau_adapt, fnet.dt)) for p in pops]
        self._incoming = [[q for q in fnet.projections if q.dst == i] for i in range(len(pops))]
        self._depth = 1 + max((q.lag for q in fnet.projections if q.src != INPUT), default=0)
        self.reset()

    def reset(self) -> None:
        pops = self.fnet.populations
        self.u = [np.zeros(p.n) for p in pops]
        self.v = [np.zeros(p.n) for p in pops]
        self.a = [np.zeros(p.n) for p in pops]
        self.r = [np.zeros(p.n, np.int64) for p in pops]
        self._hist = np.zeros((self._depth, self.fnet.n_neurons), np.uint8)  # spike rows, ring by step
        self.t = 0
        self.last_spikes = self._hist[0]
        self.spikes = 0
        self.synops = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        """Real inputs (n_inputs,) -> the output neurons' v (n_outputs,), float64."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        fnet, off, t = self.fnet, self._off, self.t
        now = self._hist[t % self._depth]
        now[:] = 0
        synops = 0
        for i, p in enumerate(fnet.populations):
            current = np.zeros(p.n)
            for q in self._incoming[i]:
                if q.src == self._input:
                    current += x @ q.weights
                    rows = np.flatnonzero(x)
                else:
                    if t < q.lag:
                        continue
                    row = self._hist[(t - q.lag) % self._depth]
                    rows = np.flatnonzero(row[off[q.src] : off[q.src + 1]])
                    if rows.size:  # only firing rows are touched, as in simulate()
                        current += q.weights[rows].sum(axis=0)
                # synops as docs/integer-model.md section 5: synapses in the rows of non-zero sources
                synops += int(np.count_nonzero(q.weights[rows])) if q.sparse else rows.size * q.weights.shape[1]
            s = _update(p, self.u[i], self.v[i], self.a[i], self.r[i], current,
                        self._alpha_u[i], self._alpha_v[i], self._alpha_a[i])  # fmt: skip
            now[off[i] : off[i + 1]] = s
        self.t += 1
        self.last_spikes = now
        self.spikes = int(now.sum())
        self.synops = synops
        return np.array([self.v[o.pop][o.neuron] for o in fnet.outputs])


def _update(p: FloatPopulation, u: np.ndarray, v: np.ndarray, a: np.ndarray, r: np.ndarray, current: np.ndarray,
            alpha_u: np.ndarray, alpha_v: np.ndarray, alpha_a: float) -> np.ndarray:  # fmt: skip
    """One neuron update of docs §3 in float; updates u, v, a, r in place and returns spikes."""
    u *= alpha_u
    u += current
    s = np.zeros(p.n, np.uint8)
    if p.kind == Kind.LI:
        v[:] = alpha_v * v + u + p.bias
    elif p.kind == Kind.DELTA:
        rise = u - v >= p.threshold
        fall = ~rise & (u < v)
        s[rise] = 1
        v[rise | fall] = u[rise | fall]
    else:
        free = r == 0
        r[~free] -= 1
        v[free] = alpha_v[free] * v[free] + u[free] + p.bias[free]
        th = p.threshold + a
        fire = free & (v >= th)
        s[fire] = 1
        if p.reset == Reset.HARD:
            v[fire] = 0.0
        else:
            v[fire] -= th[fire]
        r[fire] = p.refractory
        if p.kind == Kind.ALIF:
            a *= alpha_a
            a += p.adapt_step * s
    return s


@dataclass
class FloatBatch:
    """What `simulate_batch` records: the outputs at every step and each neuron's spike count."""

    outputs: np.ndarray  # (B, T, n_out) float64: the output neurons' v
    counts: np.ndarray  # (B, N) int64: spikes of every neuron over the run, neurons in population order


def simulate_batch(fnet: FloatNetwork, x: Any, on_step: Callable[[int], None] | None = None) -> FloatBatch:
    """The float model on B input sequences at once, each from rest: x (B, T, n_inputs).

    The same update as `FloatStepper.step` (population order, lags, docs §3), with a batch axis, so
    a whole test split costs T numpy steps instead of B x T Python ones: what evaluating the float
    reference of a classifier needs. Row b equals `simulate(fnet, x[b])` (tested)."""
    stepper = FloatStepper(fnet)  # validates, and holds the decays and each population's projections
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise NetworkError(f"inputs must have shape (B, T, n_inputs), got {x.shape}")
    for b in range(x.shape[0]):
        check_inputs(x[b], fnet.n_inputs)
    n_b, t_len = x.shape[0], x.shape[1]
    pops, off, depth = fnet.populations, stepper._off, stepper._depth
    u = [np.zeros((n_b, p.n)) for p in pops]
    v = [np.zeros((n_b, p.n)) for p in pops]
    a = [np.zeros((n_b, p.n)) for p in pops]
    r = [np.zeros((n_b, p.n), np.int64) for p in pops]
    hist = np.zeros((depth, n_b, fnet.n_neurons))  # spike rows (as floats: they multiply weights)
    out = FloatBatch(np.zeros((n_b, t_len, fnet.n_outputs)), np.zeros((n_b, fnet.n_neurons), np.int64))
    for t in range(t_len):
        now = hist[t % depth]
        now[:] = 0.0
        for i, p in enumerate(pops):
            current = np.zeros((n_b, p.n))
            for q in stepper._incoming[i]:
                if q.src == INPUT:
                    current += x[:, t] @ q.weights
                elif t >= q.lag:
                    current += hist[(t - q.lag) % depth][:, off[q.src] : off[q.src + 1]] @ q.weights
            now[:, off[i] : off[i + 1]] = _update_batch(p, u[i], v[i], a[i], r[i], current, stepper._alpha_u[i],
                                                        stepper._alpha_v[i], stepper._alpha_a[i])  # fmt: skip
        out.counts += now.astype(np.int64)
        for k, o in enumerate(fnet.outputs):
            out.outputs[:, t, k] = v[o.pop][:, o.neuron]
        if on_step is not None:
            on_step(t)
    return out


def _update_batch(p: FloatPopulation, u: np.ndarray, v: np.ndarray, a: np.ndarray, r: np.ndarray, current: np.ndarray,
                  alpha_u: np.ndarray, alpha_v: np.ndarray, alpha_a: float) -> np.ndarray:  # fmt: skip
    """`_update` with a leading batch axis (B, n): the same arithmetic, masks as np.where."""
    u *= alpha_u
    u += current
    s = np.zeros(u.shape)
    if p.kind == Kind.LI:
        v[:] = alpha_v * v + u + p.bias
    elif p.kind == Kind.DELTA:
        rise = u - v >= p.threshold
        fall = ~rise & (u < v)
        s[rise] = 1.0
        v[:] = np.where(rise | fall, u, v)
    else:
        free = r == 0
        r[~free] -= 1
        v[:] = np.where(free, alpha_v * v + u + p.bias, v)
        th = p.threshold + a
        fire = free & (v >= th)
        s[fire] = 1.0
        v[:] = np.where(fire, 0.0 if p.reset == Reset.HARD else v - th, v)
        r[:] = np.where(fire, p.refractory, r)
        if p.kind == Kind.ALIF:
            a *= alpha_a
            a += p.adapt_step * s
    return s
