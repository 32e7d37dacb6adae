"""NIR import/export (snnctl.nir_io), C header export (firmware_bridge.c_header) and their CLI commands."""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install 'snnctl[nir]')")

from snnctl.network import INPUT, Kind, Network, Output, Population, Projection, Reset  # noqa: E402
from snnctl.nir_io import STORED_KEY, NirExportError, NirImportError, export_nir, import_nir, nir_to_float  # noqa: E402
from snnctl.quantize import quantize  # noqa: E402
from snnctl.reference import FloatNetwork, FloatOutput, FloatPopulation, FloatProjection, simulate  # noqa: E402
from snnctl.runtime import run  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402

DT = 1e-3
N_IN, N_H, N_OUT = 3, 12, 2


def _cuba_graph(seed: int = 1) -> nir.NIRGraph:
    """Input -> Affine -> CubaLIF -> Linear -> LI -> Output, NIR parameters in physical units."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([N_IN])),
            "fc1": nir.Affine(weight=rng.normal(0, 1.0, (N_H, N_IN)), bias=rng.normal(0.1, 0.2, N_H)),
            "lif": nir.CubaLIF(
                tau_syn=rng.uniform(4e-3, 8e-3, N_H),
                tau_mem=rng.uniform(8e-3, 20e-3, N_H),
                r=np.full(N_H, 12.0),
                v_leak=rng.normal(0, 0.05, N_H),
                v_threshold=rng.uniform(0.8, 1.2, N_H),
                w_in=np.full(N_H, 4.0),
            ),
            "fc2": nir.Linear(weight=rng.normal(0, 0.5, (N_OUT, N_H))),
            "li": nir.LI(tau=np.array([20e-3, 35e-3]), r=np.array([20.0, 10.0]), v_leak=np.array([0.0, 0.1])),
            "out": nir.Output(output_type=np.array([N_OUT])),
        },
        edges=[("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "li"), ("li", "out")],
    )


def _nir_euler(g: nir.NIRGraph, x: np.ndarray, dt: float) -> np.ndarray:
    """Independent simulation of _cuba_graph from NIR's ODEs, forward Euler with the current first:

    I[t] = I + dt/tau_syn (-I + w_in (W1 x + b1));  v[t] = v + dt/tau_mem (v_leak - v + r I[t]);
    z = v > v_threshold -> v = 0;  LI: v2[t] = v2 + dt/tau (v_leak - v2 + r W2 z).
    """
    n = g.nodes
    fc1, lif, fc2, li = n["fc1"], n["lif"], n["fc2"], n["li"]
    i_syn = np.zeros(N_H)
    v = np.zeros(N_H)
    v2 = np.zeros(N_OUT)
    out = np.zeros((len(x), N_OUT))
    for t in range(len(x)):
        drive = fc1.weight @ x[t] + fc1.bias
        i_syn = i_syn + dt / lif.tau_syn * (-i_syn + lif.w_in * drive)
        v = v + dt / lif.tau_mem * (lif.v_leak - v + lif.r * i_syn)
        z = v > lif.v_threshold
        v[z] = 0.0
        v2 = v2 + dt / li.tau * (li.v_leak - v2 + li.r * (fc2.weight @ z.astype(float)))
        out[t] = v2
    return out


def _test_input(steps: int = 600, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat(rng.uniform(-0.9, 0.9, (steps // 20, N_IN)), 20, axis=0)


def test_cuba_chain_matches_independent_euler_simulation() -> None:
    g = _cuba_graph()
    x = _test_input()
    want = _nir_euler(g, x, DT)
    # the mapping itself: the float reference network reproduces NIR's discretised ODEs
    fnet, _ = nir_to_float(g, DT, affine_bias="neuron")
    np.testing.assert_allclose(simulate(fnet, x).outputs, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
    # the integer network: within what the quantiser reports for this input
    net, report = import_nir(g, DT, affine_bias="neuron", test=x)
    got = net.dequantize_outputs(run(net, net.quantize_inputs(x)))
    err = np.abs(got - want).max(axis=0)
    assert np.all(err <= report.max_abs_error + 1e-9 * np.abs(want).max()), (err, report.max_abs_error)
    assert np.all(report.rel_rms_error < 0.03), str(report)
    assert any("no calibration input" in note for note in report.notes)
    assert "no calibration input" in str(report)


def test_affine_bias_mapping_on_v_vs_neuron() -> None:
    """Affine bias into a current with memory: 'v' is exact in the steady state, 'neuron' always."""
    rng = np.random.default_rng(4)
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([2])),
            "fc": nir.Affine(weight=rng.normal(0, 1, (3, 2)), bias=np.array([0.5, -0.2, 0.3])),
            "cli": nir.CubaLI(
                tau_syn=np.full(3, 5e-3),
                tau_mem=np.full(3, 10e-3),
                r=np.full(3, 10.0),
                v_leak=np.zeros(3),
                w_in=np.full(3, 5.0),
            ),
            "out": nir.Output(output_type=np.array([3])),
        },
        edges=[("in", "fc"), ("fc", "cli"), ("cli", "out")],
    )
    x = np.full((400, 2), 0.3)
    fc, cli = g.nodes["fc"], g.nodes["cli"]
    i_syn, v, want = np.zeros(3), np.zeros(3), np.zeros((400, 3))
    for t in range(400):
        i_syn = i_syn + DT / cli.tau_syn * (-i_syn + cli.w_in * (fc.weight @ x[t] + fc.bias))
        v = v + DT / cli.tau_mem * (cli.v_leak - v + cli.r * i_syn)
        want[t] = v
    exact, notes = nir_to_float(g, DT, affine_bias="neuron")
    assert exact.populations[0].name == "affine_bias" and not any("steady state" in n for n in notes)
    np.testing.assert_allclose(simulate(exact, x).outputs, want, rtol=1e-9, atol=1e-12)
    on_v, notes = nir_to_float(g, DT)
    assert any("steady state" in n for n in notes)
    got = simulate(on_v, x).outputs
    assert np.abs(got[:5] - want[:5]).max() > 1e-3  # the transient differs ...
    np.testing.assert_allclose(got[-50:], want[-50:], rtol=1e-6)  # ... the steady state does not


def test_lif_bias_mapping_is_exact() -> None:
    """LIF has no current memory: the Affine bias on v is exact at every step."""
    rng = np.random.default_rng(3)
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([2])),
            "fc": nir.Affine(weight=rng.normal(0, 1, (5, 2)), bias=rng.normal(0, 0.3, 5)),
            "lif": nir.LIF(tau=np.full(5, 0.01), r=np.full(5, 10.0), v_leak=np.zeros(5), v_threshold=np.ones(5)),
            "ro": nir.Linear(weight=rng.normal(0, 1, (2, 5))),
            "out": nir.Output(output_type=np.array([2])),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "ro"), ("ro", "out")],
    )
    x = rng.uniform(-1, 1, (300, 2))
    fnet, notes = nir_to_float(g, DT)
    assert not any("steady state" in n for n in notes)
    fc, lif, ro = g.nodes["fc"], g.nodes["lif"], g.nodes["ro"]
    v = np.zeros(5)
    want = np.zeros((300, 2))
    for t in range(300):
        v = v + DT / lif.tau * (lif.v_leak - v + lif.r * (fc.weight @ x[t] + fc.bias))
        z = v > lif.v_threshold
        v[z] = 0
        want[t] = ro.weight @ z  # Linear -> Output: a memoryless read-out of the spikes
    np.testing.assert_allclose(simulate(fnet, x).outputs, want, atol=1e-9)


def test_unsupported_node_is_named() -> None:
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([2])),
            "gain": nir.Scale(scale=np.array([2.0, 3.0])),
            "lif": nir.LIF(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2)),
            "out": nir.Output(output_type=np.array([2])),
        },
        edges=[("in", "gain"), ("gain", "lif"), ("lif", "out")],
    )
    with pytest.raises(NirImportError, match=r"node 'gain' \(nir\.Scale\) is not supported"):
        import_nir(g, DT)


def test_shape_mismatch_and_bad_parameters_are_named() -> None:
    g = _cuba_graph()
    g.nodes["fc2"] = nir.Linear(weight=np.ones((N_OUT, N_H + 1)))
    with pytest.raises(NirImportError, match=r"shape mismatch: node 'fc2' takes 13 inputs, its source 'lif'"):
        import_nir(g, DT)
    g = _cuba_graph()
    with pytest.raises(NirImportError, match=r"node 'lif' \(nir\.CubaLIF\): tau_syn = .* shorter than dt"):
        import_nir(g, 0.01)
    g = _cuba_graph()
    g.nodes["lif"].v_reset = np.full(N_H, 0.5)
    with pytest.raises(NirImportError, match=r"node 'lif' \(nir\.CubaLIF\): v_reset must be 0"):
        import_nir(g, DT)


def _int_net() -> Network:
    """A quantised CUBA-LIF hidden layer (with a recurrent projection) and an LI read-out."""
    rng = np.random.default_rng(11)
    fnet = FloatNetwork(
        2,
        [
            FloatPopulation(
                Kind.LIF, 10, tau_syn=5e-3, tau_mem=rng.uniform(1e-2, 3e-2, 10), bias=0.05, threshold=1.0, name="hidden"
            ),
            FloatPopulation(Kind.LI, 3, tau_syn=None, tau_mem=2e-2, bias=[0.0, 0.1, -0.1], name="readout"),
        ],
        [
            FloatProjection(INPUT, 0, rng.normal(0, 0.6, (2, 10))),
            FloatProjection(0, 0, rng.normal(0, 0.1, (10, 10)), recurrent=True),
            FloatProjection(0, 1, rng.normal(0, 0.5, (10, 3))),
        ],
        [FloatOutput(1, 0), FloatOutput(1, 1), FloatOutput(1, 2)],
        DT,
    )
    cal = np.repeat(rng.uniform(-1, 1, (100, 2)), 20, axis=0)
    return quantize(fnet, cal)[0]


def test_export_import_round_trip(tmp_path) -> None:
    net = _int_net()
    path = tmp_path / "net.nir"
    graph = export_nir(net, DT)
    nir.write(str(path), graph)
    exact, report = import_nir(str(path), DT)  # the graph still says what export wrote: the stored network
    assert report.exact and to_bytes(exact) == to_bytes(net)
    del graph.metadata[STORED_KEY]  # a graph without the stored network is discretised and re-quantised
    nir.write(str(path), graph)
    back, report = import_nir(str(path), DT)  # input range and recurrence come from the file's metadata
    assert not report.exact
    assert any("stored by snnctl's export" in n for n in report.notes)
    assert [p.kind for p in back.populations] == [Kind.LIF, Kind.LI]
    assert [p.name for p in back.populations] == ["hidden", "readout"]  # kept in node metadata
    assert [q.recurrent for q in back.projections] == [False, True, False]
    for a, b in zip(net.populations, back.populations, strict=True):
        np.testing.assert_array_equal(a.du, b.du)  # decays survive exactly (forward Euler inverse)
        np.testing.assert_array_equal(a.dv, b.dv)
    x = np.repeat(np.random.default_rng(5).uniform(-1, 1, (40, 2)), 15, axis=0)
    want = net.dequantize_outputs(run(net, net.quantize_inputs(x)))
    got = back.dequantize_outputs(run(back, back.quantize_inputs(x)))
    # Re-quantisation picks new state scales and re-rounds the int8 weights (<= 0.5/64 of the
    # largest weight each), so a few spikes may move by a step; each moved spike changes the LI
    # read-out by at most one weight. Tolerance: 5 % of the output peak.
    peak = np.abs(want).max()
    assert np.abs(got - want).max() <= 0.05 * peak, (np.abs(got - want).max(), peak)


def test_export_refuses_what_nir_cannot_express() -> None:
    delta = Network(
        1,
        [Population(Kind.DELTA, 2, name="enc"), Population(Kind.LI, 1)],
        [Projection(INPUT, 0, np.ones((1, 2), np.int8)), Projection(0, 1, np.ones((2, 1), np.int8))],
        [Output(1, 0)],
    )
    with pytest.raises(NirExportError, match=r"population 0 'enc': kind DELTA"):
        export_nir(delta, DT)
    spiking_out = _int_net()
    spiking_out.outputs[1] = Output(0, 3)
    with pytest.raises(NirExportError, match=r"output 1: reads the membrane of LIF population 0"):
        export_nir(spiking_out, DT)


def _snntorch_nir(path) -> None:
    """An snnTorch model (Linear -> RLeaky -> Linear -> Synaptic) written as NIR by snnTorch's own exporter."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[bench]')")
    snn = pytest.importorskip("snntorch", reason="snntorch is not installed (pip install -e '.[bench]')")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 8)
            self.rec = snn.RLeaky(
                beta=torch.full((8,), 0.9), threshold=torch.ones(8), linear_features=8, init_hidden=True
            )
            self.fc2 = torch.nn.Linear(8, 3)
            self.out = snn.Synaptic(
                alpha=torch.full((3,), 0.8),
                beta=torch.full((3,), 0.9),
                threshold=torch.ones(3),
                init_hidden=True,
                output=True,
            )

        def forward(self, x):
            return self.out(self.fc2(self.rec(self.fc1(x))))

    # snnTorch 1.0 + nir 1.0.8 export per-neuron parameters and unbatched sample data only
    nir.write(str(path), export_to_nir(Model(), torch.randn(4)))


