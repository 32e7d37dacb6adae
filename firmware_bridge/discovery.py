"""`snnctl device list`: the serial ports of this computer, and which of them a snnctl board answers on.

The ports come from pyserial's `serial.tools.list_ports.comports()` (USB adapters with their
vendor/product ids, on-board UARTs); URLs it cannot enumerate (an emulator's pty or `socket://`)
are added by the caller. Each port is then optionally probed with the protocol's HELLO
(docs/protocol.md §3) under a short deadline, in parallel, so a board running the snnctl firmware
shows what it is (name, firmware, limits, the board of `firmware_bridge.boards` it is) and any other
port shows why it did not answer. Probing writes one HELLO frame to every listed port: `probe=False`
lists without touching them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from . import boards


@dataclass
class PortEntry:
    """One port: what the OS says about it and, if probed, what answered (or why nothing did)."""

    device: str  # path or pyserial URL
    description: str = ""
    hwid: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    source: str = "system"  # "system" (pyserial enumerated it) | "given" (a URL passed in)
    probed: bool = False
    board: str | None = None  # the name HELLO reports (SNN_DEV_BOARD_NAME)
    board_table: str | None = None  # the `firmware_bridge.boards` entry with that name, if any
    firmware: str | None = None
    protocol: int | None = None
    network: str | None = None  # a one-line summary of the running network ("none" if none is loaded)
    error: str | None = None  # why a probed port did not identify itself

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """The identity column of the table: the board, or why there is none."""
        if not self.probed:
            return "(not probed)"
        if self.board is None:
            return self.error or "no answer"
        table = f" [{self.board_table}]" if self.board_table and self.board_table != self.board else ""
        return f"{self.board}{table}, firmware {self.firmware}, network: {self.network}"


def system_ports() -> list[PortEntry]:
    """The ports pyserial enumerates, sorted by device name."""
    from serial.tools import list_ports

    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        desc = "" if p.description in (None, "n/a") else p.description
        hwid = "" if p.hwid in (None, "n/a") else p.hwid
        out.append(PortEntry(p.device, desc, hwid, p.vid, p.pid, p.serial_number))
    return out


def probe(entry: PortEntry, timeout: float = 0.5) -> PortEntry:
    """Say HELLO on `entry.device` (retrying for up to `timeout` s) and fill in who answered, or why not."""
    from .device import DeviceError, DeviceTimeout, open_device

    entry.probed = True
    try:
        with open_device(entry.device, timeout=timeout, retries=1, connect_timeout=timeout) as dev:
            info = dev.info
            entry.board, entry.protocol = info.name, info.protocol_version
            entry.firmware = info.firmware_version
            table = boards.by_device_name(info.name)
            entry.board_table = table.name if table is not None else None
            try:
                ni = dev.netinfo()
                entry.network = (
                    f"{ni.n_inputs} in, {ni.n_outputs} out, {ni.n_neurons} neurons (crc32 0x{ni.blob_crc32:08x})"
                    if ni.loaded
                    else "none"
                )
            except DeviceError as exc:
                entry.network = f"unknown ({exc})"
    except DeviceTimeout:
        entry.error = f"no snnctl firmware answered within {timeout:g} s"
    except DeviceError as exc:
        entry.error = str(exc)
    return entry


def list_ports(extra: Sequence[str] = (), probe_ports: bool = True, timeout: float = 0.5) -> list[PortEntry]:
    """The system's ports plus `extra` URLs (duplicates dropped), each probed with HELLO unless not `probe_ports`."""
    entries = system_ports()
    seen = {e.device for e in entries}
    entries += [PortEntry(url, source="given") for url in dict.fromkeys(extra) if url not in seen]
    if probe_ports and entries:
        with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
            entries = list(pool.map(lambda e: probe(e, timeout), entries))
    return entries
