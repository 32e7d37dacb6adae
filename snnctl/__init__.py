"""snnctl: integer spiking neural network controllers, from evolution to simulation to a microcontroller.

One integer neuron model (docs/integer-model.md) is executed bit-identically by the numba runtime in
this package and by the C99 firmware core in ``firmware_bridge/firmware/``. Importing this package is
light on purpose: numba and the kernels load only when a name that needs them is first used.

The stable public API is what ``__all__`` names (the README's "Python API" section shows it in use):

- ``load(path) -> Network`` and ``save(net, path)``: the ``.snn`` file (docs/snn-format.md);
- ``Stepper(net)``: one step per call, ``step(codes) -> output codes`` (int16), the step's spikes
  in ``last_spikes``, ``act(x)`` on real values, ``reset()``;
- ``run(net, codes)`` / ``run_trace(net, codes)``: T steps from reset in one call;
- ``Policy(net_or_path)``: the network as a gymnasium policy, ``action = policy(obs)``, ``reset()``;
- ``Network`` (the dataclass a ``.snn`` holds) and ``SnnctlError`` (a mistake the user can act on).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SnnctlError

if TYPE_CHECKING:  # pragma: no cover - names for type checkers; at run time they load on first use
    from .controllers.snn import SNNController as SNNController
    from .network import Network
    from .policy import Policy as Policy
    from .runtime import Stepper as Stepper
    from .runtime import Trace as Trace
    from .runtime import run as run
    from .runtime import run_trace as run_trace

__version__ = "0.1.0"

__all__ = [
    "Network",
    "Policy",
    "SnnctlError",
    "Stepper",
    "Trace",
    "__version__",
    "load",
    "run",
    "run_trace",
    "save",
]

# name -> module holding it, imported on first access (so `import snnctl` loads no numba)
_LAZY = {
    "Network": "network",
    "Stepper": "runtime",
    "Trace": "runtime",
    "run": "runtime",
    "run_trace": "runtime",
    "Policy": "policy",
}


def load(path: str | Path) -> Network:
    """Read and validate a ``.snn`` file; every failure is a SnnctlError naming the file."""
    from .errors import load_network

    return load_network(str(path))[0]


def save(net: Network, path: str | Path) -> Path:
    """Validate `net` and write it as a ``.snn`` file (what `load`, the CLI and the firmware read)."""
    from .snnfile import save as _save

    return _save(net, path)


def __getattr__(name: str) -> Any:
    """The lazily loaded public names (PEP 562): the runtime's numba kernels compile on first use only."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snnctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
