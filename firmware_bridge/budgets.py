"""Flash and RAM budgets of real boards, and whether a built image fits one with room for the user's code.

A board-table entry is a chip's image (`atmega328p`); the boards people buy differ in what their
bootloader leaves of the flash (an Uno's Optiboot takes 512 B, the old Nano bootloader 2 KB). Each
`Budget` is one such board: usable flash and RAM, the firmware's own deepest stack (measured by stack
painting, tests/test_avr_flash_network.py), and a documented reserve for the user's sensor and
actuator code. `snnctl firmware build` prints `check_image` for the boards that run the image;
docs/firmware-boards.md §2 has the table and the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from firmware_bridge.boards import Board

# The user-code reserve: a sensor driver, the actuator code and their variables. On an 8-bit AVR
# 2 KB of flash (e.g. a sonar + servo driver) and 256 B of RAM: the stack headroom beyond the
# firmware's deepest stack, which also holds the user's globals and an interrupt's frame.
AVR_USER_FLASH = 2048
AVR_USER_RAM = 256
# 32-bit boards: 16 KB of flash and 4 KB of RAM for the application
ARM_USER_FLASH = 16 * 1024
ARM_USER_RAM = 4 * 1024
# The firmware's deepest stack (COMMIT or the boot-time load -> snn_load, plus an interrupt), measured
# under simavr as RAM - static RAM - HELLO's free_ram: ~330 B on the AVR; rounded up.
AVR_FIRMWARE_STACK = 360
ARM_FIRMWARE_STACK = 1024  # not painted on the Cortex-M ports' stack here: a generous figure


@dataclass(frozen=True)
class Budget:
    """One board as sold: what its image may use and what is kept for the user."""

    board: str  # the board people buy
    image: str  # the board-table entry whose image it runs
    flash_bytes: int  # flash the image may occupy: the chip's minus the bootloader
    ram_bytes: int
    bootloader: str  # what holds the rest of the flash
    firmware_stack: int
    user_flash: int
    user_ram: int


_UNO = Budget(
    "Arduino Uno",
    "atmega328p",
    32768 - 512,
    2048,
    "Optiboot, 512 B",
    AVR_FIRMWARE_STACK,
    AVR_USER_FLASH,
    AVR_USER_RAM,
)  # fmt: skip

BUDGETS: tuple[Budget, ...] = (
    _UNO,
    replace(_UNO, board="Arduino Nano (since 2018)"),  # the Uno's chip and bootloader on a smaller board
    Budget(
        "Arduino Nano (before 2018)",
        "atmega328p",
        32768 - 2048,
        2048,
        "ATmegaBOOT, 2 KB",
        AVR_FIRMWARE_STACK,
        AVR_USER_FLASH,
        AVR_USER_RAM,
    ),  # fmt: skip
    Budget(
        "Arduino Mega 2560",
        "atmega2560",
        262144 - 8192,
        8192,
        "stk500v2, 8 KB",
        AVR_FIRMWARE_STACK,
        AVR_USER_FLASH,
        AVR_USER_RAM,
    ),  # fmt: skip
    Budget(
        "EK-LM3S6965", "lm3s6965evb", 262144, 65536, "none (JTAG)", ARM_FIRMWARE_STACK, ARM_USER_FLASH, ARM_USER_RAM
    ),  # fmt: skip
)


@dataclass(frozen=True)
class Fit:
    """An image's flash and static RAM against one budget."""

    budget: Budget
    flash: int
    ram: int

    @property
    def flash_spare(self) -> int:
        """Flash left after the image and the user-code reserve (negative: over budget)."""
        return self.budget.flash_bytes - self.flash - self.budget.user_flash

    @property
    def ram_spare(self) -> int:
        """RAM left after static RAM, the firmware's deepest stack and the user reserve (negative: over)."""
        return self.budget.ram_bytes - self.ram - self.budget.firmware_stack - self.budget.user_ram

    @property
    def fits(self) -> bool:
        return self.flash_spare >= 0 and self.ram_spare >= 0

    def summary(self) -> str:
        b = self.budget
        verdict = "fits" if self.fits else "DOES NOT FIT"
        return (
            f"{b.board} ({b.bootloader} bootloader): flash {self.flash:,} of {b.flash_bytes:,} B, RAM {self.ram:,}"
            f" + stack {b.firmware_stack} of {b.ram_bytes:,} B; with {b.user_flash:,} B flash and {b.user_ram:,} B"
            f" RAM kept for your code: {verdict} ({self.flash_spare:,} B flash, {self.ram_spare:,} B RAM to spare)"
        )

    def as_dict(self) -> dict[str, object]:
        return {"board": self.budget.board, "flash_spare": self.flash_spare, "ram_spare": self.ram_spare,
                "fits": self.fits}  # fmt: skip


def for_image(board: Board) -> list[Budget]:
    """The budgets of the boards that run `board`'s image."""
    return [b for b in BUDGETS if b.image == board.name]


def check_image(board: Board, sizes: dict[str, int]) -> list[Fit]:
    """`sizes` (build.firmware_size of `board`'s image) against each budget of the boards running it."""
    return [Fit(b, sizes["flash"], sizes["ram"]) for b in for_image(board)]
