"""The DICOM node against a real Orthanc: round trip, kill -9 while studies are in flight, and pull by DICOMweb.

Orthanc (Debian, pacs/orthanc.py) holds phantom studies of all three kinds and sends them to the node by
C-STORE; the node analyses them and stores the results back. What Orthanc then lists under each source study
must be exactly what a folder run (`python -m apps`) writes for it: the same SOP Instance UIDs, no extra copy,
and the same bytes apart from the moments highdicom stamps at write time (instance creation, content and
capture date/time, the contribution time) and the SEG's DimensionOrganizationUID, which highdicom draws at random.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from pacs.cli import run_node
from pacs.node_process import NodeProcess, read_records, write_node_config
from pacs.orthanc import OrthancServer, free_port
from pacs.pull import find_studies
from pacs.spool import State
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset
from run.batch import holoscan_stack_limit
from run.plan import study_folder_name
from tests.app_runner import REPO
from tests.model_fixtures import export_fixture_classifier, export_fixture_fragment_models, export_fixture_segmenter

pytestmark = pytest.mark.slow

NODE_AE = "MSKMAPS"
# Stamped by highdicom when an object is written (or drawn at random): the only attributes allowed to differ.
WRITE_TIME = {
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ContentDate",
    "ContentTime",
    "DateOfSecondaryCapture",
    "TimeOfSecondaryCapture",
    "ContributionDateTime",
    "DimensionOrganizationUID",
}


def _comparable(dataset: Dataset) -> bytes:
    """The data set's bytes (Explicit VR Little Endian) with the write-time attributes emptied, everywhere."""
    dataset = copy.deepcopy(dataset)

    def blank(ds: Dataset, element: pydicom.DataElement) -> None:
        if element.keyword in WRITE_TIME:
            element.value = None

    dataset.walk(blank)
    buffer = BytesIO()
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    pydicom.dcmwrite(buffer, dataset, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def _expected(reference: Path, app: str, study_uid: str) -> dict[str, bytes]:
    """SOP Instance UID -> comparable bytes of every DICOM object the folder run wrote for the study."""
    folder = reference / app / study_folder_name(study_uid)
    objects = {}
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        objects[str(ds.SOPInstanceUID)] = _comparable(ds)
    assert objects, f"the folder run wrote nothing for {app} {study_uid}"
    return objects


def _ours_in_orthanc(orthanc: OrthancServer, study_uid: str, source_series: set[str]) -> dict[str, bytes]:
    """QIDO-RS: every series under the study that is not a source series; WADO-RS: its instances, as stored."""
    client = DICOMwebClient(orthanc.dicomweb_url)
    found: dict[str, bytes] = {}
    for series in client.search_for_series(study_uid):
        series_uid = series["0020000E"]["Value"][0]
        if series_uid in source_series:
            continue
        instances = client.retrieve_series(study_uid, series_uid, media_types=(("application/dicom", "*"),))
        for ds in instances:
            assert str(ds.SOPInstanceUID) not in found, "one object stored twice"
            found[str(ds.SOPInstanceUID)] = _comparable(ds)
    return found


def _check_results(world: dict, studies: list[tuple[str, str]]) -> None:
    for app, uid in studies:
        expected = _expected(world["reference"], app, uid)
        stored = _ours_in_orthanc(world["orthanc"], uid, world["source_series"][uid])
        assert set(stored) == set(expected), f"{app} {uid}: other objects than the folder run's"
        for sop_uid, payload in expected.items():
            assert stored[sop_uid] == payload, f"{app} {uid} {sop_uid}: differs from the folder run's object"


def _wait_done(storage: Path, uids: list[str], timeout: float = 300.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = read_records(storage)
        if all(records.get(uid, {}).get("state") == State.DONE for uid in uids):
            return records
        time.sleep(0.2)
    raise AssertionError(
        f"studies not done in {timeout} s: { {u: read_records(storage).get(u, {}).get('state') for u in uids} }"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("node")
    first, second, models = root / "in" / "first", root / "in" / "second", root / "models"
    olt = generate_ankle_mri_dataset(first / "ankle_mri", patients=1, seed=31)
    xray = generate_ankle_xray_dataset(first / "ankle_xray", patients=1, seed=31)
    hip = generate_hip_mri_dataset(first / "hip_mri", patients=1, seed=31)
    olt_b = generate_ankle_mri_dataset(second / "ankle_mri", patients=1, seed=32, prefix="OLB")
    xray_b = generate_ankle_xray_dataset(second / "ankle_xray", patients=1, seed=32)
    export_fixture_classifier(models, "olt_mri_t1", seed=1)
    export_fixture_classifier(models, "olt_mri_t2", seed=2)
    export_fixture_fragment_models(models)
    export_fixture_segmenter(models)
    reference = root / "folder_run"
    folder_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps",
            "-i",
            str(root / "in"),
            "-o",
            str(reference),
            "-m",
            str(models),
            "--no-progress",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=holoscan_stack_limit,
        timeout=900,
    )
    assert folder_run.returncode == 0, folder_run.stderr[-3000:]
    source_series: dict[str, set[str]] = {}
    for path in (root / "in").rglob("*.dcm"):
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID", "SeriesInstanceUID"])
        source_series.setdefault(str(header.StudyInstanceUID), set()).add(str(header.SeriesInstanceUID))
    port = free_port()
    orthanc = OrthancServer(root / "orthanc", modalities={"NODE": (NODE_AE, "127.0.0.1", port)})
    settings = {"quiet_seconds": 1, "retry": {"first_seconds": 1, "max_seconds": 2}}
    config = write_node_config(root / "node.yaml", root / "storage", port, models, orthanc, **settings)
    node = NodeProcess(config, root / "node.out")
    try:
        orthanc.start()
        assert orthanc.upload_folder(root / "in") == len(list((root / "in").rglob("*.dcm")))
        yield {
            "root": root,
            "models": models,
            "reference": reference,
            "orthanc": orthanc,
            "node": node,
            "port": port,
            "storage": root / "storage",
            "source_series": source_series,
            "first": [
                ("olt_mri", olt[0]["study_instance_uid"]),
                ("ankle_xray", xray[0]["study_instance_uid"]),
                ("onfh_mri", hip[0]["study_instance_uid"]),
            ],
            "second": [("olt_mri", olt_b[0]["study_instance_uid"]), ("ankle_xray", xray_b[0]["study_instance_uid"])],
        }
    finally:
        node.kill()
        orthanc.stop()


def test_round_trip_orthanc_to_node_and_back(world: dict) -> None:
    orthanc, node = world["orthanc"], world["node"]
    node.start(world["port"])
    uids = [uid for _, uid in world["first"]]
    for uid in uids:
        orthanc.send_study(uid, "NODE")  # Orthanc as SCU, through its REST API, as a PACS operator would
    records = _wait_done(world["storage"], uids)
    _check_results(world, world["first"])
    for app, uid in world["first"]:
        record = records[uid]
        assert record["outcome"] == "sent" and list(record["apps"]) == [app]
        assert record["sends"]["orthanc"]["attempts"] == 1 and record["calling_ae"] == orthanc.aet
    log = (world["storage"] / "node.log").read_text()
    for app, uid in world["first"]:
        (line,) = [line for line in log.splitlines() if f"Study {uid} " in line and "| sent:" in line]
        assert f"Study {uid} sent: {app} ok: " in line and line.endswith("| sent: orthanc ok after 1 attempt(s)")


def test_status_on_demand(world: dict, capsys: pytest.CaptureFixture) -> None:
    assert run_node(["status", "--storage", str(world["storage"])]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True and status["ae_title"] == NODE_AE
    assert status["counts"]["studies"][State.DONE] == 3 and status["counts"]["outcomes"] == {"sent": 3}
    assert status["counts"]["instances_received"] == len(list((world["storage"] / "spool").rglob("*.dcm")))


def test_kill_9_while_studies_are_in_flight_then_restart(world: dict) -> None:
    orthanc, node, storage = world["orthanc"], world["node"], world["storage"]
    uids = [uid for _, uid in world["second"]]
    ids = [orthanc.study_id(uid) for uid in uids]
    orthanc.post("/modalities/NODE/store", {"Resources": ids, "Synchronous": False})
    deadline = time.monotonic() + 240
    caught = ""
    while time.monotonic() < deadline and not caught:
        states = {uid: read_records(storage).get(uid, {}).get("state") for uid in uids}
        # analysing lasts seconds (a send can be over before the kill lands): kill while a study is in the apps
        caught = next((s for s in states.values() if s == State.ANALYSING), "")
        time.sleep(0.02)
    node.kill()
    assert caught, "never saw a study in flight"
    assert any(r.get("state") != State.DONE for uid, r in read_records(storage).items() if uid in uids)
    node.start(world["port"])
    for uid in uids:  # the PACS retries what the dead node may not have taken
        orthanc.send_study(uid, "NODE")
    records = _wait_done(storage, uids)
    _check_results(world, world["second"] + world["first"])
    for _, uid in world["first"]:
        assert records[uid]["sends"]["orthanc"]["attempts"] == 1  # finished studies are not sent again
    log = (storage / "node.log").read_text()
    for _, uid in world["second"]:
        assert len([line for line in log.splitlines() if f"Study {uid} sent:" in line]) == 1


def test_pull_by_dicomweb_gives_the_same_results(world: dict) -> None:
    orthanc = world["orthanc"]
    assert world["node"].stop() == 0  # SIGTERM: a clean stop
    assert not (world["storage"] / ".msk-maps.lock").exists()
    for app, uid in world["first"]:  # take our results out of Orthanc, so only the pull can bring them back
        for sop_uid in _expected(world["reference"], app, uid):
            found = json.loads(orthanc.request("POST", "/tools/lookup", sop_uid.encode(), "text/plain"))
            for item in found:
                orthanc.request("DELETE", f"/instances/{item['ID']}")
        assert _ours_in_orthanc(orthanc, uid, world["source_series"][uid]) == {}
    every = {uid for _, uid in world["first"] + world["second"]}
    assert set(find_studies(orthanc.dicomweb_url, [], since="19000101", until="29991231")) == every  # QIDO-RS
    assert find_studies(orthanc.dicomweb_url, [], since="29990101") == []
    command = [sys.executable, "-m", "apps.node", "--pull", "--dicomweb", orthanc.dicomweb_url]
    command += [arg for _, uid in world["first"] for arg in ("--study", uid)]
    command += ["--storage", str(world["root"] / "pulled"), "-m", str(world["models"]), "--send-timeout", "120"]
    pulled = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, preexec_fn=holoscan_stack_limit, timeout=900
    )
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    _check_results(world, world["first"])
    records = read_records(world["root"] / "pulled")
    assert {records[uid]["outcome"] for _, uid in world["first"]} == {"sent"}
    assert all(list(records[uid]["sends"]) == ["source"] for _, uid in world["first"])  # STOW-RS back to Orthanc
