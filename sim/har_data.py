"""Human-activity-recognition (HAR) data: windows of raw wearable IMU channels with class labels.

Every loader returns one thing, a `HARDataset`: per split a float32 array ``X`` (windows, channels,
steps) and int64 labels ``y``, indices into ``classes`` (the class names, sorted). The L2MU
network feeds each channel as current into its own input population, so nothing here normalises,
filters or encodes: the values are the sensor's own units.

Sources:

UEA/UCR ``.ts`` files
    `load_ts` (one file → series, labels, header), `write_ts` (the inverse), `load_ts_split` (a
    train and a test file → `HARDataset`), `load_ucr_folder` (a folder with ``<name>_TRAIN.ts`` and
    ``<name>_TEST.ts``). Our own parser of the format sktime and aeon document (no pandas, no aeon).
BasicMotions
    `load_basicmotions`: 4 activities recorded with a smartwatch (accelerometer + gyroscope, 6
    channels × 100 samples at 10 Hz, 40 train / 40 test windows), read from the ``.ts`` pair that
    the ``aeon`` and ``sktime`` packages ship as package data (the ``har`` extra installs sktime).
Raw WISDM-2019
    `load_wisdm`: the ``subject,activity,timestamp,x,y,z;`` text files of the WISDM smartphone and
    smartwatch dataset, accelerometer and gyroscope merged onto a 20 Hz grid, cut into 2 s windows,
    split by subject.
Plain CSV
    `load_csv`: one row per (window, time step), see its docstring for the layout.

`load_dataset(spec)` is what ``--data PATH`` means: it picks one of the above from the path.

Every problem with the input — a missing file, a malformed header, a ragged row, a NaN, an unknown
label — raises `HARDataError` (a ``ValueError``) whose message names the file, the line (or row and
channel) and what was expected, so a command line can print it as one line.
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "HARDataError",
    "HARDataset",
    "load_ts",
    "write_ts",
    "load_ts_split",
    "load_ucr_folder",
    "load_basicmotions",
    "find_packaged_dataset",
    "BASICMOTIONS_CHANNELS",
    "load_wisdm",
    "WISDM_ACTIVITIES",
    "WISDM_HAND_ACTIVITIES",
    "load_csv",
    "load_dataset",
    "sort_classes",
]

HAR_EXTRA_HINT = "pip install -e '.[har]'"
"""What installs the optional data packages (the ``har`` extra of this project)."""


class HARDataError(ValueError):
    """Input data a user can fix: the message names the file, the line or row, and what was expected."""


# --------------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HARDataset:
    """Labelled windows of raw sensor channels, split into train / (validation) / test.

    ``X_*`` are float32 (windows, channels, steps), every split with the same channels and steps;
    ``y_*`` are int64 indices into ``classes``. ``classes`` are sorted (numerically if every name is
    a number, else as strings), so the same files always give the same indices. ``rate_hz`` is the
    sampling rate if known (None for files that do not say). ``X_val``/``y_val`` are both None when
    there is no validation split. ``subjects_*`` (optional) give each window's subject id, for data
    split by subject (WISDM). Arrays are converted on construction and made read-only.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    channels: tuple[str, ...]
    rate_hz: float | None
    name: str
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    subjects_train: np.ndarray | None = None
    subjects_val: np.ndarray | None = None
    subjects_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        classes = tuple(str(c) for c in self.classes)
        channels = tuple(str(c) for c in self.channels)
        if not classes or len(set(classes)) != len(classes):
            raise HARDataError(f"{self.name}: classes must be a non-empty list of distinct names, got {classes}")
        if not channels or len(set(channels)) != len(channels):
            raise HARDataError(f"{self.name}: channels must be a non-empty list of distinct names, got {channels}")
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise HARDataError(f"{self.name}: rate_hz must be a positive number or None, got {self.rate_hz}")
        if (self.X_val is None) != (self.y_val is None):
            raise HARDataError(f"{self.name}: X_val and y_val must both be given or both be None")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "channels", channels)
        shape = None
        for split in ("train", "val", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X is None:
                continue
            X = np.ascontiguousarray(X, dtype=np.float32)
            y = np.ascontiguousarray(y, dtype=np.int64)
            if X.ndim != 3 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
                raise HARDataError(
                    f"{self.name}: {split} split must be X (windows, channels, steps) and y (windows,) with the same,"
                    f" non-zero number of windows; got X {X.shape}, y {y.shape}"
                )
            if shape is None:
                shape = X.shape[1:]
            if X.shape[1:] != shape or shape[0] != len(channels):
                raise HARDataError(
                    f"{self.name}: {split} split has (channels, steps) {X.shape[1:]}, expected {shape} with"
                    f" {len(channels)} channels"
                )
            if not np.isfinite(X).all():
                raise HARDataError(f"{self.name}: {split} split holds NaN or infinite values")
            if y.min() < 0 or y.max() >= len(classes):
                raise HARDataError(
                    f"{self.name}: {split} labels must lie in [0, {len(classes)}), got {y.min()}..{y.max()}"
                )
            X.setflags(write=False)
            y.setflags(write=False)
            object.__setattr__(self, f"X_{split}", X)
            object.__setattr__(self, f"y_{split}", y)
            subjects = getattr(self, f"subjects_{split}")
            if subjects is not None:
                subjects = np.ascontiguousarray(subjects, dtype=np.int64)
                if subjects.shape != y.shape:
                    raise HARDataError(f"{self.name}: subjects_{split} must have one entry per window")
                subjects.setflags(write=False)
                object.__setattr__(self, f"subjects_{split}", subjects)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_channels(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_steps(self) -> int:
        """Time steps per window (what the network runs per window)."""
        return self.X_train.shape[2]

    def splits(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[(name, X, y), ...]`` for the splits present, in the order train, val, test."""
        out = [("train", self.X_train, self.y_train)]
        if self.X_val is not None:
            out.append(("val", self.X_val, self.y_val))
        out.append(("test", self.X_test, self.y_test))
        return out

    def summary(self) -> str:
        """A short table: shape, rate, and windows per class in each split."""
        rate = "unknown rate" if self.rate_hz is None else f"{self.rate_hz:g} Hz ({self.n_steps / self.rate_hz:g} s)"
        lines = [
            f"{self.name}: {self.n_channels} channels ({', '.join(self.channels)}),"
            f" {self.n_steps} steps per window at {rate}, {self.n_classes} classes"
        ]
        width = max(8, *(len(c) for c in self.classes))
        lines.append(f"  {'class':<{width}}" + "".join(f"{name:>8}" for name, _, _ in self.splits()))
        counts = {name: np.bincount(y, minlength=self.n_classes) for name, _, y in self.splits()}
        for k, cls in enumerate(self.classes):
            lines.append(f"  {cls:<{width}}" + "".join(f"{counts[name][k]:>8}" for name, _, _ in self.splits()))
        lines.append(f"  {'total':<{width}}" + "".join(f"{len(y):>8}" for _, _, y in self.splits()))
        for name, _, _ in self.splits():
            subjects = getattr(self, f"subjects_{name}")
            if subjects is not None:
                lines.append(f"  {name} subjects: {' '.join(str(s) for s in np.unique(subjects))}")
        return "\n".join(lines)


def sort_classes(names) -> tuple[str, ...]:
    """Class names in a stable order: numerically if every name is a number ("2" before "10"), else as strings."""
    names = sorted(set(names))
    try:
        numbers = [float(s) for s in names]
    except ValueError:
        return tuple(names)
    if not all(map(math.isfinite, numbers)):
        return tuple(names)
    return tuple(s for _, s in sorted(zip(numbers, names, strict=True)))


# --------------------------------------------------------------------------------------------------
# Shared helpers: NaN repair, resampling, split sizes
# --------------------------------------------------------------------------------------------------

NAN_MODES = ("error", "interpolate")


def _check_nan_mode(nan: str) -> None:
    if nan not in NAN_MODES:
        raise HARDataError(f"nan must be one of {NAN_MODES}, got {nan!r}")


def _fill_nans(x: np.ndarray, nan: str, where: Callable[[int, int], str]) -> np.ndarray:
    """Repair or reject missing values in one series ``x`` (channels, steps).

    ``nan="error"`` raises at the first NaN, naming it through ``where(channel, step)``;
    ``nan="interpolate"`` fills each gap linearly between its neighbours and holds the first/last
    valid value over a leading/trailing gap. A channel with no valid value is always an error.
    """
    bad = np.isnan(x)
    if not bad.any():
        return x
    if nan == "error":
        c, t = np.argwhere(bad)[0]
        raise HARDataError(
            f"{where(int(c), int(t))}: missing value (NaN or '?'); pass nan='interpolate' to fill gaps linearly"
        )
    x = x.copy()
    steps = np.arange(x.shape[1])
    for c in np.flatnonzero(bad.any(axis=1)):
        ok = ~bad[c]
        if not ok.any():
            raise HARDataError(
                f"{where(int(c), 0)}: every value of this channel is missing; nothing to interpolate from"
            )
        x[c, ~ok] = np.interp(steps[~ok], steps[ok], x[c, ok])  # np.interp holds the end values outside
    return x


def _resample(x: np.ndarray, length: int) -> np.ndarray:
    """Stretch a series (channels, T) to ``length`` steps by linear interpolation over the same span.

    Sample j of the result sits at position j·(T−1)/(length−1) of the original (first and last
    samples kept); a one-sample series is repeated.
    """
    n = x.shape[1]
    if n == length:
        return x
    pos = np.linspace(0.0, n - 1.0, length)
    src = np.arange(n, dtype=np.float64)
    return np.stack([np.interp(pos, src, ch) for ch in x])


def _split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Share ``n`` items among fractions summing to 1: largest remainder, then one each to empty positive parts.

    E.g. 51 subjects at (0.6, 0.2, 0.2) → [31, 10, 10]; 3 subjects → [1, 1, 1].
    """
    exact = [f * n for f in fractions]
    counts = [math.floor(e) for e in exact]
    for i in sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))[: n - sum(counts)]:
        counts[i] += 1
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: counts[j])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] += 1
    return counts


