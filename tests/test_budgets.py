"""The per-board budgets (firmware_bridge.budgets): the arithmetic by hand, and the table's facts."""

from __future__ import annotations

from firmware_bridge import boards, budgets


def _budget(name: str) -> budgets.Budget:
    return next(b for b in budgets.BUDGETS if b.board == name)


def test_spare_bytes_by_hand():
    uno = _budget("Arduino Uno")
    fit = budgets.Fit(uno, flash=26_720, ram=1_326)
    assert fit.flash_spare == 32_768 - 512 - 26_720 - 2_048 == 3_488
    assert fit.ram_spare == 2_048 - 1_326 - 360 - 256 == 106
    assert fit.fits
    over = budgets.Fit(uno, flash=26_720, ram=1_433)  # one byte over the RAM budget
    assert over.ram_spare == -1 and not over.fits and "DOES NOT FIT" in over.summary()


def test_bootloaders_leave_different_flash():
    """Optiboot takes 512 B (Uno, Nano since 2018), the old Nano bootloader 2 KB, the Mega's 8 KB."""
    assert _budget("Arduino Uno").flash_bytes == _budget("Arduino Nano (since 2018)").flash_bytes == 32_256
    assert _budget("Arduino Nano (before 2018)").flash_bytes == 30_720
    assert _budget("Arduino Mega 2560").flash_bytes == 253_952
    for b in budgets.BUDGETS:
        chip = boards.get(b.image)
        assert b.flash_bytes <= chip.flash_bytes and b.ram_bytes == chip.ram_bytes
    assert [b.board for b in budgets.for_image(boards.get("atmega2560"))] == ["Arduino Mega 2560"]
