"""ankle_xray on a real radiograph: pydicom-data's RG3 (a CR of the distal tibia and ankle, BodyPartExamined
EXTREMITY) in every syntax it ships in plus implicit VR and big-endian copies, a two-frame radiograph, and a site
rules file (`--rules`) that skips images naming no body region."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    generate_uid,
)

from tests.app_runner import read_rows, run_app
from tests.dicom_validation import dciodvfy_errors
from tests.model_fixtures import export_fixture_fragment_models
from tests.pydicom_data import data_file

pytestmark = pytest.mark.slow

LOSSLESS = ("RG3_UNCR", "RG3_J2KR", "RG3_implicit", "RG3_big_endian")
LOSSY = ("RG3_J2KI", "RG3_UNCI")


def _as_own_study(ds: pydicom.Dataset, name: str) -> pydicom.Dataset:
    """The file as a study of its own (the four RG3 files share their study and series)."""
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["rg3", name, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["rg3", name, "series"])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["rg3", name])
    return ds


def _write_inputs(folder: Path) -> dict[str, str]:
    """Every variant under `folder`; returns name → StudyInstanceUID."""
    folder.mkdir(parents=True)
    studies = {}

    def save(name: str, ds: pydicom.Dataset, **encoding) -> None:
        _as_own_study(ds, name)
        dcmwrite(folder / f"{name}.dcm", ds, enforce_file_format=True, **encoding)
        studies[name] = str(ds.StudyInstanceUID)

    for name in ("RG3_UNCR", "RG3_UNCI", "RG3_J2KR", "RG3_J2KI"):
        save(name, pydicom.dcmread(data_file(f"{name}.dcm")))
    source = pydicom.dcmread(data_file("RG3_UNCR.dcm"))
    implicit = copy.deepcopy(source)
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    save("RG3_implicit", implicit, implicit_vr=True, little_endian=True)
    big = copy.deepcopy(source)
    big.PixelData = source.pixel_array.astype(">u2").tobytes()
    big.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    save("RG3_big_endian", big, implicit_vr=False, little_endian=False)
    two = copy.deepcopy(source)  # the radiograph and its mirror image as two frames of one object
    two.SOPClassUID = two.file_meta.MediaStorageSOPClassUID = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    two.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    two.NumberOfFrames, two.FrameIncrementPointer = 2, 0x00181063
    two.FrameTime = 0
    two.PixelData = np.stack([source.pixel_array, source.pixel_array[:, ::-1]]).astype("<u2").tobytes()
    save("RG3_two_frames", two)
    nameless = copy.deepcopy(source)  # nothing says which body part: the site's rules skip it
    del nameless.BodyPartExamined, nameless.StudyDescription, nameless.AcquisitionDeviceProcessingDescription
    save("RG3_nameless", nameless)
    return studies


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("rg3")
    studies = _write_inputs(root / "input")
    export_fixture_fragment_models(root / "models")
    site = root / "site_rules.json"
    site.write_text(json.dumps({"anatomy": {"unnamed": "skip"}}), encoding="utf-8")
    code, stderr = run_app("ankle_xray", root / "input", root / "out", root / "models", "--rules", str(site))
    results = {}
    for name, uid in studies.items():
        path = root / "out" / uid / "result.json"
        results[name] = json.loads(path.read_text()) if path.is_file() else None
    return {"root": root, "studies": studies, "returncode": code, "stderr": stderr, "results": results}


def _fragments(result: dict) -> list[dict]:
    return [{k: v for k, v in f.items() if k != "sop_instance_uid"} for f in result["details"]["fragments"]]


def test_the_real_radiograph_is_analysed_in_every_syntax(batch: dict) -> None:
    assert batch["returncode"] == 0, batch["stderr"][-3000:]
    for name in LOSSLESS + LOSSY:
        result = batch["results"][name]
        assert result is not None and result["status"] == "ok", name
        (outcome,) = result["selection"]
        assert outcome["outcome"] == "selected by radiograph"
        assert outcome["anatomy"]["reason"].startswith("only general terms, consistent with ankle/foot")
        assert "BodyPartExamined 'EXTREMITY' (extremity)" in outcome["anatomy"]["reason"]
        assert [r["decoder"] for r in result["details"]["radiographs"]] == ["pydicom" if "J2K" in name else "native"]


def test_the_lossless_copies_give_identical_findings(batch: dict) -> None:
    found = [_fragments(batch["results"][name]) for name in LOSSLESS]
    assert found[0], "the fixture detector (score threshold 0) must report boxes for this comparison to bite"
    assert all(f == found[0] for f in found[1:])
    lossy = [_fragments(batch["results"][name]) for name in LOSSY]
    assert all(lossy)  # analysed too; their pixels differ from the original's, so their boxes may


def test_a_two_frame_radiograph_is_read_frame_by_frame_and_referenced_by_frame(batch: dict) -> None:
    result = batch["results"]["RG3_two_frames"]
    assert result["status"] == "ok" and len(result["details"]["radiographs"]) == 2
    study_dir = batch["root"] / "out" / batch["studies"]["RG3_two_frames"]
    assert len([f for f in result["files"] if f.endswith("_sc.dcm")]) == 2  # one key image per frame
    for name in result["files"]:
        if name.endswith(".dcm"):
            assert dciodvfy_errors(study_dir / name) == [], name
    sr = hd.sr.srread(study_dir / "report_sr.dcm")
    frames = {
        int(group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber)
        for group in sr.content.get_planar_roi_measurement_groups()
    }
    assert frames == {1, 2}


def test_site_rules_skip_the_nameless_radiograph_and_results_csv_says_why(batch: dict) -> None:
    assert batch["results"]["RG3_nameless"]["status"] == "no_matching_series"
    rows = {r["study_instance_uid"]: r for r in read_rows(batch["root"] / "out" / "results.csv")}
    reason = rows[batch["studies"]["RG3_nameless"]]["reason"]
    assert reason == "no series selected: #1 '': no body region named in the headers (anatomy 'unnamed': skip)"
    assert rows[batch["studies"]["RG3_UNCR"]]["reason"] == ""
