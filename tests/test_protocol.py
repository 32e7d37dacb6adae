"""The serial protocol codec (firmware_bridge.protocol) and the client (firmware_bridge.device) against
a Python device written from the spec (tests/fake_device.py). Real devices: tests/test_device.py."""

from __future__ import annotations

import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as P
from firmware_bridge.protocol import MsgType

# -- COBS -------------------------------------------------------------------------------------------

runs = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.integers(250, 520).map(lambda n: bytes([7]) * n),  # runs across the 254/255-byte block limits
        st.sampled_from([b"\0", b"\0\0", bytes(254), bytes([1]) * 254, bytes([1]) * 255, bytes([0xFF]) * 253]),
    ),
    max_size=6,
).map(b"".join)


@given(runs)
@settings(max_examples=400)
def test_cobs_round_trip_and_no_zero(data):
    enc = P.cobs_encode(data)
    assert b"\0" not in enc
    assert P.cobs_decode(enc) == data
    assert len(enc) <= P.cobs_max_encoded(len(data))


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 508, 509])
def test_cobs_block_edges(n):
    for fill in (b"\1", b"\0"):
        data = fill * n
        assert P.cobs_decode(P.cobs_encode(data)) == data
        assert P.cobs_decode(P.cobs_encode(data + b"\0")) == data + b"\0"


def test_cobs_known_vectors():  # from the COBS paper / Wikipedia
    assert P.cobs_encode(b"") == b"\x01"
    assert P.cobs_encode(b"\0") == b"\x01\x01"
    assert P.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert P.cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"


@pytest.mark.parametrize("bad", [b"\x05\x01", b"\x02\x00", b"\x00"])
def test_cobs_decode_rejects(bad):
    with pytest.raises(P.CobsError):
        P.cobs_decode(bad)


# -- packets ----------------------------------------------------------------------------------------

types = st.integers(0, 255)
seqs = st.integers(0, 0xFFFF)
payloads = st.binary(max_size=300)


@given(types, seqs, payloads)
def test_packet_round_trip(mtype, seq, payload):
    pkt = P.decode_frame(P.frame(mtype, seq, payload))
    assert (pkt.version, pkt.type, pkt.seq, pkt.payload) == (2, mtype, seq, payload)


def test_packet_layout():
    raw = P.build_packet(MsgType.STEP, 0x1234, b"\x00\x05\x00")
    assert raw[:6] == bytes([2, 5, 0x34, 0x12, 3, 0])
    assert raw[-4:] == zlib.crc32(raw[:-4]).to_bytes(4, "little")


