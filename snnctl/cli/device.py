"""`snnctl deploy`, `snnctl device` and `snnctl firmware`: a board running the snnctl firmware.

Everything of `firmware_bridge` (pyserial, the build, the emulators) is imported in the handlers,
except the board table `firmware_bridge.boards` (stdlib only), which gives the --board choices;
`DeviceError` and build failures end as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from firmware_bridge import boards
from snnctl.cli.common import UserError, load_network, print_help, read_inputs
from snnctl.text import plural

if TYPE_CHECKING:
    from firmware_bridge.flash_network import BuiltIn

_DEVICE_EPILOG = """\
examples:
  snnctl device info --port /dev/ttyUSB0            board, firmware, limits and the running network
  snnctl device info --port socket://127.0.0.1:5555 --json
  snnctl device run --port /dev/ttyUSB0 --inputs codes.npy --outputs out.npy
  snnctl device start --port /dev/ttyUSB0 --every 5        run on board from its own timer, telemetry every 5 periods
  snnctl device monitor --port /dev/ttyUSB0 --csv run.csv --plot run.png --duration 60
  snnctl device stop --port /dev/ttyUSB0                   back to host-stepped mode; prints the on-board counters

PORT is any pyserial URL: /dev/ttyUSB0, /dev/pts/N, socket://HOST:PORT, rfc2217://HOST:PORT, loop://.
"""

_DEVICE_LIST_EPILOG = """\
examples:
  snnctl device list                                   every serial port; boards that answer HELLO say what they are
  snnctl device list --port socket://127.0.0.1:5555    also probe an emulator (snnctl firmware emulate)
  snnctl device list --no-probe --json                 list only: nothing is written to any port

Probing writes one HELLO frame to each port and waits --timeout seconds for the reply. Opening a
port resets most Arduino boards (DTR), so a board may need a second or two before it answers:
raise --timeout if one shows "no snnctl firmware answered".
"""

_DEVICE_RUN_EPILOG = """\
examples:
  snnctl device run --port /dev/ttyUSB0 --inputs codes.npy --outputs out.npy
  snnctl device run --port /dev/ttyUSB0 --inputs errors.csv --net blimp.snn --outputs thrust.csv

--inputs is either a .npy array of int16 input codes, shape (T, n_inputs), which needs no network
file, or a CSV of real values, one row per step, which are quantised with --net (the .snn file
that is deployed; the device holds no float scales); with --net the outputs are de-quantised to
real values too. --outputs takes .npy or .csv. Steps run from the device's current state unless
--reset: then RESET (docs/protocol.md §3) first puts the network back in its reset state, so the
outputs equal an in-process run from reset (snnctl.run). Making codes.npy from real values:
  python -c "import numpy as np, snnctl; net = snnctl.load('blimp.snn');
             np.save('codes.npy', net.quantize_inputs(np.loadtxt('errors.csv', delimiter=',', ndmin=2)))"
"""

_DEVICE_ONBOARD_NOTES = """
On board (docs/protocol.md §8): after START the board steps the deployed network from its own timer
at the network's control period (the .snn `ctrl` section, or --period-us), reading its sensor hook
each period - on an emulated board the SENSOR frames a host sends. After --stale-limit periods
without a fresh sample it holds the network's fail-safe outputs until samples return. STEP, RESET
and deploys are refused while it runs; stop it first.
"""

_DEPLOY_EPILOG = """\
examples:
  snnctl deploy blimp.snn --port /dev/ttyUSB0
  snnctl deploy blimp.snn --port socket://127.0.0.1:5555    (an emulator: snnctl firmware emulate)

Checks the network against the device's limits before sending anything, uploads it in chunks,
commits (the device validates, then swaps it in atomically: a failed upload leaves the old network
running) and verifies the size and CRC the device reports.
"""

_FLASH_EPILOG = """\
examples:
  snnctl firmware flash --board atmega328p --port /dev/ttyACM0     Arduino Uno/Nano over its bootloader (avrdude)
  snnctl firmware flash --board lm3s6965evb                         EK-LM3S6965 over its on-board JTAG (OpenOCD)
  snnctl firmware flash --board atmega328p --port /dev/ttyUSB0 --dry-run    print the command only

The commands run (the board table, firmware_bridge/boards.py):
  avrdude -p atmega328p -c arduino -P PORT -b 115200 -D -U flash:w:IMAGE.hex:i
  openocd -f board/ek-lm3s6965.cfg -c "program {IMAGE.elf} verify reset exit"
