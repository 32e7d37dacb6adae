"""A `.snn` network as a gymnasium policy: ``action = policy(obs)`` in an ordinary env loop.

`Policy` is `SNNController` (the controller `snnctl run` and the benches fly) made callable and
loadable from a path, so the action a user's own loop gets is the one every tool of the package
computes: the observation entries and output combination come from the network's ``meta``, and
the quantisation is the one a board is sent (`SNNController.encode` / `decode`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .controllers.snn import ControlPeriodError, SNNController
from .errors import SnnctlError, load_network
from .network import Network


class Policy(SNNController):
    """`policy(obs) -> action` (float32, clipped as the network's meta says); `reset()` between episodes.

    `net` is a `Network` or the path of a ``.snn`` file. `dt` is the env's control period in seconds
    (``env.unwrapped.dt``); a network made for another period is refused unless `force`, because its
    time constants are counted in steps.
    """

    def __init__(self, net: Network | str | Path, dt: float | None = None, force: bool = False) -> None:
        label = None
        if not isinstance(net, Network):
            label = str(net)
            net = load_network(label)[0]
        try:
            super().__init__(net, dt, force, label=label)
        except ControlPeriodError as exc:
            raise SnnctlError(str(exc)) from None

    @classmethod
    def load(cls, path: str | Path, dt: float | None = None, force: bool = False) -> Policy:
        """The policy of the `.snn` file at `path` (same as ``Policy(path, dt, force)``)."""
        return cls(path, dt, force)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """One control step: observation -> action (the network's state advances by one step)."""
        return self.act(obs)
