"""Reader and writer of the `.snn` network file (format spec: docs/snn-format.md).

The reader mirrors the C parser's checks and error codes, so a file Python accepts is a file a
device accepts (device memory limits aside), and a broken file gets the same diagnosis on both.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from .network import (
    DECAY_ONE,
    EXPONENT_RANGE,
    INPUT,
    MAX24,
    MAX_DELAY,
    MAX_INPUTS,
    MAX_NEURONS,
    MAX_OUTPUT_SHIFT,
    MAX_OUTPUTS,
    MAX_POPULATIONS,
    MAX_PROJECTIONS,
    MAX_REFRACTORY,
    MIN24,
    Kind,
    Network,
    NetworkError,
    Output,
    Population,
    Projection,
    Reset,
)
from .units import MAX_MULT, MAX_SHIFT, DeviceUnits, FixedChannel

MAGIC = b"SNNC"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHIHHHHI")  # magic, version, header_bytes, file_bytes, pops, projs, ins, outs, neurons
SECTION = struct.Struct("<4sI")
POP = struct.Struct("<BBBBHHi")
NEUR_DTYPE = np.dtype([("du", "<u2"), ("dv", "<u2"), ("bias", "<i4"), ("theta", "<i4")])
PROJ = struct.Struct("<HHBBbBII")
INPQ_DTYPE = np.dtype([("scale", "<f4"), ("zero", "<i2"), ("reserved", "<u2")])
OUTQ = struct.Struct("<HHBBhf")
UNIT_IN = struct.Struct("<iiB3s")  # raw_zero, mult, shift, reserved (snnctl/units.py)
UNIT_OUT = struct.Struct("<iiiiB3s")  # raw_zero, mult, raw_min, raw_max, shift, reserved
INPUT_SRC = 0xFFFF
FLAG_SPARSE, FLAG_RECURRENT = 1, 2
META_MAX_DEPTH = 64  # the C core checks `meta` with a fixed-size stack of this depth
NAMES_KEY = "population_names"  # kept in `meta`, so C readers need not know about names
REQUIRED = (b"POPS", b"NEUR", b"PROJ", b"WGHT", b"INPQ", b"OUTQ")


class ErrorCode(enum.IntEnum):
    TRUNCATED = 1
    BAD_MAGIC = 2
    BAD_VERSION = 3
    BAD_CRC = 4
    BAD_SECTION = 5
    BAD_COUNT = 6
    BAD_INDEX = 7
    BAD_VALUE = 8
    TOO_LARGE = 9


class SnnFormatError(ValueError):
    """A `.snn` file that cannot be read; `code` is the format's error code (same as the C core)."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        self.code = ErrorCode(code)
        self.detail = detail
        super().__init__(f"{self.code.name}: {detail}")

    @property
    def name(self) -> str:
        return self.code.name


def _pad4(n: int) -> int:
    return (n + 3) & ~3


# ---------------------------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------------------------
def _weight_block(q: Projection) -> bytes:
    w = q.weights
    if not q.sparse:
        return w.astype(np.int8).tobytes()  # source-major: row i = source i
    rows, cols = np.nonzero(w)  # row-major order: sorted by source, then destination
    row_ptr = np.zeros(w.shape[0] + 1, dtype="<u4")
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=row_ptr[1:])
    return row_ptr.tobytes() + cols.astype("<u2").tobytes() + w[rows, cols].astype(np.int8).tobytes()


def _section(tag: bytes, body: bytes) -> bytes:
    return SECTION.pack(tag, len(body)) + body + b"\0" * (_pad4(len(body)) - len(body))


