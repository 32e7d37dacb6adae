"""Where the controller of a sensing-to-action loop runs: the face every backend shows the loop.

The loop (`sim/loop.py`) only ever calls `reset()`, `act(obs) -> Action` and `close()`, so the
same loop drives the integer network in-process, the float reference, the PID, or the network on a
board at the other end of a serial line (`firmware_bridge/loop_device.py`). A backend that cannot
answer raises `BackendFault` (late reply, lost link); the loop's monitor then holds the safe action
and keeps calling, so a backend must be usable again after a fault once its cause is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class Action:
    """What one controller step produced, and what it cost."""

    u: np.ndarray  # the action to apply (float32, the env's action shape)
    codes: np.ndarray | None = None  # the integer network's int16 output codes (None for float controllers)
    spikes: int = 0  # spikes in this step
    synops: int = 0  # synaptic operations in this step
    bytes_out: int = 0  # bytes sent to the controller (serial backends)
    bytes_in: int = 0  # bytes received from it


class BackendFault(Exception):
    """The controller gave no usable answer for this step."""


class BackendTimeout(BackendFault):
    """No reply within the step's deadline."""


class BackendDisconnected(BackendFault):
    """The link is gone (port closed, device unplugged); the backend retries to reconnect on later calls."""


class Backend(ABC):
    name: str = "controller"

    @abstractmethod
    def reset(self) -> None:
        """Start of an episode: clear the controller's state."""

    @abstractmethod
    def act(self, obs: np.ndarray) -> Action:
        """One control step on this observation; raises `BackendFault` when there is no answer."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release ports, processes, emulators."""