def _check_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        raise HARDataError(f"split must be three fractions (train, val, test), got {split!r}") from None
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise HARDataError(f"split must be three fractions >= 0 (train, val, test) summing to 1, got {split!r}")
    if fr[0] == 0 or fr[2] == 0:
        raise HARDataError(f"split needs a train and a test part (> 0), got {split!r}")
    return fr


def _default_channels(n: int, channels: Sequence[str] | None, where: str) -> tuple[str, ...]:
    if channels is None:
        return tuple(f"c{i}" for i in range(n))
    channels = tuple(str(c) for c in channels)
    if len(channels) != n:
        raise HARDataError(f"{where}: {len(channels)} channel names given ({', '.join(channels)}) for {n} channels")
    return channels


# --------------------------------------------------------------------------------------------------
# UEA/UCR .ts files
# --------------------------------------------------------------------------------------------------

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


def _parse_bool(token: str, where: str, tag: str) -> bool:
    low = token.lower()
    if low not in ("true", "false"):
        raise HARDataError(f"{where}: @{tag} takes true or false, got {token!r}")
    return low == "true"


def _parse_header_line(line: str, where: str, meta: dict, seen: set[str]) -> None:
    """One ``@tag value`` line into ``meta`` (see `load_ts` for the keys)."""
    parts = line[1:].split()
    if not parts:
        raise HARDataError(f"{where}: '@' without a tag name")
    tag, args = parts[0], parts[1:]
    low = tag.lower()
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


