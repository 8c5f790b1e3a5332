"""Training manifests (path,patient_id,label) for the OLT classifiers, from ankle MRI phantom ground truth."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from dicom_in.study_index import index_folder, load_study

__all__ = ["olt_manifest_rows", "write_manifest", "OFF_DOME_NEGATIVES"]

_PLANES = ("coronal", "sagittal")
# Lesion-free slices per series: every one through the talar dome (where a lesion would be, and where joint fluid
# and cartilage over the dome look most like one), plus this many of the others (tibia-only, calcaneus-only, edge
# slices) spread over the series, since the app runs the model on every slice. With five lesion-free slices per
# series spread evenly, the T2 coronal model called lesion-free mid-dome slices an OLT at p > 0.9 in about half
# of the unseen patients.
OFF_DOME_NEGATIVES = 2


def _spread(numbers: list[int], count: int) -> list[int]:
    """`count` items evenly spaced over `numbers` (all of them if there are fewer)."""
    if len(numbers) <= count:
        return numbers
    return [numbers[i] for i in np.linspace(0, len(numbers) - 1, count).round().astype(int)]


def olt_manifest_rows(
    dataset_dir: Path,
    ground_truths: list[dict[str, Any]],
    weighting: str,
    off_dome: int = OFF_DOME_NEGATIVES,
) -> list[dict[str, str]]:
    """Slices of the `weighting` coronal/sagittal series of every phantom patient, labelled from ground truth.

    Label 1: every slice that shows the lesion. Label 0: every lesion-free slice through the talar dome and
    `off_dome` others spread over the series, from lesion and lesion-free patients alike.
    """
    rows = []
    for truth in ground_truths:
        index = index_folder(Path(dataset_dir) / truth["patient_id"])
        study = load_study(truth["study_instance_uid"], index.studies[truth["study_instance_uid"]])
        paths = {(s.uid, inst.instance_number): inst.path for s in study.series for inst in s.instances}
        for series in truth["series"]:
            if series["weighting"] != weighting or series["plane"] not in _PLANES:
                continue
            numbers = sorted(n for (uid, n) in paths if uid == series["series_instance_uid"])
            lesion = set(series["slices_with_lesion"]) if truth["lesion"] else set()
            dome = set(series["talus_slices"]) - lesion
            others = [n for n in numbers if n not in lesion and n not in dome]
            chosen = sorted(lesion | dome | set(_spread(others, off_dome)))
            for number in chosen:
                rows.append(
                    {
                        "path": str(paths[(series["series_instance_uid"], number)]),
                        "patient_id": truth["patient_id"],
                        "label": "1" if number in lesion else "0",
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
