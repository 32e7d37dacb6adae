"""A board whose network is compiled into its image resumes its on-board loop after a power cut
(docs/protocol.md §9 "Flash-network boards"), on the host device built with the network in
(`snndev` with SNN_DEV_FLASH_NETWORK, its NV memory a file: `--nv FILE`, `--nv-cut N`).

The truth: the RUN record's bytes as the document lays them out (tests/flash_run.py builds them with
struct and zlib), the rule that the record applies only to the image that wrote it (the key: the
`.snn` CRC-32 and the built-in START), and every TELEMETRY frame after a reboot against §8 and numba.
A power cut is SIGKILL; a cut inside the RUN write is `--nv-cut`. Nothing looks at the wall clock.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.flash_run import RUN_BYTES, check_resumed_loop, run_record
from tests.optional_tools import require_board

pytest.importorskip("serial")

from firmware_bridge import build  # noqa: E402
from firmware_bridge.device import Device, DeviceError  # noqa: E402
from firmware_bridge.flash_network import Autostart, BuiltIn  # noqa: E402
from firmware_bridge.protocol import Capability  # noqa: E402
from snnctl.models import blimp_shaped_network  # noqa: E402
from snnctl.network import Network  # noqa: E402
from snnctl.snnfile import network_crc, to_bytes  # noqa: E402
from tests.test_persist import powered, steps_like_numba  # noqa: E402

K = 3
A = (30_000, 0, 0)  # (period_us, telemetry_every, stale_limit): quiet, no fail-safe
B = (20_000, 1, K)  # telemetry every period, fail-safe after K periods without a sample


def _net(seed: int) -> Network:
    net = blimp_shaped_network(seed=seed)
    net.fail_safe = np.array([1234, -4321])
    net.validate()
    return net


@pytest.fixture(scope="module")
def nets() -> tuple[Network, Network]:
    return _net(5), _net(6)


@pytest.fixture(scope="module")
def images(nets) -> dict[str, Path]:
    """snndev with each network compiled in, with a built-in START, and the upload-mode snndev."""
    require_board("host")
    one, two = nets
    return {
        "one": build.build_host_device(network=to_bytes(one)),
        "two": build.build_host_device(network=to_bytes(two)),
        "one@20ms": build.build_host_device(network=BuiltIn(to_bytes(one), Autostart(20, 1, K))),
        "one@25ms": build.build_host_device(network=BuiltIn(to_bytes(one), Autostart(25, 1, K))),
        "upload": build.build_host_device(),
    }


def device(exe: Path, nv: Path | None, cut: int | None = None):
    """`exe [--nv nv [--nv-cut cut]]` under `tests.test_persist.powered`: SIGKILL at the end is the power cut."""
    return powered(
        [str(exe)] + ([] if nv is None else ["--nv", str(nv)]) + ([] if cut is None else ["--nv-cut", str(cut)])
    )


def _state(d: Device) -> tuple[bool, int]:
    ni = d.netinfo()
    return ni.running, (ni.period_us if ni.running else 0)


def test_start_survives_a_power_cut_and_stop_does_too(images, nets, tmp_path):
    net = nets[0]
    blob = to_bytes(net)
    nv = tmp_path / "nv.bin"
    with device(images["one"], nv) as (_, d):
        assert d.info.has(Capability.PERSIST) and d.info.has(Capability.NETWORK_IN_FLASH)
        assert not d.netinfo().running  # erased NV memory, no built-in START: it boots stopped
        d.start(*B)
        assert d.read_telemetry(5.0) is not None
    data = nv.read_bytes()
    assert data[:RUN_BYTES] == run_record(blob, *B, running=True)
    assert not any(data[RUN_BYTES:])  # no network record: the network is in the image
    # power cut mid-flight: it boots straight into the loop with START's settings
    with device(images["one"], nv) as (_, d):
        ni = d.netinfo()
        assert (ni.loaded, ni.blob_crc32, ni.running, ni.period_us) == (True, network_crc(blob), True, B[0])
        want = check_resumed_loop(d, net, stale_limit=K)  # ... and STOPs it
        assert want["steps"] >= 15
    assert nv.read_bytes()[:RUN_BYTES] == run_record(blob, *B, running=False)
    with device(images["one"], nv) as (_, d):  # STOP was persisted: host-stepped, like numba
        assert _state(d) == (False, 0)
        steps_like_numba(d, net)


def test_no_nv_file_no_persist_capability_and_boots_stopped(images):
    with device(images["one"], None) as (_, d):
        assert not d.info.has(Capability.PERSIST) and not d.netinfo().running
        d.start(*A)  # runs, but nothing is kept
    with device(images["one"], None) as (_, d):
        assert not d.netinfo().running


def test_an_image_with_another_network_ignores_the_record(images, nets, tmp_path):
    nv = tmp_path / "nv.bin"
    with device(images["one"], nv) as (_, d):
        d.start(*A)
    kept = nv.read_bytes()
    with device(images["two"], nv) as (_, d):
        assert d.info.has(Capability.PERSIST)
        assert _state(d) == (False, 0)  # another image's record: not running
        steps_like_numba(d, nets[1])
    assert nv.read_bytes() == kept  # booting writes nothing
    with device(images["one"], nv) as (_, d):  # flashed back: the record is its own again
        assert _state(d) == (True, A[0])
        d.stop()
    with device(images["two"], nv) as (_, d):
        d.start(*A)  # now the record is image two's ...
    with device(images["one"], nv) as (_, d):
        assert _state(d) == (False, 0)  # ... and image one boots stopped


def test_upload_and_flash_images_never_start_on_each_others_record(images, nets, tmp_path):
    """The same network, deployed to the upload-mode device and started there: its RUN record ("SNNR",
    a generation) is not a flash image's ("SNNF", the image key), nor the other way round; the
    upload image's network record outlives the flash image (which writes none)."""
    nv = tmp_path / "nv.bin"
    with device(images["upload"], nv) as (_, d):
        d.deploy(nets[1])
        d.start(*A)
    with device(images["one"], nv) as (_, d):
        assert _state(d) == (False, 0)
        d.start(*A)
    with device(images["upload"], nv) as (_, d):
        ni = d.netinfo()
        assert (ni.loaded, ni.blob_crc32, ni.running) == (True, network_crc(to_bytes(nets[1])), False)
        steps_like_numba(d, nets[1])