def load_ts(path: str | Path) -> tuple[np.ndarray | list[np.ndarray], list[str], dict]:
    """Read a UEA/UCR ``.ts`` file → ``(X, labels, meta)``.

    The format (as sktime and aeon document it): optional ``#`` comment lines, then header lines
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
                if line.startswith("#"):
                    comments.append(line[1:].strip())
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


def _ts_to_array(X: np.ndarray | list[np.ndarray], meta: dict, path: Path, nan: str, length: int | None) -> np.ndarray:
    """Cases of one .ts file → (cases, channels, steps) float32: NaNs repaired or rejected, lengths made equal."""
    lines = meta["line_numbers"]
    out = []
    for i, x in enumerate(X):

        def where(c: int, t: int, _i: int = i) -> str:
            return f"{path}:{lines[_i]}: case {_i + 1}, channel {c + 1}, step {t + 1}"

        x = _fill_nans(np.asarray(x, dtype=np.float64), nan, where)
        if length is not None:
            x = _resample(x, length)
        elif out and x.shape[1] != out[0].shape[1]:
            raise HARDataError(
                f"{path}:{lines[i]}: case {i + 1} has {x.shape[1]} steps, case 1 has {out[0].shape[1]}; a dataset needs"
                " one length: pass length=N to resample every series linearly to N steps"
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
    nan: str = "error",
    name: str | None = None,
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
) -> HARDataset:
    """A train and a test ``.ts`` file → `HARDataset`.

    Both files must be classification files (``@classLabel true ...``) with the same channels; the
    classes are the union of both headers' class lists, sorted. A dataset needs one series length:
    unequal lengths (within or across the files) are an error naming the file and line, unless
    ``length`` is given, in which case every series is resampled linearly to ``length`` steps
    (first and last samples kept). Missing values are an error naming file, line, channel and
    step, unless ``nan="interpolate"`` (linear between neighbours, ends held). ``channels`` names
    the channels (default ``c0, c1, ...``); ``rate_hz`` the sampling rate if known; ``name``
    defaults to the train file's ``@problemName``.
    """
    _check_nan_mode(nan)
    if length is not None and (not isinstance(length, int | np.integer) or length < 2):
        raise HARDataError(f"length must be an integer >= 2 (steps per resampled series), got {length!r}")
    parts = []
    for p in (Path(train_path), Path(test_path)):
        X, labels, meta = load_ts(p)
        if meta["class_labels"] is None:
            raise HARDataError(f"{p}: not a classification file (needs '@classLabel true <classes>' in the header)")
        parts.append((p, _ts_to_array(X, meta, p, nan, length), labels, meta))
    (p_tr, X_tr, l_tr, m_tr), (p_te, X_te, l_te, m_te) = parts
    if X_tr.shape[1] != X_te.shape[1]:
        raise HARDataError(f"{p_te}: {X_te.shape[1]} channels, but {p_tr} has {X_tr.shape[1]}")
    if X_tr.shape[2] != X_te.shape[2]:
        raise HARDataError(
            f"{p_te}: series have {X_te.shape[2]} steps, {p_tr} has {X_tr.shape[2]}; pass length=N to resample both"
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
    nan: str = "error",
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
) -> HARDataset:
    """A folder holding ``<name>_TRAIN.ts`` and ``<name>_TEST.ts`` → `HARDataset` (via `load_ts_split`).

    Without ``name`` the folder must hold exactly one ``*_TRAIN.ts``. ``length``, ``nan``, ``channels``
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
    return load_ts_split(train, test, length=length, nan=nan, name=name, channels=channels, rate_hz=rate_hz)


# --------------------------------------------------------------------------------------------------
# BasicMotions (package data of aeon / sktime)
# --------------------------------------------------------------------------------------------------

BASICMOTIONS_CHANNELS = ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
"""BasicMotions' 6 dimensions: the watch's 3-axis accelerometer, then its 3-axis gyroscope."""

BASICMOTIONS_RATE_HZ = 10.0
_DATA_PACKAGES = ("aeon", "sktime")  # both ship datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts


def find_packaged_dataset(name: str) -> Path | None:
    """The folder of a UEA/UCR dataset shipped inside aeon or sktime, or None.

    Found with ``importlib.util.find_spec`` on the top-level package, which locates it without
    importing it (importing aeon or sktime takes seconds and pulls in pandas and scikit-learn).
    """
    for pkg in _DATA_PACKAGES:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(loc) / "datasets" / "data" / name
            if (folder / f"{name}_TRAIN.ts").is_file() and (folder / f"{name}_TEST.ts").is_file():
                return folder
    return None


def load_basicmotions(path: str | Path | None = None) -> HARDataset:
    """BasicMotions (UEA archive): 4 activities from a smartwatch, 40 train / 40 test windows.

    Four people wore a watch while standing, walking, running and playing badminton, five recordings
    each; every window is 10 s of the 3-axis accelerometer and 3-axis gyroscope at 10 Hz: 6 channels
    × 100 steps. Classes (sorted): Badminton, Running, Standing, Walking, 10 windows each per split.
    The files come from ``path`` (a folder with ``BasicMotions_TRAIN.ts`` / ``_TEST.ts``) or, by
    default, from the aeon or sktime package, which ship them; without either the error says to
    install the ``har`` extra or pass a folder.
    """
    if path is None:
        folder = find_packaged_dataset("BasicMotions")
        if folder is None:
            raise HARDataError(
                "BasicMotions needs its .ts files, which the sktime (or aeon) package ships: install the har extra"
                f" ({HAR_EXTRA_HINT}), or pass --data PATH to a folder holding BasicMotions_TRAIN.ts and"
                " BasicMotions_TEST.ts"
            )
    else:
        folder = Path(path)
    return load_ucr_folder(folder, "BasicMotions", channels=BASICMOTIONS_CHANNELS, rate_hz=BASICMOTIONS_RATE_HZ)


