"""Wording shared by every message and table: counts with the right noun ("1 episode", "2 episodes").

One helper, so that no report prints "1 held-out episodes" or "1 inputs", and no format string
falls back on "flight(s)".
"""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`n` and the noun in the number `n` asks for: `nouns` (default `noun + "s"`) unless n is 1."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"
