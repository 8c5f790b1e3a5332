"""Broken inputs for robustness tests: what a real archive export contains on a bad day."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom

from phantoms.ankle_mri import write_ankle_mri_study

__all__ = ["write_broken_inputs", "MANIFEST_FILE"]

MANIFEST_FILE = "manifest.json"


def _t1_files(study_dir: Path, plane: str) -> list[Path]:
    truth = json.loads((study_dir / "ground_truth.json").read_text())
    series = next(s for s in truth["series"] if s["weighting"] == "T1" and s["plane"] == plane)
    return sorted((study_dir / series["folder"]).glob("*.dcm"))


def write_broken_inputs(out_dir: Path, seed: int, source_file: Path | None = None) -> dict[str, str]:
    """Write broken files and studies under out_dir; returns {path: what is wrong} (also in manifest.json).

    * ``not_dicom/README.txt`` and ``not_dicom/random.bin``: not DICOM at all;
    * ``BRK0001``: a good study in which one T1 coronal file is truncated inside its pixel data, one
      T1 coronal file's header claims more rows/columns than its pixel data holds, and one T1 sagittal
      slice is missing — the study must still be analysed on what is left;
    * ``BRK0002``: a study with only a localizer and an axial T1 — no usable series.
    """
    out_dir = Path(out_dir)
    wrong: dict[str, str] = {}
    rng = np.random.default_rng(seed)
    not_dicom = out_dir / "not_dicom"
    not_dicom.mkdir(parents=True, exist_ok=True)
    (not_dicom / "README.txt").write_text("Exported by the archive. Not an image.\n")
    (not_dicom / "random.bin").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    wrong[str(not_dicom / "README.txt")] = "not a DICOM file"
    wrong[str(not_dicom / "random.bin")] = "not a DICOM file"

    write_ankle_mri_study(out_dir, "BRK0001", seed, has_lesion=True)
    coronal = _t1_files(out_dir / "BRK0001", "coronal")
    source = source_file or coronal[len(coronal) // 2]
    truncated = source.with_name("trunc_" + source.name)
    payload = source.read_bytes()
    truncated.write_bytes(payload[: len(payload) - len(payload) // 3])
    source.unlink()  # the truncated copy replaces the good file
    wrong[str(truncated)] = "truncated inside the pixel data"

    liar = coronal[0]
    ds = pydicom.dcmread(liar)
    ds.Rows, ds.Columns = ds.Rows * 2, ds.Columns * 2
    lying = liar.with_name("lying_" + liar.name)
    ds.save_as(lying, enforce_file_format=True)
    liar.unlink()
    wrong[str(lying)] = "header promises 4x the pixels the file holds"

    sagittal = _t1_files(out_dir / "BRK0001", "sagittal")
    missing = sagittal[len(sagittal) // 2]
    missing.unlink()
    wrong[str(missing)] = "slice missing from the T1 sagittal series (deleted)"

    write_ankle_mri_study(out_dir, "BRK0002", seed, has_lesion=False, distractors_only=True)
    wrong[str(out_dir / "BRK0002")] = "study without any T1/T2 coronal or sagittal series"
    (out_dir / MANIFEST_FILE).write_text(json.dumps(wrong, indent=1), encoding="utf-8")
    return wrong
