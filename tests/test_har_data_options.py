"""The HAR data options (issue 14, item 1): window length, missing values, channels, normalisation,
sample rate — in `sim.har_data.prepare` and the readers, as `[data]` keys and as `snnctl train/run`
flags, kept with the network, and the run's refusal of windows of another length unless resampled.

Truth is computed here independently: np.interp on hand-made series, numpy means and stds, slices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.har import train_l2mu
from sim.har_data import HARDataError, HARDataset, load_csv, load_ts_split, write_ts
from sim.har_data.dataset import _fill_nans, fit_length
from sim.har_data.prepare import (
    DataOptions,
    dataset_stats,
    normalise,
    prepare,
    select_channels,
)
from snnctl.cli import main
from tests.test_har_experiment import CONFIG, _synthetic

FAST = CONFIG.replace("calibration_windows = 6", "calibration_windows = 6\nfloat_reference = false")


def _where(c: int, t: int) -> str:
    return f"here: channel {c}, step {t}"


# -- the pieces, by hand ---------------------------------------------------------------------------


def test_fit_length_modes_by_hand():
    x = np.array([[0.0, 10.0, 20.0, 30.0]])
    np.testing.assert_allclose(fit_length(x, 7, "resample", "w"), [[0, 5, 10, 15, 20, 25, 30]])
    np.testing.assert_array_equal(fit_length(x, 6, "pad", "w"), [[0, 10, 20, 30, 30, 30]])  # last value held
    np.testing.assert_array_equal(fit_length(x, 2, "crop", "w"), [[0, 10]])  # the first steps kept
    with pytest.raises(HARDataError, match=r"w: 4 steps, longer than length = 2, and length_mode 'pad' only"):
        fit_length(x, 2, "pad", "w")
    with pytest.raises(HARDataError, match=r"shorter than length = 9.*--length-mode pad"):
        fit_length(x, 9, "crop", "w")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40), st.integers(2, 80))
def test_resample_is_np_interp_over_the_same_span(values, length):
    x = np.array([values])
    pos = np.arange(length) * (len(values) - 1) / (length - 1)  # where sample j of the result sits
    expected = np.interp(pos, np.arange(len(values)), values)
    np.testing.assert_allclose(fit_length(x, length, "resample", "w")[0], expected, rtol=1e-9, atol=1e-9)


def test_nan_hold_carries_the_last_value_forward():
    x = np.array([[np.nan, 1.0, np.nan, np.nan, 4.0, np.nan], [2.0, 2.0, 2.0, np.nan, 3.0, 3.0]])
    np.testing.assert_array_equal(_fill_nans(x, "hold", _where), [[1, 1, 1, 1, 4, 4], [2, 2, 2, 2, 3, 3]])
    np.testing.assert_array_equal(_fill_nans(x, "interpolate", _where)[0], [1, 1, 2, 3, 4, 4])
    with pytest.raises(HARDataError, match=r'here: channel 0, step 0: missing value .*\[data\] nan = "interpolate"'):
        _fill_nans(x, "refuse", _where)


def _ds(X_train, X_test, channels=("a", "b", "c")) -> HARDataset:
    y_tr, y_te = np.arange(len(X_train)) % 2, np.arange(len(X_test)) % 2
    return HARDataset(X_train, y_tr, X_test, y_te, classes=("p", "q"), channels=channels, rate_hz=None, name="t")


def test_channels_by_name_or_index():
    rng = np.random.default_rng(0)
    ds = _ds(rng.normal(size=(4, 3, 5)), rng.normal(size=(2, 3, 5)))
    sel = select_channels(ds, ("c", "0"))
    assert sel.channels == ("c", "a")
    np.testing.assert_array_equal(sel.X_test, ds.X_test[:, [2, 0], :])
    with pytest.raises(HARDataError, match=r"channel 'z' is neither a channel name \(a, b, c\) nor an index 0..2"):
        select_channels(ds, ("z",))
    with pytest.raises(HARDataError, match="name one channel twice"):
        select_channels(ds, ("a", "0"))


def test_normalise_series_and_dataset_against_numpy():
    rng = np.random.default_rng(1)
    X_tr = rng.normal(3.0, 2.0, size=(6, 2, 8))
    X_tr[0, 1] = 5.0  # a constant channel in one window: centred, not scaled
    X_te = rng.normal(-1.0, 0.5, size=(3, 2, 8))
    ds = _ds(X_tr, X_te, channels=("a", "b"))
    ser, stats = prepare(ds, DataOptions(normalise="series"))
    assert stats is None and ser.prep["normalise"] == "series"
    x = ds.X_test.astype(np.float64)[1, 0]
    np.testing.assert_allclose(ser.X_test[1, 0], (x - x.mean()) / x.std(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ser.X_train[0, 1], np.zeros(8))
    dset, stats = prepare(ds, DataOptions(normalise="dataset"))
    mean, std = ds.X_train.astype(np.float64)[:, 1].mean(), ds.X_train.astype(np.float64)[:, 1].std()
    assert stats["mean"][1] == pytest.approx(mean) and stats["std"][1] == pytest.approx(std)
    # the test split is scaled with the TRAINING split's numbers, not its own
    np.testing.assert_allclose(dset.X_test[:, 1], (ds.X_test[:, 1] - mean) / std, rtol=1e-5, atol=1e-5)
    # saved stats are applied as given (what `snnctl run` does)
    again, same = prepare(_ds(X_te, X_te, ("a", "b")), DataOptions(normalise="dataset"), stats)
    assert same == stats
    np.testing.assert_allclose(again.X_train, dset.X_test, rtol=1e-6)
    assert dataset_stats(ds.X_train) == stats
    np.testing.assert_array_equal(normalise(ds.X_test, "none"), ds.X_test)


def test_ts_pad_and_crop_and_csv_length(tmp_path):
    tr = write_ts(tmp_path / "U_TRAIN.ts", [np.array([[1.0, 2.0, 3.0]]), np.array([[4.0, 5.0]])], ["a", "b"])
    te = write_ts(tmp_path / "U_TEST.ts", [np.array([[7.0, 8.0, 9.0, 10.0]])], ["a"], classes=["a", "b"])
    with pytest.raises(HARDataError, match=r"U_TEST.ts:\d+: case 1: 4 steps, longer than length = 3"):
        load_ts_split(tr, te, length=3, length_mode="pad")
    crop = load_ts_split(tr, te, length=2, length_mode="crop")
    np.testing.assert_array_equal(crop.X_train[:, 0], [[1, 2], [4, 5]])
    np.testing.assert_array_equal(crop.X_test[0, 0], [7, 8])
    pad = load_ts_split(tr, te, length=4, length_mode="pad")
    np.testing.assert_array_equal(pad.X_train[:, 0], [[1, 2, 3, 3], [4, 5, 5, 5]])
    csv = tmp_path / "d.csv"
    csv.write_text("window,label,t,v,split\nw,a,0,0,train\nw,a,1,6,train\nu,b,0,1,test\nu,b,1,2,test\nu,b,2,3,test\n")
    with pytest.raises(HARDataError, match=r"\[data\] length = 2 \(--length 2"):
        load_csv(csv)
    ds = load_csv(csv, length=3)
    np.testing.assert_array_equal(ds.X_train[0, 0], [0, 3, 6])  # 2 steps stretched to 3: the midpoint added
    np.testing.assert_array_equal(ds.X_test[0, 0], [1, 2, 3])


def test_data_options_refuse_bad_values():
    with pytest.raises(HARDataError, match="length must be an integer >= 2"):
        DataOptions(length=1)
    with pytest.raises(HARDataError, match="length_mode must be one of"):
        DataOptions(length=5, length_mode="stretch")
    with pytest.raises(HARDataError, match="normalise must be one of"):
        DataOptions(normalise="minmax")
    assert DataOptions(length=5, nan="hold").loader_options() == {"length": 5, "length_mode": "resample", "nan": "hold"}


# -- through `snnctl train` / `snnctl run` -----------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:
    """The toy HAR data (3 classes, 2 channels, 30 steps; tests/test_har_experiment.py) as .ts files."""
    root = tmp_path_factory.mktemp("opts")
    data = root / "data"
    arrays = {}
    for split, n, seed in (("TRAIN", 6, 0), ("TEST", 4, 1)):
        x, labels = _synthetic(n, seed)
        write_ts(data / f"Toy_{split}.ts", x, labels, problem_name="Toy", classes=["c0", "c1", "c2"])
        arrays[split] = (x, np.array([int(lb[1]) for lb in labels]))
    return {"root": root, "data": data, "arrays": arrays}


def _train(toy: dict, name: str, extra_toml: str = "", flags: tuple[str, ...] = ()) -> Path:
    cfg = toy["root"] / f"{name}.toml"
    text = FAST.replace("rate_hz = 10.0\n", "") if "rate_hz" in extra_toml else FAST
    cfg.write_text(text.replace("[data]", f"[data]\npath = {str(toy['data'])!r}\n{extra_toml}"))
    out = toy["root"] / name
    assert main(["train", str(cfg), "--out", str(out), "--quiet", *flags]) == 0
    return out


def _meta(out: Path) -> dict:
    from snnctl.snnfile import load

    return load(out / "best.snn").meta


KEYS = [  # (name, [data] lines, the same as flags)
    ("length", "length = 20", ("--length", "20")),
    ("crop", 'length = 20\nlength_mode = "crop"', ("--length", "20", "--length-mode", "crop")),
    ("channels", 'channels = ["1"]', ("--channels", "1")),
    ("normalise", 'normalise = "dataset"', ("--normalise", "dataset")),
    ("rate", "rate_hz = 20.0", ("--rate-hz", "20")),
]


@pytest.mark.parametrize(("name", "toml", "flags"), KEYS, ids=[k[0] for k in KEYS])
def test_each_key_works_from_the_config_and_as_a_flag(toy, name, toml, flags):
    """The config key and the flag give the same network, and the network records the option."""
    by_key = _train(toy, f"{name}_key", toml)
    by_flag = _train(toy, f"{name}_flag", "", flags)
    assert (by_key / "best.snn").read_bytes() == (by_flag / "best.snn").read_bytes()
    meta = _meta(by_key)
    x_tr = toy["arrays"]["TRAIN"][0]
    if name in ("length", "crop"):
        assert meta["window_samples"] == 20 and meta["data"]["length"] == 20
        assert meta["data"]["length_mode"] == ("crop" if name == "crop" else "resample")
    elif name == "channels":
        assert meta["channels"] == ["c1"] and meta["data"]["channels"] == ["1"]
    elif name == "normalise":
        assert meta["data"]["stats"]["mean"] == pytest.approx(x_tr.mean(axis=(0, 2)), rel=1e-5)
        assert meta["data"]["stats"]["std"] == pytest.approx(x_tr.std(axis=(0, 2)), rel=1e-5)
    else:
        assert meta["rate_hz"] == 20.0


def _run(toy: dict, out: Path, *flags: str, capsys) -> tuple[int, str, str]:
    cfg = toy["root"] / "run.toml"
    cfg.write_text(FAST.replace("[data]", f"[data]\npath = {str(toy['data'])!r}"))
    capsys.readouterr()
    code = main(["run", str(cfg), "--controller", str(out / "best.snn"), "--json", *flags])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _accuracy(out: Path, X: np.ndarray, y: np.ndarray) -> float:
    """The network's accuracy on windows prepared here (the truth a run must reproduce)."""
    from evolve.har import evaluate
    from snnctl.controllers.l2mu import L2MUSpec
    from snnctl.snnfile import load

    net = load(out / "best.snn")
    pred = evaluate(net, L2MUSpec(**net.meta["l2mu_spec"]), X.astype(np.float32)).predictions
    return float(np.mean(pred == y))


