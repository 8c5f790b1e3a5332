from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cli_writes_studies_and_broken_inputs(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "phantoms",
            "ankle-mri",
            "--out",
            str(tmp_path),
            "--patients",
            "1",
            "--seed",
            "2",
            "--broken",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "OLT0001" / "ground_truth.json").is_file()
    assert (tmp_path / "broken" / "manifest.json").is_file()
    assert "wrote 1 ankle MRI studies" in result.stdout
