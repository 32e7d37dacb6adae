"""TensorBoard event files written with the standard library: scalars a run logs, readable by TensorBoard.

No TensorFlow, torch or tensorboardX: an event file is a sequence of TFRecords (u64 length, masked
CRC-32C of the length, the bytes, masked CRC-32C of the bytes), each an `Event` protobuf; for
scalars only four of its fields are needed, encoded here by hand (field numbers from TensorFlow's
`event.proto` / `summary.proto`):

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }

`tensorboard --logdir runs/` then shows every run folder that has a `tensorboard/` subfolder.
W&B imports the same folder (`wandb.tensorboard.patch` / `wandb sync --sync-tensorboard`).
"""

from __future__ import annotations

import math
import numbers
import os
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

FILE_VERSION = b"brain.Event:2"
FILE_NAME = "events.out.tfevents.snnctl"  # TensorBoard reads every file whose name holds "tfevents"


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord uses (not zlib's CRC-32)."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits, add a constant."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord around `data`."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64 as protobuf encodes it (two's complement, 10 bytes if negative)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(step: int, wall_time: float, scalars: Mapping[str, float] | None = None, file_version: bool = False) -> bytes:
    """The bytes of one `Event`: the file-version header, or scalars (tag -> value) at `step`."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(int(step))
    if file_version:
        return out + _field_bytes(3, FILE_VERSION)
    values = b"".join(
        _field_bytes(1, _field_bytes(1, tag.encode("utf-8")) + _varint(2 << 3 | 5) + struct.pack("<f", value))
        for tag, value in (scalars or {}).items()
    )
    return out + _field_bytes(5, values)


def scalar_items(values: Mapping[str, object], prefix: str = "", skip: Iterable[str] = ()) -> dict[str, float]:
    """The finite numbers of `values` as `prefix + key` -> float (strings, None, NaN and `skip` left out)."""
    skip = set(skip)
    out = {}
    for key, v in values.items():
        if key in skip or isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            continue
        out[prefix + key] = float(v)
    return out


class EventWriter:
    """Scalars to a TensorBoard event file in `logdir` (created), appended record by record.

    ``with EventWriter("runs/x/tensorboard") as w: w.add_scalars({"loss": 0.3}, step=1)``. Opening
    an existing file appends to it (the header is written once), so a process may log in pieces.
    """

    def __init__(self, logdir: str | os.PathLike, filename: str = FILE_NAME) -> None:
        self.path = Path(logdir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._f = open(self.path, "ab")
        if new:
            self._f.write(record(event(0, time.time(), file_version=True)))

    def add_scalars(self, scalars: Mapping[str, float], step: int, wall_time: float | None = None) -> None:
        """One event holding every tag -> value of `scalars` at `step` (non-finite values are skipped)."""
        clean = {k: float(v) for k, v in scalars.items() if math.isfinite(float(v))}
        if clean:
            self._f.write(record(event(step, time.time() if wall_time is None else wall_time, clean)))

    def add_scalar(self, tag: str, value: float, step: int, wall_time: float | None = None) -> None:
        self.add_scalars({tag: value}, step, wall_time)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_events(logdir: str | os.PathLike, rows: Iterable[tuple[int, Mapping[str, float]]],
                 filename: str = FILE_NAME) -> Path:  # fmt: skip
    """Write a whole event file from (step, scalars) rows, replacing any (atomically: temp file + rename)."""
    path = Path(logdir) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        now = time.time()
        f.write(record(event(0, now, file_version=True)))
        for step, scalars in rows:
            clean = {k: float(v) for k, v in scalars.items() if math.isfinite(float(v))}
            if clean:
                f.write(record(event(step, now, clean)))
    os.replace(tmp, path)
    return path
