"""`snnctl plot`: what any `.snn` network does on given inputs — inputs, spike raster, membrane traces, outputs.

The figure is `snnctl.network_plot.network_figure` (the integer runtime's own trace). Inputs are
a `.npy` of int16 codes or a CSV of real values (as `snnctl device run` takes), or `--random T`:
a smooth seeded signal (low-pass filtered noise) of T steps. The figure is built without pyplot.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from snnctl.cli.common import UserError, load_network, read_inputs
from snnctl.network_plot import network_figure, random_codes

_EPILOG = """\
examples:
  snnctl plot runs/blimp_pid/best.snn --random 300 -o blimp.png       a smooth random input, 300 steps
  snnctl plot net.snn --inputs codes.npy -o net.png --neurons 0,5,12    membrane traces of these neurons
  snnctl plot net.snn --inputs errors.csv -o net.png                    real values, quantised by the network

Panels: the inputs (real values), the spike raster (populations named), the membrane potential v
of up to 6 neurons (--neurons; default: the busiest neuron of each spiking population) with their
thresholds dashed, the outputs (real values). Time is in seconds when the network records its
control period, else in steps.
"""


def _neuron_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected neuron indices like 0,5,12, got {text!r}") from None


def _cmd_plot(args: argparse.Namespace) -> int:
    net, _ = load_network(args.path)
    if args.inputs is not None:
        codes, _ = read_inputs(args.inputs, net)
        if codes.shape[1] != net.n_inputs:
            raise UserError(f"{args.inputs}: {codes.shape[1]} input columns, {args.path} takes {net.n_inputs}")
        if codes.shape[0] == 0:
            raise UserError(f"{args.inputs}: no input rows")
    else:
        if args.random < 1:
            raise UserError(f"--random takes a number of steps >= 1, got {args.random}")
        codes = random_codes(net, args.random, args.seed, args.amplitude)
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise UserError(f"{args.output}: write a .png, .pdf or .svg")
    try:
        fig, tr = network_figure(net, codes, args.neurons, title=os.path.basename(args.path))
    except ValueError as exc:  # --neurons outside the network
        raise UserError(str(exc)) from None
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise UserError(f"{args.output}: {exc.strerror or exc}") from None
    print(f"wrote {out}: {codes.shape[0]} steps, {int(tr.spikes.sum())} spikes in {net.n_neurons} neurons")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="raster, membrane and output traces of a .snn network on given or random inputs",
        description="Run a network from reset on inputs and draw its inputs, spikes, membranes and outputs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="NET.snn", help="the network")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--inputs", metavar="FILE", help=".npy int16 codes (T, n_inputs) or CSV of real values")
    src.add_argument("--random", type=int, metavar="T", help="a smooth random input of T steps")
    p.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    p.add_argument("--amplitude", type=float, default=0.3, metavar="A",
                   help="peak of --random in the network's input units (default 0.3)")  # fmt: skip
    p.add_argument("--neurons", type=_neuron_list, metavar="I,J,...",
                   help="neurons whose membrane to draw (default: the busiest of each spiking population)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="image to write (.png, .pdf, .svg)")
    p.set_defaults(handler=_cmd_plot)