A Nano with the old bootloader: --baud 57600; an ISP programmer: --programmer usbasp. Then deploy
a network with snnctl deploy NET.snn --port PORT.
"""

_PLATFORMIO_EPILOG = """\
examples:
  snnctl firmware platformio snn-mega                                  write the project (Arduino Mega 2560)
  snnctl firmware platformio snn-due --env due --upload --port /dev/ttyACM0    ... and build + upload it

The project: platformio.ini (envs megaatmega2560, due, bluepill_f103c8, pico, esp32dev, framework
arduino), lib/snnctl (the Arduino library, docs/firmware-boards.md section 4) and src/SnnDevice.ino
(its example: the seven board functions over Serial). --upload runs
  pio run -d DIR -e ENV -t upload [--upload-port PORT]
which needs PlatformIO Core (pip install platformio). Then: snnctl deploy NET.snn --port PORT.
"""

_FIRMWARE_EPILOG = """\
examples:
  snnctl firmware build --board lm3s6965evb    cross-compile the Cortex-M3 image, print its size
  snnctl firmware build --board host           the POSIX virtual device
  snnctl firmware build --board linux-aarch64  the same program for a 64-bit Raspberry Pi (static, cross-compiled)
  snnctl firmware build --board atmega328p --network net.snn    an Uno/Nano image with the network in flash
  snnctl firmware emulate --board atmega328p --network net.snn  ... run under simavr
  snnctl firmware emulate --board atmega328p --network net.snn --nv ee.bin    ... a START survives a power cut
  snnctl firmware build --board lm3s6965evb --network net.snn --start 100    boots running at 10 Hz, no host
  snnctl firmware emulate --board host         run a virtual device, print its serial URL
  snnctl firmware emulate --board host --nv dev.nv    ... whose deployed network survives a restart
  snnctl firmware flash --board atmega328p --port /dev/ttyACM0    write it to a real board (avrdude)
"""


def _examples_of(epilog: str, command: str) -> str:
    """A group's help text with only `command`'s example lines: a subcommand's --help shows its own."""
    keep = [ln for ln in epilog.splitlines() if not ln.startswith("  snnctl ") or ln.split()[:3] == command.split()]
    return "\n".join(keep) + "\n"


def _device_errors(fn):
    """Run a device command; DeviceError (and tool/build failures) become one-line UserErrors."""

    def wrapper(args: argparse.Namespace) -> int:
        from firmware_bridge.device import DeviceError

        try:
            return fn(args)
        except DeviceError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def _open(args: argparse.Namespace):
    from firmware_bridge.device import open_device

    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout}")
    return open_device(args.port, timeout=args.timeout, connect_timeout=max(args.timeout, args.connect_timeout))


@_device_errors
def _cmd_device_info(args: argparse.Namespace) -> int:
    from firmware_bridge.protocol import record_dict

    with _open(args) as dev:
        info, net, stats = dev.info, dev.netinfo(), dev.stats()
    if args.json:
        out = {"port": args.port, "info": record_dict(info), "capabilities": info.capability_names,
               "network": record_dict(net), "stats": record_dict(stats)}  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    lines = [
        f"{info.name or '(unnamed board)'} at {args.port}",
        f"  firmware {info.firmware_version}, protocol {info.protocol_version}, "
        f"capabilities: {', '.join(info.capability_names) or 'none'}",
        f"  limits: {info.max_neurons} neurons, {info.max_synapses} synapses, blob {info.max_blob_bytes} B,"
        f" arena {info.arena_bytes} B, payload {info.max_payload} B",
    ]
    if info.free_ram:
        lines.append(f"  free RAM: {info.free_ram} B")
    if net.loaded:
        lines.append(
            f"  network: {plural(net.n_inputs, 'input')}, {plural(net.n_outputs, 'output')},"
            f" {plural(net.n_neurons, 'neuron')}, {plural(net.n_synapses, 'synapse')};"
            f" blob {net.blob_bytes} B (crc32 0x{net.blob_crc32:08x}), arena {net.arena_used} B"
        )
    else:
        lines.append("  network: none loaded (snnctl deploy NET.snn --port URL)")
    cyc = ""
    if stats.max_step_cycles:
        unit = "ns" if info.tick_hz == 1_000_000_000 else "cycles"
        cyc = f", last step {stats.last_step_cycles} {unit} (max {stats.max_step_cycles})"
    if net.loaded and net.running:
        lines.append(f"  running on board every {net.period_us / 1000:g} ms (snnctl device stop --port {args.port})")
    if stats.run_periods:
        lines.append(
            f"  on board: {stats.run_periods} periods, {stats.missed_deadlines} missed deadlines,"
            f" {stats.missing_samples} without a fresh sample, {stats.failsafe_entries} fail-safe entries"
        )
    lines.append(
        f"  stats: {stats.steps} steps{cyc}; errors: {stats.crc_errors} crc, {stats.framing_errors} framing,"
        f" {stats.dropped_frames} dropped, {stats.errors_sent} error replies; watchdog trips {stats.watchdog_trips}"
    )
    print("\n".join(lines))
    return 0


