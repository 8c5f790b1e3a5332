from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet

from dicom_in import study_index
from dicom_in.image_file import read_header, read_with_pixels
from dicom_in.study_index import StudyIndex, companion_kind, index_folder, load_study, shard_of
from tests.dicom_factory import mr_slice, write_mr_series


def test_index_groups_by_study_and_series_and_isolates_bad_files(tmp_path: Path) -> None:
    write_mr_series(tmp_path / "a" / "s1", "1.2.3.1", slices=3)
    write_mr_series(tmp_path / "a" / "s2", "1.2.3.1", slices=2, plane="sagittal")
    write_mr_series(tmp_path / "b" / "nested" / "s1", "1.2.3.2", slices=2)
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 10)
    (tmp_path / "data.bin").write_bytes(b"\x01\x02 not dicom either" * 10)

    index = index_folder(tmp_path)

    assert index.study_uids == ["1.2.3.1", "1.2.3.2"]
    assert sorted(len(p) for p in index.studies["1.2.3.1"].values()) == [2, 3]
    # A .dcm or unknown file that is not DICOM fails; a text file beside DICOM files is a companion, counted.
    assert {Path(f.item).name: f.reason for f in index.failures} == {
        "junk.dcm": "not a DICOM file (no 'DICM' prefix at byte 128 and no DICOM data set at byte 0)",
        "data.bin": "not a DICOM file (no 'DICM' prefix at byte 128 and no DICOM data set at byte 0)",
    }
    assert index.skipped == {"text": 1}


@pytest.mark.filterwarnings("ignore:Expected implicit VR")
def test_indexing_in_processes_gives_the_serial_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write_mr_series(tmp_path / "a" / "s1", "1.2.3.1", slices=4)
    write_mr_series(tmp_path / "b" / "s1", "1.2.3.2", slices=3)
    (tmp_path / "a" / "notes.txt").write_text("not dicom")
    (tmp_path / "b" / "junk.dcm").write_bytes(b"DICM" * 50)
    serial = index_folder(tmp_path)
    monkeypatch.setattr(study_index, "FILES_PER_PROCESS", 3)
    with caplog.at_level(logging.INFO, logger="dicom_in.study_index"):
        parallel = index_folder(tmp_path, processes=2)
    assert "Indexing 9 files in 2 processes" in caplog.text
    assert parallel == serial
    assert len(serial.failures) == 1 and serial.skipped == {"text": 1}
    assert serial.study_uids == ["1.2.3.1", "1.2.3.2"]


def test_indexing_falls_back_to_this_process_when_workers_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write_mr_series(tmp_path / "s", "1.2.3.3", slices=4)

    def refuse(paths: list[Path], processes: int) -> None:
        raise BrokenProcessPool("no new processes here")

    monkeypatch.setattr(study_index, "FILES_PER_PROCESS", 2)
    monkeypatch.setattr(study_index, "_entries_in_processes", refuse)
    index = index_folder(tmp_path, processes=2)
    assert [len(p) for p in index.studies["1.2.3.3"].values()] == [4]
    assert "indexing in this one" in caplog.text


def test_load_study_orders_slices_along_the_normal(tmp_path: Path) -> None:
    paths = write_mr_series(tmp_path / "s", "1.2.3.9", slices=4)
    reversed_index = {"series": list(reversed(paths))}
    study = load_study("1.2.3.9", reversed_index)
    numbers = [i.instance_number for i in study.series[0].instances]
    assert numbers == sorted(numbers)


def test_shards_are_stable_and_cover_every_study() -> None:
    uids = [f"1.2.840.{i}" for i in range(200)]
    parts = [shard_of(uid, 4) for uid in uids]
    assert parts == [shard_of(uid, 4) for uid in uids]
    assert set(parts) == {0, 1, 2, 3}


