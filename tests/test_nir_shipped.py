"""The three shipped networks (blimp, swimmer, HAR) through NIR: export -> import gives the network back
bit for bit, and the graph alone, read as NIR's ODEs with the documented snnctl metadata, computes what
the integer network computes (the view a foreign tool gets).

Each network is made by the project's own code path, from its shipped config: the blimp's
`evolve.blimp.export_network` (configs/blimp_pid.toml, and the paper's ALIF variant), the swimmer's
`evolve.swimmer.export_controller` (configs/swimmer_ncap.toml), the HAR network's
`evolve.har.train_l2mu` (configs/har_l2mu.toml, synthetic IMU-like windows).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install 'snnctl[nir]')")

from snnctl import snnfile  # noqa: E402
from snnctl.cli import main  # noqa: E402
from snnctl.config import load_config  # noqa: E402
from snnctl.network import Kind, Network, Reset  # noqa: E402
from snnctl.nir_io import STORED_KEY, export_nir, import_nir  # noqa: E402
from snnctl.runtime import run  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _blimp(tmp: Path, adaptive: bool) -> Path:
    from evolve.blimp import export_network
    from evolve.blimp_experiment import SCHEMA
    from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec

    cfg = load_config(CONFIGS / "blimp_pid.toml", SCHEMA)
    codec = BlimpSNNCodec(BlimpSNNSpec(**{**cfg["network"], "i_adaptive": adaptive}))
    out = tmp / ("blimp_alif" if adaptive else "blimp")
    out.mkdir()
    genome = codec.initial_genome.copy()  # the PID-derived start of evolution (in range: no 24-bit saturation)
    if adaptive:  # whose adaptation starts at 0: give it the middle of its range
        gene = codec.layout.genes["i.a_step"]
        codec.layout.put(genome, "i.a_step", (gene.low + gene.high) / 2)
    return export_network(codec, genome, out, control_period_s=1.0 / cfg["env"]["control_rate_hz"])


def _swimmer(tmp: Path) -> Path:
    from evolve.swimmer import export_controller, make_codec
    from evolve.swimmer_experiment import SCHEMA

    cfg = load_config(CONFIGS / "swimmer_ncap.toml", SCHEMA)
    codec = make_codec("ncap", cfg["controller"], cfg["env"]["n_links"])
    lo, hi = codec.layout.bounds.T
    genome = np.random.default_rng(3).uniform(lo, hi)  # an evolved-looking genome, not the start point
    out = tmp / "swimmer"
    out.mkdir()
    return export_controller(codec, genome, out, control_period_s=0.04)  # Swimmer-v5: 4 frames of 0.01 s


def _har(tmp: Path) -> Path:
    from evolve.har import spec_params, train_l2mu
    from evolve.har_experiment import SCHEMA

    cfg = load_config(CONFIGS / "har_l2mu.toml", SCHEMA)
    rng = np.random.default_rng(0)
    n, c, t, rate = 12, 6, 30, 10.0  # BasicMotions' shape: 6 channels, 4 classes, 10 Hz
    y = np.arange(n) % 4
    tt = np.arange(t) / rate
    x = np.sin(2 * np.pi * (0.3 + 0.2 * y)[:, None, None] * tt + rng.uniform(0, 6, (n, c, 1)))
    x = x * (1 + y)[:, None, None] + rng.normal(0, 0.1, (n, c, t))
    spec, params = spec_params(c, 4, rate, cfg["model"])
    tr = train_l2mu(spec, params, x, y, calibration_windows=4, state_bits=cfg["model"]["state_bits"])
    assert tr.net.control_period_s == pytest.approx(spec.step_s)  # the HAR network records its time step
    return snnfile.save(tr.net, tmp / "har.snn")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("shipped")
    return {
        "blimp": _blimp(tmp, False),
        "blimp_alif": _blimp(tmp, True),
        "swimmer": _swimmer(tmp),
        "har": _har(tmp),
    }


NETWORKS = ("blimp", "blimp_alif", "swimmer", "har")


def test_the_shipped_networks_use_what_nir_lacks(shipped) -> None:
    """The point of the mapping: soft reset everywhere, ALIF in the HAR net and the paper's blimp, delays in HAR."""
    nets = {k: snnfile.load(p) for k, p in shipped.items()}
    for net in nets.values():
        assert net.control_period_s is not None
        assert any(p.reset == Reset.SOFT for p in net.populations)
    assert any(p.kind == Kind.ALIF and p.a_step > 0 for p in nets["blimp_alif"].populations)
    assert any(p.kind == Kind.ALIF for p in nets["har"].populations)
    assert any(q.delay for q in nets["har"].projections)
    assert len({o.pop for o in nets["blimp"].outputs}) == 2  # PD and I read-outs: two Output nodes
    assert any(q.recurrent for q in nets["swimmer"].projections)


