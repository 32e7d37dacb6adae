"""Validated TOML configuration: a small schema mechanism, a loader and a writer (stdlib only).

A schema is a tree of :class:`Section` objects whose leaves are :class:`Key` declarations (type,
default, allowed range or choices, one-line help)::

    SCHEMA = Section(
        "an experiment",
        evolve=Section(
            "the evolution run",
            generations=Key(int, 100, "generations to run", ge=1),
            sigma=Key(float, 0.3, "CMA-ES initial step size (normalised units)", gt=0, le=1),
            algorithm=Key(str, "cmaes", "search algorithm", choices=("cmaes", "ga", "nsga2")),
        ),
    )
    cfg = load_config("configs/blimp.toml", SCHEMA)   # plain nested dict, every default filled in
    cfg["evolve"]["sigma"]                            # -> 0.3 unless the file says otherwise

Every mistake in a file raises :class:`ConfigError` whose message names the file, the key (dotted
path) and what is allowed: unknown keys (with the closest valid key as a suggestion), wrong types,
values out of range, values not among the choices, and TOML syntax errors (with the line).

:func:`dump_toml` writes a resolved config back as TOML (flat tables of scalars and lists; nested
sections become ``[a.b]`` tables), so a run folder can keep exactly what it ran with;
:func:`config_hash` fingerprints it. Loading what :func:`dump_toml` wrote gives the same dict.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from typing import Any

__all__ = [
    "ConfigError",
    "Key",
    "Section",
    "OpenTable",
    "load_config",
    "validate",
    "defaults",
    "apply_overrides",
    "dump_toml",
    "config_hash",
    "Limits",
    "param",
    "spec_keys",
    "signature_keys",
    "check_params",
]

_SCALAR_TYPES = (bool, int, float, str)
_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}
_PLURAL = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


class ConfigError(ValueError):
    """A configuration mistake the user can fix.

    ``str(exc)`` is one line ``FILE: KEY: what is wrong; what is allowed``; the parts are also
    available as ``exc.file``, ``exc.key`` (dotted path, ``""`` for the file as a whole) and
    ``exc.reason``.
    """

    def __init__(self, file: str, key: str, reason: str):
        self.file = file
        self.key = key
        self.reason = reason
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Key:
    """One configuration value.

    ``type`` is ``bool``, ``int``, ``float``, ``str`` or ``list`` (then ``item`` gives the element
    type, one of the four scalars). An ``int`` is accepted where a ``float`` is declared (and
    converted); a ``bool`` is never accepted as a number. ``ge``/``gt``/``le``/``lt`` bound
    numbers (for lists: every element; ``min_len``/``max_len`` bound the length); ``choices``
    restricts the value to a fixed set. The default must itself be valid.
    """

    type: type
    default: Any
    help: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    item: type | None = None
    min_len: int | None = None
    max_len: int | None = None

    def __post_init__(self) -> None:
        if self.type not in (*_SCALAR_TYPES, list):
            raise TypeError(f"Key type must be bool, int, float, str or list, not {self.type!r}")
        if self.type is list and self.item not in _SCALAR_TYPES:
            raise TypeError("a list Key needs item= bool, int, float or str")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        # The default has to pass its own checks (catches schema typos at import time).
        _check_value(self, self.default, "<schema default>", "<default>")

    # -- descriptions used in error messages and dump_toml comments --------------------------------
    def allowed(self) -> str:
        """What values are allowed, in words (``"an integer, 1 <= value <= 1000"``)."""
        if self.choices is not None:
            what = f"one of {', '.join(_toml_scalar(c) for c in self.choices)}"
            return f"a list of values, each {what}" if self.type is list else what
        if self.type is list:
            what = f"a list of {_PLURAL[self.item]}"
            n = _interval(self.min_len, None, self.max_len, None, "length")
            rng = _interval(self.ge, self.gt, self.le, self.lt, "each value")
        else:
            what = _TYPE_WORDS[self.type]
            n, rng = "", _interval(self.ge, self.gt, self.le, self.lt, "value")
        return ", ".join(x for x in (what, n, rng) if x)


@dataclass(frozen=True)
class OpenTable:
    """A TOML table whose keys the schema cannot list: passed through as given (e.g. an env's keyword
    arguments, checked by the env itself). Values are what :func:`dump_toml` writes: bools, numbers,
    strings and flat lists of them."""

    help: str = ""


@dataclass(frozen=True, init=False)
class Section:
    """A TOML table: named :class:`Key` entries and nested :class:`Section` entries."""

    help: str
    fields: dict[str, Key | Section | OpenTable] = field(default_factory=dict)

    def __init__(self, help: str = "", /, **fields: Key | Section | OpenTable):
        for name, f in fields.items():
            if not isinstance(f, Key | Section | OpenTable):
                raise TypeError(
                    f"schema entry {name!r} must be a Key, a Section or an OpenTable, not {type(f).__name__}"
                )
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "fields", dict(fields))

    def extend(self, **fields: Key | Section) -> Section:
        """A copy with ``fields`` added (or replaced); e.g. a problem adds its own ``[problem]``."""
        return Section(self.help, **{**self.fields, **fields})

    def __getitem__(self, name: str) -> Key | Section:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields


# -- keys whose default lives with the code that uses it -------------------------------------------
#
# A config key that sets a spec field or an env constructor argument has its default written once,
# where the value is used: a spec field declared with `param` carries default, help and limits (the
# spec checks itself against the same limits, `check_params`), and an env's defaults are its
# constructor's (`signature_keys`). The family's schema reads them, so the two cannot drift.

_META = "snnctl.config"


class Limits:
    """A :class:`Key` without its default: help and what is allowed (the default is written elsewhere).

    ``limits`` are :class:`Key`'s ``ge``, ``gt``, ``le``, ``lt``, ``choices``, ``item``, ``min_len``,
    ``max_len`` (checked when the key is built).
    """

    def __init__(self, help: str = "", **limits: Any) -> None:
        self.help = help
        self.limits = limits

    def key(self, default: Any, type_: type | None = None) -> Key:
        """The :class:`Key` with ``default`` (type from ``type_`` or the default's: bool, int, float, str, list)."""
        if isinstance(default, tuple):
            default = list(default)
        t = type_ or type(default)
        lim = dict(self.limits)
        if t is list and lim.get("item") is None:
            lim["item"] = type(default[0])
        return Key(t, default, self.help, **lim)


def param(default: Any, help: str = "", **limits: Any) -> Any:
    """A dataclass field whose default, help and limits a config schema reads (:func:`spec_keys`).

    A tuple default is kept as is (frozen dataclasses); its key is a list of the items' type.
    """
    return field(default=default, metadata={_META: Limits(help, **limits)})


def spec_keys(cls: type, rename: Mapping[str, str] | None = None, help_prefix: str = "") -> dict[str, Key]:
    """The :class:`Key` of each field of dataclass ``cls`` declared with :func:`param`, by config name.

    ``rename`` maps a field name to its config key where they differ (e.g. ``theta`` -> ``theta_s``);
    ``help_prefix`` says whose key it is in a table several specs share (``"ncap: "``).
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    rename = rename or {}
    out = {}
    for f in fields(cls):
        if _META in f.metadata:
            key = _field_key(f)
            out[rename.get(f.name, f.name)] = replace(key, help=help_prefix + key.help) if help_prefix else key
    return out


def _field_key(f: Any) -> Key:
    """A :func:`param` field's key; annotated ``float``, it is a float key even with an int default."""
    return f.metadata[_META].key(f.default, float if f.type in (float, "float") else None)


def signature_keys(func: Any, **limits: Limits) -> dict[str, Key]:
    """The :class:`Key` of each named argument of ``func`` (e.g. an env class): its default, these limits."""
    sig = inspect.signature(func)
    out = {}
    for name, lim in limits.items():
        if name not in sig.parameters or sig.parameters[name].default is inspect.Parameter.empty:
            raise TypeError(f"{getattr(func, '__qualname__', func)} has no argument {name!r} with a default")
        out[name] = lim.key(sig.parameters[name].default)
    return out


def check_params(obj: Any, what: str) -> None:
    """Refuse a :func:`param` field of ``obj`` outside its limits: ``ValueError`` naming field and limits.

    numpy scalars count as the Python number they hold (specs are rebuilt from arrays and files).
    """
    for f in fields(obj):
        if _META not in f.metadata or f.default is MISSING:
            continue
        key = _field_key(f)
        value = getattr(obj, f.name)
        plain = value.item() if hasattr(value, "item") and not isinstance(value, list | tuple) else value
        if isinstance(plain, tuple):
            plain = list(plain)
        try:
            _check_value(key, plain, what, f.name)
        except ConfigError as exc:
            raise ValueError(f"{what}: {f.name}: {exc.reason}") from None


# -- loading and validation -------------------------------------------------------------------------


def load_config(path: str | bytes | Any, schema: Section, overrides: Iterable[str] | Mapping[str, Any] = ()) -> dict:
    """Read the TOML file at ``path``, validate it against ``schema`` and fill in defaults.

    ``overrides`` (applied after the file, validated the same way) are ``"dotted.key=value"``
    strings with a TOML value (``"evolve.sigma=0.2"``, ``'evolve.backend="serial"'``; a bare word
    is taken as a string) or a mapping of dotted keys to values. Raises :class:`ConfigError`.
    """
    file = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start})") from None
    data = parse_toml(text, file)
    resolved = validate(data, schema, file)
    if overrides:
        resolved = apply_overrides(resolved, schema, overrides)
    return resolved


