"""`snnctl bench firmware`: the blimp-shaped network on the emulated boards.

For lm3s6965evb (Cortex-M3 under QEMU with `-icount shift=7`, so every guest instruction takes
exactly 128 ns of virtual time): image flash and RAM, the network's blob and arena bytes,
instructions per STEP (from the device's cycle counter, deterministic under icount) and the
host <-> device round trip per STEP. For the host virtual device: the round trip and the step time.
Round trips are stop-and-wait (one STEP, wait for its reply), median over `steps`. The boards
measured are those of `firmware_bridge.boards` that can run the benchmark ("bench-firmware"),
boards with instruction counting first. The 2 KB atmega328p cannot hold that network; it is measured
on the 66-neuron blimp controller compiled into its flash (`avr_blimp_bench`): CPU cycles per step.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from firmware_bridge import boards as _boards

# lm3s6965evb then host: the boards that count instructions first (the headline column)
BOARDS = tuple(sorted(_boards.names("bench-firmware"), key=lambda b: _boards.get(b).icount_shift is None))


def _measure(board: str, net, codes: np.ndarray, steps: int) -> dict:
    from .device import Device
    from .emulators import start_emulator

    with start_emulator(board) as emu, Device(emu.url, timeout=1.0) as dev:
        info = dev.hello()
        ni = dev.deploy(net)
        dev.reset()
        cycles = []
        for k in range(min(steps, len(codes))):  # per-step cost, from the device's own counter
            cycles.append(dev.step(codes[k], counts=True).cycles or 0)
        rtts = []
        for k in range(steps):
            t0 = time.perf_counter()
            dev.step(codes[k % len(codes)])
            rtts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dev.run(codes[:steps], window=8)
        pipelined = (time.perf_counter() - t0) / steps
    res = {
        "board": info.name,
        "firmware": info.firmware_version,
        "net_blob_bytes": ni.blob_bytes,
        "net_arena_bytes": ni.arena_used,
        "round_trip_ms": round(1e3 * statistics.median(rtts), 4),
        "round_trip_p99_ms": round(1e3 * float(np.percentile(rtts, 99)), 4),
        "pipelined_step_ms": round(1e3 * pipelined, 4),
        "tick_hz": info.tick_hz,
    }
    if info.tick_hz:
        seconds = [c / info.tick_hz for c in cycles]
        res["device_step_us"] = round(1e6 * statistics.median(seconds), 3)
        spec = _boards.get(board)
        if spec.icount_shift is not None:
            ins = [spec.instructions(s) for s in seconds]
            res["instructions_per_step"] = int(round(statistics.median(ins)))
            res["instructions_per_step_min"] = int(round(min(ins)))
            res["instructions_per_step_max"] = int(round(max(ins)))
    return res


# The 8-bit board of the second table: it cannot hold the 160-neuron network, but runs the 66-neuron
# blimp controller compiled into flash (packed arena, docs/firmware-boards.md §2-§3).
AVR_BOARD = "atmega328p"


def avr_blimp_bench(steps: int = 500) -> dict:
    """The 66-neuron blimp controller (`snnctl evolve configs/blimp_pid.toml`'s starting network, the
    shape it exports) compiled into the atmega328p's flash under simavr: CPU cycles per STEP from the
    board's Timer1 (F_CPU cycles, deterministic under simavr but for timer interrupts landing inside
    the step), image flash and RAM, the painted stack headroom after the run."""
    from snnctl.controllers.blimp_snn import default_network
    from snnctl.snnfile import to_bytes

    from . import build
    from .device import Device
    from .emulators import start_emulator

    net = default_network()
    blob = to_bytes(net)
    t = np.arange(max(steps, 1))
    codes = np.clip(np.rint(1500 * np.sin(t / 30) + 200 * np.sin(t / 7)), -32768, 32767).astype(np.int16)[:, None]
    with start_emulator(AVR_BOARD, network=blob) as emu, Device(emu.url, timeout=5.0) as dev:
        info = dev.hello()
        ni = dev.netinfo()
        dev.reset()
        cycles = [dev.step(codes[k], counts=True).cycles or 0 for k in range(len(codes))]
        free_ram = dev.hello().free_ram
    sizes = build.firmware_size(build.build_firmware(AVR_BOARD, network=blob))
    return {
        "board": info.name,
        "network": "snnctl.controllers.blimp_snn.default_network()",
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "net_blob_bytes": len(blob),
        "net_arena_bytes": ni.arena_used,
        "cycles_per_step": int(statistics.median(cycles)),
        "cycles_per_step_min": int(min(cycles)),
        "cycles_per_step_max": int(max(cycles)),
        "device_step_us": round(1e6 * statistics.median(cycles) / info.tick_hz, 1),
        "flash_bytes": sizes["flash"],
        "ram_bytes": sizes["ram"],
        "free_ram_bytes": free_ram,
        "steps": len(codes),
    }


def firmware_bench(steps: int = 500, progress: bool = True) -> dict:
    """Measure every board whose tools are installed; missing ones are listed under `skipped`."""
    from snnctl.models import blimp_shaped_network
    from snnctl.progress import progress_bar

    from . import build
    from .emulators import available_boards
    from .memory import device_bytes

    net = blimp_shaped_network()
    mem = device_bytes(net)
    codes = np.random.default_rng(0).integers(-600, 600, (max(steps, 1), 1)).astype(np.int16)
    avail = available_boards()
    out: dict = {
        "network": "blimp_shaped_network()",
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "net_blob_bytes": mem["blob_bytes"],
        "net_arena_bytes": mem["arena_bytes"],
        "steps": steps,
        "boards": {},
        "skipped": {b: f"apt-get install {avail[b]}" for b in BOARDS if avail.get(b)},
    }
    present = [b for b in BOARDS if not avail.get(b)]
    avr = not avail.get(AVR_BOARD)
    if not avr:
        out["skipped"][AVR_BOARD] = f"apt-get install {avail[AVR_BOARD]}"
    with progress_bar(progress, len(present) + avr, "boards (build, emulate, measure)", "board") as bar:
        for board in present:
            bar.set_postfix_str(board)
            res = _measure(board, net, codes, steps)
            if _boards.get(board).flash_bytes is not None:  # a chip: report its image
                sizes = build.firmware_size(build.build_firmware(board))
                res.update(flash_bytes=sizes["flash"], ram_bytes=sizes["ram"], text_bytes=sizes["text"],
                           data_bytes=sizes["data"], bss_bytes=sizes["bss"])  # fmt: skip
            out["boards"][board] = res
            bar.update(1)
        if avr:
            bar.set_postfix_str(f"{AVR_BOARD} (66 neurons)")
            out["avr_blimp"] = avr_blimp_bench(steps)
            bar.update(1)
    arm = out["boards"].get(BOARDS[0], {})  # the top-level keys: the first instruction-counting board
    for key in ("flash_bytes", "ram_bytes", "instructions_per_step", "round_trip_ms"):
        out[key] = arm.get(key)
    out["host_round_trip_ms"] = out["boards"].get("host", {}).get("round_trip_ms")
    return out


def format_bench(r: dict) -> str:
    lines = [f"blimp-shaped network: {r['neurons']} neurons, {r['synapses']} synapses, "
             f"blob {r['net_blob_bytes']} B, arena {r['net_arena_bytes']} B"]  # fmt: skip
    rows = [
        ("flash (image)", "flash_bytes", "B"),
        ("RAM (data+bss, before stack)", "ram_bytes", "B"),
        ("instructions per step (median)", "instructions_per_step", ""),
        ("device time per step (QEMU: virtual)", "device_step_us", "us"),
        ("round trip per step (median)", "round_trip_ms", "ms"),
        ("round trip p99", "round_trip_p99_ms", "ms"),
        ("pipelined, per step (window 8)", "pipelined_step_ms", "ms"),
    ]
    boards = list(r["boards"])
    if boards:
        width = max(len(x[0]) for x in rows)
        lines.append("")
        lines.append("  " + "".ljust(width) + "".join(f"  {b:>14}" for b in boards))
        for label, key, unit in rows:
            cells = []
            for b in boards:
                v = r["boards"][b].get(key)
                cells.append(f"{'-' if v is None else f'{v} {unit}'.strip():>14}")
            lines.append("  " + label.ljust(width) + "".join(f"  {c}" for c in cells))
        for b in boards:
            spec = _boards.get(b)
            if spec.icount_shift is not None:
                lines.append("")
                lines.append(f"  {b} under QEMU -icount shift={spec.icount_shift}: instruction counts are exact;"
                             " times are QEMU's, not silicon's")  # fmt: skip
    a = r.get("avr_blimp")
    if a:
        lines.append("")
        lines.append(f"{a['board']}, the {a['neurons']}-neuron blimp controller ({a['synapses']} synapses) compiled"
                     f" into flash: blob {a['net_blob_bytes']} B, packed arena {a['net_arena_bytes']} B")  # fmt: skip
        lines.append(f"  CPU cycles per step (Timer1, median; min / max): {a['cycles_per_step']:,}"
                     f" ({a['cycles_per_step_min']:,} / {a['cycles_per_step_max']:,}), {a['device_step_us']:,} us at"
                     " 16 MHz")  # fmt: skip
        lines.append(f"  image: flash {a['flash_bytes']:,} B, RAM {a['ram_bytes']:,} B before the stack;"
                     f" stack headroom {a['free_ram_bytes']} B (painted, never touched)")  # fmt: skip
    for b, why in r["skipped"].items():
        lines.append(f"  {b}: skipped (tools missing: {why})")
    return "\n".join(lines)


def run_firmware_bench(steps: int = 500, json_out: bool = False, progress: bool = True) -> dict:
    r = firmware_bench(steps, progress)
    print(json.dumps(r, indent=2) if json_out else format_bench(r))
    return r
