"""`python -m viewer OUT [OUT ...] [-i IN]`: a run's results in OHIF on a local Orthanc, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from pacs.debian import DebianInstallError
from pacs.orthanc import OrthancError, ensure_orthanc_installed
from report_page.sources import run_folders
from viewer.ohif_install import OHIF_VERSION, OhifInstallError, ensure_ohif
from viewer.session import ViewerSession

_LISTED = 12  # study links printed; the rest are in OHIF's study list


def _install(ohif_folder: Path) -> int:
    try:
        print(ensure_ohif(ohif_folder))
        ensure_orthanc_installed()
    except (OhifInstallError, OrthancError) as exc:
        print(f"viewer: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start Orthanc and OHIF, upload, print the URLs, wait for Ctrl-C (or SIGTERM), stop both."""
    parser = argparse.ArgumentParser(description="Look at a run's results in the OHIF viewer on a local Orthanc.")
    parser.add_argument("outputs", nargs="*", type=Path, help="run folders, or a folder of them (demo/output)")
    parser.add_argument("-i", "--input", type=Path, help="the run's input folder: its studies' images are shown too")
    parser.add_argument("--workdir", type=Path, default=Path("build/view"), help="Orthanc's storage and config")
    parser.add_argument("--ohif", type=Path, default=Path("build/ohif"), help=f"where OHIF {OHIF_VERSION} is unpacked")
    parser.add_argument("--port", type=int, default=0, help="the viewer's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--install-only", action="store_true", help="install OHIF and Orthanc, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("dicom_in").setLevel(logging.ERROR)  # the input's non-DICOM files are not news here
    if args.install_only:
        return _install(args.ohif)
    if not args.outputs:
        parser.error("give at least one run output folder")
    missing = [str(p) for p in [*args.outputs, *([args.input] if args.input else [])] if not p.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    folders = [folder for output in args.outputs for folder in run_folders(output)]
    if not folders:
        parser.error(f"no run folder (with run.json) in {', '.join(map(str, args.outputs))}")
    session = ViewerSession(folders, args.input, args.workdir, args.ohif, args.port)
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start us with it ignored
        signal.signal(signum, signal.default_int_handler)
    try:
        session.start()
    except (OhifInstallError, OrthancError, DebianInstallError, OSError) as exc:
        print(f"viewer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # during the upload: start() has stopped what it started
        print("viewer: stopped before it was up", file=sys.stderr)
        return 130
    try:
        print(f"\nOHIF study list: {session.server.url}")
        for study in session.studies[:_LISTED]:
            entry = study.entry
            print(f"  {entry.app:<11} {entry.call or '-':<14} {session.server.study_url(entry.study_uid)}")
        if len(session.studies) > _LISTED:
            print(f"  ... and {len(session.studies) - _LISTED} more in the study list")
        print(f"Orthanc: {session.orthanc.url}/app/explorer.html    Ctrl-C stops both.", flush=True)
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not leave Orthanc running
            signal.signal(signum, signal.SIG_IGN)
        session.stop()
        print("viewer: stopped Orthanc and the web server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
