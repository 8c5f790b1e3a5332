"""The gate of every `make models` build: the app's own outputs on phantoms no training or tuning has seen.

For each app a fresh phantom set is generated with a seed of its own (UNSEEN_SEEDS: no build trains, validates or
tunes on it; the rules were developed on other seeds), the app runs over it exactly as a user runs it, and the
app's evaluation CLI scores its result.json files at the level the user reads them. Each target is a Gate; the
build writes every measured value, its bar and the margin between them to models/<model>/evaluation/unseen/, and
fails when a target is missed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.markdown_tables import markdown_table

__all__ = [
    "Gate",
    "UNSEEN_SEEDS",
    "UNSEEN_PATIENTS",
    "check_gates",
    "gate_table",
    "missed",
    "run_app",
    "UnseenCheck",
]

# Seeds of the held-out phantom sets, one per app; nothing else in the repository generates data with them.
UNSEEN_SEEDS = {"olt_mri": 90417, "ankle_xray": 90418, "onfh_mri": 90419}
UNSEEN_PATIENTS = {"olt_mri": 40, "ankle_xray": 80, "onfh_mri": 40}


@dataclass(frozen=True)
class Gate:
    """One target: the metric at `path` in the evaluation's metrics.json must reach `bar` (or stay under it)."""

    name: str
    path: tuple[str, ...]
    bar: float
    at_least: bool = True  # False: the measured value must not exceed the bar

    def measure(self, metrics: dict[str, Any]) -> float | None:
        """The measured value (a proportion's "value" when the path ends on one), None when undefined."""
        value: Any = metrics
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict):
            value = value.get("value")
        return None if value is None else float(value)

    def interval(self, metrics: dict[str, Any]) -> tuple[float, float] | None:
        """The Wilson interval of a proportion metric, when the path ends on one."""
        value: Any = metrics
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict) and value.get("ci_low") is not None:
            return float(value["ci_low"]), float(value["ci_high"])
        return None


def check_gates(metrics: dict[str, Any], gates: list[Gate]) -> list[dict[str, Any]]:
    """One row per gate: measured value, Wilson interval (proportions), bar, margin (positive = passed by)."""
    rows = []
    for gate in gates:
        value = gate.measure(metrics)
        margin = None if value is None else (value - gate.bar if gate.at_least else gate.bar - value)
        interval = gate.interval(metrics)
        rows.append(
            {
                "gate": gate.name,
                "measured": value,
                "ci95": list(interval) if interval else None,
                "bar": f"{'>=' if gate.at_least else '<='} {gate.bar:g}",
                "margin": margin,
                "passed": margin is not None and margin >= 0,
            }
        )
    return rows


def gate_table(rows: list[dict[str, Any]]) -> str:
    """The gate rows as a Markdown table (value with its Wilson 95% interval, bar, margin)."""
    cells = []
    for row in rows:
        value = "n/a" if row["measured"] is None else f"{row['measured']:.3f}"
        if row["ci95"]:
            value += f" ({row['ci95'][0]:.3f}–{row['ci95'][1]:.3f})"
        margin = "missed" if not row["passed"] else f"{row['margin']:+.3f}"
        cells.append([row["gate"], value, row["bar"], margin])
    return markdown_table(["metric", "measured (95% CI)", "target", "margin"], cells)


def run_app(app: str, input_dir: Path, output_dir: Path, models_dir: Path) -> None:
    """Run `python -m apps.<app>` over a folder as a user does; a failed run stops the build."""
    env = {**os.environ, "MSK_MAPS_LOG": os.environ.get("MSK_MAPS_LOG", "WARNING")}
    command = [sys.executable, "-m", f"apps.{app}", "-i", str(input_dir), "-o", str(output_dir), "-m", str(models_dir)]
    subprocess.run([*command, "--no-progress"], check=True, env=env)


@dataclass(frozen=True)
class UnseenCheck:
    """One app's gate: its phantom kind and generator, its evaluation CLI and function, and its targets."""

    app: str
    phantom_kind: str  # python -m phantoms <kind>
    evaluation: str  # python -m training.<evaluation>
    generate: Callable[[Path, int, int], object]
    evaluate: Callable[[Path, Path, Path], dict[str, Any]]
    gates: tuple[Gate, ...]

    @property
    def seed(self) -> int:
        return UNSEEN_SEEDS[self.app]

    @property
    def patients(self) -> int:
        return UNSEEN_PATIENTS[self.app]

    def run(self, models_dir: Path, work_dir: Path, out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Generate the unseen set, run the app, evaluate, write gates.json; returns (metrics, gate rows)."""
        data, output = work_dir / "unseen_input", work_dir / "unseen_output"
        for stale in (data, output, out_dir):
            shutil.rmtree(stale, ignore_errors=True)
        self.generate(data, self.patients, self.seed)
        run_app(self.app, data, output, models_dir)
        metrics = self.evaluate(data, output, out_dir)
        rows = check_gates(metrics, list(self.gates))
        summary = {"app": self.app, "seed": self.seed, "patients": self.patients, "gates": rows}
        (out_dir / "gates.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        return metrics, rows

    def reproduce(self) -> str:
        """The shell lines that regenerate the unseen set and score the app on it, for the model cards."""
        app = self.app
        return "\n".join(
            [
                f".venv/bin/python -m phantoms {self.phantom_kind} --out unseen/{app} --patients {self.patients} "
                f"--seed {self.seed}",
                f".venv/bin/python -m apps.{app} -i unseen/{app} -o unseen/{app}_out -m models",
                f".venv/bin/python -m training.{self.evaluation} --truth unseen/{app} --results unseen/{app}_out "
                f"--out unseen/{app}_eval",
            ]
        )


def missed(name: str, rows: list[dict[str, Any]]) -> None:
    """Stop the build when any gate was missed, naming each miss."""
    misses = [f"{r['gate']} {r['measured']} (target {r['bar']})" for r in rows if not r["passed"]]
    if misses:
        raise SystemExit(f"{name}: unseen-phantom targets missed: " + "; ".join(misses))
