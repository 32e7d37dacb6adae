"""What `snnctl run` asks of a family: `RunOptions`, the typed options every `run_main(cfg, opts)` takes.

The CLI (`snnctl/cli/experiments.py`) builds it from the command line; a family reads only these
fields, never argparse, so a family can be run from Python (tests, notebooks) without a parser.
The family-specific fields are `None` unless given; which family accepts which is
`snnctl.cli.families.FAMILY_RUN_FLAGS` with each module's `RUN_OPTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOptions:
    """A held-out run: which controller, how many episodes from which held-out index, what to write."""

    config: str  # the config file (named in messages that suggest a command)
    controller: str  # a saved controller (.snn / .npz) or a baseline the family names (blimp: "pid")
    episodes: int | None = None  # None = the config's [run] episodes
    seed: int = 0  # first held-out episode index
    json: bool = False  # print JSON instead of the table
    plot: str | None = None  # PNG of the first episode
    force_rate: bool = False  # run a .snn at another control period than it records
    quiet: bool = False  # no progress bars
    # family-specific (None = not given)
    sensing: str | None = None  # blimp: sensing policy (the sensing-to-action loop)
    faults: str | None = None  # blimp: fault injection spec
    n_links: int | None = None  # swimmer: body length
    video: str | None = None  # swimmer, gym: .mp4/.gif of the first episode
    data: str | None = None  # HAR: dataset (already applied to the config's [data] path)
    # HAR: how the windows are prepared (already applied to the config's [data] keys of the same names)
    length: int | None = None  # steps per window
    length_mode: str | None = None  # resample | pad | crop
    nan: str | None = None  # missing values: refuse | interpolate | hold
    channels: str | None = None  # names or indices, comma-separated (as given on the command line)
    normalise: str | None = None  # none | series | dataset
    rate_hz: float | None = None  # sample rate when the data does not say it
    port: str | None = None  # HAR: a board to run on

    def __post_init__(self) -> None:
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be at least 1, got {self.episodes}")
        if self.seed < 0:
            raise ValueError(f"seed is the first held-out episode index and must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class HilOptions:
    """What `snnctl hil` asks of a family's `hil_main(cfg, opts)`: the network, the board it runs on, which episodes.

    The CLI starts an emulated board (`--board`) or takes a running one (`--port`) and passes its URL;
    the family plays its env with the network stepped on the board and compares every action with
    the in-process network's."""

    controller: str  # the .snn file
    url: str  # the board's pyserial URL
    board: str  # what to call it in the report
    episodes: int = 1
    seed: int = 0  # first held-out episode index
    deadline_s: float = 1.0  # how long one step waits for the board
    force_rate: bool = False
    quiet: bool = False
