"""A network compiled into a firmware image (`SNN_DEV_FLASH_NETWORK`, docs/firmware-boards.md §3).

`snnctl firmware build --board B --network NET.snn` builds the image with the `.snn` blob as a
`const` array (PROGMEM on an AVR, where the core reads it with `pgm_read_byte` through its blob
hook) and `board_flash_network()` returning it; the device library loads it into ONE arena at boot
and takes no uploads. This module makes the generated C file and the compile-time limits that go
with it: the arena sized for this network (RAM is what a small board lacks), the neuron and synapse
limits set to the network's own counts. A network that could never run on the board (more codes
than a STEP frame holds) is refused here, before compiling, in one line.

`BuiltIn(network, Autostart(period_ms))` (`--network NET.snn --start MS`) also builds START into the
image: it boots in the on-board loop unless NV memory holds this image's own RUN record, which wins
(the latest START / STOP sent to this image; docs/protocol.md §9) - a robot without NV memory, or
with it erased, runs alone from the first power-up.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.boards import Board
from firmware_bridge.c_header import byte_array_rows
from firmware_bridge.memory import device_bytes
from snnctl.network import Network
from snnctl.snnfile import SnnFormatError, from_bytes

# avr-gcc aligns a uint32_t array to 1 byte, so snn_load may skip up to 3 bytes to align the arena
_ARENA_ALIGN_SLACK = {"avr": 3}
# the AVR port's blob hook: pgm_read_byte (LPM) for a blob in program memory
_BLOB_HOOK = {"avr": '"snn_avr_flash.h"'}
# TELEMETRY codes a frame carries where the port sets them (ports/atmega328p/snn_port_config.h: 4);
# elsewhere the device library's default, what max_payload holds after the 18-byte head (protocol.md §8)
_TELEMETRY_CODES = {"avr": 4}
_U16 = 0xFFFF
_MAX_PERIOD_MS = 65535  # the AVR port's timer counts whole ms in a u16 (ports/atmega328p/board.c)


@dataclass(frozen=True)
class Autostart:
    """START's settings built into an image (`SNN_DEV_AUTOSTART_*`, protocol.md §8): the period in whole
    milliseconds (every port's timer takes them), telemetry every N periods (0: off - a robot alone has
    no listener), and the fail-safe after K periods without a fresh sample (0: never)."""

    period_ms: int
    telemetry_every: int = 0
    stale_limit: int = 3


@dataclass(frozen=True)
class BuiltIn:
    """A network to compile into an image, with the START it boots with (None: it boots stopped)."""

    network: str | Path | bytes
    start: Autostart | None = None


def split(arg: str | Path | bytes | BuiltIn) -> tuple[str | Path | bytes, Autostart | None]:
    """(the `.snn` path or bytes, the built-in START or None) of a build's network argument."""
    return (arg.network, arg.start) if isinstance(arg, BuiltIn) else (arg, None)


def read_network(network: str | Path | bytes) -> tuple[Network, bytes]:
    """The network and its exact file bytes from a `.snn` path or bytes; ValueError in one line if invalid."""
    blob = Path(network).read_bytes() if isinstance(network, str | Path) else bytes(network)
    try:
        return from_bytes(blob), blob
    except SnnFormatError as exc:
        where = f"{network}: " if isinstance(network, str | Path) else ""
        raise ValueError(f"{where}not a valid .snn file ({exc})") from None


def fits_upload(net: Network, blob_bytes: int, board: Board) -> bool:
    """Whether `board`'s upload slots hold `net` (else it must be compiled into the image)."""
    max_in, max_out = step_code_limits(board.max_payload)
    return (
        blob_bytes <= board.max_blob_bytes
        and arena_bytes(net, board) <= board.arena_bytes
        and net.n_neurons <= board.max_neurons
        and net.n_synapses <= board.max_synapses
        and net.n_inputs <= max_in
        and net.n_outputs <= max_out
    )


