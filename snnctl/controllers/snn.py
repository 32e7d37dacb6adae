"""An integer network as a controller: `reset()`, `act(obs) -> action`, like every controller here.

Which observation entries feed the inputs and how outputs become the action are read from the
network's `meta` (written by its codec), so a `.snn` file alone is enough to fly it:
`obs_index` (list of observation indices, default: all), `combine` ("sum": the action is the sum
of all outputs; default: one action per output) and `u_min`/`u_max` (clip).
"""

from __future__ import annotations

import numpy as np

from ..network import Network
from ..runtime import Stepper


class SNNController:
    def __init__(self, net: Network) -> None:
        self.net = net
        self.stepper = Stepper(net)
        idx = net.meta.get("obs_index")
        self.obs_index = None if idx is None else np.atleast_1d(np.asarray(idx, dtype=np.int64))
        self.combine = net.meta.get("combine")
        self.u_min = net.meta.get("u_min", -np.inf)
        self.u_max = net.meta.get("u_max", np.inf)
        self.last_spike_count = 0  # spikes, synaptic operations and output codes of the last act()
        self.last_synops = 0
        self.last_codes = np.zeros(net.n_outputs, dtype=np.int16)
        # per-step constants, so act() is a handful of small numpy operations
        n_in = net.n_inputs
        self._inv_scale = 1.0 / net.input_scale.astype(np.float64)
        self._zero = net.input_zero.astype(np.float64)
        self._codes = np.zeros(n_in, dtype=np.int16)
        self._out_scale = np.array([o.scale for o in net.outputs])
        self._out_zero = np.array([o.zero for o in net.outputs], dtype=np.float64)

    @classmethod
    def load(cls, path) -> SNNController:
        from ..snnfile import load

        return cls(load(path))

    def reset(self) -> None:
        """Back to the state of a new controller: network state and the last step's counters and codes,
        so nothing of a previous episode is reported (or logged by a loop) before the first act()."""
        self.stepper.reset()
        self.last_spike_count = 0
        self.last_synops = 0
        self.last_codes = np.zeros(self.net.n_outputs, dtype=np.int16)

    def encode(self, obs: np.ndarray) -> np.ndarray:
        """Observation -> the network's int16 input codes (the same codes a board is sent)."""
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        x = obs * self._inv_scale if self.obs_index is None else obs[self.obs_index] * self._inv_scale
        # Network.quantize_inputs, inlined (the control loop's hot path): NaN -> zero point, overflow
        # and +-inf saturate; the NaN/inf pass only when there is one (sensors are usually finite)
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=0.0, posinf=40000.0, neginf=-40000.0)
        np.rint(x, out=x)
        x += self._zero
        np.clip(x, -32768, 32767, out=x)
        self._codes[:] = x
        return self._codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The network's int16 output codes -> the action (combined and clipped as `meta` says)."""
        y = (codes - self._out_zero) * self._out_scale
        if self.combine == "sum":
            y = np.array([y.sum()])
        return np.clip(y, self.u_min, self.u_max).astype(np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        codes = self.stepper.step(self.encode(obs))
        self.last_codes = codes.copy()
        self.last_spike_count = self.stepper.spikes
        self.last_synops = self.stepper.synops
        return self.decode(codes)