@pytest.fixture(scope="module")
def snntorch_snn(tmp_path_factory):
    """The snnTorch model through `snnctl import` (the CLI, dt = 1e-4 s as snnTorch's export assumes;
    --reset soft: its neurons subtract the threshold, snnTorch's default)."""
    from snnctl import snnfile
    from snnctl.cli import main

    tmp = tmp_path_factory.mktemp("snntorch")
    _snntorch_nir(tmp / "snntorch.nir")
    assert main(["import", str(tmp / "snntorch.nir"), "-o", str(tmp / "snntorch.snn"), "--dt", "1e-4",
                 "--reset", "soft"]) == 0  # fmt: skip
    return snnfile.load(tmp / "snntorch.snn")


def test_snntorch_export_imports_and_runs(tmp_path) -> None:
    _snntorch_nir(tmp_path / "snntorch.nir")
    net, report = import_nir(str(tmp_path / "snntorch.nir"), 1e-4)  # snnTorch's export assumes dt = 1e-4 s
    names = [p.name for p in net.populations]
    assert names[:2] == ["rec.lif", "out"] and net.n_inputs == 4 and net.n_outputs == 3
    assert any(q.recurrent and q.src == q.dst == 0 for q in net.projections)
    x = np.random.default_rng(0).uniform(-1, 1, (300, 4))
    out = run(net, net.quantize_inputs(x))
    assert out.shape == (300, 3)
    assert report.spikes_int[0] > 0  # the hidden layer is active
    assert net.control_period_s == 1e-4  # the time step is recorded in the network (.snn `ctrl`)