@_device_errors
def _cmd_deploy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    net, blob = load_network(args.path)
    with _open(args) as dev:
        info = dev.info
        from firmware_bridge.device import check_limits, flash_network_refusal
        from firmware_bridge.protocol import Capability
        from snnctl.snnfile import network_crc

        if info.has(Capability.NETWORK_IN_FLASH):  # max_blob_bytes is 0: say why, not "too large"
            ni = dev.netinfo()
            if not (ni.loaded and ni.blob_crc32 == network_crc(blob) and ni.blob_bytes == len(blob)):
                raise UserError(flash_network_refusal(info, args.port, args.path))
            print(f"{os.path.basename(args.path)} is the network compiled into {info.name or 'the device'} at"
                  f" {args.port}: nothing to upload")  # fmt: skip
            return 0
        check_limits(info, net, len(blob))  # before anything is sent (deploy checks again)
        with tqdm(total=len(blob), unit="B", unit_scale=True, desc="upload", file=sys.stderr,
                  disable=args.quiet or None, leave=False) as bar:  # fmt: skip
            ni = dev.deploy(blob, progress=lambda sent, _total: bar.update(sent - bar.n))
    if args.json:
        from firmware_bridge.protocol import record_dict

        print(json.dumps({"port": args.port, "board": info.name, "network": record_dict(ni)}, indent=2))
        return 0
    print(f"deployed {os.path.basename(args.path)} to {info.name or 'device'} at {args.port}"
          f" (firmware {info.firmware_version})")  # fmt: skip
    print(f"  now running: {plural(ni.n_inputs, 'input')}, {plural(ni.n_outputs, 'output')},"
          f" {plural(ni.n_neurons, 'neuron')}, {plural(ni.n_synapses, 'synapse')}")  # fmt: skip
    print(f"  blob {ni.blob_bytes} B of {info.max_blob_bytes} B (crc32 0x{ni.blob_crc32:08x}),"
          f" arena {ni.arena_used} B of {info.arena_bytes} B")  # fmt: skip
    return 0


def _running_network(dev, port: str):
    """NETINFO of a device that holds a network and has the on-board loop (else one UserError)."""
    from firmware_bridge.protocol import Capability

    if not dev.info.has(Capability.ONBOARD):
        raise UserError(f"the firmware of {dev.info.name or port} has no on-board loop (protocol 2 START);"
                        " rebuild and flash the current firmware (snnctl firmware build)")  # fmt: skip
    ni = dev.netinfo()
    if not ni.loaded:
        raise UserError(f"no network is loaded on {port}; deploy one first (snnctl deploy NET.snn --port {port})")
    return ni


@_device_errors
def _cmd_device_start(args: argparse.Namespace) -> int:
    for flag, v, hi in (("--every", args.every, 0xFFFF), ("--stale-limit", args.stale_limit, 0xFFFF),
                        ("--period-us", args.period_us, 0xFFFFFFFF)):  # fmt: skip
        if not 0 <= v <= hi:
            raise UserError(f"{flag} must be 0..{hi}, got {v}")
    with _open(args) as dev:
        ni = _running_network(dev, args.port)
        if args.period_us == 0 and ni.period_us == 0:
            raise UserError(f"the network on {args.port} records no control period (.snn `ctrl` section);"
                            " give one with --period-us")  # fmt: skip
        cfg = dev.start(args.period_us, args.every, args.stale_limit)
    tele = f"telemetry every {plural(cfg.telemetry_every, 'period')}" if cfg.telemetry_every else "telemetry off"
    safe = (f"fail-safe after {plural(cfg.stale_limit, 'period')} without a fresh sample" if cfg.stale_limit
            else "no fail-safe (the last sample is held)")  # fmt: skip
    print(f"running on board at {args.port}: period {cfg.period_us / 1000:g} ms ({1e6 / cfg.period_us:.4g} Hz),"
          f" {tele}, {safe}")  # fmt: skip
    return 0


@_device_errors
def _cmd_device_stop(args: argparse.Namespace) -> int:
    with _open(args) as dev:
        last = dev.stop()
        st = dev.stats()
    print(f"stopped at {args.port} after timer period {last}: back to host-stepped mode")
    print(f"  on-board counters since power-up: {plural(st.run_periods, 'period')} handled, {st.missed_deadlines}"
          f" missed deadlines, {st.missing_samples} periods without a fresh sample, {st.failsafe_entries}"
          f" fail-safe entries; {st.steps} steps, max step {st.max_step_cycles} ticks")  # fmt: skip
    return 0


