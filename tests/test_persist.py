"""The committed network survives a power cycle (docs/protocol.md §9), on the host device with its
NV memory in a file (`snndev --nv FILE`).

A power cut is SIGKILL (nothing is flushed or closed; the next process finds the file as the killed
one left it). A cut in the middle of an NV write is `snndev --nv-cut N`: the write that crosses N
stores only its first bytes and the process ends at once. The truth the cut tests hold the device to
is the documented write order alone: COMMIT writes 4 + blob + 20 bytes (invalidate, blob, header with
its CRC last), START 24 (the RUN record, CRC last); so after a cut at N the new network is active
exactly when N covers the whole COMMIT write, and the loop runs exactly when N covers the RUN record.
Which network is active is read back as NETINFO's CRC and checked against the `.snn` files' own
CRCs, and by stepping it against numba.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.optional_tools import require_board

pytest.importorskip("serial")

from firmware_bridge import build  # noqa: E402
from firmware_bridge.device import Device, DeviceError  # noqa: E402
from firmware_bridge.protocol import Capability  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.network import Network  # noqa: E402
from snnctl.runtime import run  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402
from tests.test_atmega328p_port import micro_blimp  # noqa: E402
from tests.test_onboard_loop import Feeder, check_frames  # noqa: E402

COMMIT_OVERHEAD = 4 + 20  # bytes COMMIT writes besides the blob: the invalidated magic, the header
RUN_RECORD = 24  # bytes START / STOP write
PERIOD_US = 20_000


@pytest.fixture(scope="module")
def snndev() -> Path:
    require_board("host")
    return build.build_host_device()


@contextmanager
def powered(cmd: list[str], connect_timeout: float = 5.0):
    """Run `cmd`, a device that prints `URL <url>` first (snndev, simavr_runner); yield (process, Device
    after HELLO); SIGKILL at the end, the power cut: no clean shutdown."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("URL "), f"{cmd}: {line!r}"
        with Device(line.split()[1], timeout=2.0, retries=2) as d:  # fdatasync per write on a busy disk
            d.hello(connect_timeout=connect_timeout)
            yield proc, d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        proc.stdout.close()


def device(exe: Path, nv: Path, cut: int | None = None):
    """`snndev --nv nv [--nv-cut cut]` under `powered`."""
    return powered([str(exe), "--nv", str(nv)] + ([] if cut is None else ["--nv-cut", str(cut)]))


def steps_like_numba(d: Device, net: Network, seed: int = 1) -> None:
    """The active network, from reset, steps bit-identically to numba (host-stepped)."""
    d.reset()
    codes = np.random.default_rng(seed).integers(-700, 700, (30, net.n_inputs)).astype(np.int16)
    np.testing.assert_array_equal(d.run(codes), run(net, codes))


