"""What a network does on given inputs, drawn: inputs, spike raster by population, membrane traces, outputs.

The network is run from reset by the integer runtime (`run_trace`: every neuron's spikes and state
after each step), so the picture is what the deployed network does, bit for bit. Used by
`snnctl plot` and by the experiments' own raster plots. matplotlib without pyplot, imported lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_TRACES", "network_figure", "pick_neurons", "random_codes"]

MAX_TRACES = 6


def random_codes(net: Any, steps: int, seed: int = 0, amplitude: float = 0.3) -> Any:
    """A smooth random input of `steps` steps (int16 codes): low-pass filtered Gaussian noise.

    `amplitude` is in the network's input units for the first input's scale (for a network without
    scales, codes); each input is drawn independently. Smooth, so the traces read like a sensor signal.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps + 50, net.n_inputs))
    k = np.exp(-np.arange(30) / 8.0)
    smooth = np.stack([np.convolve(x[:, i], k, mode="full")[50 : 50 + steps] for i in range(net.n_inputs)], axis=1)
    smooth /= max(float(np.abs(smooth).max()), 1e-12)
    return net.quantize_inputs(smooth * amplitude)


def pick_neurons(net: Any, spikes: Any, neurons: list[int] | None) -> list[int]:
    """The neurons whose membrane is drawn: those asked for (checked), else up to 6 spiking ones.

    By default the most active neuron of each spiking population (the LI readouts show in the
    outputs panel), then the next most active neurons, so every population that fires is seen.
    """
    import numpy as np

    from snnctl.network import Kind

    n = net.n_neurons
    if neurons is not None:
        bad = [i for i in neurons if not 0 <= i < n]
        if bad:
            raise ValueError(f"--neurons {','.join(map(str, bad))}: the network has neurons 0..{n - 1}")
        return neurons
    counts = spikes.sum(axis=0, dtype=np.int64)
    off = net.offsets()
    firing = [p for p, pop in enumerate(net.populations) if pop.kind in (Kind.LIF, Kind.ALIF)]
    firsts = [int(off[p] + np.argmax(counts[off[p] : off[p + 1]])) for p in firing]
    firsts.sort(key=lambda i: -counts[i])
    spiking = [i for p in firing for i in range(off[p], off[p + 1])]
    rest = sorted((i for i in spiking if i not in firsts), key=lambda i: -counts[i])
    return sorted((firsts + rest)[:MAX_TRACES])


def network_figure(net: Any, codes: Any, neurons: list[int] | None = None, title: str | None = None):
    """(Figure, Trace): the network run from reset on `codes` (T, n_inputs) and the four panels drawn."""
    import numpy as np
    from matplotlib.figure import Figure

    from snnctl.runtime import run_trace

    tr = run_trace(net, codes)
    steps = codes.shape[0]
    dt = net.control_period_s
    t = np.arange(steps) * dt if dt else np.arange(steps)
    xlabel = "time (s)" if dt else "step"
    off = net.offsets()
    names = [p.name or f"pop {i}" for i, p in enumerate(net.populations)]
    shown = pick_neurons(net, tr.spikes, neurons)
    theta = np.concatenate([p.theta for p in net.populations])

    fig = Figure(figsize=(10, 9))
    ax_in, ax_s, ax_v, ax_out = fig.subplots(4, 1, sharex=True, height_ratios=[1, 2, 1.4, 1])
    x = (codes - net.input_zero) * net.input_scale
    for i in range(net.n_inputs):
        ax_in.plot(t, x[:, i], lw=1.0, label=f"input {i}")
    ax_in.set_ylabel("input")
    ax_in.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    k, i = np.nonzero(tr.spikes)
    ax_s.scatter(t[k], i, s=6, c="k", marker="|", linewidths=0.7)
    for a in off[1:-1]:
        ax_s.axhline(a - 0.5, color="0.75", lw=0.6)
    ax_s.set_yticks([(a + b - 1) / 2 for a, b in zip(off[:-1], off[1:], strict=True)], names, fontsize=7)
    ax_s.set_ylim(-0.5, net.n_neurons - 0.5)
    ax_s.invert_yaxis()
    ax_s.set_title(f"spikes: {int(tr.spikes.sum())} in {net.n_neurons} neurons over {steps} steps", fontsize=9)
    for j in shown:
        (line,) = ax_v.plot(t, tr.v[:, j], lw=0.9, label=f"neuron {j}")
        ax_v.axhline(theta[j], color=line.get_color(), lw=0.6, ls="--")
    ax_v.set_ylabel("membrane v")
    ax_v.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    y = net.dequantize_outputs(tr.outputs)
    for j in range(net.n_outputs):
        ax_out.plot(t, y[:, j], lw=1.0, label=f"output {j}")
    ax_out.set_ylabel("output")
    ax_out.set_xlabel(xlabel)
    ax_out.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.suptitle(title or "network", fontsize=10)
    fig.tight_layout()
    return fig, tr
