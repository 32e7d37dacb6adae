"""`.snn` reading and writing: exact round trips, and every corruption caught with its code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl import snnfile
from snnctl.models import blimp_shaped_network
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection
from snnctl.snnfile import ErrorCode, SnnFormatError
from snnctl.units import DeviceUnits, FixedChannel

from . import snn_corrupt
from .randnet import networks


def _sample() -> Network:
    """Small, but with every section type: sparse + dense, recurrent, delay, meta, fail-safe, control
    period, raw-unit conversion."""
    pops = [Population(Kind.LIF, 3, name="enc"), Population(Kind.ALIF, 2, da=5, a_step=7), Population(Kind.LI, 1)]
    projs = [
        Projection(INPUT, 0, np.array([[1, -2, 3], [0, 4, 0]])),
        Projection(0, 1, np.array([[0, 5], [6, 0], [0, 0]]), sparse=True, exponent=-3),
        Projection(1, 1, np.array([[1, 1], [1, 1]]), recurrent=True, delay=3),
        Projection(1, 2, np.array([[9], [-9]]), exponent=4),
    ]
    return Network(2, pops, projs, [Output(2, 0, shift=2, scale=0.5, zero=3)], input_scale=[0.1, 0.2],
                   meta={"family": "test"}, fail_safe=[-5], control_period_s=0.1,
                   units=DeviceUnits((FixedChannel(1500, -429496730, 32), FixedChannel(-7, 3, 0)),
                                     (FixedChannel(500, 1000, 10, 0, 1000),)))  # fmt: skip


def _same(a: Network, b: Network) -> None:
    assert snnfile.to_bytes(a) == snnfile.to_bytes(b)
    assert [p.name for p in a.populations] == [p.name for p in b.populations]
    for qa, qb in zip(a.projections, b.projections, strict=True):
        np.testing.assert_array_equal(qa.weights, qb.weights)
        assert (qa.src, qa.dst, qa.exponent, qa.recurrent, qa.delay, qa.sparse) == (
            qb.src, qb.dst, qb.exponent, qb.recurrent, qb.delay, qb.sparse)  # fmt: skip
    assert a.meta == b.meta
    assert a.control_period_s == b.control_period_s
    assert a.units == b.units


def test_round_trip_sample(tmp_path) -> None:
    net = _sample()
    path = snnfile.save(net, tmp_path / "n.snn")
    back = snnfile.load(path)
    _same(net, back)
    assert back.fail_safe.tolist() == [-5]
    assert back.control_period_s == 0.1
    np.testing.assert_array_equal(back.input_scale, np.float32([0.1, 0.2]))


def test_layout_matches_the_spec_by_hand() -> None:
    """The header and section framing read with struct, independently of the reader."""
    import struct
    import zlib

    buf = snnfile.to_bytes(_sample())
    magic, ver, hdr, size, npop, nproj, nin, nout, nneur = struct.unpack_from("<4sHHIHHHHI", buf, 0)
    assert (magic, ver, hdr, size, npop, nproj, nin, nout, nneur) == (b"SNNC", 1, 24, len(buf), 3, 4, 2, 1, 6)
    assert struct.unpack_from("<I", buf, len(buf) - 4)[0] == zlib.crc32(buf[:-4])
    tag, length = struct.unpack_from("<4sI", buf, 24)
    assert (tag, length) == (b"POPS", 3 * 12)
    # the sparse block of projection 1: row pointers [0, 1, 2, 2], columns [1, 0], weights [5, 6]
    secs = snn_corrupt.sections(buf)
    wbody = secs[b"WGHT"][0] + 8
    proj1 = secs[b"PROJ"][0] + 8 + 16
    flags, nnz, offset = buf[proj1 + 4], *struct.unpack_from("<II", buf, proj1 + 8)
    assert (flags, nnz) == (1, 2)
    block = buf[wbody + offset : wbody + offset + 4 * 4 + 2 * 2 + 2]
    assert struct.unpack("<4I2H2b", block) == (0, 1, 2, 2, 1, 0, 5, 6)


@settings(max_examples=100, deadline=None)
@given(net=networks())
def test_round_trip_random(net: Network) -> None:
    _same(net, snnfile.from_bytes(snnfile.to_bytes(net)))


def test_every_truncation_is_reported() -> None:
    buf = snnfile.to_bytes(_sample())
    for what, bad in snn_corrupt.truncations(buf):
        with pytest.raises(SnnFormatError) as e:
            snnfile.from_bytes(bad)
        assert e.value.code == ErrorCode.TRUNCATED, what


@pytest.mark.parametrize("case", list(snn_corrupt.targeted(snnfile.to_bytes(_sample()))), ids=lambda c: c[0])
def test_targeted_corruption(case) -> None:
    what, bad, code = case
    with pytest.raises(SnnFormatError) as e:
        snnfile.from_bytes(bad)
    assert e.value.code == code, f"{what}: {e.value}"
    assert "\n" not in str(e.value)


def test_random_flips_never_escape_as_other_errors() -> None:
    buf = snnfile.to_bytes(blimp_shaped_network(3))
    accepted = 0
    for _what, bad in snn_corrupt.flips(buf, 3000, seed=1):
        try:
            net = snnfile.from_bytes(bad)
        except SnnFormatError:
            continue
        accepted += 1  # a re-sealed change to a weight byte or parameter is a valid, different network
        net.validate()
    assert accepted < 3000


def test_unknown_optional_section_is_skipped() -> None:
    buf = snnfile.to_bytes(_sample())
    extra = b"zzzz" + (3).to_bytes(4, "little") + b"abc\0"
    grown = buf[:-4] + extra
    grown = grown[:8] + (len(grown) + 4).to_bytes(4, "little") + grown[12:]
    net = snnfile.from_bytes(snn_corrupt.reseal(grown + b"\0\0\0\0"))
    _same(net, _sample())


def test_load_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.snn"
    path.write_bytes(b"SNNC" + bytes(30))
    with pytest.raises(SnnFormatError, match="broken.snn"):
        snnfile.load(path)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_format_errors(data: bytes) -> None:
    with pytest.raises(SnnFormatError):
        snnfile.from_bytes(data)


@pytest.mark.parametrize("period", [0.1, 0.04, 0.2, 1 / 3, 1e-6, 4294.967295])
def test_control_period_round_trips_in_whole_microseconds(period: float) -> None:
    net = _sample()
    net.control_period_s = period
    back = snnfile.from_bytes(snnfile.to_bytes(net))
    assert back.control_period_s == round(period * 1e6) / 1e6
    assert abs(back.control_period_s - period) <= 0.5e-6


def test_control_period_section_layout_and_absence() -> None:
    """`ctrl` holds u32 microseconds; a network without a period writes no `ctrl` (old files read as None)."""
    import struct

    buf = snnfile.to_bytes(_sample())
    pos, length = snn_corrupt.sections(buf)[b"ctrl"]
    assert length == 4 and struct.unpack_from("<I", buf, pos + 8)[0] == 100_000
    net = _sample()
    net.control_period_s = None
    plain = snnfile.to_bytes(net)
    assert b"ctrl" not in snn_corrupt.sections(plain)
    assert snnfile.from_bytes(plain).control_period_s is None


@pytest.mark.parametrize("period", [0.0, -0.1, float("nan"), float("inf"), 4e-7, 5000.0])
def test_control_period_out_of_range_is_a_network_error(period: float) -> None:
    from snnctl.network import NetworkError

    net = _sample()
    with pytest.raises(NetworkError, match="control_period_s"):
        Network(net.n_inputs, net.populations, net.projections, net.outputs, control_period_s=period)