# --------------------------------------------------------------------------------------------------
# WISDM-2019 raw files
# --------------------------------------------------------------------------------------------------

WISDM_ACTIVITIES = {
    "A": "walking",
    "B": "jogging",
    "C": "stairs",
    "D": "sitting",
    "E": "standing",
    "F": "typing",
    "G": "brushing_teeth",
    "H": "eating_soup",
    "I": "eating_chips",
    "J": "eating_pasta",
    "K": "drinking",
    "L": "eating_sandwich",
    "M": "kicking",
    "O": "catch",
    "P": "dribbling",
    "Q": "writing",
    "R": "clapping",
    "S": "folding_clothes",
}
"""WISDM-2019's activity key (``activity_key.txt``): 18 codes A..S (there is no N)."""

WISDM_HAND_ACTIVITIES = ("F", "G", "J", "K", "Q", "R", "S")
"""The default 7 hand-oriented activities: typing, brushing teeth, eating pasta, drinking, writing,
clapping, folding clothes.

The L2MU paper used "7 hand-oriented activities" of the watch data without a list we could check
here, so this is our pick: activities done mostly with the hand and forearm that wear the watch
while the body stays put (ambulation A–E and the ball games M, O, P move the whole body). Of the
four eating activities (H, I, J, L), which differ mainly in the food, one stands for all, so that
the 7 classes are 7 distinct hand motions. Pass ``activities=`` to choose others (``"all"`` = 18).
"""

WISDM_DEVICES = ("watch", "phone")
WISDM_SENSORS = ("accel", "gyro")


def _wisdm_raw_dir(root: Path) -> Path:
    """The ``raw`` folder of a WISDM-2019 tree: ``root/raw``, ``root/wisdm-dataset/raw``, or ``root`` itself."""
    for cand in (root / "raw", root / "wisdm-dataset" / "raw", root):
        if any((cand / d).is_dir() for d in WISDM_DEVICES):
            return cand
    raise HARDataError(
        f"{root}: not a WISDM-2019 folder: expected raw/<device>/<sensor>/data_<subject>_<sensor>_<device>.txt"
        " (device watch or phone, sensor accel or gyro)"
    )


_WISDM_CODES = frozenset(WISDM_ACTIVITIES)
_SEMICOLON_INSIDE = re.compile(r";[^\s]")
_WISDM_RECORD = [("s", "i8"), ("a", "U2"), ("t", "i8"), ("x", "f8"), ("y", "f8"), ("z", "f8")]