@given(types, seqs, st.binary(min_size=0, max_size=100), st.data())
def test_crc_damage_detected(mtype, seq, payload, data):
    raw = bytearray(P.build_packet(mtype, seq, payload))
    bit = data.draw(st.integers(0, 8 * len(raw) - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(P.FrameError) as exc:
        P.parse_packet(bytes(raw))
    assert exc.value.kind == "crc_errors"


def test_length_mismatch_and_short_frames():
    body = P.HEADER.pack(1, 1, 7, 5) + b"abc"  # claims 5 payload bytes, carries 3
    with pytest.raises(P.FrameError, match="header says") as exc:
        P.parse_packet(body + P.CRC.pack(zlib.crc32(body)))
    assert exc.value.kind == "framing_errors"
    with pytest.raises(P.FrameError) as exc:
        P.parse_packet(b"\1\2\3")
    assert exc.value.kind == "framing_errors"


# -- the streaming decoder --------------------------------------------------------------------------

garbage = st.binary(max_size=60)  # zeros included: garbage may hold several bad "frames"


@given(
    st.lists(st.tuples(types, seqs, st.binary(max_size=200)), min_size=1, max_size=6),
    st.lists(garbage, min_size=7, max_size=7),
    st.data(),
)
@settings(max_examples=300)
def test_decoder_random_chunking_with_garbage(frames, junk, data):
    # garbage between frames, each piece of garbage ended by a delimiter; it must never surface
    stream = bytearray()
    for (mtype, seq, payload), j in zip(frames, junk, strict=False):
        stream += j + b"\0" + P.frame(mtype, seq, payload)
    stream += junk[-1]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [bytes(stream[a:b]) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    dec = P.FrameDecoder()
    got = dec.feed_all(chunks)
    assert [(p.type, p.seq, p.payload) for p in got] == frames
    assert dec.packets == len(frames)


def test_decoder_counts_and_resyncs():
    dec = P.FrameDecoder(max_payload=64)
    good = P.frame(MsgType.STATS, 1)
    flipped = bytearray(good)
    flipped[3] ^= 0x10
    if 0 in flipped[:-1]:
        flipped[3] ^= 0x30
    got = dec.feed(b"\0\0" + bytes(flipped) + b"\x01\x02\x03\0" + bytes([7]) * 500 + good + good)
    # the over-long run swallows the first good frame up to its delimiter; the second survives
    assert [p.seq for p in got] == [1]
    assert dec.crc_errors + dec.framing_errors >= 2
    assert dec.dropped_frames == 1
    assert [p.seq for p in dec.feed(good)] == [1]


# -- message table ----------------------------------------------------------------------------------


def test_message_table_round_trips():
    info_pl = P.pack_response(MsgType.HELLO, 1, 0, 2, 3, 0b10101, 256, 512, 9000, 8192, 8192, 100, 12_000_000, 4,
                              tail=b"abcd")  # fmt: skip
    info = P.unpack_response(MsgType.HELLO, info_pl)
    assert info.name == "abcd" and info.max_payload == 256 and info.firmware_version == "0.2.3"
    assert info.capability_names == ["cycle_counter", "spike_counts", "network_in_flash"]
    ni_payload = P.pack_response(MsgType.NETINFO, 1, 1, 2, 160, 3280, 6000, 0xDEAD, 4096, 100_000, 1)
    ni = P.unpack_response(MsgType.NETINFO, ni_payload)
    assert ni.loaded is True and ni.n_synapses == 3280 and ni.blob_crc32 == 0xDEAD
    assert ni.period_us == 100_000 and ni.running is True
    res = P.unpack_response(MsgType.STEP, P.pack_response(MsgType.STEP, 9, 3, tail=b"\x01\x00\xff\xff"
                                                          + P.STEP_COUNTS.pack(5, 600, 70000)))  # fmt: skip
    assert res.outputs.tolist() == [1, -1] and res.step == 9 and res.watchdog_tripped
    assert (res.spikes, res.synops, res.cycles) == (5, 600, 70000)
    assert P.unpack_response(MsgType.LOAD_CHUNK, b"\x10\0\0\0") == 16
    assert P.unpack_response(MsgType.RESET, b"") is None
    assert P.pack_request(MsgType.STEP, 1, tail=np.array([-2, 3])) == b"\x01\xfe\xff\x03\x00"
    with pytest.raises(P.PayloadError):
        P.unpack_response(MsgType.STATS, bytes(40))  # the version-1 size
    with pytest.raises(P.PayloadError):
        P.unpack_response(MsgType.HELLO, info_pl + b"x")


# -- the client against a Python device -------------------------------------------------------------

dev_mod = pytest.importorskip("firmware_bridge.device")
pytest.importorskip("serial")


@pytest.fixture
def fake():
    from tests.fake_device import FakeDevice

    with FakeDevice() as f:
        yield f


@pytest.fixture(scope="module")
def blimp():
    from snnctl.models import blimp_shaped_network

    net = blimp_shaped_network(seed=3)
    net.fail_safe = np.array([111, -222])
    net.validate()
    return net


def _codes(t, seed=0):
    return np.random.default_rng(seed).integers(-600, 600, (t, 1)).astype(np.int16)


def test_client_deploy_step_run(fake, blimp):
    from snnctl.runtime import run

    with dev_mod.Device(fake.url, timeout=0.3) as dev:
        info = dev.hello()
        assert info.name == "fake" and info.max_payload == 128
        seen = []
        ni = dev.deploy(blimp, progress=lambda a, b: seen.append((a, b)))
        assert ni.n_neurons == blimp.n_neurons and seen[-1][0] == seen[-1][1] == ni.blob_bytes
        codes = _codes(600)
        ref = run(blimp, codes)
        first = dev.step(codes[0], counts=True)
        assert first.outputs.tolist() == ref[0].tolist() and first.step == 1 and first.spikes is not None
        got = dev.run(codes[1:], window=6)
        np.testing.assert_array_equal(got, ref[1:])
        dev.reset()
        np.testing.assert_array_equal(dev.run(codes[:50], window=1), ref[:50])


def test_client_retry_replays_instead_of_rerunning(blimp):
    from snnctl.runtime import run
    from tests.fake_device import FakeDevice

    with FakeDevice() as fake, dev_mod.Device(fake.url, timeout=0.15, retries=3) as dev:
        dev.hello()
        dev.deploy(blimp)
        codes = _codes(20, 1)
        ref = run(blimp, codes)
        fake.drop_replies = 2  # the next two replies vanish: the client re-sends, the device replays
        executed = fake.executed
        assert dev.step(codes[0]).outputs.tolist() == ref[0].tolist()
        assert fake.executed == executed + 1  # ran once although sent three times
        np.testing.assert_array_equal(dev.run(codes[1:], window=1), ref[1:])


def test_client_timeouts_and_errors(fake, blimp):
    with dev_mod.Device(fake.url, timeout=0.1, retries=1) as dev:
        dev.hello()
        with pytest.raises(dev_mod.DeviceErrorReply, match="NO_NETWORK") as exc:
            dev.step(np.array([1], np.int16))
        assert exc.value.code == "NO_NETWORK"
        with pytest.raises(dev_mod.DeviceErrorReply) as exc:
            dev.request(0x42)
        assert exc.value.code == "UNKNOWN_TYPE"
        with pytest.raises(dev_mod.VersionMismatch):
            dev.request(MsgType.STATS, version=1)
        with pytest.raises(dev_mod.DeviceErrorReply) as exc:
            dev.request(MsgType.STATS, seq=dev.seq + 100)
        assert exc.value.code == "BAD_SEQ" and exc.value.detail == (dev.seq + 1) & 0xFFFF
        frame = bytearray(P.frame(MsgType.STATS, dev.next_seq()))
        frame[4] ^= 0x04
        t0 = time.monotonic()
        with pytest.raises(dev_mod.DeviceTimeout, match="2 attempts"):
            dev.exchange(bytes(frame), dev.seq, MsgType.STATS)
        assert time.monotonic() - t0 < 0.5
        dev.write_raw(b"\x13\x37garbage\0\xff" * 3)
        assert dev.stats().crc_errors >= 1
        fake.last_seq = (dev.seq + 1234) & 0xFFFF  # as after a device reboot: the client re-synchronises
        assert dev.stats().steps == 0
        fake.max_neurons = 100
        dev.hello()
        sent = fake.executed
        with pytest.raises(dev_mod.NetworkTooLarge, match="neurons") as too:
            dev.deploy(blimp)
        assert too.value.limit == "neurons" and fake.executed == sent
        from snnctl.snnfile import to_bytes

        with pytest.raises(dev_mod.DeviceErrorReply, match="TOO_LARGE"):
            dev.upload(to_bytes(blimp))


def test_client_interrupted_upload_keeps_old_network(fake, blimp):
    from snnctl.models import blimp_shaped_network
    from snnctl.runtime import run
    from snnctl.snnfile import to_bytes

    with dev_mod.Device(fake.url, timeout=0.2) as dev:
        dev.hello()
        dev.deploy(blimp)
        other = to_bytes(blimp_shaped_network(seed=9))
        dev.load_begin(len(other), zlib.crc32(other))
        dev.load_chunk(0, other[: dev.chunk_size()])
        codes = _codes(30, 2)
        np.testing.assert_array_equal(dev.run(codes), run(blimp, codes))
        with pytest.raises(dev_mod.DeviceErrorReply, match="NOT_LOADING|INCOMPLETE"):
            dev.commit()


def test_client_watchdog(fake, blimp):
    from snnctl.runtime import run

    with dev_mod.Device(fake.url, timeout=0.2) as dev:
        dev.hello()
        dev.deploy(blimp)
        codes = _codes(10, 4)
        dev.watchdog(30)
        dev.run(codes[:5])
        time.sleep(0.15)
        res = dev.step(codes[0])
        assert res.watchdog_tripped
        assert fake.outputs_log[-1].tolist() == [111, -222]
        assert res.outputs.tolist() == run(blimp, codes[:1])[0].tolist()  # restarted from reset
        dev.watchdog(0)


def test_client_connection_lost(blimp):
    from tests.fake_device import FakeDevice

    fake = FakeDevice()
    dev = dev_mod.Device(fake.url, timeout=0.2)
    dev.hello()
    fake.close()
    with pytest.raises(dev_mod.ConnectionLost):
        for _ in range(5):
            dev.stats()
    with pytest.raises(dev_mod.ConnectionLost, match="cannot open"):
        dev_mod.Device("/dev/does-not-exist")


def test_client_pipelined_run_recovers_lost_requests_not_lost_replies(blimp):
    from snnctl.runtime import run
    from tests.fake_device import FakeDevice

    codes = _codes(200, 6)
    ref = run(blimp, codes)
    with FakeDevice() as fake, dev_mod.Device(fake.url, timeout=0.1, retries=2) as dev:
        dev.hello()
        dev.deploy(blimp)
        got = dev.run(codes[:50], window=4)
        fake.drop_requests = 1  # step 50 never arrives: 51.. are refused with BAD_SEQ, then all re-sent
        got = np.concatenate([got, dev.run(codes[50:120], window=4)])
        np.testing.assert_array_equal(got, ref[:120])
        fake.drop_replies = 1  # step 120 ran but its reply vanished; 121.. ran too: unrecoverable
        with pytest.raises(dev_mod.ProtocolError, match="window=1"):
            dev.run(codes[120:], window=4)
        dev.reset()
        fake.drop_replies = 1  # stop-and-wait survives it: the retry gets the stored reply
        np.testing.assert_array_equal(dev.run(codes, window=1), ref)


def test_version_2_messages_by_hand():
    """START / STOP / SENSOR / TELEMETRY payloads written out from docs/protocol.md §8."""
    assert P.pack_request(MsgType.START, 20_000, 1, 3) == bytes.fromhex("204e000001000300")
    cfg = P.unpack_response(MsgType.START, bytes.fromhex("204e0000010003002a000000"))
    assert cfg == P.RunConfig(period_us=20_000, telemetry_every=1, stale_limit=3, steps=42)
    assert P.unpack_response(MsgType.STOP, bytes.fromhex("10270000")) == 10_000
    assert P.pack_request(MsgType.SENSOR, tail=np.array([-2, 300])) == bytes.fromhex("feff2c01")
    # period 7, flags fresh|stepped, sample seq 300, 12 spikes, 1 input, 2 outputs, 29000 ticks, codes
    tm_payload = bytes.fromhex("0700000009002c010c000100020048710000fbff640038ff")
    tm = P.unpack_telemetry(tm_payload)
    assert (tm.period, tm.sample_seq, tm.spikes, tm.step_ticks) == (7, 300, 12, 29_000)
    assert tm.fresh and tm.stepped and not tm.failsafe and not tm.late
    assert tm.inputs.tolist() == [-5] and tm.outputs.tolist() == [100, -200]
    for bad in (tm_payload[:-1], tm_payload + b"\0\0", tm_payload[:17]):
        with pytest.raises(P.PayloadError):
            P.unpack_telemetry(bad)


@given(st.lists(st.integers(1, 300), min_size=1, max_size=40), st.integers(64, 1024))
def test_in_flight_limit_is_the_longest_prefix_within_the_budget(lengths, budget):
    """protocol.md §2 Pipelining: the frames a host may have unanswered are the longest prefix whose
    encoded bytes total at most max_payload, and never fewer than one (stop-and-wait)."""
    m = P.in_flight_limit(lengths, budget)
    assert 1 <= m <= len(lengths)
    assert m == 1 or sum(lengths[:m]) <= budget
    assert m == len(lengths) or sum(lengths[: m + 1]) > budget


@given(st.binary(max_size=1100))
def test_cobs_spends_at_least_one_byte(data):
    """Why over-long frames on a port with max_payload < 244 are always dropped_frames (protocol.md
    §1): an encoding is at least one byte longer than what it decodes to, at most the worst case."""
    enc = P.cobs_encode(data)
    assert len(data) + 1 <= len(enc) <= P.cobs_max_encoded(len(data)) and P.cobs_decode(enc) == data
