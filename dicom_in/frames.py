"""The frames of a multi-frame image as the headers they would have on their own, and the order of slices in space.

An Enhanced (or Legacy Converted Enhanced) MR object keeps per-frame attributes in functional group macros: the
Shared Functional Groups Sequence holds what every frame has in common, the Per-Frame Functional Groups Sequence
what differs (PS3.3 C.7.6.16). Each macro is a sequence whose one item holds the attributes a single-frame image
carries at its top level (Plane Position → ImagePositionPatient, Pixel Value Transformation → RescaleSlope, MR Echo
→ EffectiveEchoTime, Frame Anatomy → AnatomicRegionSequence, ...). A frame's header is therefore the instance's
top-level attributes with the shared macros, then its own per-frame macros, written over them: every reader of
single-frame headers (plane, weighting, rescale, laterality, the apps' geometry) reads a frame the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag

__all__ = ["FrameHeader", "frame_count", "frame_headers", "is_multiframe", "position_along_normal"]

_SHARED = Tag("SharedFunctionalGroupsSequence")
_PER_FRAME = Tag("PerFrameFunctionalGroupsSequence")
# Macros whose items are references to other instances, not attributes of the frame: kept as sequences.
_REFERENCE_MACROS = frozenset(
    {
        "ReferencedImageSequence",
        "DerivationImageSequence",
        "ConversionSourceAttributesSequence",
        "RealWorldValueMappingSequence",
        "ContrastBolusUsageSequence",
    }
)


class FrameHeader(Dataset):
    """The header of one frame of a multi-frame image, flattened as if it were a single-frame image.

    `frame_number` is the 1-based frame number DICOM references use; `instance` is the multi-frame header
    itself (with its functional groups), which writers that reference the whole object (a SEG) need.
    """

    def __init__(self, elements: dict, frame_number: int, instance: Dataset) -> None:
        super().__init__(elements)
        self.frame_number = frame_number
        self.instance = instance
        if "file_meta" in instance.__dict__:
            self.file_meta = instance.file_meta


def frame_count(header: Dataset) -> int:
    """NumberOfFrames as the header states it, 1 when absent or unusable."""
    try:
        count = int(header.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return 1
    return max(count, 1)


def is_multiframe(header: Dataset) -> bool:
    """Whether the image is referenced frame by frame: it has functional groups, or more than one frame."""
    return _SHARED in header or _PER_FRAME in header or frame_count(header) > 1


def _macro_elements(group_item: Dataset) -> Iterator:
    """The attributes one functional group item contributes to a frame's header."""
    for element in group_item:
        if element.VR == "SQ" and element.keyword not in _REFERENCE_MACROS and len(element.value) == 1:
            yield from element.value[0]
        else:
            yield element


def frame_headers(header: Dataset, frames: int | None = None) -> list[FrameHeader]:
    """Headers of the first `frames` frames (default: every frame the header describes), 1-based numbered.

    The caller bounds `frames`: a header may claim far more frames than it describes or than memory holds.
    """
    top = {tag: element for tag, element in header.items() if tag not in (_SHARED, _PER_FRAME)}
    shared = list(header.get(_SHARED).value) if _SHARED in header else []
    per_frame = list(header.get(_PER_FRAME).value) if _PER_FRAME in header else []
    count = frame_count(header) if frames is None else frames
    if per_frame:
        count = min(count, len(per_frame))
    base = dict(top)
    for item in shared[:1]:
        base.update((element.tag, element) for element in _macro_elements(item))
    views = []
    for index in range(count):
        elements = dict(base)
        if index < len(per_frame):
            elements.update((element.tag, element) for element in _macro_elements(per_frame[index]))
        views.append(FrameHeader(elements, index + 1, header))
    return views


def position_along_normal(header: Dataset) -> float:
    """ImagePositionPatient projected on the slice normal (mm); 0 when the header has no usable geometry."""
    position = header.get("ImagePositionPatient")
    orientation = header.get("ImageOrientationPatient")
    if position is None or orientation is None or len(orientation) != 6 or len(position) != 3:
        return 0.0
    try:
        values = np.asarray([float(v) for v in orientation], float)
        point = np.asarray([float(v) for v in position], float)
    except (TypeError, ValueError):
        return 0.0
    return float(np.dot(point, np.cross(values[:3], values[3:])))
