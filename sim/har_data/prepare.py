"""What a user sets about the data besides where it is: window length, missing values, channels,
normalisation (`DataOptions`), applied the same way at training and at run time.

The loaders read files; this module turns what they return into what a network is trained on. A
trained network keeps `DataOptions.record` (with the normalisation's statistics) so that the run on
new data repeats exactly the same steps (`prepare(ds, opts, stats=<the saved ones>)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .dataset import LENGTH_MODES, NAN_MODES, HARDataError, HARDataset, _check_length, fit_length

NORMALISE_MODES = ("none", "series", "dataset", "auto")
"""``none``: the sensor's own units. ``series``: each window, each channel z-scored on its own
(mean 0, std 1 over the window's steps; a constant channel becomes 0): the shape, not the level
or the scale, decides. ``dataset``: each channel z-scored with the training split's mean and std
(over all windows and steps), the same numbers applied to every later window; saved with the
network. ``auto``: ``none`` or ``series``, chosen by training (`evolve.har_experiment`: the
classifier's leave-one-out accuracy on the training split under each; the test split is never
looked at); the choice is what the network records, so a run repeats it."""

_EPS = 1e-8  # a channel whose std is below this is constant: centred, not scaled


@dataclass(frozen=True)
class DataOptions:
    """The `[data]` options other than the path and rate (defaults: take the data as it is)."""

    length: int = 0  # steps per window; 0 = the data's own (which must then be one length)
    length_mode: str = "resample"  # LENGTH_MODES
    nan: str = "refuse"  # NAN_MODES
    channels: tuple[str, ...] = ()  # names or 0-based indices (as text); () = all, in the data's order
    normalise: str = "none"  # NORMALISE_MODES

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        _check_length(self.length or None, self.length_mode)
        if self.nan not in NAN_MODES:
            raise HARDataError(f"nan must be one of {NAN_MODES}, got {self.nan!r}")
        if self.normalise not in NORMALISE_MODES:
            raise HARDataError(f"normalise must be one of {NORMALISE_MODES}, got {self.normalise!r}")
        if len(set(self.channels)) != len(self.channels):
            raise HARDataError(f"channels lists a channel twice: {list(self.channels)}")

    @classmethod
    def from_config(cls, data: dict) -> DataOptions:
        """From a config's `[data]` table (keys it does not hold keep their defaults)."""
        return cls(**{k: data[k] for k in ("length", "length_mode", "nan", "channels", "normalise") if k in data})

    def loader_options(self) -> dict:
        """What `load_dataset` takes of these (length and missing values are repaired while reading)."""
        out: dict = {}
        if self.length:
            out.update(length=self.length, length_mode=self.length_mode)
        if self.nan != "refuse":
            out["nan"] = self.nan
        return out

    def record(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


def fit_dataset_length(ds: HARDataset, length: int, mode: str) -> HARDataset:
    """Every window of every split brought to ``length`` steps (`fit_length`); the same dataset if already so."""
    if ds.n_steps == length:
        return ds
    arrays = {}
    for split, X, _ in ds.splits():
        arrays[f"X_{split}"] = np.stack(
            [
                fit_length(x.astype(np.float64), length, mode, f"{ds.name}: {split} window {i + 1}")
                for i, x in enumerate(X)
            ]
        )
    return replace(ds, **arrays)


def channel_indices(names: tuple[str, ...], wanted: tuple[str, ...], where: str) -> list[int]:
    """Positions of ``wanted`` among ``names``: each a channel name or a 0-based index; a name wins."""
    out = []
    for w in wanted:
        if w in names:
            out.append(names.index(w))
        elif w.isdigit() and int(w) < len(names):
            out.append(int(w))
        else:
            raise HARDataError(
                f"{where}: channel {w!r} is neither a channel name ({', '.join(names)}) nor an index"
                f' 0..{len(names) - 1}; [data] channels = ["0", "2"] (--channels 0,2) takes either'
            )
    if len(set(out)) != len(out):
        raise HARDataError(f"{where}: channels {list(wanted)} name one channel twice")
    return out


def select_channels(ds: HARDataset, wanted: tuple[str, ...]) -> HARDataset:
    """Only the ``wanted`` channels (names or indices), in that order; all of them when empty."""
    if not wanted:
        return ds
    idx = channel_indices(ds.channels, tuple(wanted), ds.name)
    arrays = {f"X_{split}": X[:, idx, :] for split, X, _ in ds.splits()}
    return replace(ds, channels=tuple(ds.channels[i] for i in idx), **arrays)


def dataset_stats(X: np.ndarray) -> dict:
    """Per-channel mean and std over all windows and steps of ``X`` (windows, channels, steps)."""
    x = np.asarray(X, dtype=np.float64)
    return {"mean": x.mean(axis=(0, 2)).tolist(), "std": x.std(axis=(0, 2)).tolist()}


def normalise(X: np.ndarray, mode: str, stats: dict | None = None) -> np.ndarray:
    """``X`` (windows, channels, steps) normalised as `NORMALISE_MODES` says (``dataset`` needs ``stats``)."""
    if mode == "none":
        return X
    x = np.asarray(X, dtype=np.float64)
    if mode == "series":
        mean, std = x.mean(axis=2, keepdims=True), x.std(axis=2, keepdims=True)
    elif mode == "dataset":
        if stats is None:
            raise ValueError("normalise='dataset' needs the training split's stats (dataset_stats)")
        mean = np.asarray(stats["mean"], dtype=np.float64)[None, :, None]
        std = np.asarray(stats["std"], dtype=np.float64)[None, :, None]
        if mean.shape[1] != x.shape[1]:
            raise HARDataError(f"the saved normalisation is for {mean.shape[1]} channels, the data has {x.shape[1]}")
    else:
        raise HARDataError(f"normalise must be one of {NORMALISE_MODES}, got {mode!r}")
    return ((x - mean) / np.where(std < _EPS, 1.0, std)).astype(np.float32)


def prepare(ds: HARDataset, opts: DataOptions, stats: dict | None = None) -> tuple[HARDataset, dict | None]:
    """Channels chosen, length fitted, normalised: the dataset a network sees, and the normalisation's stats.

    ``stats`` None: taken from this dataset's training split (``normalise = "dataset"``); a trained
    network's saved stats make a run normalise exactly as its training did.
    """
    ds = select_channels(ds, opts.channels)
    if opts.length:
        ds = fit_dataset_length(ds, opts.length, opts.length_mode)
    if opts.normalise == "auto":
        raise HARDataError('normalise = "auto" is decided by training (snnctl train); prepare data with'
                           ' "none", "series" or "dataset"')  # fmt: skip
    if opts.normalise != "dataset":
        stats = None
    elif stats is None:
        stats = dataset_stats(ds.X_train)
    arrays = {f"X_{split}": normalise(X, opts.normalise, stats) for split, X, _ in ds.splits()}
    return replace(ds, prep={**opts.record(), "stats": stats}, **arrays), stats


__all__ = ["DataOptions", "NORMALISE_MODES", "LENGTH_MODES", "prepare", "normalise", "dataset_stats",
           "select_channels", "fit_dataset_length", "channel_indices"]  # fmt: skip
