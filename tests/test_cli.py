"""The `snnctl` command line: inspect output, one-line errors with exit status 2, help and version."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from snnctl import __version__, cli, snnfile
from snnctl.models import blimp_shaped_network


@pytest.fixture(scope="module")
def blimp_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("nets") / "blimp.snn"
    snnfile.save(blimp_shaped_network(seed=0), path)
    return path


def test_inspect_text_lists_populations_projections_and_totals(blimp_file, capsys) -> None:
    assert cli.main(["inspect", str(blimp_file)]) == 0
    out = capsys.readouterr().out
    net = blimp_shaped_network(seed=0)
    assert out.startswith("blimp.snn")
    assert "format version 1" in out
    for p in net.populations:
        assert p.name in out
    assert "INPUT->0" in out
    assert f"totals: {net.n_neurons} neurons, {net.n_synapses} synapses" in out
    assert "device memory:" in out


def test_inspect_json_matches_the_network(blimp_file, capsys) -> None:
    assert cli.main(["inspect", str(blimp_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    net = blimp_shaped_network(seed=0)
    assert summary["format_version"] == 1
    assert summary["n_inputs"] == net.n_inputs
    assert [p["n"] for p in summary["populations"]] == [p.n for p in net.populations]
    assert [q["synapses"] for q in summary["projections"]] == [q.nnz for q in net.projections]
    assert summary["totals"] == {"neurons": net.n_neurons, "synapses": net.n_synapses}
    assert summary["projections"][0]["src"] == "INPUT"


def test_inspect_shows_the_control_period(blimp_file, tmp_path, capsys) -> None:
    assert cli.main(["inspect", str(blimp_file)]) == 0
    assert "control period: unspecified" in capsys.readouterr().out
    net = blimp_shaped_network(seed=0)
    net.control_period_s = 0.2
    path = snnfile.save(net, tmp_path / "five_hz.snn")
    assert cli.main(["inspect", str(path)]) == 0
    assert "control period: 0.2 s (5 Hz)" in capsys.readouterr().out
    assert cli.main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["control_period_s"] == 0.2


@pytest.mark.parametrize("damage", ["missing", "directory", "truncated", "bad_crc", "not_snn"])
def test_inspect_user_mistakes_give_one_line_and_status_2(blimp_file, tmp_path, capsys, damage) -> None:
    data = blimp_file.read_bytes()
    path = tmp_path / "net.snn"
    if damage == "directory":
        path = tmp_path
    elif damage == "truncated":
        path.write_bytes(data[:10])
    elif damage == "bad_crc":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "not_snn":
        path.write_text("hello, not a network\n" * 4)
    assert cli.main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnctl: error: ")
    assert "Traceback" not in captured.err


def test_version_and_help_in_a_fresh_process() -> None:
    version = subprocess.run([sys.executable, "-m", "snnctl.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"snnctl {__version__}"
    for args in (["--help"], ["inspect", "--help"], ["bench", "runtime", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "snnctl.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "examples:" in proc.stdout


def test_import_snnctl_and_cli_do_not_load_numba() -> None:
    code = "import sys, snnctl, snnctl.cli; print('numba' in sys.modules, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "False"]


def test_bench_table_formats_with_peers_missing() -> None:
    """The table code alone, on made-up inputs (nothing is timed or asserted about speed)."""
    from snnctl.bench_runtime import format_table

    result = {
        "network": "blimp-shaped",
        "steps": 10,
        "repeats": 1,
        "machine": {"cpu": "cpu", "cores": 1, "python": "3", "numba": "0", "numpy": "0"},
        "us_per_step_single": 2.0,
        "us_per_step_in_kernel": 1.0,
        "batch64_net_steps_per_s": 1e6,
        "peer_status": {"torch": "unavailable: x", "snntorch": "unavailable: x", "norse": "1.1.0"},
        "norse_us_per_step": 200.0,
        "norse_fused_us_per_step": 100.0,
        "speedup_vs_norse": 100.0,
        "speedup_vs_norse_fused": 50.0,
    }
    table = format_table(result)
    assert "100.0x" in table and "50.0x" in table
    assert "snnTorch, stepped from Python" in table
