"""The one controller factory: a spec string -> a controller (`load_controller`) or a loop backend (`load_backend`).

Specs the core knows:

==============  =====================================================================================
``pid``         the blimp's PID baseline (`PID.for_blimp`), built for the loop's control period `dt`
``NET.snn``     an integer network: `SNNController` (in a loop: `IntegerSNNBackend`); a network made
                for another control period than `dt` is refused unless `force` (`ControlPeriodError`)
``float:NET``   the network's float reference (in a loop only: `FloatReferenceBackend`)
``POLICY.npz``  a float baseline saved by `LinearPolicy.save` / `MLPPolicy.save` (controllers only)
==============  =====================================================================================

The core knows no board and no family. Other specs are composed in by the caller:
`load_backend(..., extensions=[...])` tries each extension — a callable `(spec, dt, force) -> Backend`
or None when the spec is not its own — before the specs above; the board backend's is
`firmware_bridge.loop_device.board_extension` (``NET.snn@URL``). A family adapts what it loads with
`fit(kind, path, obj) -> obj` (kind ``"snn"`` with the `Network`, ``"npz"`` with the policy): the
swimmer rebuilds an NCAP network for its body length and checks a baseline's shape that way.

Given the `env` a controller will run in, a network whose inputs and outputs do not fit its
observation and action is refused before anything runs (`ShapeMismatchError`, naming both shapes).

Errors are ValueErrors naming the file (`SnnFormatError`, `ControlPeriodError`, `ShapeMismatchError`
among them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from snnctl.controllers.loop_backends import Backend

Extension = Callable[[str, float, bool], "Backend | None"]
Fit = Callable[[str, Path, Any], Any]

LOOP_SPECS = "'pid', a .snn network, or 'float:NET.snn' for its float reference"


def load_controller(
    spec: str | Path, dt: float | None = None, *, force: bool = False, fit: Fit | None = None, env: Any = None
) -> Any:
    """A controller with `reset()` and `act(obs) -> np.ndarray` from `spec` (``pid``, ``NET.snn``, ``POLICY.npz``).

    `dt`: the loop's control period (required for ``pid``; a network's recorded period is checked
    against it unless `force`); `fit`: the family's adaptation of a loaded network or policy; `env`:
    the env it will run in (a network must fit its observation and action: `check_fits_env`).
    """
    if spec == "pid":
        if dt is None:
            raise ValueError("the PID needs the loop's control period dt")
        from snnctl.controllers.pid import PID

        return PID.for_blimp(dt=dt)
    path = Path(spec)
    if path.suffix == ".npz":
        policy = _load_policy(path)
        policy = fit("npz", path, policy) if fit else policy
        if env is not None:
            from snnctl.controllers.snn import check_fits_env

            check_fits_env(policy, env, label=str(path))
        return policy
    from snnctl.controllers.snn import SNNController
    from snnctl.snnfile import load

    net = load(path)
    if fit:
        net = fit("snn", path, net)
    if env is not None:
        from snnctl.controllers.snn import check_fits_env

        check_fits_env(net, env, label=str(path))
    return SNNController(net, dt, force, label=str(path))


def _load_policy(path: Path) -> Any:
    import numpy as np

    with np.load(path) as z:
        kind = str(z["kind"]) if "kind" in z else "?"
    if kind == "linear":
        from snnctl.controllers.linear import LinearPolicy

        return LinearPolicy.load(path)
    if kind == "mlp":
        from snnctl.controllers.mlp import MLPPolicy

        return MLPPolicy.load(path)
    raise ValueError(f"{path}: not a float baseline policy file (kind {kind!r}; expected linear or mlp)")


def load_backend(
    spec: str, dt: float, *, force: bool = False, extensions: Sequence[Extension] = (), env: Any = None
) -> Backend:
    """A loop backend (`snnctl.controllers.loop_backends.Backend`) from `spec`: an extension's, else
    ``pid``, ``NET.snn`` (integer, in-process) or ``float:NET.snn``.

    `dt` is the loop's control period (s): the PID's step, the time unit of the float view's time
    constants, and checked against the period a network records (`ControlPeriodError` unless `force`).
    `env`: the env the backend will run in; an in-process network must fit its observation and action
    (`check_fits_env`; an extension's backend is the caller's to check, before it reaches a board).
    Raises ValueError (no such file; `SnnFormatError`, a ValueError, for a broken one).
    """
    for extension in extensions:
        backend = extension(spec, dt, force)
        if backend is not None:
            return backend
    from snnctl.controllers.loop_backends import FloatReferenceBackend, IntegerSNNBackend, PIDBackend

    if spec == "pid":
        return PIDBackend(dt)
    kind, path = ("float", spec[len("float:") :]) if spec.startswith("float:") else ("snn", spec)
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file (controllers: {LOOP_SPECS})")
    if Path(path).suffix == ".npz":
        raise ValueError(f"{path}: a float baseline policy is not a loop controller (controllers: {LOOP_SPECS})")
    from snnctl.controllers.snn import check_control_period, check_fits_env
    from snnctl.snnfile import load

    net = load(path)
    if env is not None:
        check_fits_env(net, env, label=path)
    check_control_period(net, dt, force, label=path)  # here, so that the error names the file
    return FloatReferenceBackend(net, dt, force) if kind == "float" else IntegerSNNBackend(net, dt, force)
