"""Wording shared by every message and table: counts with the right noun ("1 episode", "2 episodes"),
lists in words ("1, 2 and 6").

One helper, so that no report prints "1 held-out episodes" or "1 inputs", and no format string
falls back on "flight(s)".
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["listing", "plural"]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`n` and the noun in the number `n` asks for: `nouns` (default `noun + "s"`) unless n is 1."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def listing(items: Sequence[object], conj: str = "and") -> str:
    """Items as a sentence lists them: "a", "a and b", "a, b and c" (`conj` "or" for choices)."""
    words = [str(x) for x in items]
    return ", ".join(words[:-1]) + f" {conj} " + words[-1] if len(words) > 1 else "".join(words)