def _monitor_line(log, tm) -> str:
    us = log.step_us(tm)
    state = "FAIL-SAFE" if tm.failsafe else ("fresh" if tm.fresh else "held")
    step = f"{us:8.1f} us" if us is not None and tm.stepped else "       -   "
    late = " late" if tm.late else ""
    return (f"period {tm.period:8d}  in {tm.inputs.tolist()}  out {tm.outputs.tolist()}  spikes {tm.spikes:5d}"
            f"  step {step}  {state}{late}   ")  # fmt: skip


@_device_errors
def _cmd_device_monitor(args: argparse.Namespace) -> int:
    import time

    from firmware_bridge.telemetry import TelemetryLog
    from snnctl.cli.common import image_suffixes, output_file

    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration must be positive seconds, got {args.duration}")
    csv_path = output_file(args.csv, "--csv", (".csv",), ".csv") if args.csv else None
    plot_path = output_file(args.plot, "--plot", image_suffixes(), ".png") if args.plot else None
    live = sys.stdout.isatty()
    with _open(args) as dev:
        ni = _running_network(dev, args.port)
        if not ni.running:
            raise UserError(f"the network on {args.port} does not run on board; start it first"
                            f" (snnctl device start --port {args.port} --every N)")  # fmt: skip
        log = TelemetryLog(ni.period_us, dev.info.tick_hz)
        start = time.monotonic()
        end = None if args.duration is None else start + args.duration
        first_wait = max(2.0, 3 * ni.period_us / 1e6)
        try:
            while end is None or time.monotonic() < end:
                left = 0.2 if end is None else max(0.0, min(0.2, end - time.monotonic()))
                tm = dev.read_telemetry(left)
                if tm is None:
                    if not log.frames and time.monotonic() - start > first_wait:
                        raise UserError(f"no telemetry from {args.port} in {first_wait:g} s: the loop runs with"
                                        f" telemetry off; restart it with snnctl device start --port {args.port}"
                                        " --every N")  # fmt: skip
                    continue
                log.add(tm)
                if live:
                    print("\r" + _monitor_line(log, tm), end="", flush=True)
        except KeyboardInterrupt:
            pass
        st = dev.stats()
    if live:
        print()
    s = log.summary()
    print(f"{plural(s['frames'], 'telemetry frame')} from {args.port}"
          f" (periods {s['first_period']}..{s['last_period']}): {s['failsafe_frames']} fail-safe,"
          f" {s['held_frames']} without a fresh sample, {s['late_frames']} late;"
          f" max step {s['max_step_us']} us")  # fmt: skip
    print(f"  device counters: {st.missed_deadlines} missed deadlines, {st.missing_samples} periods without a fresh"
          f" sample, {st.failsafe_entries} fail-safe entries")  # fmt: skip
    if csv_path and log.frames:
        log.write_csv(csv_path)
        print(f"  wrote {csv_path}")
    if plot_path and log.frames:
        log.figure(title=f"{dev.info.name or 'device'} on board").savefig(plot_path, dpi=110)
        print(f"  wrote {plot_path}")
    return 0


@_device_errors
def _cmd_device_run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from snnctl import snnfile

    net = blob = None
    if args.net:
        net, blob = load_network(args.net)
    codes, real = read_inputs(args.inputs, net)
    with _open(args) as dev:
        ni = dev.netinfo()
        if not ni.loaded:
            raise UserError(f"no network is loaded on {args.port}; deploy one first (snnctl deploy NET.snn --port"
                            f" {args.port})")  # fmt: skip
        if blob is not None and (len(blob), snnfile.network_crc(blob)) != (ni.blob_bytes, ni.blob_crc32):
            raise UserError(f"{args.net} is not the network deployed on {args.port} (device: {ni.blob_bytes} B,"
                            f" crc32 0x{ni.blob_crc32:08x}); deploy it first or pass the deployed file")  # fmt: skip
        if codes.shape[1] != ni.n_inputs:
            raise UserError(f"{args.inputs}: {codes.shape[1]} input columns, the deployed network takes {ni.n_inputs}")
        if args.reset:
            dev.reset()  # the network's state back to reset (the step counter of STATS goes on)
        t0 = time.perf_counter()
        out = dev.run(codes, window=args.window)
        seconds = time.perf_counter() - t0
    values = net.dequantize_outputs(out) if net is not None else out
    if args.outputs:
        try:
            if args.outputs.endswith(".npy"):
                np.save(args.outputs, values)
            else:
                fmt = "%.9g" if net is not None else "%d"
                np.savetxt(args.outputs, values, delimiter=",", fmt=fmt,
                           header=",".join(f"out{k}" for k in range(values.shape[1])), comments="")  # fmt: skip
        except OSError as exc:
            raise UserError(f"{args.outputs}: {exc.strerror or exc}") from None
    summary = {"port": args.port, "steps": int(codes.shape[0]), "seconds": round(seconds, 6),
               "steps_per_second": round(codes.shape[0] / seconds, 1) if seconds > 0 else None,
               "outputs_file": args.outputs, "real_values": bool(real or net is not None),
               "reset": bool(args.reset)}  # fmt: skip
    if args.json:
        if not args.outputs:
            summary["outputs"] = values.tolist()
        print(json.dumps(summary, indent=2))
        return 0
    print(f"ran {summary['steps']} steps on {args.port} in {seconds:.3f} s ({summary['steps_per_second']} steps/s)")
    if args.outputs:
        print(f"outputs ({'real values' if net is not None else 'int16 codes'}) written to {args.outputs}")
    elif len(values):
        print(f"last outputs: {', '.join(str(v) for v in values[-1].tolist())}")
    return 0


