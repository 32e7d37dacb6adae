"""TensorBoard event files (`snnctl.tb_events`) and the evolution run's `tensorboard/` folder.

The file is read back with an independent decoder: the TFRecord framing parsed here, the CRC-32C
checked against the published test vectors (RFC 3720 B.4), and each record parsed by protobuf's own
parser with the `Event` / `Summary` schema of TensorFlow's event.proto and summary.proto (field
numbers written out below). The evolution run's scalars must equal its log.jsonl, generation by
generation, also after a resume (no generation twice).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from evolve.runner import evolve
from snnctl import tb_events
from tests.test_evolve import Interrupted, ShiftedSphere, _settings

pytest.importorskip("google.protobuf")

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402


def _event_class():
    """`tensorflow.Event` with the fields of event.proto / summary.proto that scalars use."""
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="tb_test_event.proto", package="tbtest", syntax="proto3")
    value = fd.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary = fd.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, type_name=".tbtest.Value", label=F.LABEL_REPEATED)
    ev = fd.message_type.add(name="Event")
    ev.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    ev.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    ev.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    ev.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, type_name=".tbtest.Summary", label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tbtest.Event"))


Event = _event_class()


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path: Path) -> list:
    buf, pos, out = path.read_bytes(), 0, []
    while pos < len(buf):
        (n,) = struct.unpack_from("<Q", buf, pos)
        (len_crc,) = struct.unpack_from("<I", buf, pos + 8)
        data = buf[pos + 12 : pos + 12 + n]
        (data_crc,) = struct.unpack_from("<I", buf, pos + 12 + n)
        assert len_crc == _masked(tb_events.crc32c(buf[pos : pos + 8])) and data_crc == _masked(tb_events.crc32c(data))
        ev = Event()
        ev.ParseFromString(data)
        out.append(ev)
        pos += 16 + n
    assert pos == len(buf)
    return out


def scalars(events: list) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for ev in events[1:]:
        assert ev.step not in out, f"step {ev.step} logged twice"
        out[ev.step] = {v.tag: v.simple_value for v in ev.summary.value}
    return out


def test_crc32c_test_vectors():
    assert tb_events.crc32c(b"") == 0
    assert tb_events.crc32c(b"123456789") == 0xE3069283
    assert tb_events.crc32c(bytes(32)) == 0x8A9136AA
    assert tb_events.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tb_events.crc32c(bytes(range(32))) == 0x46DD794E


def test_writer_round_trip(tmp_path):
    with tb_events.EventWriter(tmp_path) as w:
        w.add_scalars({"loss": 0.25, "acc": 0.5, "bad": math.nan}, step=3, wall_time=123.5)
        w.add_scalar("loss", -1e30, step=-2)
    with tb_events.EventWriter(tmp_path) as w:  # reopened: appends, one header only
        w.add_scalar("loss", 7.0, step=2**40)
    evs = read_events(tmp_path / tb_events.FILE_NAME)
    assert evs[0].file_version == "brain.Event:2" and len(evs) == 4
    assert evs[1].step == 3 and evs[1].wall_time == 123.5
    assert {v.tag: v.simple_value for v in evs[1].summary.value} == {"loss": 0.25, "acc": 0.5}
    assert evs[2].step == -2 and evs[2].summary.value[0].simple_value == np.float32(-1e30)
    assert evs[3].step == 2**40
    assert "tfevents" in tb_events.FILE_NAME


def _jsonl(path: Path) -> dict[int, dict]:
    return {r["gen"]: r for r in map(json.loads, path.read_text().splitlines())}


def _check_run(out: Path, generations: int) -> None:
    got = scalars(read_events(out / "tensorboard" / tb_events.FILE_NAME))
    log = _jsonl(out / "log.jsonl")
    assert sorted(got) == sorted(log) == list(range(generations))
    for gen, row in log.items():
        for key in ("distance_best", "distance_mean", "evals_total", "hof_size"):
            assert got[gen][f"evolve/{key}"] == np.float32(row[key]), (gen, key)


def test_evolution_run_logs_tensorboard_scalars(tmp_path):
    p = ShiftedSphere(noise=1e-3)
    evolve(p, _settings(generations=4, population=8), tmp_path / "run", progress=False)
    _check_run(tmp_path / "run", 4)
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(tmp_path / "run" / "log.csv")
    assert list(frame["gen"]) == [0, 1, 2, 3] and "distance_best" in frame


def test_resumed_run_logs_each_generation_once(tmp_path):
    p = ShiftedSphere(noise=1e-3)
    s = _settings(generations=5, population=8)
    with pytest.raises(KeyboardInterrupt):
        evolve(Interrupted(p, at=3), s, tmp_path / "cut", progress=False)
    evolve(p, s, tmp_path / "cut", resume=True, progress=False)
    _check_run(tmp_path / "cut", 5)


def test_scalar_items_keeps_finite_numbers_only():
    row = {"gen": 3, "a": 1, "b": np.int64(2), "c": np.float32(0.5), "d": math.inf, "e": None, "f": "x", "g": True}
    assert tb_events.scalar_items(row, prefix="p/", skip=("gen",)) == {"p/a": 1.0, "p/b": 2.0, "p/c": 0.5}