def test_the_reset_nir_does_not_record_is_the_importers_choice_and_said(tmp_path) -> None:
    """snnTorch writes no reset mode into NIR (its neurons subtract by default): NIR's v_reset rule
    applies unless the import is told otherwise, and the report names the nodes and the option."""
    _snntorch_nir(tmp_path / "snntorch.nir")
    hard, hard_report = import_nir(str(tmp_path / "snntorch.nir"), 1e-4)
    soft, soft_report = import_nir(str(tmp_path / "snntorch.nir"), 1e-4, reset="soft")
    assert [p.reset for p in hard.populations if p.kind == Kind.LIF] == [Reset.HARD] * 2
    assert [p.reset for p in soft.populations if p.kind == Kind.LIF] == [Reset.SOFT] * 2
    (note,) = [n for n in hard_report.notes if "reset mode" in n]
    assert note.startswith("2 spiking nodes do not say their reset mode (out and rec.lif)") and "--reset soft" in note
    assert "--reset soft given" in next(n for n in soft_report.notes if "reset mode" in n)
    # the two differ exactly where a neuron fires: same weights, same state until the first spike
    x = np.random.default_rng(1).uniform(-1, 1, (400, 4))
    assert all(np.array_equal(a.weights, b.weights) for a, b in zip(hard.projections, soft.projections, strict=True))
    assert not np.array_equal(run(hard, hard.quantize_inputs(x)), run(soft, soft.quantize_inputs(x)))
    with pytest.raises(NirImportError, match="reset must be 'hard' or 'soft'"):
        import_nir(str(tmp_path / "snntorch.nir"), 1e-4, reset="subtract")