def _cmd_device_list(args: argparse.Namespace) -> int:
    from firmware_bridge.discovery import list_ports

    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout}")
    entries = list_ports(args.port or (), probe_ports=not args.no_probe, timeout=args.timeout)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print("no serial ports found (a USB board not listed: check the cable, and dmesg for its driver)")
        return 0
    width = max(len(e.device) for e in entries)
    for e in entries:
        usb = f" ({e.description})" if e.description else ""
        ids = f" [{e.vid:04x}:{e.pid:04x}]" if e.vid is not None and e.pid is not None else ""
        print(f"{e.device:<{width}}  {e.summary()}{usb}{ids}")
    return 0


def _built_in(args: argparse.Namespace) -> str | BuiltIn | None:
    """The network argument of a firmware build: --network, with --start's built-in START if given."""
    from firmware_bridge.flash_network import Autostart, BuiltIn

    if args.start is None:
        if args.every is not None or args.stale_limit is not None:
            raise UserError("--every and --stale-limit set the built-in START: give --start PERIOD_MS too")
        return args.network
    if not args.network:
        raise UserError("--start builds START into an image with a compiled-in network: give --network NET.snn")
    every, stale = args.every or 0, 3 if args.stale_limit is None else args.stale_limit
    return BuiltIn(args.network, Autostart(args.start, every, stale))


def _add_start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=int, metavar="PERIOD_MS",
                   help="with --network: the image boots in the on-board loop at this period (whole ms) unless"
                        " NV memory holds this image's own RUN record (docs/protocol.md §9)")  # fmt: skip
    p.add_argument("--every", type=int, metavar="N", help="with --start: telemetry every N periods (default 0: off)")
    p.add_argument(
        "--stale-limit",
        type=int,
        metavar="K",
        help="with --start: fail-safe after K periods without a fresh sample (default 3; 0: never)",
    )


def _cmd_firmware_build(args: argparse.Namespace) -> int:
    from firmware_bridge import budgets, build

    board = boards.get(args.board)
    host = board.is_program  # a Linux program (the POSIX device, an edge board's binary), not a chip's image
    try:
        if host:
            path = (build.build_host_device(network=_built_in(args)) if board.toolchain == "cc"
                    else build.build_linux_device(args.board, network=_built_in(args)))  # fmt: skip
            sizes = {"file": path.stat().st_size}
        else:
            path = build.build_firmware(args.board, network=_built_in(args))
            sizes = build.firmware_size(path)
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(str(exc).splitlines()[0] if host else str(exc)) from None
    fits = budgets.check_image(board, sizes) if "flash" in sizes else []
    if args.json:
        start = None if args.start is None else vars(_built_in(args).start)
        print(json.dumps({"board": args.board, "path": str(path), "network": args.network, "start": start, **sizes,
                          "budgets": [f.as_dict() for f in fits]}, indent=2))  # fmt: skip
        return 0
    print(f"{args.board}: {path}")
    if args.network:
        print(f"  network {args.network} compiled into flash: the device runs it from boot and takes no uploads")
        from firmware_bridge.flash_network import arena_bytes, read_network

        layout = "packed (SNN_PACKED_STATE)" if board.packed_state else "32-bit"
        arena = arena_bytes(read_network(args.network)[0], board)
        print(f"  its arena: {arena} B of RAM ({layout} layout, alignment slack included)")
        if args.start is not None:
            st = _built_in(args).start
            print(f"  boots in the on-board loop: period {st.period_ms} ms, telemetry every {st.telemetry_every}"
                  f" periods (0: off), fail-safe after {st.stale_limit} periods without a sample (0: never);"
                  " an intact RUN record of this image in NV memory wins (docs/protocol.md §9)")  # fmt: skip
    if "flash" in sizes:
        print(f"  flash {sizes['flash']} B (text {sizes['text']} B + data {sizes['data']} B), "
              f"RAM {sizes['ram']} B (data {sizes['data']} B + bss {sizes['bss']} B) before the stack")  # fmt: skip
        for fit in fits:
            print(f"  {fit.summary()}")
        if not args.network and any(not fit.fits for fit in fits):
            print("  the upload image keeps two network slots in RAM; for these boards build your network in:"
                  f" snnctl firmware build --board {args.board} --network NET.snn"
                  " (docs/firmware-boards.md §2)")  # fmt: skip
    else:
        print(f"  executable {sizes['file']} B")
    if board.toolchain == "linux":
        print(f"  a static {board.cpu} Linux program: copy it to the board and run it there,"
              " e.g. ./snndev --serial /dev/serial0 or ./snndev --tcp 5555 (docs/firmware-boards.md §6)")  # fmt: skip
    return 0


