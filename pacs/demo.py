"""`make pacs-demo`: a local Orthanc and the DICOM node; the demo phantoms go PACS -> node -> results -> PACS.

python -m pacs.demo [--models models] [--work build/pacs-demo]
Starts Orthanc (Debian package, installed when missing) and the node on loopback ports, uploads phantom
studies of all three kinds to Orthanc, has Orthanc send each study to the node, prints where to look
(Orthanc Explorer, the node's log and status) and each study's outcome as it comes back; Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from pathlib import Path

from pacs.node import LOG_FILE
from pacs.node_process import NodeProcess, read_records, write_node_config
from pacs.orthanc import OrthancServer, free_port
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset

__all__ = ["main"]

NODE_AE = "MSKMAPS"


def _port(preferred: int) -> int:
    """`preferred` when nothing listens on it, else any free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def _phantoms(folder: Path) -> list[str]:
    """The demo's studies (made once): ankle MR, ankle radiographs, hip MR; their StudyInstanceUIDs."""
    if not folder.exists():
        generate_ankle_mri_dataset(folder / "ankle_mri", 2, 2026)
        generate_ankle_xray_dataset(folder / "ankle_xray", 2, 2026)
        generate_hip_mri_dataset(folder / "hip_mri", 1, 2026)
    truths = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*/*/ground_truth.json"))]
    return [truth["study_instance_uid"] for truth in truths]


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the demo until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/pacs-demo"))
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    _say("Preparing phantom studies ...")
    uids = _phantoms(work / "input")
    node_port = _port(11112)
    orthanc = OrthancServer(
        work / "orthanc",
        http_port=_port(8042),
        dicom_port=_port(4242),
        modalities={"MSKMAPS": (NODE_AE, "127.0.0.1", node_port)},
    )
    storage = work / "node"
    write_node_config(work / "node.yaml", storage, node_port, args.models.resolve(), orthanc, quiet_seconds=2)
    node = NodeProcess(work / "node.yaml", work / "node.out")
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start us with it ignored
        signal.signal(signum, _interrupt)
    try:
        orthanc.start()
        _say(f"Orthanc up (pid {orthanc.pid}); {orthanc.upload_folder(work / 'input')} instances uploaded")
        _say("Starting the node (it loads every model once) ...")
        node.start(node_port, NODE_AE, orthanc.aet)
        for uid in uids:
            orthanc.send_study(uid, "MSKMAPS", synchronous=False)
        _say(
            f"\n  Orthanc Explorer: {orthanc.url}/app/explorer.html  (results: SR, SC and, for hips, SEG series)"
            f"\n  Node log:         {storage / LOG_FILE}"
            f"\n  Node status:      .venv/bin/python -m apps.node status --config {work / 'node.yaml'}"
            f"\n  Node AE {NODE_AE} at 127.0.0.1:{node_port}, Orthanc AE {orthanc.aet} at :{orthanc.dicom_port}"
            "\n\nSending the demo studies through; Ctrl-C stops Orthanc and the node.\n"
        )
        shown: set[str] = set()
        while True:
            for uid, record in read_records(storage).items():
                if record["state"] == "done" and uid not in shown:
                    shown.add(uid)
                    apps = ", ".join(f"{app}: {o['summary']}" for app, o in record["apps"].items()) or record["error"]
                    _say(f"  {uid}: {record['outcome']} - {apps[:150]}")
                    if len(shown) == len(uids):
                        _say(f"\nAll {len(uids)} studies analysed, their results are in Orthanc. Ctrl-C to stop.")
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\nStopping the node and Orthanc ...")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not leave Orthanc running
            signal.signal(signum, signal.SIG_IGN)
        node.stop()
        orthanc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
