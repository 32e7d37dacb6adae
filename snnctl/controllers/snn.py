"""An integer network as a controller: `reset()`, `act(obs) -> action`, like every controller here.

Which observation entries feed the inputs and how outputs become the action are read from the
network's `meta` (written by its codec), so a `.snn` file alone is enough to fly it:
`obs_index` (list of observation indices, default: all), `combine` ("sum": the action is the sum
of all outputs; "argmax": a discrete action, `action_start` + the index of the largest output
*code*, the lowest index on a tie; default: one action per output) and `u_min`/`u_max` (clip).
The argmax is taken of the integer codes on the host, so a network stepped on a board (whose codes
`decode` turns into the action) and in-process choose the same action bit for bit.

A network records the control period it was made for (`Network.control_period_s`, the `.snn`
file's `ctrl` section). Its time constants are counted in steps, so at another rate it is another
controller: given the loop's period `dt`, `SNNController` refuses a mismatch (`ControlPeriodError`)
unless `force=True`.

Its inputs and outputs must fit the loop it is put in: `check_io` compares them with the loop's
observation and action sizes (`ShapeMismatchError` naming both shapes), so that a network of
another family is refused before a run starts rather than failing inside the first step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..network import Network
from ..runtime import Stepper
from ..step_codes import decode_into, encode_into


class ControlPeriodError(ValueError):
    """A network run in a control loop of another period than the one it was made for."""


class ShapeMismatchError(ValueError):
    """A controller whose inputs or outputs do not fit the loop's observation or action."""


def _io(ctl: Any) -> tuple[int, int, int, Any, str]:
    """(inputs, outputs, actions given, observation indices or None, what it is) of a network or of a
    float baseline policy (`LinearPolicy`: `w` (outputs, inputs); `MLPPolicy`: `weights`)."""
    if isinstance(ctl, Network):
        n_out = ctl.n_outputs
        gives = 1 if ctl.meta.get("combine") in ("sum", "argmax") else n_out
        family = ctl.meta.get("family")
        return ctl.n_inputs, n_out, gives, ctl.meta.get("obs_index"), f"a {family} network" if family else ""
    first, last = (ctl.w, ctl.w) if hasattr(ctl, "w") else (ctl.weights[0], ctl.weights[-1])
    what = {"linear": "a linear policy", "mlp": "an MLP policy"}.get(ctl.kind, f"a {ctl.kind} policy")
    return first.shape[1], last.shape[0], last.shape[0], getattr(ctl, "obs_index", None), what


def describe_io(ctl: Any) -> str:
    """What a network (or float policy) reads and gives, in the loop's terms: "a har network: 6 inputs, 4 outputs"."""
    from ..text import listing, plural

    n_in, n_out, gives, idx, what = _io(ctl)
    reads = plural(n_in, "input")
    if idx is not None:
        entries = sorted({int(i) for i in np.atleast_1d(idx)})
        reads += f" from observation {'entry' if len(entries) == 1 else 'entries'} {listing(entries)}"
    out = plural(n_out, "output") + (" summed into 1 action" if gives != n_out else "")
    return (f"{what}: " if what else "") + f"{reads}, {out}"


def check_io(ctl: Any, n_obs: int, n_act: int, label: str | None = None, where: str = "this loop") -> None:
    """Raise ShapeMismatchError unless the inputs of `ctl` (a network or a float policy) are observation
    entries below `n_obs` (all `n_obs` of them when it names none) and its outputs make `n_act` actions;
    the message names both shapes. `where` says what the loop is ("BlimpAltitudeEnv")."""
    from ..text import plural

    n_in, _, gives, idx, _ = _io(ctl)
    entries = np.atleast_1d(np.asarray(idx, dtype=np.int64)) if idx is not None else None
    if entries is None:
        reads_ok = n_in == n_obs
    else:
        reads_ok = entries.size == n_in and bool((entries >= 0).all() and (entries < n_obs).all())
    if reads_ok and gives == n_act:
        return
    meta = getattr(ctl, "meta", {})
    name = label or meta.get("name") or "this controller"
    raise ShapeMismatchError(
        f"{name} ({describe_io(ctl)}) does not fit {where}"
        f" ({plural(n_obs, 'observation entry', 'observation entries')}, {plural(n_act, 'action')})"
    )


def check_fits_env(ctl: Any, env: Any, label: str | None = None) -> None:
    """`check_io` against a gymnasium env's (flat) observation and action spaces, naming the env."""
    u = getattr(env, "unwrapped", env)
    n_obs = int(np.prod(env.observation_space.shape))
    n_act = int(np.prod(env.action_space.shape))
    check_io(ctl, n_obs, n_act, label, where=type(u).__name__)


def _period(p: float) -> str:
    return f"{p:g} s ({1.0 / p:g} Hz)"


