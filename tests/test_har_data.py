"""HAR data loaders (sim/har_data/): .ts parser and writer, BasicMotions, raw WISDM-2019, CSV, --data.

Truth comes from hand-written files with hand-computed results, closed-form signals (a sinusoid and a
ramp sampled at known timestamps), a round trip through our own writer (hypothesis), the sktime
reader as a second implementation on the real UEA files it ships, and the issue's 1-NN accuracies on
BasicMotions. The real-data tests need the ``har`` extra (sktime, or aeon); without it they skip,
except under CI=true, where a missing extra is a failure.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import har_data
from sim.har_data import (
    HARDataError,
    HARDataset,
    load_basicmotions,
    load_csv,
    load_dataset,
    load_ts,
    load_ts_split,
    load_ucr_folder,
    load_wisdm,
    write_ts,
)
from tests.optional_tools import skip_unless_ci

# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HEADER = """#A small test file.
#Second comment line.
@problemName Tiny
@timeStamps false
@missing {missing}
@univariate false
@dimensions 2
@equalLength {equal}
{length}@classLabel true walk run sit
@data
"""


def ts_text(rows: list[str], missing: str = "false", equal: str = "true", length: str = "") -> str:
    return HEADER.format(missing=missing, equal=equal, length=length) + "\n".join(rows) + "\n"


def packaged_basicmotions() -> Path:
    """The BasicMotions folder from aeon/sktime; skip without it, but fail under CI=true."""
    folder = har_data.find_packaged_dataset("BasicMotions")
    if folder is None:
        skip_unless_ci("BasicMotions .ts files not found: install the har extra (pip install -e '.[har]')")
    return folder


# --------------------------------------------------------------------------------------------------
# .ts parser
# --------------------------------------------------------------------------------------------------


def test_load_ts_multivariate_equal_length(tmp_path):
    p = write(tmp_path / "a.ts", ts_text(["1,2,3:4,5,6:walk", "", "-1.5,0,2e3:7,8,9:sit"], length="@seriesLength 3\n"))
    X, labels, meta = load_ts(p)
    assert isinstance(X, np.ndarray) and X.dtype == np.float64
    np.testing.assert_array_equal(X, [[[1, 2, 3], [4, 5, 6]], [[-1.5, 0, 2000], [7, 8, 9]]])
    assert labels == ["walk", "sit"]
    assert meta["problem_name"] == "Tiny"
    assert meta["class_labels"] == ("walk", "run", "sit")
    assert meta["dimensions"] == 2 and meta["series_length"] == 3
    assert meta["equal_length"] is True and meta["missing"] is False and meta["univariate"] is False
    assert meta["description"] == "A small test file.\nSecond comment line."
    assert meta["line_numbers"] == [12, 14] and meta["lengths"] == [3, 3]


def test_load_ts_tags_are_case_insensitive_and_univariate(tmp_path):
    p = write(tmp_path / "u.ts", "@PROBLEMNAME U\n@Univariate TRUE\n@classlabel True 1 2 10\n@DATA\n0.5,1:10\n2,3:2\n")
    X, labels, meta = load_ts(p)
    assert X.shape == (2, 1, 2) and labels == ["10", "2"] and meta["dimensions"] == 1


def test_load_ts_unequal_length_gives_a_list(tmp_path):
    p = write(tmp_path / "u.ts", ts_text(["1,2,3:4,5,6:walk", "7:8:run", "1,2:3,4:sit"], equal="false"))
    X, labels, meta = load_ts(p)
    assert isinstance(X, list) and [x.shape for x in X] == [(2, 3), (2, 1), (2, 2)]
    np.testing.assert_array_equal(X[1], [[7], [8]])
    assert meta["lengths"] == [3, 1, 2] and labels == ["walk", "run", "sit"]


def test_load_ts_missing_values_become_nan(tmp_path):
    p = write(tmp_path / "m.ts", ts_text(["1,?,3:4,5,NaN:walk"], missing="true"))
    X, _, _ = load_ts(p)
    np.testing.assert_array_equal(np.isnan(X[0]), [[False, True, False], [False, False, True]])


def test_load_ts_regression_target(tmp_path):
    p = write(tmp_path / "r.ts", "@problemName R\n@univariate true\n@targetLabel true\n@data\n1,2,3:0.25\n4,5,6:-3\n")
    X, labels, meta = load_ts(p)
    assert labels == ["0.25", "-3"] and meta["target_label"] is True and meta["class_labels"] is None


def test_load_ts_without_labels(tmp_path):
    p = write(tmp_path / "c.ts", "@problemName C\n@dimensions 2\n@classLabel false\n@data\n1,2:3,4\n")
    X, labels, meta = load_ts(p)
    assert X.shape == (1, 2, 2) and labels == []


BAD_TS = [
    # (file text, expected line, a fragment of the message)
    ("@problemName X\n@classLable true a b\n@data\n1:a\n", 2, "did you mean @classLabel"),
    ("@problemName X\n@frobnicate 3\n@data\n1:a\n", 2, "unknown header tag @frobnicate"),
    ("@problemName X\n@missing maybe\n@data\n", 2, "takes true or false"),
    ("@problemName X\n@dimensions two\n@data\n", 2, "one integer >= 1"),
    ("@problemName X\n@dimensions 0\n@data\n", 2, "one integer >= 1"),
    ("@problemName X\n@classLabel true\n@data\n", 2, "must list the class names"),
    ("@problemName X\n@classLabel true a a\n@data\n", 2, "lists a class twice"),
    ("@univariate true\n@univariate false\n@data\n", 2, "given twice"),
    ("@problemName X Y\n@data\n", 1, "one name without spaces"),
    ("@problemName X\n1,2,3:a\n@data\n", 2, "data before the @data line"),
    ("@problemName X\n@classLabel true a\n@data\n1,2:a\n@missing true\n", 5, "header tag after @data"),
    ("@problemName X\n@data extra\n", 2, "@data takes no value"),
    ("@problemName X\n@timeStamps true\n@data\n(0,1),(1,2)\n", 3, "not supported"),
    ("@univariate true\n@dimensions 3\n@data\n", 3, "contradicts @dimensions 3"),
    ("@classLabel true a b\n@data\n1,2:c\n", 3, "label 'c' is not in @classLabel"),
    ("@classLabel true a b\n@data\n1,2\n", 3, "found no ':'"),
    ("@classLabel true a b\n@data\n1,2: \n", 3, "empty label"),
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n", 5, "1 channels, expected 2"),
    ("@classLabel true a\n@data\n1,2:3,4:a\n1,2:3,4,5:6:a\n", 4, "3 channels, expected 2"),
    ("@classLabel true a\n@data\n1,2:3,4,5:a\n", 3, "channel 2 has 3 values, channel 1 has 2"),
    ("@equalLength true\n@classLabel true a\n@data\n1,2:a\n1,2,3:a\n", 5, "@equalLength true"),
    ("@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n", 5, "@seriesLength is 3"),
    ("@missing false\n@classLabel true a\n@data\n1,?:a\n", 4, "@missing false"),
    ("@classLabel true a\n@data\n1,x:a\n", 3, "channel 1, value 2: 'x', not a number"),
    ("@classLabel true a\n@data\n1,,3:a\n", 3, "channel 1, value 2: an empty value"),
    ("@targetLabel true\n@data\n1,2:big\n", 3, "regression target 'big' is not a number"),
    ("@ \n@data\n", 1, "'@' without a tag name"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD_TS)
def test_load_ts_rejects_malformed_files_naming_the_line(tmp_path, text, line, fragment):
    p = write(tmp_path / "bad.ts", text)
    with pytest.raises(HARDataError) as exc:
        load_ts(p)
    assert f"{p}:{line}:" in str(exc.value)
    assert fragment in str(exc.value)


def test_load_ts_percent_comments_and_a_repeated_problem_name(tmp_path):
    """As in the UnitTest files sktime ships: ARFF-style '%' comments, @problemName twice (the first counts)."""
    from sim.har_data import read_ts_header

    text = "%# made by hand\n% second line\n@problemName A\n@problemName B\n@classLabel true x y\n@data\n1,2:x\n3,4:y\n"
    p = write(tmp_path / "u.ts", text)
    X, labels, meta = load_ts(p)
    np.testing.assert_array_equal(X, [[[1, 2]], [[3, 4]]])
    assert labels == ["x", "y"] and meta["problem_name"] == "A" and meta["description"] == "made by hand\nsecond line"
    head = read_ts_header(p)
    assert head["problem_name"] == "A" and head["class_labels"] == ("x", "y")


def test_load_ts_file_level_errors(tmp_path):
    with pytest.raises(HARDataError, match="no such .ts file"):
        load_ts(tmp_path / "nope.ts")
    with pytest.raises(HARDataError, match="no @data line"):
        load_ts(write(tmp_path / "h.ts", "@problemName X\n"))
    with pytest.raises(HARDataError, match="no cases after @data"):
        load_ts(write(tmp_path / "e.ts", "@problemName X\n@data\n\n"))


# --------------------------------------------------------------------------------------------------
# write_ts: round trip (hypothesis) and errors
# --------------------------------------------------------------------------------------------------

values = st.floats(allow_nan=True, allow_infinity=False, width=64)


@st.composite
def ts_datasets(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 3))
    equal = draw(st.booleans())
    lengths = [draw(st.integers(1, 6))] * n if equal else [draw(st.integers(1, 6)) for _ in range(n)]
    X = [
        np.array(draw(st.lists(values, min_size=c * t, max_size=c * t)), dtype=np.float64).reshape(c, t)
        for t in lengths
    ]
    names = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=6)
    labels = draw(st.lists(names, min_size=n, max_size=n))
    return X, labels


@settings(max_examples=60, deadline=None)
@given(ts_datasets())
def test_write_ts_then_load_ts_round_trips_exactly(tmp_path_factory, data):
    X, labels = data
    p = write_ts(tmp_path_factory.mktemp("rt") / "rt.ts", X, labels, problem_name="RoundTrip", description="x\ny")
    got, got_labels, meta = load_ts(p)
    assert got_labels == labels
    assert len(got) == len(X)
    for a, b in zip(got, X, strict=True):
        np.testing.assert_array_equal(a, b)  # NaN == NaN here; values bit-exact
        assert np.array_equal(np.signbit(a[~np.isnan(a)]), np.signbit(b[~np.isnan(b)]))  # -0.0 stays -0.0
    assert meta["missing"] == any(np.isnan(x).any() for x in X)
    assert meta["equal_length"] == (len({x.shape[1] for x in X}) == 1)
    assert set(meta["class_labels"]) == set(labels)


def test_write_ts_float32_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 3, 7)).astype(np.float32) * np.float32(1e-3)
    p = write_ts(tmp_path / "f.ts", X, ["a", "b", "a", "b"])
    got, _, _ = load_ts(p)
    np.testing.assert_array_equal(got.astype(np.float32), X)


def test_write_ts_errors(tmp_path):
    X = np.zeros((2, 1, 3))
    with pytest.raises(HARDataError, match="infinite"):
        write_ts(tmp_path / "a.ts", np.full((1, 1, 2), np.inf), ["a"])
    with pytest.raises(HARDataError, match="cannot be written"):
        write_ts(tmp_path / "a.ts", X, ["a b", "c"])
    with pytest.raises(HARDataError, match="2 labels for 1 cases"):
        write_ts(tmp_path / "a.ts", X[:1], ["a", "b"])
    with pytest.raises(HARDataError, match="not among the classes"):
        write_ts(tmp_path / "a.ts", X, ["a", "b"], classes=["a"])
    with pytest.raises(HARDataError, match="same, non-zero number of channels"):
        write_ts(tmp_path / "a.ts", [np.zeros((1, 2)), np.zeros((2, 2))], ["a", "b"])


# --------------------------------------------------------------------------------------------------
# load_ts_split / load_ucr_folder
# --------------------------------------------------------------------------------------------------


def test_load_ts_split_builds_a_dataset(tmp_path):
    tr = write(tmp_path / "T_TRAIN.ts", ts_text(["1,2:3,4:walk", "5,6:7,8:sit", "0,0:0,0:run"]))
    te = write(tmp_path / "T_TEST.ts", ts_text(["9,9:9,9:sit"]))
    ds = load_ts_split(tr, te)
    assert ds.classes == ("run", "sit", "walk")  # sorted
    np.testing.assert_array_equal(ds.y_train, [2, 1, 0])
    np.testing.assert_array_equal(ds.y_test, [1])
    assert ds.X_train.dtype == np.float32 and ds.X_train.shape == (3, 2, 2)
    assert ds.name == "Tiny" and ds.channels == ("c0", "c1") and ds.rate_hz is None
    assert ds.X_val is None and ds.y_val is None
    assert not ds.X_train.flags.writeable


def test_numeric_classes_sort_numerically(tmp_path):
    head = "@problemName N\n@univariate true\n@classLabel true 10 2 1\n@data\n"
    tr = write(tmp_path / "N_TRAIN.ts", head + "1,2:10\n3,4:2\n5,6:1\n")
    te = write(tmp_path / "N_TEST.ts", head + "1,2:2\n")
    ds = load_ts_split(tr, te)
    assert ds.classes == ("1", "2", "10")
    np.testing.assert_array_equal(ds.y_train, [2, 1, 0])


def test_unequal_lengths_are_an_error_unless_resampled(tmp_path):
    tr = write(tmp_path / "U_TRAIN.ts", ts_text(["0,10,20:1,1,1:walk", "1,3:5,5:run"], equal="false"))
    te = write(tmp_path / "U_TEST.ts", ts_text(["4,4,4,4,4:0,1,2,3,4:sit"], equal="false"))
    with pytest.raises(HARDataError) as exc:
        load_ts_split(tr, te)
    msg = str(exc.value)
    assert f"{tr}:12: case 2 has 2 steps, case 1 has 3" in msg
    assert "[data] length = 3 (--length 3; Python: length=3)" in msg  # where a user sets it, all three
    ds = load_ts_split(tr, te, length=5)
    # Hand-worked: [0, 10, 20] at positions 0, .5, 1, 1.5, 2 -> 0, 5, 10, 15, 20; [1, 3] at 0, .25, .5, .75, 1.
    np.testing.assert_allclose(ds.X_train[0, 0], [0, 5, 10, 15, 20])
    np.testing.assert_allclose(ds.X_train[1, 0], [1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(ds.X_train[1, 1], [5, 5, 5, 5, 5])
    np.testing.assert_allclose(ds.X_test[0, 1], [0, 1, 2, 3, 4])  # already 5 long: untouched


def test_train_and_test_lengths_must_match(tmp_path):
    tr = write(tmp_path / "L_TRAIN.ts", ts_text(["1,2:3,4:walk"]))
    te = write(tmp_path / "L_TEST.ts", ts_text(["1,2,3:4,5,6:walk"]))
    with pytest.raises(HARDataError, match=r"L_TEST.ts: series have 3 steps, .*L_TRAIN.ts has 2"):
        load_ts_split(tr, te)
    assert load_ts_split(tr, te, length=4).X_test.shape == (1, 2, 4)


def test_nan_is_an_error_naming_file_row_and_channel_unless_interpolated(tmp_path):
    tr = write(tmp_path / "M_TRAIN.ts", ts_text(["1,2,3,4:5,6,7,8:walk", "1,?,3,?:?,?,4,6:run"], missing="true"))
    te = write(tmp_path / "M_TEST.ts", ts_text(["1,1,1,1:2,2,2,2:sit"], missing="true"))
    with pytest.raises(HARDataError) as exc:
        load_ts_split(tr, te)
    assert f"{tr}:12: case 2, channel 1, step 2: missing value" in str(exc.value)
    assert '[data] nan = "interpolate" (--nan interpolate' in str(exc.value)
    ds = load_ts_split(tr, te, nan="interpolate")
    # Hand-worked: 1,?,3,? -> 1,2,3,3 (trailing gap holds); ?,?,4,6 -> 4,4,4,6 (leading gap holds).
    np.testing.assert_array_equal(ds.X_train[1], [[1, 2, 3, 3], [4, 4, 4, 6]])
    with pytest.raises(HARDataError, match="nan must be one of"):
        load_ts_split(tr, te, nan="drop")


def test_all_missing_channel_cannot_be_interpolated(tmp_path):
    tr = write(tmp_path / "A_TRAIN.ts", ts_text(["?,?:1,2:walk"], missing="true"))
    with pytest.raises(HARDataError, match=r"case 1, channel 1, step 1: every value of this channel is missing"):
        load_ts_split(tr, tr, nan="interpolate")


def test_load_ts_split_needs_class_labels_and_matching_channels(tmp_path):
    tr = write(tmp_path / "R_TRAIN.ts", "@univariate true\n@targetLabel true\n@data\n1,2:0.5\n")
    with pytest.raises(HARDataError, match="not a classification file"):
        load_ts_split(tr, tr)
    a = write(tmp_path / "a.ts", ts_text(["1,2:3,4:walk"]))
    b = write(tmp_path / "b.ts", "@univariate true\n@classLabel true walk\n@data\n1,2:walk\n")
    with pytest.raises(HARDataError, match=r"b.ts: 1 channels, but .*a.ts has 2"):
        load_ts_split(a, b)


def test_load_ucr_folder(tmp_path):
    write(tmp_path / "Foo_TRAIN.ts", ts_text(["1,2:3,4:walk"]))
    write(tmp_path / "Foo_TEST.ts", ts_text(["1,2:3,4:run"]))
    ds = load_ucr_folder(tmp_path, channels=("ax", "ay"), rate_hz=50.0)
    assert ds.name == "Foo" and ds.channels == ("ax", "ay") and ds.rate_hz == 50.0
    write(tmp_path / "Bar_TRAIN.ts", ts_text(["1,2:3,4:walk"]))
    with pytest.raises(HARDataError, match="2 \\*_TRAIN.ts files"):
        load_ucr_folder(tmp_path)
    with pytest.raises(HARDataError, match="Bar_TEST.ts: missing"):
        load_ucr_folder(tmp_path, "Bar")
    with pytest.raises(HARDataError, match="no \\*_TRAIN.ts file"):
        load_ucr_folder(write(tmp_path / "empty" / "x.txt", "").parent)
    with pytest.raises(HARDataError, match="no such folder"):
        load_ucr_folder(tmp_path / "nowhere")
    with pytest.raises(HARDataError, match="3 channel names given"):
        load_ucr_folder(tmp_path, "Foo", channels=("a", "b", "c"))


# --------------------------------------------------------------------------------------------------
# BasicMotions (real data, needs the har extra)
# --------------------------------------------------------------------------------------------------


def test_basicmotions_shapes_classes_and_counts():
    packaged_basicmotions()
    ds = load_basicmotions()
    assert ds.X_train.shape == (40, 6, 100) and ds.X_test.shape == (40, 6, 100)
    assert ds.classes == ("Badminton", "Running", "Standing", "Walking")
    assert ds.channels == ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
    assert ds.rate_hz == 10.0 and ds.name == "BasicMotions"
    np.testing.assert_array_equal(np.bincount(ds.y_train), [10] * 4)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [10] * 4)
    assert "Badminton" in ds.summary() and "100 steps per window at 10 Hz (10 s)" in ds.summary()


def test_basicmotions_one_nearest_neighbour_matches_the_issue():
    """The issue measured 60 % (raw samples) and 97.5 % (per-channel mean, std, mean |diff|, z-scored)."""
    packaged_basicmotions()
    ds = load_basicmotions()

    def nn1(a, b):
        d = ((b[:, None, :] - a[None, :, :]) ** 2).sum(-1)
        return float(np.mean(ds.y_train[d.argmin(1)] == ds.y_test))

    tr, te = ds.X_train.astype(np.float64), ds.X_test.astype(np.float64)
    assert nn1(tr.reshape(40, -1), te.reshape(40, -1)) == pytest.approx(0.60)

    def feats(x):
        return np.concatenate([x.mean(2), x.std(2), np.abs(np.diff(x, axis=2)).mean(2)], axis=1)

    f_tr, f_te = feats(tr), feats(te)
    mu, sd = f_tr.mean(0), f_tr.std(0)
    assert nn1((f_tr - mu) / sd, (f_te - mu) / sd) == pytest.approx(0.975)


def test_basicmotions_from_a_folder_and_the_missing_extra_error(tmp_path, monkeypatch):
    src = packaged_basicmotions()
    for f in src.glob("BasicMotions_*.ts"):
        shutil.copy(f, tmp_path / f.name)
    ds = load_basicmotions(tmp_path)
    assert ds.X_train.shape == (40, 6, 100)
    monkeypatch.setattr(har_data.basicmotions.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HARDataError) as exc:
        load_basicmotions()
    assert "pip install -e '.[har]'" in str(exc.value) and "--data PATH" in str(exc.value)


def test_parser_agrees_with_sktime_on_the_real_files_it_ships():
    """A second implementation: sktime's own reader, on equal and unequal length multivariate files."""
    folder = packaged_basicmotions().parent
    try:
        from sktime.datasets import load_from_tsfile
    except ImportError:
        skip_unless_ci("sktime not installed (aeon provides the data but not this reader)")
    for rel in ("BasicMotions/BasicMotions_TEST.ts", "JapaneseVowels/JapaneseVowels_TRAIN.ts",
                "UnitTest/UnitTest_TEST.ts"):  # UnitTest: '%' comments and two @problemName lines  # fmt: skip
        path = folder / rel
        if not path.is_file():
            continue
        df, y_ref = load_from_tsfile(str(path), return_data_type="nested_univ")
        ref = [np.stack([df.iloc[i, c].to_numpy() for c in range(df.shape[1])]) for i in range(len(df))]
        X, labels, _ = load_ts(path)
        assert len(X) == len(ref)
        for a, b in zip(X, ref, strict=True):
            np.testing.assert_array_equal(a, b)
        assert [s.lower() for s in labels] == [str(s).lower() for s in y_ref]  # sktime lower-cases labels