def _fits(board, net) -> bool:
    from firmware_bridge.memory import device_bytes

    mem = device_bytes(net)
    return (mem["blob_bytes"] <= board.max_blob_bytes and mem["arena_bytes"] <= board.arena_bytes
            and net.n_neurons <= board.max_neurons)  # fmt: skip


# the POSIX host device and the Cortex-M3 image under QEMU; the atmega328p's 208-byte upload slot is
# smaller than this network's file (the test asserts that the network fits each board it runs on)
@pytest.mark.parametrize("board", ["host", "lm3s6965evb"])
def test_snntorch_model_runs_bit_identical_on_the_board(board, snntorch_snn) -> None:
    """snnTorch -> NIR -> snnctl -> board: every step's output codes (the output layer's spikes, read
    out exactly) and spike and synapse counts equal the in-process numba run."""
    pytest.importorskip("serial")
    from firmware_bridge import boards
    from firmware_bridge.device import Device
    from firmware_bridge.emulators import start_emulator
    from tests.optional_tools import require_board

    net = snntorch_snn
    assert _fits(boards.get(board), net)
    require_board(board)
    x = np.random.default_rng(4).uniform(-1, 1, (1200, net.n_inputs))
    codes = net.quantize_inputs(x)
    ref_out, ref_counts = run(net, codes, counts=True)
    assert np.count_nonzero(ref_out) > 50 and ref_counts[:, 0].sum() > 200  # spikes reach the outputs
    with start_emulator(board) as emu, Device(emu.url, timeout=0.5, retries=2) as dev:
        dev.hello()
        ni = dev.deploy(net)
        assert (ni.loaded, ni.blob_crc32) == (True, network_crc(to_bytes(net)))
        steps = [dev.step(c, counts=True) for c in codes[:200]]
        np.testing.assert_array_equal(np.array([r.outputs for r in steps]), ref_out[:200])
        np.testing.assert_array_equal(np.array([(r.spikes, r.synops) for r in steps]), ref_counts[:200])
        np.testing.assert_array_equal(dev.run(codes[200:]), ref_out[200:])  # streamed, the state carried on


