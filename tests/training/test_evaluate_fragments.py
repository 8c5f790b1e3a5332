from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.ankle_xray.result_details import FragmentDetails, FragmentStudyDetails, RadiographDetails
from training.evaluate_fragments import evaluate_fragment_run


def _study(
    truth_root: Path,
    results: Path,
    index: int,
    kind: str | None,
    found: dict[str, list[tuple[list[float], float, float]]],
) -> None:
    """A two-view phantom-like truth (fragment box on both views) and the app's fragments per view.

    `found` maps "frontal"/"lateral" to detections (box, detection score, LMAF probability).
    """
    uid = f"1.2.{index}"
    boxes = {"frontal": [100, 100, 120, 116], "lateral": [200, 80, 214, 92]}
    images = [
        {
            "sop_instance_uid": f"{uid}.{view}",
            "view": "AP" if view == "frontal" else "LATERAL",
            "fragments": [{"box": boxes[view], "class": kind}] if kind else [],
        }
        for view in ("frontal", "lateral")
    ]
    folder = truth_root / f"AX{index:04d}"
    folder.mkdir(parents=True)
    truth = {"kind": "ankle-xray", "patient_id": folder.name, "study_instance_uid": uid, "images": images}
    (folder / "ground_truth.json").write_text(json.dumps(truth))
    fragments = [
        FragmentDetails(
            f"fragment {n}",
            f"{uid}.{view}",
            box,
            score,
            "LMAF" if p >= 0.5 else "SFO",
            max(p, 1 - p),
            {"SFO": 1 - p, "LMAF": p},
        )
        for n, (view, detections) in enumerate(found.items())
        for box, score, p in detections
    ]
    radiographs = [RadiographDetails(i["sop_instance_uid"], f"{uid}.s", "pydicom") for i in images]
    (results / uid).mkdir(parents=True)
    result = {"status": "ok", "details": FragmentStudyDetails(radiographs, fragments).to_json()}
    (results / uid / "result.json").write_text(json.dumps(result))


def test_fragments_are_found_on_any_view_and_false_positives_counted(tmp_path: Path) -> None:
    truth, results = tmp_path / "truth", tmp_path / "out"
    # LMAF found on the frontal view only (the lateral, faint, is missed): found, classed LMAF.
    _study(truth, results, 1, "LMAF", {"frontal": [([101, 100, 121, 116], 0.9, 0.8)]})
    # SFO found only on the lateral view, classed LMAF by mistake; plus a look-alike detection on the frontal.
    _study(
        truth,
        results,
        2,
        "SFO",
        {"lateral": [([200, 80, 214, 92], 0.6, 0.7)], "frontal": [([10, 10, 20, 20], 0.5, 0.2)]},
    )
    # SFO missed: the detection overlaps too little (IoU < 0.5).
    _study(truth, results, 3, "SFO", {"frontal": [([112, 108, 132, 124], 0.7, 0.1)]})
    # No fragment and no detection; no fragment but a detection.
    _study(truth, results, 4, None, {})
    _study(truth, results, 5, None, {"frontal": [([50, 50, 60, 60], 0.4, 0.3)]})
    metrics = evaluate_fragment_run(truth, results, tmp_path / "eval")
    assert metrics["studies"] == 5 and metrics["radiographs"] == 10 and metrics["fragments"] == 3
    assert metrics["fragment_recall"]["value"] == pytest.approx(2 / 3)
    assert metrics["false_positives"] == 3 and metrics["false_positives_per_radiograph"] == pytest.approx(0.3)
    study = metrics["study_fragment_found"]
    assert study["confusion_matrix"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 2}
    classes = metrics["classification"]
    assert classes["n"] == 2 and classes["confusion_matrix"] == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}
    assert classes["auc"]["value"] == 1.0  # LMAF p 0.8 ranks above the SFO's 0.7, though both are called LMAF
    assert metrics["detection_frontal"]["num_gt"] == 3 and metrics["detection_frontal"]["recall"] == pytest.approx(
        1 / 3
    )
    assert metrics["detection_lateral"]["recall"] == pytest.approx(1 / 3)
    rows = (tmp_path / "eval" / "per_fragment.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[2].split(",")[3] == "LATERAL"
