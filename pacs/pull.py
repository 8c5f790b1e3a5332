"""Pull mode: find studies by QIDO-RS (by UID or a StudyDate range) and fetch them by WADO-RS (dicomweb-client)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from io import BytesIO

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from run.ledger import one_line

__all__ = ["PullError", "find_studies", "fetch_study", "date_range"]

logger = logging.getLogger(__name__)

_DATE = re.compile(r"\d{8}")
_STUDY_UID_TAG = "0020000D"


class PullError(RuntimeError):
    """The DICOMweb service could not be searched or read (one line)."""


def date_range(since: str | None, until: str | None) -> str:
    """A QIDO StudyDate range ("20260101-20260131", "20260101-", "-20260131") from YYYYMMDD bounds."""
    for value in (since, until):
        if value and not _DATE.fullmatch(value):
            raise ValueError(f"dates are YYYYMMDD, got {value!r}")
    return f"{since or ''}-{until or ''}"


def _client(url: str) -> DICOMwebClient:
    return DICOMwebClient(url.rstrip("/"), timeout=60)


def find_studies(url: str, study_uids: list[str], since: str | None = None, until: str | None = None) -> list[str]:
    """The StudyInstanceUIDs to pull: those given that the service has, or every study in the date range."""
    client = _client(url)
    filters = {"StudyDate": date_range(since, until)} if since or until else {}
    try:
        if study_uids:
            found = []
            for uid in study_uids:
                found += client.search_for_studies(search_filters={"StudyInstanceUID": uid})
        else:
            found = client.search_for_studies(search_filters=filters, get_remaining=True)
    except requests.RequestException as exc:
        raise PullError(f"QIDO-RS search at {url} failed: {one_line(exc, 300)}") from exc
    uids = [str(study[_STUDY_UID_TAG]["Value"][0]) for study in found if study.get(_STUDY_UID_TAG, {}).get("Value")]
    missing = sorted(set(study_uids) - set(uids))
    if missing:
        logger.warning("Not at %s: %s", url, missing)
    return list(dict.fromkeys(uids))


def _part10(dataset: Dataset) -> bytes:
    """A retrieved instance as a Part 10 file (its transfer syntax kept)."""
    buffer = BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def fetch_study(url: str, study_uid: str) -> Iterator[tuple[str, bytes]]:
    """(SOPInstanceUID, Part 10 bytes) of every instance of the study, in the transfer syntax it is stored in."""
    try:
        datasets = _client(url).retrieve_study(study_uid, media_types=(("application/dicom", "*"),))
    except requests.RequestException as exc:
        raise PullError(f"WADO-RS retrieve of study {study_uid} from {url} failed: {one_line(exc, 300)}") from exc
    for dataset in datasets:
        yield str(dataset.SOPInstanceUID), _part10(dataset)
