"""`snnctl run` hands a family typed options (evolve.run_options.RunOptions), never the argparse Namespace."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

import pytest

from evolve.run_options import RunOptions
from snnctl import cli
from snnctl.cli import families
from snnctl.config import load_config

CFG = """\
[experiment]
family = "blimp"

[run]
episodes = 1
episode_s = 20.0
"""


def _run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_every_run_flag_is_a_field() -> None:
    """Whatever the run parser sets, and every family-specific flag, has a typed field (none is dropped)."""
    names = {f.name for f in fields(RunOptions)}
    dests = {a.dest for a in _run_parser()._actions if a.dest != "help"}
    assert dests <= names, dests - names
    assert set(families.FAMILY_RUN_FLAGS.values()) <= names
    for family in families.FAMILIES:
        assert set(families.module_of(family).RUN_OPTIONS) <= names


@pytest.mark.parametrize(("kw", "word"), [({"episodes": 0}, "episodes"), ({"seed": -1}, "seed")])
def test_options_refuse_what_the_cli_refuses(kw, word) -> None:
    with pytest.raises(ValueError, match=word):
        RunOptions("c.toml", "pid", **kw)


def test_run_main_from_python_prints_what_the_cli_prints(tmp_path, capsys) -> None:
    """The same held-out table from `snnctl run ... --json` and from run_main(cfg, RunOptions(...))."""
    path = tmp_path / "blimp.toml"
    path.write_text(CFG)
    assert cli.main(["run", str(path), "--controller", "pid", "--json"]) == 0
    via_cli = json.loads(capsys.readouterr().out)
    mod = families.module_of("blimp")
    cfg = load_config(str(path), mod.SCHEMA)
    assert mod.run_main(cfg, RunOptions(str(path), "pid", json=True)) == 0
    assert json.loads(capsys.readouterr().out) == via_cli
    assert via_cli["episodes"] == 1