# -- C header ---------------------------------------------------------------------------------------

C_MAIN = r"""
#include <stdio.h>
#include "snn.h"
#include "tiny.h"

static uint32_t arena[TINY_ARENA_WORDS];

int main(void)
{
    snn_net_t net;
    int16_t in[TINY_N_INPUTS], out[TINY_N_OUTPUTS];
    unsigned k;
    int32_t rc = snn_load(&net, tiny_snn, tiny_snn_len, (uint8_t *)arena, (uint32_t)sizeof arena);
    if (rc != SNN_OK || net.arena_bytes != TINY_ARENA_BYTES || net.n_neurons != TINY_N_NEURONS) {
        fprintf(stderr, "load: %s, arena %lu\n", snn_error_name(rc), (unsigned long)net.arena_bytes);
        return 1;
    }
    for (;;) {
        for (k = 0; k < TINY_N_INPUTS; k++) {
            int c = scanf("%hd", &in[k]);
            if (c != 1) return 0;
        }
        snn_step(&net, in, out);
        for (k = 0; k < TINY_N_OUTPUTS; k++) printf("%d ", out[k]);
        printf("\n");
    }
}
"""


def test_c_header_compiles_and_matches_runtime(tmp_path) -> None:
    from firmware_bridge.build import BASE_FLAGS, CORE_DIR, RELEASE_FLAGS, compiler_command
    from firmware_bridge.c_header import to_c_header
    from firmware_bridge.memory import device_bytes

    try:
        cc = compiler_command()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    net = _int_net()
    header = to_c_header(net, "tiny")
    assert f"#define TINY_ARENA_BYTES {device_bytes(net)['arena_bytes']}u" in header
    assert "static const uint8_t tiny_snn[" in header and "static const uint32_t tiny_snn_len" in header
    (tmp_path / "tiny.h").write_text(header)
    (tmp_path / "main.c").write_text(C_MAIN)
    exe = tmp_path / "tiny"
    cmd = [
        *cc,
        *BASE_FLAGS,
        *RELEASE_FLAGS,
        "-I",
        str(CORE_DIR),
        "-I",
        str(tmp_path),
        str(tmp_path / "main.c"),
        *map(str, sorted(CORE_DIR.glob("*.c"))),
        "-o",
        str(exe),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    x = np.repeat(np.random.default_rng(2).uniform(-1, 1, (10, 2)), 10, axis=0)
    codes = net.quantize_inputs(x)
    stdin = "\n".join(" ".join(str(int(c)) for c in row) for row in codes) + "\n"
    res = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr
    got = np.array([[int(v) for v in line.split()] for line in res.stdout.splitlines()])
    np.testing.assert_array_equal(got, run(net, codes))


def test_c_header_rejects_bad_names() -> None:
    from firmware_bridge.c_header import to_c_header

    with pytest.raises(ValueError, match="not a C identifier"):
        to_c_header(_int_net(), "9lives")


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_import_export(tmp_path, capsys) -> None:
    from snnctl import snnfile
    from snnctl.cli import main

    model = tmp_path / "cuba.nir"
    nir.write(str(model), _cuba_graph())
    cal = tmp_path / "cal.npy"
    np.save(cal, _test_input())
    out = tmp_path / "cuba.snn"
    assert main(["import", str(model), "-o", str(out), "--dt", "1e-3", "--calibration", str(cal)]) == 0
    text = capsys.readouterr().out
    assert "quantisation report" in text and "forward Euler" in text and "no calibration" not in text
    net = snnfile.load(out)
    assert net.n_inputs == N_IN and net.n_outputs == N_OUT

    exported = tmp_path / "back.nir"
    assert main(["export", str(out), "--nir", str(exported)]) == 0  # dt recorded in the .snn
    assert isinstance(nir.read(str(exported)), nir.NIRGraph)
    header = tmp_path / "cuba.h"
    assert main(["export", str(out), "--c-header", str(header), "--name", "cuba"]) == 0
    assert "cuba_snn_len" in header.read_text()
    capsys.readouterr()

    bad = tmp_path / "bad.nir"
    g = _cuba_graph()
    g.nodes["thr"] = nir.Threshold(threshold=np.ones(N_OUT))
    g.edges.append(("li", "thr"))
    nir.write(str(bad), g)
    assert main(["import", str(bad), "-o", str(tmp_path / "bad.snn")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snnctl: error:") and "'thr' (nir.Threshold)" in err and "\n" not in err


def test_cli_without_nir_says_how_to_install(tmp_path, capsys) -> None:
    code = (
        "import sys; sys.modules['nir'] = None\n"
        "from snnctl.cli import main\n"
        f"raise SystemExit(main(['import', {str(tmp_path / 'x.nir')!r}, '-o', {str(tmp_path / 'x.snn')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "snnctl: error: the 'nir' package is not installed: pip install 'snnctl[nir]'"


# -- metadata and delays from any producer -------------------------------------------------------------


def _meta_graph(lif_meta: dict, delay_s: float = 3e-3) -> nir.NIRGraph:
    """Input -> Linear -> LIF (with snnctl metadata) -> Delay -> Linear -> LI -> Output, dt = 1e-3 s."""
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([2])),
            "fc1": nir.Linear(weight=np.array([[1.0, 0.5], [0.2, -1.0]])),
            "lif": nir.LIF(
                tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2), metadata=lif_meta
            ),  # fmt: skip
            "late": nir.Delay(delay=np.full(2, delay_s)),
            "fc2": nir.Linear(weight=np.array([[0.5, 0.5]])),
            "li": nir.LI(tau=np.array([0.02]), r=np.array([20.0]), v_leak=np.array([0.0])),
            "out": nir.Output(output_type=np.array([1])),
        },
        edges=[("in", "fc1"), ("fc1", "lif"), ("lif", "late"), ("late", "fc2"), ("fc2", "li"), ("li", "out")],
    )


