"""The integer network as Python data: what `.snn` files hold and every executor runs.

The arithmetic these fields feed is defined once, in docs/integer-model.md. Validation here names
the population, projection or output and the field at fault, so a user can fix a hand-built or
imported network without reading the kernels.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .units import DeviceUnits, UnitError

MIN24 = -(1 << 23)
MAX24 = (1 << 23) - 1
DECAY_ONE = 4096  # decay(x, 4096) == 0: the whole state is removed each step
INPUT = -1  # projection source meaning "the input codes", not a population

MAX_INPUTS = 256
MAX_OUTPUTS = 256
MAX_POPULATIONS = 254
MAX_PROJECTIONS = 1024
MAX_NEURONS = 65535
MAX_DELAY = 15
MAX_REFRACTORY = 15
EXPONENT_RANGE = (-16, 16)
MAX_OUTPUT_SHIFT = 23
MAX_PERIOD_US = 0xFFFFFFFF  # the `.snn` file keeps the control period as u32 microseconds


def recordable_time_step(dt: float) -> float | None:
    """`dt` if a `.snn` file can record it as its time step (`ctrl`: whole microseconds, 1..2^32 - 1), else None.

    Lets writers that know their step (quantisation, NIR import) record it without failing on a
    step the file cannot hold (below 0.5 us or above ~71 minutes): those stay unrecorded.
    """
    dt = float(dt)
    return dt if math.isfinite(dt) and 1 <= round(dt * 1e6) <= MAX_PERIOD_US else None


class NetworkError(ValueError):
    """A network that breaks the integer model's rules; the message names the culprit."""


class Kind(enum.IntEnum):
    LIF = 0
    ALIF = 1
    LI = 2
    DELTA = 3


class Reset(enum.IntEnum):
    HARD = 0
    SOFT = 1


def _per_neuron(value: Any, n: int, name: str, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise NetworkError(f"{where}: {name} must be a scalar or have shape ({n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise NetworkError(f"{where}: {name} must hold integers, got {arr.dtype} values")
    return arr.astype(np.int64)


def _check_range(arr: np.ndarray, lo: int, hi: int, name: str, where: str) -> None:
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        i = int(bad[0])
        raise NetworkError(
            f"{where}: {name}[{i}] = {int(arr[i])} is outside {lo}..{hi}"
            + (f" ({bad.size} values out of range)" if bad.size > 1 else "")
        )


@dataclass
class Population:
    """A group of neurons of one kind; per-neuron arrays may be given as scalars."""

    kind: Kind
    n: int
    du: Any = DECAY_ONE
    dv: Any = 0
    bias: Any = 0
    theta: Any = 1 << 12
    reset: Reset = Reset.HARD
    refractory: int = 0
    da: int = 0
    a_step: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        self.reset = Reset(self.reset)
        self.n = int(self.n)
        if not 1 <= self.n <= MAX_NEURONS:
            raise NetworkError(f"population {self.name!r}: n = {self.n} is outside 1..{MAX_NEURONS}")
        where = f"population {self.name!r}"
        self.du = _per_neuron(self.du, self.n, "du", where)
        self.dv = _per_neuron(self.dv, self.n, "dv", where)
        self.bias = _per_neuron(self.bias, self.n, "bias", where)
        self.theta = _per_neuron(self.theta, self.n, "theta", where)

    def validate(self, where: str) -> None:
        _check_range(self.du, 0, DECAY_ONE, "du", where)
        _check_range(self.dv, 0, DECAY_ONE, "dv", where)
        _check_range(self.bias, MIN24, MAX24, "bias", where)
        _check_range(self.theta, 1, MAX24, "theta", where)
        for name, value, lo, hi in (
            ("refractory", self.refractory, 0, MAX_REFRACTORY),
            ("da", self.da, 0, DECAY_ONE),
            ("a_step", self.a_step, 0, MAX24),
        ):
            if not lo <= int(value) <= hi:
                raise NetworkError(f"{where}: {name} = {int(value)} is outside {lo}..{hi}")


@dataclass
class Projection:
    """int8 weights from a source (population index or INPUT) to a destination population.

    `weights` is a dense (n_src, n_dst) int8 matrix. With `sparse=True` only its non-zero entries
    are stored and executed, as compressed rows by source.
    """

    src: int
    dst: int
    weights: np.ndarray
    exponent: int = 0
    recurrent: bool = False
    delay: int = 0
    sparse: bool = False

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 2:
            raise NetworkError(f"projection {self.src}->{self.dst}: weights must be 2-D, got shape {w.shape}")
        if not np.issubdtype(w.dtype, np.integer):
            raise NetworkError(
                f"projection {self.src}->{self.dst}: weights must be integers (int8 range), got {w.dtype};"
                " quantise float weights with snnctl.quantize"
            )
        if w.size and (w.min() < -128 or w.max() > 127):
            raise NetworkError(
                f"projection {self.src}->{self.dst}: weights must be in -128..127, got {w.min()}..{w.max()}"
            )
        self.weights = w.astype(np.int8)
        self.src, self.dst = int(self.src), int(self.dst)
        self.exponent, self.delay = int(self.exponent), int(self.delay)
        self.recurrent, self.sparse = bool(self.recurrent), bool(self.sparse)

    @property
    def lag(self) -> int:
        """Steps between a source spike and its arrival (0 = same step)."""
        return self.delay + int(self.recurrent)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.weights)) if self.sparse else int(self.weights.size)


