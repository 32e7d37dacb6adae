"""Closed-form readout fitting: ridge regression onto one-hot class targets, in numpy only.

The features are what the deployed readout integrates (an L2MU's hidden spike counts over a
window, `snnctl.controllers.l2mu.hidden_counts`), so the fitted map is the deployed one up to int8
rounding.

**Units.** By default the features are only centred, not standardised: every spike count shares one
unit and one noise floor (a count moves by +-1 spike when a neuron's drive moves by a hair, which is
also how the float reference's counts differ from the integer network's). Standardising would
divide the quiet neurons' counts, mostly that jitter, by their small spread and hand them large
weights; a penalty on the weights in count units instead keeps every score's sensitivity to a
one-spike change small. `standardise=True` gives the classical variant. The penalty is relative:
alpha * N * (mean feature variance) on |w|^2, so one grid suits features of any scale and any
number of windows.

**Choosing alpha without a test split.** For ridge with an unpenalised intercept the leave-one-out
residual of sample i is exactly r_i / (1 - H_ii), with H the hat matrix (the intercept adds 1/N to
it), so every alpha on the grid is scored from one SVD of the training features, with no refitting.
The chosen alpha is the largest whose LOO squared error is within one standard error of the
smallest (the "one-standard-error rule") among those with the best LOO accuracy: with few windows
many alphas tie, and the most regularised of them depends least on any single count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "RidgeReadout",
    "LooRow",
    "fit_ridge",
    "loo_scores",
    "one_hot_targets",
    "accuracy",
    "macro_f1",
    "confusion",
    "DEFAULT_ALPHAS",
    "choose_alpha",
]

DEFAULT_ALPHAS = np.logspace(-5, 2, 29)  # relative: times N * the mean feature variance


@dataclass(frozen=True)
class LooRow:
    """Leave-one-out scores of one penalty: accuracy, mean squared error (summed over classes) and its SE."""

    alpha: float
    accuracy: float
    mse: float
    mse_se: float


@dataclass
class RidgeReadout:
    """A linear readout: scores = features @ w + b; `alpha` the relative penalty used and its LOO scores."""

    w: np.ndarray  # (n_features, K)
    b: np.ndarray  # (K,)
    alpha: float
    loo_accuracy: float
    loo_mse: float = float("nan")
    loo_table: list[LooRow] = field(default_factory=list)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.w + self.b

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(self.scores(features), axis=1)


def one_hot_targets(y: np.ndarray, n_classes: int) -> np.ndarray:
    """+1 for the true class, -1 for the others, (N, K)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    t = -np.ones((y.size, n_classes))
    t[np.arange(y.size), y] = 1.0
    return t


def _prepare(x: np.ndarray, standardise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Centred (and optionally standardised) features, their mean, per-feature divisor, penalty unit."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0) if standardise else np.ones(x.shape[1])
    sd = np.where(sd > 1e-12, sd, 1.0)  # a constant feature carries nothing; its weight comes out 0
    z = (x - mu) / sd
    unit = float(np.mean(z**2)) * x.shape[0]  # N * mean variance: the mean per-feature sum of squares
    return z, mu, sd, unit if unit > 0 else 1.0


def loo_scores(x: np.ndarray, t: np.ndarray, alphas: np.ndarray, standardise: bool = False) -> list[LooRow]:
    """Exact leave-one-out accuracy and squared error of ridge (unpenalised intercept) for every alpha.

    Exact for `standardise=False` (the penalty unit is fixed from all N samples, so every LOO fit
    solves the same problem minus one row); with `standardise=True` the per-feature scales also come
    from all N samples, the usual closed-form convention, which is close but not exact.
    """
    z, _, _, unit = _prepare(np.asarray(x, dtype=np.float64), standardise)
    tc = t - t.mean(axis=0)
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    n = z.shape[0]
    y = np.argmax(t, axis=1)
    uty = u.T @ tc
    out = []
    for a in np.asarray(alphas, dtype=np.float64):
        f = s**2 / (s**2 + a * unit)  # shrinkage per singular direction
        fitted = u @ (f[:, None] * uty)
        h = (u**2 * f[None, :]).sum(axis=1) + 1.0 / n  # hat diagonal, the intercept included
        resid = (tc - fitted) / (1.0 - h)[:, None]
        loo_pred = t - resid  # the LOO prediction of each sample, in target units
        sq = (resid**2).sum(axis=1)
        out.append(LooRow(float(a), float(np.mean(np.argmax(loo_pred, axis=1) == y)), float(sq.mean()),
                          float(sq.std() / np.sqrt(n))))  # fmt: skip
    return out


def choose_alpha(table: list[LooRow]) -> LooRow:
    """Best LOO accuracy first; among those, the largest alpha within one SE of the smallest LOO error."""
    top = max(r.accuracy for r in table)
    best = [r for r in table if r.accuracy == top]
    low = min(best, key=lambda r: r.mse)
    return max((r for r in best if r.mse <= low.mse + low.mse_se), key=lambda r: r.alpha)


def fit_ridge(x: np.ndarray, y: np.ndarray, n_classes: int, alphas=None, standardise: bool = False) -> RidgeReadout:
    """Ridge readout on features x (N, F) and labels y (N,); alpha chosen by exact LOO (`choose_alpha`).

    `alphas`: a grid of relative penalties (module docstring; default `DEFAULT_ALPHAS`, 1e-5 .. 1e2,
    29 values) or a single value (no selection). Returns w, b in the features' own
    units: score = x @ w + b.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != np.asarray(y).shape[0]:
        raise ValueError(f"features must be (N, F) with N = len(labels), got {x.shape} and {np.asarray(y).shape}")
    if x.shape[0] < 3:
        raise ValueError(f"a readout needs at least 3 training windows (leave-one-out), got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf")
    t = one_hot_targets(y, n_classes)
    grid = DEFAULT_ALPHAS if alphas is None else np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if grid.size == 0 or np.any(grid <= 0) or not np.all(np.isfinite(grid)):
        raise ValueError(f"ridge alphas must be finite and > 0, got {grid}")
    table = loo_scores(x, t, grid, standardise)
    best = choose_alpha(table)
    z, mu, sd, unit = _prepare(x, standardise)
    tm = t.mean(axis=0)
    pen = best.alpha * unit
    wz = np.linalg.solve(z.T @ z + pen * np.eye(z.shape[1]), z.T @ (t - tm)) if z.shape[1] <= z.shape[0] else (
        z.T @ np.linalg.solve(z @ z.T + pen * np.eye(z.shape[0]), t - tm))  # fmt: skip
    w = wz / sd[:, None]  # fold the scaling into the weights ...
    b = tm - mu @ w  # ... and the bias
    return RidgeReadout(w, b, best.alpha, best.accuracy, best.mse, table)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean over classes of F1 = 2 TP / (2 TP + FP + FN); a class absent from both counts as F1 = 1."""
    m = confusion(y_true, y_pred, n_classes)
    tp = np.diag(m).astype(np.float64)
    denom = 2 * tp + (m.sum(axis=0) - tp) + (m.sum(axis=1) - tp)
    f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 1.0)
    return float(f1.mean())
