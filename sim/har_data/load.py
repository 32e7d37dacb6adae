"""What ``--data PATH`` means: `load_dataset` picks a reader (`ts`, `basicmotions`, `wisdm`,
`csv_windows`) from a dataset name or the shape of a path."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from .basicmotions import load_basicmotions
from .csv_windows import load_csv
from .dataset import HARDataError, HARDataset, _check_length
from .ts import load_ts_split, load_ucr_folder
from .wisdm import load_wisdm

NAMED_DATASETS: dict[str, Callable[..., HARDataset]] = {"basicmotions": load_basicmotions}


def _call(loader: Callable[..., HARDataset], what: str, *args, **options) -> HARDataset:
    """Call a loader with the options it accepts; an option it does not take is an error naming it.

    ``length`` / ``length_mode`` apply to every source: a reader that takes them fits each series
    while reading (unequal lengths); the windows of one that does not (all of one length) are
    fitted after loading.
    """
    params = inspect.signature(loader).parameters
    after = None
    if "length" in options and "length" not in params:
        after = (options.pop("length"), options.pop("length_mode", "resample"))
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        extra = sorted(set(options) - set(params))
        if extra:
            keys = ", ".join(f"[data] {k} (--{k.replace('_', '-')})" for k in extra)
            raise HARDataError(f"{keys} do(es) not apply to {what}; leave it at its default")
    ds = loader(*args, **options)
    if after is not None and after[0] is not None:
        from .prepare import fit_dataset_length

        _check_length(*after)
        ds = fit_dataset_length(ds, *after)
    return ds


def load_dataset(spec: str | Path | None, default: str | Path = "basicmotions", **options) -> HARDataset:
    """What ``--data PATH`` means: a dataset name, or a path whose shape says which loader reads it.

    * None or empty: ``default`` (itself a name or a path).
    * a name: ``basicmotions`` (case-insensitive; `load_basicmotions`).
    * a folder holding ``raw/`` (or ``wisdm-dataset/raw/``) with WISDM-2019 files: `load_wisdm`.
    * a folder holding ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``: `load_ucr_folder`.
    * a ``<name>_TRAIN.ts`` or ``<name>_TEST.ts`` file: that pair (`load_ts_split`).
    * a ``.csv`` file: `load_csv`.

    ``options`` go to the chosen loader (e.g. ``nan=`` for .ts and CSV, ``activities=`` for WISDM);
    one it does not take is an error. ``length=`` (with ``length_mode=``) applies to every source.
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