def parse_toml(text: str, file: str = "<string>") -> dict:
    """``tomllib.loads`` with errors turned into :class:`ConfigError` naming the file and line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        lines = text.splitlines()
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m is not None:
            line, col = int(m.group(1)), int(m.group(2))
        elif "end of document" in msg:
            line, col = max(len(lines), 1), None
        else:
            line, col = None, None
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        if line is None:
            raise ConfigError(file, "", f"TOML syntax error: {reason}") from None
        src = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        at = f"line {line}, column {col}" if col else f"line {line}"
        raise ConfigError(f"{file}:{line}", "", f"TOML syntax error at {at}: {reason}: {src!r}") from None


def validate(data: Mapping[str, Any], schema: Section, file: str = "<config>") -> dict:
    """Check a parsed TOML document against ``schema``; return a new dict with defaults filled."""
    return _validate_section(data, schema, file, "")


def defaults(schema: Section) -> dict:
    """The resolved config of an empty file: every default."""
    return validate({}, schema, "<defaults>")


def apply_overrides(resolved: Mapping[str, Any], schema: Section, overrides: Iterable[str] | Mapping[str, Any]) -> dict:
    """A copy of ``resolved`` with ``overrides`` (see :func:`load_config`) applied and validated."""
    out = _deepcopy_tables(resolved)
    items = overrides.items() if isinstance(overrides, Mapping) else (_parse_override(s) for s in overrides)
    for dotted, value in items:
        parts = dotted.split(".")
        node: Section = schema
        table = out
        for depth, part in enumerate(parts):
            path = ".".join(parts[: depth + 1])
            if part not in node.fields:
                raise ConfigError("<command line>", path, _unknown_reason(part, node, ".".join(parts[:depth])))
            entry = node.fields[part]
            if isinstance(entry, OpenTable):  # any key below it, as the file could have written it
                if depth != len(parts) - 2:
                    raise ConfigError("<command line>", path, "is a table of values; set one key: "
                                      f"{path}.NAME=VALUE")  # fmt: skip
                table[part][parts[-1]] = _open_table({parts[-1]: value}, "<command line>", path)[parts[-1]]
                break
            if depth == len(parts) - 1:
                if isinstance(entry, Section):
                    raise ConfigError("<command line>", path, "is a table; set one of its keys instead")
                table[part] = _check_value(entry, value, "<command line>", path)
            else:
                if not isinstance(entry, Section):
                    raise ConfigError("<command line>", path, f"is a value ({entry.allowed()}), not a table")
                node, table = entry, table[part]
    return out


def _parse_override(s: str) -> tuple[str, Any]:
    if "=" not in s:
        raise ConfigError("<command line>", s, "an override must look like dotted.key=value")
    key, _, text = s.partition("=")
    key, text = key.strip(), text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word: take it as a string (evolve.backend=serial)
    return key, value


def _validate_section(data: Any, schema: Section, file: str, prefix: str) -> dict:
    if not isinstance(data, Mapping):
        raise ConfigError(file, prefix, f"must be a table ([{prefix}]), got {_describe(data)}")
    for name in data:
        if name not in schema.fields:
            raise ConfigError(file, _join(prefix, name), _unknown_reason(name, schema, prefix))
    out: dict[str, Any] = {}
    for name, entry in schema.fields.items():
        path = _join(prefix, name)
        if isinstance(entry, Section):
            out[name] = _validate_section(data.get(name, {}), entry, file, path)
        elif isinstance(entry, OpenTable):
            out[name] = _open_table(data.get(name, {}), file, path)
        elif name in data:
            out[name] = _check_value(entry, data[name], file, path)
        else:
            out[name] = _check_value(entry, entry.default, file, path)  # also int -> float
    return out


def _open_table(data: Any, file: str, path: str) -> dict:
    """An `OpenTable`'s keys as given; only what a TOML writer can write back (no nested tables)."""
    if not isinstance(data, Mapping):
        raise ConfigError(file, path, f"must be a table ([{path}]), got {_describe(data)}")
    for k, v in data.items():
        items = v if isinstance(v, list) else [v]
        if any(isinstance(x, Mapping | list) or not isinstance(x, bool | int | float | str) for x in items):
            raise ConfigError(file, _join(path, k), f"expected a bool, number, string or flat list, got {_describe(v)}")
    return {k: _copy_value(v) for k, v in data.items()}


