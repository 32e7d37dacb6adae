"""Where the controller of a sensing-to-action loop runs: the face every backend shows the loop.

The loop (`sim/loop.py`) only ever calls `reset()`, `act(obs) -> Action` and `close()`, so the
same loop drives the integer network in-process, the float reference, the PID, or the network on a
board at the other end of a serial line (`firmware_bridge/loop_device.py`). A backend that cannot
answer raises `BackendFault` (late reply, lost link); the loop's monitor then holds the safe action
and keeps calling, so a backend must be usable again after a fault once its cause is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class Action:
    """What one controller step produced, and what it cost."""

    u: np.ndarray  # the action to apply (float32, the env's action shape)
    codes: np.ndarray | None = None  # the integer network's int16 output codes (None for float controllers)
    spikes: int = 0  # spikes in this step
    synops: int = 0  # synaptic operations in this step
    bytes_out: int = 0  # bytes sent to the controller (serial backends)
    bytes_in: int = 0  # bytes received from it


class BackendFault(Exception):
    """The controller gave no usable answer for this step."""


class BackendTimeout(BackendFault):
    """No reply within the step's deadline."""


class BackendDisconnected(BackendFault):
    """The link is gone (port closed, device unplugged); the backend retries to reconnect on later calls."""


class Backend(ABC):
    name: str = "controller"

    @abstractmethod
    def reset(self) -> None:
        """Start of an episode: clear the controller's state."""

    @abstractmethod
    def act(self, obs: np.ndarray) -> Action:
        """One control step on this observation; raises `BackendFault` when there is no answer."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release ports, processes, emulators."""


# -- in-process backends -------------------------------------------------------------------------------


class IntegerSNNBackend(Backend):
    """The integer network in-process (numba `Stepper`): what a board computes, bit for bit.

    Observation -> codes -> step -> codes -> action exactly as `SNNController` (the same encode and
    decode a board backend uses); `last_input_codes` holds the codes of the last step (what a STEP
    request would carry).
    """

    name = "snn"

    def __init__(self, net) -> None:
        from snnctl.controllers.snn import SNNController

        self.net = net
        self.controller = SNNController(net)
        self.last_input_codes = np.zeros(net.n_inputs, dtype=np.int16)
        # compile the numba step now, not in the first control step (whose deadline it would miss)
        self.controller.stepper.step(self.last_input_codes)
        self.controller.reset()

    def reset(self) -> None:
        self.controller.reset()

    def act(self, obs: np.ndarray) -> Action:
        c = self.controller
        self.last_input_codes = c.encode(obs).copy()  # encode is pure: act() below computes the same codes
        u = c.act(obs)
        return Action(u, codes=c.last_codes, spikes=int(c.last_spike_count), synops=int(c.last_synops))


class FloatStepper:
    """The float reference model (`snnctl.reference`) stepped once per call, for control loops.

    `snnctl.reference.simulate` runs a whole input sequence; a loop needs one step at a time with the
    state kept between calls. Same update order and the same neuron update (`reference._update`), so
    T calls give `simulate`'s outputs exactly (tested).
    """

    def __init__(self, fnet) -> None:
        from snnctl.network import INPUT
        from snnctl.reference import decay_factor

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
        self.spikes = 0
        self.synops = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        """Real inputs (n_inputs,) -> the output neurons' v (n_outputs,), float64."""
        from snnctl.reference import _update  # the reference's own neuron update, not a copy of it

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
        self.spikes = int(now.sum())
        self.synops = synops
        return np.array([self.v[o.pop][o.neuron] for o in fnet.outputs])


class FloatReferenceBackend(Backend):
    """The float reference of an integer network (`snnctl.quantize.from_integer`): no rounding, no saturation.

    Flies the same network "as designed", to see what quantisation costs in closed loop. Inputs as the
    integer network's: the observation entries of `meta["obs_index"]`; NaN -> 0 (the integer zero point,
    "no signal") and values beyond the int16 code range clipped to it, as a device would saturate them.
    Outputs are the readouts' v in real units (minus the output zero point), combined and clipped as `meta` says.
    """

    name = "float"

    def __init__(self, net, dt: float = 0.1) -> None:
        from snnctl.quantize import from_integer

        self.net = net
        self.fnet = from_integer(net, dt)
        self.stepper = FloatStepper(self.fnet)
        idx = net.meta.get("obs_index")
        self.obs_index = None if idx is None else np.atleast_1d(np.asarray(idx, dtype=np.int64))
        self.combine = net.meta.get("combine")
        self.u_min = net.meta.get("u_min", -np.inf)
        self.u_max = net.meta.get("u_max", np.inf)
        scale = net.input_scale.astype(np.float64)
        self._x_lo = (-32768 - net.input_zero) * scale
        self._x_hi = (32767 - net.input_zero) * scale
        self._out_zero = np.array([o.zero * o.scale for o in net.outputs], dtype=np.float64)

    def reset(self) -> None:
        self.stepper.reset()

    def act(self, obs: np.ndarray) -> Action:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        x = obs if self.obs_index is None else obs[self.obs_index]
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf), self._x_lo, self._x_hi)
        y = self.stepper.step(x) - self._out_zero
        if self.combine == "sum":
            y = np.array([y.sum()])
        u = np.clip(y, self.u_min, self.u_max).astype(np.float32)
        return Action(u, spikes=self.stepper.spikes, synops=self.stepper.synops)


class PIDBackend(Backend):
    """The blimp's PID baseline (`snnctl.controllers.pid.PID.for_blimp`); keyword arguments override gains."""

    name = "pid"

    def __init__(self, dt: float = 0.1, **gains) -> None:
        from snnctl.controllers.pid import PID

        self.pid = PID.for_blimp(dt=dt, **gains)

    def reset(self) -> None:
        self.pid.reset()

    def act(self, obs: np.ndarray) -> Action:
        return Action(self.pid.act(obs))


def make_backend(spec: str, dt: float = 0.1) -> Backend:
    """An in-process backend from a command-line spec: ``pid``, ``NET.snn`` (integer) or ``float:NET.snn``.

    `dt` is the control period (s): the PID's step, and the time unit of the float view's time constants.
    Raises ValueError (no such file; `SnnFormatError`, a ValueError, for a broken one).
    """
    from pathlib import Path

    from snnctl.snnfile import load

    if spec == "pid":
        return PIDBackend(dt)
    kind, path = ("float", spec[len("float:") :]) if spec.startswith("float:") else ("snn", spec)
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file (controllers: 'pid', a .snn network, or 'float:NET.snn' for its "
                         "float reference)")  # fmt: skip
    net = load(path)
    return FloatReferenceBackend(net, dt) if kind == "float" else IntegerSNNBackend(net)
