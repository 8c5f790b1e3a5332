"""The DICOM node's parts in this process, without models: settings, spool and records, the SCP's gate (calling AE,
free-space floor, bad input, our own results), and sends that fail, wait, retry and survive a restart."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import ComputedRadiographyImageStorage, Verification

from pacs.config import ConfigError, DicomDestination, NodeConfig, parse_dicom_target
from pacs.node import FAILURES_FILE, Node, study_line
from pacs.orthanc import free_port
from pacs.scp import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS
from pacs.sender import SendError, backoff, send_files
from pacs.spool import SendState, Spool, State, StudyRecord
from phantoms.ankle_xray import generate_ankle_xray_dataset
from run.lock import OutputInUse
from tests.app_runner import read_rows


@pytest.fixture(scope="module")
def radiographs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("xray")
    generate_ankle_xray_dataset(folder, patients=1, seed=5)
    return sorted(folder.rglob("*.dcm"))


def _config(tmp_path: Path, **overrides: object) -> NodeConfig:
    spec = {"storage": str(tmp_path / "node"), "port": free_port(), "calling_ae_titles": ["PACS"], **overrides}
    return NodeConfig.from_mapping(spec)


def _store(port: int, datasets: list[pydicom.Dataset], calling: str = "PACS") -> list[int]:
    ae = AE(ae_title=calling)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="MSKMAPS")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def test_settings_from_yaml_and_flags_are_checked(tmp_path: Path) -> None:
    (tmp_path / "node.yaml").write_text(
        "ae_title: MSKMAPS\nport: 11112\ncalling_ae_titles: [ORTHANC]\nstorage: spool_here\n"
        "destinations:\n  - {name: pacs, type: dicom, ae_title: ORTHANC, host: 127.0.0.1, port: 4242}\n"
        "  - {name: web, type: dicomweb, url: 'http://127.0.0.1:8042/dicom-web/'}\nretry: {first_seconds: 1}\n"
    )
    config = NodeConfig.from_file(tmp_path / "node.yaml")
    assert config.storage == tmp_path / "spool_here" and config.retry_first_seconds == 1.0
    assert [str(d) for d in config.destinations] == [
        "pacs (C-STORE ORTHANC@127.0.0.1:4242)",
        "web (STOW-RS http://127.0.0.1:8042/dicom-web)",
    ]
    assert config.host == "127.0.0.1"  # loopback unless asked otherwise
    assert parse_dicom_target("PACS@10.0.0.5:104") == DicomDestination("pacs", "PACS", "10.0.0.5", 104)
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['colour'\]"):
        NodeConfig.from_mapping({"colour": "red"})
    with pytest.raises(ConfigError, match="'WAY_TOO_LONG_AE_TITLE' is not an AE title"):
        NodeConfig.from_mapping({"ae_title": "WAY_TOO_LONG_AE_TITLE"})
    with pytest.raises(ConfigError, match="port must be 1..65535, got 0"):
        NodeConfig.from_mapping({"port": 0})
    with pytest.raises(ConfigError, match="type must be 'dicom' or 'dicomweb', got 'ftp'"):
        NodeConfig.from_mapping({"destinations": [{"type": "ftp"}]})
    with pytest.raises(ConfigError, match="apps must be some of"):
        NodeConfig.from_mapping({"apps": ["knee_ct"]})


def test_spool_writes_once_and_records_come_back(tmp_path: Path, radiographs: list[Path]) -> None:
    spool = Spool(tmp_path)
    payload = radiographs[0].read_bytes()
    assert spool.store("1.2.3", "1.2.3.4", payload) is True
    assert spool.store("1.2.3", "1.2.3.4", payload) is False  # the same bytes again: nothing new
    assert spool.store("1.2.3", "1.2.3.4", payload[:-1] + b"\x01") is True  # changed: replaced
    assert spool.count("1.2.3") == 1 and not list(tmp_path.rglob("*.partial"))
    record = StudyRecord("1.2.3", state=State.SENDING, sends={"pacs": SendState(attempts=2, error="down")})
    spool.save(record)
    # a study spooled by a node killed before its first record was saved is found from its files
    header = pydicom.dcmread(radiographs[0], stop_before_pixels=True)
    found = str(header.StudyInstanceUID)
    spool.store(found, str(header.SOPInstanceUID), payload)
    back = Spool(tmp_path).load_all()
    assert back["1.2.3"] == record
    assert back["1.2.3"].sends["pacs"].attempts == 2
    assert back[found].state == State.RECEIVING and back[found].instances == 1


def test_a_restarted_node_resumes_each_study_where_it_was(tmp_path: Path, radiographs: list[Path]) -> None:
    config = _config(tmp_path)
    spool = Spool(config.storage)
    for uid, state, analysed in (("1.1", State.ANALYSING, 1), ("1.2", State.ANALYSING, 5), ("1.3", State.SENDING, 1)):
        spool.store(uid, f"{uid}.1", radiographs[0].read_bytes())
        spool.save(StudyRecord(uid, state=state, instances=1, analysed_instances=analysed, last_received=1.0))
    node = Node(config)
    node.open_storage()
    try:
        states = {uid: r.state for uid, r in node.records.items()}
        # 1.1: analysed again as it was; 1.2: more instances than were analysed: received again; 1.3: sends go on
        assert states == {"1.1": State.ANALYSING, "1.2": State.RECEIVING, "1.3": State.SENDING}
        assert node.records["1.2"].last_received > time.time() - 60  # its quiet time starts again
        with pytest.raises(OutputInUse, match="in use by pid"):
            Node(config).open_storage()  # one node per storage folder
    finally:
        node.close()


@pytest.fixture
def listening(tmp_path: Path):
    """A node on a free loopback port that admits calling AE "PACS" only (no models: nothing is analysed)."""
    started = []

    def start(**overrides: object) -> Node:
        node = Node(_config(tmp_path, quiet_seconds=3600, **overrides))
        node.open_storage()
        node.listen()
        started.append(node)
        return node

    yield start
    for node in started:
        node.close()


def test_only_listed_calling_aes_may_associate(listening, radiographs: list[Path]) -> None:
    node = listening()
    port = str(node.config.port)
    echo = subprocess.run(["echoscu", "-aet", "PACS", "-aec", "MSKMAPS", "127.0.0.1", port], capture_output=True)
    assert echo.returncode == 0, echo.stderr
    refused = subprocess.run(
        ["echoscu", "-aet", "INTRUDER", "-aec", "MSKMAPS", "127.0.0.1", port], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "Association Rejected" in refused.stderr
    stored = subprocess.run(
        ["storescu", "-aet", "INTRUDER", "-aec", "MSKMAPS", "127.0.0.1", port, str(radiographs[0])],
        capture_output=True,
        text=True,
    )
    assert stored.returncode != 0 and not node.records
    assert _store(node.config.port, [pydicom.dcmread(radiographs[0])]) == [SUCCESS]
    uid = str(pydicom.dcmread(radiographs[0], stop_before_pixels=True).StudyInstanceUID)
    assert node.records[uid].state == State.RECEIVING and node.records[uid].calling_ae == "PACS"
    assert node.spool.count(uid) == 1


def test_under_the_free_space_floor_c_store_is_refused_out_of_resources(listening, radiographs: list[Path]) -> None:
    node = listening(min_free_mb=10**12)  # an exabyte: more than any disk has free
    assert _store(node.config.port, [pydicom.dcmread(radiographs[0])]) == [OUT_OF_RESOURCES]
    assert not node.records and not list(node.spool.instances_dir.rglob("*.dcm"))


def test_bad_input_gets_a_reason_and_the_rest_goes_on(listening, radiographs: list[Path]) -> None:
    node = listening()
    no_study = pydicom.dcmread(radiographs[0])
    del no_study.StudyInstanceUID
    no_study.SOPInstanceUID = no_study.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ours = pydicom.dcmread(radiographs[1])
    ours.Manufacturer = "msk-maps"  # one of our own results coming back
    good = pydicom.dcmread(radiographs[0])
    assert _store(node.config.port, [no_study, ours, good]) == [CANNOT_UNDERSTAND, SUCCESS, SUCCESS]
    rows = read_rows(node.config.storage / FAILURES_FILE)
    assert len(rows) == 1 and rows[0]["reason"] == "no StudyInstanceUID: cannot be filed"
    assert rows[0]["item"] == f"instance {no_study.SOPInstanceUID} from PACS"
    assert list(node.records) == [str(good.StudyInstanceUID)] and node.spool.count(str(good.StudyInstanceUID)) == 1
    counts = node.status()["counts"]
    assert counts["instances_refused"] == 1 and counts["own_results_ignored"] == 1 and counts["failures"] == 1


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 2.0, 10.0) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def _receiver(port: int, received: list[pydicom.Dataset]) -> AE:
    ae = AE(ae_title="PACS")
    ae.add_supported_context(Verification)
    for context in ("1.2.840.10008.5.1.4.1.1.7", ComputedRadiographyImageStorage, "1.2.840.10008.5.1.4.1.1.88.34"):
        ae.add_supported_context(context, ALL_TRANSFER_SYNTAXES)

    def on_store(event: evt.Event) -> int:
        received.append(event.dataset)
        return SUCCESS

    ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    return ae


def test_failed_sends_wait_with_backoff_stay_queued_on_disk_and_go_when_the_pacs_is_back(
    tmp_path: Path, radiographs: list[Path]
) -> None:
    port = free_port()
    config = _config(
        tmp_path,
        destinations=[{"name": "pacs", "type": "dicom", "ae_title": "PACS", "host": "127.0.0.1", "port": port}],
        retry={"first_seconds": 0.5, "max_seconds": 1.0},
    )
    with pytest.raises(SendError, match=r"pacs \(C-STORE PACS@127.0.0.1:\d+\): association not accepted"):
        send_files(config.destinations[0], radiographs[:1], "MSKMAPS")
    node = Node(config)
    node.open_storage()
    results = node.spool.results_dir / "ankle_xray" / "1.5"
    results.mkdir(parents=True)
    for path in radiographs:
        (results / path.name).write_bytes(path.read_bytes())
    files = {"status": "ok", "summary": "2 radiographs", "files": sorted(p.name for p in radiographs)}
    record = StudyRecord("1.5", state=State.SENDING, apps={"ankle_xray": files}, analysed_at=1.0)
    record.sends = {"pacs": SendState()}
    node.records["1.5"] = record
    received: list[pydicom.Dataset] = []
    receiver = None
    try:
        node.start_sender()
        deadline = time.monotonic() + 30
        while record.sends["pacs"].attempts < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        on_disk = json.loads((node.spool.records_dir / "1.5.json").read_text())
        assert on_disk["state"] == State.SENDING and on_disk["sends"]["pacs"]["attempts"] >= 1
        assert "association not accepted" in on_disk["sends"]["pacs"]["error"]
        assert on_disk["sends"]["pacs"]["next_attempt"] > on_disk["analysed_at"]
        receiver = _receiver(port, received)
        while record.state != State.DONE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.state == State.DONE and record.outcome == "sent"
        assert sorted(str(ds.SOPInstanceUID) for ds in received) == sorted(
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in radiographs
        )
        # the node says done in memory and in status.json first, then saves the record: wait for the save
        record_file = node.spool.records_dir / "1.5.json"
        while json.loads(record_file.read_text())["state"] != State.DONE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert json.loads(record_file.read_text())["sends"]["pacs"]["status"] == "sent"
        line = study_line(record)
        assert line.startswith("Study 1.5 sent: ankle_xray ok: 2 radiographs | sent: pacs ok after ")
    finally:
        node.close()
        if receiver is not None:
            receiver.shutdown()


def test_finished_studies_are_deleted_after_keep_days(tmp_path: Path, radiographs: list[Path]) -> None:
    node = Node(_config(tmp_path, keep_days=1))
    node.open_storage()
    try:
        for uid, age_days in (("1.7", 3.0), ("1.8", 0.1)):
            node.spool.store(uid, f"{uid}.1", radiographs[0].read_bytes())
            (node.spool.results_dir / "ankle_xray" / uid).mkdir(parents=True)
            record = StudyRecord(uid, state=State.DONE, outcome="sent", done_at=time.time() - age_days * 86400)
            node.records[uid] = record
            node.spool.save(record)
        node.tick()
        assert list(node.records) == ["1.8"]
        assert not node.spool.study_dir("1.7").exists() and not (node.spool.results_dir / "ankle_xray" / "1.7").exists()
        assert not (node.spool.records_dir / "1.7.json").exists()
        assert node.spool.study_dir("1.8").exists() and (node.spool.records_dir / "1.8.json").exists()
    finally:
        node.close()
