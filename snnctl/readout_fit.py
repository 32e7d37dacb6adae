"""Closed-form readout fitting: ridge regression onto one-hot class targets, in numpy only.

The features are what the deployed readout integrates (an L2MU's hidden spike counts over a
window, `snnctl.l2mu.hidden_counts`), so the fitted map is the deployed one up to int8 rounding.
Features are standardised for the fit (so one ridge penalty suits features of any scale) and the
standardisation is folded back into the returned weights and bias: score = w . features + b.

The ridge penalty is chosen by exact leave-one-out cross-validation: for ridge, the LOO residual
of sample i is r_i / (1 - H_ii) with H the hat matrix, so every alpha on the grid is scored from
one SVD of the training features, with no refitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RidgeReadout", "fit_ridge", "loo_scores", "one_hot_targets", "accuracy", "macro_f1", "confusion"]


@dataclass
class RidgeReadout:
    """A linear readout: scores = features @ w + b; `alpha` the penalty used, `loo_accuracy` its LOO score."""

    w: np.ndarray  # (n_features, K)
    b: np.ndarray  # (K,)
    alpha: float
    loo_accuracy: float
    loo_table: list[tuple[float, float, float]]  # (alpha, LOO accuracy, LOO mean squared error) per grid point

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


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)  # a constant feature carries nothing; its weight comes out 0
    return (x - mu) / sd, mu, sd


def loo_scores(x: np.ndarray, t: np.ndarray, alphas: np.ndarray) -> list[tuple[float, float, float]]:
    """Exact leave-one-out (accuracy, MSE) of ridge on standardised x for every alpha.

    The intercept is the target mean; centring is part of each LOO fit only approximately (the
    standardisation uses all N samples), the usual convention of closed-form ridge LOO.
    """
    z, _, _ = _standardise(x)
    tc = t - t.mean(axis=0)
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    n = x.shape[0]
    y = np.argmax(t, axis=1)
    out = []
    uty = u.T @ tc
    for a in alphas:
        f = s**2 / (s**2 + a)  # shrinkage per singular direction
        fitted = u @ (f[:, None] * uty)
        h = (u**2 * f[None, :]).sum(axis=1) + 1.0 / n  # hat diagonal, the intercept included
        resid = (tc - fitted) / (1.0 - h)[:, None]
        loo_pred = t - resid  # the LOO prediction of each sample, in target units
        acc = float(np.mean(np.argmax(loo_pred, axis=1) == y))
        out.append((float(a), acc, float(np.mean(resid**2))))
    return out


def fit_ridge(x: np.ndarray, y: np.ndarray, n_classes: int, alphas=None) -> RidgeReadout:
    """Ridge readout on features x (N, F) and labels y (N,); alpha: the largest with the best LOO accuracy.

    `alphas`: a grid (default 1e-3 .. 1e4, 29 values) or a single value (no selection).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != np.asarray(y).shape[0]:
        raise ValueError(f"features must be (N, F) with N = len(labels), got {x.shape} and {np.asarray(y).shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf")
    t = one_hot_targets(y, n_classes)
    grid = np.logspace(-3, 4, 29) if alphas is None else np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if grid.size == 0 or np.any(grid <= 0) or not np.all(np.isfinite(grid)):
        raise ValueError(f"ridge alphas must be finite and > 0, got {grid}")
    table = loo_scores(x, t, grid)
    # the strongest penalty among those with the best LOO accuracy: with few windows many alphas
    # tie, and the most regularised of them depends least on any one feature, which keeps the
    # map robust to the small feature shifts between the float reference and the integer network
    top = max(r[1] for r in table)
    best = max((r for r in table if r[1] == top), key=lambda r: r[0])
    alpha = best[0]
    z, mu, sd = _standardise(x)
    tm = t.mean(axis=0)
    wz = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (t - tm)) if z.shape[1] <= z.shape[0] else (
        z.T @ np.linalg.solve(z @ z.T + alpha * np.eye(z.shape[0]), t - tm))  # fmt: skip
    w = wz / sd[:, None]  # fold the standardisation into the weights ...
    b = tm - mu @ w  # ... and the bias
    return RidgeReadout(w, b, alpha, best[1], table)


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
