"""Stacks within one series: where its slices repeat positions, the echoes, acquisitions or temporal positions that
separate them, each a stack read (and selected) on its own.

Under one SeriesInstanceUID archives send a dual-echo PD/T2 (EchoNumbers 1 and 2, or per frame EffectiveEchoTime,
at the same positions), a series repeated as two acquisitions, or a dynamic series. Read as one stack, its slices
would interleave duplicates at each position. A series is split only where two slices share orientation and position
along the normal: many scanners give every 2D slice its own AcquisitionNumber, and such a series stays one stack.
A key separates the repeats when grouping by it leaves no position twice in a group and makes as many groups as a
position has repeats; the first key that does is used. Repeats no key separates stay one stack, with the reason.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dicom_in.frames import position_along_normal
from dicom_in.study import ImageSlice, Series

__all__ = ["SPLIT_KEYS", "Stack", "split_stacks", "stack_rank"]

logger = logging.getLogger(__name__)

# (attribute, what a group of it is), in the order tried: echoes, then acquisitions, then temporal positions. The
# frame spellings (MR Echo macro, Frame Content macro) follow the single-frame ones.
SPLIT_KEYS = (
    ("EchoNumbers", "echo"),
    ("EffectiveEchoTime", "echo"),
    ("EchoTime", "echo"),
    ("AcquisitionNumber", "acquisition"),
    ("FrameAcquisitionNumber", "acquisition"),
    ("TemporalPositionIdentifier", "temporal position"),
    ("TemporalPositionIndex", "temporal position"),
)
_ORIENTATION_DECIMALS = 3  # direction cosines equal to 0.001 are one orientation
_POSITION_DECIMALS = 2  # positions along the normal equal to 0.01 mm are one position


@dataclass(frozen=True)
class Stack:
    """The part of a series' slices one selection candidate holds, when the series' slices repeat positions.

    `kind` is "echo", "acquisition" or "temporal position" for a stack split off by `key`; "" when the repeats could
    not be separated and the series is read whole (then `why` says so).
    """

    kind: str
    key: str
    value: str
    index: int  # 1-based, in order of the key's value
    count: int
    slices: tuple[ImageSlice, ...]
    why: str
    echo_time: float | None = None  # ms, the stack's TE (EchoTime or EffectiveEchoTime) when its slices agree

    @property
    def label(self) -> str:
        """e.g. "echo 2 of 2 (EchoNumbers 2, TE 90 ms)"; "" for a series read whole."""
        if not self.kind:
            return ""
        te_key = self.key in ("EchoTime", "EffectiveEchoTime")
        te = f", TE {self.echo_time:g} ms" if self.echo_time is not None and not te_key else ""
        value = f"{self.key} {self.value}" + (" ms" if te_key else "") if self.value else f"no {self.key}"
        return f"{self.kind} {self.index} of {self.count} ({value}{te})"

    def to_json(self) -> dict[str, str]:
        """result.json's "stack" of a selection entry."""
        return {"name": self.label or "whole series", "why": self.why}


def _location(header: Dataset) -> tuple | None:
    """(orientation, position along the normal), rounded; None without usable geometry."""
    orientation, position = header.get("ImageOrientationPatient"), header.get("ImagePositionPatient")
    if position is None or orientation is None or len(orientation) != 6 or len(position) != 3:
        return None
    try:
        cosines = tuple(round(float(v), _ORIENTATION_DECIMALS) + 0.0 for v in orientation)  # + 0.0: no -0.0
        [float(v) for v in position]  # position_along_normal reads an unusable position as 0: not a position
    except (TypeError, ValueError):
        return None
    return cosines, round(position_along_normal(header), _POSITION_DECIMALS)


def _value(header: Dataset, keyword: str) -> str:
    """The attribute as text ("" when absent); numbers written alike whatever their spelling ("2", "2.0")."""
    value = header.get(keyword)
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value).strip()


def _order(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _echo_time(slices: list[ImageSlice]) -> float | None:
    times = {_value(s.header, "EffectiveEchoTime") or _value(s.header, "EchoTime") for s in slices}
    return float(times.pop()) if len(times) == 1 and "" not in times else None


def _separates(groups: dict[str, list[tuple]], repeats: int) -> bool:
    """Whether these groups are the repeats: one group per repeat, no position twice within a group."""
    return len(groups) == repeats and all(len(set(g)) == len(g) for g in groups.values())


def split_stacks(series: Series) -> list[Series]:
    """The series as its selection candidates: itself when no two slices share a position, else one Series (same
    UID) per echo, acquisition or temporal position, or itself with a Stack saying why the repeats stay together."""
    slices = series.slices
    locations = [_location(s.header) for s in slices]
    if len(slices) < 2 or None in locations:
        return [series]  # no geometry (radiographs, secondary captures): positions cannot repeat
    repeats = max(Counter(locations).values())
    if repeats < 2:
        return [series]
    study_uid = str(series.first.get("StudyInstanceUID", ""))
    positions = len(set(locations))
    for key, kind in SPLIT_KEYS:
        values = [_value(s.header, key) for s in slices]
        groups: dict[str, list[tuple]] = defaultdict(list)
        for value, location in zip(values, locations, strict=True):
            groups[value].append(location)
        if not _separates(groups, repeats):
            continue
        why = f"slices repeat {positions} position(s) up to {repeats} times; {key} separates them"
        logger.info("Study %s series %s: %s", study_uid, series.uid, why)
        parts = []
        for index, value in enumerate(sorted(groups, key=_order), start=1):
            members = [s for s, v in zip(slices, values, strict=True) if v == value]
            stack = Stack(kind, key, value, index, len(groups), tuple(members), why, _echo_time(members))
            instances = list({id(s.instance): s.instance for s in members}.values())
            parts.append(Series(uid=series.uid, instances=instances, stack=stack))
        return parts
    keys = ", ".join(key for key, _ in SPLIT_KEYS)
    why = f"slices repeat {positions} position(s) up to {repeats} times and none of {keys} separates them; read whole"
    logger.warning("Study %s series %s: %s", study_uid, series.uid, why)
    whole = Stack("", "", "", 1, 1, tuple(slices), why)
    return [Series(uid=series.uid, instances=series.instances, stack=whole)]


def stack_rank(stack: Stack | None, long_echo: bool) -> tuple[float, str]:
    """Order among the stacks of one series that match a rule (lower first), and the phrase that says why.

    Echoes: the shortest TE (most signal, least T2 decay) unless the rule wants T2 weighting (`long_echo`): then the
    longest. Acquisitions and temporal positions: the later one, as a repeat is made when the first was found
    wanting (motion) and the last phase is the one a dynamic series ends on.
    """
    if stack is None or not stack.kind:
        return 0.0, ""
    if stack.kind == "echo":
        if stack.echo_time is None:
            ordinal = float(stack.index)
            return (-ordinal, "the last echo, as the rule wants T2") if long_echo else (ordinal, "the first echo")
        te = stack.echo_time
        return (-te, "the longest TE, as the rule wants T2") if long_echo else (te, "the shortest TE")
    return -float(stack.index), f"the later {stack.kind}"