# --------------------------------------------------------------------------------------------------
# WISDM-2019 raw files
# --------------------------------------------------------------------------------------------------

T0_NS = 252_207_666_810_782  # a WISDM-like nanosecond clock value


def wisdm_lines(subject: int, code: str, times_s, xyz) -> list[str]:
    return [
        f"{subject},{code},{T0_NS + round(t * 1e9)},{x!r},{y!r},{z!r};"
        for t, (x, y, z) in zip(times_s, xyz, strict=True)
    ]


def write_wisdm(root: Path, device: str, sensor: str, subject: int, lines: list[str]) -> Path:
    return write(root / "raw" / device / sensor / f"data_{subject}_{sensor}_{device}.txt", "\n".join(lines) + "\n")


def test_wisdm_hand_computed_window(tmp_path):
    """Done-when of the issue: a file set in the exact raw format gives the windows a hand computation gives.

    accel at t = 0, .3, .7, 1.0, 1.6 s with x = 0, 3, 1, 5, 2 (y = 10x, z = -x); gyro at t = .1, .6, 1.1, 1.5 s
    with x = 1, 2, 3, 4. Both cover [0.1, 1.5]; a 2 Hz grid from 0.1 gives 0.1, 0.6, 1.1 (1.6 > 1.5);
    1-s windows hold 2 steps, so one window: t = 0.1 and 0.6.
      accel x(0.1) = 0 + 3 * (0.1 / 0.3) = 1;  x(0.6) = 3 + (1 - 3) * (0.3 / 0.4) = 1.5
      gyro  x(0.1) = 1;                         x(0.6) = 2
    """
    acc_t, acc_x = [0.0, 0.3, 0.7, 1.0, 1.6], [0.0, 3.0, 1.0, 5.0, 2.0]
    gyr_t, gyr_x = [0.1, 0.6, 1.1, 1.5], [1.0, 2.0, 3.0, 4.0]
    for s in (1600, 1601):
        write_wisdm(tmp_path, "watch", "accel", s, wisdm_lines(s, "F", acc_t, [(x, 10 * x, -x) for x in acc_x]))
        write_wisdm(tmp_path, "watch", "gyro", s, wisdm_lines(s, "F", gyr_t, [(x, x, x) for x in gyr_x]))
    ds = load_wisdm(tmp_path, rate_hz=2.0, window_s=1.0, activities=["F"], split=(0.5, 0, 0.5), max_gap_s=1.0)
    assert ds.X_train.shape == (1, 6, 2) and ds.X_test.shape == (1, 6, 2)
    expected = [[1.0, 1.5], [10.0, 15.0], [-1.0, -1.5], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    np.testing.assert_allclose(ds.X_train[0], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ds.X_test[0], expected, rtol=0, atol=1e-6)
    assert ds.classes == ("typing",) and ds.rate_hz == 2.0


def sinus(t, k):
    """Channel k of the fake IMU: A sin(2 pi f t + phase) with per-channel f and phase (A = 2)."""
    return 2.0 * np.sin(2 * np.pi * (0.3 + 0.1 * k) * t + 0.7 * k)


def make_wisdm_tree(root: Path, subjects=(1600, 1601, 1602)) -> dict:
    """3 subjects, watch accel + gyro, activities F, R (hand) and A (walking, not in the default set).

    accel at 25 Hz from 0.013 s, 300 samples (last at 11.973 s); gyro at a jittered ~20 Hz from
    0.331 s, 230 samples (last near 11.781 s). Channel values are sinusoids of the sample time, plus
    a ramp in gyro z. Subject 1601's activity R has a 1.2 s hole in the gyro (no samples in
    (5.0, 6.2) s).
    """
    rng = np.random.default_rng(7)
    info = {}
    for s in subjects:
        acc_lines, gyr_lines = [], []
        for code in ("F", "R", "A"):
            ta = 0.013 + 0.04 * np.arange(300)
            tg = 0.331 + 0.05 * np.arange(230) + rng.uniform(-0.01, 0.01, 230) * (np.arange(230) % 229 != 0)
            if s == 1601 and code == "R":
                tg = tg[(tg <= 5.0) | (tg >= 6.2)]
            info[(s, code)] = (ta, tg)
            acc_lines += wisdm_lines(s, code, ta, np.stack([sinus(ta, k) for k in range(3)], 1).tolist())
            g = np.stack([sinus(tg, 3), sinus(tg, 4), 0.5 * tg - 1.0], 1)
            gyr_lines += wisdm_lines(s, code, tg, g.tolist())
        write_wisdm(root, "watch", "accel", s, acc_lines)
        write_wisdm(root, "watch", "gyro", s, gyr_lines[::-1] if s == 1602 else gyr_lines)  # order must not matter
    return info


def test_wisdm_resampled_values_match_the_closed_form_signal(tmp_path):
    info = make_wisdm_tree(tmp_path)
    ds = load_wisdm(tmp_path, activities=["F", "R"], split=(0.34, 0.33, 0.33), seed=1)
    assert ds.channels == ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
    assert ds.classes == ("clapping", "typing") and ds.n_steps == 40 and ds.rate_hz == 20.0
    # Subject-disjoint: one subject per split, every window of a split from that subject.
    parts = [set(ds.subjects_train.tolist()), set(ds.subjects_val.tolist()), set(ds.subjects_test.tolist())]
    assert all(len(p) == 1 for p in parts) and set.union(*parts) == {1600, 1601, 1602}
    # Window counts by hand. Coverage: from max(0.013, 0.331) = 0.331 to min(11.973, 11.781) = 11.781 s
    # (first and last gyro samples are not jittered): 11.45 s -> floor(11.45 * 20) + 1 = 230 grid points
    # -> 5 windows of 40 (200 points), 30 points dropped. Subject 1601, R: the gyro hole splits coverage
    # into [0.331, <=5.0] (about 4.67 s -> 94 points -> 2 windows) and [>=6.2, 11.781] (about 5.58 s ->
    # 112 points -> 2 windows): 4 windows.
    counts = {}
    for name, _, y in ds.splits():
        s = int(getattr(ds, f"subjects_{name}")[0])
        for k, cls in enumerate(ds.classes):
            counts[(s, cls)] = int(np.sum(y == k))
    expected = {(s, c): 5 for s in (1600, 1601, 1602) for c in ("clapping", "typing")}
    expected[(1601, "clapping")] = 4
    assert counts == expected
    # Values: window j of a stretch starting at a holds the grid times a + (40 j + i) / 20. Linear
    # interpolation of A sin(w t) between samples dt apart is off by at most A w^2 dt^2 / 8.
    for name, X, y in ds.splits():
        s = int(getattr(ds, f"subjects_{name}")[0])
        for code, cls in (("F", "typing"), ("R", "clapping")):
            if (s, code) == (1601, "R"):
                continue
            ta, tg = info[(s, code)]
            a = max(ta[0], tg[0])
            wins = X[y == ds.classes.index(cls)]
            grid = a + np.arange(5 * 40).reshape(5, 40) / 20.0
            for k in range(5):
                w = 2 * np.pi * (0.3 + 0.1 * k)
                dt = 0.04 if k < 3 else float(np.max(np.diff(tg)))
                bound = 2.0 * w**2 * dt**2 / 8 + 1e-6
                assert np.max(np.abs(wins[:, k, :] - sinus(grid, k))) <= bound
            # the ramp 0.5 t - 1 is interpolated exactly (up to float32)
            np.testing.assert_allclose(wins[:, 5, :], 0.5 * grid - 1.0, rtol=0, atol=1e-5)


def test_wisdm_default_activities_split_fractions_and_seed(tmp_path):
    make_wisdm_tree(tmp_path)
    ds = load_wisdm(tmp_path)  # default: the 7 hand-oriented activities, (0.6, 0.2, 0.2) of 3 subjects -> 1/1/1
    assert ds.classes == (
        "brushing_teeth",
        "clapping",
        "drinking",
        "eating_pasta",
        "folding_clothes",
        "typing",
        "writing",
    )
    assert set(np.unique(ds.y_train)) <= {
        ds.classes.index("typing"),
        ds.classes.index("clapping"),
    }  # A (walking) ignored
    assert len(np.unique(ds.subjects_train)) == 1 and ds.X_val is not None
    again = load_wisdm(tmp_path)
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    order = {int(load_wisdm(tmp_path, seed=s).subjects_test[0]) for s in range(6)}
    assert len(order) > 1  # the seed changes which subject is held out
    no_val = load_wisdm(tmp_path, split=(0.5, 0.0, 0.5), sensors=("gyro",))
    assert no_val.X_val is None and no_val.channels == ("gyro_x", "gyro_y", "gyro_z")
    assert "test subjects" in ds.summary()


def test_wisdm_accepts_the_dataset_folder_layouts_and_missing_semicolons(tmp_path):
    root = tmp_path / "download" / "wisdm-dataset"
    make_wisdm_tree(root, subjects=(1600, 1601))
    p = root / "raw" / "watch" / "accel" / "data_1600_accel_watch.txt"
    p.write_text(p.read_text().replace(";", ""))
    a = load_wisdm(tmp_path / "download", activities="typing", split=(0.5, 0, 0.5))
    assert a.classes == ("typing",)
    b = load_wisdm(root / "raw", activities="F", split=(0.5, 0, 0.5))
    np.testing.assert_array_equal(a.X_train, b.X_train)


def test_wisdm_fast_reader_agrees_with_the_line_reader(tmp_path):
    """The numpy reader and the line-by-line one give the same samples; a repeated timestamp keeps its first sample."""
    make_wisdm_tree(tmp_path)
    p = tmp_path / "raw" / "watch" / "gyro" / "data_1602_gyro_watch.txt"  # written in reverse time order
    lines = p.read_text().splitlines()
    first = lines[5].split(",")
    lines.insert(9, ",".join(first[:3] + ["99.0", "99.0", "99.0;"]))  # same subject/activity/time, later in the file
    p.write_text("\n".join(lines) + "\n")
    for f in sorted((tmp_path / "raw").rglob("*.txt")):
        subject = int(f.name.split("_")[1])
        for wanted in (("F", "R", "A"), ("R",)):
            fast = har_data.wisdm._read_wisdm_file(f, subject, wanted)
            slow = har_data.wisdm._read_wisdm_lines(f.read_text(), f, subject, frozenset(wanted))
            assert fast.keys() == slow.keys() == set(wanted)
            for code in wanted:
                np.testing.assert_array_equal(fast[code][0], slow[code][0])
                np.testing.assert_array_equal(fast[code][1], slow[code][1])
                assert np.all(np.diff(fast[code][0]) > 0)
    got = har_data.wisdm._read_wisdm_file(p, 1602, ("F", "R", "A"))[first[1]]
    row = np.flatnonzero(got[0] == int(first[2]))
    assert len(row) == 1 and got[1][row[0], 0] != 99.0


def test_wisdm_errors(tmp_path):
    make_wisdm_tree(tmp_path)
    accel = tmp_path / "raw" / "watch" / "accel"
    with pytest.raises(HARDataError, match="no such folder"):
        load_wisdm(tmp_path / "nope")
    with pytest.raises(HARDataError, match="not a WISDM-2019 folder"):
        load_wisdm(write(tmp_path / "other" / "x.txt", "").parent)
    with pytest.raises(HARDataError, match=r"raw/phone/accel: missing"):
        write_wisdm(tmp_path, "phone", "gyro", 1600, ["1600,A,1,0,0,0;"])
        load_wisdm(tmp_path, device="phone")
    with pytest.raises(HARDataError, match="unknown: \\['N'\\]"):
        load_wisdm(tmp_path, activities=["F", "N"])
    with pytest.raises(HARDataError, match="device must be one of"):
        load_wisdm(tmp_path, device="ring")
    with pytest.raises(HARDataError, match="sensors must be"):
        load_wisdm(tmp_path, sensors=("accel", "mag"))
    with pytest.raises(HARDataError, match="whole number of steps"):
        load_wisdm(tmp_path, window_s=0.03)
    with pytest.raises(HARDataError, match="summing to 1"):
        load_wisdm(tmp_path, split=(0.6, 0.2, 0.3))
    with pytest.raises(HARDataError, match="data_1600_accel_watch.txt: activity F: the median time .* nanoseconds"):
        load_wisdm(tmp_path, ts_unit_s=1e-3)
    with pytest.raises(HARDataError, match="nanoseconds"):
        load_wisdm(tmp_path, ts_unit_s=1e-12)
    only2 = tmp_path / "two"
    make_wisdm_tree(only2, subjects=(1600, 1601))
    with pytest.raises(HARDataError, match="2 subject\\(s\\) cannot fill the splits"):
        load_wisdm(only2)

    def broken(line_no: int, new: str) -> str:
        p = accel / "data_1601_accel_watch.txt"
        lines = p.read_text().splitlines()
        keep = lines[line_no - 1]
        lines[line_no - 1] = new
        p.write_text("\n".join(lines) + "\n")
        with pytest.raises(HARDataError) as exc:
            load_wisdm(tmp_path)
        lines[line_no - 1] = keep
        p.write_text("\n".join(lines) + "\n")
        assert f"data_1601_accel_watch.txt:{line_no}:" in str(exc.value)
        return str(exc.value)

    assert "6 fields" in broken(7, "1601,F,252207666810782,0.1,0.2;")
    assert "unknown activity code 'N'" in broken(8, "1601,N,252207666810782,0.1,0.2,0.3;")
    assert "unknown activity code 'Z'" in broken(9, "1601,Z,252207666810782,0.1,0.2,0.3;")
    assert "must be integers" in broken(10, "1601,F,2.5e14,0.1,0.2,0.3;")
    assert "file name says 1601" in broken(11, "1600,F,252207666810782,0.1,0.2,0.3;")
    assert "must be numbers" in broken(12, "1601,F,252207666810782,0.1,abc,0.3;")
    assert "finite" in broken(13, "1601,F,252207666810782,0.1,nan,0.3;")
    (tmp_path / "raw" / "watch" / "gyro" / "data_1602_gyro_watch.txt").unlink()
    with pytest.raises(HARDataError, match=r"data_1602_gyro_watch.txt: missing, but data_1602_accel_watch.txt exists"):
        load_wisdm(tmp_path)


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------

CSV_OK = """window,label,t,ax,ay,split
w1,walk,1,2,20,train
w1,walk,0,1,10,train
w2,run,0,3,30,test
w2,run,1,4,40,test
w3,walk,0,5,50,val
w3,walk,1,6,60,val
"""


def test_csv_long_layout_with_a_split_column(tmp_path):
    ds = load_csv(write(tmp_path / "d.csv", CSV_OK), rate_hz=50.0)
    assert ds.classes == ("run", "walk") and ds.channels == ("ax", "ay") and ds.name == "d"
    np.testing.assert_array_equal(ds.X_train, [[[1, 2], [10, 20]]])  # rows out of order, sorted by t
    np.testing.assert_array_equal(ds.X_test, [[[3, 4], [30, 40]]])
    np.testing.assert_array_equal(ds.X_val, [[[5, 6], [50, 60]]])
    np.testing.assert_array_equal(ds.y_train, [1])
    sub = load_csv(tmp_path / "d.csv", channels=["ay"], classes=["walk", "run", "jump"])
    assert sub.channels == ("ay",) and sub.classes == ("jump", "run", "walk")


def test_csv_without_split_column_is_split_per_class_with_the_seed(tmp_path):
    rows = ["window,label,t,v"]
    for w in range(30):
        for t in range(3):
            rows.append(f"w{w},{'ab'[w % 2]},{t},{w * 10 + t}")
    p = write(tmp_path / "s.csv", "\n".join(rows) + "\n")
    ds = load_csv(p, split=(0.6, 0.2, 0.2), seed=4)
    # 15 windows per class -> 9 / 3 / 3 per class
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert np.bincount(y).tolist() in ([9, 9], [3, 3])
    ids = np.concatenate([ds.X_train[:, 0, 0], ds.X_val[:, 0, 0], ds.X_test[:, 0, 0]]) // 10
    assert sorted(ids.tolist()) == list(range(30))  # every window exactly once
    np.testing.assert_array_equal(load_csv(p, seed=4).X_test, ds.X_test)
    assert not np.array_equal(load_csv(p, seed=5).X_test, ds.X_test)


def test_csv_nan_interpolate(tmp_path):
    p = write(
        tmp_path / "n.csv",
        "window,label,t,v\nw,a,0,1\nw,a,1,\nw,a,2,nan\nw,a,3,7\nu,a,0,1\nu,a,1,1\nu,a,2,1\nu,a,3,1\n",
    )
    with pytest.raises(HARDataError, match=rf"{p}:3: missing value in column 'v'"):
        load_csv(p, split=(0.5, 0, 0.5))
    ds = load_csv(p, nan="interpolate", split=(0.5, 0, 0.5))
    got = np.concatenate([ds.X_train, ds.X_test])[:, 0]
    assert [1, 3, 5, 7] in got.tolist()


BAD_CSV = [
    ("window,label,t,v\nw,a,0,1\nw,a,1\n", 3, "3 fields, the header has 4 (ragged row)"),
    ("window,label,t,v\nw,a,0,1,9\n", 2, "ragged row"),
    ("window,label,t,v\nw,a,0,x\n", 2, "column 'v' holds 'x', not a number"),
    ("window,label,t,v\nw,a,0,inf\n", 2, "infinite"),
    ("window,label,t,v\nw,a,-1,1\n", 2, "t must be a step index"),
    ("window,label,t,v\nw,a,0,1\nw,b,1,1\n", 3, "has label 'b' here, 'a' on line 2"),
    ("window,label,t,v\nw,a,0,1\nw,a,0,2\n", 3, "repeats step t=0"),
    ("window,label,t,v\nw,a,0,1\nw,a,2,2\n", 2, "no row for step t=1"),
    ("window,label,t,v\nw,a,0,1\nw,a,1,1\nu,a,0,1\n", 4, "has 1 steps, window 'w' has 2"),
    ("window,label,t,v\nw,zebra,0,1\n", 2, "unknown label 'zebra'"),
    ("window,label,t,v,split\nw,a,0,1,dev\n", 2, "split must be one of"),
    ("window,label,t,v,split\nw,a,0,1,train\nw,a,1,1,test\n", 3, "has split 'test' here"),
    ("window,label,v\nw,a,1\n", 1, "header lacks column(s) ['t']"),
    ("window,label,t,v,v\nw,a,0,1,1\n", 1, "appear twice"),
    ("window,label,t\nw,a,0\n", 1, "no channel columns"),
    ("window,label,t,v\n,a,0,1\n", 2, "empty window id or label"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD_CSV)
def test_csv_errors_name_the_line(tmp_path, text, line, fragment):
    p = write(tmp_path / "bad.csv", text)
    with pytest.raises(HARDataError) as exc:
        load_csv(p, classes=["a", "b"] if "zebra" in text else None)
    assert f"{p}:{line}:" in str(exc.value)
    assert fragment in str(exc.value)


def test_csv_file_level_errors(tmp_path):
    with pytest.raises(HARDataError, match="no such CSV file"):
        load_csv(tmp_path / "x.csv")
    with pytest.raises(HARDataError, match="empty file"):
        load_csv(write(tmp_path / "e.csv", ""))
    with pytest.raises(HARDataError, match="no data rows"):
        load_csv(write(tmp_path / "h.csv", "window,label,t,v\n"))
    with pytest.raises(HARDataError, match="no window in the test split"):
        load_csv(write(tmp_path / "o.csv", "window,label,t,v,split\nw,a,0,1,train\n"))


# --------------------------------------------------------------------------------------------------
# load_dataset (--data PATH)
# --------------------------------------------------------------------------------------------------


def test_load_dataset_dispatch(tmp_path):
    write(tmp_path / "ts" / "Foo_TRAIN.ts", ts_text(["1,2:3,4:walk"]))
    write(tmp_path / "ts" / "Foo_TEST.ts", ts_text(["1,2:3,4:run"]))
    assert load_dataset(tmp_path / "ts").name == "Foo"
    assert load_dataset(str(tmp_path / "ts" / "Foo_TEST.ts")).name == "Tiny"
    assert load_dataset(tmp_path / "ts", length=3).n_steps == 3
    assert load_dataset(write(tmp_path / "d.csv", CSV_OK)).classes == ("run", "walk")
    make_wisdm_tree(tmp_path / "w")
    assert load_dataset(tmp_path / "w", activities=["F"]).classes == ("typing",)
    with pytest.raises(HARDataError, match="no such file, folder or dataset name"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(HARDataError, match="holds neither"):
        load_dataset(write(tmp_path / "empty" / "x.txt", "").parent)
    with pytest.raises(HARDataError, match=r"\[data\] activities \(--activities\) do\(es\) not apply to .ts data"):
        load_dataset(tmp_path / "ts", activities=["F"])
    with pytest.raises(HARDataError, match="unknown kind of file"):
        load_dataset(tmp_path / "empty" / "x.txt")
    with pytest.raises(HARDataError, match="_TRAIN.ts / <name>_TEST.ts"):
        load_dataset(write(tmp_path / "lone.ts", ts_text(["1,2:3,4:walk"])))
    assert load_dataset(None, default=tmp_path / "ts").name == "Foo"


def test_load_dataset_by_name():
    packaged_basicmotions()
    assert load_dataset(None).X_train.shape == (40, 6, 100)
    assert load_dataset("BasicMotions").name == "BasicMotions"
    with pytest.raises(HARDataError, match=r"\[data\] nan \(--nan\) do\(es\) not apply to the basicmotions dataset"):
        load_dataset("basicmotions", nan="interpolate")
    # length applies to every source: a reader without it has its (equal-length) windows fitted after loading
    short, full = load_dataset("basicmotions", length=50), load_dataset("basicmotions")
    assert short.X_test.shape == (40, 6, 50)
    expected = np.interp(np.arange(50) * 99 / 49, np.arange(100), full.X_test[3, 2].astype(np.float64))
    np.testing.assert_allclose(short.X_test[3, 2], expected, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# HARDataset and helpers
# --------------------------------------------------------------------------------------------------


def test_hardataset_validates():
    X, y = np.zeros((2, 1, 3)), np.array([0, 1])
    ok = HARDataset(X, y, X, y, classes=("a", "b"), channels=("c",), rate_hz=None, name="t")
    assert ok.X_train.dtype == np.float32 and ok.y_train.dtype == np.int64
    with pytest.raises(HARDataError, match="NaN or infinite"):
        HARDataset(np.full((2, 1, 3), np.nan), y, X, y, ("a", "b"), ("c",), None, "t")
    with pytest.raises(HARDataError, match="labels must lie in"):
        HARDataset(X, np.array([0, 2]), X, y, ("a", "b"), ("c",), None, "t")
    with pytest.raises(HARDataError, match="expected"):
        HARDataset(X, y, np.zeros((2, 1, 4)), y, ("a", "b"), ("c",), None, "t")
    with pytest.raises(HARDataError, match="both be given"):
        HARDataset(X, y, X, y, ("a", "b"), ("c",), None, "t", X_val=X)
    with pytest.raises(HARDataError, match="rate_hz"):
        HARDataset(X, y, X, y, ("a", "b"), ("c",), -1.0, "t")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.lists(st.integers(0, 10), min_size=3, max_size=3).filter(lambda w: sum(w) > 0))
def test_split_counts_share_all_items(n, weights):
    fractions = [w / sum(weights) for w in weights]
    counts = har_data.dataset._split_counts(n, fractions)
    assert sum(counts) == n and min(counts) >= 0
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        assert all(counts[i] >= 1 for i in positive)
    for c, f in zip(counts, fractions, strict=True):
        assert f > 0 or c == 0
        assert abs(c - f * n) <= 1 + len(positive)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 50), st.integers(2, 80), st.floats(-5, 5), st.floats(-5, 5))
def test_resampling_a_line_gives_the_same_line(n, length, a, b):
    x = (a + b * np.arange(n, dtype=np.float64) / max(n - 1, 1))[None, :]
    r = har_data.dataset._resample(x, length)
    expected = a + b * np.linspace(0, 1, length) if n > 1 else np.full(length, a)
    np.testing.assert_allclose(r[0], expected, atol=1e-9 * (1 + abs(a) + abs(b)))
    assert r[0, 0] == x[0, 0] and r[0, -1] == x[0, -1]


def test_sort_classes():
    assert har_data.sort_classes(["b", "a", "b"]) == ("a", "b")
    assert har_data.sort_classes(["10", "9", "1.5"]) == ("1.5", "9", "10")
    assert math.isclose(float(har_data.sort_classes(["3", "-2"])[0]), -2)
