"""A phantom study converted to Legacy Converted Enhanced MR (one multi-frame object per series, highdicom) gives
the same findings as its single-frame original, for olt_mri and onfh_mri; outputs reference frames."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import pytest
from pydicom.uid import generate_uid

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.hip_mri import generate_hip_mri_dataset
from tests.app_runner import run_app
from tests.dicom_validation import dciodvfy_errors
from tests.findings import assert_same_hips, assert_same_series_calls
from tests.model_fixtures import export_fixture_classifier, export_fixture_segmenter
from tests.multiframe import convert_folder

pytestmark = pytest.mark.slow


def _run_both(root: Path, app: str, single_uid: str) -> tuple[dict, dict, Path]:
    """Run `app` once over the original study and its enhanced copy; their result.json and the copy's folder."""
    enhanced_uid = generate_uid(entropy_srcs=[single_uid, "enhanced"])
    written = convert_folder(root / "input" / "single", root / "input" / "enhanced", enhanced_uid)
    assert any(p.name == "enhanced.dcm" for p in written)
    code, stderr = run_app(app, root / "input", root / "out", root / "models")
    assert code == 0, stderr[-3000:]
    single = json.loads((root / "out" / single_uid / "result.json").read_text())
    enhanced = json.loads((root / "out" / enhanced_uid / "result.json").read_text())
    return single, enhanced, root / "out" / enhanced_uid


def _check_outputs(folder: Path, result: dict) -> hd.sr.Comprehensive3DSR:
    for name in result["files"]:
        if name.endswith(".dcm"):
            assert dciodvfy_errors(folder / name) == [], name
    return hd.sr.srread(folder / "report_sr.dcm")


def test_olt_mri_finds_the_same_in_the_enhanced_copy(tmp_path: Path) -> None:
    truth = generate_ankle_mri_dataset(tmp_path / "input" / "single", patients=1, seed=21)[0]
    export_fixture_classifier(tmp_path / "models", "olt_mri_t1", seed=1)
    export_fixture_classifier(tmp_path / "models", "olt_mri_t2", seed=2)
    single, enhanced, folder = _run_both(tmp_path, "olt_mri", truth["study_instance_uid"])
    assert single["status"] == enhanced["status"] == "ok"
    assert len(single["details"]["series"]) == 4
    assert_same_series_calls(single, enhanced)
    outcome = next(o for o in enhanced["selection"] if o["outcome"] == "selected by T1 coronal")
    assert outcome["derived"]["instances"] == 1 and outcome["derived"]["images"] >= 3
    sr = _check_outputs(folder, enhanced)
    for group in sr.content.get_image_measurement_groups():
        (source,) = group.source_images
        assert len(source.referenced_frame_numbers) == 1  # the key slice: one frame of the enhanced object


def test_onfh_mri_grades_the_same_in_the_enhanced_copy(tmp_path: Path) -> None:
    truth = generate_hip_mri_dataset(tmp_path / "input" / "single", patients=1, seed=5)[0]
    export_fixture_segmenter(tmp_path / "models")
    single, enhanced, folder = _run_both(tmp_path, "onfh_mri", truth["study_instance_uid"])
    assert single["status"] == enhanced["status"] == "ok"
    assert_same_hips(single, enhanced)
    _check_outputs(folder, enhanced)
    seg = hd.seg.segread(folder / "segmentation_seg.dcm")
    sources = {
        (str(item.ReferencedSOPInstanceUID), int(item.ReferencedFrameNumber))
        for frame in seg.PerFrameFunctionalGroupsSequence
        for item in frame.DerivationImageSequence[0].SourceImageSequence
    }
    assert len({uid for uid, _ in sources}) == 1 and len(sources) > 1  # frames of the one enhanced object
