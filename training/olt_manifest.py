"""Training manifests (path,patient_id,label) for the OLT classifiers, from ankle MRI phantom ground truth."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from operators.study_index import index_folder, load_study

__all__ = ["olt_manifest_rows", "write_manifest"]

_PLANES = ("coronal", "sagittal")


def olt_manifest_rows(
    dataset_dir: Path, ground_truths: list[dict[str, Any]], weighting: str
) -> list[dict[str, str]]:
    """One row per talar-dome slice of the `weighting` coronal/sagittal series of every phantom patient.

    Label 1 for slices that show the lesion, 0 for talar slices of lesion-free patients. Talar slices of a
    lesion patient that miss the lesion are left out: the paper labels images by patient group, with the
    patients' images chosen to show the lesion.
    """
    rows = []
    for truth in ground_truths:
        index = index_folder(Path(dataset_dir) / truth["patient_id"])
        study = load_study(truth["study_instance_uid"], index.studies[truth["study_instance_uid"]])
        paths = {(s.uid, inst.instance_number): inst.path for s in study.series for inst in s.instances}
        for series in truth["series"]:
            if series["weighting"] != weighting or series["plane"] not in _PLANES:
                continue
            lesion_slices = set(series["slices_with_lesion"]) if truth["lesion"] else set()
            for number in series["talus_slices"]:
                if truth["lesion"] and number not in lesion_slices:
                    continue
                path = paths.get((series["series_instance_uid"], number))
                if path is not None:
                    rows.append(
                        {
                            "path": str(path),
                            "patient_id": truth["patient_id"],
                            "label": "1" if number in lesion_slices else "0",
                        }
                    )
    return rows


def write_manifest(rows: list[dict[str, str]], path: Path) -> Path:
    """Write rows as CSV with columns path,patient_id,label."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "patient_id", "label"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
