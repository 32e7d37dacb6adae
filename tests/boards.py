"""Emulated boards in tests: skip with the packages to install, but never skip under CI."""

from __future__ import annotations

import os

import pytest


def require_board(board: str) -> None:
    from firmware_bridge.emulators import available_boards

    missing = available_boards()[board]
    if missing:
        msg = f"board {board}: tools missing; apt-get install {missing}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: boards must not be skipped)")
        pytest.skip(msg)
