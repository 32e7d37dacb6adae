"""NIR (Neuromorphic Intermediate Representation) import and export.

NIR graphs are continuous-time and float; snnctl networks are discrete-time and integer. Import
therefore discretises with a chosen step `dt`, builds a `FloatNetwork` (snnctl.reference) and
quantises it (snnctl.quantize); export reads an integer network as floats (`from_integer`) and
writes the NIR nodes whose discretisation gives back the same dynamics. Only the `nir` package is
needed (`pip install 'snnctl[nir]'`); it is imported lazily, so `import snnctl.nir_io` works
without it.

Discretisation (forward Euler, current first)
---------------------------------------------
NIR's ODEs (nir docs, one neuron; ``x`` is what the incoming edges deliver)::

    CubaLIF / CubaLI:  tau_syn dI/dt = -I + w_in x        tau_mem dv/dt = (v_leak - v) + r I
    LIF / LI:          tau dv/dt = (v_leak - v) + r x
    IF / I:            dv/dt = r x
    spike (LIF, IF, CubaLIF): z = 1 if v > v_threshold, then v = v_reset

are stepped with forward Euler, the current before the membrane (the membrane uses the current
of the same step)::

    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in x[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) (v_leak + r I[t])       (IF/I: v[t-1] + dt r x[t])

Why forward Euler and not the exact exponential: it is the convention NIR's producers use.
snnTorch exports ``Leaky(beta)`` as ``LIF(tau = dt/(1 - beta), r = tau/dt)`` and ``Synaptic(alpha,
beta)`` as ``CubaLIF(tau_syn = dt/(1 - alpha), w_in = tau_syn/dt, ...)``, so forward Euler at the
export dt gives back exactly ``mem = beta mem + input`` and ``syn = alpha syn + input``; the
exponential rule would turn beta = 0.9 into exp(-0.1) = 0.905. Forward Euler needs
``dt <= tau`` (a larger step would make the retention negative); import refuses such nodes.

Mapping onto the float reference model (`u` is the model's synaptic state, `g` the input gain)::

    retention        alpha_u = 1 - dt/tau_syn   (LIF, LI, IF, I: 0, no current memory)
                     alpha_v = 1 - dt/tau_mem   (IF, I: 1, no leak)
                     model tau = -dt / ln(alpha)  so exp(-dt/tau) = alpha (alpha 0 -> tau 0, 1 -> inf)
    gain             g = (dt/tau_syn) w_in (dt/tau_mem) r     CubaLIF, CubaLI
                     g = (dt/tau) r                           LIF, LI
                     g = dt r                                 IF, I
    u = g-scaled current:   u[t] = alpha_u u[t-1] + g x[t]      (u = (dt/tau_mem) r I)
    v[t] = alpha_v v[t-1] + u[t] + bias,   bias = (dt/tau_mem) v_leak   (IF, I: 0)
    projection weights      W_model[i, j] = W_nir[j, i] * g[j]    (NIR weights are (out, in))
    threshold               v_threshold (must be > 0); v_reset must be 0 (hard reset to 0)

An Affine bias ``b`` is a constant input ``x = b`` to the destination's current, i.e. a constant
``g b`` added to ``u`` each step; the model's bias acts on ``v``. Two mappings (`affine_bias`):

* ``"v"`` (default): ``bias_v += g b / (1 - alpha_u)``. Exact when alpha_u = 0 (LIF, LI, IF, I, or a
  CubaLIF with tau_syn = dt); for a CubaLIF with a current memory it is exact in the steady
  state, and during the first steps from rest ``v`` receives ``g b alpha_u^(t+1) / (1 - alpha_u)``
  too much (decaying with tau_syn).
* ``"neuron"``: exact at all times. A one-neuron population placed first (bias = threshold, so it
  fires every step) drives a feed-forward projection with weights ``g b`` into each such
  destination, adding exactly ``g b`` to ``u`` every step. Costs one neuron and n_dst synapses.

Structure: each neuron node becomes a population (LIF, IF, CubaLIF -> LIF with hard reset; LI, I,
CubaLI -> LI), each (source, Affine/Linear, destination) path a projection; a direct edge between
nodes is an identity projection. Input nodes become input channels (concatenated in node order,
shapes flattened); Flatten and Identity nodes and nested graphs' own Input/Output nodes are
pass-throughs. A nir.Delay on a path (before or after its Affine/Linear) of whole steps, equal for
every element, becomes the projection's delay. Cycles are allowed: populations are ordered by a
depth-first search from the inputs, and every projection that runs against that order (a back
edge of the search, or a projection node whose metadata has ``snnctl_recurrent``) becomes
``recurrent`` (it reads the source's spikes of the previous step, as snnTorch's RLeaky does). An
Output fed by

* an LI / CubaLI / I node reads that node's ``v`` (NIR's output of a leaky integrator);
* a spiking node gets a spike read-out population (LI, no memory: ``v[t] = z[t]`` exactly);
* an Affine/Linear of spikes gets a memoryless LI population (``v[t] = W z[t] + b`` exactly);
* a one-hot Linear of an LI node's ``v`` (what `export_nir` writes) reads the selected neurons.
Several Output nodes are concatenated in node order (by name, as NIR files list them).

What NIR's neuron nodes cannot say, a spiking node's metadata may (documented keys, written by
`export_nir`, honoured on import): ``snnctl_reset`` = "soft" (subtract the threshold on a spike
instead of resetting to v_reset = 0), ``snnctl_refractory`` (steps), ``snnctl_adapt_tau``
(seconds, forward Euler like the membrane, inf = no decay) and ``snnctl_adapt_step`` (threshold
units): an adaptive-threshold (ALIF) population whose node states the resting threshold.

Exact re-import: `export_nir` also stores the `.snn` file in the graph (``snnctl_snn``). If the
graph is still what export wrote for that network at the import's dt (`graph_differences` finds
nothing), `import_nir` returns that network bit for bit; otherwise it imports the parameters and
reports each difference and what re-quantisation changed (`network_changes`).

Differences that remain: NIR fires on ``v > v_threshold``, the model on ``v >= threshold`` (equal
only on a measure-zero set in float).

Unsupported (raise NirImportError naming the node): Conv1d/Conv2d, pooling, Scale, Threshold,
a non-spiking node (LI, I, CubaLI) feeding anything but an Output (snnctl projections carry
spikes), projection chains (Linear -> Linear), a Delay of an Input or of a fraction of a step or
differing per element, non-zero v_reset, non-positive thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .network import (
    DECAY_ONE,
    INPUT,
    MAX_DELAY,
    MAX_REFRACTORY,
    Kind,
    Network,
    NetworkError,
    Reset,
    recordable_time_step,
)
from .quantize import QuantReport, from_integer, quantize
from .reference import FloatNetwork, FloatOutput, FloatPopulation, FloatProjection
from .snnfile import SnnFormatError, from_bytes, network_crc, to_bytes
from .text import listing, plural

INSTALL_HINT = "pip install 'snnctl[nir]'"
CALIBRATION_STEPS = 2000
NO_LEAK_STEPS = 2.0**24  # export: tau = dt * 2^24 stands for "no leak" where NIR needs a finite tau
RECURRENT_KEY = "snnctl_recurrent"  # Linear/Affine: a projection read one step late (a cycle's back edge)
RESET_KEY = "snnctl_reset"  # spiking node: "soft" = subtract the threshold on a spike ("hard": v_reset)
REFRACTORY_KEY = "snnctl_refractory"  # spiking node: steps a neuron stays silent after a spike
ADAPT_TAU_KEY = "snnctl_adapt_tau"  # spiking node: threshold-adaptation time constant, seconds (inf: none)
ADAPT_STEP_KEY = "snnctl_adapt_step"  # spiking node: threshold increase per spike, in v_threshold's units
STORED_KEY = "snnctl_snn"  # graph: the exported `.snn` file, uint8 (exact re-import while the graph is unchanged)
_SPIKING = ("LIF", "IF", "CubaLIF")
_INTEGRATING = ("LI", "I", "CubaLI")
_PROJECTION = ("Affine", "Linear")
_PASS = ("Flatten", "Identity")
_HINTS = {
    "Threshold": "a bare threshold has no snnctl counterpart; use a spiking neuron node (LIF, IF, CubaLIF)",
    "Scale": "fold the scale into the neighbouring Affine/Linear weights",
    "Conv1d": "snnctl has dense/sparse projections only; flatten the convolution into a Linear",
    "Conv2d": "snnctl has dense/sparse projections only; flatten the convolution into a Linear",
}


class NirImportError(ValueError):
    """A NIR graph snnctl cannot map; the message names the node and its type."""


class NirExportError(ValueError):
    """An snnctl network NIR cannot express; the message names the population, projection or output."""


def require_nir() -> Any:
    """The `nir` module, or ImportError with the install hint."""
    try:
        import nir
    except ImportError as exc:
        raise ImportError(f"the 'nir' package is needed for NIR import/export: {INSTALL_HINT} ({exc})") from None
    return nir


@dataclass
class NirImportReport(QuantReport):
    """The QuantReport of the quantisation, plus what the import decided (printed after the table).

    `changes` lists, for a graph that carries an snnctl export's network but no longer says what
    that export wrote, each NIR parameter that differs and what re-quantisation changed in the
    integer network (so the user sees exactly why the result is not the stored network).
    """

    notes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    exact: bool = False

    def __str__(self) -> str:
        return "\n".join([super().__str__(), *(f"changed: {c}" for c in self.changes),
                          *(f"note: {n}" for n in self.notes)])  # fmt: skip


@dataclass
class NirStoredReport:
    """An import that returned the network an snnctl export stored in the graph, bit for bit.

    Nothing was discretised or quantised: the graph's NIR parameters are still the ones
    `export_nir` writes for that network at this dt, so the stored `.snn` is the network.
    """

    crc: int  # the stored file's CRC-32 (`snnfile.network_crc`)
    notes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    exact: bool = True

    def __str__(self) -> str:
        head = (f"no re-quantisation: the graph holds the network snnctl exported (CRC 0x{self.crc:08x}) and"
                " its NIR parameters are unchanged, so the integer network is bit-identical")  # fmt: skip
        return "\n".join([head, *(f"note: {n}" for n in self.notes)])


# -- import ---------------------------------------------------------------------------------------


def _type(node: Any) -> str:
    return type(node).__name__


def _arr(node: Any, attr: str) -> np.ndarray:
    value = getattr(node, attr, None)
    return np.asarray(0.0 if value is None else value, dtype=np.float64).reshape(-1)


def _shape_size(shape: Any) -> int:
    return int(np.prod(np.asarray(shape, dtype=np.int64))) if np.size(shape) else 1


def _flatten_graph(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]], set[str]]:
    """Nodes and edges with nested graphs inlined; returns (nodes, edges, pass-through node names)."""
    nir = require_nir()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    passthrough: set[str] = set()
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + str(name)
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_pass = _flatten_graph(node, full + ".")
            ins = [k for k in node.nodes if isinstance(node.nodes[k], nir.Input)]
            outs = [k for k in node.nodes if isinstance(node.nodes[k], nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NirImportError(
                    f"node {full!r} (nir.NIRGraph): a nested graph needs exactly one Input and one"
                    f" Output, has {len(ins)} and {len(outs)}"
                )
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            passthrough |= sub_pass | {f"{full}.{ins[0]}", f"{full}.{outs[0]}"}
            entry[full], exit_[full] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        else:
            nodes[full] = node
            if _type(node) in _PASS:
                passthrough.add(full)
    for a, b in graph.edges:
        a, b = prefix + str(a), prefix + str(b)
        edges.append((exit_.get(a, a), entry.get(b, b)))
    return nodes, edges, passthrough


def _bypass(nodes: dict[str, Any], edges: list[tuple[str, str]], passthrough: set[str]) -> list[tuple[str, str]]:
    """Remove pass-through nodes, connecting each of their sources to each of their targets."""
    for p in [n for n in nodes if n in passthrough]:
        srcs = [a for a, b in edges if b == p]
        dsts = [b for a, b in edges if a == p]
        edges = [(a, b) for a, b in edges if p not in (a, b)]
        edges += [(a, b) for a in srcs for b in dsts if (a, b) not in edges]
        del nodes[p]
    return edges


@dataclass
class _Pop:
    node: str
    kind: Kind
    n: int
    alpha_u: np.ndarray
    alpha_v: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    threshold: np.ndarray
    spiking: bool
    reset: Reset = Reset.HARD
    reset_from_metadata: bool = False  # the node said its reset mode (snnctl_reset); else the importer chose
    refractory: int = 0
    alpha_a: float | None = None  # ALIF: retention of the threshold adaptation (None: not adaptive)
    adapt_step: float = 0.0


def _retention(tau: np.ndarray, dt: float, where: str, name: str) -> np.ndarray:
    """Forward-Euler retention 1 - dt/tau (tau = inf -> 1)."""
    if np.any(np.isnan(tau)) or np.any(tau <= 0):
        raise NirImportError(f"{where}: {name} must be > 0 seconds, got {tau[(np.isnan(tau)) | (tau <= 0)][0]}")
    alpha = np.where(np.isinf(tau), 1.0, 1.0 - dt / np.where(np.isinf(tau), 1.0, tau))
    if np.any(alpha < -1e-12):
        raise NirImportError(
            f"{where}: {name} = {tau.min():.6g} s is shorter than dt = {dt:.6g} s; forward Euler"
            " would be unstable, import with a smaller dt"
        )
    return np.clip(alpha, 0.0, 1.0)


def _model_tau(alpha: np.ndarray, dt: float) -> np.ndarray:
    """The reference model's tau with exp(-dt/tau) = alpha (0 -> 0 'no memory', 1 -> inf)."""
    with np.errstate(divide="ignore"):
        return np.where(alpha <= 0, 0.0, np.where(alpha >= 1, np.inf, -dt / np.log(np.clip(alpha, 1e-300, 1.0))))


