"""The public API (`snnctl.__all__`) and the README's Python snippet, run as it stands.

The snippet loads `runs/blimp_pid/best.snn`, which `snnctl evolve configs/blimp_pid.toml` writes; the
test writes the network that evolution starts from (the PID-derived genome) at that path in a
temporary folder, so the README is checked without a finished run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snnctl
from snnctl.controllers.blimp_snn import BlimpSNNCodec
from snnctl.controllers.snn import SNNController
from snnctl.runtime import run

ROOT = Path(__file__).resolve().parents[1]
STABLE = ["load", "save", "Network", "Stepper", "run", "run_trace", "Trace", "Policy", "SnnctlError", "__version__"]


def _readme_api_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the README's Python API section holds one python block"
    return blocks[0]


@pytest.fixture
def blimp_file(tmp_path: Path) -> Path:
    codec = BlimpSNNCodec()
    net = codec.decode(codec.initial_genome)
    net.control_period_s = 0.1
    path = tmp_path / "runs" / "blimp_pid" / "best.snn"
    path.parent.mkdir(parents=True)
    snnctl.save(net, path)
    return path


def test_stable_names_exist() -> None:
    assert sorted(snnctl.__all__) == sorted(STABLE)
    for name in STABLE:
        assert getattr(snnctl, name) is not None, name
    assert set(STABLE) <= set(dir(snnctl))
    with pytest.raises(AttributeError):
        snnctl.no_such_name  # noqa: B018


def test_import_snnctl_stays_light() -> None:
    code = "import sys, snnctl; print('numba' in sys.modules, 'snnctl.runtime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_readme_snippet_runs(blimp_file: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(blimp_file.parents[2])
    exec(compile(_readme_api_block(), "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "1 inputs, 2 outputs" in out and "return over 10 s:" in out


def test_load_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(snnctl.SnnctlError, match="missing.snn"):
        snnctl.load(tmp_path / "missing.snn")
    bad = tmp_path / "bad.snn"
    bad.write_bytes(b"not a network")
    with pytest.raises(snnctl.SnnctlError, match="bad.snn"):
        snnctl.Policy(bad)


def test_stepper_matches_run_and_resets(blimp_file: Path) -> None:
    net = snnctl.load(blimp_file)
    codes = np.random.default_rng(3).integers(-3000, 3000, (50, 1)).astype(np.int16)
    ref = run(net, codes)
    st = snnctl.Stepper(net)
    for _ in range(2):  # the second pass after reset() repeats the first exactly
        got = np.array([st.step(c).copy() for c in codes])
        np.testing.assert_array_equal(got, ref)
        st.reset()
    tr = snnctl.run_trace(net, codes)
    st.step(codes[0])
    np.testing.assert_array_equal(st.last_spikes, tr.spikes[0])


def test_policy_is_the_controller(blimp_file: Path) -> None:
    """Policy(obs) gives exactly what SNNController.act gives (the controller `snnctl run` flies)."""
    pol = snnctl.Policy(blimp_file, dt=0.1)
    ctl = SNNController(snnctl.load(blimp_file), dt=0.1)
    obs = np.random.default_rng(0).normal(0, 0.3, (40, 3)).astype(np.float32)
    for o in obs:
        np.testing.assert_array_equal(pol(o), ctl.act(o))
    with pytest.raises(snnctl.SnnctlError, match="control period"):
        snnctl.Policy(blimp_file, dt=0.02)


def test_readme_codes_npy_snippet_runs(blimp_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's recipe for `device run --inputs codes.npy` writes int16 codes of shape (T, n_inputs)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Find, flash and drive a board", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(blimp_file.parents[2])
    scope: dict = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), scope)
    codes = np.load("codes.npy")
    assert codes.dtype == np.int16 and codes.shape == (200, 1)
    np.testing.assert_array_equal(scope["expected"], run(snnctl.load(blimp_file), codes))


def test_policy_load_classmethod(blimp_file: Path) -> None:
    pol = snnctl.Policy.load(blimp_file, dt=0.1)
    assert isinstance(pol, snnctl.Policy) and pol.net.n_neurons == snnctl.load(blimp_file).n_neurons