def to_bytes(net: Network) -> bytes:
    """Serialise a (validated) network to `.snn` bytes."""
    net.validate()
    pops = b"".join(POP.pack(p.kind, p.reset, p.refractory, 0, p.n, p.da, p.a_step) for p in net.populations)
    neur = np.zeros(net.n_neurons, dtype=NEUR_DTYPE)
    off = net.offsets()
    for i, p in enumerate(net.populations):
        sl = slice(off[i], off[i + 1])
        neur["du"][sl], neur["dv"][sl], neur["bias"][sl], neur["theta"][sl] = p.du, p.dv, p.bias, p.theta
    projs, blocks, pos = [], [], 0
    for q in net.projections:
        block = _weight_block(q)
        flags = (FLAG_SPARSE if q.sparse else 0) | (FLAG_RECURRENT if q.recurrent else 0)
        src = INPUT_SRC if q.src == INPUT else q.src
        projs.append(PROJ.pack(src, q.dst, flags, q.delay, q.exponent, 0, q.nnz, pos))
        blocks.append(block + b"\0" * (_pad4(len(block)) - len(block)))
        pos += _pad4(len(block))
    inpq = np.zeros(net.n_inputs, dtype=INPQ_DTYPE)
    inpq["scale"], inpq["zero"] = net.input_scale, net.input_zero
    outq = b"".join(OUTQ.pack(o.pop, o.neuron, o.shift, 0, o.zero, o.scale) for o in net.outputs)
    body = b"".join(
        [
            _section(b"POPS", pops),
            _section(b"NEUR", neur.tobytes()),
            _section(b"PROJ", b"".join(projs)),
            _section(b"WGHT", b"".join(blocks)),
            _section(b"INPQ", inpq.tobytes()),
            _section(b"OUTQ", outq),
        ]
    )
    meta = dict(net.meta)
    names = {str(i): p.name for i, p in enumerate(net.populations) if p.name}
    if names:
        meta[NAMES_KEY] = names
    if meta:
        body += _section(b"meta", json.dumps(meta, sort_keys=True).encode())
    if net.fail_safe is not None:
        body += _section(b"fail", np.asarray(net.fail_safe, dtype="<i2").tobytes())
    if net.control_period_s is not None:
        body += _section(b"ctrl", struct.pack("<I", round(net.control_period_s * 1e6)))
    if net.units is not None:
        body += _section(b"unit", _unit_body(net.units))
    file_bytes = HEADER.size + len(body) + 4
    header = HEADER.pack(
        MAGIC, FORMAT_VERSION, HEADER.size, file_bytes, len(net.populations), len(net.projections),
        net.n_inputs, net.n_outputs, net.n_neurons,
    )  # fmt: skip
    data = header + body
    return data + struct.pack("<I", zlib.crc32(data))


def _unit_body(units: DeviceUnits) -> bytes:
    ins = b"".join(UNIT_IN.pack(c.raw_zero, c.mult, c.shift, b"\0\0\0") for c in units.inputs)
    outs = b"".join(UNIT_OUT.pack(c.raw_zero, c.mult, c.raw_min, c.raw_max, c.shift, b"\0\0\0") for c in units.outputs)
    return ins + outs


def _read_units(body: bytes, n_in: int, n_out: int) -> DeviceUnits:
    """The `unit` section, checked in the C core's order (check_unit in snn_load.c)."""
    _need(len(body) == UNIT_IN.size * n_in + UNIT_OUT.size * n_out, ErrorCode.BAD_COUNT,
          "unit section length disagrees with n_inputs and n_outputs")  # fmt: skip
    ins, outs = [], []
    for i in range(n_in):
        raw_zero, mult, shift, res = UNIT_IN.unpack_from(body, UNIT_IN.size * i)
        _need(shift <= MAX_SHIFT and res == b"\0\0\0" and abs(mult) <= MAX_MULT, ErrorCode.BAD_VALUE,
              f"unit section: input {i}: shift, mult or reserved bytes out of range")  # fmt: skip
        ins.append(FixedChannel(raw_zero, mult, shift))
    base = UNIT_IN.size * n_in
    for k in range(n_out):
        raw_zero, mult, lo, hi, shift, res = UNIT_OUT.unpack_from(body, base + UNIT_OUT.size * k)
        _need(shift <= MAX_SHIFT and res == b"\0\0\0" and abs(mult) <= MAX_MULT, ErrorCode.BAD_VALUE,
              f"unit section: output {k}: shift, mult or reserved bytes out of range")  # fmt: skip
        _need(lo <= hi, ErrorCode.BAD_VALUE, f"unit section: output {k}: raw_min {lo} > raw_max {hi}")
        outs.append(FixedChannel(raw_zero, mult, shift, lo, hi))
    return DeviceUnits(tuple(ins), tuple(outs))


