"""Corrupted `.snn` files with the error each must produce, shared by the Python and C fuzz tests.

"Re-sealed" corruptions recompute the CRC after the damage so that the reader's structural checks,
not the checksum, have to catch them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np

from snnctl.snnfile import HEADER, SECTION, ErrorCode


def reseal(buf: bytes) -> bytes:
    body = buf[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def sections(buf: bytes) -> dict[bytes, tuple[int, int]]:
    """tag -> (offset of the section header, body length) of a well-formed file."""
    out, pos = {}, HEADER.size
    while pos < len(buf) - 4:
        tag, length = SECTION.unpack_from(buf, pos)
        out[tag] = (pos, length)
        pos += SECTION.size + ((length + 3) & ~3)
    return out


def patch(buf: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(buf)
    struct.pack_into(fmt, b, offset, value)
    return reseal(bytes(b))


def targeted(buf: bytes) -> Iterator[tuple[str, bytes, ErrorCode]]:
    """Hand-picked damage to each field, with the error code docs/snn-format.md prescribes."""
    secs = sections(buf)
    pops_body = secs[b"POPS"][0] + SECTION.size
    neur_body = secs[b"NEUR"][0] + SECTION.size
    proj_body = secs[b"PROJ"][0] + SECTION.size
    yield "bad magic", b"XNNC" + buf[4:], ErrorCode.BAD_MAGIC
    yield "version 2", patch(buf, 4, "<H", 2), ErrorCode.BAD_VERSION
    yield "header_bytes", patch(buf, 6, "<H", 28), ErrorCode.BAD_COUNT
    yield "file_bytes too big", patch(buf, 8, "<I", len(buf) + 4), ErrorCode.TRUNCATED
    yield "file_bytes too small", patch(buf, 8, "<I", len(buf) - 4), ErrorCode.BAD_COUNT
    yield "zero populations", patch(buf, 12, "<H", 0), ErrorCode.BAD_COUNT
    yield "population count off", patch(buf, 12, "<H", 255), ErrorCode.BAD_COUNT
    yield "neuron total off", patch(buf, 20, "<I", 1), ErrorCode.BAD_COUNT
    yield "crc flipped", buf[:-1] + bytes([buf[-1] ^ 1]), ErrorCode.BAD_CRC
    yield "unknown required tag", patch(buf, secs[b"OUTQ"][0], "<4s", b"OUTZ"), ErrorCode.BAD_SECTION  # type: ignore[arg-type]
    yield "missing NEUR (renamed optional)", patch(buf, secs[b"NEUR"][0], "<4s", b"neur"), ErrorCode.BAD_SECTION  # type: ignore[arg-type]
    yield "section length past end", patch(buf, secs[b"OUTQ"][0] + 4, "<I", 1 << 30), ErrorCode.TRUNCATED
    yield "kind 9", patch(buf, pops_body + 0, "<B", 9), ErrorCode.BAD_VALUE
    yield "reset 2", patch(buf, pops_body + 1, "<B", 2), ErrorCode.BAD_VALUE
    yield "refractory 16", patch(buf, pops_body + 2, "<B", 16), ErrorCode.BAD_VALUE
    yield "da 4097", patch(buf, pops_body + 6, "<H", 4097), ErrorCode.BAD_VALUE
    yield "du 4097", patch(buf, neur_body + 0, "<H", 4097), ErrorCode.BAD_VALUE
    yield "theta 0", patch(buf, neur_body + 8, "<i", 0), ErrorCode.BAD_VALUE
    yield "bias 2^23", patch(buf, neur_body + 4, "<i", 1 << 23), ErrorCode.BAD_VALUE
    yield "projection dst 200", patch(buf, proj_body + 2, "<H", 200), ErrorCode.BAD_INDEX
    yield "projection src 200", patch(buf, proj_body + 0, "<H", 200), ErrorCode.BAD_INDEX
    yield "projection flags 4", patch(buf, proj_body + 4, "<B", 4), ErrorCode.BAD_VALUE
    yield "exponent 17", patch(buf, proj_body + 6, "<b", 17), ErrorCode.BAD_VALUE
    yield "input projection delayed", patch(buf, proj_body + 5, "<B", 1), ErrorCode.BAD_VALUE
    yield "weight offset outside", patch(buf, proj_body + 12, "<I", 1 << 20), ErrorCode.BAD_INDEX
    yield "weight offset misaligned", patch(buf, proj_body + 12, "<I", 2), ErrorCode.BAD_INDEX
    yield "dense nnz wrong", patch(buf, proj_body + 8, "<I", 7), ErrorCode.BAD_COUNT
    outq_body = secs[b"OUTQ"][0] + SECTION.size
    yield "output neuron missing", patch(buf, outq_body + 2, "<H", 60000), ErrorCode.BAD_INDEX
    yield "output shift 24", patch(buf, outq_body + 4, "<B", 24), ErrorCode.BAD_VALUE
    if b"ctrl" in secs:
        ctrl = secs[b"ctrl"][0]
        yield "control period 0", patch(buf, ctrl + SECTION.size, "<I", 0), ErrorCode.BAD_VALUE
        yield "ctrl length 2", patch(buf, ctrl + 4, "<I", 2), ErrorCode.BAD_COUNT
    if b"unit" in secs:  # layout: docs/snn-format.md `unit`; input records 12 bytes, output records 20
        unit, n_in = secs[b"unit"][0], struct.unpack_from("<H", buf, 16)[0]
        out0 = unit + SECTION.size + 12 * n_in
        yield "unit input shift 63", patch(buf, unit + SECTION.size + 8, "<B", 63), ErrorCode.BAD_VALUE
        yield "unit input mult 2^30", patch(buf, unit + SECTION.size + 4, "<i", 1 << 30), ErrorCode.BAD_VALUE
        yield "unit input reserved", patch(buf, unit + SECTION.size + 11, "<B", 1), ErrorCode.BAD_VALUE
        yield "unit output mult -2^30", patch(buf, out0 + 4, "<i", -(1 << 30)), ErrorCode.BAD_VALUE
        yield "unit output raw_min > raw_max", patch(buf, out0 + 8, "<i", 1 << 30), ErrorCode.BAD_VALUE
        yield "unit output shift 63", patch(buf, out0 + 16, "<B", 63), ErrorCode.BAD_VALUE


def truncations(buf: bytes) -> Iterator[tuple[str, bytes]]:
    for n in range(len(buf)):
        yield f"truncated to {n}", buf[:n]


def flips(buf: bytes, count: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """Random bit flips (CRC left stale) and random re-sealed byte overwrites."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        b = bytearray(buf)
        pos = int(rng.integers(len(b)))
        if k % 2 == 0:
            b[pos] ^= 1 << int(rng.integers(8))
            yield f"bit flip at {pos}", bytes(b)
        else:
            b[pos] = int(rng.integers(256))
            if pos < len(b) - 4:
                yield f"re-sealed byte {b[pos]} at {pos}", reseal(bytes(b))