def _unknown_reason(name: str, schema: Section, prefix: str) -> str:
    valid = list(schema.fields)
    table = f"[{prefix}]" if prefix else "the top level"
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if not close:  # also try case-insensitively and against nested keys' full paths
        lower = {v.lower(): v for v in valid}
        close = [lower[name.lower()]] if name.lower() in lower else []
    hint = f"; did you mean '{_join(prefix, close[0])}'?" if close else ""
    listing = ", ".join(valid) if valid else "(none)"
    return f"unknown key{hint} (valid keys in {table}: {listing})"


def _check_value(key: Key, value: Any, file: str, path: str) -> Any:
    if key.type is not list:
        return _check_scalar(key, key.type, value, file, path)
    if not isinstance(value, list | tuple):
        raise ConfigError(file, path, f"expected {key.allowed()}, got {_describe(value)}")
    n = len(value)
    if (key.min_len is not None and n < key.min_len) or (key.max_len is not None and n > key.max_len):
        raise ConfigError(file, path, f"has {n} elements; allowed: {key.allowed()}")
    return [_check_scalar(key, key.item, v, file, f"{path}[{i}]") for i, v in enumerate(value)]


def _check_scalar(key: Key, t: type, value: Any, file: str, path: str) -> Any:
    """Check one value of type ``t`` against ``key``'s choices and bounds (for lists: one element)."""
    v = _coerce_type(t, value, file, path, key)
    if key.choices is not None:
        return _check_choice(key, v, file, path)
    if t in (int, float):
        bounded = (key.ge, key.gt, key.le, key.lt) != (None,) * 4
        if t is float and bounded and not math.isfinite(v):
            raise ConfigError(file, path, f"{_toml_scalar(v)} is not allowed; allowed: {key.allowed()}")
        ok = (
            (key.ge is None or v >= key.ge)
            and (key.gt is None or v > key.gt)
            and (key.le is None or v <= key.le)
            and (key.lt is None or v < key.lt)
        )
        if not ok:
            raise ConfigError(file, path, f"{_toml_scalar(v)} is out of range; allowed: {key.allowed()}")
    return v