def network_crc(blob: bytes) -> int:
    """The file's own CRC-32 (its last four bytes): what identifies a network on a board.

    Not `zlib.crc32(blob)`: a CRC over data followed by its own CRC is the same constant
    (0x2144DF1C) for every valid file, so it cannot tell two networks apart.
    """
    if len(blob) < 4:
        raise ValueError(f"a .snn blob has at least 28 bytes, got {len(blob)}")
    return int.from_bytes(blob[-4:], "little")


def save(net: Network, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(to_bytes(net))
    return path


# ---------------------------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------------------------
def _need(cond: bool, code: ErrorCode, detail: str) -> None:
    if not cond:
        raise SnnFormatError(code, detail)


def _read_sections(buf: bytes, end: int) -> dict[bytes, bytes]:
    """Walk the tagged sections between the header and the CRC; enforce order and presence."""
    pos, seen, sections = HEADER.size, [], {}
    while pos < end:
        _need(pos + SECTION.size <= end, ErrorCode.TRUNCATED, f"section header at byte {pos} runs past the end")
        tag, length = SECTION.unpack_from(buf, pos)
        body_start = pos + SECTION.size
        _need(length <= end - body_start, ErrorCode.TRUNCATED, f"section {tag!r} at byte {pos} runs past the end")
        padded = _pad4(length)
        _need(padded <= end - body_start, ErrorCode.TRUNCATED, f"section {tag!r} padding runs past the end")
        if tag in REQUIRED:
            _need(tag not in seen, ErrorCode.BAD_SECTION, f"section {tag.decode()} appears twice")
            expected = REQUIRED[len(seen)]
            _need(
                tag == expected,
                ErrorCode.BAD_SECTION,
                f"section {tag.decode()} found where {expected.decode()} belongs",
            )
            seen.append(tag)
        elif tag[:1].isupper() or not tag[:1].isalpha():
            raise SnnFormatError(ErrorCode.BAD_SECTION, f"unknown required section tag {tag!r}")
        else:
            _need(
                len(seen) == len(REQUIRED), ErrorCode.BAD_SECTION, f"optional section {tag!r} before the required ones"
            )
        sections[tag] = buf[body_start : body_start + length]
        pos = body_start + padded
    if len(seen) < len(REQUIRED):
        raise SnnFormatError(ErrorCode.BAD_SECTION, f"section {REQUIRED[len(seen)].decode()} is missing")
    return sections


def _check_sparse(block: bytes, n_src: int, n_dst: int, nnz: int, k: int) -> np.ndarray:
    row = np.frombuffer(block, dtype="<u4", count=n_src + 1).astype(np.int64)
    _need(row[0] == 0 and row[-1] == nnz and np.all(np.diff(row) >= 0), ErrorCode.BAD_INDEX,
          f"projection {k}: sparse row pointers are not 0..nnz non-decreasing")  # fmt: skip
    col = np.frombuffer(block, dtype="<u2", count=nnz, offset=4 * (n_src + 1)).astype(np.int64)
    w = np.frombuffer(block, dtype=np.int8, count=nnz, offset=4 * (n_src + 1) + 2 * nnz)
    _need(bool(np.all(col < n_dst)), ErrorCode.BAD_INDEX, f"projection {k}: a sparse destination index >= {n_dst}")
    src = np.repeat(np.arange(n_src), np.diff(row))
    if nnz > 1:
        same_row = src[1:] == src[:-1]
        _need(bool(np.all(col[1:][same_row] > col[:-1][same_row])), ErrorCode.BAD_INDEX,
              f"projection {k}: sparse destinations not strictly increasing within a row")  # fmt: skip
    dense = np.zeros((n_src, n_dst), dtype=np.int8)
    dense[src, col] = w
    _need(int(np.count_nonzero(dense)) == nnz, ErrorCode.BAD_VALUE,
          f"projection {k}: sparse block stores explicit zero weights")  # fmt: skip
    return dense


def _json_depth(obj: object) -> int:
    """Nesting depth of a parsed JSON value (an object or array counts one level), without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def sparse_block_bytes(n_src: int, nnz: int) -> int:
    return 4 * (n_src + 1) + 2 * nnz + nnz


def from_bytes(buf: bytes) -> Network:
    """Parse and validate `.snn` bytes; raises SnnFormatError naming the first problem."""
    buf = bytes(buf)
    _need(len(buf) >= HEADER.size + 4, ErrorCode.TRUNCATED, f"{len(buf)} bytes is shorter than the header")
    magic, version, header_bytes, file_bytes, n_pop, n_proj, n_in, n_out, n_neur = HEADER.unpack_from(buf, 0)
    _need(magic == MAGIC, ErrorCode.BAD_MAGIC, f"magic is {magic!r}, expected {MAGIC!r} (not an .snn file)")
    _need(version == FORMAT_VERSION, ErrorCode.BAD_VERSION,
          f"format version {version}; this reader knows version {FORMAT_VERSION}")  # fmt: skip
    _need(header_bytes == HEADER.size, ErrorCode.BAD_COUNT, f"header_bytes = {header_bytes}, expected {HEADER.size}")
    _need(1 <= n_pop <= MAX_POPULATIONS and n_proj <= MAX_PROJECTIONS and 1 <= n_in <= MAX_INPUTS
          and 1 <= n_out <= MAX_OUTPUTS and 1 <= n_neur <= MAX_NEURONS, ErrorCode.BAD_COUNT,
          f"header counts out of range (populations {n_pop}, projections {n_proj}, inputs {n_in},"
          f" outputs {n_out}, neurons {n_neur})")  # fmt: skip
    _need(file_bytes % 4 == 0 and file_bytes >= HEADER.size + 4, ErrorCode.BAD_COUNT,
          f"file_bytes = {file_bytes} is not a valid file length")  # fmt: skip
    _need(len(buf) >= file_bytes, ErrorCode.TRUNCATED, f"file is {len(buf)} bytes, header says {file_bytes}")
    _need(len(buf) == file_bytes, ErrorCode.BAD_COUNT, f"file is {len(buf)} bytes, header says {file_bytes}")
    end = file_bytes - 4
    (crc,) = struct.unpack_from("<I", buf, end)
    _need(zlib.crc32(buf[:end]) == crc, ErrorCode.BAD_CRC, "CRC-32 mismatch: the file is corrupted")
    sec = _read_sections(buf, end)

    # POPS ---------------------------------------------------------------------------------------
    _need(len(sec[b"POPS"]) == n_pop * POP.size, ErrorCode.BAD_COUNT, "POPS length disagrees with n_populations")
    raw_pops = [POP.unpack_from(sec[b"POPS"], i * POP.size) for i in range(n_pop)]
    sizes = [r[4] for r in raw_pops]
    _need(sum(sizes) == n_neur and min(sizes) >= 1, ErrorCode.BAD_COUNT,
          "population sizes do not add up to n_neurons (or a population is empty)")  # fmt: skip
    for i, (kind, reset, refr, res, _n, da, a_step) in enumerate(raw_pops):
        _need(kind <= Kind.DELTA and reset <= Reset.SOFT and refr <= MAX_REFRACTORY and res == 0
              and da <= DECAY_ONE and 0 <= a_step <= MAX24, ErrorCode.BAD_VALUE,
              f"population {i}: a field is out of range")  # fmt: skip
    # NEUR ---------------------------------------------------------------------------------------
    _need(
        len(sec[b"NEUR"]) == n_neur * NEUR_DTYPE.itemsize, ErrorCode.BAD_COUNT, "NEUR length disagrees with n_neurons"
    )
    neur = np.frombuffer(sec[b"NEUR"], dtype=NEUR_DTYPE)
    for name, lo, hi in (("du", 0, DECAY_ONE), ("dv", 0, DECAY_ONE), ("bias", MIN24, MAX24), ("theta", 1, MAX24)):
        bad = np.flatnonzero((neur[name] < lo) | (neur[name] > hi))
        _need(bad.size == 0, ErrorCode.BAD_VALUE, f"neuron {bad[0] if bad.size else 0}: {name} outside {lo}..{hi}")
    # PROJ + WGHT --------------------------------------------------------------------------------
    _need(len(sec[b"PROJ"]) == n_proj * PROJ.size, ErrorCode.BAD_COUNT, "PROJ length disagrees with n_projections")
    wght = sec[b"WGHT"]
    projections, used = [], 0
    for k in range(n_proj):
        src, dst, flags, delay, expo, res, nnz, offset = PROJ.unpack_from(sec[b"PROJ"], k * PROJ.size)
        _need(dst < n_pop and (src < n_pop or src == INPUT_SRC), ErrorCode.BAD_INDEX,
              f"projection {k}: src {src} or dst {dst} is not a population")  # fmt: skip
        _need(flags & ~3 == 0 and res == 0 and delay <= MAX_DELAY and EXPONENT_RANGE[0] <= expo <= EXPONENT_RANGE[1],
              ErrorCode.BAD_VALUE, f"projection {k}: flags, delay or exponent out of range")  # fmt: skip
        recurrent, sparse = bool(flags & FLAG_RECURRENT), bool(flags & FLAG_SPARSE)
        lag = delay + recurrent
        if src == INPUT_SRC:
            _need(lag == 0, ErrorCode.BAD_VALUE, f"projection {k}: an INPUT projection must have lag 0")
        else:
            _need(lag > 0 or src < dst, ErrorCode.BAD_INDEX, f"projection {k}: a lag-0 projection must run forward")
        n_src = n_in if src == INPUT_SRC else sizes[src]
        n_dst = sizes[dst]
        _need(offset % 4 == 0 and offset >= used, ErrorCode.BAD_INDEX,
              f"projection {k}: weight block offset {offset} misaligned or overlapping")  # fmt: skip
        if sparse:
            _need(nnz <= n_src * n_dst, ErrorCode.BAD_COUNT, f"projection {k}: nnz {nnz} > n_src*n_dst")
            size = sparse_block_bytes(n_src, nnz)
        else:
            _need(nnz == n_src * n_dst, ErrorCode.BAD_COUNT, f"projection {k}: dense nnz {nnz} != n_src*n_dst")
            size = nnz
        _need(offset + size <= len(wght), ErrorCode.BAD_INDEX, f"projection {k}: weight block runs outside WGHT")
        block = wght[offset : offset + size]
        if sparse:
            weights = _check_sparse(block, n_src, n_dst, nnz, k)
        else:
            weights = np.frombuffer(block, dtype=np.int8).reshape(n_src, n_dst).copy()
        used = offset + size
        projections.append(Projection(INPUT if src == INPUT_SRC else src, dst, weights, expo, recurrent, delay, sparse))
    # INPQ / OUTQ --------------------------------------------------------------------------------
    _need(len(sec[b"INPQ"]) == n_in * INPQ_DTYPE.itemsize, ErrorCode.BAD_COUNT, "INPQ length disagrees with n_inputs")
    inpq = np.frombuffer(sec[b"INPQ"], dtype=INPQ_DTYPE)
    _need(bool(np.all(np.isfinite(inpq["scale"]) & (inpq["scale"] > 0)) and np.all(inpq["reserved"] == 0)),
          ErrorCode.BAD_VALUE, "an input scale is not finite and positive")  # fmt: skip
    _need(len(sec[b"OUTQ"]) == n_out * OUTQ.size, ErrorCode.BAD_COUNT, "OUTQ length disagrees with n_outputs")
    outputs = []
    for k in range(n_out):
        pop, neuron, shift, res, zero, scale = OUTQ.unpack_from(sec[b"OUTQ"], k * OUTQ.size)
        _need(pop < n_pop and neuron < sizes[pop], ErrorCode.BAD_INDEX, f"output {k}: neuron {pop}/{neuron} missing")
        _need(shift <= MAX_OUTPUT_SHIFT and res == 0 and np.isfinite(scale) and scale > 0, ErrorCode.BAD_VALUE,
              f"output {k}: shift or scale out of range")  # fmt: skip
        outputs.append(Output(pop, neuron, shift, float(scale), zero))
    # optional sections ---------------------------------------------------------------------------
    meta: dict = {}
    if b"meta" in sec:
        try:
            meta = json.loads(sec[b"meta"].decode())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise SnnFormatError(ErrorCode.BAD_VALUE, f"meta section is not UTF-8 JSON ({type(e).__name__})") from None
        _need(_json_depth(meta) <= META_MAX_DEPTH, ErrorCode.BAD_VALUE, f"meta nests deeper than {META_MAX_DEPTH}")
        _need(isinstance(meta, dict), ErrorCode.BAD_VALUE, "meta section is not a JSON object")
    fail_safe = None
    if b"fail" in sec:
        _need(len(sec[b"fail"]) == 2 * n_out, ErrorCode.BAD_COUNT, "fail section needs one int16 per output")
        fail_safe = np.frombuffer(sec[b"fail"], dtype="<i2").astype(np.int64)
    control_period_s = None
    if b"ctrl" in sec:
        _need(len(sec[b"ctrl"]) == 4, ErrorCode.BAD_COUNT, "ctrl section must hold one u32 (microseconds)")
        (period_us,) = struct.unpack("<I", sec[b"ctrl"])
        _need(period_us > 0, ErrorCode.BAD_VALUE, "ctrl section: control period 0 us")
        control_period_s = period_us / 1e6
    units = _read_units(sec[b"unit"], n_in, n_out) if b"unit" in sec else None

    names = meta.pop(NAMES_KEY, {})
    _need(isinstance(names, dict), ErrorCode.BAD_VALUE, "meta population_names is not an object")
    populations = []
    start = 0
    for i, (kind, reset, refr, _res, n, da, a_step) in enumerate(raw_pops):
        sl = slice(start, start + n)
        start += n
        populations.append(
            Population(Kind(kind), n, neur["du"][sl], neur["dv"][sl], neur["bias"][sl], neur["theta"][sl],
                       Reset(reset), refr, da, a_step, name=str(names.get(str(i), "")))
        )  # fmt: skip
    try:
        return Network(n_in, populations, projections, outputs, inpq["scale"].copy(), inpq["zero"].astype(np.int64),
                       meta, fail_safe, control_period_s, units)  # fmt: skip
    except NetworkError as e:  # every rule should be caught above; this keeps the promise of one error type
        raise SnnFormatError(ErrorCode.BAD_VALUE, str(e)) from None


def load(path: str | Path) -> Network:
    """Read a `.snn` file. Errors carry the file name: `net.snn: BAD_CRC: ...`."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return from_bytes(data)
    except SnnFormatError as e:
        raise SnnFormatError(e.code, f"{path}: {e.detail}") from None
