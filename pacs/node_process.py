"""The DICOM node as a child process (for the demo, the bench and the tests): started with a config file, ready
when it answers C-ECHO, stopped by its PID (SIGTERM, or SIGKILL to test a crash).

    node = NodeProcess(config_yaml, log=workdir / "node.out").start(port)
    ...
    node.stop()
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from pacs.orthanc import OrthancServer
from run.batch import holoscan_stack_limit

__all__ = ["NodeProcess", "echo", "read_records", "write_node_config", "REPO"]

REPO = Path(__file__).resolve().parents[1]


def echo(port: int, called_ae: str, calling_ae: str, host: str = "127.0.0.1") -> bool:
    """Whether the AE at host:port answers C-ECHO (to `calling_ae`)."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return getattr(status, "Status", None) == 0


def write_node_config(
    path: Path, storage: Path, port: int, models: Path, orthanc: OrthancServer | None = None, **settings: Any
) -> Path:
    """A node.yaml for AE MSKMAPS on `port`; with `orthanc`, it admits Orthanc and sends results back to it by
    C-STORE. `settings` add or override keys (see pacs.config)."""
    spec: dict[str, Any] = {"ae_title": "MSKMAPS", "port": port, "storage": str(storage), "models": str(models)}
    if orthanc is not None:
        spec["calling_ae_titles"] = [orthanc.aet]
        back = {"name": "orthanc", "type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1"}
        spec["destinations"] = [{**back, "port": orthanc.dicom_port}]
    spec.update(settings)
    Path(path).write_text(yaml.safe_dump(spec), encoding="utf-8")
    return Path(path)


def read_records(storage: Path) -> dict[str, dict[str, Any]]:
    """A node's study records as it saved them (read only: never touches the node's own files)."""
    records = {}
    for path in (Path(storage) / "studies").glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced right now
        records[record["study_uid"]] = record
    return records


class NodeProcess:
    """`python -m apps.node --config CONFIG [extra flags]` as a child, its output appended to `log`."""

    def __init__(self, config: Path, log: Path, *extra: str) -> None:
        self.config, self.log, self.extra = Path(config), Path(log), extra
        self.proc: subprocess.Popen | None = None

    def start(self, port: int, called_ae: str = "MSKMAPS", calling_ae: str = "ORTHANC", timeout: float = 300.0):
        """Start it and wait until it answers C-ECHO; RuntimeError (with its output's tail) if it doesn't."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "apps.node", "--config", str(self.config), *self.extra],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=holoscan_stack_limit,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}: {self.tail()}")
            if echo(port, called_ae, calling_ae):
                return self
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"node did not answer C-ECHO within {timeout:.0f} s: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of its output."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else ""

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the node was not started")
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL (a crash), and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM (a clean stop: it finishes the current step and releases its storage); its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode
