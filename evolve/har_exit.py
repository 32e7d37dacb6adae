"""Early exit of the L2MU classifier: stop a window once the running scores are decided.

The deployed readout is a running sum (`snnctl.controllers.l2mu.install_readout`): after t steps
its output holds W . c(t) + t beta, the fitted map applied to the counts so far with t/T of the
bias, so the class ranking can be read at any step. The rule: check every `every` steps; stop at
the first check where the top score leads the second by at least `margin`; a window that never
does runs to its end. The margin is **fitted on the training split's partial-window counts**
(`fit_margin`): the smallest margin whose early decisions agree with the full-window decisions on
at least `agreement` of the training windows. The test split only scores the fitted rule.
"""

from __future__ import annotations

import math

import numpy as np

from snnctl.controllers.readout_fit import accuracy
from snnctl.network import Network

EXIT_CHECKS = 50  # at most this many checks per window (every ceil(T / 50) samples)
FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # the accuracy-vs-window table's fixed fractions


def check_steps(window_steps: int, steps_per_sample: int) -> np.ndarray:
    """Step indices where the rule looks at the scores: every `check_every` samples' last step, and the
    window's last step."""
    samples = window_steps // steps_per_sample
    every = steps_per_sample * max(1, math.ceil(samples / EXIT_CHECKS))
    return np.unique(np.append(np.arange(every - 1, window_steps, every), window_steps - 1))


def running_scores(net: Network, counts_at: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The integer network's dequantised output codes after the steps `at`, from the hidden counts
    so far (N, len(at), n_hidden): exactly what `run_batch` would output there (the readout is an
    exact integer sum of counts and per-step bias; `evolve.har.check_scores` checks the final step)."""
    from evolve.har import integer_readout

    w_int, b_int = integer_readout(net)
    shift = int(net.meta["readout"]["shift"])
    v = np.asarray(counts_at, dtype=np.int64) @ w_int + (np.asarray(at, dtype=np.int64) + 1)[None, :, None] * b_int
    codes = np.clip(np.floor_divide(v, 2**shift), -32768, 32767)
    return codes * np.array([o.scale for o in net.outputs])[None, None, :]


def _margins(scores: np.ndarray) -> np.ndarray:
    top2 = np.sort(scores, axis=2)[:, :, -2:]
    return top2[:, :, 1] - top2[:, :, 0]


def exit_decisions(scores: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, index of the check where each window stops) for scores (N, checks, K)."""
    passed = _margins(scores) >= margin
    stop = np.where(passed.any(axis=1), np.argmax(passed, axis=1), scores.shape[1] - 1)
    return np.argmax(scores[np.arange(len(scores)), stop], axis=1), stop


def fit_margin(scores: np.ndarray, agreement: float = 0.99) -> float:
    """The smallest margin (among the training windows' own running margins) whose early decisions
    equal the full-window decisions on >= `agreement` of the windows; inf if only the end does."""
    full = np.argmax(scores[:, -1], axis=1)
    for m in np.unique(_margins(scores[:, :-1]).ravel()):
        if m <= 0:
            continue
        if np.mean(exit_decisions(scores, float(m))[0] == full) >= agreement:
            return float(m)
    return math.inf


def exit_table(scores: np.ndarray, y: np.ndarray, at: np.ndarray, window_steps: int, margin: float) -> dict:
    """Accuracy at fixed fractions of the window, and of the fitted rule with the share of the window it used."""
    frac = (np.asarray(at) + 1) / window_steps
    rows = []
    for f in FRACTIONS:
        k = int(np.searchsorted(frac, f - 1e-9))
        rows.append({"fraction": float(frac[k]), "accuracy": accuracy(y, np.argmax(scores[:, k], axis=1))})
    pred, stop = exit_decisions(scores, margin)
    # margin None when no margin decides early (JSON has no inf)
    return {"margin": margin if math.isfinite(margin) else None, "at_fraction": rows,
            "rule_accuracy": accuracy(y, pred), "rule_fraction_of_window": float(frac[stop].mean())}  # fmt: skip