def check_control_period(net: Network, dt: float | None, force: bool = False, label: str | None = None) -> None:
    """Raise ControlPeriodError if the loop's period `dt` is not the network's own (within 1 us or 1 ppm).

    Nothing is checked when either period is unknown (`dt` None, or an old file without one), or with `force`.
    """
    own = net.control_period_s
    if force or dt is None or own is None or math.isclose(own, dt, rel_tol=1e-6, abs_tol=1e-6):
        return
    name = label or net.meta.get("name") or "this network"
    raise ControlPeriodError(
        f"{name} was made for a {_period(own)} control period; this loop runs at {_period(float(dt))}."
        " Its dynamics are counted in steps, so it would behave differently; pass --force-rate"
        " (force=True) to run it anyway"
    )


class SNNController:
    def __init__(self, net: Network, dt: float | None = None, force: bool = False, *, label: str | None = None) -> None:
        """`dt`: the loop's control period (s), checked against the network's own unless `force`."""
        check_control_period(net, dt, force, label)
        self.net = net
        self.dt = net.control_period_s if dt is None else float(dt)
        self.stepper = Stepper(net)
        idx = net.meta.get("obs_index")
        self.obs_index = None if idx is None else np.atleast_1d(np.asarray(idx, dtype=np.int64))
        self.combine = net.meta.get("combine")
        self.action_start = int(net.meta.get("action_start", 0))
        self.u_min = np.asarray(net.meta.get("u_min", -np.inf), dtype=np.float64)
        self.u_max = np.asarray(net.meta.get("u_max", np.inf), dtype=np.float64)
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
        # one action per output (no combine): the clip bounds per output, for the compiled decode
        self._bounds = None
        if self.combine is None:
            try:
                lo, hi = (np.broadcast_to(b, (net.n_outputs,)).astype(np.float64) for b in (self.u_min, self.u_max))
                self._bounds = (lo + 0.0, hi + 0.0)  # contiguous copies; a bound of -0.0 becomes +0.0
            except ValueError:  # bounds of another length: decode's numpy broadcasting reports it
                pass
        self._compile_hot_path()

    def _compile_hot_path(self) -> None:
        """Run encode, step and decode once on scratch values, then reset.

        WHY: numba compiles (or loads from its cache) on a function's first call, and the first call
        in a process costs ~0.3 s. In a paced loop that lands in the first control step, which then
        misses its deadline (a board backend's reply timeout starts before the encode). Both
        observation dtypes a loop hands over (float64, and float32 from gymnasium) are compiled."""
        scratch = np.zeros(self._codes.size, dtype=np.int16)
        for dtype in (np.float64, np.float32):
            encode_into(np.zeros(scratch.size, dtype=dtype), self._inv_scale, self._zero, scratch)
        out = self.stepper.step(scratch)
        if self._bounds is not None:
            decode_into(out, self._out_zero, self._out_scale, *self._bounds, np.empty(out.size, dtype=np.float32))
        self.reset()

    @classmethod
    def load(cls, path, dt: float | None = None, force: bool = False) -> SNNController:
        from ..snnfile import load

        return cls(load(path), dt, force, label=str(path))

    def reset(self) -> None:
        """Back to the state of a new controller: network state and the last step's counters and codes,
        so nothing of a previous episode is reported (or logged by a loop) before the first act()."""
        self.stepper.reset()
        self.last_spike_count = 0
        self.last_synops = 0
        self.last_codes = np.zeros(self.net.n_outputs, dtype=np.int16)

    def encode(self, obs: np.ndarray) -> np.ndarray:
        """Observation -> the network's int16 input codes (the same codes a board is sent)."""
        obs = np.asarray(obs).reshape(-1)
        if obs.dtype != np.float32 and obs.dtype != np.float64:
            obs = obs.astype(np.float64)
        if self.obs_index is not None:
            obs = obs[self.obs_index]
        if obs.size != self._codes.size:
            raise ValueError(f"observation of {obs.size} values, the network takes {self._codes.size} inputs")
        # Network.quantize_inputs by multiplication with 1 / scale, compiled (the control loop's hot path,
        # snnctl.step_codes): NaN -> zero point, overflow and +-inf saturate
        encode_into(obs, self._inv_scale, self._zero, self._codes)
        return self._codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The network's int16 output codes -> the action (combined and clipped as `meta` says).

        "argmax": `action_start` + the first index of the largest code (np.argmax returns the lowest
        index of a tie), an int64 scalar, as a gymnasium `Discrete` space takes it."""
        if self.combine == "argmax":
            return np.int64(self.action_start + int(np.argmax(codes)))
        codes = np.asarray(codes)
        if self._bounds is not None and codes.shape == self._out_zero.shape:
            u = np.empty(codes.size, dtype=np.float32)
            decode_into(codes, self._out_zero, self._out_scale, *self._bounds, u)
            return u
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
