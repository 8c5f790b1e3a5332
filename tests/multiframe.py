"""Test inputs as modern scanners and archives send them: a series converted to one Legacy Converted Enhanced MR,
or sent with a second echo or acquisition of every slice under the same SeriesInstanceUID."""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

__all__ = ["legacy_converted", "convert_folder", "repeat_folder"]


def legacy_converted(slices: list[Dataset], series_number: int = 99) -> hd.legacy.LegacyConvertedEnhancedMRImage:
    """One Legacy Converted Enhanced MR object (highdicom) of the single-frame MR `slices` of one series."""
    uid = str(slices[0].SeriesInstanceUID)
    # highdicom warns for each Type 1 attribute of a macro it cannot fill (e.g. an empty Frame VOI LUT): not ours.
    logging.getLogger("highdicom.legacy").setLevel(logging.ERROR)
    return hd.legacy.LegacyConvertedEnhancedMRImage(
        slices,
        series_instance_uid=generate_uid(entropy_srcs=[uid, "enhanced"]),
        series_number=series_number,
        sop_instance_uid=generate_uid(entropy_srcs=[uid, "enhanced", "sop"]),
        instance_number=1,
    )


def _copied_study(source: Path, target: Path, study_uid: str) -> Iterator[tuple[Path, Dataset]]:
    """Each DICOM file under `source` as study `study_uid` (new series and SOP UIDs) with the path it gets under
    `target`; other files (ground truth) are copied as they are."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            out.write_bytes(path.read_bytes())
            continue
        old_series = str(ds.SeriesInstanceUID)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=[study_uid, old_series])
        _new_sop(ds, study_uid)
        yield out, ds


def _new_sop(ds: Dataset, *entropy: str) -> None:
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
        entropy_srcs=[*entropy, str(ds.SOPInstanceUID)]
    )


def convert_folder(source: Path, target: Path, study_uid: str, keep: int = 2) -> list[Path]:
    """The study under `source` copied to `target` as study `study_uid`, each MR series of more than `keep` slices
    as one Legacy Converted Enhanced MR file; other files (localizers, ground truth) are copied as they are."""
    by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    written = []
    for out, ds in _copied_study(source, target, study_uid):
        by_series[str(ds.SeriesInstanceUID)].append((out, ds))
    for members in by_series.values():
        datasets = [ds for _, ds in members]
        if datasets[0].Modality != "MR" or len(datasets) <= keep:
            for out, ds in members:
                ds.save_as(out, enforce_file_format=True)
                written.append(out)
            continue
        out = members[0][0].with_name("enhanced.dcm")
        legacy_converted(datasets, int(datasets[0].SeriesNumber)).save_as(out, enforce_file_format=True)
        written.append(out)
    return written


Repeat = Callable[[Dataset], tuple[dict[str, object], dict[str, object]] | None]


def repeat_folder(source: Path, target: Path, study_uid: str, repeat: Repeat) -> list[Path]:
    """The study under `source` copied to `target` as study `study_uid`; where `repeat(slice)` gives (own, copy), the
    slice is written with the attributes `own` and again, in the same series at the same position, as a second echo
    or acquisition: a new SOPInstanceUID, the attributes `copy`, and its pixels upside down (so reading the copy
    instead of the slice would change what an app finds)."""
    written = []
    for out, ds in _copied_study(source, target, study_uid):
        attributes = repeat(ds)
        if attributes is not None:
            own, repeated = attributes
            twin = copy.deepcopy(ds)
            _new_sop(twin, study_uid, "repeat")
            twin.InstanceNumber = int(ds.InstanceNumber) + 1000
            twin.PixelData = np.flipud(ds.pixel_array).tobytes()
            for keyword, value in own.items():
                setattr(ds, keyword, value)
            for keyword, value in repeated.items():
                setattr(twin, keyword, value)
            twin_path = out.with_name(f"repeat_{out.name}")
            twin.save_as(twin_path, enforce_file_format=True)
            written.append(twin_path)
        ds.save_as(out, enforce_file_format=True)
        written.append(out)
    return written
