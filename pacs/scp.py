"""The node's C-STORE SCP (+ C-ECHO): pynetdicom on the configured address and AE title.

Only the configured calling AE titles may associate (pynetdicom rejects the others at association). Each
instance is checked just enough to file it (StudyInstanceUID, SOPInstanceUID), then handed to `receive`,
which spools it; what can't be filed is answered with a failure status and logged with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

import pydicom
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from dicom_out.equipment import MANUFACTURER

__all__ = ["StoreSCP", "Received", "BadInstance", "parse_instance", "OUT_OF_RESOURCES", "CANNOT_UNDERSTAND", "SUCCESS"]

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # "Refused: Out of Resources" (PS3.4 C-STORE status)
CANNOT_UNDERSTAND = 0xC000  # "Error: Cannot understand" (C000-CFFF)
_FILE_TAGS = ["StudyInstanceUID", "SOPInstanceUID", "Manufacturer"]


class BadInstance(ValueError):
    """An instance that can't be filed (one-line reason)."""


@dataclass(frozen=True)
class Received:
    """One instance as it arrived: its bytes (Part 10, as received), UIDs, who sent it, and whether we made it."""

    payload: bytes
    study_uid: str
    sop_instance_uid: str
    source: str  # the calling AE title, or the DICOMweb service it was pulled from
    own_result: bool  # our own SR/SC/SEG coming back (a PACS routing rule, or pulled with its study)


def parse_instance(payload: bytes, source: str, sop_uid: str = "") -> Received:
    """Just enough of a Part 10 instance to file it; BadInstance (one line) if it can't be."""
    try:
        header = pydicom.dcmread(BytesIO(payload), stop_before_pixels=True, specific_tags=_FILE_TAGS)
        study_uid = str(header.get("StudyInstanceUID", "") or "")
        sop_uid = str(header.get("SOPInstanceUID", "") or sop_uid)
    except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, AttributeError) as exc:
        raise BadInstance(f"undecodable data set ({type(exc).__name__}: {exc})") from exc
    if not study_uid or not sop_uid:
        raise BadInstance(f"no {'StudyInstanceUID' if not study_uid else 'SOPInstanceUID'}: cannot be filed")
    own = str(header.get("Manufacturer", "")) == MANUFACTURER
    return Received(payload, study_uid, sop_uid, source, own)


class StoreSCP:
    """Listens for C-ECHO and C-STORE; `receive(Received) -> status` files each instance, `refuse` logs a bad one."""

    def __init__(
        self,
        ae_title: str,
        host: str,
        port: int,
        calling_ae_titles: tuple[str, ...],
        receive: Callable[[Received], int],
        refuse: Callable[[str, str, str], None],
        has_room: Callable[[], bool],
    ) -> None:
        self.address = (host, port)
        self._receive = receive
        self._refuse = refuse  # (item, study UID, reason)
        self._has_room = has_room
        self.ae = AE(ae_title=ae_title)
        # An empty list would let anyone in; the config requires at least one title.
        self.ae.require_calling_aet = list(calling_ae_titles)
        self.ae.maximum_pdu_size = 0  # take whatever PDU size the sender proposes (fewer round trips)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self._server: ThreadedAssociationServer | None = None

    def start(self) -> None:
        """Start listening (in pynetdicom's threads)."""
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, lambda event: SUCCESS)]
        self._server = self.ae.start_server(self.address, block=False, evt_handlers=handlers)
        logger.info("DICOM node %s listening on %s:%d", self.ae.ae_title, *self.address)

    def stop(self) -> None:
        """Stop listening and close every association."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_store(self, event: evt.Event) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        sop_uid = str(event.request.AffectedSOPInstanceUID or "")
        if not self._has_room():
            logger.warning("Refusing instance %s from %s: free space under the floor", sop_uid, calling)
            return OUT_OF_RESOURCES
        try:
            received = parse_instance(event.encoded_dataset(include_meta=True), calling, sop_uid)
        except BadInstance as exc:
            self._refuse(f"instance {sop_uid or '?'} from {calling}", "", str(exc))
            return CANNOT_UNDERSTAND
        return self._receive(received)