def _population(name: str, node: Any, n: int, dt: float, reset: str | None = None) -> _Pop:
    t = _type(node)
    where = f"node {name!r} (nir.{t})"

    def p(attr: str) -> np.ndarray:
        a = _arr(node, attr)
        if a.size == 1:
            return np.full(n, float(a[0]))
        if a.size != n:
            raise NirImportError(f"{where}: {attr} has {a.size} values, the node has {n} neurons")
        return a

    ones = np.ones(n)
    if t in ("CubaLIF", "CubaLI"):
        tau_syn, tau_mem = p("tau_syn"), p("tau_mem")
        au, av = _retention(tau_syn, dt, where, "tau_syn"), _retention(tau_mem, dt, where, "tau_mem")
        gain = (1 - au) * p("w_in") * (1 - av) * p("r")
        bias = (1 - av) * p("v_leak")
    elif t in ("LIF", "LI"):
        av = _retention(p("tau"), dt, where, "tau")
        au, gain, bias = 0 * ones, (1 - av) * p("r"), (1 - av) * p("v_leak")
    else:  # IF, I
        au, av, gain, bias = 0 * ones, ones, dt * p("r"), 0 * ones
    spiking = t in _SPIKING
    if spiking:
        threshold = p("v_threshold")
        if np.any(~np.isfinite(threshold)) or np.any(threshold <= 0):
            raise NirImportError(f"{where}: v_threshold must be finite and > 0 (got {threshold.min():.6g})")
        if np.any(p("v_reset") != 0):
            raise NirImportError(f"{where}: v_reset must be 0 (snnctl resets to 0), got {p('v_reset')[0]:.6g}")
    else:
        threshold = ones.copy()
    for label, arr in (("input gain", gain), ("bias (v_leak)", bias)):
        if not np.all(np.isfinite(arr)):
            raise NirImportError(f"{where}: the discretised {label} is not finite; check r, w_in, tau and v_leak")
    pop = _Pop(name, Kind.LIF if spiking else Kind.LI, n, au, av, gain, bias, threshold, spiking)
    if spiking:
        _spiking_extras(pop, node, dt, where, reset)
    return pop


