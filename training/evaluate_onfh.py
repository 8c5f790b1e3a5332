"""Evaluation CLI for onfh_mri: python -m training.evaluate_onfh --truth PHANTOMS --results APP_OUT --out DIR.

Compares an app run (OUT/<StudyInstanceUID>/result.json and segmentation_seg.dcm) with the phantoms' ground truth,
per hip, at the level a reader sees it: the grade and the key-slice necrotic ratio. The key slice is the one with
the largest head area; two slices either side of a head's equator can tie to within a few pixels while their
necrotic ratios differ, so the ratio and grade are scored against the truth on the slice the app chose, and that
choice is scored on its own (the truth's key slice, or one whose true head area is within 5 % of it).

Reported (proportions with Wilson 95% intervals):
* key-slice ratio error in percentage points on hips whose true ratio is 1-15 % (mild necrosis): max, mean, and
  the share within 2 pp;
* grade agreement on hips clear of a boundary (true ratio 0 %, or at least 2 % and at least 2 pp from 15 and 30 %),
  and apart on the rest, where a pixel or two decides the grade;
* healthy heads (no necrosis anywhere in the truth): how many were graded above "Without ONFH", and their largest
  volume ratio;
* femoral-head Dice over the axial T1 volume (the SEG read back with highdicom), key-slice agreement, the share of
  hips within 3 pp, and the error against the truth's own key slice.
Writes metrics.json and per_hip.csv.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np

from apps.onfh_mri.result_details import OnfhDetails
from dicom_out.result_json import read_details
from phantoms.hip_mri import GRADE_NAMES, true_grade
from training.app_evaluation import parse_evaluation_args, truths_with_results, write_rows
from training.metrics import proportion

__all__ = ["evaluate_onfh_run", "clear_of_boundaries", "dice", "read_seg_masks", "main"]

logger = logging.getLogger(__name__)

SIDE_LABELS = {"R": 1, "L": 2}  # label values of the ground-truth head masks
SIDE_NAMES = {"R": "Right", "L": "Left"}
RATIO_TOLERANCE_PP = 3.0
# Hips clear of a grade boundary (issue 15): true ratio 0 %, or at least CLEAR_MIN_PERCENT and at least CLEAR_PP
# from 15 and 30 %. On the others a pixel or two decides the grade, so their agreement is reported apart.
CLEAR_MIN_PERCENT = 2.0
CLEAR_PP = 2.0
MILD_RANGE_PERCENT = (1.0, 15.0)  # the hips whose key-slice ratio error is bounded
MILD_ERROR_PP = 2.0
KEY_AREA_TOLERANCE = 0.05


def clear_of_boundaries(true_ratio: float) -> bool:
    """True ratio 0 %, or at least 2 % and at least 2 pp from the 15 % and 30 % grade boundaries."""
    if true_ratio == 0.0:
        return True
    return true_ratio >= CLEAR_MIN_PERCENT and all(abs(true_ratio - b) >= CLEAR_PP for b in (15.0, 30.0))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def read_seg_masks(path: Path, source_uids: list[str]) -> dict[str, np.ndarray]:
    """Each segment's mask (frames in `source_uids` order) by segment label, read back with highdicom."""
    seg = hd.seg.segread(path)
    masks = {}
    for number in seg.segment_numbers:
        label = seg.get_segment_description(number).segment_label
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=source_uids, segment_numbers=[number], ignore_spatial_locations=True
        )
        masks[label] = pixels[..., 0].astype(bool)
    return masks


