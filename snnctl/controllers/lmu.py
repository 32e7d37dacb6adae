"""The Legendre Memory Unit's linear memory (Voelker, Kajić & Eliasmith, NeurIPS 2019), in numpy.

The memory m (order d) holds the coefficients of a sliding window of length theta of its input u,
in the shifted Legendre basis:

    dm/dt = A m + B u,   A_ij = (2i+1)/theta * (-1 if i < j else (-1)^(i-j+1)),   B_i = (2i+1) (-1)^i / theta

and the input delayed by r * theta (0 <= r <= 1) is read back as sum_i P~_i(r) m_i, with
P~_i(r) = P_i(2r - 1) the shifted Legendre polynomials. (A, B) is the Pade [d-1/d] approximant of
a pure delay of theta, so the readback is exact for inputs that are polynomials of degree < d over
the window (a constant input u settles at m = (u, 0, ..., 0); a ramp at its two Legendre
coefficients) and approximate otherwise.

For a network stepped every dt the memory is discretised by zero-order hold (input held over each
step): m[t+1] = Abar m[t] + Bbar u[t], with [[Abar, Bbar], [0, 1]] = expm([[A, B], [0, 0]] * dt).
`expm` is implemented here (scaling and squaring with a [6/6] Pade approximant) so that snnctl's
core keeps to numpy; the tests check it against scipy and the closed form of d = 1.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["lmu_ab", "expm", "zoh", "lmu_discrete", "shifted_legendre", "simulate_memory"]


def lmu_ab(order: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """The continuous LMU matrices A (d, d) and B (d,) for window `theta` (any time unit)."""
    order = int(order)
    if order < 1:
        raise ValueError(f"LMU order must be >= 1, got {order}")
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"LMU window theta must be finite and > 0, got {theta}")
    i = np.arange(order)[:, None]
    j = np.arange(order)[None, :]
    sign = np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    a = (2 * i + 1) / theta * sign
    b = (2 * np.arange(order) + 1) * (-1.0) ** np.arange(order) / theta
    return a.astype(np.float64), b.astype(np.float64)


# [6/6] Pade coefficients of exp: c_k = (12-k)! 6! / (12! k! (6-k)!)
_PADE6 = np.array([math.factorial(12 - k) * math.factorial(6) / (math.factorial(12) * math.factorial(k)
                   * math.factorial(6 - k)) for k in range(7)])  # fmt: skip


def expm(m: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring with a [6/6] Pade approximant.

    The matrix is scaled by 2^-s until its 1-norm is <= 0.5, where the [6/6] approximant's
    relative error is below 1e-16 (backward error bound of Higham 2005, table 2.3: theta_6 ~ 0.78),
    then squared back s times.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expm needs a square matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("expm: matrix has non-finite entries")
    norm = float(np.abs(m).sum(axis=0).max(initial=0.0))
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    x = m / 2.0**s
    eye = np.eye(m.shape[0])
    power = eye.copy()
    num = _PADE6[0] * eye
    den = _PADE6[0] * eye
    for k in range(1, 7):
        power = power @ x
        num = num + _PADE6[k] * power
        den = den + (-1) ** k * _PADE6[k] * power
    out = np.linalg.solve(den, num)
    for _ in range(s):
        out = out @ out
    return out


def zoh(a: np.ndarray, b: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order-hold discretisation of dm/dt = A m + B u over one step dt -> (Abar, Bbar)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(a.shape[0], -1)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"step dt must be finite and > 0, got {dt}")
    d, k = b.shape
    aug = np.zeros((d + k, d + k))
    aug[:d, :d] = a * dt
    aug[:d, d:] = b * dt
    e = expm(aug)
    bbar = e[:d, d:]
    return e[:d, :d], (bbar[:, 0] if k == 1 else bbar)


def lmu_discrete(order: int, theta: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(Abar, Bbar) of the LMU memory of `order` over window `theta`, stepped every `dt`."""
    return zoh(*lmu_ab(order, theta), dt)


def shifted_legendre(order: int, r: np.ndarray | float) -> np.ndarray:
    """P~_i(r) = P_i(2r - 1) for i < order; shape (..., order). Decodes u(t - r theta) = P~(r) . m."""
    r = np.asarray(r, dtype=np.float64)
    x = 2.0 * r - 1.0
    out = [np.ones_like(x), x]
    for n in range(1, order - 1):  # Bonnet: (n+1) P_{n+1} = (2n+1) x P_n - n P_{n-1}
        out.append(((2 * n + 1) * x * out[n] - n * out[n - 1]) / (n + 1))
    return np.stack(out[:order], axis=-1)


def simulate_memory(abar: np.ndarray, bbar: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Run m[t] = Abar m[t-1] + Bbar u[t] from m[-1] = 0; u (T,) or (T, k) -> m (T, d) or (T, k, d).

    With several input signals (k columns) each gets its own memory (the same Abar, Bbar).
    """
    u = np.asarray(u, dtype=np.float64)
    single = u.ndim == 1
    u2 = u[:, None] if single else u
    m = np.zeros((u2.shape[1], abar.shape[0]))
    out = np.zeros((u2.shape[0], u2.shape[1], abar.shape[0]))
    for t in range(u2.shape[0]):
        m = m @ abar.T + u2[t][:, None] * bbar[None, :]
        out[t] = m
    return out[:, 0] if single else out