def _meta_value(node: Any, key: str) -> Any:
    """A node's metadata entry as a plain Python value (h5py gives bytes and 0-d arrays), None if absent."""
    meta = getattr(node, "metadata", None) or {}
    if not isinstance(meta, dict) or key not in meta:
        return None
    value = meta[key]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr


def _spiking_extras(pop: _Pop, node: Any, dt: float, where: str, default_reset: str | None = None) -> None:
    """Soft reset, refractory period and threshold adaptation from the node's documented metadata keys.

    NIR has no field for the reset mode: a node without `snnctl_reset` gets `default_reset` (the
    importer's choice, e.g. "soft" for snnTorch's subtracting neurons), else NIR's v_reset (hard).
    """
    reset = _meta_value(node, RESET_KEY)
    if reset not in (None, "hard", "soft"):
        raise NirImportError(f"{where}: metadata {RESET_KEY} = {reset!r}; expected 'hard' or 'soft'")
    pop.reset_from_metadata = reset is not None
    reset = reset if reset is not None else default_reset
    pop.reset = Reset.SOFT if reset == "soft" else Reset.HARD
    refractory = _meta_value(node, REFRACTORY_KEY)
    if refractory is not None:
        ok = isinstance(refractory, int | float) and float(refractory).is_integer()
        if not (ok and 0 <= refractory <= MAX_REFRACTORY):
            raise NirImportError(
                f"{where}: metadata {REFRACTORY_KEY} = {refractory!r}; expected 0..{MAX_REFRACTORY} steps"
            )
        pop.refractory = int(refractory)
    tau_a, step = _meta_value(node, ADAPT_TAU_KEY), _meta_value(node, ADAPT_STEP_KEY)
    if tau_a is None and step is None:
        return
    if not all(isinstance(v, int | float) for v in (tau_a, step)) or not (tau_a > 0 and 0 <= step < math.inf):
        raise NirImportError(
            f"{where}: threshold adaptation needs metadata {ADAPT_TAU_KEY} > 0 seconds (inf: no decay) and"
            f" {ADAPT_STEP_KEY} >= 0 (finite), got {tau_a!r} and {step!r}"
        )
    pop.alpha_a = float(_retention(np.array([float(tau_a)]), dt, where, ADAPT_TAU_KEY)[0])
    pop.adapt_step = float(step)
    pop.kind = Kind.ALIF


def _node_size(name: str, node: Any, nodes: dict[str, Any], edges: list[tuple[str, str]]) -> int:
    """Neurons of a neuron node: from its parameters, else from a neighbouring projection's weights."""
    sizes = {a.size for attr in ("tau", "tau_mem", "r", "v_threshold", "v_leak") if (a := _arr(node, attr)).size > 1}
    if len(sizes) > 1:
        raise NirImportError(f"node {name!r} (nir.{_type(node)}): parameters have different sizes {sorted(sizes)}")
    if sizes:
        return sizes.pop()
    for a, b in edges:
        if b == name and _type(nodes[a]) in _PROJECTION:
            return int(np.asarray(nodes[a].weight).shape[0])
        if a == name and _type(nodes[b]) in _PROJECTION:
            return int(np.asarray(nodes[b].weight).shape[-1])
    for a, b in edges:  # direct edge from an Input
        if b == name and _type(nodes[a]) == "Input":
            return _shape_size(nodes[a].input_type["input"])
    return 1


def _weights(name: str, node: Any) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise NirImportError(f"node {name!r} (nir.{_type(node)}): weight must be 2-D (out, in), got shape {w.shape}")
    b = _arr(node, "bias") if _type(node) == "Affine" else np.zeros(w.shape[0])
    if b.size == 1 and w.shape[0] != 1:
        b = np.full(w.shape[0], float(b[0]))
    if b.shape != (w.shape[0],):
        raise NirImportError(f"node {name!r} (nir.Affine): bias has {b.size} values, weight has {w.shape[0]} rows")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise NirImportError(f"node {name!r} (nir.{_type(node)}): weights and bias must be finite")
    return w, b


