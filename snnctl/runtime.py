"""Running integer networks: a single-step `Stepper` for control loops, whole sequences, batches.

All three go through the numba kernels in `snnctl.kernel`; nothing here loops over time in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernel
from .network import Network, NetworkError


def _codes(net: Network, codes: np.ndarray, ndim: int) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.dtype != np.int16:
        if not np.issubdtype(codes.dtype, np.integer):
            raise NetworkError("input codes must be integers (int16); quantise real values with net.quantize_inputs")
        if codes.size and (codes.min() < -32768 or codes.max() > 32767):
            raise NetworkError("input codes must lie in the int16 range -32768..32767")
    if codes.ndim != ndim or codes.shape[-1] != net.n_inputs:
        want = "(n_inputs,)" if ndim == 1 else "(T, n_inputs)"
        raise NetworkError(f"input codes must have shape {want} with n_inputs = {net.n_inputs}, got {codes.shape}")
    return np.ascontiguousarray(codes, dtype=np.int16)


class Stepper:
    """One network stepped once per control tick; holds its own state between calls.

    `step(codes)` takes the int16 input codes of one tick and returns the int16 output codes (an array
    reused by the next call: copy it to keep it); the tick's spikes are in `last_spikes` (0/1 per
    neuron, in population order), their total in `spikes`, synaptic operations in `synops`. `act(x)`
    does the same on real values through the network's quantisation; `reset()` starts over.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        self.program = kernel.Program(net)
        self._prog = self.program.prog
        self.state = self.program.new_state()
        self._out = np.zeros(net.n_outputs, dtype=np.int16)
        self.last_spikes = np.zeros(net.n_neurons, dtype=np.uint8)  # per neuron, of the last step
        self.spikes = 0  # total of the last step
        self.synops = 0

    def reset(self) -> None:
        """Back to the state before the first step: neuron state and the last step's counters."""
        self.state[:] = 0
        self.last_spikes[:] = 0
        self.spikes = 0
        self.synops = 0

    def step(self, codes: np.ndarray) -> np.ndarray:
        """int16 input codes (n_inputs,) -> int16 output codes (n_outputs,); the array is reused."""
        if codes.dtype != np.int16 or codes.shape != (self.net.n_inputs,):
            codes = _codes(self.net, codes, 1)
        self.spikes, self.synops = kernel.step(self._prog, self.state, codes, self._out, self.last_spikes)
        return self._out

    def act(self, x: np.ndarray) -> np.ndarray:
        """Real-valued inputs in, real-valued outputs out (quantise, step, de-quantise)."""
        return self.net.dequantize_outputs(self.step(self.net.quantize_inputs(x)))


@dataclass
class Trace:
    outputs: np.ndarray  # (T, n_out) int16
    spikes: np.ndarray  # (T, N) uint8
    u: np.ndarray  # (T, N) int32
    v: np.ndarray
    a: np.ndarray


def run(net: Network, codes: np.ndarray, counts: bool = False):
    """Run from reset over codes (T, n_in); returns outputs (T, n_out) [and counts (T, 2): spikes, synops]."""
    codes = _codes(net, codes, 2)
    prog = kernel.Program(net)
    out = np.zeros((codes.shape[0], net.n_outputs), dtype=np.int16)
    cnt = np.zeros((codes.shape[0], 2), dtype=np.int64)
    kernel.run(prog.prog, prog.new_state(), codes, out, cnt)
    return (out, cnt) if counts else out


def run_trace(net: Network, codes: np.ndarray) -> Trace:
    """Run from reset recording every neuron's spikes and state after each step."""
    codes = _codes(net, codes, 2)
    prog = kernel.Program(net)
    t, n = codes.shape[0], net.n_neurons
    tr = Trace(
        np.zeros((t, net.n_outputs), np.int16), np.zeros((t, n), np.uint8),
        np.zeros((t, n), np.int32), np.zeros((t, n), np.int32), np.zeros((t, n), np.int32),
    )  # fmt: skip
    kernel.run_trace(prog.prog, prog.new_state(), codes, tr.outputs, tr.spikes, tr.u, tr.v, tr.a)
    return tr


def stack_programs(nets: list[Network]) -> np.ndarray:
    """Programs of networks with equal input and output counts as one zero-padded (B, L) array.

    Each program is self-describing (offsets in its own header), so the batch kernel needs only
    equal row lengths; genomes of one population usually have identical programs lengths anyway.
    """
    if not nets:
        raise NetworkError("run_batch: no networks given")
    progs = [kernel.compile_network(n) for n in nets]
    for b, n in enumerate(nets):
        if (n.n_inputs, n.n_outputs) != (nets[0].n_inputs, nets[0].n_outputs):
            raise NetworkError(f"run_batch: network {b} has {n.n_inputs} inputs/{n.n_outputs} outputs,"
                               f" network 0 has {nets[0].n_inputs}/{nets[0].n_outputs}")  # fmt: skip
    out = np.zeros((len(progs), max(p.size for p in progs)), dtype=np.int32)
    for b, p in enumerate(progs):
        out[b, : p.size] = p
    return out


def run_batch(nets: list[Network] | np.ndarray, codes: np.ndarray, counts: bool = False):
    """Run B networks from reset; codes (B, T, n_in) -> outputs (B, T, n_out).

    `nets` is a list of networks or a (B, L) array from `stack_programs` (reuse it across calls
    when only the inputs change). Each row runs in its own state; rows are split across threads.
    """
    progs = nets if isinstance(nets, np.ndarray) else stack_programs(nets)
    n_in, n_out = int(progs[0, kernel.H_NIN]), int(progs[0, kernel.H_NOUT])
    codes = np.asarray(codes)
    if codes.ndim != 3 or codes.shape[0] != progs.shape[0] or codes.shape[2] != n_in:
        raise NetworkError(f"batch codes must have shape ({progs.shape[0]}, T, {n_in}), got {codes.shape}")
    codes = np.ascontiguousarray(codes, dtype=np.int16)
    b, t = codes.shape[:2]
    states = np.zeros((b, int(progs[:, kernel.H_STATE_LEN].max())), dtype=np.int32)
    out = np.zeros((b, t, n_out), dtype=np.int16)
    cnt = np.zeros((b, t, 2), dtype=np.int64)
    kernel.run_batch(progs, states, codes, out, cnt)
    return (out, cnt) if counts else out
