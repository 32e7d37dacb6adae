"""Issue 13: a user's mistake ends as one line before any long work; messages say what they count.

Every CLI test calls `snnctl.cli.main` with argv and checks exit status 2, the one line on stderr,
and that the long work did not start (no flight flown, no board started, no output file written).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from snnctl import cli, snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.linear import LinearPolicy
from snnctl.controllers.mlp import MLPPolicy
from snnctl.controllers.ncap import NCAPCodec, NCAPSpec
from snnctl.controllers.snn import ShapeMismatchError, SNNController, check_io, describe_io
from snnctl.network import INPUT, Kind, Network, Output, Population, Projection
from snnctl.text import listing, plural

BLIMP_CFG = """\
[experiment]
family = "blimp"
[network]
pd_pairs = 2
i_pairs = 2
[run]
episodes = 1
episode_s = 5.0
"""

SWIMMER_CFG = """\
[experiment]
family = "swimmer"
[run]
episodes = 1
episode_steps = 20
"""


def one_line_error(capsys, *needles: str) -> str:
    """The one `snnctl: error:` line on stderr, containing every needle."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("snnctl: error: ") and "\n" not in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def readout_net(n_in: int, n_out: int, meta: dict, period: float | None = 0.1) -> Network:
    """Every input onto `n_out` leaky readouts: any (inputs, outputs) shape, as another family's file has."""
    pops = [Population(Kind.LI, n_out, du=4096, dv=256, name="out")]
    projs = [Projection(INPUT, 0, np.ones((n_in, n_out), dtype=np.int64), exponent=0)]
    outputs = [Output(0, i) for i in range(n_out)]
    return Network(n_in, pops, projs, outputs, meta=meta, control_period_s=period)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("msgs")
    (root / "blimp.toml").write_text(BLIMP_CFG)
    (root / "swimmer.toml").write_text(SWIMMER_CFG)
    codec = BlimpSNNCodec(BlimpSNNSpec(pd_pairs=2, i_pairs=2))
    snnfile.save(codec.decode(codec.initial_genome), root / "blimp.snn")
    # HAR's shape (6 channels in, 4 classes out) and the swimmer's (joint angle and velocity in, 2 torques out)
    snnfile.save(readout_net(6, 4, {"family": "har"}), root / "har.snn")
    snnfile.save(readout_net(2, 2, {"family": "swimmer", "obs_index": [1, 6]}, 0.04), root / "swimmer.snn")
    ncap = NCAPCodec(NCAPSpec())
    snnfile.save(ncap.decode(ncap.initial_genome), root / "ncap.snn")
    # the swimmer's float baselines (8 observation entries in, 2 torques out)
    LinearPolicy(np.zeros((2, 8)), np.zeros(2)).save(root / "linear.npz")
    MLPPolicy([np.zeros((4, 8)), np.zeros((2, 4))], [np.zeros(4), np.zeros(2)]).save(root / "mlp.npz")
    return root


def _no_flight(monkeypatch) -> None:
    """Any flight or episode started fails the test: the error must come before the long work."""

    def boom(*_a, **_k):
        raise AssertionError("the run started before the mistake was reported")

    import evolve.swimmer_experiment
    import sim.blimp_loop  # imported before patching: it binds run_heldout at import

    monkeypatch.setattr("sim.blimp_metrics.run_episode", boom)  # the blimp's plain flights
    monkeypatch.setattr("sim.loop.run_heldout", boom)  # loop flights (hil)
    monkeypatch.setattr(sim.blimp_loop, "run_heldout", boom)  # loop flights (run --sensing/--faults)
    monkeypatch.setattr(evolve.swimmer_experiment, "episode_return", boom)
    monkeypatch.setattr("sim.video.record_episode", boom)


# -- a controller whose inputs/outputs do not fit the family's env ---------------------------------------


