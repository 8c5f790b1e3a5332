"""Multi-frame images are slices like any other: per-frame headers from the functional groups, frame order in
space, pixels decoded frame by frame within the budget, selection by the same rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from dicom_in.frames import FrameHeader, frame_headers
from dicom_in.series_decode import decode_series
from dicom_in.series_selection import SelectedSeries, SelectionRules, choose_series
from dicom_in.study import MAX_FRAMES, Instance
from dicom_in.study_index import index_folder, load_study
from tests.dicom_factory import mr_slice
from tests.multiframe import legacy_converted

OLT_RULES = Path(__file__).parents[2] / "apps" / "olt_mri" / "selection_rules.json"
STUDY = "1.2.826.0.1.77"


def _slices(count: int = 6) -> list[pydicom.Dataset]:
    series = generate_uid(entropy_srcs=["frames", "series"])
    rng = np.random.default_rng(1)
    slices = []
    for index in range(count):
        ds = mr_slice(STUDY, series, index=index, pixels=rng.integers(0, 4096, (24, 20)), description="t1_tse_cor")
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1.0 + index / 4, -10 * index, "US"
        slices.append(ds)
    return slices


def _write(tmp_path: Path, datasets: list[pydicom.Dataset], folder: str) -> Path:
    (tmp_path / folder).mkdir(parents=True)
    for k, ds in enumerate(datasets):
        ds.save_as(tmp_path / folder / f"{k:03d}.dcm", enforce_file_format=True)
    return tmp_path / folder


def _study(folder: Path):
    index = index_folder(folder)
    return load_study(STUDY, index.studies[STUDY])


def test_frame_headers_flatten_shared_and_per_frame_groups() -> None:
    slices = _slices()
    enhanced = legacy_converted(slices[::-1])  # frames in the reverse of their position in space
    views = frame_headers(enhanced)
    assert [v.frame_number for v in views] == list(range(1, 7))
    by_position = {tuple(float(v) for v in s.ImagePositionPatient): s for s in slices}
    for view in views:
        assert isinstance(view, FrameHeader) and view.instance is enhanced
        source = by_position[tuple(float(v) for v in view.ImagePositionPatient)]
        assert list(view.ImageOrientationPatient) == list(source.ImageOrientationPatient)
        assert [float(v) for v in view.PixelSpacing] == [float(v) for v in source.PixelSpacing]
        assert float(view.RescaleSlope) == float(source.RescaleSlope)  # per-frame Pixel Value Transformation
        assert float(view.RepetitionTime) == 500.0  # from the unassigned shared converted attributes
        assert view.AnatomicRegionSequence[0].CodeValue == "70258002"  # Frame Anatomy: BodyPartExamined ANKLE
        assert "PerFrameFunctionalGroupsSequence" not in view and "SharedFunctionalGroupsSequence" not in view
        assert int(view.NumberOfFrames) == 6 and view.SOPInstanceUID == enhanced.SOPInstanceUID


def test_an_enhanced_series_reads_like_its_single_frame_source(tmp_path: Path) -> None:
    slices = _slices()
    single = _study(_write(tmp_path, slices, "single")).series[0]
    enhanced = _study(_write(tmp_path, [legacy_converted(slices[::-1])], "enhanced")).series[0]
    assert len(enhanced.instances) == 1 and len(enhanced.slices) == len(single.slices) == 6
    assert [s.header.ImagePositionPatient for s in enhanced.slices] == [
        s.header.ImagePositionPatient for s in single.slices
    ]
    assert [s.frame_number for s in enhanced.slices] == [6, 5, 4, 3, 2, 1]
    assert [s.frame_number for s in single.slices] == [None] * 6
    failures: list = []
    a = decode_series(SelectedSeries("r", "m", single), "cpu", failures)
    b = decode_series(SelectedSeries("r", "m", enhanced), "cpu", failures)
    assert failures == []
    for p, q in zip(a.pixels, b.pixels, strict=True):
        np.testing.assert_array_equal(p, q)  # per-frame rescale applied as each single-frame slice's own
    assert len({float(p.max() / max(q.max(), 1)) for p, q in zip(a.pixels, a.pixels[1:], strict=False)}) > 1


def test_the_same_rules_select_an_enhanced_series_with_anatomy_from_its_codes(tmp_path: Path) -> None:
    enhanced = legacy_converted(_slices())
    assert "BodyPartExamined" not in enhanced  # the converter moves it to Frame Anatomy codes
    study = _study(_write(tmp_path, [enhanced], "enhanced"))
    selection = choose_series(study, SelectionRules.from_file(OLT_RULES))
    assert [s.rule for s in selection.selected] == ["T1 coronal"]
    outcome = selection.outcomes[0]
    assert outcome.derived["images"] == 6 and outcome.derived["instances"] == 1
    assert "AnatomicRegionSequence 'SCT:70258002 Ankle joint' (ankle) names ankle/foot" in outcome.anatomy.reason


def test_a_multi_frame_header_claiming_too_much_is_one_slice_and_one_failure(tmp_path: Path) -> None:
    ds = mr_slice(STUDY, "1.2.826.0.1.77.9", pixels=np.ones((24, 20)))
    ds.NumberOfFrames = 10_000_000  # 9 GB of frames claimed by a 1 kB file
    path = _write(tmp_path, [ds], "bomb") / "000.dcm"
    instance = Instance(path=path, header=pydicom.dcmread(path, stop_before_pixels=True))
    assert MAX_FRAMES < 10_000_000 and len(instance.slices()) == 1
    series = _study(path.parent).series[0]
    failures: list = []
    decoded = decode_series(SelectedSeries("r", "m", series), "cpu", failures)
    assert decoded.pixels == [] and len(failures) == 1
    assert "header claims 10000000 frame(s)" in failures[0].reason and "over the per-file budget" in failures[0].reason


def test_a_two_frame_radiograph_is_two_slices_decoded_frame_by_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 4096, (2, 32, 30), dtype=np.uint16)
    ds = mr_slice(STUDY, "1.2.826.0.1.77.5", pixels=frames[0])
    ds.Modality, ds.NumberOfFrames, ds.PixelData = "DX", 2, frames.tobytes()
    series = _study(_write(tmp_path, [ds], "dx")).series[0]
    assert [s.frame_number for s in series.slices] == [1, 2]
    decoded = decode_series(SelectedSeries("r", "m", series), "cpu", [])
    for k in range(2):
        np.testing.assert_array_equal(decoded.pixels[k], frames[k].astype(np.float32))


@pytest.mark.parametrize("bad", ["", "0", "-3"])
def test_an_unusable_number_of_frames_reads_as_one(bad: str) -> None:
    from dicom_in.frames import frame_count

    ds = mr_slice(STUDY, "1.2.3")
    ds.NumberOfFrames = bad
    assert frame_count(ds) == 1
