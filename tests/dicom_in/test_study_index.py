from __future__ import annotations

import logging
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from dicom_in import study_index
from dicom_in.study_index import index_folder, load_study, shard_of
from tests.dicom_factory import write_mr_series


def test_index_groups_by_study_and_series_and_isolates_bad_files(tmp_path: Path) -> None:
    write_mr_series(tmp_path / "a" / "s1", "1.2.3.1", slices=3)
    write_mr_series(tmp_path / "a" / "s2", "1.2.3.1", slices=2, plane="sagittal")
    write_mr_series(tmp_path / "b" / "nested" / "s1", "1.2.3.2", slices=2)
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 10)

    index = index_folder(tmp_path)

    assert index.study_uids == ["1.2.3.1", "1.2.3.2"]
    assert sorted(len(p) for p in index.studies["1.2.3.1"].values()) == [2, 3]
    assert {Path(f.item).name for f in index.failures} == {"notes.txt", "junk.dcm"}
    assert all("DICOM" in f.reason for f in index.failures)


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
    assert len(serial.failures) == 2 and serial.study_uids == ["1.2.3.1", "1.2.3.2"]


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