def test_check_io_agrees_with_what_the_controller_can_do() -> None:
    """Independent truth: a network (or float policy) check_io accepts steps on an observation of that
    size, one it refuses cannot (numpy fails inside act, or gives another number of actions), for shapes
    around the blimp's (3 observation entries, 1 action)."""
    cases = [
        readout_net(3, 1, {}),
        readout_net(6, 4, {"family": "har"}),
        readout_net(3, 2, {}),
        readout_net(3, 2, {"combine": "sum"}),
        readout_net(1, 1, {"obs_index": 2}),
        readout_net(2, 2, {"obs_index": [1, 6]}),
        readout_net(2, 1, {"obs_index": [0, 2]}),
        LinearPolicy(np.zeros((1, 3)), np.zeros(1)),
        LinearPolicy(np.zeros((2, 8)), np.zeros(2)),
        LinearPolicy(np.zeros((1, 2)), np.zeros(1), obs_index=[0, 2]),
        MLPPolicy([np.zeros((4, 3)), np.zeros((1, 4))], [np.zeros(4), np.zeros(1)]),
        MLPPolicy([np.zeros((4, 8)), np.zeros((2, 4))], [np.zeros(4), np.zeros(2)]),
    ]
    for net in cases:
        ctl = SNNController(net) if isinstance(net, Network) else net
        try:
            check_io(net, 3, 1)
            fits = True
        except ShapeMismatchError as e:
            fits = False
            assert describe_io(net) in str(e) and "3 observation entries, 1 action" in str(e)
        try:
            ok = np.asarray(ctl.act(np.zeros(3, np.float32))).shape == (1,)
        except (IndexError, ValueError):
            ok = False
        assert fits == ok, (describe_io(net), fits, ok)


@pytest.mark.parametrize("extra", [[], ["--sensing", "fixed"], ["--force-rate"]])
@pytest.mark.parametrize("net", ["har.snn", "swimmer.snn"])
def test_blimp_run_refuses_another_familys_network(files, net, extra, monkeypatch, capsys) -> None:
    _no_flight(monkeypatch)
    plot = files / f"{net}-{len(extra)}.png"
    argv = ["run", str(files / "blimp.toml"), "--controller", str(files / net), "--plot", str(plot), *extra]
    assert cli.main(argv) == 2
    shape = "6 inputs, 4 outputs" if net == "har.snn" else "2 inputs from observation entries 1 and 6, 2 outputs"
    one_line_error(capsys, net, shape, "does not fit BlimpAltitudeEnv (3 observation entries, 1 action)")
    assert not plot.exists()


@pytest.mark.parametrize(("policy", "what"), [("linear.npz", "a linear policy"), ("mlp.npz", "an MLP policy")])
def test_blimp_run_refuses_a_swimmer_baseline_policy(files, policy, what, monkeypatch, capsys) -> None:
    """A float baseline of the swimmer on the blimp: was numpy's matmul error after the flight began."""
    _no_flight(monkeypatch)
    assert cli.main(["run", str(files / "blimp.toml"), "--controller", str(files / policy)]) == 2
    one_line_error(capsys, policy, f"({what}: 8 inputs, 2 outputs) does not fit BlimpAltitudeEnv")
    assert cli.main(["run", str(files / "blimp.toml"), "--controller", str(files / policy), "--sensing", "fixed"]) == 2
    one_line_error(capsys, policy, "a float baseline policy is not a loop controller")


def test_blimp_run_float_reference_of_another_familys_network(files, monkeypatch, capsys) -> None:
    _no_flight(monkeypatch)
    argv = ["run", str(files / "blimp.toml"), "--controller", f"float:{files / 'har.snn'}", "--sensing", "fixed"]
    assert cli.main(argv) == 2
    one_line_error(capsys, "har.snn", "6 inputs, 4 outputs", "does not fit BlimpAltitudeEnv")


def test_hil_refuses_another_familys_network_before_starting_a_board(files, monkeypatch, capsys) -> None:
    import snnctl.cli.loop as loop

    def no_board(_name):
        raise AssertionError("a board was started before the mistake was reported")

    monkeypatch.setattr(loop, "_start_board", no_board)
    _no_flight(monkeypatch)
    for net, shape in (("har.snn", "6 inputs, 4 outputs"), ("swimmer.snn", "observation entries 1 and 6")):
        argv = ["hil", str(files / "blimp.toml"), "--controller", str(files / net), "--board", "host", "--force-rate"]
        assert cli.main(argv) == 2
        one_line_error(capsys, net, shape, "does not fit BlimpAltitudeEnv")


