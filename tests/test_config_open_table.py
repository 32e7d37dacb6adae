"""`OpenTable`: a config table whose keys the schema cannot list (an env's keyword arguments), passed through."""

from __future__ import annotations

import pytest

from snnctl.config import ConfigError, Key, OpenTable, Section, apply_overrides, dump_toml, load_config, parse_toml

SCHEMA = Section("t", env=Section("env", id=Key(str, "X", "id"), kwargs=OpenTable("the env's keyword arguments")))


def _load(tmp_path, text: str) -> dict:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path, SCHEMA)


def test_any_keys_pass_through_and_default_to_empty(tmp_path) -> None:
    assert _load(tmp_path, '[env]\nid = "Y"\n')["env"]["kwargs"] == {}
    cfg = _load(tmp_path, '[env.kwargs]\ng = 9.81\ndiscrete = true\nname = "a"\nsizes = [1, 2]\n')
    assert cfg["env"]["kwargs"] == {"g": 9.81, "discrete": True, "name": "a", "sizes": [1, 2]}
    # written back and read again: the same table
    assert parse_toml(dump_toml(cfg))["env"]["kwargs"] == cfg["env"]["kwargs"]


def test_a_nested_table_is_refused_naming_the_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"env\.kwargs\.inner.*flat list"):
        _load(tmp_path, "[env.kwargs.inner]\na = 1\n")
    with pytest.raises(ConfigError, match=r"env\.kwargs: must be a table"):
        _load(tmp_path, "[env]\nkwargs = 3\n")


def test_override_sets_one_key_below_it(tmp_path) -> None:
    cfg = _load(tmp_path, "[env.kwargs]\ng = 9.81\n")
    out = apply_overrides(cfg, SCHEMA, ["env.kwargs.g=1.6", "env.kwargs.new=2"])
    assert out["env"]["kwargs"] == {"g": 1.6, "new": 2} and cfg["env"]["kwargs"] == {"g": 9.81}
    with pytest.raises(ConfigError, match="set one key"):
        apply_overrides(cfg, SCHEMA, ["env.kwargs=1"])
