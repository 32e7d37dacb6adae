"""UEA/UCR ``.ts`` files: `load_ts` (one file → series, labels, header), `write_ts` (the inverse),
`load_ts_split` (a train and a test file → `HARDataset`), `load_ucr_folder` (a folder with
``<name>_TRAIN.ts`` and ``<name>_TEST.ts``). Our own parser of the format sktime and aeon document
(no pandas, no aeon)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .dataset import (
    HARDataError,
    HARDataset,
    _check_length,
    _check_nan_mode,
    _default_channels,
    _fill_nans,
    fit_length,
    option_hint,
    sort_classes,
)

# Header tags (lower case) with a true/false or integer value → the `meta` key `load_ts` stores it under.
_TS_BOOL_TAGS = {
    "timestamps": "timestamps",
    "missing": "missing",
    "univariate": "univariate",
    "equallength": "equal_length",
}
_TS_INT_TAGS = {"dimensions": "dimensions", "dimension": "dimensions", "serieslength": "series_length"}
_TS_TAGS = ("problemName", "timeStamps", "missing", "univariate", "dimensions", "equalLength", "seriesLength",
            "classLabel", "targetLabel", "data")  # fmt: skip
_MISSING_TOKENS = frozenset({"?", "nan", "NaN", "NAN"})
_COMMENT = ("#", "%")  # comment lines before @data: '#', and '%' (the ARFF style some archive files use, e.g. UnitTest)


def _parse_bool(token: str, where: str, tag: str) -> bool:
    low = token.lower()
    if low not in ("true", "false"):
        raise HARDataError(f"{where}: @{tag} takes true or false, got {token!r}")
    return low == "true"


def _parse_header_line(line: str, where: str, meta: dict, seen: set[str]) -> None:
    """One ``@tag value`` line into ``meta`` (see `load_ts` for the keys).

    A tag given twice is an error, except ``@problemName`` (only a name; the first one counts): the
    UnitTest files sktime ships name two problems."""
    parts = line[1:].split()
    if not parts:
        raise HARDataError(f"{where}: '@' without a tag name")
    tag, args = parts[0], parts[1:]
    low = tag.lower()
    if low == "problemname" and low in seen:
        return
    if low in seen:
        raise HARDataError(f"{where}: @{tag} given twice")
    seen.add(low)
    if low == "problemname":
        if len(args) != 1:
            raise HARDataError(f"{where}: @problemName takes one name without spaces, got {' '.join(args)!r}")
        meta["problem_name"] = args[0]
    elif low in _TS_BOOL_TAGS:
        if len(args) != 1:
            raise HARDataError(f"{where}: @{tag} takes true or false, got {' '.join(args)!r}")
        meta[_TS_BOOL_TAGS[low]] = _parse_bool(args[0], where, tag)
    elif low in _TS_INT_TAGS:
        if len(args) != 1 or not re.fullmatch(r"\d+", args[0]) or int(args[0]) < 1:
            raise HARDataError(f"{where}: @{tag} takes one integer >= 1, got {' '.join(args)!r}")
        meta[_TS_INT_TAGS[low]] = int(args[0])
    elif low == "classlabel":
        if not args:
            raise HARDataError(f"{where}: @classLabel takes true followed by the class names, or false")
        if _parse_bool(args[0], where, tag):
            labels = args[1:]
            if not labels:
                raise HARDataError(f"{where}: @classLabel true must list the class names (e.g. @classLabel true a b c)")
            if len(set(labels)) != len(labels):
                raise HARDataError(f"{where}: @classLabel lists a class twice: {' '.join(labels)}")
            meta["class_labels"] = tuple(labels)
        elif len(args) > 1:
            raise HARDataError(f"{where}: @classLabel false takes no class names")
    elif low == "targetlabel":
        if len(args) != 1:
            raise HARDataError(f"{where}: @targetLabel takes true or false, got {' '.join(args)!r}")
        meta["target_label"] = _parse_bool(args[0], where, tag)
    else:
        import difflib

        close = difflib.get_close_matches(tag, _TS_TAGS, n=1, cutoff=0.6)
        hint = f" (did you mean @{close[0]}?)" if close else f"; known tags: {', '.join('@' + t for t in _TS_TAGS)}"
        raise HARDataError(f"{where}: unknown header tag @{tag}{hint}")


def _parse_channel(field: str, where: Callable[[int], str], channel: int) -> np.ndarray:
    """Comma-separated values of one channel → float64; ``?`` and ``NaN`` become NaN."""
    tokens = field.split(",")
    try:
        return np.array(tokens, dtype=np.float64)  # fast path: numpy parses the decimal strings itself
    except ValueError:
        pass
    values = np.empty(len(tokens))
    for i, tok in enumerate(tokens):
        tok = tok.strip()
        if tok in _MISSING_TOKENS:
            values[i] = np.nan
            continue
        try:
            values[i] = float(tok)
        except ValueError:
            what = "an empty value" if tok == "" else f"{tok!r}, not a number"
            raise HARDataError(f"{where(channel)}, value {i + 1}: {what}") from None
    return values


def _check_header(meta: dict, where: str) -> int | None:
    """At ``@data``: reject header combinations the reader cannot honour; → channel count if declared."""
    if meta["timestamps"]:
        raise HARDataError(
            f"{where}: @timeStamps true ((time,value) pairs) is not supported; write the values without time"
            " stamps (@timeStamps false)"
        )
    if meta["class_labels"] is not None and meta["target_label"]:
        raise HARDataError(f"{where}: a file cannot have both @classLabel true and @targetLabel true")
    if meta["univariate"] and meta["dimensions"] not in (None, 1):
        raise HARDataError(f"{where}: @univariate true contradicts @dimensions {meta['dimensions']}")
    return meta["dimensions"] or (1 if meta["univariate"] else None)


def _parse_case(line: str, where: str, meta: dict, n_dims: int | None) -> tuple[np.ndarray, str | None, int]:
    """One data line → (values (channels, steps), label or None, channel count), checked against the header."""
    fields = line.split(":")
    label = None
    has_label = meta["class_labels"] is not None or meta["target_label"]
    if has_label:
        if len(fields) < 2:
            raise HARDataError(f"{where}: expected the channels then ':' and the label, found no ':'")
        label = fields.pop().strip()
        if not label:
            raise HARDataError(f"{where}: empty label after the last ':'")
        if meta["class_labels"] is not None and label not in meta["class_labels"]:
            raise HARDataError(f"{where}: label {label!r} is not in @classLabel: {' '.join(meta['class_labels'])}")
        if meta["target_label"]:
            try:
                float(label)
            except ValueError:
                raise HARDataError(f"{where}: regression target {label!r} is not a number") from None
    if n_dims is None:
        n_dims = len(fields)  # neither @dimensions nor @univariate: the first case decides
    if len(fields) != n_dims:
        hint = "" if has_label else " (if the last field is a label, declare it with @classLabel true ...)"
        raise HARDataError(f"{where}: {len(fields)} channels, expected {n_dims}{hint}")

    def at(c: int) -> str:
        return f"{where}: channel {c + 1}"

    chans = [_parse_channel(fld, at, c) for c, fld in enumerate(fields)]
    n = len(chans[0])
    for c, ch in enumerate(chans):
        if len(ch) != n:
            raise HARDataError(f"{at(c)} has {len(ch)} values, channel 1 has {n}; channels of one case must match")
    x = np.stack(chans)
    if meta["missing"] is False and np.isnan(x).any():
        raise HARDataError(f"{where}: missing value ('?') but the header says @missing false")
    if meta["equal_length"] and meta["series_length"] is not None and n != meta["series_length"]:
        raise HARDataError(f"{where}: {n} values per channel, but @seriesLength is {meta['series_length']}")
    return x, label, n_dims


def read_ts_header(path: str | Path) -> dict:
    """The header of a ``.ts`` file (the `load_ts` ``meta`` keys a header gives), without reading the data.

    What a caller needs to decide before loading: e.g. ``class_labels`` (None: not a classification
    file) or ``target_label`` (a regression file), ``equal_length``, ``dimensions``.
    """
    path = Path(path)
    if not path.is_file():
        raise HARDataError(f"{path}: no such .ts file")
    meta: dict = {"problem_name": None, "timestamps": False, "missing": None, "univariate": None, "dimensions": None,
                  "equal_length": None, "series_length": None, "class_labels": None, "target_label": False}  # fmt: skip
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith(_COMMENT):
                continue
            if not line.startswith("@"):
                break
            if line.split()[0].lower() == "@data":
                return meta
            _parse_header_line(line, f"{path}:{lineno}", meta, seen)
    raise HARDataError(f"{path}: no @data line; is this a .ts file?")


def load_ts(path: str | Path) -> tuple[np.ndarray | list[np.ndarray], list[str], dict]:
    """Read a UEA/UCR ``.ts`` file → ``(X, labels, meta)``.

    The format (as sktime and aeon document it): optional ``#`` (or ``%``) comment lines, then header lines
    ``@problemName NAME``, ``@timeStamps``, ``@missing``, ``@univariate``, ``@equalLength`` (each
    ``true``/``false``), ``@dimensions N``, ``@seriesLength N``, ``@classLabel true A B C`` (or
    ``false``), ``@targetLabel true|false`` (regression), then ``@data`` and one case per line: the
    channels separated by ``:``, the values of a channel by ``,``, and — when the header declares
    labels — the label as the last field. ``?`` (or ``NaN``) is a missing value. Tags are matched
    case-insensitively; an unknown tag is an error (with a suggestion).

    Returns ``X`` as float64 (cases, channels, steps) when every case has the same length, else a list
    of (channels, steps_i) arrays; ``labels`` (strings, one per case; empty if the file has none);
    ``meta`` with ``problem_name``, ``timestamps``, ``missing``, ``univariate``, ``dimensions``,
    ``equal_length``, ``series_length``, ``class_labels`` (tuple or None), ``target_label``,
    ``description`` (the comment text), ``lengths`` (steps per case) and ``line_numbers`` (the file
    line of each case). Within one case every channel must have the same length. The header is
    checked against the data: a declared dimension count, series length, equal length, class list or
    ``@missing false`` that the data contradicts is an error naming the line. Files with
    ``@timeStamps true`` (values written as ``(time,value)`` pairs) are not supported.
    """
    path = Path(path)
    if not path.is_file():
        raise HARDataError(f"{path}: no such .ts file")
    meta: dict = {
        "problem_name": None,
        "timestamps": False,
        "missing": None,
        "univariate": None,
        "dimensions": None,
        "equal_length": None,
        "series_length": None,
        "class_labels": None,
        "target_label": False,
    }
    comments: list[str] = []
    seen: set[str] = set()
    series: list[np.ndarray] = []
    labels: list[str] = []
    line_numbers: list[int] = []
    in_data = False
    n_dims = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                continue
            where = f"{path}:{lineno}"
            if not in_data:
                if line.startswith(_COMMENT):
                    comments.append(line.lstrip("%").lstrip("#").strip())
                elif line.startswith("@"):
                    if line.split()[0].lower() == "@data":
                        if len(line.split()) > 1:
                            raise HARDataError(f"{where}: @data takes no value")
                        in_data = True
                        n_dims = _check_header(meta, where)
                    else:
                        _parse_header_line(line, where, meta, seen)
                else:
                    raise HARDataError(f"{where}: data before the @data line (or a header line without '@')")
                continue
            if line.startswith("@"):
                raise HARDataError(f"{where}: header tag after @data")
            if line.startswith("#"):
                continue
            x, label, n_dims = _parse_case(line, where, meta, n_dims)
            if label is not None:
                labels.append(label)
            if meta["equal_length"] and series and x.shape[1] != series[0].shape[1]:
                raise HARDataError(
                    f"{where}: {x.shape[1]} values per channel, the first case has {series[0].shape[1]}, but the"
                    " header says @equalLength true"
                )
            series.append(x)
            line_numbers.append(lineno)
    if not in_data:
        raise HARDataError(f"{path}: no @data line; is this a .ts file?")
    if not series:
        raise HARDataError(f"{path}: no cases after @data")
    lengths = [s.shape[1] for s in series]
    meta.update(description="\n".join(comments), lengths=lengths, line_numbers=line_numbers)
    if meta["dimensions"] is None:
        meta["dimensions"] = n_dims
    X: np.ndarray | list[np.ndarray] = np.stack(series) if len(set(lengths)) == 1 else series
    return X, labels, meta


_TS_NAME = re.compile(r"[^\s:,#@]+")


def write_ts(
    path: str | Path,
    X: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    problem_name: str = "data",
    classes: Sequence[str] | None = None,
    description: str | None = None,
) -> Path:
    """Write series to a UEA/UCR ``.ts`` file that `load_ts` (and sktime/aeon) read back.

    ``X`` is (cases, channels, steps) or a list of (channels, steps_i) arrays (unequal lengths).
    Values are written with Python's shortest round-trip ``repr``, so `load_ts` returns exactly the
    float64 values written (float32 input comes back as the same float32 after a cast); NaN is
    written as ``?``; an infinite value is an error. ``labels`` (one per case) and ``classes`` (the
    declared class list, default: the sorted labels) must be names without spaces, ``:``, ``,``.
    ``description`` becomes ``#`` comment lines. Returns the path written.
    """
    path = Path(path)
    cases = [np.asarray(x, dtype=np.float64) for x in X]
    if not cases:
        raise HARDataError(f"{path}: nothing to write (no cases)")
    if any(x.ndim != 2 or x.shape[1] == 0 for x in cases):
        raise HARDataError(f"{path}: every case must be a (channels, steps) array with at least one step")
    n_ch = cases[0].shape[0]
    if n_ch == 0 or any(x.shape[0] != n_ch for x in cases):
        raise HARDataError(f"{path}: every case must have the same, non-zero number of channels")
    if any(np.isinf(x).any() for x in cases):
        raise HARDataError(f"{path}: infinite values cannot be written to a .ts file")
    if not _TS_NAME.fullmatch(problem_name):
        raise HARDataError(f"{path}: problem name {problem_name!r} must be one word without ':' or ','")
    if labels is not None:
        labels = [str(lb) for lb in labels]
        if len(labels) != len(cases):
            raise HARDataError(f"{path}: {len(labels)} labels for {len(cases)} cases")
        declared = sort_classes(labels) if classes is None else tuple(str(c) for c in classes)
        for name in declared:
            if not _TS_NAME.fullmatch(name):
                raise HARDataError(f"{path}: class name {name!r} cannot be written (spaces, ':', ',', '#', '@')")
        unknown = sorted(set(labels) - set(declared))
        if unknown:
            raise HARDataError(f"{path}: labels {unknown} are not among the classes {list(declared)}")
    lengths = {x.shape[1] for x in cases}
    equal = len(lengths) == 1
    missing = any(np.isnan(x).any() for x in cases)
    head = [f"#{ln}" for ln in (description.splitlines() if description else [])]
    head += [
        f"@problemName {problem_name}",
        "@timeStamps false",
        f"@missing {str(missing).lower()}",
        f"@univariate {str(n_ch == 1).lower()}",
        f"@dimensions {n_ch}",
        f"@equalLength {str(equal).lower()}",
    ]
    if equal:
        head.append(f"@seriesLength {lengths.pop()}")
    head.append("@classLabel true " + " ".join(declared) if labels is not None else "@classLabel false")
    head.append("@data")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(head) + "\n")
        for i, x in enumerate(cases):
            fields = [",".join("?" if v != v else repr(v) for v in ch.tolist()) for ch in x]  # v != v: NaN
            if labels is not None:
                fields.append(labels[i])
            f.write(":".join(fields) + "\n")
    return path


def _ts_to_array(
    X: np.ndarray | list[np.ndarray], meta: dict, path: Path, nan: str, length: int | None, length_mode: str
) -> np.ndarray:
    """Cases of one .ts file → (cases, channels, steps) float32: NaNs repaired or refused, lengths made equal."""
    lines = meta["line_numbers"]
    out = []
    for i, x in enumerate(X):

        def where(c: int, t: int, _i: int = i) -> str:
            return f"{path}:{lines[_i]}: case {_i + 1}, channel {c + 1}, step {t + 1}"

        x = _fill_nans(np.asarray(x, dtype=np.float64), nan, where)
        if length is not None:
            x = fit_length(x, length, length_mode, f"{path}:{lines[i]}: case {i + 1}")
        elif out and x.shape[1] != out[0].shape[1]:
            raise HARDataError(
                f"{path}:{lines[i]}: case {i + 1} has {x.shape[1]} steps, case 1 has {out[0].shape[1]}; a dataset needs"
                f" one length: {option_hint('length', out[0].shape[1])} to resample every series linearly to that"
                " many steps (length_mode: resample, pad or crop)"
            )
        if not np.isfinite(x).all():
            raise HARDataError(f"{path}:{lines[i]}: case {i + 1} holds an infinite value")
        out.append(x)
    return np.stack(out).astype(np.float32)


def load_ts_split(
    train_path: str | Path,
    test_path: str | Path,
    *,
    length: int | None = None,
    length_mode: str = "resample",
    nan: str = "refuse",
    name: str | None = None,
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
) -> HARDataset:
    """A train and a test ``.ts`` file → `HARDataset`.

    Both files must be classification files (``@classLabel true ...``) with the same channels; the
    classes are the union of both headers' class lists, sorted. A dataset needs one series length:
    unequal lengths (within or across the files) are an error naming the file and line, unless
    ``length`` is given, in which case every series is brought to ``length`` steps as
    ``length_mode`` says (`LENGTH_MODES`: resample, pad, crop). Missing values are an error naming
    file, line, channel and step, unless ``nan`` says how to repair them (`NAN_MODES`). ``channels`` names
    the channels (default ``c0, c1, ...``); ``rate_hz`` the sampling rate if known; ``name``
    defaults to the train file's ``@problemName``.
    """
    _check_nan_mode(nan)
    _check_length(length, length_mode)
    parts = []
    for p in (Path(train_path), Path(test_path)):
        X, labels, meta = load_ts(p)
        if meta["class_labels"] is None:
            raise HARDataError(f"{p}: not a classification file (needs '@classLabel true <classes>' in the header)")
        parts.append((p, _ts_to_array(X, meta, p, nan, length, length_mode), labels, meta))
    (p_tr, X_tr, l_tr, m_tr), (p_te, X_te, l_te, m_te) = parts
    if X_tr.shape[1] != X_te.shape[1]:
        raise HARDataError(f"{p_te}: {X_te.shape[1]} channels, but {p_tr} has {X_tr.shape[1]}")
    if X_tr.shape[2] != X_te.shape[2]:
        raise HARDataError(
            f"{p_te}: series have {X_te.shape[2]} steps, {p_tr} has {X_tr.shape[2]};"
            f" {option_hint('length', X_tr.shape[2])} to resample both to one length"
        )
    classes = sort_classes(set(m_tr["class_labels"]) | set(m_te["class_labels"]))
    index = {c: k for k, c in enumerate(classes)}
    return HARDataset(
        X_train=X_tr,
        y_train=np.array([index[lb] for lb in l_tr], dtype=np.int64),
        X_test=X_te,
        y_test=np.array([index[lb] for lb in l_te], dtype=np.int64),
        classes=classes,
        channels=_default_channels(X_tr.shape[1], channels, str(p_tr)),
        rate_hz=rate_hz,
        name=name or m_tr["problem_name"] or p_tr.stem.removesuffix("_TRAIN"),
    )


def load_ucr_folder(
    folder: str | Path,
    name: str | None = None,
    *,
    length: int | None = None,
    length_mode: str = "resample",
    nan: str = "refuse",
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
) -> HARDataset:
    """A folder holding ``<name>_TRAIN.ts`` and ``<name>_TEST.ts`` → `HARDataset` (via `load_ts_split`).

    Without ``name`` the folder must hold exactly one ``*_TRAIN.ts``. ``length``, ``length_mode``, ``nan``, ``channels``
    and ``rate_hz`` mean what they mean for `load_ts_split`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HARDataError(f"{folder}: no such folder")
    if name is None:
        found = sorted(folder.glob("*_TRAIN.ts"))
        if len(found) != 1:
            what = (
                "no *_TRAIN.ts file"
                if not found
                else f"{len(found)} *_TRAIN.ts files ({', '.join(p.name for p in found)})"
            )
            raise HARDataError(f"{folder}: {what}; expected one <name>_TRAIN.ts with its <name>_TEST.ts")
        name = found[0].name.removesuffix("_TRAIN.ts")
    train, test = folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts"
    for p in (train, test):
        if not p.is_file():
            raise HARDataError(f"{p}: missing; a UCR/UEA folder holds {train.name} and {test.name}")
    return load_ts_split(
        train, test, length=length, length_mode=length_mode, nan=nan, name=name, channels=channels, rate_hz=rate_hz
    )