def test_metadata_keys_and_delays_map_onto_the_model() -> None:
    meta = {"snnctl_reset": "soft", "snnctl_refractory": 2, "snnctl_adapt_tau": 0.05, "snnctl_adapt_step": 0.25}
    fnet, _ = nir_to_float(_meta_graph(meta), DT)
    lif = fnet.populations[0]
    assert (lif.kind, lif.reset, lif.refractory, lif.adapt_step) == (Kind.ALIF, Reset.SOFT, 2, 0.25)
    # forward Euler: the adaptation keeps 1 - dt/tau_a per step, i.e. exp(-dt/tau) = 1 - 0.02
    assert np.exp(-DT / lif.tau_adapt) == pytest.approx(1 - DT / 0.05)
    assert [(q.src, q.dst, q.delay, q.recurrent) for q in fnet.projections][1] == (0, 1, 3, False)
    net, _ = import_nir(_meta_graph(meta), DT)
    assert net.populations[0].da == round(4096 * DT / 0.05) and net.projections[1].delay == 3
    after = _meta_graph({})  # the Delay after the Linear (on its output) is the same delay
    after.nodes["late"] = nir.Delay(delay=np.full(1, 3e-3))
    after.edges = [("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "late"), ("late", "li"), ("li", "out")]
    assert nir_to_float(after, DT)[0].projections[1].delay == 3
    plain, _ = nir_to_float(_meta_graph({}), DT)  # without metadata: NIR's own LIF
    assert (plain.populations[0].kind, plain.populations[0].reset, plain.populations[0].refractory) == (
        Kind.LIF, Reset.HARD, 0)  # fmt: skip


@pytest.mark.parametrize(
    ("meta", "delay_s", "match"),
    [
        ({"snnctl_reset": "zero"}, 3e-3, r"node 'lif' \(nir.LIF\): metadata snnctl_reset = 'zero'"),
        ({"snnctl_refractory": 16}, 3e-3, r"snnctl_refractory = 16; expected 0..15"),
        ({"snnctl_adapt_tau": 0.05}, 3e-3, r"snnctl_adapt_tau > 0 seconds .* and snnctl_adapt_step"),
        ({}, 2.5e-3, r"node 'late' \(nir.Delay\): delays must be whole multiples of dt"),
        ({}, 20e-3, r"node 'late' \(nir.Delay\): .* 0..15 steps"),
    ],
)
def test_bad_metadata_and_delays_are_named(meta, delay_s, match) -> None:
    with pytest.raises(NirImportError, match=match):
        nir_to_float(_meta_graph(meta, delay_s), DT)
