"""Optional tools in tests: skip with what to install, but never skip under CI (CI installs them all)."""

from __future__ import annotations

import os

import pytest


def skip_unless_ci(msg: str) -> None:
    """Skip a test whose tool is missing on a developer's machine; fail it under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: this test must not be skipped)")
    pytest.skip(msg)


def require_board(board: str) -> None:
    from firmware_bridge.emulators import available_boards

    missing = available_boards()[board]
    if missing:
        skip_unless_ci(f"board {board}: tools missing; apt-get install {missing}")


def running_emulator(board: str, network=None):
    """For a fixture to `yield from`: the board's emulator, started once its tools are checked
    (`require_board`), stopped when the fixture ends; `network` is compiled into its image."""
    from firmware_bridge.emulators import start_emulator

    require_board(board)
    with start_emulator(board, network=network) as e:
        yield e