def evaluate_onfh_run(truth_root: Path, results_root: Path, out_dir: Path) -> dict[str, Any]:
    """Per-hip Dice, ratio error and grade agreement of an app run against phantom ground truth."""
    rows: list[dict[str, Any]] = []
    for truth_path, truth, result, study_dir in truths_with_results(truth_root, results_root, "hip-mri", "onfh_mri"):
        details = read_details(result, OnfhDetails)
        hips = details.hips if details else {}
        gt = np.load(truth_path.with_name("ground_truth_masks.npz"))
        seg_path = study_dir / "segmentation_seg.dcm"
        seg = read_seg_masks(seg_path, truth["sop_instance_uids"]) if seg_path.is_file() else {}
        for side, hip_truth in truth["hips"].items():
            found = hips.get(side)
            predicted = seg.get(f"{SIDE_NAMES[side]} femoral head")
            true_head = gt["head"] == SIDE_LABELS[side]
            areas = true_head.reshape(len(true_head), -1).sum(axis=1)
            uids = truth["sop_instance_uids"]
            chosen = uids.index(found.key_slice_sop_instance_uid) if found else int(np.argmax(areas))
            head_px = int(areas[chosen])
            necrotic_px = int((gt["necrosis"][chosen].astype(bool) & true_head[chosen]).sum())
            true_on_chosen = 100.0 * necrotic_px / head_px if head_px else 0.0
            row = {
                "patient_id": truth["patient_id"],
                "side": side,
                "true_ratio_key": hip_truth["ratio_key_percent"],
                "true_ratio": true_on_chosen,
                "true_grade": true_grade(necrotic_px, head_px) if head_px else "no head",
                "ratio": found.ratio_key_percent if found else None,
                "grade": found.grade if found else "not found",
                "healthy": hip_truth["necrosis_pixels_volume"] == 0,
                "ratio_volume": found.ratio_volume_percent if found else None,
                "dice": dice(predicted, true_head) if predicted is not None else 0.0,
                "key_slice_match": bool(found and chosen == int(np.argmax(areas))),
                "key_slice_area_fraction": head_px / int(areas.max()),
            }
            row["key_slice_acceptable"] = bool(found) and row["key_slice_area_fraction"] >= 1 - KEY_AREA_TOLERANCE
            row["ratio_error_pp"] = abs(row["ratio"] - row["true_ratio"]) if found else None
            row["ratio_error_vs_true_key_pp"] = abs(row["ratio"] - row["true_ratio_key"]) if found else None
            row["clear"] = clear_of_boundaries(row["true_ratio"])
            rows.append(row)
    if not rows:
        raise ValueError(f"no hip-mri ground truth under {truth_root}")
    within = sum(1 for r in rows if r["ratio_error_pp"] is not None and r["ratio_error_pp"] <= RATIO_TOLERANCE_PP)
    dices = np.array([r["dice"] for r in rows])
    grades = [g for g in (*GRADE_NAMES, "not found") if any(g in (r["true_grade"], r["grade"]) for r in rows)]
    mild = [r for r in rows if MILD_RANGE_PERCENT[0] <= r["true_ratio"] <= MILD_RANGE_PERCENT[1]]
    mild_errors = [r["ratio_error_pp"] if r["ratio_error_pp"] is not None else r["true_ratio"] for r in mild]
    healthy = [r for r in rows if r["healthy"]]

    def agreement(subset: list[dict[str, Any]]) -> dict[str, Any]:
        return proportion(sum(r["grade"] == r["true_grade"] for r in subset), len(subset))

    metrics = {
        "hips": len(rows),
        "mild_ratio_error_pp": {
            "definition": f"hips with true key-slice ratio {MILD_RANGE_PERCENT[0]:g}-{MILD_RANGE_PERCENT[1]:g} %",
            "hips": len(mild),
            "max_abs": max(mild_errors, default=None),
            "mean_abs": float(np.mean(mild_errors)) if mild_errors else None,
            f"within_{MILD_ERROR_PP:g}pp": proportion(sum(e <= MILD_ERROR_PP for e in mild_errors), len(mild)),
        },
        "grade_accuracy_clear_of_boundaries": agreement([r for r in rows if r["clear"]]),
        "grade_accuracy_near_boundaries": agreement([r for r in rows if not r["clear"]]),
        "clear_definition": (
            f"true key-slice ratio 0 %, or >= {CLEAR_MIN_PERCENT:g} % and >= {CLEAR_PP:g} pp from 15 and 30 %"
        ),
        "grade_accuracy": agreement(rows),
        "healthy_heads": {
            "hips": len(healthy),
            "graded_above_without": sum(r["grade"] != GRADE_NAMES[0] for r in healthy),
            "max_volume_ratio_percent": max(
                (r["ratio_volume"] if r["ratio_volume"] is not None else 0.0 for r in healthy), default=None
            ),
        },
        "femoral_head_dice": {
            "mean": float(dices.mean()),
            "min": float(dices.min()),
            "median": float(np.median(dices)),
        },
        f"ratio_within_{RATIO_TOLERANCE_PP:g}pp": proportion(within, len(rows)),
        "ratio_error_pp": {
            "mean_signed": float(np.mean([r["ratio"] - r["true_ratio"] for r in rows if r["ratio"] is not None]))
            if any(r["ratio"] is not None for r in rows)
            else None,
            "max_abs": max((r["ratio_error_pp"] for r in rows if r["ratio_error_pp"] is not None), default=None),
        },
        "key_slice_agreement": proportion(sum(r["key_slice_match"] for r in rows), len(rows)),
        "key_slice_acceptable": proportion(sum(r["key_slice_acceptable"] for r in rows), len(rows)),
        "ratio_within_3pp_vs_true_key_slice": proportion(
            sum(
                1 for r in rows if r["ratio_error_vs_true_key_pp"] is not None and r["ratio_error_vs_true_key_pp"] <= 3
            ),
            len(rows),
        ),
        "grade_confusion": {
            t: {p: sum(1 for r in rows if r["true_grade"] == t and r["grade"] == p) for p in grades} for t in grades
        },
        "interval_method": "wilson",
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_rows(rows, out_dir / "per_hip.csv")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    args = parse_evaluation_args(__doc__, argv)
    metrics = evaluate_onfh_run(args.truth, args.results, args.out)
    mild, healthy = metrics["mild_ratio_error_pp"], metrics["healthy_heads"]
    print(
        f"hips={metrics['hips']} dice mean={metrics['femoral_head_dice']['mean']:.3f}; "
        f"mild hips={mild['hips']} max ratio error={mild['max_abs']} pp; "
        f"grade agreement clear of boundaries={metrics['grade_accuracy_clear_of_boundaries']['value']}; "
        f"healthy heads={healthy['hips']} graded above Without={healthy['graded_above_without']} "
        f"max volume ratio={healthy['max_volume_ratio_percent']} %; wrote {args.out / 'metrics.json'}"
    )


if __name__ == "__main__":
    main()
