"""`snnctl import` and `snnctl export`: NIR interchange and C headers.

`snnctl.cli.build_parser` calls `add_parsers(sub)`. Handlers import what they need lazily and
turn user mistakes into `UserError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from snnctl.cli.common import UserError, load_network
from snnctl.text import plural

_IMPORT_EPILOG = """\
examples:
  snnctl import model.nir -o net.snn                    dt from the file's snnctl metadata, else 1e-4 s
  snnctl import model.nir -o net.snn --dt 1e-3 --calibration cal.npy

NIR is continuous-time: the graph is discretised with forward Euler at --dt (snnTorch exports
assume dt = 1e-4 s), then quantised. --calibration is a .npy array (T, n_inputs) of typical
inputs; without it a deterministic random input over [-1, 1] per channel is used (or the range
an snnctl export stored) and the report says so. A graph `snnctl export --nir` wrote, unchanged,
gives back its network bit for bit (nothing re-quantised; the report says so, or lists what
changed). Needs the nir package: pip install 'snnctl[nir]'.
"""

_EXPORT_EPILOG = """\
examples:
  snnctl export net.snn --nir net.nir                   dt: the time step net.snn records
  snnctl export net.snn --nir net.nir --dt 1e-3
  snnctl export net.snn --c-header net.h --name blimp

