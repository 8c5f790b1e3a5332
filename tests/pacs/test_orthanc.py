"""The project's Orthanc harness: a real Debian Orthanc on loopback ports, started and stopped by PID."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pacs.orthanc import OrthancError, OrthancServer
from phantoms.ankle_mri import generate_ankle_mri_dataset


def test_orthanc_starts_on_loopback_stores_and_answers_dicomweb_then_stops(tmp_path: Path) -> None:
    truths = generate_ankle_mri_dataset(tmp_path / "in", patients=1, seed=7)
    with OrthancServer(tmp_path / "orthanc") as orthanc:
        pid = orthanc.pid
        config = json.loads(orthanc.config_path.read_text())
        assert config["RemoteAccessAllowed"] is False and "Host" not in config.get("DicomWeb", {})
        stored = orthanc.upload_folder(tmp_path / "in")
        assert stored > 0 and len(orthanc.study_ids()) == 1
        with urllib.request.urlopen(f"{orthanc.dicomweb_url}/studies", timeout=30) as response:
            studies = json.loads(response.read())
        assert studies[0]["0020000D"]["Value"] == [truths[0]["study_instance_uid"]]
        # the port survives in DICOMweb URLs (Debian's default config loses it)
        retrieve = studies[0]["00081190"]["Value"][0]
        assert f"127.0.0.1:{orthanc.http_port}/dicom-web/studies/" in retrieve
        echo = subprocess.run(
            ["echoscu", "-aec", orthanc.aet, "127.0.0.1", str(orthanc.dicom_port)], capture_output=True, text=True
        )
        assert echo.returncode == 0, echo.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OrthancError, match="not running"):
        _ = orthanc.pid
