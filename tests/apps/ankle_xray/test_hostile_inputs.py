"""ankle_xray over a study holding bombs (deflate, JPEG 2000 SIZ) and radiographs whose SOPInstanceUIDs end alike
or hold a '/': the run's peak memory stays within 2 GB, each bomb is one line in failures.csv, every key image
has its own file."""

from __future__ import annotations

import json
import re

import pydicom
import pytest

from apps.ankle_xray.report_operator import key_image_name
from bench.bombs import RUN_BUDGET_MB
from bench.measure import run_app
from tests.app_runner import read_rows
from tests.hostile_inputs import ALL_BOMB_KINDS, write_bomb_study
from tests.model_fixtures import export_fixture_fragment_models

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Invalid value for VR UI")]

# The old names took the UID's last 12 characters: the first made a sub-folder, the other two collided.
TRICKY_SOP_UIDS = ("1.2.826.0.1.99.5/6.7.8.9", "1.2.826.0.1.98.123456789012", "1.2.826.0.1.97.123456789012")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hostile_xray")
    bombs = write_bomb_study(root / "input", ALL_BOMB_KINDS)
    radiograph = next((root / "input" / "study").rglob("IM0001.dcm"))
    (root / "input" / "tricky").mkdir()
    for number, uid in enumerate(TRICKY_SOP_UIDS):
        ds = pydicom.dcmread(radiograph)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.save_as(root / "input" / "tricky" / f"copy{number}.dcm", enforce_file_format=True)
    models = root / "models"
    export_fixture_fragment_models(models)
    run = run_app("ankle_xray", root / "input", root / "out", models, rss_guard_mb=2 * RUN_BUDGET_MB)
    return {
        "bombs": bombs,
        "run": run,
        "output": root / "out",
        "study": json.loads(next((root / "input" / "study").rglob("ground_truth.json")).read_text()),
    }


def test_bombs_are_refused_with_one_line_and_the_run_stays_within_2_gb(batch: dict) -> None:
    run = batch["run"]
    assert run.returncode == 0 and run.killed_over_mb is None, run.stderr_tail
    assert run.peak_rss_mb < RUN_BUDGET_MB
    reasons = {row["item"]: row["reason"] for row in read_rows(batch["output"] / "failures.csv")}
    bombs = {kind: reasons.get(str(path), "") for kind, path in batch["bombs"].items()}
    assert (
        bombs["header"]
        == "deflated data set inflates past 64 MiB (needs 68.5 MiB or more), over the per-file memory budget"
    )
    # The decoder's own check of the header's claim (dicom_in.pixel_decode) speaks before the read's.
    assert re.fullmatch(
        r"pixel data unusable: header claims .*33912x33912.* over the per-file .*budget.*", bombs["pixels"]
    )
    assert bombs["pixel_length"].startswith("pixel data unusable: deflated data set inflates past 320 MiB (needs 2.1")
    assert bombs["trailer"].startswith("pixel data unusable: deflated data set inflates past 320 MiB")
    assert bombs["j2k_siz"].startswith("pixel data unusable: JPEG 2000 SIZ header says 60000x60000x1, the DICOM header")
    assert all("\n" not in reason for reason in reasons.values())
    rows = {row["study_instance_uid"]: row for row in read_rows(batch["output"] / "results.csv")}
    assert rows[batch["study"]["study_instance_uid"]]["status"] == "ok"  # the study's own radiographs are read


def test_every_key_image_has_its_own_file_and_no_sub_folder(batch: dict) -> None:
    study_dir = batch["output"] / batch["study"]["study_instance_uid"]
    result = json.loads((study_dir / "result.json").read_text())
    analysed = [r["sop_instance_uid"] for r in result["details"]["radiographs"]]
    assert set(TRICKY_SOP_UIDS) <= set(analysed) and len(set(analysed)) == len(analysed) == 5
    pictures = sorted(p.name for p in study_dir.glob("key_*.png"))
    captures = sorted(p.name for p in study_dir.glob("key_*_sc.dcm"))
    assert len(pictures) == len(captures) == len(analysed)
    assert all(re.fullmatch(r"key_\d{3}_[0-9a-f]{10}(_sc\.dcm|\.png)", name) for name in pictures + captures)
    assert not [p for p in study_dir.iterdir() if p.is_dir()]
    assert len({pydicom.dcmread(study_dir / name).SOPInstanceUID for name in captures}) == len(captures)


def test_key_image_names_are_bounded_and_never_shared() -> None:
    uids = [*TRICKY_SOP_UIDS, "1.2.3", "9" * 64, "x/../../etc", ""]
    names = [key_image_name(number, uid) for number, uid in enumerate(uids, start=1)]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"key_\d{3}_[0-9a-f]{10}", name) for name in names)
    assert key_image_name(1, TRICKY_SOP_UIDS[1]) != key_image_name(1, TRICKY_SOP_UIDS[2])  # same tail
