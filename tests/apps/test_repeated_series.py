"""A phantom study whose series come with a second echo or a second acquisition under the same SeriesInstanceUID
(single-frame, and as a Legacy Converted Enhanced MR holding both echoes) gives the findings of the original: the
apps read one stack, result.json says which, and the SR and SEG reference only that stack's images."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.hip_mri import generate_hip_mri_dataset
from tests.app_runner import run_app
from tests.findings import assert_same_hips, assert_same_series_calls
from tests.model_fixtures import export_fixture_classifier, export_fixture_segmenter
from tests.multiframe import convert_folder, repeat_folder

pytestmark = pytest.mark.slow

_LONG_TE_MS = 60.0  # the phantoms' T2 series have TE 78-95 ms, their T1 and PD series TE 10-30 ms


def _second_echo(ds: Dataset) -> tuple[dict, dict] | None:
    """A dual-echo series: a T2 slice (long TE) becomes echo 2 beside a new short-TE echo 1, any other MR slice
    echo 1 beside a new long-TE echo 2; so the copy is never the echo whose TE fits the series' weighting."""
    if ds.Modality != "MR":
        return None
    te = float(ds.EchoTime)
    if te >= _LONG_TE_MS:
        return {"EchoNumbers": 2}, {"EchoNumbers": 1, "EchoTime": round(te / 4, 1)}
    return {"EchoNumbers": 1}, {"EchoNumbers": 2, "EchoTime": round(te + 70, 1)}


def _second_acquisition(ds: Dataset) -> tuple[dict, dict] | None:
    """The series acquired twice: the copy is acquisition 1, the original the later repeat (acquisition 2)."""
    return ({"AcquisitionNumber": 2}, {"AcquisitionNumber": 1}) if ds.Modality == "MR" else None


def _frame_attributes(folder: Path) -> dict[tuple[str, int | None], Dataset]:
    """Each input image's own attributes by (SOPInstanceUID, frame number or None), read with pydicom."""
    images = {}
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if "PerFrameFunctionalGroupsSequence" not in ds:
            images[(str(ds.SOPInstanceUID), None)] = ds
            continue
        for number, item in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
            images[(str(ds.SOPInstanceUID), number)] = item.UnassignedPerFrameConvertedAttributesSequence[0]
    return images


def _sr_sources(folder: Path) -> list[tuple[str, int | None]]:
    sr = hd.sr.srread(folder / "report_sr.dcm")
    sources = []
    for group in sr.content.get_image_measurement_groups():
        for source in group.source_images:
            frames = source.referenced_frame_numbers or [None]
            sources += [(source.referenced_sop_instance_uid, int(f) if f else None) for f in frames]
    return sources


def test_olt_mri_reads_the_echo_that_fits_each_rule(tmp_path: Path) -> None:
    inputs = tmp_path / "input"
    single_uid = generate_ankle_mri_dataset(inputs / "single", patients=1, seed=21)[0]["study_instance_uid"]
    echoes_uid, enhanced_uid = (generate_uid(entropy_srcs=[single_uid, kind]) for kind in ("echoes", "enhanced"))
    repeat_folder(inputs / "single", inputs / "echoes", echoes_uid, _second_echo)
    assert any(p.name == "enhanced.dcm" for p in convert_folder(inputs / "echoes", inputs / "enhanced", enhanced_uid))
    export_fixture_classifier(tmp_path / "models", "olt_mri_t1", seed=1)
    export_fixture_classifier(tmp_path / "models", "olt_mri_t2", seed=2)
    code, stderr = run_app("olt_mri", inputs, tmp_path / "out", tmp_path / "models")
    assert code == 0, stderr[-3000:]
    single = json.loads((tmp_path / "out" / single_uid / "result.json").read_text())
    assert single["status"] == "ok" and len(single["details"]["series"]) == 4
    images = _frame_attributes(inputs)
    for uid in (echoes_uid, enhanced_uid):
        result = json.loads((tmp_path / "out" / uid / "result.json").read_text())
        assert result["status"] == "ok"
        assert_same_series_calls(single, result)
        for entry in result["selection"]:
            read = [rule for rule, outcome in entry["rules"].items() if outcome == "selected"]
            if read:  # T1 rules read echo 1, T2 rules echo 2: the original slices, never the copies
                echo = 2 if read[0].startswith("T2") else 1
                assert entry["stack"]["name"].startswith(f"echo {echo} of 2 (EchoNumbers {echo}, TE ")
                assert entry["outcome"].startswith(f"{entry['stack']['name']}: selected by {read[0]}")
        passed = [o for e in result["selection"] for o in e["rules"].values() if "echo" in o and "preferred" in o]
        assert any(o.endswith("preferred (the shortest TE)") for o in passed)
        assert any(o.endswith("preferred (the longest TE, as the rule wants T2)") for o in passed)
        sources = _sr_sources(tmp_path / "out" / uid)
        assert len(sources) == 4
        for key in sources:  # the key images are original slices: a T2 series' echo 2, others' echo 1
            expected = 2 if float(images[key].EchoTime) >= _LONG_TE_MS else 1
            assert int(images[key].EchoNumbers) == expected


def test_onfh_mri_reads_the_later_acquisition(tmp_path: Path) -> None:
    inputs = tmp_path / "input"
    single_uid = generate_hip_mri_dataset(inputs / "single", patients=1, seed=5)[0]["study_instance_uid"]
    repeated_uid = generate_uid(entropy_srcs=[single_uid, "acquisitions"])
    repeat_folder(inputs / "single", inputs / "repeated", repeated_uid, _second_acquisition)
    export_fixture_segmenter(tmp_path / "models")
    code, stderr = run_app("onfh_mri", inputs, tmp_path / "out", tmp_path / "models")
    assert code == 0, stderr[-3000:]
    single, repeated = (
        json.loads((tmp_path / "out" / u / "result.json").read_text()) for u in (single_uid, repeated_uid)
    )
    assert single["status"] == repeated["status"] == "ok"
    assert_same_hips(single, repeated)
    (entry,) = (e for e in repeated["selection"] if e["outcome"].endswith("selected by T1 axial"))
    assert entry["stack"]["name"].startswith("acquisition 2 of 2 (AcquisitionNumber 2, TE ")
    (sibling,) = (
        e for e in repeated["selection"] if e["series_instance_uid"] == entry["series_instance_uid"] and e is not entry
    )
    assert sibling["rules"]["T1 axial"] == f"matched, but {entry['stack']['name']} preferred (the later acquisition)"
    images = _frame_attributes(inputs / "repeated")
    seg = hd.seg.segread(tmp_path / "out" / repeated_uid / "segmentation_seg.dcm")
    sources = {
        str(item.ReferencedSOPInstanceUID)
        for frame in seg.PerFrameFunctionalGroupsSequence
        for item in frame.DerivationImageSequence[0].SourceImageSequence
    }
    assert sources and {int(images[(uid, None)].AcquisitionNumber) for uid in sources} == {2}
    assert {int(images[key].AcquisitionNumber) for key in _sr_sources(tmp_path / "out" / repeated_uid)} == {2}