def _cmd_firmware_flash(args: argparse.Namespace) -> int:
    import shlex

    from firmware_bridge.flash import FlashError, flash

    if args.baud is not None and args.baud <= 0:
        raise UserError(f"--baud must be positive, got {args.baud}")
    try:
        argv = flash(args.board, args.port, tool=args.tool, image=args.image, baud=args.baud,
                     programmer=args.programmer, dry_run=args.dry_run, network=_built_in(args))  # fmt: skip
    except FlashError as exc:
        raise UserError(str(exc)) from None
    if args.dry_run:
        print(shlex.join(argv))
        return 0
    print(f"flashed {args.board} with {argv[0]}")
    if args.port:
        print(f"  check it: snnctl device info --port {args.port}")
    return 0


def _cmd_firmware_platformio(args: argparse.Namespace) -> int:
    import shlex

    from firmware_bridge import flash

    try:
        if args.upload and not args.dry_run:
            flash.require_pio()  # before writing anything
        project = flash.write_platformio_project(args.dir, args.env)
        print(f"PlatformIO project for {args.env} in {project} (platformio.ini, lib/snnctl, src/SnnDevice.ino)")
        if args.upload:
            argv = flash.pio_upload(project, args.env, args.port, dry_run=args.dry_run)
            print(shlex.join(argv) if args.dry_run else f"uploaded with {shlex.join(argv)}")
        else:
            print(f"  upload: {shlex.join(flash.pio_upload_command(project, args.env, args.port or 'PORT'))}")
    except (flash.FlashError, OSError) as exc:
        raise UserError(str(exc)) from None
    return 0


def _cmd_firmware_emulate(args: argparse.Namespace) -> int:
    import time

    from firmware_bridge.emulators import start_emulator

    try:
        emu = start_emulator(args.board, icount=not args.no_icount, nv_file=args.nv, network=_built_in(args))
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    with emu:
        try:  # Ctrl-C from the first line on is the way to stop: a client may connect before the rest prints
            print(f"serving {args.board} at {emu.url}", flush=True)
            print(f"  try: snnctl device info --port {emu.url}", flush=True)
            if args.network:
                print(f"       snnctl device run --port {emu.url} ...  (runs {args.network}, built in)", flush=True)
            else:
                print(f"       snnctl deploy NET.snn --port {emu.url}", flush=True)
            print("press Ctrl-C to stop", flush=True)
            while emu.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
            return 0
    rc = emu.process.returncode
    how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit status {rc}"
    said = emu.output().strip()[-500:]
    raise UserError(f"the {args.board} emulator exited unexpectedly ({how})" + (f": {said}" if said else ""))