@pytest.mark.parametrize("net", ["har.snn", "blimp.snn"])
def test_swimmer_run_refuses_another_familys_network(files, net, monkeypatch, capsys) -> None:
    _no_flight(monkeypatch)
    video = files / f"{net}.gif"
    argv = ["run", str(files / "swimmer.toml"), "--controller", str(files / net), "--video", str(video)]
    assert cli.main(argv) == 2
    shape = "6 inputs, 4 outputs" if net == "har.snn" else "1 input from observation entry 2, 2 outputs summed"
    one_line_error(capsys, net, shape, "not an NCAP network")
    assert not video.exists()


@pytest.mark.parametrize("net", ["swimmer.snn", "blimp.snn"])
def test_har_run_refuses_another_familys_network(files, net, tmp_path, capsys) -> None:
    cfg = tmp_path / "har.toml"
    cfg.write_text('[experiment]\nfamily = "har"\n[data]\npath = "/nonexistent/data"\n')  # never read
    assert cli.main(["run", str(cfg), "--controller", str(files / net)]) == 2
    one_line_error(capsys, net, f"a {net.removesuffix('.snn')} network:", "is not an L2MU HAR network")


# -- files a command writes: checked before the run, named as written ------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [("nonexistent/dir/x.png", "the folder"), ("x.txt", "cannot write a .txt file"), (".", "is a folder")],
)
def test_run_plot_path_is_checked_before_the_run(files, name, needle, monkeypatch, capsys) -> None:
    _no_flight(monkeypatch)
    plot = files / name
    argv = ["run", str(files / "blimp.toml"), "--controller", str(files / "blimp.snn"), "--plot", str(plot)]
    assert cli.main(argv) == 2
    one_line_error(capsys, "--plot", needle)
    assert not plot.is_file()


@pytest.mark.parametrize("extra", [[], ["--sensing", "fixed"]])
def test_run_plot_without_suffix_names_the_file_it_writes(files, extra, tmp_path, capsys) -> None:
    """matplotlib adds .png to a name without a suffix; the printed name is that file's."""
    argv = ["run", str(files / "blimp.toml"), "--controller", "pid", "--plot", str(tmp_path / "sw"), *extra]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "sw.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {tmp_path / 'sw.png'}" in out.splitlines()
    assert not (tmp_path / "sw").exists()


def test_swimmer_video_path_is_checked_before_the_episodes(files, monkeypatch, capsys) -> None:
    _no_flight(monkeypatch)
    for video, needle in (("nope/v.gif", "does not exist"), ("v.avi", "cannot write a .avi file")):
        argv = ["run", str(files / "swimmer.toml"), "--controller", str(files / "swimmer.snn"), "--video",
                str(files / video)]  # fmt: skip
        assert cli.main(argv) == 2
        one_line_error(capsys, "--video", needle)
        assert not (files / video).exists()


@pytest.mark.parametrize("flag", ["--plot", "--log"])
def test_hil_output_paths_are_checked_before_a_board_starts(files, flag, monkeypatch, capsys) -> None:
    import snnctl.cli.loop as loop

    def no_board(_name):
        raise AssertionError("a board was started before the mistake was reported")

    monkeypatch.setattr(loop, "_start_board", no_board)
    argv = ["hil", str(files / "blimp.toml"), "--controller", str(files / "blimp.snn"), "--board", "host",
            flag, str(files / "nope" / "out")]  # fmt: skip
    assert cli.main(argv) == 2
    one_line_error(capsys, flag, "the folder", "does not exist")


# -- counts with the right noun --------------------------------------------------------------------------

ONE_PLURAL = re.compile(r"(?<![\d.,])1 (held-out |test |recorded )?[a-z]+s\b")  # "1 flights", "1 held-out episodes"


def test_plural_and_listing() -> None:
    assert [plural(n, "episode") for n in (0, 1, 2)] == ["0 episodes", "1 episode", "2 episodes"]
    assert plural(1, "class", "classes") == "1 class" and plural(4, "class", "classes") == "4 classes"
    assert [listing(x) for x in ([], [6], [1, 6], [0, 1, 2])] == ["", "6", "1 and 6", "0, 1 and 2"]
    assert listing([".mp4", ".gif"], "or") == ".mp4 or .gif"


