"""The shared-index bench writes a folder, times a part's own scan, the index step and a part's index read."""

from __future__ import annotations

import json

import pytest

from bench.index_share import main, write_folder
from dicom_in.study_index import index_folder


def test_the_bench_times_both_ways_on_a_small_folder(tmp_path):
    root = write_folder(tmp_path / "in", 150)
    index = index_folder(root)
    assert len(index.study_uids) == 2 and not index.failures
    main(["--files", "150", "--parts", "3", "--repeats", "1", "--work", str(tmp_path), "--out", str(tmp_path / "r")])
    figures = json.loads(next((tmp_path / "r").glob("*-index.json")).read_text())
    assert figures["files"] == 150 and figures["parts"] == 3
    assert figures["without_shared_index_s"] == pytest.approx(3 * figures["scan_per_part_s"], abs=0.002)
    assert figures["with_shared_index_s"] > figures["index_step_s"] > 0
    assert (tmp_path / "r" / f"{figures['date']}-index.md").read_text().count("|") > 10
