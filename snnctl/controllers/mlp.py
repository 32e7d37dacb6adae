"""A float tanh MLP policy, the swimmer's "deep" baseline evolved with the same budget as NCAP.

a = clip(W_L h_{L-1} + b_L, -u_max, u_max), h_k = tanh(W_k h_{k-1} + b_k), h_0 = obs. Float, saved
to `.npz` (never `.snn`). Genome = each layer's W (row-major) then b, first layer first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import check_params, param
from .linear import WeightBoxCodec, open_policy, u_max_param, weight_bound_param

KIND = "mlp"


@dataclass(frozen=True)
class MLPSpec:
    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...] = param((16,), "hidden layer sizes", item=int, min_len=1, max_len=8, ge=1, le=4096)
    weight_bound: float = weight_bound_param()  # every gene in [-bound, bound]
    u_max: float = u_max_param()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name, v in (("obs_dim", self.obs_dim), ("act_dim", self.act_dim), *(("hidden", h) for h in self.hidden)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 1 <= v <= 4096:
                raise ValueError(f"MLP policy: {name} sizes must be integers in 1..4096, got {v!r}")
        check_params(self, "MLP policy")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.obs_dim, *self.hidden, self.act_dim)


class MLPPolicy:
    """Controller face: `reset()`, `act(obs) -> action`."""

    kind = KIND

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], u_max: float = 1.0) -> None:
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in biases]
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("MLP policy: need one bias per weight matrix and at least one layer")
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"MLP layer {k}: W must be (out, in) and b (out,), got {w.shape} and {b.shape}")
            if k and w.shape[1] != self.weights[k - 1].shape[0]:
                raise ValueError(
                    f"MLP layer {k}: takes {w.shape[1]} inputs, layer {k - 1} gives {self.weights[k - 1].shape[0]}"
                )
        self.u_max = float(u_max)

    @property
    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def reset(self) -> None:
        """Stateless: nothing to reset."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        h = np.asarray(obs, dtype=np.float64).reshape(-1)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.tanh(w @ h + b)
        y = self.weights[-1] @ h + self.biases[-1]
        return np.clip(y, -self.u_max, self.u_max).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays = {f"w{k}": w for k, w in enumerate(self.weights)} | {f"b{k}": b for k, b in enumerate(self.biases)}
        with open(path, "wb") as f:  # a file object: np.savez would append .npz to other suffixes
            np.savez(f, kind=np.array(KIND), layers=np.array(len(self.weights)), u_max=np.array(self.u_max), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MLPPolicy:
        with open_policy(path, KIND, "an MLP policy") as z:
            n = int(z["layers"])
            return cls([z[f"w{k}"] for k in range(n)], [z[f"b{k}"] for k in range(n)], float(z["u_max"]))


class MLPCodec(WeightBoxCodec):
    """Genome (real, in [-bound, bound]) <-> MLPPolicy."""

    def __init__(self, spec: MLPSpec) -> None:
        self.spec = spec
        sizes = spec.sizes
        self.shapes = [(sizes[k + 1], sizes[k]) for k in range(len(sizes) - 1)]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.shapes)

    def decode(self, genome: np.ndarray) -> MLPPolicy:
        g = np.asarray(genome, dtype=np.float64)
        if g.shape != (self.n_params,):
            raise ValueError(f"MLP genome must have shape ({self.n_params},), got {g.shape}")
        g = np.clip(g, -self.spec.weight_bound, self.spec.weight_bound)
        weights, biases, pos = [], [], 0
        for o, i in self.shapes:
            weights.append(g[pos : pos + o * i].reshape(o, i))
            pos += o * i
            biases.append(g[pos : pos + o])
            pos += o
        return MLPPolicy(weights, biases, self.spec.u_max)

    def encode(self, policy: MLPPolicy) -> np.ndarray:
        if [w.shape for w in policy.weights] != self.shapes:
            raise ValueError(f"policy layers {[w.shape for w in policy.weights]}, codec expects {self.shapes}")
        return np.concatenate([a.ravel() for w, b in zip(policy.weights, policy.biases, strict=True) for a in (w, b)])
