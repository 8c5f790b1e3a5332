"""Series whose slices repeat positions: split into echoes, acquisitions or temporal positions only where positions
collide, each stack selected on its own with the reason, single-frame and multi-frame alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicom_in.series_decode import decode_series
from dicom_in.series_selection import SelectionRules, choose_series
from dicom_in.stacks import split_stacks
from dicom_in.study import Series, Study
from dicom_in.study_index import index_folder, load_study
from tests.dicom_factory import mr_slice
from tests.multiframe import legacy_converted

STUDY = "1.2.826.0.1.78"


def _copies(attributes: list[dict[str, object]], positions: int = 5, **kwargs) -> list[Dataset]:
    """One sagittal series: `positions` slices once per entry of `attributes` (set on that copy), each copy's
    first pixel 1000 × (copy number) + slice index, so which copy a decoded slice came from can be read off it."""
    series = generate_uid(entropy_srcs=[STUDY, json.dumps(attributes)])
    slices = []
    for copy, attrs in enumerate(attributes, start=1):
        for index in range(positions):
            pixels = 1000 * copy + index + (np.arange(256) % 7).reshape(16, 16)  # not flat: flat slices are dropped
            ds = mr_slice(STUDY, series, index=index, plane="sagittal", pixels=pixels, **kwargs)
            ds.SOPInstanceUID = generate_uid(entropy_srcs=[series, str(copy), str(index)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = (copy - 1) * positions + index + 1
            for keyword, value in attrs.items():
                setattr(ds, keyword, value)
            slices.append(ds)
    return slices


def _load(tmp_path: Path, datasets: list[Dataset]) -> Study:
    folder = tmp_path / "in"
    folder.mkdir()
    for k, ds in enumerate(datasets):
        ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
    return load_study(STUDY, index_folder(folder).studies[STUDY])


def _rules(tmp_path: Path, *weightings: str) -> SelectionRules:
    rules = [
        {"name": f"{w} sagittal", "model": "m", "conditions": {"Modality": "MR", "plane": "sagittal", "weighting": w}}
        for w in weightings
    ]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": rules}))
    return SelectionRules.from_file(path)


def _copy_numbers(series: Series) -> list[int]:
    """Which copy each slice of a Series came from, by reading its pixels from the file (1000 × copy + index)."""
    numbers = []
    for piece in series.slices:
        pixels = pydicom.dcmread(piece.path).pixel_array
        numbers.append(int(np.ravel(pixels if piece.frame_number is None else pixels[piece.index])[0]) // 1000)
    return numbers


def test_a_dual_echo_series_is_two_stacks_each_selected_by_its_own_te(tmp_path: Path) -> None:
    # No weighting in the description: TR 3000 ms with TE 20 ms is PD, with TE 90 ms T2 (the existing evidence).
    datasets = _copies([{"EchoNumbers": 1, "EchoTime": 20}, {"EchoNumbers": 2, "EchoTime": 90}], description="DE TSE")
    for ds in datasets:
        ds.RepetitionTime = 3000
    study = _load(tmp_path, datasets[::-1])  # file order must not matter
    (series,) = study.series
    assert len(series.slices) == 10
    stacks = split_stacks(series)
    assert [s.label for s in stacks] == [
        "echo 1 of 2 (EchoNumbers 1, TE 20 ms)",
        "echo 2 of 2 (EchoNumbers 2, TE 90 ms)",
    ]
    assert all(s.uid == series.uid and len(s.slices) == 5 and len(s.instances) == 5 for s in stacks)
    assert [_copy_numbers(s) for s in stacks] == [[1] * 5, [2] * 5]

    selection = choose_series(study, _rules(tmp_path, "T2", "PD"))
    by_rule = {s.rule: s.series for s in selection.selected}
    assert by_rule["T2 sagittal"].stack.index == 2 and by_rule["PD sagittal"].stack.index == 1
    entries = selection.to_json()
    assert [e["derived"]["weighting"] for e in entries] == ["PD", "T2"]
    assert entries[1]["stack"] == {
        "name": "echo 2 of 2 (EchoNumbers 2, TE 90 ms)",
        "why": "slices repeat 5 position(s) up to 2 times; EchoNumbers separates them",
    }
    assert entries[1]["outcome"] == "echo 2 of 2 (EchoNumbers 2, TE 90 ms): selected by T2 sagittal"
    assert entries[1]["rules"]["PD sagittal"] == "weighting 'T2', needs 'PD'"

    images = decode_series(next(s for s in selection.selected if s.rule == "T2 sagittal"), "cpu", [])
    assert [int(p[0, 0]) for p in images.pixels] == [2000, 2001, 2002, 2003, 2004]  # echo 2 only, in space order


def test_a_series_repeated_as_two_acquisitions_reads_the_later_and_says_why(tmp_path: Path) -> None:
    study = _load(tmp_path, _copies([{"AcquisitionNumber": 1}, {"AcquisitionNumber": 2}], description="T1 SAG"))
    selection = choose_series(study, _rules(tmp_path, "T1"))
    (chosen,) = selection.selected
    assert chosen.series.label == "acquisition 2 of 2 (AcquisitionNumber 2, TE 15 ms)"
    assert _copy_numbers(chosen.series) == [2] * 5
    assert chosen.passed_over == [f"{chosen.series.uid} (acquisition 1 of 2 (AcquisitionNumber 1, TE 15 ms))"]
    first = selection.to_json()[0]
    assert first["rules"]["T1 sagittal"] == (
        "matched, but acquisition 2 of 2 (AcquisitionNumber 2, TE 15 ms) preferred (the later acquisition)"
    )


def test_each_slice_its_own_acquisition_at_distinct_positions_stays_one_stack(tmp_path: Path) -> None:
    datasets = _copies([{}], positions=6, description="T1 SAG")
    for k, ds in enumerate(datasets):
        ds.AcquisitionNumber = k + 1
    study = _load(tmp_path, datasets)
    (series,) = study.series
    assert split_stacks(series) == [series]
    selection = choose_series(study, _rules(tmp_path, "T1"))
    assert len(selection.selected[0].series.slices) == 6
    assert selection.to_json()[0]["stack"] is None


def test_repeats_no_key_separates_stay_one_stack_with_the_reason(tmp_path: Path) -> None:
    # Two copies at the same positions, but every slice its own AcquisitionNumber: ten groups for two repeats.
    datasets = _copies([{}, {}], description="T1 SAG")
    for k, ds in enumerate(datasets):
        ds.AcquisitionNumber = k + 1
    study = _load(tmp_path, datasets)
    (whole,) = split_stacks(study.series[0])
    assert len(whole.slices) == 10 and whole.label == ""
    entry = choose_series(study, _rules(tmp_path, "T1")).to_json()[0]
    assert entry["stack"]["name"] == "whole series"
    assert entry["stack"]["why"].startswith("slices repeat 5 position(s) up to 2 times and none of EchoNumbers")
    assert entry["outcome"] == "selected by T1 sagittal"


def test_slices_without_geometry_are_never_split(tmp_path: Path) -> None:
    datasets = _copies([{"EchoNumbers": 1}, {"EchoNumbers": 2}])
    for ds in datasets:
        del ds.ImagePositionPatient
    (series,) = _load(tmp_path, datasets).series
    assert split_stacks(series) == [series]


def test_frames_of_a_legacy_converted_object_split_by_echo(tmp_path: Path) -> None:
    datasets = _copies([{"EchoNumbers": 1, "EchoTime": 12}, {"EchoNumbers": 2, "EchoTime": 80}], description="T2 SAG")
    enhanced = legacy_converted(datasets)
    (series,) = _load(tmp_path, [enhanced]).series
    assert len(series.slices) == 10 and len(series.instances) == 1
    stacks = split_stacks(series)
    assert [s.label for s in stacks] == [
        "echo 1 of 2 (EchoNumbers 1, TE 12 ms)",
        "echo 2 of 2 (EchoNumbers 2, TE 80 ms)",
    ]
    frames = [sorted(piece.frame_number for piece in s.slices) for s in stacks]
    assert sorted(frames[0] + frames[1]) == list(range(1, 11)) and not set(frames[0]) & set(frames[1])
    assert [_copy_numbers(s) for s in stacks] == [[1] * 5, [2] * 5]
    # Both echoes say T2 in the description: the T2 rule takes the longer TE and says so.
    selection = choose_series(Study(STUDY, [series]), _rules(tmp_path, "T2"))
    assert selection.selected[0].series.stack.index == 2
    assert selection.to_json()[0]["rules"]["T2 sagittal"] == (
        "matched, but echo 2 of 2 (EchoNumbers 2, TE 80 ms) preferred (the longest TE, as the rule wants T2)"
    )
    images = decode_series(selection.selected[0], "cpu", [])
    assert [int(p[0, 0]) for p in images.pixels] == [2000, 2001, 2002, 2003, 2004]


def test_frames_of_an_enhanced_object_split_by_effective_echo_time(tmp_path: Path) -> None:
    datasets = _copies([{"EchoTime": 12}, {"EchoTime": 80}], description="T1 SAG")
    enhanced = legacy_converted(datasets)
    for item in enhanced.PerFrameFunctionalGroupsSequence:
        # As an Enhanced MR writes it: the MR Echo macro, no EchoTime/EchoNumbers among the frame's attributes.
        unassigned = item.UnassignedPerFrameConvertedAttributesSequence[0]
        echo = Dataset()
        echo.EffectiveEchoTime = unassigned.EchoTime
        item.MREchoSequence = [echo]
        del unassigned.EchoTime
    (series,) = _load(tmp_path, [enhanced]).series
    stacks = split_stacks(series)
    assert [s.label for s in stacks] == [
        "echo 1 of 2 (EffectiveEchoTime 12 ms)",
        "echo 2 of 2 (EffectiveEchoTime 80 ms)",
    ]
    assert [_copy_numbers(s) for s in stacks] == [[1] * 5, [2] * 5]
    selection = choose_series(Study(STUDY, [series]), _rules(tmp_path, "T1"))
    assert selection.selected[0].series.stack.index == 1  # a T1 rule: the shortest TE
    assert selection.to_json()[1]["rules"]["T1 sagittal"].endswith("preferred (the shortest TE)")


def test_temporal_positions_split_after_echo_and_acquisition(tmp_path: Path) -> None:
    keyword = "TemporalPositionIdentifier"
    datasets = _copies([{keyword: 1}, {keyword: 2}, {keyword: 3}], positions=3, description="T1 SAG")
    stacks = split_stacks(_load(tmp_path, datasets).series[0])
    assert [s.label for s in stacks] == [f"temporal position {k} of 3 ({keyword} {k}, TE 15 ms)" for k in (1, 2, 3)]
