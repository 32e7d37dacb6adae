"""`snnctl inspect`: a .snn network file's populations, projections, totals and device memory.

The device-memory line comes from `firmware_bridge.memory` (imported in the handler).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from snnctl.cli.common import UserError
from snnctl.cli.units import describe
from snnctl.text import plural

_INSPECT_EPILOG = """\
examples:
  snnctl inspect blimp.snn           readable summary of the network
  snnctl inspect blimp.snn --json    the same as JSON (for scripts)
"""


def _cmd_inspect(args: argparse.Namespace) -> int:
    summary = inspect_summary(args.path)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


def inspect_summary(path: str) -> dict[str, Any]:
    """Load ``path`` and describe it as plain data (what ``snnctl inspect --json`` prints)."""
    import struct

    from snnctl import snnfile
    from snnctl.network import INPUT

    try:
        net = snnfile.load(path)
        with open(path, "rb") as f:
            head = f.read(6)
    except snnfile.SnnFormatError as exc:
        msg = str(exc)
        raise UserError(msg if path in msg else f"{path}: {msg}") from None
    except ValueError as exc:  # snnctl.network.NetworkError: parsed, but breaks the model's rules
        raise UserError(f"{path}: {exc}") from None
    except OSError as exc:  # missing file, a directory, no permission, ...
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    format_version = struct.unpack_from("<H", head, 4)[0]

    populations = [
        {
            "index": i,
            "name": p.name,
            "kind": p.kind.name,
            "n": p.n,
            "reset": p.reset.name,
            "refractory": int(p.refractory),
        }
        for i, p in enumerate(net.populations)
    ]
    projections = [
        {
            "index": k,
            "src": "INPUT" if q.src == INPUT else q.src,
            "dst": q.dst,
            "storage": "sparse" if q.sparse else "dense",
            "synapses": q.nnz,
            "exponent": q.exponent,
            "recurrent": q.recurrent,
            "delay": q.delay,
        }
        for k, q in enumerate(net.projections)
    ]
    outputs = [
        {"index": k, "pop": o.pop, "neuron": o.neuron, "shift": o.shift, "scale": _f32(o.scale), "zero": o.zero}
        for k, o in enumerate(net.outputs)
    ]
    return {
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "format_version": format_version,
        "name": net.meta.get("name", "") if isinstance(net.meta, dict) else "",
        "n_inputs": net.n_inputs,
        "n_outputs": net.n_outputs,
        "control_period_s": net.control_period_s,
        "units": None
        if net.units is None
        else {
            "inputs": [vars(c) | {"raw_min": None, "raw_max": None} for c in net.units.inputs],
            "outputs": [vars(c) for c in net.units.outputs],
            "lines": describe(net)[1:],
        },
        "inputs": [
            {"index": c, "scale": _f32(s), "zero": int(z)}
            for c, (s, z) in enumerate(zip(net.input_scale, net.input_zero, strict=True))
        ],
        "outputs": outputs,
        "populations": populations,
        "projections": projections,
        "totals": {"neurons": net.n_neurons, "synapses": net.n_synapses},
        "device_memory": _device_memory(net),
    }


def _f32(x: Any) -> float:
    """A float32 field as the shortest decimal that reads back to it (0.001, not 0.0010000000474974513)."""
    return float(f"{float(x):.7g}")


def _device_memory(net: Any) -> dict[str, Any]:
    """Bytes the network needs on a device, from firmware_bridge.memory (None where unavailable)."""
    try:
        from firmware_bridge.memory import device_bytes
    except ImportError as exc:
        return {"unavailable": f"firmware_bridge.memory not importable ({exc})"}
    out = {key: int(value) for key, value in device_bytes(net).items()}
    out["arena_avr_bytes"] = int(device_bytes(net, packed=True)["arena_bytes"])  # the packed layout of 8-bit builds
    return out


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable form of :func:`inspect_summary`'s result."""
    lines = [f"{s['file']}  ({s['file_bytes']} bytes, .snn format version {s['format_version']})"]
    if s["name"]:
        lines.append(f"name: {s['name']}")
    lines.append(f"inputs: {s['n_inputs']}    outputs: {s['n_outputs']}")
    period = s.get("control_period_s")
    lines.append(
        "control period: unspecified"
        if period is None
        else f"control period: {period:.6g} s ({1.0 / period:.6g} Hz), the loop rate it was made for"
    )

    lines.append("")
    lines.append("inputs (code = round(x / scale) + zero)")
    lines.append(_table(["#", "scale", "zero"], [[c["index"], f"{c['scale']:.6g}", c["zero"]] for c in s["inputs"]]))

    lines.append("")
    lines.append("populations")
    lines.append(
        _table(
            ["#", "name", "kind", "n", "reset", "refractory"],
            [[p["index"], p["name"] or "-", p["kind"], p["n"], p["reset"], p["refractory"]] for p in s["populations"]],
        )
    )

    lines.append("")
    lines.append("projections")
    if s["projections"]:
        lines.append(
            _table(
                ["#", "src->dst", "storage", "synapses", "exponent", "recurrent", "delay"],
                [
                    [
                        q["index"],
                        f"{q['src']}->{q['dst']}",
                        q["storage"],
                        q["synapses"],
                        q["exponent"],
                        "yes" if q["recurrent"] else "no",
                        q["delay"],
                    ]
                    for q in s["projections"]
                ],
            )
        )
    else:
        lines.append("  (none)")

    lines.append("")
    lines.append("outputs (x = (code - zero) * scale)")
    lines.append(
        _table(
            ["#", "pop", "neuron", "shift", "scale", "zero"],
            [[o["index"], o["pop"], o["neuron"], o["shift"], f"{o['scale']:.6g}", o["zero"]] for o in s["outputs"]],
        )
    )

    if s.get("units") is not None:
        lines.append("")
        lines.append("raw units on the device (snnctl units)")
        lines.extend(s["units"]["lines"])

    lines.append("")
    lines.append(f"totals: {plural(s['totals']['neurons'], 'neuron')}, {plural(s['totals']['synapses'], 'synapse')}")
    mem = s["device_memory"]
    if "unavailable" in mem:
        lines.append(f"device memory: {mem['unavailable']}")
    else:
        main = [k for k in ("arena_bytes", "arena_avr_bytes", "weight_bytes", "blob_bytes") if k in mem]
        rest = [k for k in mem if k not in main]
        lines.append("device memory: " + ", ".join(f"{k.removesuffix('_bytes')} {mem[k]} B" for k in main))
        if rest:
            lines.append("  arena detail: " + ", ".join(f"{k.removesuffix('_bytes')} {mem[k]} B" for k in rest))
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """Plain-text table, two-space indented; text columns left-aligned, numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]
    out = []
    for row in cells:
        out.append(
            "  "
            + "  ".join(
                c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
            ).rstrip()
        )
    return "\n".join(out)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p_inspect = sub.add_parser(
        "inspect",
        help="print a readable summary of a .snn network file",
        description="Print a .snn network file's populations, projections, totals and device memory.",
        epilog=_INSPECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_inspect.add_argument("path", metavar="NET.snn", help="network file to read")
    p_inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_inspect.set_defaults(handler=_cmd_inspect)
