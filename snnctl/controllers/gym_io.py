"""From a gymnasium env's spaces to a network's inputs and outputs: the gym family's I/O mapping.

No gymnasium here (the core imports none): a space is described by plain arrays, which
`evolve.gym` reads off the env. Three rules, each testable by hand:

- **Observation scale.** Each (flattened) `Box` dimension has a full-scale value: max(|low|, |high|)
  where both bounds are finite, else `headroom` times the largest |value| a calibration rollout saw
  (`UnboundedObservationError` naming the config key when there was none). An input code is
  ``round(x / full_scale * 32767)``, so the bounds map onto the int16 range and values beyond it
  saturate (`Network.quantize_inputs`).
- **Box action.** One LI readout per action dimension; its code maps to
  ``code * max(|low|, |high|) / ACTION_CODE_FS`` and is clipped to [low, high] (`SNNController.decode`
  with `u_min`/`u_max`).
- **Discrete action.** One LI readout per action; the action is `start` + the index of the largest
  output code, the lowest index on a tie (`SNNController.decode` with ``combine = "argmax"``). The
  argmax is of the integer codes, so whichever executor produced them
  (numba in-process, the C core on a board) the action is the same bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CODE_FS = 32767  # the int16 code a full-scale observation maps to
ACTION_CODE_FS = 4096  # the output code of a full-scale action (readout v of 2**16 shifted right by 4)


class UnboundedObservationError(ValueError):
    """An observation dimension without finite bounds and no calibration rollout to measure it."""


@dataclass(frozen=True)
class ActionIO:
    """What the network must produce: `kind` "box" (`low`/`high` per dimension) or "discrete" (`n`, `start`)."""

    kind: str
    n: int  # readouts: action dimensions (box) or choices (discrete)
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    start: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("box", "discrete"):
            raise ValueError(f"action kind must be 'box' or 'discrete', got {self.kind!r}")
        if self.n < 1:
            raise ValueError(f"an action needs at least one readout, got n = {self.n}")
        if self.kind == "box":
            lo, hi = np.asarray(self.low, dtype=np.float64), np.asarray(self.high, dtype=np.float64)
            if lo.shape != (self.n,) or hi.shape != (self.n,):
                raise ValueError(f"a box action of {self.n} dimensions needs {self.n} low and high bounds")
            if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
                raise ValueError(f"a box action needs finite bounds low < high, got {lo.tolist()} .. {hi.tolist()}")

    def output_scales(self) -> np.ndarray:
        """Real action per output code: max(|low|, |high|) / ACTION_CODE_FS (box); 1 (discrete: codes compared only)."""
        if self.kind == "discrete":
            return np.ones(self.n)
        return np.maximum(np.abs(self.low), np.abs(self.high)) / ACTION_CODE_FS

    def meta(self) -> dict:
        """The network `meta` entries `SNNController` decodes the action with."""
        if self.kind == "discrete":
            return {"action": "discrete", "combine": "argmax", "action_start": int(self.start)}
        return {"action": "box", "u_min": [float(x) for x in self.low], "u_max": [float(x) for x in self.high]}


def observation_full_scale(
    low: Sequence[float],
    high: Sequence[float],
    calibration_max: Sequence[float] | None = None,
    headroom: float = 1.5,
    key: str = "calibration.episodes",
) -> np.ndarray:
    """The full-scale value of each observation dimension (see the module docstring).

    `calibration_max`: the largest |value| of each dimension in a calibration rollout (None: none
    was run); a dimension it saw only at 0 gets full scale 1. Raises UnboundedObservationError
    naming `key` when an unbounded dimension has no calibration.
    """
    lo = np.asarray(low, dtype=np.float64).reshape(-1)
    hi = np.asarray(high, dtype=np.float64).reshape(-1)
    bounded = np.isfinite(lo) & np.isfinite(hi)
    scale = np.where(bounded, np.maximum(np.abs(np.where(bounded, lo, 0)), np.abs(np.where(bounded, hi, 0))), 0.0)
    if not bounded.all():
        dims = np.flatnonzero(~bounded).tolist()
        if calibration_max is None:
            raise UnboundedObservationError(
                f"observation {'dimension' if len(dims) == 1 else 'dimensions'} {', '.join(map(str, dims))}"
                f" unbounded (no finite low/high): set {key} >= 1 so a calibration rollout measures the range"
            )
        cal = np.asarray(calibration_max, dtype=np.float64).reshape(-1)
        if cal.shape != lo.shape:
            raise ValueError(f"calibration has {cal.size} dimensions, the observation {lo.size}")
        measured = np.where(cal > 0, cal * headroom, 1.0)
        scale = np.where(bounded, scale, measured)
    return np.where(scale > 0, scale, 1.0)  # a dimension bounded to [0, 0] is constant: any scale works


def input_scale(full_scale: np.ndarray) -> np.ndarray:
    """The network's `input_scale` (real value per code): full scale / 32767."""
    return np.asarray(full_scale, dtype=np.float64) / CODE_FS
