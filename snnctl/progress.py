"""Progress bars of the long steps of a command (a float run, filming an episode), one way everywhere.

A bar is tqdm on stderr, drawn only on a terminal (`disable=None`: a log file or a pipe stays free of
bar updates) and never when the command was given `--quiet` (`enabled` False); it is removed when
done (`leave=False`), so the tables a command prints read as they did without it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(enabled: bool, total: int, desc: str, unit: str) -> Any:
    """A tqdm bar of `total` `unit`s (a context manager; `update(n)` advances it)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None if enabled else True, leave=False,
                unit_scale=total >= 10_000)  # fmt: skip
