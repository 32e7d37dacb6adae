"""Keeping Python's garbage collector out of wall-clock deadlines (control loops, rate trials)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep Python's full collections from walking the objects that exist when the block starts.

    WHY: a generation-2 collection walks every tracked object. In a process holding a large heap (a
    notebook, a test session: 670,000 objects gave 260-560 ms pauses) one such pause inside a control
    step is a missed deadline or a board reply timed out. `gc.freeze()` moves the existing objects out
    of the collector's reach for the block (O(1), nothing is freed or copied), so collections inside it
    see only what the block allocates; `gc.unfreeze()` hands them back afterwards. A caller that froze
    the heap itself keeps that arrangement: nothing is frozen or unfrozen here then."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
