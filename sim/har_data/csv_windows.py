"""Plain CSV: one row per (window, time step) → `HARDataset` (`load_csv`; the layout is in its docstring).

Named ``csv_windows`` so that it never stands in for the standard library's ``csv``, which it reads with."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .dataset import (
    HARDataError,
    HARDataset,
    _check_fractions,
    _check_length,
    _check_nan_mode,
    _fill_nans,
    _split_counts,
    fit_length,
    option_hint,
    sort_classes,
)

CSV_REQUIRED = ("window", "label", "t")
CSV_SPLITS = ("train", "val", "test")


def load_csv(
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    rate_hz: float | None = None,
    nan: str = "refuse",
    length: int | None = None,
    length_mode: str = "resample",
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
    same T, unless ``length`` is given: then each is brought to ``length`` steps as ``length_mode``
    says (`LENGTH_MODES`). An optional ``split`` column (``train``/``val``/``test``, the same on all rows of a
    window) fixes the split; without it the windows of each class are shuffled with ``seed`` and
    shared by the ``split`` fractions (not by subject: put a ``split`` column in the file when
    windows of one person must stay together). ``classes``, if given, is the list of allowed labels
    (also fixing the class set); a label outside it is an error. Empty cells, ``nan`` and ``?`` are
    missing values: an error naming line and column unless ``nan`` says how to repair them
    (`NAN_MODES`). Ragged rows,
    non-numeric values, missing or repeated steps are errors naming the line.
    """
    path = Path(path)
    _check_nan_mode(nan)
    _check_length(length, length_mode)
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
                    if nan == "refuse":
                        raise HARDataError(
                            f"{where}: missing value in column {c!r}; {option_hint('nan', 'interpolate')} to fill"
                            " gaps linearly"
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
        if T != n_steps and length is None:
            raise HARDataError(
                f"{path}:{w['line']}: window {wid!r} has {T} steps, window {ids[0]!r} has {n_steps};"
                f" all windows need one length: {option_hint('length', n_steps)} (length_mode: resample, pad or crop)"
            )
        x = np.array([steps[t][0] for t in range(T)], dtype=np.float64).T  # (channels, T)

        def where(c: int, t: int, _s: dict = steps, _wid: str = wid) -> str:
            return f"{path}:{_s[t][1]}: window {_wid!r}, column {channels[c]!r}"

        x = _fill_nans(x, nan, where)
        rows.append(x if length is None else fit_length(x, length, length_mode, f"{path}:{w['line']}: window {wid!r}"))
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
