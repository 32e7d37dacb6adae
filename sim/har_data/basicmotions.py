"""BasicMotions: a UEA dataset read from the ``.ts`` pair that the aeon and sktime packages ship
as package data (found without importing either package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .dataset import HAR_EXTRA_HINT, HARDataError, HARDataset
from .ts import load_ucr_folder

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
