"""The one error type of `snnctl` for mistakes a user can act on, and reading a network a user named.

Code outside the CLI (the experiment families in `evolve/`, for one) raises `SnnctlError` with a
message that names what is wrong (a file, an option, a config key); the `snnctl` command line
(`snnctl.cli`, where it is called `UserError`) prints it as one line `snnctl: error: ...` and
exits with status 2. Code that is not handling a user's input raises ordinary exceptions.
"""

from __future__ import annotations

from typing import Any


class SnnctlError(Exception):
    """A mistake the user can act on; the CLI prints it as one line and exits with status 2."""


def load_network(path: str) -> tuple[Any, bytes]:
    """Read and validate a .snn file -> (Network, its bytes); every failure is a SnnctlError naming it."""
    from snnctl import snnfile

    try:
        with open(path, "rb") as f:
            blob = f.read()
        return snnfile.from_bytes(blob), blob
    except snnfile.SnnFormatError as exc:
        raise SnnctlError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise SnnctlError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SnnctlError(f"{path}: {exc.strerror or exc}") from None
