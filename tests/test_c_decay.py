"""decay(x, d) = x - floor(x * d / 4096) in C, both forms (snn_fixed.h: the SMULL form of 32-bit cores,
SNN_DECAY_WIDE=1, and the split form of 8/16-bit ones), against Python's exact integers on the
corners of the state range and random values."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from firmware_bridge.build import CORE_DIR, compiler_command

MIN24, MAX24 = -(1 << 23), (1 << 23) - 1

PROGRAM = r"""
#include <stdio.h>
#include "snn_fixed.h"
int main(void) {
    long x; unsigned d;
    while (scanf("%ld %u", &x, &d) == 2) printf("%ld\n", (long)snn_decay((int32_t)x, (uint16_t)d));
    return 0;
}
"""


@pytest.fixture(scope="module", params=[0, 1], ids=["split", "wide"])
def decay_tool(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("decay")
    (out / "decay.c").write_text(PROGRAM)
    exe = out / "decay"
    cmd = [*compiler_command(), "-std=c99", "-O2", "-Wall", "-Werror", f"-DSNN_DECAY_WIDE={request.param}",
           f"-I{CORE_DIR}", str(out / "decay.c"), "-o", str(exe)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def test_decay_is_exact_floor_on_corners_and_random_values(decay_tool) -> None:
    rng = np.random.default_rng(7)
    corners = [MIN24, MIN24 + 1, -4097, -4096, -4095, -1, 0, 1, 4095, 4096, 4097, MAX24 - 1, MAX24]
    ds = [0, 1, 2, 1024, 2048, 4095, 4096]
    pairs = [(x, d) for x in corners for d in ds]
    pairs += list(zip(rng.integers(MIN24, MAX24 + 1, 5000).tolist(), rng.integers(0, 4097, 5000).tolist(),
                      strict=True))  # fmt: skip
    text = "".join(f"{x} {d}\n" for x, d in pairs)
    got = subprocess.run([str(decay_tool)], input=text, capture_output=True, text=True, check=True).stdout.split()
    want = [x - (x * d) // 4096 for x, d in pairs]  # Python's // floors: the model's definition
    assert [int(g) for g in got] == want
