"""Where the controller of a sensing-to-action loop runs: the face every backend shows the loop.

Defined once here, in the core, so that everything that runs a controller implements the same face
without importing the loop: the in-process backends below and `DeviceBackend` on a board. The loop
(`sim/loop.py`) only ever calls `reset()`, `act(obs) -> Action` and `close()`, so the
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

    def __init__(self, net, dt: float | None = None, force: bool = False) -> None:
        """`dt`: the loop's control period, checked against the network's own (`SNNController`) unless `force`."""
        from snnctl.controllers.snn import SNNController

        self.net = net
        self.controller = SNNController(net, dt, force)
        self.last_input_codes = np.zeros(net.n_inputs, dtype=np.int16)  # SNNController compiled the step already

    def reset(self) -> None:
        self.controller.reset()

    def act(self, obs: np.ndarray) -> Action:
        c = self.controller
        self.last_input_codes = c.encode(obs).copy()  # encode is pure: act() below computes the same codes
        u = c.act(obs)
        return Action(u, codes=c.last_codes, spikes=int(c.last_spike_count), synops=int(c.last_synops))


class FloatReferenceBackend(Backend):
    """The float reference of an integer network (`snnctl.quantize.from_integer`): no rounding, no saturation.

    Flies the same network "as designed", to see what quantisation costs in closed loop. Inputs as the
    integer network's: the observation entries of `meta["obs_index"]`; NaN -> 0 (the integer zero point,
    "no signal") and values beyond the int16 code range clipped to it, as a device would saturate them.
    Outputs are the readouts' v in real units (minus the output zero point), combined and clipped as `meta` says.
    """

    name = "float"

    def __init__(self, net, dt: float = 0.1, force: bool = False) -> None:
        """`dt`: the control period, the float view's time unit; checked against the network's own unless `force`."""
        from snnctl.controllers.snn import check_control_period
        from snnctl.quantize import from_integer

        check_control_period(net, dt, force)
        self.net = net
        self.fnet = from_integer(net, dt)
        from snnctl.reference import FloatStepper

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
        if self.combine == "argmax":  # the largest readout, lowest index on a tie (as SNNController.decode)
            start = int(self.net.meta.get("action_start", 0))
            return Action(np.int64(start + int(np.argmax(y))), spikes=self.stepper.spikes, synops=self.stepper.synops)
        if self.combine == "sum":
            y = np.array([y.sum()])
        u = np.clip(y, self.u_min, self.u_max).astype(np.float32)
        return Action(u, spikes=self.stepper.spikes, synops=self.stepper.synops)


class PIDBackend(Backend):
    """The blimp's PID baseline (`snnctl.controllers.pid.PID.for_blimp`); keyword arguments override gains."""

    name = "pid"

    def __init__(self, dt: float, **gains) -> None:
        """`dt`: the loop's control period (required: the PID's I and D terms scale with it)."""
        from snnctl.controllers.pid import PID

        self.pid = PID.for_blimp(dt=dt, **gains)

    def reset(self) -> None:
        self.pid.reset()

    def act(self, obs: np.ndarray) -> Action:
        return Action(self.pid.act(obs))