--nir writes a NIR graph (real units; soft reset, ALIF adaptation and refractory steps as
documented node metadata, delays as nir.Delay; needs pip install 'snnctl[nir]'). --c-header writes the
.snn blob as `static const uint8_t NAME_snn[]` plus NAME_snn_len and size macros, for compiling
the network into flash and calling snn_load on it.
"""

DEFAULT_DT = 1e-4  # snnTorch's export_to_nir convention


def _need_nir() -> Any:
    from snnctl.nir_io import require_nir

    try:
        return require_nir()
    except ImportError:
        raise UserError("the 'nir' package is not installed: pip install 'snnctl[nir]'") from None


def _check_dt(dt: float | None) -> None:
    import math

    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise UserError(f"--dt must be a positive number of seconds, got {dt}")


def _cmd_import(args: argparse.Namespace) -> int:
    _check_dt(args.dt)
    _need_nir()
    import numpy as np

    from snnctl import snnfile
    from snnctl.nir_io import NirImportError, graph_hints, import_nir, read_graph

    if not os.path.isfile(args.model):
        raise UserError(f"{args.model}: no such file")
    calibration = None
    if args.calibration is not None:
        try:
            calibration = np.load(args.calibration, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{args.calibration}: cannot read as .npy ({exc})") from None
        if not np.issubdtype(calibration.dtype, np.number):
            raise UserError(f"{args.calibration}: expected a numeric array (T, n_inputs), got {calibration.dtype}")
    try:
        graph = read_graph(args.model)
        dt = args.dt if args.dt is not None else graph_hints(graph).get("dt", DEFAULT_DT)
        net, report = import_nir(graph, dt, calibration=calibration, seed=args.seed, affine_bias=args.affine_bias,
                                 reset=args.reset)  # fmt: skip
    except NirImportError as exc:
        raise UserError(f"{args.model}: {exc}") from None
    except ValueError as exc:  # NetworkError from a malformed calibration array
        raise UserError(str(exc)) from None
    if not report.exact:  # the stored network of an snnctl export is written back byte for byte
        net.meta.setdefault("name", os.path.splitext(os.path.basename(args.model))[0])
    try:
        snnfile.save(net, args.output)
    except OSError as exc:
        raise UserError(f"{args.output}: {exc.strerror or exc}") from None
    print(report)
    step = f"dt = {dt:g} s" + ("" if net.control_period_s is not None else ", not recordable in .snn")
    print(f"wrote {args.output} ({plural(net.n_neurons, 'neuron')}, {step})")
    return 0


def _recorded_time_step(net: Any) -> float:
    """The time step a network file records: its `ctrl` section, else (older files) meta `dt` / `nir_dt`; 0 if none."""
    if net.control_period_s is not None:
        return float(net.control_period_s)
    try:
        return float(net.meta.get("dt", net.meta.get("nir_dt", 0)) or 0)
    except (TypeError, ValueError):
        return 0.0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.nir is None and args.c_header is None:
        raise UserError("give --nir OUT.nir or --c-header OUT.h (or both)")
    _check_dt(args.dt)
    net = load_network(args.path)[0]
    if args.nir is not None:
        nir = _need_nir()
        from snnctl.nir_io import NirExportError, export_nir

        dt = args.dt if args.dt is not None else _recorded_time_step(net)
        if not dt:
            raise UserError(f"{args.path} does not record its time step: give --dt SECONDS")
        try:
            graph = export_nir(net, dt)
        except NirExportError as exc:
            raise UserError(f"{args.path}: {exc}") from None
        try:
            nir.write(args.nir, graph)
        except OSError as exc:
            raise UserError(f"{args.nir}: {exc.strerror or exc}") from None
        print(f"wrote {args.nir} (dt = {dt:g} s)")
    if args.c_header is not None:
        from firmware_bridge.c_header import c_identifier, to_c_header

        name = args.name or os.path.splitext(os.path.basename(args.c_header))[0].replace("-", "_")
        try:
            c_identifier(name)
        except ValueError as exc:
            raise UserError(f"--name: {exc}") from None
        text = to_c_header(net, name)
        try:
            with open(args.c_header, "w", encoding="ascii") as f:
                f.write(text)
        except OSError as exc:
            raise UserError(f"{args.c_header}: {exc.strerror or exc}") from None
        print(f"wrote {args.c_header} ({name}_snn, {plural(net.n_neurons, 'neuron')})")
    return 0


def add_parsers(sub: Any) -> None:
    """Add the `import` and `export` subcommands to `snnctl`'s subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p_imp = sub.add_parser(
        "import",
        help="import a NIR graph (.nir) as an integer network (.snn)",
        description="Discretise and quantise a NIR graph into an integer .snn network; prints the quantisation report.",
        epilog=_IMPORT_EPILOG,
        formatter_class=fmt,
    )
    p_imp.add_argument("model", metavar="MODEL.nir", help="NIR file to read")
    p_imp.add_argument("-o", "--output", required=True, metavar="NET.snn", help="network file to write")
    p_imp.add_argument(
        "--dt",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time step (default: the file's snnctl_dt metadata, else {DEFAULT_DT:g})",
    )
    p_imp.add_argument("--calibration", metavar="FILE.npy", help="calibration inputs, array (T, n_inputs)")
    p_imp.add_argument("--seed", type=int, default=0, help="seed of the generated calibration input (default 0)")
    p_imp.add_argument(
        "--affine-bias",
        choices=("v", "neuron"),
        default="v",
        help="Affine bias into a CubaLIF current: 'v' adds it to the membrane bias (exact in the steady state;"
        " default), 'neuron' drives it from an always-firing neuron (exact, one extra neuron)",
    )
    p_imp.add_argument(
        "--reset",
        choices=("hard", "soft"),
        default=None,
        help="reset of spiking nodes whose file does not say it (NIR has no field for it): 'soft' subtracts the"
        " threshold, as snnTorch's Leaky/Synaptic do by default; default: NIR's v = v_reset (hard)",
    )
    p_imp.set_defaults(handler=_cmd_import)

    p_exp = sub.add_parser(
        "export",
        help="export a .snn network as NIR or as a C header",
        description="Write a .snn network as a NIR graph (--nir) and/or a C header holding its blob (--c-header).",
        epilog=_EXPORT_EPILOG,
        formatter_class=fmt,
    )
    p_exp.add_argument("path", metavar="NET.snn", help="network file to read")
    p_exp.add_argument("--nir", metavar="OUT.nir", help="write a NIR graph")
    p_exp.add_argument(
        "--dt",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time step the NIR graph is for (default: the time step NET.snn records)",
    )
    p_exp.add_argument("--c-header", metavar="OUT.h", help="write a C header with the .snn blob")
    p_exp.add_argument("--name", metavar="NAME", help="C identifier prefix (default: OUT.h's file name)")
    p_exp.set_defaults(handler=_cmd_export)
