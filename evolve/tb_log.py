"""An evolution run's per-generation statistics as a TensorBoard event file, beside log.csv/log.jsonl.

`runner` calls `append` after each generation and `rewrite` where it rewrites its logs (a resumed
run drops the lines written after its checkpoint); the scalars are the log's numeric columns under
`evolve/` (e.g. `evolve/tracking_cost_best`), stepped by generation, in `<run>/tensorboard/`
(`snnctl.tb_events`). `tensorboard --logdir runs/` compares runs; pandas reads `log.csv` itself.
"""

from __future__ import annotations

from pathlib import Path

from snnctl import tb_events

TB_DIR = "tensorboard"


def _scalars(rec: dict) -> dict[str, float]:
    return tb_events.scalar_items(rec, prefix="evolve/", skip=("gen",))


def append(out: Path, rec: dict) -> None:
    """Add one generation's row (`rec["gen"]` is the step)."""
    with tb_events.EventWriter(Path(out) / TB_DIR) as w:
        w.add_scalars(_scalars(rec), step=int(rec["gen"]))


def rewrite(out: Path, logbook: list[dict]) -> None:
    """The event file holding exactly `logbook` (what log.csv holds)."""
    tb_events.write_events(Path(out) / TB_DIR, [(int(r["gen"]), _scalars(r)) for r in logbook])
