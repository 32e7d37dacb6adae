"""A float linear feedback policy, a = clip(W obs + b, -u_max, u_max): the swimmer's strong baseline.

It is the comparison the NCAP circuit is measured against (evolved with the same budget), not a
deployable network: it is float, saved to `.npz` (never `.snn`). Genome = W row-major, then b.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import check_params, param

KIND = "linear"


def weight_bound_param() -> Any:
    """The `weight_bound` field of both float baselines (linear, MLP): one default, one limit."""
    return param(1.0, "every weight in [-bound, bound]", gt=0, le=1000)


def u_max_param() -> Any:
    """The `u_max` field of both float baselines: actions are clipped to [-u_max, u_max]."""
    return param(1.0, "largest |action|", gt=0)


@dataclass(frozen=True)
class LinearSpec:
    obs_dim: int
    act_dim: int
    weight_bound: float = weight_bound_param()  # every gene in [-bound, bound]
    u_max: float = u_max_param()

    def __post_init__(self) -> None:
        for name in ("obs_dim", "act_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 1 <= v <= 4096:
                raise ValueError(f"linear policy: {name} must be an integer in 1..4096, got {v!r}")
        check_params(self, "linear policy")


class LinearPolicy:
    """Controller face: `reset()`, `act(obs) -> action`."""

    kind = KIND

    def __init__(self, w: np.ndarray, b: np.ndarray, u_max: float = 1.0, obs_index=None) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        if self.w.ndim != 2 or self.b.shape != (self.w.shape[0],):
            raise ValueError(f"linear policy: W must be (act, obs) and b (act,), got {self.w.shape} and {self.b.shape}")
        self.u_max = float(u_max)
        self.obs_index = None if obs_index is None else np.asarray(obs_index, dtype=np.int64)

    @property
    def n_params(self) -> int:
        return self.w.size + self.b.size

    def reset(self) -> None:
        """Stateless: nothing to reset."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64).reshape(-1)
        if self.obs_index is not None:
            x = x[self.obs_index]
        return np.clip(self.w @ x + self.b, -self.u_max, self.u_max).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        extra = {} if self.obs_index is None else {"obs_index": self.obs_index}
        with open(path, "wb") as f:  # a file object: np.savez would append .npz to other suffixes
            np.savez(f, kind=np.array(KIND), w=self.w, b=self.b, u_max=np.array(self.u_max), **extra)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LinearPolicy:
        with open_policy(path, KIND, "a linear policy") as z:
            return cls(z["w"], z["b"], float(z["u_max"]), z["obs_index"] if "obs_index" in z else None)


def open_policy(path: str | Path, kind: str, what: str) -> Any:
    """The `.npz` of a float policy (use it in a `with`); ValueError naming the file unless it holds `kind`."""
    z = np.load(path)
    found = str(z["kind"]) if "kind" in z else None
    if found != kind:
        z.close()
        raise ValueError(f"{path}: not {what} file (kind {found or '?'!r})")
    return z


class WeightBoxCodec:
    """What the float baselines' codecs share: every gene a weight in [-weight_bound, weight_bound], from 0."""

    spec: Any  # a LinearSpec or MLPSpec
    n_params: int

    @property
    def bounds(self) -> np.ndarray:
        return np.tile([-self.spec.weight_bound, self.spec.weight_bound], (self.n_params, 1)).astype(np.float64)

    @property
    def initial_genome(self) -> np.ndarray:
        return np.zeros(self.n_params)


class LinearCodec(WeightBoxCodec):
    """Genome (real, in [-bound, bound]) <-> LinearPolicy."""

    def __init__(self, spec: LinearSpec) -> None:
        self.spec = spec

    @property
    def n_params(self) -> int:
        return self.spec.act_dim * (self.spec.obs_dim + 1)

    def decode(self, genome: np.ndarray) -> LinearPolicy:
        s = self.spec
        g = np.asarray(genome, dtype=np.float64)
        if g.shape != (self.n_params,):
            raise ValueError(f"linear genome must have shape ({self.n_params},), got {g.shape}")
        g = np.clip(g, -s.weight_bound, s.weight_bound)
        n_w = s.act_dim * s.obs_dim
        return LinearPolicy(g[:n_w].reshape(s.act_dim, s.obs_dim), g[n_w:], s.u_max)

    def encode(self, policy: LinearPolicy) -> np.ndarray:
        if policy.w.shape != (self.spec.act_dim, self.spec.obs_dim):
            raise ValueError(f"policy W is {policy.w.shape}, codec expects {(self.spec.act_dim, self.spec.obs_dim)}")
        return np.concatenate([policy.w.ravel(), policy.b])
