"""Sending a study's results (SR, SC, SEG files) to a destination: C-STORE (pynetdicom) or STOW-RS (dicomweb-client).

A send either stores every file or raises SendError with a one-line reason; the caller retries later with
`backoff`. Sends are idempotent: our objects' SOP Instance UIDs are derived from the study, app and version, so
a PACS that already holds one keeps one copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import UID, ImplicitVRLittleEndian
from pynetdicom import AE

from pacs.config import Destination, DicomDestination, DicomWebDestination
from run.ledger import one_line

__all__ = ["SendError", "send_files", "backoff"]

logger = logging.getLogger(__name__)

_TIMEOUT = 30.0  # seconds for association, DIMSE and HTTP: a destination that hangs is a failed attempt


class SendError(RuntimeError):
    """A destination did not take every file (one-line reason)."""


def backoff(attempts: int, first: float, most: float) -> float:
    """Seconds to wait after `attempts` failed attempts: first, 2x, 4x, ... capped at `most`."""
    return min(first * 2 ** max(attempts - 1, 0), most)


def _c_store(destination: DicomDestination, files: Sequence[Path], calling_ae: str) -> None:
    datasets = [pydicom.dcmread(path) for path in files]
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = _TIMEOUT
    # One presentation context per (SOP class, transfer syntax): the acceptor takes one syntax per context.
    pairs = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
    # Uncompressed objects (all of ours) may also go as Implicit VR Little Endian, which every SCP must take.
    pairs |= {(sop_class, ImplicitVRLittleEndian) for sop_class, syntax in pairs if not UID(syntax).is_compressed}
    for sop_class, syntax in sorted(pairs):
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise SendError(f"{destination}: association not accepted (rejected, aborted or no answer)")
    try:
        for path, ds in zip(files, datasets, strict=True):
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code is None:
                raise SendError(f"{destination}: no answer to C-STORE of {path.name}")
            if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:  # B0xx: stored with a warning
                raise SendError(f"{destination}: C-STORE of {path.name} answered 0x{code:04X}")
    finally:
        assoc.release()


def _stow(destination: DicomWebDestination, files: Sequence[Path]) -> None:
    client = DICOMwebClient(destination.url, timeout=_TIMEOUT)
    datasets = [pydicom.dcmread(path) for path in files]
    for study_uid in sorted({str(ds.StudyInstanceUID) for ds in datasets}):
        mine = [ds for ds in datasets if str(ds.StudyInstanceUID) == study_uid]
        try:
            answer = client.store_instances(mine, study_instance_uid=study_uid)
        except requests.RequestException as exc:
            raise SendError(f"{destination}: {one_line(exc, 300)}") from exc
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            raise SendError(f"{destination}: STOW-RS refused {len(failed)} of {len(mine)} instances")


def send_files(destination: Destination, files: Sequence[Path], calling_ae: str) -> None:
    """Store every file at `destination`; SendError (one line) if it did not take them all."""
    if not files:
        return
    try:
        if isinstance(destination, DicomDestination):
            _c_store(destination, files, calling_ae)
        else:
            _stow(destination, files)
    except SendError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # sockets, unreadable result files, pynetdicom's own errors
        raise SendError(f"{destination}: {type(exc).__name__}: {one_line(exc, 300)}") from exc
