"""`snnctl plot`: the picture shows what the network does, checked against the plain-Python executor.

The figure's raster points, membrane lines and output lines must equal the spikes, `v` and outputs
of `tests/intmodel_py.py` (a third, independent executor of docs/integer-model.md) on the same
inputs; the command writes a real PNG; bad input is one line and exit status 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from snnctl import cli, snnfile
from snnctl.controllers.ncap import NCAPCodec, NCAPSpec
from snnctl.network_plot import network_figure, random_codes
from tests.intmodel_py import simulate
from tests.plot_checks import assert_labels_inside, assert_legends_off_the_axes


@pytest.fixture(scope="module")
def net():
    codec = NCAPCodec(NCAPSpec(n_joints=2))
    n = codec.decode(codec.initial_genome)
    n.control_period_s = 0.04
    return n


def test_figure_shows_the_integer_model(net):
    codes = random_codes(net, 120, seed=4)
    ref = simulate(net, codes.tolist())
    spikes = np.array(ref["spikes"])
    fig, _ = network_figure(net, codes, neurons=[0, 3, 9])
    ax_in, ax_s, ax_v, ax_out = fig.axes
    t = np.arange(120) * 0.04
    k, i = np.nonzero(spikes)
    pts = ax_s.collections[0].get_offsets()
    assert spikes.sum() > 0 and len(pts) == spikes.sum()
    np.testing.assert_allclose(pts, np.column_stack([t[k], i]))
    v = np.array(ref["v"])
    lines = [ln for ln in ax_v.get_lines() if ln.get_label().startswith("neuron")]
    assert [ln.get_label() for ln in lines] == ["neuron 0", "neuron 3", "neuron 9"]
    for ln, j in zip(lines, [0, 3, 9], strict=True):
        np.testing.assert_array_equal(ln.get_ydata(), v[:, j])
    out = net.dequantize_outputs(np.array(ref["outputs"]))
    for j, ln in enumerate(ax_out.get_lines()):
        np.testing.assert_allclose(ln.get_ydata(), out[:, j])
    np.testing.assert_allclose(ax_in.get_lines()[0].get_xdata(), t)
    assert assert_legends_off_the_axes(fig) == 3  # inputs, membranes, outputs: beside the data, not on it
    assert_labels_inside(fig)


def test_default_traces_are_spiking_neurons(net):
    fig, _ = network_figure(net, random_codes(net, 100))
    shown = [int(ln.get_label().split()[1]) for ln in fig.axes[2].get_lines() if ln.get_label().startswith("neuron")]
    kinds = np.concatenate([[p.kind.name] * p.n for p in net.populations])
    assert 0 < len(shown) <= 6 and all(kinds[j] in ("LIF", "ALIF") for j in shown)


def test_cli_writes_a_png(net, tmp_path, capsys):
    path = tmp_path / "net.snn"
    snnfile.save(net, path)
    codes = random_codes(net, 80, seed=1)
    np.save(tmp_path / "codes.npy", codes)
    x = (codes - net.input_zero) * net.input_scale
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b", comments="")
    for src in (["--inputs", str(tmp_path / "codes.npy")], ["--inputs", str(tmp_path / "x.csv")], ["--random", "50"]):
        out = tmp_path / "out.png"
        out.unlink(missing_ok=True)
        assert cli.main(["plot", str(path), *src, "-o", str(out)]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--random", "0"], "--random takes a number of steps >= 1, got 0"),
        (["--random", "10", "--neurons", "0,999"], "--neurons 999: the network has neurons 0..37"),
        (["--inputs", "WRONG"], "3 input columns"),
        (["--random", "10", "-o", "x.txt"], "x.txt: write a .png, .pdf or .svg"),
    ],
)
def test_bad_input_is_one_line(net, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    snnfile.save(net, tmp_path / "net.snn")
    np.save(tmp_path / "wrong.npy", np.zeros((5, 3), np.int16))
    extra = [str(tmp_path / "wrong.npy") if a == "WRONG" else a for a in extra]
    argv = ["plot", "net.snn", *extra] + ([] if "-o" in extra else ["-o", "out.png"])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("snnctl: error: ") and message in err
    assert cli.main(["plot", "missing.snn", "--random", "5", "-o", "o.png"]) == 2
    assert "missing.snn" in capsys.readouterr().err
