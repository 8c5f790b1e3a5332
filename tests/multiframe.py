"""Test inputs as modern scanners and archives send them: a series converted to one Legacy Converted Enhanced MR."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

__all__ = ["legacy_converted", "convert_folder"]


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


def convert_folder(source: Path, target: Path, study_uid: str, keep: int = 2) -> list[Path]:
    """The study under `source` copied to `target` as study `study_uid`, each MR series of more than `keep` slices
    as one Legacy Converted Enhanced MR file; other files (localizers, ground truth) are copied as they are."""
    by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    written = []
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
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
            entropy_srcs=[study_uid, str(ds.SOPInstanceUID)]
        )
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
