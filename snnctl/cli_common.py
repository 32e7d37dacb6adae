"""What every `snnctl` subcommand module shares: the one-line user error and reading a .snn file.

It lives apart from cli.py so that the subcommand modules and cli.py raise the same `UserError`
class even when cli.py runs as `__main__` (`python -m snnctl.cli`).
"""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake the user can act on; cli.main prints it as one line and exits with status 2."""


def load_network(path: str) -> tuple[Any, bytes]:
    """Read and validate a .snn file -> (Network, its bytes); every failure is a UserError naming it."""
    from snnctl import snnfile

    try:
        with open(path, "rb") as f:
            blob = f.read()
        return snnfile.from_bytes(blob), blob
    except snnfile.SnnFormatError as exc:
        raise UserError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None
