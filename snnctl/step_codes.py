"""The host side of one control step, compiled: observation -> int16 input codes, output codes -> action.

`SNNController.encode` / `decode` did these with a handful of numpy calls on 2- to 10-element
arrays, and in an evolution run those calls (not the network step, ~1 us in numba) were half the
time of a Pendulum step. The same arithmetic, element by element in numba, costs well under a
microsecond. Every operation is the numpy one it replaces, in the same order and precision (a
float32 observation is widened to float64 before the multiply, as numpy does), so the codes and
actions are bit for bit those of the numpy expressions (tested: tests/test_step_codes.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def encode_into(obs, inv_scale, zero, out) -> None:  # pragma: no cover - compiled
    """out[i] = clip(rint(obs[i] * inv_scale[i]) + zero[i], -32768, 32767); NaN -> 0 and +-inf -> +-40000
    before rounding (so NaN gives the zero point and +-inf saturates), as `np.nan_to_num` did."""
    for i in range(out.size):
        x = obs[i] * inv_scale[i]  # float64 (a float32 obs is widened first, as in numpy)
        if x != x:  # NaN: "no signal", the zero point
            x = 0.0
        elif x == np.inf:
            x = 40000.0
        elif x == -np.inf:
            x = -40000.0
        x = np.rint(x) + zero[i]  # round half to even, as np.rint
        out[i] = min(max(x, -32768.0), 32767.0)  # an integral value in int16 range: exact


@njit(cache=True, nogil=True)
def decode_into(codes, zero, scale, low, high, out) -> None:  # pragma: no cover - compiled
    """out[k] = float32(clip((codes[k] - zero[k]) * scale[k], low[k], high[k])), as np.clip and astype."""
    for k in range(out.size):
        y = (codes[k] - zero[k]) * scale[k]  # int16 - float64: float64, as numpy
        # np.clip: below low -> low, above high -> high (bounds never -0.0: SNNController passes them + 0.0,
        # and y is never -0.0, so no signed-zero tie can tell the two orders apart)
        if y < low[k]:
            y = low[k]
        if y > high[k]:
            y = high[k]
        out[k] = y  # float64 -> float32: round to nearest, as astype