def step_code_limits(max_payload: int) -> tuple[int, int]:
    """(inputs, outputs) a STEP request / response of `max_payload` bytes can carry (snn_device.c MAX_IN,
    MAX_OUT): u8 flags + i16 per input; u32 step, u8 status, i16 per output, u16 + u32 + u32 counts."""
    return min(256, (max_payload - 1) // 2), min(256, (max_payload - 15) // 2)


def arena_bytes(net: Network, board: Board) -> int:
    """The device arena that holds `net` on `board` (the core's layout plus the alignment slack)."""
    return device_bytes(net, packed=board.packed_state)["arena_bytes"] + _ARENA_ALIGN_SLACK.get(board.toolchain, 0)


def telemetry_codes(board: Board) -> int:
    """Input + output codes one TELEMETRY frame of `board` carries (snn_device.c SNN_DEV_TELEMETRY_CODES)."""
    return _TELEMETRY_CODES.get(board.toolchain, (board.max_payload - 18) // 2)


def autostart_defines(net: Network, board: Board, start: Autostart) -> dict[str, str]:
    """The SNN_DEV_AUTOSTART_* macros; ValueError in one line for what the device would refuse at boot."""
    if not 1 <= start.period_ms <= _MAX_PERIOD_MS:
        raise ValueError(f"--start takes a period of 1..{_MAX_PERIOD_MS} ms, got {start.period_ms}")
    for flag, v in (("--every", start.telemetry_every), ("--stale-limit", start.stale_limit)):
        if not 0 <= v <= _U16:
            raise ValueError(f"{flag} must be 0..{_U16}, got {v}")
    codes = telemetry_codes(board)
    if start.telemetry_every and net.n_inputs + net.n_outputs > codes:
        raise ValueError(f"{board.name} telemetry carries {codes} codes, the network has {net.n_inputs} inputs and"
                         f" {net.n_outputs} outputs: build with --every 0")  # fmt: skip
    return {
        "SNN_DEV_AUTOSTART_US": f"{start.period_ms * 1000}ul",
        "SNN_DEV_AUTOSTART_EVERY": f"{start.telemetry_every}u",
        "SNN_DEV_AUTOSTART_STALE": f"{start.stale_limit}u",
    }


def defines(net: Network, board: Board, start: Autostart | None = None) -> dict[str, str]:
    """The -D macros of `board`'s image with `net` compiled in (and `start` built in); ValueError if the
    board's frames cannot carry it."""
    max_in, max_out = step_code_limits(board.max_payload)
    if net.n_inputs > max_in or net.n_outputs > max_out:
        raise ValueError(
            f"{board.name} exchanges at most {max_in} input and {max_out} output codes a step"
            f" ({board.max_payload}-byte frames); the network has {net.n_inputs} and {net.n_outputs}"
        )
    out = {
        "SNN_DEV_FLASH_NETWORK": "1",
        "SNN_DEV_ARENA_BYTES": f"{arena_bytes(net, board)}u",
        "SNN_DEV_MAX_NEURONS": f"{net.n_neurons}u",
        "SNN_DEV_MAX_SYNAPSES": f"{max(net.n_synapses, 1)}u",
        "SNN_DEV_MAX_INPUTS": f"{net.n_inputs}u",  # the STEP code buffers: exactly this network's
        "SNN_DEV_MAX_OUTPUTS": f"{net.n_outputs}u",
        "SNN_DEV_SENSOR_CODES": f"{net.n_inputs}u",  # a SENSOR sample is one input vector
    }
    if board.toolchain in _BLOB_HOOK:
        out["SNN_BLOB_CONFIG"] = _BLOB_HOOK[board.toolchain]
    if start is not None:
        out.update(autostart_defines(net, board, start))
    return out


def source_text(blob: bytes) -> str:
    """The C file that compiles `blob` into the image and hands it to the device library."""
    return "\n".join(
        [
            "/* snn_flash_network.c - the network compiled into this image (generated by snnctl firmware build",
            " * --network; do not edit). SNN_BLOB_ATTR puts it in program memory where the core reads it there. */",
            '#include "board.h"',
            '#include "snn_blob.h"',
            "",
            f"static const uint8_t snn_flash_blob[{len(blob)}] SNN_BLOB_ATTR = {{",
            *byte_array_rows(blob),
            "};",
            "",
            "const uint8_t *board_flash_network(uint32_t *len)",
            "{",
            f"    *len = {len(blob)}u;",
            "    return snn_flash_blob;",
            "}",
            "",
        ]
    )


def write_source(blob: bytes, out_dir: Path) -> Path:
    """`source_text(blob)` as `out_dir/gen/snn_flash_network-<hash>.c` (named by content: cached builds stay valid)."""
    text = source_text(blob)
    gen = Path(out_dir) / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    path = gen / f"snn_flash_network-{hashlib.sha256(text.encode()).hexdigest()[:16]}.c"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
