"""Broken inputs for robustness tests: what a real archive export contains on a bad day."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pydicom

from phantoms.ankle_mri import GROUND_TRUTH_FILE, write_ankle_mri_study

__all__ = ["MANIFEST_FILE", "write_broken_inputs"]

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"


def _series_files(study_dir: Path, weighting: str, plane: str) -> list[Path]:
    truth = json.loads((study_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    series = next(s for s in truth["series"] if s["weighting"] == weighting and s["plane"] == plane)
    return sorted((study_dir / series["folder"]).glob("*.dcm"))


def _truncate_in_pixel_data(source: Path, target: Path) -> None:
    """Copy `source` to `target` without the second half of its pixel data (the header stays readable)."""
    header = pydicom.dcmread(source, stop_before_pixels=True)
    pixel_bytes = int(header.Rows) * int(header.Columns) * int(header.BitsAllocated) // 8
    payload = source.read_bytes()
    if pixel_bytes < 2 or pixel_bytes >= len(payload):
        raise ValueError(f"Expected a file with uncompressed pixel data to truncate, got {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload[: len(payload) - pixel_bytes // 2])


def write_broken_inputs(out_dir: Path, seed: int, source_file: Path | None = None) -> dict[str, str]:
    """Write broken files and studies under out_dir; returns {absolute path: what is wrong}.

    The same mapping, with paths relative to out_dir, goes to out_dir/manifest.json.

    * ``not_dicom/README.txt``, ``not_dicom/random_bytes.dcm``, ``not_dicom/empty.dcm``: not DICOM at all;
    * ``BRK0001``: a study with a lesion in which one T1 coronal file is truncated inside its pixel data
      (``trunc_*.dcm``, replacing the good file) and one claims Rows/Columns twice what its pixel data
      holds (``lying_*.dcm``); the rest of the study is good and must still be analysed;
    * ``BRK0002``: a study with only a localizer and an axial T1: no usable series;
    * ``BRK0003``: a good study whose T1 sagittal series lacks one slice (deleted); it must be analysed.

    With `source_file`, a truncated copy of that file is added as ``truncated/trunc_<name>``; it keeps
    the source's UIDs, so do not put it beside the source in one input folder.
    """
    out_dir = Path(out_dir)
    wrong: dict[Path, str] = {}
    rng = np.random.default_rng(seed)

    not_dicom = out_dir / "not_dicom"
    not_dicom.mkdir(parents=True, exist_ok=True)
    (not_dicom / "README.txt").write_text("Exported by the archive. Not an image.\n", encoding="utf-8")
    (not_dicom / "random_bytes.dcm").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (not_dicom / "empty.dcm").write_bytes(b"")
    wrong[not_dicom / "README.txt"] = "not a DICOM file (text)"
    wrong[not_dicom / "random_bytes.dcm"] = "not a DICOM file (random bytes with a .dcm name)"
    wrong[not_dicom / "empty.dcm"] = "not a DICOM file (empty)"

    write_ankle_mri_study(out_dir, "BRK0001", seed, has_lesion=True)
    coronal = _series_files(out_dir / "BRK0001", "T1", "coronal")
    middle = coronal[len(coronal) // 2]
    truncated = middle.with_name("trunc_" + middle.name)
    _truncate_in_pixel_data(middle, truncated)
    middle.unlink()
    wrong[truncated] = "truncated inside the pixel data; the rest of the study is good"
    first = coronal[0]
    ds = pydicom.dcmread(first)
    ds.Rows, ds.Columns = int(ds.Rows) * 2, int(ds.Columns) * 2
    lying = first.with_name("lying_" + first.name)
    ds.save_as(lying, enforce_file_format=True)
    first.unlink()
    wrong[lying] = "Rows/Columns promise 4x the pixels the file holds; the rest of the study is good"

    write_ankle_mri_study(out_dir, "BRK0002", seed, has_lesion=False, distractors_only=True)
    wrong[out_dir / "BRK0002"] = "no usable series: only a localizer and an axial T1"

    write_ankle_mri_study(out_dir, "BRK0003", seed, has_lesion=False)
    sagittal = _series_files(out_dir / "BRK0003", "T1", "sagittal")
    missing = sagittal[len(sagittal) // 2]
    missing.unlink()
    wrong[missing] = "slice missing from the T1 sagittal series (deleted); the study must still be analysed"

    if source_file is not None:
        copy = out_dir / "truncated" / f"trunc_{Path(source_file).name}"
        _truncate_in_pixel_data(Path(source_file), copy)
        wrong[copy] = f"truncated copy of {Path(source_file).name}, cut inside the pixel data"

    manifest = {path.relative_to(out_dir).as_posix(): why for path, why in wrong.items()}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    logger.info("Wrote %d broken inputs under %s", len(wrong), out_dir)
    return {str(path): why for path, why in wrong.items()}
