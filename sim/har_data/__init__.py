"""Human-activity-recognition (HAR) data: windows of raw wearable IMU channels with class labels.

Every loader returns one thing, a `HARDataset`: per split a float32 array ``X`` (windows, channels,
steps) and int64 labels ``y``, indices into ``classes`` (the class names, sorted). The L2MU
network feeds each channel as current into its own input population, so the loaders neither
normalise, filter nor encode: the values are the sensor's own units, unless `prepare` is asked to
normalise (``[data] normalise``).

One module per source format (import from the package; the modules are where to read or add code):

``dataset.py``
    `HARDataset`, `HARDataError` and what the readers share (class order, NaN repair
    `NAN_MODES`, window length `LENGTH_MODES`, split sizes).
``ts.py`` — UEA/UCR ``.ts`` files
    `load_ts` (one file → series, labels, header), `write_ts` (the inverse), `load_ts_split` (a
    train and a test file → `HARDataset`), `load_ucr_folder` (a folder with ``<name>_TRAIN.ts`` and
    ``<name>_TEST.ts``). Our own parser of the format sktime and aeon document (no pandas, no aeon).
``basicmotions.py`` — BasicMotions
    `load_basicmotions`: 4 activities recorded with a smartwatch (accelerometer + gyroscope, 6
    channels × 100 samples at 10 Hz, 40 train / 40 test windows), read from the ``.ts`` pair that
    the ``aeon`` and ``sktime`` packages ship as package data (the ``har`` extra installs sktime).
``wisdm.py`` — raw WISDM-2019
    `load_wisdm`: the ``subject,activity,timestamp,x,y,z;`` text files of the WISDM smartphone and
    smartwatch dataset, accelerometer and gyroscope merged onto a 20 Hz grid, cut into 2 s windows,
    split by subject.
``csv_windows.py`` — plain CSV
    `load_csv`: one row per (window, time step), see its docstring for the layout.
``load.py``
    `load_dataset(spec)` is what ``--data PATH`` means: it picks one of the above from the path.
``prepare.py``
    `DataOptions` and `prepare`: channel selection, window length, normalisation — the ``[data]``
    options a trained network keeps so that a run repeats them.

Every problem with the input — a missing file, a malformed header, a ragged row, a NaN, an unknown
label — raises `HARDataError` (a ``ValueError``) whose message names the file, the line (or row and
channel) and what was expected, so a command line can print it as one line.
"""

from .basicmotions import BASICMOTIONS_CHANNELS, BASICMOTIONS_RATE_HZ, find_packaged_dataset, load_basicmotions
from .csv_windows import CSV_REQUIRED, CSV_SPLITS, load_csv
from .dataset import HAR_EXTRA_HINT, LENGTH_MODES, NAN_MODES, HARDataError, HARDataset, fit_length, sort_classes
from .load import NAMED_DATASETS, load_dataset
from .prepare import NORMALISE_MODES, DataOptions, prepare
from .ts import load_ts, load_ts_split, load_ucr_folder, read_ts_header, write_ts
from .wisdm import WISDM_ACTIVITIES, WISDM_DEVICES, WISDM_HAND_ACTIVITIES, WISDM_SENSORS, load_wisdm

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
    "BASICMOTIONS_RATE_HZ",
    "WISDM_DEVICES",
    "WISDM_SENSORS",
    "CSV_REQUIRED",
    "CSV_SPLITS",
    "NAMED_DATASETS",
    "NAN_MODES",
    "HAR_EXTRA_HINT",
    "LENGTH_MODES",
    "NORMALISE_MODES",
    "DataOptions",
    "prepare",
    "fit_length",
    "read_ts_header",
]
