"""Raw WISDM-2019 files (``subject,activity,timestamp,x,y,z;``): accelerometer and gyroscope merged
onto a regular grid, cut into windows, split by subject (`load_wisdm`)."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .dataset import HARDataError, HARDataset, _check_fractions, _split_counts, sort_classes

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