def test_run_refuses_another_window_length_and_resamples_when_told(toy, capsys):
    out = toy["root"] / "length_key"  # trained on the 30-step windows resampled to 20 (test above)
    if not (out / "best.snn").is_file():
        out = _train(toy, "length_key", "length = 20")
    code, _, err = _run(toy, out, capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1  # one line
    assert "Toy: windows of 30 steps, but" in err and "trained on 20-step windows" in err
    assert "--length 20" in err
    code, res, _ = _run(toy, out, "--length", "20", capsys=capsys)
    assert code == 0
    x, y = toy["arrays"]["TEST"]
    pos = np.arange(20) * 29 / 19  # np.interp of every channel of every window: the independent resampling
    x20 = np.array([[np.interp(pos, np.arange(30), ch) for ch in w] for w in x])
    assert json.loads(res)["accuracy"] == _accuracy(out, x20, y)


def test_run_repeats_the_trained_normalisation_and_channels(toy, capsys):
    norm = toy["root"] / "normalise_key"
    if not (norm / "best.snn").is_file():
        norm = _train(toy, "normalise_key", 'normalise = "dataset"')
    code, _, err = _run(toy, norm, capsys=capsys)
    assert code == 2 and 'trained with [data] normalise = "dataset"' in err and "--normalise dataset" in err
    code, res, _ = _run(toy, norm, "--normalise", "dataset", capsys=capsys)
    x_tr = toy["arrays"]["TRAIN"][0]
    mean, std = x_tr.mean(axis=(0, 2))[None, :, None], x_tr.std(axis=(0, 2))[None, :, None]
    x, y = toy["arrays"]["TEST"]
    assert code == 0 and json.loads(res)["accuracy"] == _accuracy(norm, (x - mean) / std, y)
    chan = toy["root"] / "channels_key"
    if not (chan / "best.snn").is_file():
        chan = _train(toy, "channels_key", 'channels = ["1"]')
    code, _, err = _run(toy, chan, capsys=capsys)
    assert code == 2 and "channels c0, c1, but" in err and "--channels c1" in err
    code, res, _ = _run(toy, chan, "--channels", "c1", capsys=capsys)
    assert code == 0 and json.loads(res)["accuracy"] == _accuracy(chan, x[:, 1:2], y)
    rate = toy["root"] / "rate_key"
    if not (rate / "best.snn").is_file():
        rate = _train(toy, "rate_key", "rate_hz = 20.0")
    code, _, err = _run(toy, rate, capsys=capsys)
    assert code == 2 and "sampled at 10 Hz, but" in err and "--rate-hz 20" in err


def test_auto_normalisation_takes_the_mode_whose_readout_generalises_on_the_training_split(toy):
    """Two trainings, one per candidate; the choice is the higher leave-one-out accuracy (ties: none)."""
    import tomllib

    from evolve.har import spec_params
    from evolve.har_experiment import SCHEMA, load_data, rate_of, resolve_auto_normalisation
    from snnctl.config import load_config

    cfg_path = toy["root"] / "auto.toml"
    cfg_path.write_text(FAST.replace("[data]", f'[data]\npath = {str(toy["data"])!r}\nnormalise = "auto"'))
    cfg = load_config(cfg_path, SCHEMA)
    loo = {}
    for mode in ("none", "series"):
        trial = {**cfg, "data": {**cfg["data"], "normalise": mode}}
        ds = load_data(trial)
        spec, params = spec_params(len(ds.channels), len(ds.classes), rate_of(ds, trial), cfg["model"],
                                   ds.X_train.shape[2])  # fmt: skip
        loo[mode] = train_l2mu(spec, params, ds.X_train, ds.y_train, None, cfg["train"]["calibration_windows"],
                               cfg["model"]["state_bits"]).ridge.loo_accuracy  # fmt: skip
    want = "series" if loo["series"] > loo["none"] else "none"
    assert resolve_auto_normalisation(cfg)["data"]["normalise"] == want
    assert tomllib.loads(cfg_path.read_text())["data"]["normalise"] == "auto"  # the file is not rewritten
    from snnctl.errors import SnnctlError

    with pytest.raises(SnnctlError, match="decided by training"):
        load_data(cfg)


def test_run_of_an_auto_trained_network_repeats_its_choice(toy, capsys):
    auto = _train(toy, "normalise_auto", 'normalise = "auto"')
    chosen = _meta(auto)["data"]["normalise"]
    assert chosen in ("none", "series")
    cfg_auto = _run(toy, auto, "--normalise", "auto", capsys=capsys)
    cfg_same = _run(toy, auto, "--normalise", chosen, capsys=capsys)
    assert cfg_auto[0] == cfg_same[0] == 0 and json.loads(cfg_auto[1]) == json.loads(cfg_same[1])


def test_missing_values_from_the_config_and_the_flag(toy, capsys):
    holey = toy["root"] / "holey"
    x, labels = _synthetic(6, 0)
    x[2, 1, 5:8] = np.nan
    write_ts(holey / "Toy_TRAIN.ts", x, labels, problem_name="Toy", classes=["c0", "c1", "c2"])
    (holey / "Toy_TEST.ts").write_bytes((toy["data"] / "Toy_TEST.ts").read_bytes())
    cfg = toy["root"] / "holey.toml"
    cfg.write_text(FAST.replace("[data]", f"[data]\npath = {str(holey)!r}"))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(toy["root"] / "h0"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "case 3, channel 2, step 6: missing value" in err and '[data] nan = "interpolate" (--nan interpolate' in err
    assert main(["train", str(cfg), "--out", str(toy["root"] / "h1"), "--quiet", "--nan", "hold"]) == 0
    cfg.write_text(FAST.replace("[data]", f'[data]\npath = {str(holey)!r}\nnan = "hold"'))
    assert main(["train", str(cfg), "--out", str(toy["root"] / "h2"), "--quiet"]) == 0
    assert (toy["root"] / "h1" / "best.snn").read_bytes() == (toy["root"] / "h2" / "best.snn").read_bytes()
    assert _meta(toy["root"] / "h1")["data"]["nan"] == "hold"


def test_a_data_flag_is_refused_for_another_family(tmp_path, capsys):
    cfg = Path(__file__).resolve().parents[1] / "configs" / "blimp_pid.toml"
    assert main(["run", str(cfg), "--controller", "pid", "--length", "5"]) == 2
    assert "--length does not apply to a blimp experiment" in capsys.readouterr().err