@pytest.mark.parametrize("base_running", [False, True], ids=["was-stopped", "was-running"])
def test_a_torn_run_record_never_boots_with_wrong_settings(images, nets, tmp_path, base_running):
    """The RUN record says A (running or stopped); START B is cut after every byte of its 24. After
    the reboot the board runs B exactly when all 24 were written; it runs A exactly when the bytes
    written so far equal the old record's (then it IS the old record); otherwise it is stopped."""
    blob = to_bytes(nets[0])
    base = tmp_path / "base.bin"
    with device(images["one"], base) as (_, d):
        d.start(*A)
        if not base_running:
            d.stop()
    old, new = run_record(blob, *A, running=base_running), run_record(blob, *B, running=True)
    assert base.read_bytes()[:RUN_BYTES] == old
    outcomes = set()
    nv = tmp_path / "nv.bin"
    for cut in range(RUN_BYTES + 1):
        shutil.copyfile(base, nv)
        with device(images["one"], nv, cut) as (proc, d):
            assert _state(d) == ((True, A[0]) if base_running else (False, 0))
            try:
                d.start(*B)
            except DeviceError:
                assert cut < RUN_BYTES, f"cut {cut}: START failed although its write fit"
            if cut < RUN_BYTES:
                assert proc.wait(5) == 3, f"cut {cut}: the device did not stop at the cut"
        if cut >= RUN_BYTES:
            want = (True, B[0])
        elif new[:cut] == old[:cut]:
            want = (base_running, A[0] if base_running else 0)
        else:
            want = (False, 0)
        with device(images["one"], nv) as (_, d):
            assert _state(d) == want, f"cut after {cut} of {RUN_BYTES} bytes"
        outcomes.add(want)
    assert (False, 0) in outcomes and (True, B[0]) in outcomes  # the torn middle and the complete write


def test_built_in_start_runs_without_nv_memory(images, nets):
    with device(images["one@20ms"], None) as (_, d):
        assert _state(d) == (True, 20_000)
        want = check_resumed_loop(d, nets[0], stale_limit=K)
        assert want["steps"] >= 15
    with device(images["one@20ms"], None) as (_, d):  # nothing kept the STOP: it runs again
        assert _state(d) == (True, 20_000)


def test_the_record_of_this_image_wins_over_its_built_in_start(images, nets, tmp_path):
    blob = to_bytes(nets[0])
    built_in = (20_000, 1, K)
    nv = tmp_path / "nv.bin"
    with device(images["one@20ms"], nv) as (_, d):
        assert d.info.has(Capability.PERSIST)
        assert _state(d) == (True, 20_000)  # erased NV memory: the built-in START
        d.stop()
    assert nv.read_bytes()[:RUN_BYTES] == run_record(blob, *B, running=False, start=built_in)
    with device(images["one@20ms"], nv) as (_, d):
        assert _state(d) == (False, 0)  # the STOP wins: bench work on a robot survives a power cycle
        d.start(*A)
    with device(images["one@20ms"], nv) as (_, d):
        assert _state(d) == (True, A[0])  # START's settings win over the built-in ones
    # the same network with other built-in settings is another image: its own START applies
    with device(images["one@25ms"], nv) as (_, d):
        assert _state(d) == (True, 25_000)
    # and a record written without a built-in START does not apply to an image with one
    nv2 = tmp_path / "nv2.bin"
    with device(images["one"], nv2) as (_, d):
        d.start(*A)
        d.stop()
    with device(images["one@20ms"], nv2) as (_, d):
        assert _state(d) == (True, 20_000)


def test_built_in_start_on_the_cortex_m3_which_has_no_nv_memory(nets):
    """lm3s6965evb under QEMU keeps nothing across a restart (firmware-boards.md §7): the built-in
    START is how it runs alone."""
    from firmware_bridge.emulators import start_emulator

    require_board("lm3s6965evb")
    net = nets[0]
    with start_emulator("lm3s6965evb", network=BuiltIn(to_bytes(net), Autostart(20, 1, K))) as emu:
        with Device(emu.url, timeout=2.0, retries=2) as d:
            info = d.hello(connect_timeout=10.0)
            assert not info.has(Capability.PERSIST) and info.has(Capability.NETWORK_IN_FLASH)
            assert _state(d) == (True, 20_000)
            assert check_resumed_loop(d, net, stale_limit=K)["steps"] >= 15
