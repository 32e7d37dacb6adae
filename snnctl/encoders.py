"""Input encodings built from ordinary populations (docs/integer-model.md §4).

Each helper returns a population and the (n_inputs, n) int8 weight matrix of its INPUT
projection; nothing here is special to the executors, so every encoding runs on every target.

- current ("encoding-free", L2MU): any population fed straight by INPUT weights; no helper needed.
- `pm_pair`: the blimp paper's +/- pairs, one neuron firing for positive and one for negative
  values of a channel.
- `delta_pair`: send-on-delta, one DELTA neuron for rises and one for falls of a channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .network import MAX24, Kind, NetworkError, Population, Reset


def _channel_matrix(n_inputs: int, channels: Sequence[int], per_channel: int, signs: np.ndarray) -> np.ndarray:
    for c in channels:
        if not 0 <= c < n_inputs:
            raise NetworkError(f"encoder: channel {c} is outside 0..{n_inputs - 1}")
    w = np.zeros((n_inputs, len(channels) * per_channel), dtype=np.int64)
    for k, c in enumerate(channels):
        w[c, k * per_channel : (k + 1) * per_channel] = signs
    return w


def pm_pair(
    n_inputs: int,
    channels: Sequence[int],
    pairs_per_channel: int,
    magnitude: int | Sequence[int],
    *,
    bias: int = 0,
    theta: int = 1 << 12,
    du: int = 4096,
    dv: int = 0,
    reset: Reset = Reset.SOFT,
    name: str = "pm_enc",
) -> tuple[Population, np.ndarray]:
    """+/- pair encoders: neuron 2k of a channel gets weight +m_k, neuron 2k+1 gets -m_k.

    `magnitude` is one int8 magnitude (1..127) or one per pair; a shared `bias` lets a pair fire
    around zero (the paper's shared bias).
    """
    mags = np.broadcast_to(np.asarray(magnitude, dtype=np.int64), (pairs_per_channel,))
    if np.any(mags < 1) or np.any(mags > 127):
        raise NetworkError(f"{name}: pair magnitudes must be in 1..127, got {mags.min()}..{mags.max()}")
    signs = np.repeat(mags, 2) * np.tile([1, -1], pairs_per_channel)
    w = _channel_matrix(n_inputs, channels, 2 * pairs_per_channel, signs)
    pop = Population(Kind.LIF, w.shape[1], du=du, dv=dv, bias=bias, theta=theta, reset=reset, name=name)
    return pop, w.astype(np.int8)


def delta_pair(
    n_inputs: int, channels: Sequence[int], delta: int, *, name: str = "delta_enc"
) -> tuple[Population, np.ndarray]:
    """Send-on-delta: per channel an "up" neuron (weight +1) and a "down" neuron (weight -1).

    `delta` is in input codes: the up neuron fires when the code has risen by `delta` since its
    last event (or trough), the down neuron likewise for falls.
    """
    if not 1 <= delta <= MAX24:
        raise NetworkError(f"{name}: delta must be in 1..{MAX24} input codes, got {delta}")
    w = _channel_matrix(n_inputs, channels, 2, np.array([1, -1]))
    pop = Population(Kind.DELTA, w.shape[1], du=4096, dv=0, theta=delta, name=name)
    return pop, w.astype(np.int8)