@pytest.mark.parametrize(
    ("cfg", "controller", "extra", "want"),
    [
        ("blimp.toml", "pid", [], "held-out profiles: 1 flight (mean over flights)"),
        ("blimp.toml", "pid", ["--sensing", "fixed"], "held-out profiles: 1 flight through"),
        ("swimmer.toml", "ncap.snn", [], "1 held-out episode of 20 steps"),
    ],
)
def test_one_episode_is_one_episode(files, cfg, controller, extra, want, capsys) -> None:
    ctl = controller if controller == "pid" else str(files / controller)
    assert cli.main(["run", str(files / cfg), "--controller", ctl, "--episodes", "1", *extra]) == 0
    out = capsys.readouterr().out
    assert want in out and not ONE_PLURAL.search(out), out


# -- help: a command's examples are of that command -------------------------------------------------------


def _commands(parser, path=("snnctl",)):
    """(command path, its parser) for every command and subcommand `snnctl --help` reaches."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_help_example_runs_the_command_it_documents() -> None:
    """`device info --help` showed a `device run` example: every example line under "examples:" of a
    command's help starts with that command (a group's help may show any of its subcommands)."""
    checked = 0
    for path, parser in _commands(cli.build_parser()):
        if len(path) == 1 or "examples:" not in (parser.epilog or ""):
            continue
        block = parser.epilog.split("examples:", 1)[1].split("\n\n", 1)[0]
        for line in block.strip().splitlines():
            words = line.split()
            if words[:1] == ["snnctl"]:
                assert words[: len(path)] == list(path), (" ".join(path), line)
                checked += 1
    assert checked > 20


# -- a config that is not there: where the shipped ones are, from any folder ------------------------------


@pytest.mark.parametrize(
    "command", [["run", "--controller", "pid"], ["train"], ["evolve"], ["hil", "--controller", "x.snn"]]
)
def test_missing_config_says_where_the_shipped_ones_are(command, tmp_path, monkeypatch, capsys) -> None:
    import tomllib

    monkeypatch.chdir(tmp_path)  # outside the checkout: "configs/" means nothing here
    for name in ("blimp_pid.toml", "no_such_name.toml"):
        argv = [command[0], f"configs/{name}", *command[1:]]
        assert cli.main(argv) == 2
        err = one_line_error(capsys, f"configs/{name}: no such config file")
        shown = [w.rstrip(":,") for w in err.split() if w.startswith("/")]
        assert shown, err
        folder = Path(shown[0])
        assert folder.is_absolute() and folder.exists()
        if name == "blimp_pid.toml":  # the very file, by its absolute path, and it is a blimp config
            assert tomllib.loads(folder.read_text())["experiment"]["family"] == "blimp"
        else:  # the folder, and every config it names is in it
            listed = err.split(f"{folder}: ", 1)[1].split(", ")
            assert "blimp_pid.toml" in listed and all((folder / n).is_file() for n in listed)
    assert list(tmp_path.iterdir()) == []  # nothing written (no run folder)


# -- hil: what became of every controller call adds up ----------------------------------------------------


def test_hil_link_faults_report_answers_that_add_up(files, tmp_path, capsys) -> None:
    """A 6-s flight on the host board with a lossy link then an unplug: every call is answered or has
    no answer, the counts add up to the calls, agree with the bit-identity replay's answered/faulted
    steps and the backend's fault counts, and the text shows those same numbers."""
    import json

    from snnctl.cli.loop import format_report
    from tests.optional_tools import require_board

    require_board("host")
    cfg = tmp_path / "b6.toml"
    cfg.write_text('[experiment]\nfamily = "blimp"\n[run]\nepisode_s = 6.0\n')
    argv = ["hil", str(cfg), "--controller", str(files / "blimp.snn"), "--board", "host", "--faults",
            "drop@1:1:0.5,unplug@3:1", "--compare", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    rep = json.loads(capsys.readouterr().out)
    a, calls = rep["answers"], rep["controller_calls"]
    assert a["in_time"] + a["late"] + a["none"] == calls == rep["steps"] == 60
    assert a["none"] == sum(a["none_by_kind"].values()) > 0 and a["late"] == 0  # not paced: no deadline
    assert a["none_by_kind"] == {k: v for k, v in rep["backend"]["faults"].items() if v}
    assert rep["compare"]["steps"] == a["in_time"] + a["late"] and rep["compare"]["faulted_steps"] == a["none"]
    text = format_report(rep)
    assert re.search(rf"controller calls +{calls}\n +answered +{a['in_time']}\n +without an answer +{a['none']}", text)
    assert "deadline misses" not in text  # no deadline when the loop is not paced
    assert f"yes ({a['in_time']} answered steps; {a['none']} without an answer)" in text
    recs = rep["backend"]["reconnects"]
    assert "1 held-out flight, 60 steps at 10 Hz" in text and f"board: 1 upload, {plural(recs, 'reconnect')}," in text
    assert not ONE_PLURAL.search(text), text


# -- progress of the long steps: on a terminal, not with --quiet, not in a log ----------------------------


class Terminal(io.StringIO):
    """stderr as a terminal (tqdm draws only where `isatty()`)."""

    def isatty(self) -> bool:
        return True


def _stderr(monkeypatch, tty: bool) -> io.StringIO:
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    return err


@pytest.fixture(scope="module")
def har_data(tmp_path_factory):
    from sim.har_data import write_ts
    from tests.test_har_experiment import CONFIG, _synthetic

    root = tmp_path_factory.mktemp("har")
    for split, n, seed in (("TRAIN", 6, 0), ("TEST", 4, 1)):
        x, labels = _synthetic(n, seed)
        write_ts(root / f"Toy_{split}.ts", x, labels, problem_name="Toy", classes=["c0", "c1", "c2"])
    (root / "har.toml").write_text(CONFIG)
    return root


@pytest.mark.parametrize(("tty", "quiet"), [(True, False), (True, True), (False, False)])
def test_train_progress_and_one_synapse_count(har_data, tty, quiet, tmp_path, monkeypatch, capsys) -> None:
    """HAR training shows its two long steps (the quantiser's float run, the float reference) on a
    terminal only, and prints one synapse count: the one best.snn holds (readout included)."""
    import json

    err = _stderr(monkeypatch, tty)
    out_dir = tmp_path / "run"
    argv = ["train", str(har_data / "har.toml"), "--data", str(har_data), "--out", str(out_dir)]
    assert cli.main(argv + (["--quiet"] if quiet else [])) == 0
    bars = err.getvalue()
    shown = tty and not quiet
    for what in ("quantiser calibration (float run)", "float reference"):
        assert (what in bars) == shown, bars
    if shown:
        assert "%|" in bars
    out = capsys.readouterr().out
    net = snnfile.load(out_dir / "best.snn")
    # the weights the file stores: a dense projection all of its matrix, a sparse one its non-zero entries
    stored = sum(int(np.count_nonzero(q.weights)) if q.sparse else q.weights.size for q in net.projections)
    assert json.loads((out_dir / "report.json").read_text())["network"]["synapses"] == stored
    counts = {int(m) for m in re.findall(r"(\d+) synapses", out)}
    if quiet:
        assert counts == set()  # --quiet: no table either
    else:
        assert counts == {stored}, out


@pytest.mark.parametrize(("tty", "quiet"), [(True, False), (True, True), (False, False)])
def test_video_progress(files, tty, quiet, tmp_path, monkeypatch) -> None:
    from sim.video import VideoError, ensure_offscreen_gl
    from tests.optional_tools import skip_unless_ci

    try:
        ensure_offscreen_gl()
    except VideoError as e:
        skip_unless_ci(str(e))
    err = _stderr(monkeypatch, tty)
    gif = tmp_path / "swim.gif"
    cfg = tmp_path / "sw.toml"
    cfg.write_text(SWIMMER_CFG.replace("episode_steps = 20", "episode_steps = 4"))
    argv = ["run", str(cfg), "--controller", str(files / "ncap.snn"), "--video", str(gif)]
    assert cli.main(argv + (["--quiet"] if quiet else [])) == 0, err.getvalue()
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert ("filming swim.gif" in err.getvalue()) == (tty and not quiet), err.getvalue()


@pytest.mark.parametrize(("tty", "quiet"), [(True, False), (True, True), (False, False)])
@pytest.mark.parametrize(
    ("cfg", "controller", "extra", "bar"),
    [
        ("blimp.toml", "pid", [], "held-out flights:   0%|          | 0/2 "),
        ("blimp.toml", "pid", ["--sensing", "fixed"], "held-out flights:   0%|          | 0/100 "),  # 2 x 5 s at 10 Hz
        ("swimmer.toml", "ncap.snn", [], "held-out episodes:   0%|          | 0/2 "),
    ],
)
def test_run_progress(files, cfg, controller, extra, bar, tty, quiet, monkeypatch, capsys) -> None:
    """`snnctl run` shows its episodes on a terminal (more episodes take longer), not with --quiet,
    not in a log; the table on stdout is the same either way."""
    err = _stderr(monkeypatch, tty)
    ctl = controller if controller == "pid" else str(files / controller)
    argv = ["run", str(files / cfg), "--controller", ctl, "--episodes", "2", *extra]
    assert cli.main(argv + (["--quiet"] if quiet else [])) == 0
    assert (bar in err.getvalue()) == (tty and not quiet), err.getvalue()
    assert capsys.readouterr().out.count("\n") > 1


def test_float_reference_without_the_loop_says_how(files, monkeypatch, capsys) -> None:
    """`float:NET.snn` flies only in the sensing-to-action loop; without --sensing it was "no such file"."""
    _no_flight(monkeypatch)
    argv = ["run", str(files / "blimp.toml"), "--controller", f"float:{files / 'blimp.snn'}"]
    assert cli.main(argv) == 2
    one_line_error(capsys, "the float reference flies in the sensing-to-action loop only", "--sensing fixed")


def test_hil_compare_of_a_log_with_another_familys_network(files, tmp_path, capsys) -> None:
    """`hil --compare LOG.npz` replays the log through the network given: one of another shape was a
    numpy traceback; it is one line naming both shapes."""
    from tests.optional_tools import require_board

    require_board("host")
    cfg = tmp_path / "b2.toml"
    cfg.write_text('[experiment]\nfamily = "blimp"\n[run]\nepisode_s = 2.0\n')
    log = tmp_path / "hil.npz"
    argv = ["hil", str(cfg), "--controller", str(files / "blimp.snn"), "--board", "host", "--log", str(log)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    for net, shape in (
        ("har.snn", "6 inputs, 4 outputs"),
        ("swimmer.snn", "2 inputs from observation entries 1 and 6"),
    ):
        assert cli.main(["hil", str(cfg), "--controller", str(files / net), "--compare", str(log)]) == 2
        one_line_error(capsys, net, shape, "took 1 input code from 3 observation entries and answered 2 output codes")
    assert cli.main(["hil", str(cfg), "--controller", str(files / "blimp.snn"), "--compare", str(log)]) == 0
    assert "bit-identical to the in-process network: yes (20 answered steps)" in capsys.readouterr().out


# -- a run refused at its start leaves no run folder ------------------------------------------------------


def test_train_with_missing_data_leaves_no_run_folder(har_data, tmp_path, capsys) -> None:
    out = tmp_path / "runs" / "har"
    argv = ["train", str(har_data / "har.toml"), "--data", str(tmp_path / "no_such_data"), "--out", str(out)]
    assert cli.main(argv) == 2
    one_line_error(capsys, "no_such_data: no such file, folder or dataset name")
    assert list(tmp_path.iterdir()) == []  # neither runs/har nor runs/


def test_evolve_refused_by_the_family_leaves_no_run_folder(tmp_path, capsys) -> None:
    cfg = tmp_path / "sw.toml"
    cfg.write_text('[experiment]\nfamily = "swimmer"\n[env]\nname = "Swimmer-v5"\nn_links = 5\n')
    out = tmp_path / "run"
    assert cli.main(["evolve", str(cfg), "--out", str(out)]) == 2
    one_line_error(capsys, "Swimmer-v5 has 3 links")
    assert not out.exists()


def test_a_failed_start_keeps_a_folder_that_was_there(har_data, tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    argv = ["train", str(har_data / "har.toml"), "--data", str(tmp_path / "nope"), "--out", str(out)]
    assert cli.main(argv) == 2
    capsys.readouterr()
    assert (out / "notes.txt").read_text() == "kept"


def test_deploy_and_device_info_count_one_input(files, capsys) -> None:
    """The blimp network has 1 input: `deploy` and `device info` said "1 inputs"."""
    from firmware_bridge.emulators import start_emulator
    from tests.optional_tools import require_board

    require_board("host")
    with start_emulator("host") as emu:
        assert cli.main(["deploy", str(files / "blimp.snn"), "--port", emu.url, "--quiet"]) == 0
        assert cli.main(["device", "info", "--port", emu.url]) == 0
    out = capsys.readouterr().out
    assert "now running: 1 input, 2 outputs," in out and "network: 1 input, 2 outputs," in out, out
    assert not ONE_PLURAL.search(out), out
