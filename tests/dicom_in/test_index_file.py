"""A stored study index reads back as the index of its folder, and is refused, in one line, wherever it can't be
trusted: another folder, a changed folder, another format or version, paths that leave the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dicom_in.index_file import INDEX_VERSION, IndexFileError, folder_fingerprint, read_index
from dicom_in.study_index import index_folder
from run.index import build_index_file, main
from tests.dicom_factory import write_mr_series


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two studies (one with two series) and a file that is not DICOM."""
    root = tmp_path / "in"
    write_mr_series(root / "a" / "s1", "1.2.3.1", slices=3)
    write_mr_series(root / "a" / "s2", "1.2.3.1", slices=2)
    write_mr_series(root / "b", "1.2.3.2", slices=2)
    (root / "b" / "broken.dcm").write_bytes(b"not dicom at all")
    return root


def _index(tmp_path: Path, folder: Path) -> Path:
    out = tmp_path / "index.json"
    build_index_file(folder, out, processes=1)
    return out


def test_the_stored_index_reads_back_as_the_folders_index(tmp_path, folder):
    stored = read_index(_index(tmp_path, folder), folder)
    scanned = index_folder(folder)
    assert stored == scanned
    assert stored.study_uids == ["1.2.3.1", "1.2.3.2"]
    assert sum(len(p) for p in stored.studies["1.2.3.1"].values()) == 5
    assert [Path(f.item).name for f in stored.failures] == ["broken.dcm"]


def test_paths_are_stored_relative_so_the_file_names_no_machine(tmp_path, folder):
    payload = json.loads(_index(tmp_path, folder).read_text())
    assert payload["version"] == INDEX_VERSION and payload["root"] == str(folder.resolve())
    paths = [p for series in payload["studies"].values() for files in series.values() for p in files]
    assert paths and not any(p.startswith("/") or str(tmp_path) in p for p in paths)


def test_an_index_of_another_folder_is_refused(tmp_path, folder):
    other = tmp_path / "other"
    write_mr_series(other, "1.2.3.9", slices=1)
    with pytest.raises(IndexFileError, match=r"describes .*in', not the input .*other'"):
        read_index(_index(tmp_path, folder), other)


@pytest.mark.parametrize("change", ["add", "remove", "rewrite"])
def test_an_index_of_a_folder_that_changed_since_is_refused(tmp_path, folder, change):
    index = _index(tmp_path, folder)
    target = next((folder / "b").glob("0*.dcm"))
    if change == "add":
        write_mr_series(folder / "c", "1.2.3.3", slices=1)
    elif change == "remove":
        target.unlink()
    else:  # same size, new content: the modification time tells
        stat = target.stat()
        target.write_bytes(target.read_bytes())
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(IndexFileError, match="is stale: the input folder changed since it was built"):
        read_index(index, folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.update(version=INDEX_VERSION + 1), "has version 2; this msk-maps reads version 1"),
        (lambda p: p.update(format="something-else"), "is not an msk-maps study index"),
        (lambda p: p["studies"]["1.2.3.2"].update(x=["../../etc/passwd"]), "leaves the input folder"),
        (lambda p: p["studies"]["1.2.3.2"].update(x=["/etc/passwd"]), "leaves the input folder"),
        (lambda p: p["studies"].update({"1.2.3.7": {}}), "study '1.2.3.7' has no series"),
        (lambda p: p.update(failures={"item": "x"}), "'failures' is not a list"),
        (lambda p: p.update(extra={"unknown_field": 1}), "fields this msk-maps does not know"),
    ],
)
def test_a_tampered_or_foreign_index_is_refused_in_one_line(tmp_path, folder, edit, message):
    index = _index(tmp_path, folder)
    payload = json.loads(index.read_text())
    edit(payload)
    index.write_text(json.dumps(payload))
    with pytest.raises(IndexFileError, match=message) as caught:
        read_index(index, folder)
    assert "\n" not in str(caught.value)


def test_an_unreadable_index_is_refused_in_one_line(tmp_path, folder):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "msk-maps-study-index",\n "version": ')
    with pytest.raises(IndexFileError, match="is unreadable: JSONDecodeError") as caught:
        read_index(bad, folder)
    assert "\n" not in str(caught.value)
    with pytest.raises(IndexFileError, match="is unreadable: FileNotFoundError"):
        read_index(tmp_path / "missing.json", folder)


def test_the_fingerprint_counts_every_entry_and_ignores_hidden_ones(folder):
    before = folder_fingerprint(folder)
    (folder / ".hidden").write_text("x")
    assert folder_fingerprint(folder) == before and before["files"] == 8


def test_the_command_writes_the_index_and_says_what_it_found(tmp_path, folder, capsys):
    out = tmp_path / "sub" / "index.json"
    assert main(["-i", str(folder), "--out", str(out), "--processes", "1"]) == 0
    said = capsys.readouterr().out
    assert "8 entries" in said and "2 studies, 7 image files, 1 unusable" in said
    assert read_index(out, folder).study_uids == ["1.2.3.1", "1.2.3.2"]
    assert main(["-i", str(folder / "a" / "s1" / "000.dcm"), "--out", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err