def _add_port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, metavar="URL", help="serial port or pyserial URL of the device")
    p.add_argument("--timeout", type=float, default=0.5, metavar="S",
                   help="seconds to wait for each reply before re-sending (default 0.5)")  # fmt: skip
    p.add_argument("--connect-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to keep pinging a device that does not answer yet (default 5)")  # fmt: skip


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p_deploy = sub.add_parser(
        "deploy",
        help="upload a .snn network to a device and make it the running one",
        description="Check, upload, commit and verify a network on a device running the snnctl firmware.",
        epilog=_DEPLOY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_deploy.add_argument("path", metavar="NET.snn", help="network file to deploy")
    _add_port_args(p_deploy)
    p_deploy.add_argument("--json", action="store_true", help="print what now runs as JSON")
    p_deploy.add_argument("--quiet", action="store_true", help="no progress bar")
    p_deploy.set_defaults(handler=_cmd_deploy)

    p_device = sub.add_parser(
        "device",
        help="talk to a device running the snnctl firmware (list, info, run, start, stop, monitor)",
        description="Query a device or stream inputs through its network over a serial port.",
        epilog=_DEVICE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    device_sub = p_device.add_subparsers(dest="device_command", metavar="ACTION")
    p_list = device_sub.add_parser(
        "list",
        help="serial ports, and the board identity of those a snnctl firmware answers on",
        description="List the serial ports (pyserial) and probe each with HELLO to show which board answers.",
        epilog=_DEVICE_LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_list.add_argument("--port", action="append", metavar="URL",
                        help="also probe URL (an emulator's pty or socket://; repeatable)")  # fmt: skip
    p_list.add_argument("--no-probe", action="store_true", help="only list; send nothing to any port")
    p_list.add_argument("--timeout", type=float, default=0.5, metavar="S",
                        help="seconds to wait for each port's HELLO reply (default 0.5)")  # fmt: skip
    p_list.add_argument("--json", action="store_true", help="print as JSON")
    p_list.set_defaults(handler=_cmd_device_list)
    p_info = device_sub.add_parser(
        "info",
        help="board, firmware version, limits, running network and statistics",
        description="Say HELLO to a device and print what it is, what it holds and its counters.",
        epilog=_examples_of(_DEVICE_EPILOG, "snnctl device info"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_info)
    p_info.add_argument("--json", action="store_true", help="print as JSON")
    p_info.set_defaults(handler=_cmd_device_info)
    p_run = device_sub.add_parser(
        "run",
        help="stream inputs through the deployed network and collect its outputs",
        description="Send one STEP per input row and collect the outputs.",
        epilog=_DEVICE_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_run)
    p_run.add_argument("--inputs", required=True, metavar="FILE", help=".npy int16 codes (T, n_inputs) or CSV of reals")
    p_run.add_argument("--outputs", metavar="FILE", help="write the outputs to FILE (.npy or .csv)")
    p_run.add_argument(
        "--net", metavar="NET.snn", help="the deployed network: quantises CSV inputs, de-quantises outputs"
    )
    p_run.add_argument("--window", type=int, default=4, metavar="N",
                       help="STEP requests in flight at once (default 4; 1 = wait for each reply)")  # fmt: skip
    p_run.add_argument("--reset", action="store_true",
                       help="reset the network's state first (RESET): the run starts as snnctl.run does")  # fmt: skip
    p_run.add_argument("--json", action="store_true", help="print a JSON summary (with the outputs if no --outputs)")
    p_run.set_defaults(handler=_cmd_device_run)
    p_start = device_sub.add_parser(
        "start",
        help="run the deployed network on board, from the board's own timer",
        description="START (docs/protocol.md §8): the board steps the network at its control period by itself.",
        epilog=_examples_of(_DEVICE_EPILOG, "snnctl device start") + _DEVICE_ONBOARD_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_start)
    p_start.add_argument("--every", type=int, default=0, metavar="N",
                         help="a TELEMETRY frame every N periods (default 0: off)")  # fmt: skip
    p_start.add_argument("--period-us", type=int, default=0, metavar="US",
                         help="control period in microseconds (default: the .snn's own)")  # fmt: skip
    p_start.add_argument("--stale-limit", type=int, default=3, metavar="K",
                         help="fail-safe after K periods without a fresh sample (default 3; 0 = never)")  # fmt: skip
    p_start.set_defaults(handler=_cmd_device_start)
    p_stop = device_sub.add_parser(
        "stop",
        help="stop the on-board loop (back to host-stepped mode) and print its counters",
        description="STOP (docs/protocol.md §8), then STATS.",
        epilog=_examples_of(_DEVICE_EPILOG, "snnctl device stop"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_stop)
    p_stop.set_defaults(handler=_cmd_device_stop)
    p_mon = device_sub.add_parser(
        "monitor",
        help="show and record the telemetry of a network running on board",
        description="Read TELEMETRY frames: a refreshing line on a terminal, each frame to --csv, a --plot at the end.",
        epilog=_examples_of(_DEVICE_EPILOG, "snnctl device monitor") + _DEVICE_ONBOARD_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_mon)
    p_mon.add_argument("--csv", metavar="FILE", help="write every frame as a CSV row")
    p_mon.add_argument("--plot", metavar="FILE", help="plot inputs, outputs and step time over time (.png, ...)")
    p_mon.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)")
    p_mon.set_defaults(handler=_cmd_device_monitor)
    p_device.set_defaults(handler=lambda _args: print_help(p_device))

    p_fw = sub.add_parser(
        "firmware",
        help="build the device firmware, flash it to a board or run it on an emulator",
        description="Build firmware images for a board, or serve an emulated board on a serial URL.",
        epilog=_FIRMWARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fw_sub = p_fw.add_subparsers(dest="firmware_command", metavar="ACTION")
    p_build = fw_sub.add_parser(
        "build",
        help="compile the firmware for a board and print its path and size",
        description="Compile the firmware (or the POSIX virtual device for --board host).",
        epilog=_examples_of(_FIRMWARE_EPILOG, "snnctl firmware build"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_build.add_argument("--board", required=True, choices=boards.names("build"), type=boards.argparse_type("build"),
                         help="target board")  # fmt: skip
    p_build.add_argument("--network", metavar="NET.snn",
                         help="compile this network into the image (flash): no upload slots, so a 2 KB board runs"
                              " far larger networks; the device then refuses uploads")  # fmt: skip
    _add_start_args(p_build)
    p_build.add_argument("--json", action="store_true", help="print path and sizes as JSON")
    p_build.set_defaults(handler=_cmd_firmware_build)
    p_flash = fw_sub.add_parser(
        "flash",
        help="write the firmware to a real board with its flashing tool (avrdude, OpenOCD)",
        description="Build the board's image and write it with the board's flashing tool.",
        epilog=_FLASH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_flash.add_argument("--board", required=True, choices=boards.names("flash"), type=boards.argparse_type("flash"),
                         help="target board")  # fmt: skip
    p_flash.add_argument("--port", metavar="DEV", help="the board's serial port (avrdude: the bootloader's port)")
    p_flash.add_argument("--tool", choices=sorted({t.tool for b in boards.BOARDS for t in b.flash}),
                         help="flashing program (default: the board's first one that is installed)")  # fmt: skip
    p_flash.add_argument("--image", metavar="FILE", help="flash this .elf/.hex instead of building the firmware")
    p_flash.add_argument("--network", metavar="NET.snn", help="build the image with this network in flash first")
    _add_start_args(p_flash)
    p_flash.add_argument("--baud", type=int, metavar="N", help="avrdude: bootloader baud rate (default 115200, Uno)")
    p_flash.add_argument("--programmer", metavar="ID", help="avrdude -c programmer id (default arduino)")
    p_flash.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p_flash.set_defaults(handler=_cmd_firmware_flash)
    p_pio = fw_sub.add_parser(
        "platformio",
        help="write a PlatformIO project of the firmware (any Arduino board) and optionally upload it with pio",
        description="Write platformio.ini, lib/snnctl (the Arduino library) and src/SnnDevice.ino; --upload runs pio.",
        epilog=_PLATFORMIO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_pio.add_argument("dir", metavar="DIR", help="project folder (created; lib/snnctl is replaced)")
    p_pio.add_argument("--env", default="megaatmega2560", metavar="ENV",
                       help="the project's default env, the one --upload builds (default megaatmega2560)")  # fmt: skip
    p_pio.add_argument("--upload", action="store_true", help="build and upload with pio run -t upload")
    p_pio.add_argument("--port", metavar="DEV", help="upload port (default: pio finds it)")
    p_pio.add_argument("--dry-run", action="store_true", help="with --upload: print the pio command only")
    p_pio.set_defaults(handler=_cmd_firmware_platformio)
    p_emu = fw_sub.add_parser(
        "emulate",
        help="run an emulated board and print its serial URL (until Ctrl-C)",
        description="Start the board's emulator and serve it until interrupted.",
        epilog=_examples_of(_FIRMWARE_EPILOG, "snnctl firmware emulate"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_emu.add_argument("--board", required=True, choices=boards.names("emulate"),
                       type=boards.argparse_type("emulate"), help="board to emulate")  # fmt: skip
    p_emu.add_argument("--no-icount", action="store_true",
                       help="QEMU: run at full speed instead of deterministic instruction counting")  # fmt: skip
    p_emu.add_argument("--nv", metavar="FILE",
                       help="host, linux-* and atmega328p boards: FILE is the device's NV memory (the AVR's EEPROM);"
                            " the deployed network (and a running loop) come back when emulate starts again with it;"
                            " with --network, the loop's last START or STOP does")  # fmt: skip
    p_emu.add_argument("--network", metavar="NET.snn",
                       help="run an image with this network compiled in (snnctl firmware build --network)")  # fmt: skip
    _add_start_args(p_emu)
    p_emu.set_defaults(handler=_cmd_firmware_emulate)
    p_fw.set_defaults(handler=lambda _args: print_help(p_fw))
