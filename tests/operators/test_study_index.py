from __future__ import annotations

from pathlib import Path

from operators.study_index import index_folder, load_study, shard_of
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