@pytest.mark.parametrize("name", NETWORKS)
def test_round_trip_through_nir_files_is_bit_identical(shipped, name, tmp_path, capsys) -> None:
    path = shipped[name]
    nir_path, back = tmp_path / f"{name}.nir", tmp_path / f"{name}.snn"
    assert main(["export", str(path), "--nir", str(nir_path)]) == 0  # no --dt: the file records its step
    assert main(["import", str(nir_path), "-o", str(back)]) == 0  # no --dt: the graph records it
    text = capsys.readouterr().out
    assert "bit-identical" in text and "quantisation report" not in text
    assert back.read_bytes() == path.read_bytes()


def test_an_edited_graph_is_requantised_and_the_report_names_the_edit(shipped, tmp_path) -> None:
    net = snnfile.load(shipped["blimp"])
    graph = export_nir(net, net.control_period_s)
    graph.nodes["w2"].weight = graph.nodes["w2"].weight * 1.5  # e.g. fine-tuned elsewhere
    nir.write(str(tmp_path / "edited.nir"), graph)
    back, report = import_nir(str(tmp_path / "edited.nir"), net.control_period_s)
    assert not report.exact
    assert report.changes[0].startswith("node 'w2' (nir.Linear) weight: 24 of 24 values differ")
    assert any(c.startswith("integer network vs the stored one:") for c in report.changes)
    assert "changed: node 'w2'" in str(report)
    assert [p.reset for p in back.populations].count(Reset.SOFT) == 3  # the metadata still holds


def test_another_dt_is_not_the_stored_network(shipped) -> None:
    """The taus were written for the export's dt; at another dt they mean other decays."""
    net = snnfile.load(shipped["swimmer"])
    _, report = import_nir(export_nir(net, net.control_period_s), net.control_period_s / 2)
    assert not report.exact and any("tau" in c or "r:" in c for c in report.changes)


# -- the foreign view: the graph's NIR ODEs (plus documented metadata), simulated independently -----------