def test_a_duplicated_file_is_used_once_and_reported(tmp_path: Path) -> None:
    paths = write_mr_series(tmp_path / "s", "1.2.3.7", slices=3)
    copy = tmp_path / "s" / "copy_of_first.dcm"
    copy.write_bytes(paths[0].read_bytes())
    index = index_folder(tmp_path)
    study = load_study("1.2.3.7", index.studies["1.2.3.7"])
    assert len(study.series[0].instances) == 3
    assert [(Path(f.item).name, f.reason.startswith("duplicate of")) for f in study.failures] == [
        ("copy_of_first.dcm", True)
    ]


def _index_within(root: Path, seconds: float = 60.0) -> StudyIndex:
    """index_folder(root) in a thread; fails the test (instead of hanging it) when it does not return in time."""
    done: list[StudyIndex] = []
    worker = threading.Thread(target=lambda: done.append(index_folder(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, f"index_folder({root}) did not return within {seconds} s"
    return done[0]


def test_a_fifo_and_a_socket_named_dcm_are_never_opened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_mr_series(tmp_path / "s", "1.2.3.5", slices=2)
    os.mkfifo(tmp_path / "s" / "x.dcm")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "s" / "y.dcm"))
        index = _index_within(tmp_path)
        study = load_study("1.2.3.5", index.studies["1.2.3.5"])
    assert [len(p) for p in index.studies["1.2.3.5"].values()] == [2] and len(study.series[0].instances) == 2
    assert index.skipped == {"not_regular_file": 2} and index.failures == []
    assert "x.dcm: a FIFO, not a regular file: not opened" in caplog.text
    assert "y.dcm: a socket, not a regular file" in caplog.text


def test_a_dangling_link_is_one_failure(tmp_path: Path) -> None:
    write_mr_series(tmp_path / "s", "1.2.3.6", slices=1)
    (tmp_path / "s" / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    index = index_folder(tmp_path)
    assert [(Path(f.item).name, f.reason) for f in index.failures] == [
        ("gone.dcm", "cannot open (No such file or directory)")
    ]


def test_companion_files_are_counted_per_kind_and_broken_dicom_still_fails(tmp_path: Path) -> None:
    paths = write_mr_series(tmp_path / "study", "1.2.3.8", slices=2)
    for path in paths:  # MONAI Informatics Gateway writes a DICOM JSON sidecar beside every instance
        path.with_name(path.name + ".json").write_text('{"00080018": {"vr": "UI"}}')
    (tmp_path / "ground_truth.json").write_text("{}")
    (tmp_path / "README").write_text("export of 2026-01-01\n")
    (tmp_path / "study" / "preview.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "study" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 60)
    dicom_named_txt = tmp_path / "study" / "notes.txt"
    dicom_named_txt.write_bytes(paths[0].read_bytes())  # the bytes decide, not the name: this is DICOM
    truncated = tmp_path / "study" / "cut.dcm"
    truncated.write_bytes(paths[1].read_bytes()[:140])
    sr_like = mr_slice("1.2.3.8", "1.2.3.8.9")
    del sr_like.PixelData
    sr_like.save_as(tmp_path / "study" / "no_pixels.dcm", enforce_file_format=True)

    index = index_folder(tmp_path)

    assert index.skipped == {"dicom_json_sidecar": 2, "json": 1, "picture": 1, "program_or_system": 1, "text": 1}
    series = {Path(p).name for paths in index.studies["1.2.3.8"].values() for p in paths}
    assert series == {"000.dcm", "001.dcm", "notes.txt"}
    reasons = {Path(f.item).name: f.reason for f in index.failures}
    assert reasons["no_pixels.dcm"] == "DICOM object has no pixel data (not an image)"
    assert reasons["cut.dcm"].startswith("DICOM header lacks") or "unreadable" in reasons["cut.dcm"]
    assert set(reasons) == {"no_pixels.dcm", "cut.dcm"}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("IM0001.dcm.json", "dicom_json_sidecar"),
        ("ground_truth.json", "json"),
        ("README", "text"),
        ("readme.md", "text"),
        ("LICENSE.txt", "text"),
        ("index.htm", "markup"),
        ("report.pdf", "pdf"),
        ("ground_truth_masks.npz", "array"),
        ("AUTORUN.INF", "program_or_system"),
        ("IM0001.dcm", None),
        ("IM0001", None),
        ("archive.zip", None),
    ],
)
def test_companion_kind_by_name(name: str, kind: str | None) -> None:
    assert companion_kind(name) == kind


def _media(folder: Path, study_uid: str, slices: int) -> list[Path]:
    """A DICOMDIR and its files, as pydicom's FileSet writes them to media; returns the image paths."""
    files = FileSet()
    for index in range(slices):
        files.add(mr_slice(study_uid, study_uid + ".1", index=index))
    files.write(folder)
    return sorted(p for p in folder.rglob("IM*"))


def test_a_dicomdir_beside_its_files_is_skipped_quietly(tmp_path: Path) -> None:
    images = _media(tmp_path / "cd", "1.2.3.10", slices=3)
    index = index_folder(tmp_path)
    assert index.failures == [] and index.skipped == {"dicomdir": 1}
    assert sorted(index.studies["1.2.3.10"]["1.2.3.10.1"]) == images


def test_a_dicomdir_given_as_the_input_is_followed(tmp_path: Path) -> None:
    images = _media(tmp_path / "cd", "1.2.3.11", slices=3)
    index = index_folder(tmp_path / "cd" / "DICOMDIR")
    assert index.failures == [] and index.skipped == {"dicomdir": 1}
    assert sorted(index.studies["1.2.3.11"]["1.2.3.11.1"]) == images


def test_a_dicomdir_whose_files_are_missing_is_one_failure(tmp_path: Path) -> None:
    images = _media(tmp_path / "cd", "1.2.3.12", slices=3)
    images[0].unlink()
    images[2].unlink()
    index = index_folder(tmp_path)
    assert [len(p) for p in index.studies["1.2.3.12"].values()] == [1]
    (failure,) = index.failures
    assert Path(failure.item).name == "DICOMDIR" and index.skipped == {}
    assert failure.reason.startswith("DICOMDIR references 2 of 3 files that are not in the input (first: ")


def test_preamble_less_files_are_read_as_dicom(tmp_path: Path) -> None:
    # pydicom's OT-PAL-8-face.dcm: an implicit VR data set from byte 0, no preamble and no file meta.
    face = tmp_path / "face.dcm"
    face.write_bytes(Path(get_testdata_file("OT-PAL-8-face.dcm")).read_bytes())
    # A phantom slice stored with its file meta but without the 128-byte preamble and 'DICM'.
    pixels = np.arange(24 * 20, dtype=np.uint16).reshape(24, 20)
    whole = tmp_path / "whole.dcm"
    mr_slice("1.2.3.13", "1.2.3.13.1", pixels=pixels).save_as(whole, enforce_file_format=True)
    bare = tmp_path / "bare" / "no_preamble.dcm"
    bare.parent.mkdir()
    bare.write_bytes(whole.read_bytes()[132:])

    index = index_folder(tmp_path)

    assert index.failures == []
    assert sorted(index.studies) == ["1.2.3.13", str(pydicom.dcmread(face, force=True).StudyInstanceUID)]
    header, offset = read_header(bare)
    assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1" and offset is not None
    np.testing.assert_array_equal(read_with_pixels(bare, header, offset).pixel_array, pixels)
    header, offset = read_header(face)
    assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"  # implicit VR, as pydicom read it
    image = read_with_pixels(face, header, offset)
    # pydicom alone cannot decode it (no transfer syntax); its 8-bit palette indices are the raw bytes.
    raw = pydicom.dcmread(face, force=True)
    expected = np.frombuffer(raw.PixelData, np.uint8).reshape(int(raw.Rows), int(raw.Columns))
    np.testing.assert_array_equal(image.pixel_array, expected)
