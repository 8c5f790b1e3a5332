"""`python -m apps`: one index, each study to the apps that read it, one set of run files; and the run-file rows of
the hostile-input issue end to end (hostile UIDs, a second run on the same output, an unwritable output, resume)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom import config
from pydicom.uid import generate_uid

from inference.model_store import ModelError
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset
from run.batch import BatchOptions
from run.plan import study_folder_name
from run.suite import SuiteRunner
from tests.app_runner import read_rows, run_app, start_module
from tests.model_fixtures import export_fixture_classifier, export_fixture_fragment_models, export_fixture_segmenter

pytestmark = pytest.mark.slow

HOSTILE_UIDS = ["results.csv", "..", "1.2.3/4", "1.2.3_4", "1." + "9" * 298]


def start_suite(input_dir: Path, output: Path, models: Path, *extra: str) -> subprocess.Popen:
    """`python -m apps` in a child process, as users start it."""
    return start_module("apps", input_dir, output, models, *extra)


def run_suite(input_dir: Path, output: Path, models: Path, *extra: str) -> tuple[int, str]:
    """Run the suite to the end: (exit status, stderr)."""
    proc = start_suite(input_dir, output, models, *extra)
    _, stderr = proc.communicate(timeout=900)
    return proc.returncode, stderr


def copy_study(source: Path, target: Path, study_uid: str, **attributes: str) -> None:
    """Every file of the study in `source` again under `target`, as a new study `study_uid` (new series/SOP UIDs),
    with `attributes` (keyword: value) set in every header."""
    series_uids: dict[str, str] = {}
    writing = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE  # a hostile UID is the point
    try:
        for path in sorted(source.rglob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uids.setdefault(ds.SeriesInstanceUID, generate_uid())
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            for keyword, value in attributes.items():
                setattr(ds, keyword, value)
            out = target / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(out, enforce_file_format=True)
    finally:
        config.settings.writing_validation_mode = writing


def _break_inputs(input_dir: Path, olt_truth: dict) -> list[Path]:
    """Random bytes beside the studies and one ankle MR slice cut short inside its pixel data (both failures), and
    a README (a companion file: skipped and counted)."""
    notes = input_dir / "notes"
    notes.mkdir()
    (notes / "README.txt").write_text("Exported by the archive.\n")
    (notes / "random.bin").write_bytes(bytes(range(256)) * 16)
    study = next(p for p in (input_dir / "ankle_mri").iterdir() if p.is_dir())
    victim = sorted(study.rglob("*.dcm"))[len(list(study.rglob("*.dcm"))) // 2]
    truncated = victim.with_name("trunc_" + victim.name)
    truncated.write_bytes(victim.read_bytes()[:-2000])
    victim.unlink()
    return [notes / "random.bin", truncated]


def _mixed_input(input_dir: Path) -> dict:
    """Studies of all three kinds, broken files, a chest radiograph no app reads and hostile-UID copies."""
    truths = {
        "olt_mri": generate_ankle_mri_dataset(input_dir / "ankle_mri", patients=1, seed=21),
        "ankle_xray": generate_ankle_xray_dataset(input_dir / "ankle_xray", patients=2, seed=21),
        "onfh_mri": generate_hip_mri_dataset(input_dir / "hip_mri", patients=1, seed=21),
    }
    broken = _break_inputs(input_dir, truths["olt_mri"][0])
    xray_dir = next(p for p in (input_dir / "ankle_xray").iterdir() if p.is_dir())
    chest = generate_uid()
    chest_view = {"BodyPartExamined": "CHEST", "SeriesDescription": "PA CHEST", "ProtocolName": "PA CHEST"}
    copy_study(xray_dir, input_dir / "chest", chest, **chest_view)
    for number, uid in enumerate(HOSTILE_UIDS):
        copy_study(xray_dir, input_dir / f"hostile{number}", uid)
    return {"truths": truths, "broken": broken, "chest": chest}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("suite")
    world = {"root": root, "input": root / "input", "models": root / "models", "output": root / "out"}
    world.update(_mixed_input(world["input"]))
    export_fixture_classifier(world["models"], "olt_mri_t1", seed=1)
    export_fixture_classifier(world["models"], "olt_mri_t2", seed=2)
    export_fixture_fragment_models(world["models"])
    export_fixture_segmenter(world["models"])

    proc = start_suite(world["input"], world["output"], world["models"])
    lock = world["output"] / ".msk-maps.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    world["second"] = run_suite(world["input"], world["output"], world["models"])  # while the first one runs
    _, world["stderr"] = proc.communicate(timeout=900)
    world["returncode"], world["pid"] = proc.returncode, proc.pid
    return world


def test_each_study_goes_to_the_app_that_reads_it(suite: dict) -> None:
    assert suite["returncode"] == 0, suite["stderr"][-3000:]
    rows = read_rows(suite["output"] / "results.csv")
    by_study: dict[str, list[dict]] = {}
    for row in rows:
        by_study.setdefault(row["study_instance_uid"], []).append(row)
    for app, truths in suite["truths"].items():
        for truth in truths:
            (row,) = by_study[truth["study_instance_uid"]]
            assert row["app"] == app and row["status"] == "ok", row
            assert row["output_dir"] == f"{app}/{truth['study_instance_uid']}"
            result = json.loads((suite["output"] / row["output_dir"] / "result.json").read_text())
            assert result["app"] == app and "report_sr.dcm" in result["files"]
    # an app's folder holds only the studies routed to it: no lone result.json for studies it does not read
    for app in suite["truths"]:
        routed = {r["output_dir"] for r in rows if r["app"] == app}
        assert {f"{app}/{p.name}" for p in (suite["output"] / app).iterdir()} == routed
    run = json.loads((suite["output"] / "run.json").read_text())
    assert run["app"] == "suite" and set(run["apps"]) == {"olt_mri", "ankle_xray", "onfh_mri"}
    assert set(run["models"]) == {
        "olt_mri_t1",
        "olt_mri_t2",
        "ankle_xray_detector",
        "ankle_xray_classifier",
        "onfh_mri_femoral_head",
    }


def test_a_study_no_app_reads_is_one_row_with_every_apps_reason(suite: dict) -> None:
    rows = [r for r in read_rows(suite["output"] / "results.csv") if r["study_instance_uid"] == suite["chest"]]
    assert len(rows) == 1 and rows[0]["status"] == "no_matching_app" and rows[0]["app"] == ""
    reasons = dict(part.split(": ", 1) for part in rows[0]["summary"].split(" | "))
    assert set(reasons) == {"olt_mri", "ankle_xray", "onfh_mri"}
    for reason in reasons.values():  # each app's own selection says why, per series
        assert reason.startswith("no series selected: #") and "'PA CHEST': BodyPartExamined 'CHEST'" in reason
    statuses = {r["status"] for r in read_rows(suite["output"] / "results.csv")}
    assert statuses == {"ok", "no_matching_app"}


def test_every_input_is_accounted_for_once(suite: dict) -> None:
    failures = read_rows(suite["output"] / "failures.csv")
    items = [f["item"] for f in failures]
    assert len(items) == len(set(items)), "a file listed twice"
    names = {Path(item).name for item in items}
    for path in suite["broken"]:
        assert Path(path).name in names, path
    assert all(f["reason"] and "\n" not in f["reason"] for f in failures)
    assert "README.txt" not in names  # a companion file: counted, not a failure
    skipped = json.loads((suite["output"] / "run.json").read_text())["skipped_files"]
    assert skipped.get("text") == 1 and skipped.get("json", 0) >= 4  # README.txt; each study's ground_truth.json
    for failure in failures:
        if "trunc" in failure["item"]:
            assert failure["app"] == "olt_mri" and failure["study_instance_uid"]


def test_hostile_study_uids_get_separate_folders_named_in_results_csv(suite: dict) -> None:
    rows = read_rows(suite["output"] / "results.csv")
    failed = {
        f["study_instance_uid"]
        for f in read_rows(suite["output"] / "failures.csv")
        if f["item"] == f["study_instance_uid"]
    }
    folders = {}
    for uid in HOSTILE_UIDS:
        mine = [r for r in rows if r["study_instance_uid"] == uid]
        assert mine or uid in failed, f"study {uid!r} neither analysed nor failed"
        for row in mine:
            assert row["output_dir"] == f"ankle_xray/{study_folder_name(uid)}"
            assert (
                json.loads((suite["output"] / row["output_dir"] / "result.json").read_text())["study_instance_uid"]
                == uid
            )
            folders[uid] = row["output_dir"]
    assert len(set(folders.values())) == len(folders) >= 4
    assert (suite["output"] / "results.csv").is_file()


def test_a_second_run_on_the_same_output_exits_2_naming_the_holder(suite: dict) -> None:
    code, stderr = suite["second"]
    lines = stderr.strip().splitlines()
    assert code == 2, stderr[-2000:]
    assert lines[-1].startswith(f"error: output folder {suite['output']} is in use by pid {suite['pid']} on ")
    assert " since 20" in lines[-1]
    assert not (suite["output"] / ".msk-maps.lock").exists()  # released at the end of the first run


def test_the_suite_writes_what_each_apps_own_entry_writes(suite: dict) -> None:
    alone = suite["root"] / "ankle_xray_alone"
    code, stderr = run_app("ankle_xray", suite["input"], alone, suite["models"])
    assert code == 0, stderr[-3000:]
    own = {r["study_instance_uid"]: r for r in read_rows(alone / "results.csv")}
    for row in read_rows(suite["output"] / "results.csv"):
        if row["app"] != "ankle_xray":
            continue
        folder = study_folder_name(row["study_instance_uid"])
        assert own[row["study_instance_uid"]]["output_dir"] == folder
        mine = suite["output"] / "ankle_xray" / folder
        assert (mine / "result.json").read_bytes() == (alone / folder / "result.json").read_bytes()
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in (alone / folder).iterdir())
    # the app alone lists every other study as no_matching_series; the suite does not
    assert "no_matching_series" in {r["status"] for r in own.values()}


def test_resume_over_a_complete_output_keeps_every_row(suite: dict) -> None:
    before = {name: (suite["output"] / name).read_text() for name in ("results.csv", "failures.csv")}
    code, stderr = run_suite(suite["input"], suite["output"], suite["models"], "--resume")
    assert code == 0, stderr[-3000:]
    for name, text in before.items():
        assert (suite["output"] / name).read_text() == text, name
    run = json.loads((suite["output"] / "run.json").read_text())
    assert all(app["counts"]["studies_planned"] == 0 for app in run["apps"].values())
    assert sum(app["counts"]["studies_already_done"] for app in run["apps"].values()) == len(
        [r for r in read_rows(suite["output"] / "results.csv") if r["app"]]
    )


def test_models_load_only_for_apps_that_get_a_study(suite: dict, tmp_path: Path) -> None:
    xray_only = tmp_path / "in"
    generate_ankle_xray_dataset(xray_only, patients=1, seed=3)
    models = tmp_path / "models"
    models.mkdir()
    for name in ("ankle_xray_detector", "ankle_xray_classifier"):
        (models / name).symlink_to(suite["models"] / name, target_is_directory=True)
    code, stderr = run_suite(xray_only, tmp_path / "out", models)
    assert code == 0, stderr[-3000:]
    assert set(json.loads((tmp_path / "out" / "run.json").read_text())["models"]) == {
        "ankle_xray_detector",
        "ankle_xray_classifier",
    }
    # an app that does get a study but has no model: named, before any of its studies is analysed
    options = BatchOptions(input=suite["input"], output=tmp_path / "out2", models=models, progress=False)
    runner = SuiteRunner(apps=["olt_mri", "ankle_xray"], options=options)
    runner.warm(["ankle_xray"])
    with pytest.raises(
        ModelError, match=r"Model 'olt_mri_t1' not found .*\(needed by olt_mri; leave it out with --apps\)"
    ):
        runner.warm(["olt_mri"])


def test_an_unwritable_output_stops_at_once_in_one_line(suite: dict, tmp_path: Path) -> None:
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    subprocess.run(["chattr", "+i", str(frozen)], check=True)  # even root can't write in it
    try:
        code, stderr = run_suite(suite["input"], frozen, suite["models"])
    finally:
        subprocess.run(["chattr", "-i", str(frozen)], check=True)
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith(f"error: output folder {frozen} is not writable")
    assert "Traceback" not in stderr and "Routed" not in stderr  # refused before indexing or routing
