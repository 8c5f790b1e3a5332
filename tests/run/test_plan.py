from __future__ import annotations

from pathlib import Path

import pytest

from dicom_in.study_index import StudyIndex
from run.plan import RESULT_FILE, Shard, plan_run, resolve_shard, study_output_dir


def _index(n: int) -> StudyIndex:
    return StudyIndex(studies={f"1.2.3.{i}": {"s": [Path("x")]} for i in range(n)})


def test_output_dir_is_sanitised(tmp_path: Path) -> None:
    assert study_output_dir(tmp_path, "1.2.3") == tmp_path / "1.2.3"
    assert study_output_dir(tmp_path, "../../etc/passwd").parent == tmp_path
    assert "/" not in study_output_dir(tmp_path, "a/b").name


def test_resume_skips_complete_and_clears_half_done(tmp_path: Path) -> None:
    done = study_output_dir(tmp_path, "1.2.3.0")
    done.mkdir()
    (done / RESULT_FILE).write_text("{}")
    half = study_output_dir(tmp_path, "1.2.3.1")
    half.mkdir()
    (half / "report_sr.dcm").write_bytes(b"partial")

    plan = plan_run(_index(3), tmp_path, Shard(), resume=True)

    assert plan.already_done == ["1.2.3.0"]
    assert plan.todo == ["1.2.3.1", "1.2.3.2"]
    assert not half.exists()


def test_shards_partition_the_studies(tmp_path: Path) -> None:
    plans = [plan_run(_index(50), tmp_path, Shard(3, k), resume=False) for k in range(3)]
    todo = [uid for plan in plans for uid in plan.todo]
    assert sorted(todo) == sorted(_index(50).studies)


def test_shard_from_cluster_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert resolve_shard(4, None) == Shard(4, 2)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert resolve_shard(None, None) == Shard(3, 1)
    with pytest.raises(ValueError, match="part id must be in 0..2 for 3 parts, got 5"):
        resolve_shard(3, 5)
