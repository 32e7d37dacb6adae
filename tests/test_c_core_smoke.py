"""Smoke tests of the C99 core (firmware_bridge/firmware/core) through its host tools.

The `.snn` blobs here come from a tiny writer in this file (struct.pack straight from
docs/snn-format.md, CRC from zlib), not from snnctl.snnfile, so the C parser is checked against
the document independently of the Python writer. The expected outputs of the arithmetic cases are
worked out by hand from docs/integer-model.md in the comments.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from firmware_bridge.build import build_host_tool

INPUT = 0xFFFF
LIF, ALIF, LI, DELTA = 0, 1, 2, 3
OK, TRUNCATED, BAD_MAGIC, BAD_VERSION, BAD_CRC, BAD_SECTION, BAD_COUNT, BAD_INDEX, BAD_VALUE = range(0, -9, -1)


# ---- a minimal, independent .snn writer ------------------------------------------------------------
def _section(tag: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", tag, len(body)) + body + b"\0" * (-len(body) % 4)


def make_blob(
    n_inputs: int,
    pops: list[dict],
    projs: list[dict],
    outputs: list[tuple[int, int, int]],
    extra: bytes = b"",
) -> bytes:
    """pops: dicts with kind, n, du, dv, bias, theta (per-neuron lists) and optional reset,
    refractory, da, a_step. projs: dicts with src, dst, w (list of rows, source-major), and
    optional exponent, recurrent, delay, sparse. outputs: (pop, neuron, shift)."""
    pops_b = b"".join(
        struct.pack("<BBBBHHi", p["kind"], p.get("reset", 0), p.get("refractory", 0), 0, p["n"], p.get("da", 0),
                    p.get("a_step", 0))
        for p in pops
    )  # fmt: skip
    neur_b = b"".join(
        struct.pack("<HHii", du, dv, bias, theta)
        for p in pops
        for du, dv, bias, theta in zip(p["du"], p["dv"], p["bias"], p["theta"], strict=True)
    )
    proj_b, wght_b = b"", b""
    for q in projs:
        rows = q["w"]
        if q.get("sparse"):
            ptr, cols, ws = [0], [], []
            for row in rows:
                for j, w in enumerate(row):
                    if w:
                        cols.append(j)
                        ws.append(w)
                ptr.append(len(cols))
            block = struct.pack(f"<{len(ptr)}I{len(cols)}H{len(ws)}b", *ptr, *cols, *ws)
            nnz = len(ws)
        else:
            flat = [w for row in rows for w in row]
            block = struct.pack(f"<{len(flat)}b", *flat)
            nnz = len(flat)
        flags = (1 if q.get("sparse") else 0) | (2 if q.get("recurrent") else 0)
        proj_b += struct.pack("<HHBBbBII", q["src"], q["dst"], flags, q.get("delay", 0), q.get("exponent", 0), 0, nnz,
                              len(wght_b))  # fmt: skip
        wght_b += block + b"\0" * (-len(block) % 4)
    inpq_b = b"".join(struct.pack("<fhH", 1.0, 0, 0) for _ in range(n_inputs))
    outq_b = b"".join(struct.pack("<HHBBhf", pop, neuron, shift, 0, 0, 1.0) for pop, neuron, shift in outputs)
    body = b"".join(
        _section(tag, b)
        for tag, b in ((b"POPS", pops_b), (b"NEUR", neur_b), (b"PROJ", proj_b), (b"WGHT", wght_b), (b"INPQ", inpq_b),
                       (b"OUTQ", outq_b))
    ) + extra  # fmt: skip
    n_neurons = sum(p["n"] for p in pops)
    file_bytes = 24 + len(body) + 4
    header = struct.pack("<4sHHIHHHHI", b"SNNC", 1, 24, file_bytes, len(pops), len(projs), n_inputs, len(outputs),
                         n_neurons)  # fmt: skip
    data = header + body
    return data + struct.pack("<I", zlib.crc32(data))


def with_crc(blob: bytes) -> bytes:
    """Re-seal a modified blob so the check under test is reached (not BAD_CRC)."""
    return blob[:-4] + struct.pack("<I", zlib.crc32(blob[:-4]))


def _append(blob: bytes, section: bytes) -> bytes:
    """Add a section before the CRC and fix file_bytes and the CRC."""
    body = bytearray(blob[:-4] + section)
    struct.pack_into("<I", body, 8, len(body) + 4)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def patch(blob: bytes, offset: int, fmt: str, *values: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt, b, offset, *values)
    return with_crc(bytes(b))


# ---- the hand-worked network ---------------------------------------------------------------------
# input --(w=2, e=0)--> P0: one LIF neuron --(w=100, e=4)--> P1: one LI neuron --> output (shift 4)
#   P0: du=4096 (no current memory: u = I), dv=2048 (v halves), bias=10, theta=1000, hard reset,
#       refractory 1.  P1: du=2048, dv=1024, bias=-5 (theta ignored).
HAND_NET = make_blob(
    1,
    [
        dict(kind=LIF, n=1, du=[4096], dv=[2048], bias=[10], theta=[1000], refractory=1),
        dict(kind=LI, n=1, du=[2048], dv=[1024], bias=[-5], theta=[1]),
    ],
    [dict(src=INPUT, dst=0, w=[[2]]), dict(src=0, dst=1, w=[[100]], exponent=4)],
    [(1, 0, 4)],
)
HAND_CODES = [300, 300, 300, -400, 0]
# decay(x, d) = x - floor(x*d / 4096); out = floor(v1 / 16)
# t1: I0 = 2*300 = 600. u0 = 0 + 600 = 600. v0 = decay(0) + 600 + 10 = 610 < 1000: no spike.
#     P1: I1 = 0. u1 = 0. v1 = decay(0) + 0 - 5 = -5.                out = floor(-5/16) = -1
# t2: u0 = decay(600, 4096) + 600 = 600. v0 = (610 - 305) + 600 + 10 = 915: no spike.
#     u1 = 0. v1 = decay(-5, 1024) - 5 = (-5 - floor(-1.25)) - 5 = -3 - 5 = -8.   out = -1
# t3: u0 = 600. v0 = (915 - floor(457.5)) + 610 = 458 + 610 = 1068 >= 1000: spike, v0 = 0, r0 = 1.
#     I1 = scale(100, 4) = 1600. u1 = 0 + 1600 = 1600.
#     v1 = decay(-8, 1024) + 1600 - 5 = (-8 - (-2)) + 1595 = 1589.       out = floor(1589/16) = 99
# t4: I0 = 2*(-400) = -800. u0 = decay(600, 4096) - 800 = -800. r0 = 1: r0 -> 0, v0 frozen at 0.
#     I1 = 0. u1 = 1600 - 800 = 800. v1 = (1589 - floor(397.25)) + 800 - 5 = 1192 + 795 = 1987.
#                                                                          out = floor(1987/16) = 124
# t5: I0 = 0. u0 = decay(-800, 4096) = -800 - (-800) = 0. v0 = 0 + 0 + 10 = 10: no spike.
#     u1 = 800 - 400 = 400. v1 = (1987 - floor(496.75)) + 400 - 5 = 1491 + 395 = 1886.  out = 117
HAND_OUT = [-1, -1, 99, 124, 117]
HAND_SPIKES = [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]]
HAND_U = [[600, 0], [600, 0], [600, 1600], [-800, 800], [0, 400]]
HAND_V = [[610, -5], [915, -8], [0, 1589], [0, 1987], [10, 1886]]


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cbuild")
    try:
        return {name: build_host_tool(name, out_dir=out, sanitize=True) for name in ("snnrun", "snncheck")}
    except RuntimeError as e:
        if "not found" in str(e):
            pytest.skip(str(e))
        raise


def snncheck(tools: dict[str, Path], blobs: list[bytes]) -> list[int]:
    stream = b"".join(struct.pack("<I", len(b)) + b for b in blobs)
    proc = subprocess.run([str(tools["snncheck"])], input=stream, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return list(struct.unpack(f"<{len(blobs)}i", proc.stdout))


def snnrun(
    tools: dict[str, Path], tmp_path: Path, blob: bytes, codes: bytes, *args: str
) -> subprocess.CompletedProcess:
    path = tmp_path / "net.snn"
    path.write_bytes(blob)
    return subprocess.run([str(tools["snnrun"]), str(path), *args], input=codes, capture_output=True, timeout=60)


def test_parser_accepts_valid_and_names_corruptions(tools: dict[str, Path]) -> None:
    good = HAND_NET
    sparse_rec = make_blob(
        2,
        [dict(kind=ALIF, n=3, du=[0, 1, 4096], dv=[7] * 3, bias=[0] * 3, theta=[5] * 3, da=100, a_step=9)],
        [dict(src=INPUT, dst=0, w=[[0, 3, 0], [-4, 0, 5]], sparse=True),
         dict(src=0, dst=0, w=[[1, 0, 0], [0, 0, 0], [0, 0, -1]], recurrent=True, delay=3, sparse=True)],
        [(0, 2, 0)],
        extra=_section(b"meta", b'{"name": "x"}') + _section(b"fail", struct.pack("<h", -7)),
    )  # fmt: skip
    pops_body = 24 + 8  # POPS body offset in HAND_NET
    proj_body = pops_body + 2 * 12 + 8 + 2 * 12 + 8  # after POPS and NEUR
    cases = [
        (good, OK),
        (sparse_rec, OK),
        (b"", TRUNCATED),
        (good[:27], TRUNCATED),
        (good[:-4], TRUNCATED),  # shorter than file_bytes says
        (b"SNNX" + good[4:], BAD_MAGIC),
        (patch(good, 4, "<H", 2), BAD_VERSION),
        (good[:-1] + bytes([good[-1] ^ 1]), BAD_CRC),
        (patch(good, 12, "<H", 0), BAD_COUNT),  # zero populations
        (good + b"\0\0\0\0", BAD_COUNT),  # buffer longer than file_bytes
        (patch(good, 24, "<4s", b"NEUR"), BAD_SECTION),  # POPS missing: NEUR first
        (patch(good, 24, "<4s", b"Pops"), BAD_SECTION),  # unknown required tag
        (patch(good, 24, "<4s", b"pops"), BAD_SECTION),  # optional tag before the required ones
        (patch(good, pops_body + 0, "<B", 4), BAD_VALUE),  # kind 4
        (patch(good, pops_body + 12 + 4, "<H", 2), BAD_COUNT),  # population sizes no longer add up
        (patch(good, proj_body + 16 + 2, "<H", 2), BAD_INDEX),  # dst = 2 of 2 populations
        (patch(good, proj_body + 16 + 6, "<b", 17), BAD_VALUE),  # exponent 17
        (patch(good, proj_body + 16 + 0, "<H", 1), BAD_INDEX),  # 1 -> 1 with lag 0
        (patch(good, proj_body + 8, "<I", 2), BAD_COUNT),  # dense nnz != n_src * n_dst
        (patch(good, proj_body + 16 + 12, "<I", 8), BAD_INDEX),  # weight block outside WGHT
        (with_crc(good[:-4] + _section(b"meta", b"{'a': 1}") + good[-4:]), BAD_COUNT),  # file_bytes now wrong
        (_append(good, _section(b"meta", b"{'a': 1}")), BAD_VALUE),  # not JSON
        (_append(good, _section(b"meta", b"[]")), BAD_VALUE),  # JSON, but not an object
        (_append(good, _section(b"fail", b"\0\0\0\0")), BAD_COUNT),  # 2 codes for 1 output
        (_append(good, _section(b"zzzz", b"anything")), OK),  # unknown optional section: skipped
    ]
    assert snncheck(tools, [b for b, _ in cases]) == [code for _, code in cases]


def test_hand_worked_trace(tools: dict[str, Path], tmp_path: Path) -> None:
    codes = struct.pack(f"<{len(HAND_CODES)}h", *HAND_CODES)
    proc = snnrun(tools, tmp_path, HAND_NET, codes, "--trace")
    assert proc.returncode == 0, proc.stderr.decode()
    n, rec = 2, 2 + 13 * 2  # per step: 1 output int16, then spikes (N u8), u, v, a (N int32 each)
    assert len(proc.stdout) == rec * len(HAND_CODES)
    for t in range(len(HAND_CODES)):
        out, s0, s1, *state = struct.unpack_from(f"<h{n}B{3 * n}i", proc.stdout, t * rec)
        assert out == HAND_OUT[t], t
        assert [s0, s1] == HAND_SPIKES[t], t
        assert state[0:2] == HAND_U[t] and state[2:4] == HAND_V[t] and state[4:6] == [0, 0], t
    plain = snnrun(tools, tmp_path, HAND_NET, codes)
    assert plain.returncode == 0 and struct.unpack("<5h", plain.stdout) == tuple(HAND_OUT)


def test_lags_and_sparse(tools: dict[str, Path], tmp_path: Path) -> None:
    # P0: LIF, u = v = input code (du = dv = 4096, bias 0), theta 1: spikes exactly when code >= 1.
    # P1 (LI) gets P0 with delay 2 (sparse), P2 (LI) gets P0 recurrent (lag 1); both forget
    # everything each step (du = dv = 4096), so v1(t) = s0(t - 2) and v2(t) = s0(t - 1).
    one = dict(du=[4096], dv=[4096], bias=[0], theta=[1])
    blob = make_blob(
        1,
        [dict(kind=LIF, n=1, **one), dict(kind=LI, n=1, **one), dict(kind=LI, n=1, **one)],
        [dict(src=INPUT, dst=0, w=[[1]]), dict(src=0, dst=1, w=[[1]], delay=2, sparse=True),
         dict(src=0, dst=2, w=[[1]], recurrent=True)],
        [(1, 0, 0), (2, 0, 0)],
    )  # fmt: skip
    s0 = [1, 0, 0, 1, 1, 0, 0]
    proc = snnrun(tools, tmp_path, blob, struct.pack("<7h", *[5 if s else -5 for s in s0]))
    assert proc.returncode == 0, proc.stderr.decode()
    outs = struct.unpack("<14h", proc.stdout)
    assert list(outs[0::2]) == [0, 0] + s0[:-2]
    assert list(outs[1::2]) == [0] + s0[:-1]


def test_snnrun_errors_and_info(tools: dict[str, Path], tmp_path: Path) -> None:
    bad = snnrun(tools, tmp_path, HAND_NET[:-1] + bytes([HAND_NET[-1] ^ 1]), b"")
    assert bad.returncode == 10 + 4
    assert bad.stderr.decode().strip().endswith("net.snn: BAD_CRC")
    partial = snnrun(tools, tmp_path, HAND_NET, b"\x01\x00\x02")  # one step and a half
    assert partial.returncode == 3 and len(partial.stdout) == 2
    info = snnrun(tools, tmp_path, HAND_NET, b"", "--info")
    assert info.returncode == 0
    # 2 pops * 28 + 2 projs * 28 + 1 output * 4, du/dv 2 * 4, bias/theta/u/v/a 5 * 8, r 4,
    # history 2 * 4, scratch 2 * 4
    assert info.stdout.decode() == f"arena_bytes={56 + 56 + 4 + 8 + 40 + 4 + 8 + 8}\n"
