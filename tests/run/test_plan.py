from __future__ import annotations

from pathlib import Path

import pytest

from dicom_in.study_index import StudyIndex
from run.plan import RESULT_FILE, Shard, plan_run, resolve_shard, study_folder_name, study_output_dir

HOSTILE_UIDS = [
    ".",
    "..",
    "",
    ".hidden",
    "results.csv",
    "failures.csv",
    "run.json",
    "results.part0of3.csv",
    ".msk-maps.lock",
    "1.2.3/4",
    "1.2.3_4",
    "1.2.3\\4",
    "1.2.3:4",
    "../../etc/passwd",
    "a/b",
    "1." + "9" * 298,  # 300 characters
    "1." + "9" * 297 + "8",
    "2.25.1" + "0" * 59,  # 65 characters: one over the standard's limit
    "1.2.3\n4",
    "1.2.\udcff",  # an undecodable byte, as os.fsdecode leaves it
    "ÄÖÜ.1",
    "1.2.3",
    "1.2.3 ",
]


def _index(n: int) -> StudyIndex:
    return StudyIndex(studies={f"1.2.3.{i}": {"s": [Path("x")]} for i in range(n)})


def test_output_dir_is_sanitised(tmp_path: Path) -> None:
    assert study_output_dir(tmp_path, "1.2.3") == tmp_path / "1.2.3"
    assert study_output_dir(tmp_path, "../../etc/passwd").parent == tmp_path
    assert "/" not in study_output_dir(tmp_path, "a/b").name


def test_folder_names_are_injective_bounded_and_never_reserved(tmp_path: Path) -> None:
    names = {uid: study_folder_name(uid) for uid in HOSTILE_UIDS}
    assert len(set(names.values())) == len(HOSTILE_UIDS)  # no two studies share a folder
    reserved = {".", "..", "results.csv", "failures.csv", "run.json", "results.part0of3.csv"}
    for uid, name in names.items():
        assert 0 < len(name) <= 73 and "/" not in name and "\\" not in name, (uid, name)
        assert name not in reserved and not name.startswith("."), (uid, name)
        assert name.isprintable() and name.isascii(), (uid, name)
        assert study_output_dir(tmp_path, uid).parent == tmp_path
        study_output_dir(tmp_path, uid).mkdir()  # every name is a real, separate folder
    assert len(list(tmp_path.iterdir())) == len(HOSTILE_UIDS)
    # a standard UID (digits and dots, at most 64 characters) keeps its own name; nothing else does
    assert names["1.2.3"] == "1.2.3" and names["1.2.3_4"] != "1.2.3_4"
    assert names["1.2.3/4"].startswith("1.2.3_4_") and names["1.2.3_4"].startswith("1.2.3_4_")
    assert study_folder_name("1.2.3/4") == names["1.2.3/4"]  # stable: resume finds the same folder


def test_hostile_uids_plan_into_separate_folders(tmp_path: Path) -> None:
    index = StudyIndex(studies={uid: {"s": [Path("x")]} for uid in HOSTILE_UIDS})
    for uid in HOSTILE_UIDS:
        study_output_dir(tmp_path, uid).mkdir()
        (study_output_dir(tmp_path, uid) / RESULT_FILE).write_text(uid.encode("utf-8", "surrogatepass").hex())
    (tmp_path / "results.csv").write_text("kept")

    plan = plan_run(index, tmp_path, Shard(), resume=True)

    assert sorted(plan.already_done) == sorted(HOSTILE_UIDS) and not plan.todo
    assert (tmp_path / "results.csv").read_text() == "kept"
    plan = plan_run(index, tmp_path, Shard(), resume=False)  # clears each study's own folder only
    assert sorted(plan.todo) == sorted(HOSTILE_UIDS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


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
