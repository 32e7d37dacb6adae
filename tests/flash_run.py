"""The RUN record of a flash-network image as docs/protocol.md §9 writes it, built here from the
document alone (struct + zlib), and the check of an on-board loop a board resumed at boot.

A board that boots running was started before the host connected, so the frames the host reads may
begin anywhere; the check waits (sending nothing) until the board holds its fail-safe, then feeds it
samples: the first fresh frame after a fail-safe steps the network from reset (§8), so every frame
from there on is checked against numba with `tests.test_onboard_loop.check_frames`.
"""

from __future__ import annotations

import struct
import zlib

from firmware_bridge.device import Device
from snnctl.network import Network
from tests.test_onboard_loop import Feeder, check_frames

RUN_BYTES = 24  # the RUN record: what START / STOP write, its CRC last


def image_key(blob: bytes, start: tuple[int, int, int] = (0, 0, 0)) -> int:
    """CRC-32 of u32 the .snn file's own CRC-32 (its last 4 bytes), u32 built-in period_us, u16
    telemetry_every, u16 stale_limit (zeros without a built-in START), little-endian."""
    return zlib.crc32(blob[-4:] + struct.pack("<IHH", *start))


def run_record(blob: bytes, period_us: int, every: int, stale: int, running: bool,
               start: tuple[int, int, int] = (0, 0, 0)) -> bytes:  # fmt: skip
    """The 24 bytes at NV offset 0: "SNNF", key, period_us, telemetry_every, stale_limit, running, 3 x 0, CRC."""
    head = b"SNNF" + struct.pack("<IIHHB3x", image_key(blob, start), period_us, every, stale, int(running))
    return head + struct.pack("<I", zlib.crc32(head))


def check_resumed_loop(d: Device, net: Network, stale_limit: int, fresh: int = 15, seed: int = 7) -> dict:
    """The board runs on its own (no START from this host): its fail-safe first, then samples; every
    frame from the first fresh one on obeys §8 and numba. STOPs it at the end; returns the counters."""
    assert stale_limit > 0, "the check needs the fail-safe to know where the network was reset"
    feed = Feeder(d, net.n_inputs, seed=seed)
    feed.collect(lambda new: any(f.failsafe for f in new), sending=False)
    feed.send()
    feed.collect(lambda new: sum(f.fresh for f in new) >= fresh, sending=True)
    feed.finish()
    frames = feed.frames
    first = next(i for i in range(1, len(frames)) if frames[i].fresh and frames[i - 1].failsafe)
    assert not any(f.fresh for f in frames[:first])  # nothing was sent before
    return check_frames(net, frames[first:], feed.sent, stale_limit, after_period=frames[first - 1].period)