def test_no_nv_file_no_persist_capability(snndev):
    proc = subprocess.Popen([str(snndev)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        with Device(proc.stdout.readline().split()[1], timeout=0.5) as d:
            assert not d.hello(connect_timeout=5.0).has(Capability.PERSIST)
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_running_network_comes_back_after_a_power_cut(snndev, tmp_path):
    net = blimp_shaped_network(seed=5)
    net.fail_safe = np.array([1234, -4321])
    crc = network_crc(to_bytes(net))
    nv = tmp_path / "nv.bin"
    with device(snndev, nv) as (_, d):
        assert d.info.has(Capability.PERSIST)
        assert d.deploy(net).blob_crc32 == crc
        d.start(PERIOD_US, telemetry_every=1, stale_limit=3)
        assert d.read_telemetry(5.0) is not None
    # power cut (SIGKILL) mid-flight; the board boots straight into the loop with the same network
    with device(snndev, nv) as (_, d):
        ni = d.netinfo()
        assert (ni.loaded, ni.blob_crc32, ni.running, ni.period_us) == (True, crc, True, PERIOD_US)
        # from reset at boot, as after START: every frame obeys §8 and numba, fail-safe rule K=3 included
        feed = Feeder(d, net.n_inputs, seed=11)
        feed.collect(lambda new: sum(f.fresh for f in new) >= 15, sending=True)
        feed.finish()
        assert feed.frames[0].period >= 1
        check_frames(net, feed.frames, feed.sent, stale_limit=3)
        assert not d.netinfo().running
    # STOP was persisted too: the next boot is host-stepped, with the same network
    with device(snndev, nv) as (_, d):
        ni = d.netinfo()
        assert (ni.loaded, ni.blob_crc32, ni.running) == (True, crc, False)
        steps_like_numba(d, net)


def test_newest_commit_wins_and_records_alternate(snndev, tmp_path):
    nv = tmp_path / "nv.bin"
    nets = [micro_blimp(seed=s) for s in (1, 2, 3)]
    for k, net in enumerate(nets):
        with device(snndev, nv) as (_, d):
            if k > 0:  # the previous boot's network is the active one
                assert d.netinfo().blob_crc32 == network_crc(to_bytes(nets[k - 1]))
            d.deploy(net)
    with device(snndev, nv) as (_, d):
        assert d.netinfo().blob_crc32 == network_crc(to_bytes(nets[-1]))
        steps_like_numba(d, nets[-1])


def _cut_during(exe: Path, nv: Path, cut: int, request, dies: bool) -> None:
    """Run `request(device)` on a device whose power fails after `cut` NV bytes (`dies`: the cut
    falls inside the request's writes, so its reply never comes and the process ends with status 3)."""
    with device(exe, nv, cut) as (proc, d):
        try:
            request(d)
        except DeviceError:
            assert dies, f"cut {cut}: the request failed although its writes fit"
        if dies:
            assert proc.wait(5) == 3, f"cut {cut}: the device did not stop at the cut"


@pytest.mark.parametrize("earlier", [0, 1], ids=["other-record-empty", "other-record-holds-an-older-network"])
def test_a_cut_commit_never_activates_a_corrupt_network(snndev, tmp_path, earlier):
    """`earlier` 1: the record being overwritten holds a still older, intact network; a cut must not
    bring that one back either (its header is invalidated first, and generations order the rest)."""
    oldest, old, new = micro_blimp(seed=3), micro_blimp(seed=5), micro_blimp(seed=9)
    old_crc, new_crc = network_crc(to_bytes(old)), network_crc(to_bytes(new))
    total = len(to_bytes(new)) + COMMIT_OVERHEAD
    base = tmp_path / "base.bin"
    with device(snndev, base) as (_, d):
        if earlier:
            d.deploy(oldest)  # record A, then old in B: new goes to A, over oldest
        d.deploy(old)
    nv = tmp_path / "nv.bin"
    for cut in range(total + 2):  # every byte of the write, and past its end
        shutil.copyfile(base, nv)
        _cut_during(snndev, nv, cut, lambda d: d.deploy(new), dies=cut < total)
        with device(snndev, nv) as (_, d):
            ni = d.netinfo()
            want_new = cut >= total
            assert ni.loaded and ni.blob_crc32 == (new_crc if want_new else old_crc), f"cut after {cut} of {total}"
            if cut % 16 == 0 or cut >= total - 1:  # stepping is slower than NETINFO: a sample of the cuts
                steps_like_numba(d, new if want_new else old)


def test_a_cut_first_commit_leaves_no_network(snndev, tmp_path):
    net = micro_blimp(seed=5)
    total = len(to_bytes(net)) + COMMIT_OVERHEAD
    for cut in (0, 3, 4, 100, total - 20, total - 1, total):
        nv = tmp_path / f"nv{cut}.bin"
        _cut_during(snndev, nv, cut, lambda d: d.deploy(net), dies=cut < total)
        with device(snndev, nv) as (_, d):
            ni = d.netinfo()
            assert ni.loaded == (cut >= total), f"cut after {cut} of {total}"


def test_a_cut_run_flag_write_only_loses_the_flag(snndev, tmp_path):
    net = micro_blimp(seed=5)
    crc = network_crc(to_bytes(net))
    base = tmp_path / "base.bin"
    with device(snndev, base) as (_, d):
        d.deploy(net)
        d.start(PERIOD_US)
        d.stop()  # the RUN record now says "stopped" for this network
    nv = tmp_path / "nv.bin"
    for cut in range(RUN_RECORD + 1):
        shutil.copyfile(base, nv)
        _cut_during(snndev, nv, cut, lambda d: d.start(PERIOD_US), dies=cut < RUN_RECORD)
        with device(snndev, nv) as (_, d):
            ni = d.netinfo()
            assert (ni.loaded, ni.blob_crc32) == (True, crc), f"cut after {cut}"
            assert ni.running == (cut >= RUN_RECORD), f"cut after {cut} of {RUN_RECORD}"


def test_a_damaged_newest_record_falls_back_to_the_older_one(snndev, tmp_path):
    nv = tmp_path / "nv.bin"
    older, newer = micro_blimp(seed=1), micro_blimp(seed=2)
    with device(snndev, nv) as (_, d):
        d.deploy(older)  # record A (offset 32)
        d.deploy(newer)  # record B (offset 32 + R)
    size = nv.stat().st_size
    record = ((size - 32) // 2) & ~3  # docs/protocol.md §9
    data = bytearray(nv.read_bytes())
    data[32 + record + 20 + 50] ^= 0x01  # one bit of the newer blob, as a failing flash cell would
    nv.write_bytes(bytes(data))
    with device(snndev, nv) as (_, d):
        assert d.netinfo().blob_crc32 == network_crc(to_bytes(older))
        steps_like_numba(d, older)
        d.deploy(newer)  # the next commit goes to the damaged record (not the active one) ...
    with device(snndev, nv) as (_, d):
        assert d.netinfo().blob_crc32 == network_crc(to_bytes(newer))  # ... and wins again


@pytest.mark.parametrize("board", ["linux-aarch64", "atmega328p"])
def test_emulated_board_keeps_its_network_across_a_power_cut(board, tmp_path):
    """linux-aarch64: the host device's program under qemu-aarch64 (its NV memory a file, --nv);
    atmega328p: its 1 KB EEPROM, which the simavr runner keeps in a file (-e)."""
    require_board(board)
    from firmware_bridge.emulators import start_emulator

    old, new = micro_blimp(seed=4), micro_blimp(seed=6)
    nv = tmp_path / "nv.bin"
    with start_emulator(board, nv_file=nv) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        assert d.hello(connect_timeout=10.0).has(Capability.PERSIST)
        d.deploy(old)
        d.deploy(new)  # the second record
        d.start(PERIOD_US)
        emu.process.kill()  # the power cut
    with start_emulator(board, nv_file=nv) as emu, Device(emu.url, timeout=2.0, retries=2) as d:
        d.hello(connect_timeout=10.0)
        ni = d.netinfo()
        assert (ni.blob_crc32, ni.running, ni.period_us) == (network_crc(to_bytes(new)), True, PERIOD_US)
        d.stop()
        steps_like_numba(d, new)
        if board == "atmega328p":
            # the restore at boot (snn_load under snn_device_init) is this image's deepest stack; it must
            # leave room for an interrupt on top (~25 bytes, ports/atmega328p/snn_port_config.h), twice over
            assert d.hello().free_ram >= 64


def test_emulate_nv_on_a_board_without_nv_is_one_clear_error(tmp_path, capsys):
    from snnctl import cli

    assert cli.main(["firmware", "emulate", "--board", "lm3s6965evb", "--nv", str(tmp_path / "x.nv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "'lm3s6965evb' keeps no network across a restart" in err[0]
        and "works with the host, linux-* and atmega328p" in err[0]
    )
    assert not (tmp_path / "x.nv").exists()
