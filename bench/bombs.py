"""`python -m bench --bombs`: peak memory of a whole ankle_xray run with one bomb of each kind, against 2 GB.

Each kind gets its own run over one phantom study plus that bomb (tests/hostile_inputs.py builds them): a
deflated file that inflates to 2.3 GB in its pixel data, before it (header) or after it (trailer), and a
JPEG 2000 codestream whose SIZ claims 60000 x 60000. A run without a bomb gives the baseline. A run whose
memory passes the guard is killed (an unrefused bomb would take the machine down) and shown as such.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from bench.measure import run_app
from tests.hostile_inputs import ALL_BOMB_KINDS, write_bomb_study

__all__ = ["RUN_BUDGET_MB", "GUARD_MB", "bomb_runs", "bombs_markdown"]

RUN_BUDGET_MB = 2048  # the peak a whole run may reach whatever one file claims (issue 14)
GUARD_MB = 4096


def _reason(output: Path, bomb: Path | None) -> str:
    """The failures.csv reason given for the bomb file ("" when it has none)."""
    path = output / "failures.csv"
    if bomb is None or not path.is_file():
        return ""
    with open(path, newline="", encoding="utf-8") as handle:
        return next((row["reason"] for row in csv.DictReader(handle) if row["item"] == str(bomb)), "")


def bomb_runs(work: Path, models: Path, kinds: tuple[str, ...] = ALL_BOMB_KINDS) -> list[dict[str, Any]]:
    """One ankle_xray run per bomb kind (and one without): peak RSS, exit code and the bomb's failure reason."""
    rows = []
    for kind in ("none", *kinds):
        folder = work / kind
        shutil.rmtree(folder, ignore_errors=True)
        bombs = write_bomb_study(folder / "input", [] if kind == "none" else [kind])
        run = run_app("ankle_xray", folder / "input", folder / "output", models, rss_guard_mb=GUARD_MB)
        rows.append(
            {
                "kind": kind,
                "peak_rss_mb": round(run.peak_rss_mb, 1),
                "within_budget": run.killed_over_mb is None and run.peak_rss_mb <= RUN_BUDGET_MB,
                "killed_over_mb": run.killed_over_mb,
                "returncode": run.returncode,
                "seconds": round(run.seconds, 2),
                "reason": _reason(folder / "output", bombs.get(kind)),
            }
        )
    return rows


def bombs_markdown(rows: list[dict[str, Any]]) -> str:
    """The table `python -m bench --bombs` prints."""
    lines = [
        f"Peak RSS of an ankle_xray run (one phantom study + one bomb) against the {RUN_BUDGET_MB} MB budget "
        f"(runs past {GUARD_MB} MB are killed):",
        "",
        "| bomb | peak RSS MB | within budget | exit | s | failures.csv reason |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = f"> {row['killed_over_mb']:.0f} (killed)" if row["killed_over_mb"] else row["peak_rss_mb"]
        cells = [row["kind"], peak, row["within_budget"], row["returncode"], row["seconds"], row["reason"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