def _read_wisdm_file(path: Path, subject: int, wanted: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One raw WISDM file → {activity code: (timestamps int64 sorted, values (n, 3) float64)}.

    Lines are ``subject,activity,timestamp,x,y,z;`` (the ``;`` is optional here). Every line's field
    count and activity code are checked, the numbers on the lines of the ``wanted`` activities.
    Samples with the same timestamp as an earlier one of the same activity are dropped (the first
    one is kept), so that time increases strictly.

    numpy's C reader (``np.loadtxt``) reads a well-formed file (the 51-subject watch set in about
    5 s); anything it does not expect sends the file through the line-by-line reader, which names
    the line at fault.
    """
    wanted = frozenset(wanted)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return {}
    if _SEMICOLON_INSIDE.search(text) is None:  # a ';' only ever ends a line: let numpy's C reader have it
        try:
            # comments=";" drops the line-ending ';'; U2 lets a two-letter code through to be caught below.
            rec = np.loadtxt(io.StringIO(text), delimiter=",", comments=";", dtype=_WISDM_RECORD, ndmin=1)
        except ValueError:
            rec = None
        if rec is not None and set(np.unique(rec["a"]).tolist()) <= _WISDM_CODES:
            use = np.isin(rec["a"], list(wanted))
            rec = rec[use]
            xyz = np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
            if (rec["s"] == subject).all() and np.isfinite(xyz).all():
                return _by_activity(rec["a"], rec["t"], xyz)
    return _read_wisdm_lines(text, path, subject, wanted)


def _read_wisdm_lines(
    text: str, path: Path, subject: int, wanted: frozenset[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The line-by-line reader of `_read_wisdm_file`: same result, and an error naming the line at fault."""
    codes, stamps, values = [], [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.endswith(";"):
            line = line[:-1]
        parts = line.split(",")
        where = f"{path}:{lineno}"
        if len(parts) != 6:
            raise HARDataError(
                f"{where}: expected 'subject,activity,timestamp,x,y,z;' (6 fields), found {len(parts)}: {line!r}"
            )
        code = parts[1].strip()
        if code not in _WISDM_CODES:
            raise HARDataError(f"{where}: unknown activity code {code!r}; WISDM-2019 uses {' '.join(WISDM_ACTIVITIES)}")
        if code not in wanted:
            continue
        try:
            subj, ts = int(parts[0]), int(parts[2])
        except ValueError:
            raise HARDataError(f"{where}: subject and timestamp must be integers: {line!r}") from None
        if subj != subject:
            raise HARDataError(f"{where}: subject {subj}, but the file name says {subject}")
        try:
            xyz = (float(parts[3]), float(parts[4]), float(parts[5]))
        except ValueError:
            raise HARDataError(f"{where}: x, y, z must be numbers: {line!r}") from None
        if not all(map(math.isfinite, xyz)):
            raise HARDataError(f"{where}: x, y, z must be finite numbers: {line!r}")
        codes.append(code)
        stamps.append(ts)
        values.append(xyz)
    return _by_activity(
        np.array(codes, dtype="U2"), np.array(stamps, dtype=np.int64), np.array(values, dtype=np.float64).reshape(-1, 3)
    )


def _by_activity(codes: np.ndarray, ts: np.ndarray, xyz: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Samples grouped by activity, each sorted by time with repeated timestamps dropped (first kept)."""
    out = {}
    for code in np.unique(codes).tolist():
        sel = np.flatnonzero(codes == code)
        order = sel[np.argsort(ts[sel], kind="stable")]
        t, v = ts[order], xyz[order]
        keep = np.ones(len(t), dtype=bool)
        keep[1:] = np.diff(t) > 0
        out[code] = (t[keep], v[keep])
    return out


def _covered(t: np.ndarray, max_gap: float) -> list[tuple[float, float]]:
    """Intervals [a, b] of sample times ``t`` (sorted) without a gap wider than ``max_gap``."""
    if len(t) < 2:
        return []
    breaks = np.flatnonzero(np.diff(t) > max_gap)
    starts = np.concatenate(([t[0]], t[breaks + 1]))
    ends = np.concatenate((t[breaks], [t[-1]]))
    return [(float(a), float(b)) for a, b in zip(starts, ends, strict=True) if b > a]


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intersection of two sorted lists of disjoint intervals."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _wisdm_windows(
    streams: list[tuple[np.ndarray, np.ndarray]], rate_hz: float, n_win: int, max_gap_s: float, ts_unit_s: float
) -> np.ndarray:
    """Windows (k, 3·len(streams), n_win) of one subject doing one activity.

    Each stream is (timestamps, values (n, 3)). Time is taken relative to the earliest sample (int64
    difference first, then seconds, so no precision is lost on 1e14-ns clocks). The grid starts where
    every stream has begun and runs in steps of 1/rate_hz while all of them cover the time; a gap
    wider than ``max_gap_s`` in any stream ends a covered stretch, and the grid restarts after it.
    Values on the grid are linear interpolations between each stream's neighbouring samples. Each
    stretch is cut into whole, non-overlapping windows of ``n_win`` grid points; the rest is dropped.
    """
    t0 = min(int(ts[0]) for ts, _ in streams)
    times = [(ts - t0).astype(np.float64) * ts_unit_s for ts, _ in streams]
    cover = _covered(times[0], max_gap_s)
    for t in times[1:]:
        cover = _intersect(cover, _covered(t, max_gap_s))
    out = []
    dt = 1.0 / rate_hz
    for a, b in cover:
        n = math.floor((b - a) * rate_hz + 1e-9) + 1  # grid points a, a+dt, ... <= b
        k = n // n_win
        if k == 0:
            continue
        grid = a + dt * np.arange(k * n_win)
        chans = [np.interp(grid, t, v[:, i]) for t, (_, v) in zip(times, streams, strict=True) for i in range(3)]
        x = np.stack(chans)  # (channels, k * n_win)
        out.append(x.reshape(len(chans), k, n_win).transpose(1, 0, 2))
    if not out:
        return np.empty((0, 3 * len(streams), n_win))
    return np.concatenate(out)


def _wisdm_codes(activities: Sequence[str] | str | None) -> tuple[str, ...]:
    """``activities`` of `load_wisdm` (None, "all", codes or names) → activity codes."""
    if activities is None:
        return WISDM_HAND_ACTIVITIES
    if isinstance(activities, str) and activities.lower() == "all":
        return tuple(WISDM_ACTIVITIES)
    given = (activities,) if isinstance(activities, str) else tuple(activities)
    by_name = {name: code for code, name in WISDM_ACTIVITIES.items()}
    codes = tuple(by_name.get(str(a).lower(), a) for a in given)  # names ("typing") → codes ("F")
    unknown = [a for a, c in zip(given, codes, strict=True) if c not in WISDM_ACTIVITIES]
    if unknown or not codes or len(set(codes)) != len(codes):
        raise HARDataError(
            f"activities must be distinct WISDM codes {' '.join(WISDM_ACTIVITIES)} or their names"
            f" ({', '.join(WISDM_ACTIVITIES.values())}) or 'all', got {given!r}"
            + (f"; unknown: {unknown}" if unknown else "")
        )
    return codes


def _wisdm_files(raw: Path, device: str, sensors: tuple[str, ...]) -> dict[str, dict[int, Path]]:
    """{sensor: {subject: file}}; every subject must have a file for every sensor."""
    files: dict[str, dict[int, Path]] = {}
    pattern = re.compile(rf"data_(\d+)_(\w+)_{device}\.txt")
    for sensor in sensors:
        folder = raw / device / sensor
        if not folder.is_dir():
            raise HARDataError(f"{folder}: missing (expected data_<subject>_{sensor}_{device}.txt files there)")
        found = {}
        for p in folder.iterdir():
            m = pattern.fullmatch(p.name)
            if m and m.group(2) == sensor:
                found[int(m.group(1))] = p
        if not found:
            raise HARDataError(f"{folder}: no data_<subject>_{sensor}_{device}.txt files")
        files[sensor] = found
    for s in sorted(set().union(*(f.keys() for f in files.values()))):
        for sensor in sensors:
            if s not in files[sensor]:
                other = next(files[o][s] for o in sensors if s in files[o])
                raise HARDataError(
                    f"{raw / device / sensor / f'data_{s}_{sensor}_{device}.txt'}: missing, but {other.name} exists;"
                    " every subject needs a file for every chosen sensor"
                )
    return files


def _check_spacing(ts: np.ndarray, ts_unit_s: float, where: str) -> None:
    """A wrong time unit would make the grid absurd (or enormous): check the median sample spacing first."""
    if len(ts) < 10:
        return
    med = float(np.median(np.diff(ts))) * ts_unit_s
    if not (1e-4 <= med <= 2.0):
        raise HARDataError(
            f"{where}: the median time between samples is {med:g} s with ts_unit_s={ts_unit_s:g}; WISDM-2019"
            " timestamps are nanoseconds (ts_unit_s=1e-9); set ts_unit_s to the seconds per timestamp tick"
        )


def load_wisdm(
    root: str | Path,
    device: str = "watch",
    sensors: Sequence[str] = ("accel", "gyro"),
    rate_hz: float = 20.0,
    window_s: float = 2.0,
    activities: Sequence[str] | str | None = None,
    split: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    *,
    max_gap_s: float = 0.5,
    ts_unit_s: float = 1e-9,
) -> HARDataset:
    """Raw WISDM-2019 files → windows on a regular grid, split by subject.

    ``root`` holds ``raw/<device>/<sensor>/data_<subject>_<sensor>_<device>.txt`` (or is that ``raw``
    folder, or holds ``wisdm-dataset/raw``); each line is ``subject,activity,timestamp,x,y,z;`` with
    the timestamp in nanoseconds (``ts_unit_s`` seconds per tick) and the activity a code of
    `WISDM_ACTIVITIES`. For every subject and activity the chosen ``sensors`` are merged onto one
    grid of ``rate_hz`` (linear interpolation, only where every sensor covers the time: from the
    latest first sample to the earliest last one, and a gap wider than ``max_gap_s`` in any sensor
    breaks coverage) and cut into non-overlapping windows of ``window_s`` seconds (40 steps at the
    defaults); a partial window at the end of a stretch is dropped.

    ``activities``: codes or names (default `WISDM_HAND_ACTIVITIES`, the 7 hand-oriented ones;
    ``"all"`` for all 18); classes are their names (`WISDM_ACTIVITIES`), sorted. Other activities
    in the files are ignored. Channels: ``<sensor>_x``, ``_y``, ``_z`` per sensor, in the order given.
    Loading the whole 51-subject watch set takes about 6 s.

    ``split`` = (train, val, test) fractions of the SUBJECTS (shuffled with ``seed``; shares rounded
    by largest remainder, each non-zero part getting at least one subject): no subject appears in two
    splits, so the test score is on people the network never saw. ``val`` may be 0 (no validation
    split). Every subject that has a file for one sensor must have it for all chosen sensors.
    """
    root = Path(root)
    if not root.is_dir():
        raise HARDataError(f"{root}: no such folder (expected the WISDM-2019 dataset folder holding raw/)")
    if device not in WISDM_DEVICES:
        raise HARDataError(f"device must be one of {WISDM_DEVICES}, got {device!r}")
    sensors = tuple(sensors)
    if not sensors or len(set(sensors)) != len(sensors) or any(s not in WISDM_SENSORS for s in sensors):
        raise HARDataError(f"sensors must be distinct names from {WISDM_SENSORS}, got {sensors!r}")
    if not (math.isfinite(rate_hz) and rate_hz > 0 and math.isfinite(window_s) and window_s > 0):
        raise HARDataError(f"rate_hz and window_s must be positive, got {rate_hz}, {window_s}")
    n_win = round(window_s * rate_hz)
    if n_win < 2 or abs(n_win - window_s * rate_hz) > 1e-6:
        raise HARDataError(f"window_s * rate_hz must be a whole number of steps >= 2, got {window_s} s * {rate_hz} Hz")
    if not (math.isfinite(max_gap_s) and max_gap_s > 0 and math.isfinite(ts_unit_s) and ts_unit_s > 0):
        raise HARDataError(f"max_gap_s and ts_unit_s must be positive, got {max_gap_s}, {ts_unit_s}")
    codes = _wisdm_codes(activities)
    fractions = _check_fractions(split)

    raw = _wisdm_raw_dir(root)
    files = _wisdm_files(raw, device, sensors)
    subjects = sorted(files[sensors[0]])

    names = {c: WISDM_ACTIVITIES[c] for c in codes}
    classes = sort_classes(names.values())
    class_of = {c: classes.index(n) for c, n in names.items()}
    per_subject: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in subjects:
        data = {sensor: _read_wisdm_file(files[sensor][s], s, codes) for sensor in sensors}
        xs, ys = [], []
        for code in codes:
            if not all(code in data[sensor] for sensor in sensors):
                continue
            streams = [data[sensor][code] for sensor in sensors]
            for sensor, (ts, _) in zip(sensors, streams, strict=True):
                _check_spacing(ts, ts_unit_s, f"{files[sensor][s]}: activity {code}")
            w = _wisdm_windows(streams, rate_hz, n_win, max_gap_s, ts_unit_s)
            xs.append(w)
            ys.append(np.full(len(w), class_of[code], dtype=np.int64))
        if xs:
            per_subject[s] = (np.concatenate(xs), np.concatenate(ys))

    rng = np.random.default_rng(seed)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    counts = _split_counts(len(subjects), fractions)
    if any(c == 0 for c, f in zip(counts, fractions, strict=True) if f > 0):
        raise HARDataError(
            f"{raw / device}: {len(subjects)} subject(s) cannot fill the splits {fractions} with whole subjects"
        )
    groups = [order[: counts[0]], order[counts[0] : counts[0] + counts[1]], order[counts[0] + counts[1] :]]
    arrays = {}
    for part, group in zip(("train", "val", "test"), groups, strict=True):
        have = [s for s in sorted(group) if s in per_subject and len(per_subject[s][1])]
        if not have:
            if part == "val" and fractions[1] == 0:
                arrays[part] = (None, None, None)
                continue
            raise HARDataError(
                f"{raw / device}: the {part} subjects {sorted(group)} have no complete {window_s:g} s window of the"
                f" activities {' '.join(codes)} with all of {', '.join(sensors)}"
            )
        X = np.concatenate([per_subject[s][0] for s in have])
        y = np.concatenate([per_subject[s][1] for s in have])
        subj = np.concatenate([np.full(len(per_subject[s][1]), s, dtype=np.int64) for s in have])
        arrays[part] = (X, y, subj)
    channels = tuple(f"{sensor}_{axis}" for sensor in sensors for axis in "xyz")
    return HARDataset(
        X_train=arrays["train"][0],
        y_train=arrays["train"][1],
        X_test=arrays["test"][0],
        y_test=arrays["test"][1],
        classes=classes,
        channels=channels,
        rate_hz=float(rate_hz),
        name=f"WISDM-2019 {device}",
        X_val=arrays["val"][0],
        y_val=arrays["val"][1],
        subjects_train=arrays["train"][2],
        subjects_val=arrays["val"][2],
        subjects_test=arrays["test"][2],
    )


# --------------------------------------------------------------------------------------------------
# Plain CSV
# --------------------------------------------------------------------------------------------------

CSV_REQUIRED = ("window", "label", "t")
CSV_SPLITS = ("train", "val", "test")


def load_csv(
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
    nan: str = "error",
    split: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    name: str | None = None,
) -> HARDataset:
    """A CSV file with one row per (window, time step) → `HARDataset`.

    Layout (a header row, comma-separated)::

        window,label,t,accel_x,accel_y,accel_z[,split]
        w0,walking,0,0.12,9.81,-0.3
        w0,walking,1,0.15,9.79,-0.2
        ...

    ``window`` identifies a window (any text), ``label`` its class (the same on all its rows), ``t``
    the step 0..T−1 (rows may come in any order, each step exactly once); every other column is a
    channel, in file order (``channels`` selects and orders a subset). All windows must have the
    same T. An optional ``split`` column (``train``/``val``/``test``, the same on all rows of a
    window) fixes the split; without it the windows of each class are shuffled with ``seed`` and
    shared by the ``split`` fractions (not by subject: put a ``split`` column in the file when
    windows of one person must stay together). ``classes``, if given, is the list of allowed labels
    (also fixing the class set); a label outside it is an error. Empty cells, ``nan`` and ``?`` are
    missing values: an error naming line and column unless ``nan="interpolate"``. Ragged rows,
    non-numeric values, missing or repeated steps are errors naming the line.
    """
    path = Path(path)
    _check_nan_mode(nan)
    fractions = _check_fractions(split)
    if not path.is_file():
        raise HARDataError(f"{path}: no such CSV file")
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise HARDataError(f"{path}: empty file (expected a header row {','.join(CSV_REQUIRED)},<channels...>)")
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise HARDataError(f"{path}:1: column(s) {dup} appear twice in the header")
        missing = [c for c in CSV_REQUIRED if c not in header]
        if missing:
            raise HARDataError(
                f"{path}:1: header lacks column(s) {missing}; expected {','.join(CSV_REQUIRED)},<channels...>[,split]"
            )
        col = {h: i for i, h in enumerate(header)}
        all_channels = [h for h in header if h not in CSV_REQUIRED and h != "split"]
        if channels is not None:
            channels = tuple(channels)
            absent = [c for c in channels if c not in all_channels]
            if absent or not channels:
                raise HARDataError(f"{path}:1: channel(s) {absent or '[]'} not among the columns {all_channels}")
        else:
            channels = tuple(all_channels)
        if not channels:
            raise HARDataError(f"{path}:1: no channel columns besides {', '.join(CSV_REQUIRED)}")
        ch_cols = [col[c] for c in channels]
        allowed = None if classes is None else {str(c) for c in classes}
        windows: dict[str, dict] = {}
        for row in reader:
            lineno = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            where = f"{path}:{lineno}"
            if len(row) != len(header):
                raise HARDataError(f"{where}: {len(row)} fields, the header has {len(header)} (ragged row)")
            wid, label, t_txt = row[col["window"]].strip(), row[col["label"]].strip(), row[col["t"]].strip()
            if not wid or not label:
                raise HARDataError(f"{where}: empty window id or label")
            if allowed is not None and label not in allowed:
                raise HARDataError(f"{where}: unknown label {label!r}; allowed: {sorted(allowed)}")
            if not re.fullmatch(r"\d+", t_txt):
                raise HARDataError(f"{where}: t must be a step index 0, 1, 2, ..., got {t_txt!r}")
            vals = []
            for c, ci in zip(channels, ch_cols, strict=True):
                tok = row[ci].strip()
                if tok in ("", "?") or tok.lower() == "nan":
                    if nan == "error":
                        raise HARDataError(
                            f"{where}: missing value in column {c!r}; pass nan='interpolate' to fill gaps linearly"
                        )
                    vals.append(np.nan)
                    continue
                try:
                    v = float(tok)
                except ValueError:
                    raise HARDataError(f"{where}: column {c!r} holds {tok!r}, not a number") from None
                if not math.isfinite(v):
                    raise HARDataError(f"{where}: column {c!r} holds an infinite value")
                vals.append(v)
            part = None
            if "split" in col:
                part = row[col["split"]].strip().lower()
                if part not in CSV_SPLITS:
                    raise HARDataError(f"{where}: split must be one of {CSV_SPLITS}, got {row[col['split']]!r}")
            w = windows.setdefault(wid, {"label": label, "split": part, "steps": {}, "line": lineno})
            if w["label"] != label:
                raise HARDataError(
                    f"{where}: window {wid!r} has label {label!r} here, {w['label']!r} on line {w['line']}"
                )
            if w["split"] != part:
                raise HARDataError(
                    f"{where}: window {wid!r} has split {part!r} here, {w['split']!r} on line {w['line']}"
                )
            t = int(t_txt)
            if t in w["steps"]:
                raise HARDataError(f"{where}: window {wid!r} repeats step t={t} (first on line {w['steps'][t][1]})")
            w["steps"][t] = (vals, lineno)
    if not windows:
        raise HARDataError(f"{path}: no data rows after the header")
    n_steps = None
    ids = list(windows)
    rows = []
    for wid in ids:
        w = windows[wid]
        steps = w["steps"]
        T = max(steps) + 1
        if len(steps) != T:
            gap = min(set(range(T)) - set(steps))
            raise HARDataError(f"{path}:{w['line']}: window {wid!r} has no row for step t={gap} (steps run 0..{T - 1})")
        if n_steps is None:
            n_steps = T
        if T != n_steps:
            raise HARDataError(
                f"{path}:{w['line']}: window {wid!r} has {T} steps, window {ids[0]!r} has {n_steps};"
                " all windows need one length"
            )
        x = np.array([steps[t][0] for t in range(T)], dtype=np.float64).T  # (channels, T)

        def where(c: int, t: int, _s: dict = steps, _wid: str = wid) -> str:
            return f"{path}:{_s[t][1]}: window {_wid!r}, column {channels[c]!r}"

        rows.append(_fill_nans(x, nan, where))
    X = np.stack(rows)
    class_names = sort_classes(allowed if allowed is not None else (windows[w]["label"] for w in ids))
    index = {c: k for k, c in enumerate(class_names)}
    y = np.array([index[windows[w]["label"]] for w in ids], dtype=np.int64)
    if "split" in col:
        part_of = np.array([windows[w]["split"] for w in ids])
    else:
        part_of = np.empty(len(ids), dtype=object)
        rng = np.random.default_rng(seed)
        for k in range(len(class_names)):
            members = np.flatnonzero(y == k)
            members = members[rng.permutation(len(members))]
            n_tr, n_va, _ = _split_counts(len(members), fractions)
            part_of[members[:n_tr]] = "train"
            part_of[members[n_tr : n_tr + n_va]] = "val"
            part_of[members[n_tr + n_va :]] = "test"
    sel = {p: np.flatnonzero(part_of == p) for p in CSV_SPLITS}
    for p in ("train", "test"):
        if len(sel[p]) == 0:
            raise HARDataError(f"{path}: no window in the {p} split")
    has_val = len(sel["val"]) > 0
    return HARDataset(
        X_train=X[sel["train"]],
        y_train=y[sel["train"]],
        X_test=X[sel["test"]],
        y_test=y[sel["test"]],
        classes=class_names,
        channels=channels,
        rate_hz=rate_hz,
        name=name or path.stem,
        X_val=X[sel["val"]] if has_val else None,
        y_val=y[sel["val"]] if has_val else None,
    )


# --------------------------------------------------------------------------------------------------
# --data PATH
# --------------------------------------------------------------------------------------------------

NAMED_DATASETS: dict[str, Callable[..., HARDataset]] = {"basicmotions": load_basicmotions}


def _call(loader: Callable[..., HARDataset], what: str, *args, **options) -> HARDataset:
    """Call a loader with the options it accepts; an option it does not take is an error naming it."""
    params = inspect.signature(loader).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        extra = sorted(set(options) - set(params))
        if extra:
            raise HARDataError(f"option(s) {extra} do not apply to {what}")
    return loader(*args, **options)


def load_dataset(spec: str | Path | None, default: str | Path = "basicmotions", **options) -> HARDataset:
    """What ``--data PATH`` means: a dataset name, or a path whose shape says which loader reads it.

    * None or empty: ``default`` (itself a name or a path).
    * a name: ``basicmotions`` (case-insensitive; `load_basicmotions`).
    * a folder holding ``raw/`` (or ``wisdm-dataset/raw/``) with WISDM-2019 files: `load_wisdm`.
    * a folder holding ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``: `load_ucr_folder`.
    * a ``<name>_TRAIN.ts`` or ``<name>_TEST.ts`` file: that pair (`load_ts_split`).
    * a ``.csv`` file: `load_csv`.

    ``options`` go to the chosen loader (e.g. ``length=`` for .ts, ``activities=`` for WISDM); one
    it does not take is an error.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        spec = default
    if isinstance(spec, str) and spec.strip().lower() in NAMED_DATASETS:
        key = spec.strip().lower()
        return _call(NAMED_DATASETS[key], f"the {key} dataset", **options)
    p = Path(spec).expanduser()
    expected = (
        "--data takes a folder with <name>_TRAIN.ts and <name>_TEST.ts, a WISDM-2019 folder (holding raw/), a .csv"
        f" file, or a dataset name ({', '.join(NAMED_DATASETS)})"
    )
    if not p.exists():
        raise HARDataError(f"{p}: no such file, folder or dataset name; {expected}")
    if p.is_dir():
        if (p / "raw").is_dir() or (p / "wisdm-dataset" / "raw").is_dir():
            return _call(load_wisdm, "WISDM-2019 data", p, **options)
        if any(p.glob("*_TRAIN.ts")):
            return _call(load_ucr_folder, ".ts data", p, **options)
        raise HARDataError(f"{p}: holds neither *_TRAIN.ts files nor a WISDM raw/ folder; {expected}")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _call(load_csv, "CSV data", p, **options)
    if suffix == ".ts":
        for part in ("_TRAIN", "_TEST"):
            if p.stem.endswith(part):
                stem = p.stem.removesuffix(part)
                train, test = p.with_name(f"{stem}_TRAIN.ts"), p.with_name(f"{stem}_TEST.ts")
                return _call(load_ts_split, ".ts data", train, test, **options)
        raise HARDataError(
            f"{p}: a .ts dataset needs a train and a test file: name them <name>_TRAIN.ts / <name>_TEST.ts"
        )
    raise HARDataError(f"{p}: unknown kind of file; {expected}")