def _meta(node, key, default=None):
    value = (node.metadata or {}).get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def _nir_simulate(graph, x: np.ndarray, dt: float) -> np.ndarray:
    """NIR's ODEs with forward Euler, the current first, read from the graph alone (no snnctl code).

    CubaLIF: I += dt/tau_syn (-I + w_in s); v += dt/tau_mem (v_leak - v + r I). LIF: v += dt/tau
    (v_leak - v + r s). IF: v += dt r s. Spike when v >= v_threshold + a (snnctl's convention; NIR
    writes >, equal only on ties), then v = v_reset, or v -= threshold with `snnctl_reset` = soft;
    `snnctl_adapt_tau`/`snnctl_adapt_step`: a += dt/tau_a (-a) + step z; `snnctl_refractory`:
    silent steps. Populations update in graph order; an edge from a node not yet updated this step
    (a cycle) reads its previous spikes; a Delay of k dt reads spikes k steps back.
    """
    nodes, edges = graph.nodes, graph.edges
    neuron_types = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I")
    order = [k for k, n in nodes.items() if type(n).__name__ in neuron_types]
    size = {k: len(np.atleast_1d(nodes[k].r)) for k in order}
    preds = {k: [a for a, b in edges if b == k] for k in nodes}
    state = {k: {"I": np.zeros(size[k]), "v": np.zeros(size[k]), "a": np.zeros(size[k]),
                 "ref": np.zeros(size[k], int)} for k in order}  # fmt: skip
    spikes = {k: [np.zeros(size[k])] * 20 for k in order}  # newest last; before t = 0: silent
    outs = [k for k, n in nodes.items() if type(n).__name__ == "Output"]
    result = []

    def signal(src: str, done: set, t_x: np.ndarray) -> np.ndarray:
        node, kind = nodes[src], type(nodes[src]).__name__
        if kind == "Input":
            return t_x
        if kind == "Delay":
            (up,) = preds[src]
            k = int(round(float(np.atleast_1d(node.delay)[0]) / dt))
            # -1 is this step's spikes once `up` is done, else the last step's: a cycle adds that step
            return spikes[up][-1 - k]
        if kind == "Linear":
            return sum(node.weight @ signal(p, done, t_x) for p in preds[src])
        return spikes[src][-1]  # this step's if done, else (a cycle) the last step's

    for t in range(len(x)):
        done: set = set()
        for k in order:
            n, s, kind = nodes[k], state[k], type(nodes[k]).__name__
            drive = sum(signal(p, done, x[t]) for p in preds[k])
            if kind in ("CubaLIF", "CubaLI"):
                s["I"] = s["I"] + dt / n.tau_syn * (-s["I"] + n.w_in * drive)
                s_v = s["v"] + dt / n.tau_mem * (n.v_leak - s["v"] + n.r * s["I"])
            elif kind in ("LIF", "LI"):
                s_v = s["v"] + dt / n.tau * (n.v_leak - s["v"] + n.r * drive)
            else:
                s_v = s["v"] + dt * n.r * drive
            z = np.zeros(size[k])
            if kind in ("LIF", "CubaLIF", "IF"):
                quiet = s["ref"] > 0
                s_v = np.where(quiet, s["v"], s_v)  # refractory: v frozen
                th = n.v_threshold + s["a"]
                z = (~quiet & (s_v >= th)).astype(float)
                soft = _meta(n, "snnctl_reset") == "soft"
                s_v = np.where(z > 0, s_v - th if soft else n.v_reset, s_v)
                s["ref"] = np.where(quiet, s["ref"] - 1, np.where(z > 0, int(_meta(n, "snnctl_refractory", 0)), 0))
                tau_a = _meta(n, "snnctl_adapt_tau")
                if tau_a is not None:
                    s["a"] = s["a"] - dt / float(tau_a) * s["a"] + float(_meta(n, "snnctl_adapt_step")) * z
            s["v"] = s_v
            spikes[k] = [*spikes[k][1:], z]
            done.add(k)
        row = []
        for o in sorted(outs):
            (src,) = preds[o]
            if type(nodes[src]).__name__ == "Linear":
                (feeder,) = preds[src]
                row.append(nodes[src].weight @ state[feeder]["v"])
            else:
                row.append(state[src]["v"])
        result.append(np.concatenate(row))
    return np.array(result)


def _drive(net: Network, steps: int, seed: int) -> np.ndarray:
    """Slow random walks over 80 % of each input channel's range."""
    walk = np.cumsum(np.random.default_rng(seed).normal(0, 0.04, (steps, net.n_inputs)), axis=0)
    return np.clip(walk, -0.8, 0.8) * np.asarray(net.input_scale, dtype=np.float64) * 32767


@pytest.mark.parametrize("name", NETWORKS)
def test_the_graph_alone_computes_the_integer_network(shipped, name) -> None:
    """What a tool that implements the documented metadata gets: the integer network's outputs, up to
    the integer floors (a spike may move by a step) — checked as the error relative to the peak."""
    net = snnfile.load(shipped[name])
    dt = net.control_period_s
    graph = export_nir(net, dt)
    del graph.metadata[STORED_KEY]
    x = _drive(net, 400, 1)
    want = net.dequantize_outputs(run(net, net.quantize_inputs(x)))
    lim = np.array([[-32768 * o.scale, 32767 * o.scale] for o in net.outputs])
    got = np.clip(_nir_simulate(graph, x, dt), lim[:, 0], lim[:, 1])  # the integer codes saturate there
    peak = np.abs(want).max()
    assert peak > 0
    rms = np.sqrt(np.mean((got - want) ** 2, axis=0))
    assert np.all(rms <= 0.01 * peak), (rms, peak)


def test_nearest_standard_model_loses_the_soft_reset(shipped) -> None:
    """Without the metadata (a tool that ignores it) the HAR network's sigma-delta encoders (no leak, soft
    reset) reset to 0 and lose what they carried over the threshold: another network."""
    net = snnfile.load(shipped["har"])
    dt = net.control_period_s
    graph = export_nir(net, dt)
    plain = nir.NIRGraph(
        nodes={k: dataclasses.replace(n, metadata={}) for k, n in graph.nodes.items()}, edges=graph.edges
    )
    x = _drive(net, 300, 2)
    want = net.dequantize_outputs(run(net, net.quantize_inputs(x)))
    err = [np.sqrt(np.mean((_nir_simulate(g, x, dt) - want) ** 2)) for g in (graph, plain)]
    assert err[1] > 5 * err[0], err
