"""A local Orthanc (Debian `orthanc` + `orthanc-dicomweb`) for demos, the viewer and the tests: one way to
install, configure, start, use and stop it.

Loopback only: the HTTP server refuses remote clients (`RemoteAccessAllowed` false) and every URL we hand out is
127.0.0.1. The config is written by us, without Debian's `Host`-less defaults that would drop the port from
DICOMweb URLs. The process is started by us and stopped by its PID.

    with OrthancServer(workdir, modalities={"MSKMAPS": ("MSKMAPS", "127.0.0.1", 11112)}) as orthanc:
        orthanc.upload(Path("study/slice.dcm"))
        print(orthanc.dicomweb_url)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacs.debian import DebianInstallError, apt_install

__all__ = [
    "OrthancError",
    "OrthancServer",
    "ensure_orthanc_installed",
    "free_port",
    "ORTHANC_BINARY",
    "DICOMWEB_PLUGIN",
]

logger = logging.getLogger(__name__)

ORTHANC_BINARY = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb", "dcmtk")


class OrthancError(RuntimeError):
    """Orthanc is not installed and can't be, did not start, or refused a request."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _installed() -> bool:
    return Path(ORTHANC_BINARY).is_file() and Path(DICOMWEB_PLUGIN).is_file() and bool(shutil.which("storescu"))


def ensure_orthanc_installed() -> None:
    """Install Debian's orthanc, orthanc-dicomweb and dcmtk when missing (needs root); OrthancError otherwise."""
    if _installed():
        return
    try:
        apt_install(DEBIAN_PACKAGES)
    except DebianInstallError as exc:
        raise OrthancError(f"Orthanc: {exc}") from exc
    if not _installed():
        raise OrthancError(f"{ORTHANC_BINARY} or {DICOMWEB_PLUGIN} missing after installing {DEBIAN_PACKAGES}")


@dataclass
class OrthancServer:
    """One Orthanc process on loopback ports, with its storage, config and log under `workdir`."""

    workdir: Path
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    aet: str = "ORTHANC"
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> (AE title, host, port)
    extra_config: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The REST API (and Orthanc Explorer at /app/explorer.html)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.url}/dicom-web"

    @property
    def config_path(self) -> Path:
        return Path(self.workdir) / "orthanc.json"

    @property
    def log_path(self) -> Path:
        return Path(self.workdir) / "orthanc.log"

    def config(self) -> dict[str, Any]:
        """The whole config: loopback HTTP, our ports and AE title, DICOMweb on, no `Host` key."""
        storage = str(Path(self.workdir).resolve() / "storage")
        return {
            "Name": f"msk-maps-{self.aet}",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpTimeout": 60,
            "StableAge": 1,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "StudiesMetadata": "Full"},
            "DicomModalities": {name: [aet, host, port] for name, (aet, host, port) in self.modalities.items()},
            "UnknownSopClassAccepted": True,
            **self.extra_config,
        }

    def start(self, timeout: float = 60.0) -> OrthancServer:
        """Write the config, start Orthanc and wait until its REST API answers; OrthancError on failure."""
        ensure_orthanc_installed()
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed when the process ends
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, str(self.config_path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancError(f"Orthanc exited with {self.process.returncode}; see {self.log_path}")
            try:
                self.get("/system")
                logger.info("Orthanc up at %s (DICOM %s:%d), pid %d", self.url, self.aet, self.dicom_port, self.pid)
                return self
            except OrthancError:
                time.sleep(0.2)
        self.stop()
        raise OrthancError(f"Orthanc did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise OrthancError("Orthanc is not running")
        return self.process.pid

    def stop(self, timeout: float = 20.0) -> None:
        """Stop Orthanc by its PID (SIGTERM, then SIGKILL after `timeout`)."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        self.process = None

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
        """One REST call; the response body, or OrthancError with Orthanc's status and message."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise OrthancError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise OrthancError(f"{method} {path}: {exc}") from exc

    def get(self, path: str) -> Any:
        """GET a JSON resource."""
        return json.loads(self.request("GET", path))

    def post(self, path: str, payload: Any) -> Any:
        """POST JSON, read JSON back."""
        answer = self.request("POST", path, json.dumps(payload).encode(), "application/json")
        return json.loads(answer) if answer else None

    def upload(self, path: Path) -> dict[str, Any]:
        """Store one DICOM file through the REST API."""
        return json.loads(self.request("POST", "/instances", Path(path).read_bytes(), "application/dicom"))

    def upload_folder(self, folder: Path) -> int:
        """Store every DICOM file under `folder` (others are skipped); the number stored."""
        stored = 0
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file():
                continue
            with open(path, "rb") as handle:
                handle.seek(128)
                if handle.read(4) != b"DICM":
                    continue
            self.upload(path)
            stored += 1
        return stored

    def study_ids(self) -> list[str]:
        """Orthanc's ids of every stored study."""
        return list(self.get("/studies"))

    def study_id(self, study_instance_uid: str) -> str | None:
        """Orthanc's id of the study with this StudyInstanceUID, or None when it is not stored."""
        # /tools/lookup takes the bare UID as the body (a JSON string would be looked up with its quotes).
        found = json.loads(self.request("POST", "/tools/lookup", study_instance_uid.encode(), "text/plain"))
        ids = [item["ID"] for item in found or [] if item.get("Type") == "Study"]
        return ids[0] if ids else None

    def send_study(self, study_instance_uid: str, modality: str, synchronous: bool = True) -> dict[str, Any]:
        """C-STORE one study to a configured modality (Orthanc as SCU); waits unless `synchronous` is False."""
        study = self.study_id(study_instance_uid)
        if study is None:
            raise OrthancError(f"study {study_instance_uid} is not in Orthanc")
        return self.post(f"/modalities/{modality}/store", {"Resources": [study], "Synchronous": synchronous})
