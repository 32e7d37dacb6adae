"""What a HAR network is measured against on the same split: 1-nearest-neighbour with Euclidean
distance (numpy, here) and MiniRocket + ridge (sktime's, when it is importable).

1-NN Euclidean is the classic floor of the UEA/UCR archive: a classifier worth deploying should
not lose to it. MiniRocket is a strong, cheap non-neural reference: the gap to it says how much
accuracy the spiking network leaves on the table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_neighbour", "nearest_neighbour_accuracy", "minirocket_accuracy"]


def nearest_neighbour(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The label of each test window's nearest training window (Euclidean over all channels and steps).

    Squared distances as |a|² − 2a·b + |b|² in float64, test windows in chunks so that memory stays
    (chunk × train) whatever the split sizes; a tie goes to the first training window (argmin).
    """
    a = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
    b = np.asarray(X_test, dtype=np.float64).reshape(len(X_test), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"train windows have {a.shape[1]} values, test windows {b.shape[1]}")
    aa = np.einsum("ij,ij->i", a, a)
    out = np.empty(len(b), dtype=np.asarray(y_train).dtype)
    for s in range(0, len(b), chunk):
        part = b[s : s + chunk]
        d = aa[None, :] - 2.0 * part @ a.T + np.einsum("ij,ij->i", part, part)[:, None]
        out[s : s + chunk] = np.asarray(y_train)[np.argmin(d, axis=1)]
    return out


def nearest_neighbour_accuracy(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray
) -> float:
    return float(np.mean(nearest_neighbour(X_train, y_train, X_test) == np.asarray(y_test)))


def minirocket_accuracy(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                        seed: int = 0) -> float | None:  # fmt: skip
    """sktime's MiniRocket (MiniRocketMultivariate for several channels) + RidgeClassifierCV, the
    pairing its authors use; None when sktime or scikit-learn is not importable."""
    try:
        from sklearn.linear_model import RidgeClassifierCV
        from sktime.transformations.panel.rocket import MiniRocket, MiniRocketMultivariate
    except ImportError:
        return None
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    rocket = (MiniRocket if X_train.shape[1] == 1 else MiniRocketMultivariate)(random_state=seed)
    features = rocket.fit_transform(X_train)
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(np.asarray(features), y_train)
    return float(np.mean(ridge.predict(np.asarray(rocket.transform(X_test))) == np.asarray(y_test)))