@dataclass
class Output:
    """Output code = sat16(floor(v / 2**shift)) of one neuron; real = (code - zero) * scale."""

    pop: int
    neuron: int
    shift: int = 0
    scale: float = 1.0
    zero: int = 0


@dataclass
class Network:
    n_inputs: int
    populations: list[Population]
    projections: list[Projection]
    outputs: list[Output]
    input_scale: Any = 1.0
    input_zero: Any = 0
    meta: dict = field(default_factory=dict)
    fail_safe: Any = None  # output codes a device holds when its watchdog fires (None: all zero)
    # the network's time step: real seconds per network step, which is the period of the control loop
    # that steps it once per period (None: unspecified). Kept in the `.snn` file (`ctrl`) in whole
    # microseconds, so a controller can refuse another rate and NIR export knows what the decays mean
    control_period_s: float | None = None
    # the device's raw-unit conversion (`unit` section; snnctl/units.py): fixed-point constants per
    # input and output that turn a port's raw sensor integers into input codes and output codes into
    # actuator integers. None: the port works in codes
    units: DeviceUnits | None = None

    def __post_init__(self) -> None:
        self.n_inputs = int(self.n_inputs)
        self.input_scale = np.broadcast_to(np.asarray(self.input_scale, dtype=np.float32), (self.n_inputs,)).copy()
        self.input_zero = np.broadcast_to(np.asarray(self.input_zero, dtype=np.int64), (self.n_inputs,)).copy()
        if self.fail_safe is not None:
            self.fail_safe = np.asarray(self.fail_safe, dtype=np.int64)
        if self.control_period_s is not None:
            self.control_period_s = float(self.control_period_s)
        self.validate()

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return sum(p.n for p in self.populations)

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    @property
    def n_synapses(self) -> int:
        return sum(q.nnz for q in self.projections)

    def src_size(self, q: Projection) -> int:
        return self.n_inputs if q.src == INPUT else self.populations[q.src].n

    def offsets(self) -> np.ndarray:
        """Index of each population's first neuron in the flat neuron order (plus the total)."""
        return np.concatenate([[0], np.cumsum([p.n for p in self.populations])]).astype(np.int64)

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        if not 1 <= self.n_inputs <= MAX_INPUTS:
            raise NetworkError(f"network: n_inputs = {self.n_inputs} is outside 1..{MAX_INPUTS}")
        if not 1 <= len(self.populations) <= MAX_POPULATIONS:
            raise NetworkError(f"network: {len(self.populations)} populations; allowed 1..{MAX_POPULATIONS}")
        if len(self.projections) > MAX_PROJECTIONS:
            raise NetworkError(f"network: {len(self.projections)} projections; at most {MAX_PROJECTIONS}")
        if not 1 <= len(self.outputs) <= MAX_OUTPUTS:
            raise NetworkError(f"network: {len(self.outputs)} outputs; allowed 1..{MAX_OUTPUTS}")
        if self.n_neurons > MAX_NEURONS:
            raise NetworkError(f"network: {self.n_neurons} neurons in all; at most {MAX_NEURONS}")
        for i, p in enumerate(self.populations):
            p.validate(f"population {i} {p.name!r}" if p.name else f"population {i}")
        if not np.all(np.isfinite(self.input_scale)) or np.any(self.input_scale <= 0):
            raise NetworkError("network: input_scale must be finite and > 0 for every input channel")
        _check_range(self.input_zero, -32768, 32767, "input_zero", "network")
        n_pop = len(self.populations)
        for k, q in enumerate(self.projections):
            where = f"projection {k} ({'INPUT' if q.src == INPUT else q.src}->{q.dst})"
            if not 0 <= q.dst < n_pop:
                raise NetworkError(f"{where}: dst = {q.dst} is not a population index (0..{n_pop - 1})")
            if q.src != INPUT and not 0 <= q.src < n_pop:
                raise NetworkError(f"{where}: src = {q.src} is not a population index or INPUT (-1)")
            shape = (self.src_size(q), self.populations[q.dst].n)
            if q.weights.shape != shape:
                raise NetworkError(f"{where}: weights have shape {q.weights.shape}, expected {shape} (n_src, n_dst)")
            if not EXPONENT_RANGE[0] <= q.exponent <= EXPONENT_RANGE[1]:
                raise NetworkError(
                    f"{where}: exponent = {q.exponent} is outside {EXPONENT_RANGE[0]}..{EXPONENT_RANGE[1]}"
                )
            if not 0 <= q.delay <= MAX_DELAY:
                raise NetworkError(f"{where}: delay = {q.delay} is outside 0..{MAX_DELAY}")
            if q.src == INPUT and q.lag:
                raise NetworkError(f"{where}: projections from INPUT must have delay 0 and recurrent=False")
            if q.src != INPUT and q.lag == 0 and q.src >= q.dst:
                raise NetworkError(
                    f"{where}: a same-step (lag 0) projection must run from an earlier population to a later"
                    " one; set recurrent=True or a delay >= 1"
                )
        for k, o in enumerate(self.outputs):
            where = f"output {k}"
            if not 0 <= o.pop < n_pop:
                raise NetworkError(f"{where}: pop = {o.pop} is not a population index (0..{n_pop - 1})")
            if not 0 <= o.neuron < self.populations[o.pop].n:
                raise NetworkError(f"{where}: neuron = {o.neuron} is outside 0..{self.populations[o.pop].n - 1}")
            if not 0 <= o.shift <= MAX_OUTPUT_SHIFT:
                raise NetworkError(f"{where}: shift = {o.shift} is outside 0..{MAX_OUTPUT_SHIFT}")
            if not np.isfinite(o.scale) or o.scale <= 0:
                raise NetworkError(f"{where}: scale must be finite and > 0, got {o.scale}")
            if not -32768 <= o.zero <= 32767:
                raise NetworkError(f"{where}: zero = {o.zero} is outside -32768..32767")
        if self.fail_safe is not None:
            if self.fail_safe.shape != (self.n_outputs,):
                raise NetworkError(f"network: fail_safe must have one code per output ({self.n_outputs})")
            _check_range(self.fail_safe, -32768, 32767, "fail_safe", "network")
        if self.units is not None:
            try:
                self.units.check(self.n_inputs, self.n_outputs)
            except UnitError as e:
                raise NetworkError(f"network: {e}") from None
        if self.control_period_s is not None:
            p = self.control_period_s
            if not (math.isfinite(p) and 1 <= round(p * 1e6) <= MAX_PERIOD_US):
                raise NetworkError(
                    f"network: control_period_s = {p} must be a finite period of 1 us .. {MAX_PERIOD_US / 1e6:g} s"
                    " (or None: unspecified)"
                )

    # -- quantisation of real values ------------------------------------------------------------
    def quantize_inputs(self, x: Any) -> np.ndarray:
        """Real inputs (..., n_inputs) to int16 codes; NaN -> zero point, +-inf and overflow saturate."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1:] != (self.n_inputs,):
            raise NetworkError(f"inputs must have last dimension {self.n_inputs}, got shape {x.shape}")
        with np.errstate(invalid="ignore", over="ignore"):
            q = np.rint(x / self.input_scale) + self.input_zero
        q = np.where(np.isnan(x), self.input_zero, q)
        return np.clip(q, -32768, 32767).astype(np.int16)

    def dequantize_outputs(self, codes: Any) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.float64)
        scale = np.array([o.scale for o in self.outputs])
        zero = np.array([o.zero for o in self.outputs])
        return (codes - zero) * scale
