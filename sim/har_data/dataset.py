"""The one thing every HAR loader returns, `HARDataset`, its error `HARDataError`, and what the loaders share.

Shared by the format readers (`ts`, `wisdm`, `csv_windows`): the class order (`sort_classes`), NaN
repair (`NAN_MODES`), linear resampling, split sizes by largest remainder, and channel names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

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
    split by subject (WISDM). ``prep`` records what `prepare` did (options and normalisation
    statistics), which a trained network keeps. Arrays are converted on construction and made read-only.
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
    prep: dict | None = None  # how `prepare` made it from the files (DataOptions.record + stats), if it did

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

NAN_MODES = ("refuse", "interpolate", "hold")
"""What to do with a missing value (``?``/NaN/empty): ``refuse`` (an error naming where it is),
``interpolate`` (linear between the neighbours, end values held over leading/trailing gaps),
``hold`` (the last valid value carried forward, as a device holds its last sample; a leading gap
takes the first valid value)."""

LENGTH_MODES = ("resample", "pad", "crop")
"""How a series is brought to ``length`` steps: ``resample`` (linear interpolation over the same
span, first and last samples kept: a shorter series is stretched, a longer one squeezed), ``pad``
(a shorter series holds its last value to the end; zeros would be a step in raw sensor units, e.g.
gravity; a longer one is an error), ``crop`` (a longer series keeps its first ``length`` steps; a
shorter one is an error)."""


def option_hint(key: str, value: object) -> str:
    """How a user sets a data option, in all three places: the config key, the flag, the Python argument."""
    toml = f'"{value}"' if isinstance(value, str) else str(value)
    flag = str(value) if not isinstance(value, str) or value.isidentifier() else repr(value)
    return f"set [data] {key} = {toml} (--{key.replace('_', '-')} {flag}; Python: {key}={value!r})"


def _check_nan_mode(nan: str) -> None:
    if nan not in NAN_MODES:
        raise HARDataError(f"nan must be one of {NAN_MODES}, got {nan!r}")


def _check_length(length: int | None, mode: str) -> None:
    if length is not None and (isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 2):
        raise HARDataError(f"length must be an integer >= 2 (steps per window), got {length!r}")
    if mode not in LENGTH_MODES:
        raise HARDataError(f"length_mode must be one of {LENGTH_MODES}, got {mode!r}")


def _fill_nans(x: np.ndarray, nan: str, where: Callable[[int, int], str]) -> np.ndarray:
    """Repair or refuse missing values in one series ``x`` (channels, steps), as `NAN_MODES` says.

    ``nan="refuse"`` raises at the first NaN, naming it through ``where(channel, step)``. A channel
    with no valid value is always an error (nothing to repair it from).
    """
    bad = np.isnan(x)
    if not bad.any():
        return x
    if nan == "refuse":
        c, t = np.argwhere(bad)[0]
        raise HARDataError(
            f"{where(int(c), int(t))}: missing value (NaN or '?'); {option_hint('nan', 'interpolate')}"
            " to fill gaps linearly"
        )
    x = x.copy()
    steps = np.arange(x.shape[1])
    for c in np.flatnonzero(bad.any(axis=1)):
        ok = ~bad[c]
        if not ok.any():
            raise HARDataError(f"{where(int(c), 0)}: every value of this channel is missing; nothing to fill it from")
        if nan == "interpolate":
            x[c, ~ok] = np.interp(steps[~ok], steps[ok], x[c, ok])  # np.interp holds the end values outside
        else:  # hold: index of the last valid step at or before each step (the first valid one before it)
            last = np.maximum.accumulate(np.where(ok, steps, -1))
            x[c] = x[c, np.where(last < 0, np.argmax(ok), last)]
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


def fit_length(x: np.ndarray, length: int, mode: str, where: str) -> np.ndarray:
    """One series (channels, T) brought to ``length`` steps as `LENGTH_MODES` says; ``where`` names it in errors."""
    n = x.shape[1]
    if n == length or mode == "resample":
        return _resample(x, length)
    if mode == "pad":
        if n > length:
            raise HARDataError(
                f"{where}: {n} steps, longer than length = {length}, and length_mode 'pad' only lengthens;"
                f' {option_hint("length_mode", "crop")} or "resample", or raise the length'
            )
        return np.concatenate([x, np.repeat(x[:, -1:], length - n, axis=1)], axis=1)
    if n < length:
        raise HARDataError(
            f"{where}: {n} steps, shorter than length = {length}, and length_mode 'crop' only shortens;"
            f' {option_hint("length_mode", "pad")} or "resample", or lower the length'
        )
    return x[:, :length]


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