def _check_choice(key: Key, v: Any, file: str, path: str) -> Any:
    if v not in key.choices:
        hint = ""
        if isinstance(v, str):
            close = difflib.get_close_matches(v, [c for c in key.choices if isinstance(c, str)], n=1, cutoff=0.5)
            hint = f"; did you mean {_toml_scalar(close[0])}?" if close else ""
        raise ConfigError(file, path, f"{_toml_scalar(v)} is not allowed{hint} (allowed: {key.allowed()})")
    return v


def _coerce_type(t: type, value: Any, file: str, path: str, owner: Key) -> Any:
    if t is bool:
        ok = isinstance(value, bool)
    elif t is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            return float(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(file, path, f"expected {owner.allowed()}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {_toml_scalar(value)}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {_toml_scalar(value)}"
    if isinstance(value, str):
        return f"the string {_toml_scalar(value)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def _interval(ge, gt, le, lt, name: str) -> str:
    lo = f"{_num(ge)} <= " if ge is not None else f"{_num(gt)} < " if gt is not None else ""
    hi = f" <= {_num(le)}" if le is not None else f" < {_num(lt)}" if lt is not None else ""
    if lo and not hi:  # "value >= 1" reads better than "1 <= value"
        return f"{name} >= {_num(ge)}" if ge is not None else f"{name} > {_num(gt)}"
    return f"{lo}{name}{hi}" if lo or hi else ""


def _num(x: float) -> str:
    return repr(x) if isinstance(x, float) else str(x)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _copy_value(v: Any) -> Any:
    return list(v) if isinstance(v, list | tuple) else v


def _deepcopy_tables(d: Mapping[str, Any]) -> dict:
    return {k: _deepcopy_tables(v) if isinstance(v, Mapping) else _copy_value(v) for k, v in d.items()}


# -- writing ----------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dump_toml(resolved: Mapping[str, Any], schema: Section | None = None) -> str:
    """Write a resolved config as TOML; with ``schema``, each key gets its help as a comment.

    Handles what :func:`validate` produces: nested tables (written as ``[a.b]`` headers) whose
    values are bools, ints, floats (including ``inf``/``nan``), strings and flat lists of those.
    """
    lines: list[str] = []
    _dump_table(resolved, schema, [], lines)
    return "\n".join(lines).strip("\n") + "\n"


def _dump_table(table: Mapping[str, Any], schema: Section | None, path: list[str], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        if lines:
            lines.append("")
        if schema is not None and schema.help:
            lines.append(f"# {schema.help}")
        lines.append(f"[{'.'.join(_toml_key(p) for p in path)}]")
    for k, v in scalars:
        entry = schema.fields.get(k) if schema is not None else None
        text = f"{_toml_key(k)} = {_toml_value(v)}"
        if isinstance(entry, Key) and entry.help:
            text += f"  # {entry.help}"
        lines.append(text)
    for k, v in tables:
        sub = schema.fields.get(k) if schema is not None else None
        _dump_table(v, sub if isinstance(sub, Section) else None, [*path, k], lines)


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_string(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_scalar(x) for x in v) + "]"
    return _toml_scalar(v)


def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if any(c in r for c in ".en") else r + ".0"
    if isinstance(v, str):
        return _toml_string(v)
    if hasattr(v, "item"):  # numpy scalar
        return _toml_scalar(v.item())
    raise TypeError(f"dump_toml cannot write a {type(v).__name__}")


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def config_hash(resolved: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """SHA-256 (hex) of the config's TOML text, leaving out the dotted keys in ``exclude``."""
    d = _deepcopy_tables(resolved)
    for dotted in exclude:
        parts = dotted.split(".")
        node = d
        for p in parts[:-1]:
            node = node.get(p, {}) if isinstance(node, Mapping) else {}
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return hashlib.sha256(dump_toml(d).encode("utf-8")).hexdigest()