def _delay_steps(name: str, node: Any, dt: float) -> int:
    """Whole steps of a nir.Delay (seconds, one per element): all equal, a multiple of dt, 0..15."""
    d = _arr(node, "delay") / dt
    steps = np.rint(d)
    if d.size == 0 or np.any(~np.isfinite(d)) or np.any(np.abs(d - steps) > 1e-6 * np.maximum(1.0, steps)):
        raise NirImportError(f"node {name!r} (nir.Delay): delays must be whole multiples of dt = {dt:g} s")
    if np.any(steps != steps[0]) or not 0 <= steps[0] <= MAX_DELAY:
        raise NirImportError(
            f"node {name!r} (nir.Delay): snnctl delays are one per projection, 0..{MAX_DELAY} steps;"
            f" got {sorted(set(steps.astype(int).tolist()))[:4]} steps"
        )
    return int(steps[0])


def _is_recurrent_marked(node: Any) -> bool:
    meta = getattr(node, "metadata", None) or {}
    try:
        return bool(np.asarray(meta.get(RECURRENT_KEY, False)).reshape(-1)[0])
    except (AttributeError, IndexError, TypeError, ValueError):
        return False


def _meta_name(node: Any) -> str:
    """The population name an snnctl export stored in the node's metadata ('' if none)."""
    meta = getattr(node, "metadata", None) or {}
    name = meta.get("snnctl_name", "") if isinstance(meta, dict) else ""
    name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
    return name if isinstance(name, str) else ""


def nir_to_float(graph: Any, dt: float, affine_bias: str = "v", reset: str | None = None,
                 ) -> tuple[FloatNetwork, list[str]]:  # fmt: skip
    """The float reference network of a NIR graph (discretised as the module docstring says), plus notes.

    `reset` ("hard" / "soft"): the reset of spiking nodes that do not say theirs (`snnctl_reset`);
    None keeps NIR's rule (v = v_reset) and the notes say how many nodes that concerned.
    """
    nir = require_nir()
    if reset not in (None, "hard", "soft"):
        raise NirImportError(f"reset must be 'hard' or 'soft', got {reset!r}")
    if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
        raise NirImportError(f"dt = {dt!r} must be a finite number of seconds > 0")
    if affine_bias not in ("v", "neuron"):
        raise NirImportError(f"affine_bias must be 'v' or 'neuron', got {affine_bias!r}")
    if not isinstance(graph, nir.NIRGraph):
        raise NirImportError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes, edges, passthrough = _flatten_graph(graph)
    supported = ("Input", "Output", "Delay", *_PROJECTION, *_SPIKING, *_INTEGRATING, *_PASS)
    for name, node in nodes.items():
        t = _type(node)
        if t not in supported:
            hint = _HINTS.get(t, "supported: " + ", ".join(s for s in supported))
            raise NirImportError(f"node {name!r} (nir.{t}) is not supported: {hint}")
    edges = _bypass(nodes, edges, passthrough)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succs[a].append(b)
        preds[b].append(a)
    notes: list[str] = []

    # inputs: channels in Input-node order
    in_off: dict[str, tuple[int, int]] = {}
    n_in = 0
    for name, node in nodes.items():
        if _type(node) == "Input":
            size = _shape_size(node.input_type["input"])
            in_off[name] = (n_in, size)
            n_in += size
    if not in_off:
        raise NirImportError("the graph has no nir.Input node")

    neuron_nodes = [n for n, node in nodes.items() if _type(node) in _SPIKING + _INTEGRATING]
    pops = {n: _population(n, nodes[n], _node_size(n, nodes[n], nodes, edges), dt, reset) for n in neuron_nodes}
    unsaid = [n for n, p in pops.items() if p.spiking and not p.reset_from_metadata]
    if unsaid:
        chosen = f"--reset {reset} given" if reset else "NIR's rule: v = v_reset = 0 (hard reset)"
        notes.append(
            f"{plural(len(unsaid), 'spiking node does', 'spiking nodes do')} not say their reset mode"
            f" ({listing(unsaid)}): {chosen}. snnTorch's Leaky and Synaptic subtract the threshold by default"
            " (reset_mechanism='subtract'): import those with reset='soft' (CLI: --reset soft)"
        )

    def upstream(a: str) -> tuple[str, int]:
        """The first node above `a` that is not a Delay, and the steps of the Delays passed on the way."""
        steps = 0
        while _type(nodes[a]) == "Delay":
            if len(preds[a]) != 1:
                raise NirImportError(f"node {a!r} (nir.Delay) must have exactly one incoming edge, has {len(preds[a])}")
            steps += _delay_steps(a, nodes[a], dt)
            a = preds[a][0]
        return a, steps

    # sources feeding each neuron node: (source node, via projection node or None, delay steps)
    def sources(dst: str) -> list[tuple[str, str | None, int]]:
        out = []
        for a0 in preds[dst]:
            a, lag = upstream(a0)
            t = _type(nodes[a])
            if t in _PROJECTION:
                if not preds[a]:
                    raise NirImportError(f"node {a!r} (nir.{t}) has no incoming edge")
                out += [(s, a, lag + more) for s, more in map(upstream, preds[a])]
            elif t == "Output":
                raise NirImportError(f"node {a!r} (nir.Output) cannot feed node {dst!r}")
            else:
                out.append((a, None, lag))
        for s, via, lag in out:
            if lag and s in in_off:
                raise NirImportError(
                    f"node {s!r} (nir.Input) reaches node {via or dst!r} through a Delay: snnctl inputs enter"
                    " in the step they are given (delay the spikes of a neuron node instead)"
                )
            ts = _type(nodes[s])
            if ts in _PROJECTION:
                raise NirImportError(
                    f"node {via!r} (nir.{_type(nodes[via])}) is fed by node {s!r} (nir.{ts}):"
                    " chains of projections are not supported; multiply the weights into one"
                )
            if ts in _INTEGRATING:
                raise NirImportError(
                    f"node {s!r} (nir.{ts}) is non-spiking and feeds node {via or dst!r}:"
                    " snnctl projections carry spikes, so LI/I/CubaLI nodes may only feed an Output"
                )
            if ts == "Output":
                raise NirImportError(f"node {s!r} (nir.Output) cannot feed node {via or dst!r}")
        return out

    incoming = {d: sources(d) for d in neuron_nodes}

    # population order: reverse post-order of a DFS from the inputs (marked recurrent edges ignored)
    marked = {n for n in nodes if _type(nodes[n]) in _PROJECTION and _is_recurrent_marked(nodes[n])}
    graph_succ: dict[str, list[str]] = {n: [] for n in nodes}
    for d in neuron_nodes:
        for s, via, _ in incoming[d]:
            if via not in marked and d not in graph_succ[s]:
                graph_succ[s].append(d)
    seen: set[str] = set()
    post: list[str] = []
    for root in [*in_off, *neuron_nodes]:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(graph_succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next((c for c in it if c not in seen), None)
            if nxt is None:
                stack.pop()
                post.append(node)
            else:
                seen.add(nxt)
                stack.append((nxt, iter(graph_succ[nxt])))
    order = [n for n in reversed(post) if n in pops]

    fpops: list[FloatPopulation] = []
    index: dict[str, int] = {}
    need_bias_neuron = False
    if affine_bias == "neuron":
        for d in order:
            if np.any(pops[d].alpha_u > 0) and any(
                via and _type(nodes[via]) == "Affine" and np.any(_weights(via, nodes[via])[1] != 0)
                for _, via, _ in incoming[d]
            ):
                need_bias_neuron = True
    if need_bias_neuron:
        fpops.append(
            FloatPopulation(Kind.LIF, 1, tau_syn=0.0, tau_mem=0.0, bias=1.0, threshold=1.0, name="affine_bias")
        )
        notes.append("population 0 'affine_bias' fires every step and carries the Affine biases into CubaLIF currents")
    for d in order:
        pp = pops[d]
        index[d] = len(fpops)
        fpops.append(
            FloatPopulation(
                pp.kind,
                pp.n,
                tau_syn=_model_tau(pp.alpha_u, dt),
                tau_mem=_model_tau(pp.alpha_v, dt),
                bias=pp.bias.copy(),
                threshold=pp.threshold,
                reset=pp.reset,
                refractory=pp.refractory,
                tau_adapt=float(_model_tau(np.array([pp.alpha_a]), dt)[0]) if pp.alpha_a is not None else math.inf,
                adapt_step=pp.adapt_step,
                name=_meta_name(nodes[d]) or d,
            )
        )

    projs: list[FloatProjection] = []
    approx_bias: list[str] = []

    def src_index(s: str) -> int:
        return INPUT if s in in_off else index[s]

    def src_rows(s: str, w: np.ndarray, via: str | None, d: str) -> np.ndarray:
        """(n_in_total or n_src, n_dst) weights from source s given NIR (out, in) matrix w."""
        n_src = in_off[s][1] if s in in_off else pops[s].n
        if w.shape[1] != n_src:
            raise NirImportError(
                f"shape mismatch: node {via or d!r} takes {w.shape[1]} inputs, its source {s!r} delivers {n_src}"
            )
        if s in in_off:
            full = np.zeros((n_in, w.shape[0]))
            lo = in_off[s][0]
            full[lo : lo + n_src] = w.T
            return full
        return w.T.copy()

    for d in order:
        pp = pops[d]
        di = index[d]
        done_bias: set[str] = set()
        for s, via, lag in incoming[d]:
            if via is None:
                w, b = np.eye(pp.n), np.zeros(pp.n)
            else:
                w, b = _weights(via, nodes[via])
            if w.shape[0] != pp.n:
                raise NirImportError(
                    f"shape mismatch: node {via or s!r} delivers {w.shape[0]} values, node {d!r}"
                    f" (nir.{_type(nodes[d])}) has {pp.n} neurons"
                )
            si = src_index(s)
            weights = src_rows(s, w, via, d) * pp.gain[None, :]
            # a back edge of the population order (or a marked one) is a cycle: one step late, plus its Delays
            recurrent = si != INPUT and (si >= di or via in marked)
            projs.append(FloatProjection(si, di, weights, recurrent=recurrent, delay=lag))
            if via is not None and via not in done_bias and np.any(b != 0):
                done_bias.add(via)
                c = pp.gain * b  # added to u every step
                if need_bias_neuron and np.any(pp.alpha_u > 0):
                    projs.append(FloatProjection(0, di, c[None, :]))
                else:
                    fpops[di].bias = fpops[di].bias + c / (1.0 - pp.alpha_u)
                    if np.any(pp.alpha_u > 0):
                        approx_bias.append(d)
    if approx_bias:
        notes.append(
            "Affine bias into CubaLIF current of "
            + ", ".join(repr(x) for x in approx_bias)
            + " mapped onto v (exact in the steady state, not during the first ~tau_syn steps;"
            " affine_bias='neuron' is exact)"
        )

    # outputs
    outs: list[FloatOutput] = []
    for oname, onode in nodes.items():
        if _type(onode) != "Output":
            continue
        size = _shape_size(onode.output_type["output"])
        if len(preds[oname]) != 1:
            raise NirImportError(
                f"node {oname!r} (nir.Output) must have exactly one incoming edge, has {len(preds[oname])}"
            )
        src = preds[oname][0]
        ts = _type(nodes[src])
        got: list[FloatOutput]
        if src in pops and not pops[src].spiking:
            got = [FloatOutput(index[src], j) for j in range(pops[src].n)]
        elif src in pops:  # spikes out: read-out population with v[t] = z[t]
            n = pops[src].n
            fpops.append(FloatPopulation(Kind.LI, n, tau_syn=0.0, tau_mem=0.0, name=f"{src}.spikes"))
            projs.append(FloatProjection(index[src], len(fpops) - 1, np.eye(n)))
            got = [FloatOutput(len(fpops) - 1, j) for j in range(n)]
        elif ts in _PROJECTION:
            w, b = _weights(src, nodes[src])
            feeders = preds[src]
            if len(feeders) == 1 and feeders[0] in pops and not pops[feeders[0]].spiking:
                f = feeders[0]
                if w.shape[1] != pops[f].n:
                    raise NirImportError(
                        f"shape mismatch: node {src!r} takes {w.shape[1]} inputs, node {f!r} has {pops[f].n} neurons"
                    )
                one_hot = np.all((w == 0) | (w == 1)) and np.all((w == 1).sum(axis=1) == 1) and not np.any(b)
                if not one_hot:
                    raise NirImportError(
                        f"node {src!r} (nir.{ts}) mixes the membranes of non-spiking node {f!r};"
                        " only a one-hot selection (weights 0/1, one 1 per row, no bias) is supported"
                    )
                got = [FloatOutput(index[f], int(np.argmax(row))) for row in w]
            else:
                di = len(fpops)
                fpops.append(FloatPopulation(Kind.LI, w.shape[0], tau_syn=0.0, tau_mem=0.0, bias=b, name=src))
                for s in feeders:
                    if s not in in_off and (s not in pops or not pops[s].spiking):
                        raise NirImportError(
                            f"node {src!r} (nir.{ts}) feeding an Output is fed by {s!r}"
                            f" (nir.{_type(nodes[s])}); only spiking nodes or Inputs are supported"
                        )
                    projs.append(FloatProjection(src_index(s), di, src_rows(s, w, src, oname)))
                got = [FloatOutput(di, j) for j in range(w.shape[0])]
        else:
            raise NirImportError(
                f"node {oname!r} (nir.Output) is fed by {src!r} (nir.{ts}); an Output must follow"
                " a neuron node or an Affine/Linear"
            )
        if len(got) != size:
            raise NirImportError(
                f"shape mismatch: node {oname!r} (nir.Output) expects {size} values, {src!r} delivers {len(got)}"
            )
        outs.extend(got)
    if not outs:
        raise NirImportError("the graph has no nir.Output node")
    meta = {"imported_from": "nir", "nir_dt": dt}
    try:
        fnet = FloatNetwork(n_in, fpops, projs, outs, dt, meta=meta)
    except NetworkError as exc:
        raise NirImportError(f"the mapped network breaks snnctl's limits: {exc}") from None
    return fnet, notes


def graph_hints(graph: Any) -> dict[str, Any]:
    """What an snnctl export stored in the graph metadata: dt and per-channel input peak (or {})."""
    meta = getattr(graph, "metadata", None) or {}
    out: dict[str, Any] = {}
    try:
        if "snnctl_dt" in meta:
            out["dt"] = float(np.asarray(meta["snnctl_dt"]).reshape(-1)[0])
        if "snnctl_input_max" in meta:
            out["input_max"] = np.asarray(meta["snnctl_input_max"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, IndexError):
        return {}
    return out


def default_calibration(
    n_inputs: int, lo: Any = -1.0, hi: Any = 1.0, steps: int = CALIBRATION_STEPS, seed: int = 0
) -> np.ndarray:
    """Deterministic calibration input (steps, n_inputs) over [lo, hi] per channel.

    Piecewise constant: per channel, values uniform in [lo, hi] held for 1..50 steps (random), so
    both fast and sustained drive occur and low-pass states reach their plateaus; the first two
    holds (50 steps each) are `hi` and `lo`, so the input quantiser sees the full range.
    """
    rng = np.random.default_rng(seed)
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (n_inputs,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (n_inputs,))
    x = np.empty((steps, n_inputs))
    for c in range(n_inputs):
        t = 0
        holds = [(50, hi[c]), (50, lo[c])]
        while t < steps:
            n, val = holds.pop(0) if holds else (int(rng.integers(1, 51)), rng.uniform(lo[c], hi[c]))
            x[t : t + n, c] = val
            t += n
    return x


def read_graph(path_or_graph: Any) -> Any:
    """A nir.NIRGraph from a path or a graph; NirImportError for an unreadable file."""
    nir = require_nir()
    if isinstance(path_or_graph, str | Path):
        try:
            return nir.read(str(path_or_graph))
        except (OSError, KeyError, ValueError, AssertionError, TypeError) as exc:
            raise NirImportError(f"{path_or_graph}: cannot read as a NIR file ({type(exc).__name__}: {exc})") from None
    return path_or_graph


def import_nir(
    path_or_graph: Any,
    dt: float,
    calibration: np.ndarray | None = None,
    seed: int = 0,
    *,
    test: np.ndarray | None = None,
    affine_bias: str = "v",
    input_range: tuple[Any, Any] | None = None,
    state_bits: int = 20,
    reset: str | None = None,
) -> tuple[Network, NirImportReport | NirStoredReport]:
    """Integer network of a NIR graph (file path or nir.NIRGraph), discretised with step dt (seconds).

    A graph written by `export_nir` and still saying what it wrote (same nodes, parameters to
    float32 precision, snnctl metadata, edges, at this dt) gives back the stored network bit for bit
    (`NirStoredReport`); anything else is discretised and quantised (`NirImportReport`, whose
    `changes` say how the graph and the result differ from a stored network it carried).

    Without `calibration`, a deterministic random input (`default_calibration`, `seed`) over
    `input_range` is used: given, or the range an snnctl export stored in the graph, or [-1, 1]
    per channel. The report says which. `reset`: see `nir_to_float` (NIR records no reset mode).
    """
    graph = read_graph(path_or_graph)
    stored, changes = _stored_network(graph, dt)
    if stored is not None and not changes:
        return stored
    fnet, notes = nir_to_float(graph, dt, affine_bias=affine_bias, reset=reset)
    if calibration is None:
        hints = graph_hints(graph)
        if input_range is not None:
            lo, hi = input_range
            origin = "the given input range"
        elif "input_max" in hints and hints["input_max"].size == fnet.n_inputs:
            hi = hints["input_max"]
            lo = -hi
            origin = "the input range stored by snnctl's export"
        else:
            lo, hi = -1.0, 1.0
            origin = "the default range [-1, 1] per channel"
        calibration = default_calibration(fnet.n_inputs, lo, hi, CALIBRATION_STEPS, seed)
        notes.append(
            f"no calibration input given: used {CALIBRATION_STEPS} steps of deterministic random"
            f" piecewise-constant input (seed {seed}) over {origin}; calibrate on real data for"
            " tighter scales"
        )
    else:
        calibration = np.asarray(calibration, dtype=np.float64)
        if calibration.ndim == 1 and fnet.n_inputs == 1:
            calibration = calibration[:, None]
    try:
        net, report = quantize(fnet, calibration, test=test, state_bits=state_bits)
    except NetworkError as exc:
        raise NirImportError(str(exc)) from None
    notes.insert(0, f"discretised with forward Euler at dt = {dt:g} s")
    if stored is not None:
        changes += [f"integer network vs the stored one: {c}" for c in network_changes(stored[0], net)]
    return net, NirImportReport(**vars(report), notes=notes, changes=changes)


def _stored_network(graph: Any, dt: float) -> tuple[tuple[Network, NirStoredReport] | None, list[str]]:
    """The `.snn` an snnctl export stored in the graph, and how the graph differs from what it wrote.

    (None, []) without a stored network. With one, the stored network is re-exported at `dt` and
    compared with the graph node by node: no difference means the graph still describes exactly
    that network, which is then returned as is (nothing re-quantised); otherwise the differences
    are returned and the caller imports the graph's parameters instead.
    """
    meta = getattr(graph, "metadata", None) or {}
    if not isinstance(meta, dict) or STORED_KEY not in meta:
        return None, []
    blob = np.asarray(meta[STORED_KEY]).astype(np.uint8).tobytes()
    try:
        net = from_bytes(blob)
        changes = graph_differences(export_nir(net, dt), graph)
    except (SnnFormatError, NirExportError) as exc:
        return None, [f"the stored network ({STORED_KEY}) is unusable and was ignored: {exc}"]
    notes = [f"returned the stored network unchanged (dt = {dt:g} s: the decays the graph's taus give)"]
    if net.control_period_s is None and recordable_time_step(dt) is not None:
        net.control_period_s = dt
        notes.append(f"the stored file had no time step; recorded dt = {dt:g} s")
    return (net, NirStoredReport(network_crc(blob), notes)), changes


def _node_arrays(node: Any) -> dict[str, np.ndarray]:
    """A node's numeric parameters (the dataclass fields NIR defines, without types and metadata)."""
    out = {}
    for key, value in vars(node).items():
        if key in ("metadata", "input_type", "output_type") or value is None or isinstance(value, dict):
            continue
        out[key] = np.asarray(value, dtype=np.float64)
    return out


def _values_differ(a: np.ndarray, b: np.ndarray) -> str:
    """'' if equal to float32 precision (a re-saved graph may narrow floats), else what differs."""
    if a.shape != b.shape:
        return f"shape {a.shape} -> {b.shape}"
    same = np.isclose(a, b, rtol=1e-6, atol=0.0) | (np.isinf(a) & (a == b))
    if np.all(same):
        return ""
    with np.errstate(invalid="ignore"):
        delta = np.abs(np.where(same, 0.0, b - a))
    return f"{int(np.count_nonzero(~same))} of {a.size} values differ (max |change| {np.nanmax(delta):.4g})"


def graph_differences(expected: Any, graph: Any) -> list[str]:
    """What differs between two flat NIR graphs: nodes, node types, parameters, snnctl metadata, edges."""
    out = []
    a_nodes, b_nodes = expected.nodes, graph.nodes
    for name in sorted(set(a_nodes) ^ set(b_nodes)):
        out.append(f"node {name!r} {'missing' if name in a_nodes else 'added'}")
    for name in sorted(set(a_nodes) & set(b_nodes)):
        a, b = a_nodes[name], b_nodes[name]
        if _type(a) != _type(b):
            out.append(f"node {name!r}: nir.{_type(a)} -> nir.{_type(b)}")
            continue
        pa, pb = _node_arrays(a), _node_arrays(b)
        for key in sorted(set(pa) | set(pb)):
            what = _values_differ(pa[key], pb[key]) if key in pa and key in pb else "missing"
            if what:
                out.append(f"node {name!r} (nir.{_type(a)}) {key}: {what}")
        keys = {k for n in (a, b) for k in (getattr(n, "metadata", None) or {}) if str(k).startswith("snnctl_")}
        for key in sorted(keys):
            va, vb = _meta_value(a, key), _meta_value(b, key)
            if isinstance(va, str) or isinstance(vb, str) or va is None or vb is None:
                differ = va != vb
            else:
                differ = bool(_values_differ(np.asarray(va, dtype=np.float64), np.asarray(vb, dtype=np.float64)))
            if differ:
                out.append(f"node {name!r} metadata {key}: {va!r} -> {vb!r}")
    ea, eb = {tuple(map(str, e)) for e in expected.edges}, {tuple(map(str, e)) for e in graph.edges}
    out += [f"edge {a} -> {b} missing" for a, b in sorted(ea - eb)]
    out += [f"edge {a} -> {b} added" for a, b in sorted(eb - ea)]
    return out


def network_changes(old: Network, new: Network) -> list[str]:
    """Per population, projection and quantiser: which integer fields of `new` differ from `old`."""
    if [(p.kind, p.n) for p in old.populations] != [(p.kind, p.n) for p in new.populations]:
        return ["populations differ in kind or size: " + ", ".join(f"{p.kind.name}x{p.n}" for p in new.populations)]
    out = []
    for i, (a, b) in enumerate(zip(old.populations, new.populations, strict=True)):
        fields = [f for f in ("du", "dv", "bias", "theta") if not np.array_equal(getattr(a, f), getattr(b, f))]
        fields += [f for f in ("reset", "refractory", "da", "a_step") if getattr(a, f) != getattr(b, f)]
        if fields:
            out.append(f"population {i} {a.name!r}: " + ", ".join(fields))
    if len(old.projections) != len(new.projections):
        out.append(f"{len(old.projections)} projections -> {len(new.projections)}")
    else:
        for k, (a, b) in enumerate(zip(old.projections, new.projections, strict=True)):
            fields = [f for f in ("src", "dst", "exponent", "lag", "sparse") if getattr(a, f) != getattr(b, f)]
            if a.weights.shape != b.weights.shape:
                fields.append("shape")
            elif not np.array_equal(a.weights, b.weights):
                fields.append(f"{int(np.count_nonzero(a.weights != b.weights))} weights")
            if fields:
                out.append(f"projection {k}: " + ", ".join(fields))
    if not np.array_equal(old.input_scale, new.input_scale):
        out.append("input scales")
    if [(o.pop, o.neuron, o.shift, o.scale, o.zero) for o in old.outputs] != [
        (o.pop, o.neuron, o.shift, o.scale, o.zero) for o in new.outputs
    ]:
        out.append("output quantisers")
    return out


# -- export ---------------------------------------------------------------------------------------


def _taus(d: np.ndarray, dt: float) -> np.ndarray:
    """NIR tau whose forward-Euler retention 1 - dt/tau equals the integer 1 - d/4096 (d = 0: 'no leak')."""
    d = np.asarray(d, dtype=np.float64)
    return np.where(d > 0, dt * DECAY_ONE / np.where(d > 0, d, 1.0), dt * NO_LEAK_STEPS)


def export_nir(net: Network, dt: float, state_scale: Any = None) -> Any:
    """A nir.NIRGraph computing what `net` computes (in real units), for a simulator stepping at dt.

    Uses `from_integer` for the real-valued parameters; the NIR parameters are chosen so that the
    forward-Euler discretisation of `import_nir` gives back the integer model's retentions
    (1 - d/4096) exactly: tau = dt * 4096 / d, r = tau_mem / dt, w_in = tau_syn / dt (so the input
    gain is 1), v_leak = bias * tau_mem / dt. A decay of 0 (no leak) becomes tau = 2^24 dt where
    NIR needs a finite tau (re-imports as d = 0), or an IF / I node when the whole population is
    leak-free with no synaptic current and no bias. A population without incoming projections gets an
    all-zero Linear from the input (NIR would otherwise add an Input node in front of it).

    What NIR's nodes cannot say goes into documented metadata keys, and the node itself is the
    nearest standard model: soft reset (`snnctl_reset` = "soft"; the node says v_reset = 0),
    refractory steps (`snnctl_refractory`), ALIF threshold adaptation (`snnctl_adapt_tau`,
    `snnctl_adapt_step`; the node is a LIF/CubaLIF with the resting threshold). Delays are standard
    nir.Delay nodes (whole steps times dt) between the source and its Linear; a projection that
    reads the previous step inside a cycle is marked `snnctl_recurrent`. Outputs reading several
    populations become one Output node per run of outputs (`output_000`, ... in output order).
    The graph's metadata holds `snnctl_dt`, the input peak per channel (`snnctl_input_max`, from
    the input quantiser) and the `.snn` file itself (`snnctl_snn`), which `import_nir` returns
    bit for bit as long as the graph still says what this function wrote.
    """
    nir = require_nir()
    for i, p in enumerate(net.populations):
        if p.kind == Kind.DELTA:
            where = f"population {i} {p.name!r}" if p.name else f"population {i}"
            raise NirExportError(f"{where}: kind DELTA (send-on-delta) has no NIR node or near equivalent")
    for k, o in enumerate(net.outputs):
        if net.populations[o.pop].kind != Kind.LI:
            raise NirExportError(
                f"output {k}: reads the membrane of {net.populations[o.pop].kind.name} population"
                f" {o.pop}; NIR outputs of spiking nodes are spikes, so only LI outputs export"
            )
    try:
        fnet = from_integer(net, dt, state_scale)
    except NetworkError as exc:
        raise NirExportError(str(exc)) from None

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges: list[tuple[str, str]] = []
    names = []
    for i, (p, fp) in enumerate(zip(net.populations, fnet.populations, strict=True)):
        name = f"p{i}" + (f"_{p.name}" if p.name else "")
        names.append(name)
        nodes[name] = _neuron_node(nir, p, fp, dt)
    for k, (q, fq) in enumerate(zip(net.projections, fnet.projections, strict=True)):
        wname = f"w{k}"
        # a back edge of the population order is a cycle, which NIR readers step one step late;
        # any other lag is a Delay node of whole steps on the source's spikes
        back = q.src != INPUT and q.src >= q.dst
        steps = q.lag - 1 if back else q.lag
        src = "input" if q.src == INPUT else names[q.src]
        if steps:
            dname = f"d{k}"
            nodes[dname] = nir.Delay(delay=np.full(net.src_size(q), steps * dt))
            edges.append((src, dname))
            src = dname
        meta = {RECURRENT_KEY: True} if back else {}
        nodes[wname] = nir.Linear(weight=np.ascontiguousarray(fq.weights.T), metadata=meta)
        edges += [(src, wname), (wname, names[q.dst])]
    fed = {q.dst for q in net.projections}
    for i in range(len(net.populations)):
        if i not in fed:  # NIR adds an Input node in front of any source-less node: feed it zeros instead
            zname = f"w_zero_{i}"
            nodes[zname] = nir.Linear(weight=np.zeros((net.populations[i].n, net.n_inputs)))
            edges += [("input", zname), (zname, names[i])]
    _output_nodes(nir, net, names, nodes, edges)
    input_max = np.asarray(net.input_scale, dtype=np.float64) * 32767 / 1.25
    metadata = {
        "snnctl_dt": float(dt),
        "snnctl_input_max": input_max,
        "snnctl_name": str(net.meta.get("name", "")) if isinstance(net.meta, dict) else "",
        STORED_KEY: np.frombuffer(to_bytes(net), dtype=np.uint8).copy(),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _neuron_node(nir: Any, p: Any, fp: FloatPopulation, dt: float) -> Any:
    """The NIR node of one population: the nearest standard node, plus metadata for what it cannot say."""
    tau_mem, tau_syn = _taus(p.dv, dt), _taus(p.du, dt)
    has_syn = bool(np.any(p.du != DECAY_ONE))
    bias = np.asarray(fp.bias, dtype=np.float64)
    leak_free = bool(np.all(p.dv == 0)) and not np.any(bias)
    zeros = np.zeros(p.n)
    if p.kind in (Kind.LIF, Kind.ALIF):
        th = np.asarray(fp.threshold, dtype=np.float64)  # ALIF: the resting threshold (no adaptation)
        if has_syn:
            node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=bias * tau_mem / dt,
                               v_threshold=th, v_reset=zeros, w_in=tau_syn / dt)  # fmt: skip
        elif leak_free:
            node = nir.IF(r=np.full(p.n, 1.0 / dt), v_threshold=th, v_reset=zeros)
        else:
            node = nir.LIF(tau=tau_mem, r=tau_mem / dt, v_leak=bias * tau_mem / dt, v_threshold=th, v_reset=zeros)
    elif has_syn:
        node = nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=bias * tau_mem / dt,
                          w_in=tau_syn / dt)  # fmt: skip
    elif leak_free:
        node = nir.I(r=np.full(p.n, 1.0 / dt))
    else:
        node = nir.LI(tau=tau_mem, r=tau_mem / dt, v_leak=bias * tau_mem / dt)
    meta: dict[str, Any] = {"snnctl_name": p.name} if p.name else {}
    if p.kind in (Kind.LIF, Kind.ALIF):
        if p.reset == Reset.SOFT:
            meta[RESET_KEY] = "soft"
        if p.refractory:
            meta[REFRACTORY_KEY] = int(p.refractory)
    if p.kind == Kind.ALIF:
        # forward-Euler time constant like the membrane's (retention 1 - dt/tau = 1 - da/4096), inf = none
        meta[ADAPT_TAU_KEY] = float(dt * DECAY_ONE / p.da) if p.da else math.inf
        meta[ADAPT_STEP_KEY] = float(fp.adapt_step)
    node.metadata = meta
    return node


def _output_nodes(nir: Any, net: Network, names: list[str], nodes: dict, edges: list) -> None:
    """One Output node per run of consecutive outputs reading one population, named in output order.

    A run reading every neuron of its population in order is an edge from the population; any other
    run goes through a one-hot Linear (`readout_NNN`), which import maps back onto the neurons.
    """
    runs: list[tuple[int, list[int]]] = []
    for o in net.outputs:
        if runs and runs[-1][0] == o.pop:
            runs[-1][1].append(o.neuron)
        else:
            runs.append((o.pop, [o.neuron]))
    for r, (pop, neurons) in enumerate(runs):
        suffix = "" if len(runs) == 1 else f"_{r:03d}"  # h5py lists nodes by name: keep output order
        oname = "output" + suffix
        nodes[oname] = nir.Output(output_type={"output": np.array([len(neurons)])})
        if neurons == list(range(net.populations[pop].n)):
            edges.append((names[pop], oname))
            continue
        sel = np.zeros((len(neurons), net.populations[pop].n))
        sel[np.arange(len(neurons)), neurons] = 1.0
        rname = "readout" + suffix
        nodes[rname] = nir.Linear(weight=sel)
        edges += [(names[pop], rname), (rname, oname)]
