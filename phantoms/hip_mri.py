"""Synthetic hip (pelvis) MRI studies for femoral-head necrosis grading, with exact pixel-count ground truth.

An analytic pelvis (body outline, subcutaneous and pelvic fat, muscle, bladder, sacrum, acetabula with their
columns, both femora: head, neck, greater trochanter, shaft) is evaluated on each series' slice grid, so every
series is a consistent view of the same patient. A femoral head may carry osteonecrosis: an anterosuperior
subchondral region, low signal on T1 and bordered by a dark band. The necrotic region is the set of head
points whose smooth score (distance from an anterosuperior subchondral point plus a gentle wobble) lies below
a threshold; the threshold is chosen on the axial T1 key slice (the slice with the largest head area) so that
exactly k of its head pixels are necrotic, with k set from the hip's target ratio. Hips at the grading
boundaries get a head radius tuned so that 0.1 %, 15 % or 30 % is reachable exactly in pixel counts.
Coordinates are DICOM patient LPS in mm: +x patient left, +y posterior, +z superior.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import MRImageStorage

from phantoms.cli_arguments import add_common_arguments
from phantoms.dicom_headers import (
    PatientInfo,
    new_dataset,
    phantom_uid,
    sanitise,
    set_image_plane,
    set_mr_image,
    set_pixels,
    write_dataset,
)
from phantoms.mr_image import ORIENTATION, AcquisitionRow, mr_acquisition, render_magnitude

__all__ = [
    "GROUND_TRUTH_FILE",
    "MASKS_FILE",
    "ORIENTATION",
    "SCENARIOS",
    "TISSUES",
    "Hip",
    "Pelvis",
    "SliceGrid",
    "add_subcommand",
    "generate_hip_mri_dataset",
    "hip_labels",
    "necrosis_score",
    "write_hip_mri_study",
]

logger = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "ground_truth.json"
MASKS_FILE = "ground_truth_masks.npz"
LOCALIZER_PLANES = ("axial", "coronal", "sagittal")
TISSUES = ("background", "muscle", "fat", "cortex", "marrow", "cartilage", "fluid", "necrosis", "band")
# Signal per tissue on a 12-bit scale, in TISSUES order, per contrast.
CONTRAST: dict[str, tuple[float, ...]] = {
    "T1": (15, 680, 1900, 90, 1650, 800, 300, 420, 140),
    "T2FS": (15, 620, 240, 80, 250, 950, 2500, 1150, 150),
    "STIR": (15, 600, 180, 70, 220, 1000, 2700, 1400, 160),
    "LOC": (15, 900, 1500, 90, 1300, 900, 600, 700, 200),
}
# Per contrast (see AcquisitionRow).
ACQUISITION: dict[str, AcquisitionRow] = {
    "T1": ("SE", "SP", (450.0, 650.0), (10.0, 20.0), 1, 90.0),
    "T2FS": ("SE", "SK\\SP\\OSP", (3200.0, 5200.0), (60.0, 90.0), 14, 150.0),
    "STIR": ("IR", "SK\\SP\\MP", (4000.0, 6500.0), (35.0, 60.0), 12, 150.0),
    "LOC": ("GR", "SP", (7.0, 10.0), (3.0, 5.0), 1, 20.0),
}
DESCRIPTIONS: dict[tuple[str, str], list[str]] = {
    ("T1", "axial"): ["AX T1 SE PELVIS", "AX T1 SE HIPS", "T1 SE AX PELVIS", "t1_se_tra_pelvis"],
    ("T2FS", "axial"): ["AX T2 FS PELVIS", "AX T2 FATSAT", "t2_tse_fs_tra"],
    ("STIR", "axial"): ["AX STIR PELVIS", "STIR AX", "t2_tirm_tra"],
    ("T1", "coronal"): ["COR T1 SE PELVIS", "COR T1 HIPS", "t1_se_cor"],
    ("LOC", "localizer"): ["3-plane LOC", "LOCALIZER", "Survey"],
}
# Per-hip necrosis targets, cycled over the hips of a dataset and then shuffled: every 12 hips see all four
# grades, the three boundaries hit exactly where pixel counts allow, and one pixel either side of them.
SCENARIOS = (
    "healthy",
    "mild",
    "at_15",
    "moderate",
    "at_30",
    "severe",
    "at_0.1",
    "below_15",
    "above_30",
    "healthy",
    "below_0.1",
    "mild",
)
_BOUNDARY_PERCENT = {"0.1": (1, 1000), "15": (3, 20), "30": (3, 10)}  # percent as numerator / denominator
_RANDOM_PERCENT = {"mild": (1.0, 14.0), "moderate": (16.0, 29.0), "severe": (32.0, 48.0)}
HEAD_RADIUS_MM = (21.0, 26.0)
_JOINT_MM = 1.8  # acetabular cartilage and joint space between the head and the acetabular bone

Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Hip:
    """One femur's proximal end and its (optional) necrosis; `side` "R" lies at -x, "L" at +x."""

    side: str
    center: tuple[float, float, float]
    radius: float
    cortex_mm: float
    neck_direction: tuple[float, float, float]  # unit vector, lateral-inferior-anterior
    neck_length: float
    necrosis_point: tuple[float, float, float]  # anterosuperior, subchondral
    wobble: tuple[float, ...]  # amplitude, then two wave vectors (3 each) and two phases
    threshold: float | None = None  # head points with a score below this are necrotic; None: healthy
    band_mm: float = 1.5  # score width of the dark demarcating band at the necrosis border

    @property
    def lateral(self) -> float:
        """+1 when patient left (+x) is lateral (left hip), -1 for the right hip."""
        return 1.0 if self.side == "L" else -1.0


@dataclass(frozen=True)
class Pelvis:
    """Per-patient shape parameters (mm, LPS)."""

    body_center: tuple[float, float]
    body_axes: tuple[float, float]
    fat_mm: float
    bladder_center: tuple[float, float, float]
    bladder_axes: tuple[float, float, float]
    sacrum_center: tuple[float, float, float]
    hips: tuple[Hip, Hip]  # right, left


@dataclass(frozen=True)
class SliceGrid:
    """Sampling grid of one series: plane(s), matrix, spacing and the ImagePositionPatient of every slice."""

    planes: tuple[str, ...]  # one per slice
    matrix: tuple[int, int]  # rows, columns
    pixel_mm: float
    spacing_mm: float
    thickness_mm: float
    corners: tuple[tuple[float, float, float], ...]

    def points(self, k: int) -> Coords:
        """x, y, z of slice k's pixel centres as float64 arrays broadcasting to (rows, cols)."""
        o = np.asarray(ORIENTATION[self.planes[k]])
        row_dir, col_dir = o[:3], o[3:]
        c = np.arange(self.matrix[1], dtype=np.float64)[None, :] * self.pixel_mm
        r = np.arange(self.matrix[0], dtype=np.float64)[:, None] * self.pixel_mm
        coords = []
        for i in range(3):
            value = np.full((1, 1), self.corners[k][i], np.float64)
            if row_dir[i]:
                value = value + c * row_dir[i]
            if col_dir[i]:
                value = value + r * col_dir[i]
            coords.append(value)
        return coords[0], coords[1], coords[2]


def _sq_dist(p: Coords, center: tuple[float, float, float]) -> np.ndarray:
    return (p[0] - center[0]) ** 2 + (p[1] - center[1]) ** 2 + (p[2] - center[2]) ** 2


def _ellipsoid(p: Coords, center: tuple[float, float, float], axes: tuple[float, float, float]) -> np.ndarray:
    """Squared normalised radius: < 1 inside."""
    return sum(((p[i] - center[i]) / axes[i]) ** 2 for i in range(3))


def necrosis_score(p: Coords, hip: Hip) -> np.ndarray:
    """Smooth score whose sublevel sets inside the head are the nested candidate necrotic regions."""
    amplitude = hip.wobble[0]
    k1, k2, phases = hip.wobble[1:4], hip.wobble[4:7], hip.wobble[7:9]
    wave1 = k1[0] * p[0] + k1[1] * p[1] + k1[2] * p[2] + phases[0]
    wave2 = k2[0] * p[0] + k2[1] * p[1] + k2[2] * p[2] + phases[1]
    return np.sqrt(_sq_dist(p, hip.necrosis_point)) + amplitude * np.sin(wave1) * np.cos(wave2)


def _window(points: Coords, low: tuple[float, ...], high: tuple[float, ...]) -> tuple[slice, slice] | None:
    """Rows and columns of the grid whose points lie in the box [low, high]; None when none do.

    Points of an axial, coronal or sagittal grid vary along rows or along columns only, so the box maps to
    one contiguous block: structures are evaluated there only, which keeps a study fast to write.
    """
    shape = np.broadcast_shapes(*(a.shape for a in points))
    bounds = [[0, shape[0]], [0, shape[1]]]
    for a, lo, hi in zip(points, low, high, strict=True):
        inside = (a >= lo) & (a <= hi)
        if a.size == 1:
            if not bool(inside.item()):
                return None
            continue
        if a.ndim != 2 or min(a.shape) != 1:
            return slice(None), slice(None)  # an oblique grid: no block to cut, evaluate everywhere
        index = np.flatnonzero(inside)
        if index.size == 0:
            return None
        axis = 0 if a.shape[0] > 1 else 1
        bounds[axis] = [max(bounds[axis][0], int(index[0])), min(bounds[axis][1], int(index[-1]) + 1)]
    if bounds[0][0] >= bounds[0][1] or bounds[1][0] >= bounds[1][1]:
        return None
    return slice(*bounds[0]), slice(*bounds[1])


def _cut(points: Coords, block: tuple[slice, slice]) -> Coords:
    """The points of one block of the grid."""
    return tuple(a[block[0] if a.shape[0] > 1 else slice(None), block[1] if a.shape[1] > 1 else slice(None)]
                 for a in points)  # type: ignore[return-value]  # fmt: skip


class _Painter:
    """Paints tissues into a block of the label image, later structures over earlier ones."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def put(self, mask: np.ndarray, tissue: str) -> None:
        self.labels[np.broadcast_to(mask, self.labels.shape)] = TISSUES.index(tissue)

    def bone(self, inside: np.ndarray, marrow: np.ndarray) -> None:
        self.put(inside, "cortex")
        self.put(inside & marrow, "marrow")


def _paint_soft_tissue(p: Coords, pelvis: Pelvis, paint: _Painter) -> None:
    """Subcutaneous fat around muscle (a z-independent outline), the bladder in pelvic fat, the sacrum."""
    x, y, _ = p
    bx, by = pelvis.body_center
    ax, ay = pelvis.body_axes
    f = pelvis.fat_mm
    paint.put(((x - bx) / ax) ** 2 + ((y - by) / ay) ** 2 < 1.0, "fat")
    paint.put(((x - bx) / (ax - f)) ** 2 + ((y - by) / (ay - 0.8 * f)) ** 2 < 1.0, "muscle")


def _paint_femur_and_acetabulum(p: Coords, pelvis: Pelvis, hip: Hip, paint: _Painter) -> None:
    """Shaft, greater trochanter, neck, acetabular cartilage, cup and columns of one hip (not its head)."""
    x, y, z = p
    cx, cy, cz = hip.center
    r, medial = hip.radius, -hip.lateral
    outside_joints = np.ones((1, 1), bool)
    for any_hip in pelvis.hips:
        outside_joints = outside_joints & (_sq_dist(p, any_hip.center) >= (any_hip.radius + _JOINT_MM) ** 2)
    dist2 = _sq_dist(p, hip.center)
    shaft = ((x - (cx + hip.lateral * (r + 8.0))) / 13.0) ** 2 + ((y - (cy + 4.0)) / 13.0) ** 2
    paint.bone((shaft < 1.0) & (z < cz - 26.0), shaft < 0.5)
    trochanter = _ellipsoid(p, (cx + hip.lateral * (r + 19.0), cy + 7.0, cz - 20.0), (13.0, 17.0, 20.0))
    paint.bone(trochanter < 1.0, trochanter < 0.7)
    n = hip.neck_direction
    along = (x - cx) * n[0] + (y - cy) * n[1] + (z - cz) * n[2]
    perp2 = dist2 - along**2
    neck_r = 0.6 * r
    neck = (along > 0.0) & (along < hip.neck_length) & (perp2 < neck_r**2)
    paint.bone(neck & outside_joints, perp2 < (neck_r - 2.2) ** 2)
    # The cup opens laterally and inferiorly; its anterior (pubic) and posterior (ischial) columns run medially.
    a = np.array([0.8 * medial, 0.0, 0.6])
    cup = (x - cx) * a[0] + (y - cy) * a[1] + (z - cz) * a[2]
    dist = np.sqrt(dist2)
    paint.put((dist2 >= r**2) & (dist < r + _JOINT_MM) & (cup > 0.18 * dist), "cartilage")
    shell = (dist >= r + _JOINT_MM) & (dist < r + 9.0) & (cup > 0.2 * dist)
    paint.bone(shell, (dist > r + 3.4) & (dist < r + 7.4) & (cup > 0.28 * dist))
    for offset, axes in (
        ((medial * (r + 7.0), -0.7 * r, -6.0), (12.0, 10.0, 30.0)),
        ((medial * (r + 4.0), 0.75 * r, -9.0), (11.0, 14.0, 30.0)),
    ):
        column = _ellipsoid(p, (cx + offset[0], cy + offset[1], cz + offset[2]), axes)
        paint.bone((column < 1.0) & outside_joints, column < 0.55)


def hip_labels(points: Coords, pelvis: Pelvis) -> tuple[np.ndarray, np.ndarray]:
    """(tissue index into TISSUES, femoral-head label 0/1 right/2 left) at each point; pure, no randomness.

    `points` are the x, y, z of a grid broadcasting to (rows, cols), as `SliceGrid.points` gives them.
    """
    shape = np.broadcast_shapes(*(a.shape for a in points))
    labels = np.zeros(shape, np.uint8)
    head = np.zeros(shape, np.uint8)
    _paint_soft_tissue(points, pelvis, _Painter(labels))
    inf = np.inf

    def block_of(low: tuple[float, ...], high: tuple[float, ...]) -> tuple[tuple[slice, slice], Coords] | None:
        block = _window(points, low, high)
        return None if block is None else (block, _cut(points, block))

    fat_axes = tuple(1.38 * a for a in pelvis.bladder_axes)  # 1.38² ≈ 1.9: the perivesical fat
    c = pelvis.bladder_center
    found = block_of(tuple(c[i] - fat_axes[i] for i in range(3)), tuple(c[i] + fat_axes[i] for i in range(3)))
    if found:
        block, p = found
        bladder = _ellipsoid(p, c, pelvis.bladder_axes)
        paint = _Painter(labels[block])
        paint.put(bladder < 1.9, "fat")
        paint.put(bladder < 1.0, "fluid")
    c, sacrum_axes = pelvis.sacrum_center, (32.0, 14.0, 40.0)
    found = block_of(tuple(c[i] - sacrum_axes[i] for i in range(3)), tuple(c[i] + sacrum_axes[i] for i in range(3)))
    if found:
        block, p = found
        sacrum = _ellipsoid(p, c, sacrum_axes)
        _Painter(labels[block]).bone(sacrum < 1.0, sacrum < 0.6)
    for hip in pelvis.hips:
        cx, cy, cz = hip.center
        found = block_of((cx - 70.0, cy - 50.0, -inf), (cx + 70.0, cy + 50.0, cz + hip.radius + 15.0))
        if found:
            block, p = found
            _paint_femur_and_acetabulum(p, pelvis, hip, _Painter(labels[block]))
    # Heads last: nothing drawn later may cover them, so the head label equals the head's tissue.
    for label, hip in enumerate(pelvis.hips, start=1):
        r = hip.radius
        found = block_of(tuple(v - r for v in hip.center), tuple(v + r for v in hip.center))
        if not found:
            continue
        block, p = found
        paint = _Painter(labels[block])
        dist2 = _sq_dist(p, hip.center)
        inside = np.broadcast_to(dist2 < r**2, paint.labels.shape)
        paint.bone(inside, dist2 < (r - hip.cortex_mm) ** 2)
        head[block][inside] = label
        if hip.threshold is not None:
            score = necrosis_score(p, hip)
            necrotic = inside & (score < hip.threshold)
            paint.put(necrotic, "necrosis")
            paint.put(necrotic & (score >= hip.threshold - hip.band_mm), "band")
    return labels, head


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(sum(c * c for c in v))
    return (v[0] / n, v[1] / n, v[2] / n)


def _make_hip(rng: np.random.Generator, side: str, hx: float, hy: float, hz: float) -> Hip:
    lateral = 1.0 if side == "L" else -1.0
    radius = round(float(rng.uniform(*HEAD_RADIUS_MM)), 4)
    center = (lateral * (hx + rng.normal(0, 1.5)), hy + rng.normal(0, 1.5), hz + rng.normal(0, 1.0))
    center = tuple(round(float(c), 4) for c in center)
    # Neck-shaft angle ~130 degrees and ~12 degrees of anteversion (anterior is -y in LPS).
    neck = _unit((lateral * 0.72, -0.16 + rng.normal(0, 0.04), -0.6 + rng.normal(0, 0.05)))
    # Anterosuperior subchondral point: tilted forward from the top of the head, a little lateral.
    tilt = math.radians(rng.uniform(55.0, 68.0))
    direction = _unit((lateral * rng.uniform(0.05, 0.25), -math.sin(tilt), math.cos(tilt)))
    depth = radius - rng.uniform(3.0, 4.5)
    point = tuple(round(float(c + depth * d), 4) for c, d in zip(center, direction, strict=True))
    wavelength = rng.uniform(18.0, 30.0, 2)
    k1 = rng.normal(size=3)
    k2 = rng.normal(size=3)
    k1 *= 2 * math.pi / wavelength[0] / np.linalg.norm(k1)
    k2 *= 2 * math.pi / wavelength[1] / np.linalg.norm(k2)
    wobble = (float(rng.uniform(1.0, 2.0)), *map(float, k1), *map(float, k2), *map(float, rng.uniform(0, 6.3, 2)))
    return Hip(
        side=side,
        center=center,
        radius=radius,
        cortex_mm=float(rng.uniform(1.2, 1.8)),
        neck_direction=neck,
        neck_length=float(rng.uniform(38.0, 46.0)),
        necrosis_point=point,
        wobble=wobble,
        band_mm=float(rng.uniform(1.2, 2.0)),
    )


def _make_pelvis(rng: np.random.Generator) -> Pelvis:
    hx, hy, hz = float(rng.uniform(82.0, 95.0)), float(rng.uniform(-4.0, 8.0)), float(rng.normal(0, 3.0))
    hips = (_make_hip(rng, "R", hx, hy, hz), _make_hip(rng, "L", hx, hy, hz))
    fat = float(rng.uniform(12.0, 28.0))
    # Wide enough that the trochanters sit in muscle under the fat.
    half_width = max(float(rng.uniform(155.0, 178.0)), hx + max(h.radius for h in hips) + 34.0 + fat)
    body_center = (float(rng.normal(0, 3.0)), hy + float(rng.uniform(0.0, 12.0)))
    half_depth = float(rng.uniform(100.0, 120.0))
    bladder_axes = (float(rng.uniform(22.0, 33.0)), float(rng.uniform(20.0, 32.0)), float(rng.uniform(22.0, 35.0)))
    bladder = (float(rng.normal(0, 3.0)), hy - float(rng.uniform(28.0, 40.0)), hz + float(rng.uniform(-5.0, 15.0)))
    sacrum = (0.0, body_center[1] + half_depth - 45.0, hz + float(rng.uniform(30.0, 45.0)))
    return Pelvis(body_center, (half_width, half_depth), fat, bladder, bladder_axes, sacrum, hips)


def _slab_grid(
    plane: str, slices: int, matrix: tuple[int, int], pixel_mm: float, spacing_mm: float, thickness: float,
    center: np.ndarray, descending: bool = False,
) -> SliceGrid:  # fmt: skip
    """A stack of parallel slices centred on `center`; corners rounded as written to the header."""
    o = np.asarray(ORIENTATION[plane])
    row_dir, col_dir = o[:3], o[3:]
    normal = np.cross(row_dir, col_dir)
    rows, cols = matrix
    corners = []
    for k in range(slices):
        step = (slices - 1 - k) if descending else k
        corner = (
            center
            + (step - (slices - 1) / 2.0) * spacing_mm * normal
            - row_dir * pixel_mm * (cols - 1) / 2
            - col_dir * pixel_mm * (rows - 1) / 2
        )
        corners.append(tuple(round(float(v), 4) for v in corner))
    return SliceGrid((plane,) * slices, matrix, pixel_mm, spacing_mm, thickness, tuple(corners))


def _head_counts(grid: SliceGrid, hip: Hip, radius: float) -> list[int]:
    """Head pixels per slice for a trial radius, exactly as `hip_labels` would draw them."""
    counts = []
    for k in range(len(grid.corners)):
        d2 = _sq_dist(grid.points(k), hip.center)
        counts.append(int(np.count_nonzero(d2 < radius**2)))
    return counts


# Sub-pixel nudges of a head (mm): a centre symmetric to the pixel grid makes the head's pixel count jump by
# 2 or 4 as the radius grows, which can step over the one count a boundary needs.
_NUDGES = ((0.0, 0.0), (0.31, 0.17), (-0.23, 0.41), (0.47, -0.29), (-0.41, -0.13), (0.11, -0.47))


def _nudged(hip: Hip, dx: float, dy: float) -> Hip:
    """The hip moved in-plane by (dx, dy) mm, its necrosis point along with it."""
    cx, cy, cz = hip.center
    px, py, pz = hip.necrosis_point
    center = (round(cx + dx, 4), round(cy + dy, 4), cz)
    return replace(hip, center=center, necrosis_point=(round(px + dx, 4), round(py + dy, 4), pz))


def _tune_radius(grid: SliceGrid, hip: Hip, accept: Callable[[int], bool], why: str) -> Hip:
    """The hip, nudged by under half a mm and with the nearest radius (0.005 mm steps, within HEAD_RADIUS_MM),
    whose key-slice head pixel count is accepted."""
    low, high = HEAD_RADIUS_MM
    for dx, dy in _NUDGES:
        moved = _nudged(hip, dx, dy)
        sorted_d2 = []
        for k in range(len(grid.corners)):
            d2 = _sq_dist(grid.points(k), moved.center).ravel()
            sorted_d2.append(np.sort(d2[d2 < (high + 1.0) ** 2]))
        for step in range(int((high - low) / 0.005) + 1):
            for sign in (1, -1):
                radius = round(hip.radius + sign * step * 0.005, 4)
                if not low <= radius <= high:
                    continue
                key_count = max(int(np.searchsorted(s, radius**2, side="left")) for s in sorted_d2)
                if accept(key_count):
                    return replace(moved, radius=radius)
    logger.info("No head radius in %s mm gives %s for hip %s; keeping %.4f", HEAD_RADIUS_MM, why, hip.side, hip.radius)
    return hip


def _target_necrotic_pixels(scenario: str, head_pixels: int, rng: np.random.Generator) -> int:
    """k for a scenario on a key slice of `head_pixels` head pixels."""
    if scenario == "healthy":
        return 0
    if scenario in _RANDOM_PERCENT:
        first_mild = -(-head_pixels // 1000)  # ceil(0.1 % of N)
        first_moderate = -(-head_pixels * 3 // 20)  # ceil(15 %)
        last_moderate = head_pixels * 3 // 10  # floor(30 %)
        low, high = {
            "mild": (first_mild, first_moderate - 1),
            "moderate": (first_moderate, last_moderate),
            "severe": (last_moderate + 1, head_pixels),
        }[scenario]
        k = int(round(rng.uniform(*_RANDOM_PERCENT[scenario]) * head_pixels / 100))
        return min(max(k, low), high)  # only tiny heads make rounding reach past a boundary
    position, boundary = scenario.split("_")
    numerator, denominator = _BOUNDARY_PERCENT[boundary]
    at = -(-head_pixels * numerator // denominator)  # ceil: the first count at or above the boundary
    if position == "at":
        return at
    if position == "below":
        return at - 1
    return head_pixels * numerator // denominator + 1  # "above": one pixel past the boundary


def _with_necrosis(grid: SliceGrid, hip: Hip, scenario: str, rng: np.random.Generator) -> Hip:
    """The hip with a radius fit for its boundary scenario and the threshold that makes k key-slice pixels."""
    if scenario.startswith("at_"):
        denominator = _BOUNDARY_PERCENT[scenario.split("_")[1]][1]
        hip = _tune_radius(grid, hip, lambda n: n % denominator == 0, f"a multiple of {denominator} head pixels")
    elif scenario == "below_0.1":  # one necrotic pixel stays below 0.1 % only in a head of over 1000 pixels
        hip = _tune_radius(grid, hip, lambda n: n > 1000, "over 1000 head pixels")
    counts = _head_counts(grid, hip, hip.radius)
    key = int(np.argmax(counts))
    k = _target_necrotic_pixels(scenario, counts[key], rng)
    if k == 0:
        return replace(hip, threshold=None)
    points = grid.points(key)
    inside = np.broadcast_to(_sq_dist(points, hip.center) < hip.radius**2, grid.matrix)
    scores = np.sort(np.broadcast_to(necrosis_score(points, hip), grid.matrix)[inside])
    threshold = float(scores[-1] + 1.0) if k >= scores.size else float((scores[k - 1] + scores[k]) / 2)
    return replace(hip, threshold=threshold)


@dataclass(frozen=True)
class _SeriesSpec:
    """One series to write."""

    number: int
    contrast: str  # key of CONTRAST and ACQUISITION
    plane: str  # "axial", "coronal" or "localizer"
    grid: SliceGrid
    bits_stored: int


@dataclass(frozen=True)
class _Context:
    """What every series of one study shares."""

    folder: Path
    patient: PatientInfo
    pelvis: Pelvis
    seed: int
    gain: float
    contrast_jitter: np.ndarray
    noise: float
    field_strength: float


def _series_specs(rng: np.random.Generator, pelvis: Pelvis, exact_tenth: bool) -> list[_SeriesSpec]:
    """Localizer, axial T1 (the series graded), axial T2 FS or STIR, coronal T1.

    `exact_tenth`: a hip must hit 0.1 % exactly, which needs a key-slice head of exactly 1000 pixels; a head of
    radius 21-26 mm covers 1000 pixels only at a pixel size of 1.18-1.25 mm (2000 pixels only near 1.0 mm).
    """
    hips = pelvis.hips
    mid = np.mean([h.center for h in hips], axis=0)
    center = np.array([float(rng.normal(0, 2.0)), pelvis.body_center[1], mid[2] + float(rng.uniform(-3.0, 3.0))])
    matrix = int(rng.choice([320, 336, 352, 368, 384]))
    # A pelvis needs ~380 mm of field of view: small matrices come with coarse pixels.
    pixel = round(float(rng.uniform(max(1.19 if exact_tenth else 1.0, 380.0 / matrix), 1.25)), 4)
    t1_slices = int(rng.integers(14, 21))
    descending = bool(rng.random() < 0.5)
    t1 = _slab_grid("axial", t1_slices, (matrix, matrix), pixel, 4.0, 4.0, center, descending)
    t2_pixel = round(float(rng.uniform(1.45, 1.6)), 4)
    t2_slices = int(rng.integers(12, 17))
    t2 = _slab_grid("axial", t2_slices, (256, 256), t2_pixel, 5.0, 5.0, center)
    cor_center = np.array([center[0], mid[1] + float(rng.uniform(-3.0, 3.0)), center[2] - 10.0])
    cor_pixel = round(float(rng.uniform(1.5, 1.7)), 4)
    cor = _slab_grid("coronal", int(rng.integers(14, 19)), (256, 256), cor_pixel, 4.0, 4.0, cor_center)
    loc_pixel = round(float(rng.uniform(1.7, 1.9)), 4)
    loc_corners = []
    for plane in LOCALIZER_PLANES:
        loc_center = center if plane != "sagittal" else np.array([hips[0].center[0], center[1], center[2]])
        loc_corners.append(_slab_grid(plane, 1, (256, 256), loc_pixel, 8.0, 8.0, loc_center).corners[0])
    loc = SliceGrid(LOCALIZER_PLANES, (256, 256), loc_pixel, 8.0, 8.0, tuple(loc_corners))

    def bits() -> int:
        return int(rng.choice([12, 12, 16]))

    fluid = str(rng.choice(["T2FS", "STIR"]))
    return [
        _SeriesSpec(1, "LOC", "localizer", loc, 12),
        _SeriesSpec(2, "T1", "axial", t1, bits()),
        _SeriesSpec(3, fluid, "axial", t2, bits()),
        _SeriesSpec(4, "T1", "coronal", cor, bits()),
    ]


def _write_series(
    context: _Context, spec: _SeriesSpec, rng: np.random.Generator
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Write one series; returns its summary and the (slices, rows, cols) tissue and head-label volumes."""
    patient, grid = context.patient, spec.grid
    description = str(rng.choice(DESCRIPTIONS[(spec.contrast, spec.plane)]))
    series_uid = phantom_uid(context.seed, patient.patient_id, "series", spec.number)
    acquisition = mr_acquisition(
        ACQUISITION[spec.contrast], spec.contrast, spec.plane == "localizer", rng, context.field_strength
    )
    scale = 1.0 if spec.bits_stored == 12 else 12.0  # 16-bit series use more of their range
    table = np.asarray(CONTRAST[spec.contrast], float) * context.contrast_jitter * context.gain * scale
    if spec.contrast == "T1":
        table[TISSUES.index("necrosis")] *= rng.uniform(0.85, 1.2)  # necrotic signal varies between patients
    noise = context.noise * scale * float(rng.uniform(0.9, 1.1))
    max_value = (1 << spec.bits_stored) - 1
    folder = context.folder / f"{spec.number:02d}_{sanitise(description)}"
    localizer = spec.plane == "localizer"
    tissues, heads, uids = [], [], []
    for k in range(len(grid.corners)):
        labels, head = hip_labels(grid.points(k), context.pelvis)
        tissues.append(labels)
        heads.append(head)
        image = np.clip(np.round(render_magnitude(labels, table, rng, noise)), 0, max_value).astype(np.uint16)
        number = k + 1
        uid = phantom_uid(context.seed, patient.patient_id, spec.number, number)
        uids.append(uid)
        ds = new_dataset(
            MRImageStorage,
            uid,
            patient,
            modality="MR",
            series_uid=series_uid,
            series_number=spec.number,
            series_description=description,
            instance_number=number,
        )
        # Both hips in one field of view: the examined part is the (unpaired) pelvis, so no Laterality.
        ds.BodyPartExamined = "PELVIS"
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        set_mr_image(ds, acquisition)
        if spec.contrast == "STIR":
            ds.InversionTime = round(float(rng.uniform(150.0, 170.0)), 1)
        set_image_plane(
            ds, ORIENTATION[grid.planes[k]], grid.corners[k], grid.pixel_mm, grid.thickness_mm,
            None if localizer else grid.spacing_mm,
        )  # fmt: skip
        set_pixels(ds, image, spec.bits_stored)
        write_dataset(ds, folder / f"{number:04d}.dcm")
    summary = {
        "series_instance_uid": series_uid,
        "series_number": spec.number,
        "description": description,
        "contrast": spec.contrast,
        "weighting": {"T1": "T1", "T2FS": "T2", "STIR": "T2", "LOC": "other"}[spec.contrast],
        "plane": spec.plane,
        "folder": folder.name,
        "slices": len(grid.corners),
        "rows": grid.matrix[0],
        "columns": grid.matrix[1],
        "sop_instance_uids": uids,
    }
    return summary, np.stack(tissues), np.stack(heads)


def _save_masks(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with fixed zip timestamps so that the same seed gives the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


# The paper's grades by necrotic ratio (Without < 0.1 %, Mild < 15 %, Moderate 15-30 % inclusive, Severe > 30 %),
# written here on their own, in integer arithmetic, so the truth never comes from the app's grading code.
GRADE_NAMES = ("Without ONFH", "Mild", "Moderate", "Severe")


def true_grade(necrotic_pixels: int, head_pixels: int) -> str:
    """The grade of a necrotic/head pixel-count ratio, compared exactly by cross-multiplication."""
    if 1000 * necrotic_pixels < head_pixels:  # ratio < 0.1 %
        return GRADE_NAMES[0]
    if 100 * necrotic_pixels < 15 * head_pixels:
        return GRADE_NAMES[1]
    if 100 * necrotic_pixels <= 30 * head_pixels:
        return GRADE_NAMES[2]
    return GRADE_NAMES[3]


def _hip_truth(
    hip: Hip, label: int, scenario: str, head: np.ndarray, necrosis: np.ndarray, uids: list[str], pixel_mm: float
) -> dict[str, Any]:
    """Counts, ratios and the grade of one hip, all from the masks."""
    mine = head == label
    per_slice = mine.reshape(mine.shape[0], -1).sum(axis=1)
    key = int(np.argmax(per_slice))
    head_key, nec_key = int(per_slice[key]), int(np.count_nonzero(necrosis[key] & mine[key]))
    head_volume, nec_volume = int(np.count_nonzero(mine)), int(np.count_nonzero(necrosis & mine))
    return {
        "scenario": scenario,
        "key_slice_index": key,
        "key_slice_sop_instance_uid": uids[key],
        "head_pixels_key": head_key,
        "necrosis_pixels_key": nec_key,
        "ratio_key_percent": 100.0 * nec_key / head_key,
        "grade_key": true_grade(nec_key, head_key),
        "head_pixels_volume": head_volume,
        "necrosis_pixels_volume": nec_volume,
        "ratio_volume_percent": 100.0 * nec_volume / head_volume,
        "head_center_mm": [round(c, 4) for c in hip.center],
        "head_radius_mm": hip.radius,
        "pixel_spacing_mm": pixel_mm,
    }


def write_hip_mri_study(out_dir: Path, patient_id: str, seed: int, scenarios: tuple[str, str]) -> dict[str, Any]:
    """Write one patient's study under out_dir/<patient_id>/ (scenarios: right, left hip); returns its truth."""
    for scenario in scenarios:
        if scenario not in SCENARIOS:
            raise ValueError(f"Unknown necrosis scenario {scenario!r}; expected one of {sorted(set(SCENARIOS))}")
    rng = np.random.default_rng([seed, zlib.crc32(patient_id.encode())])
    pelvis = _make_pelvis(rng)
    patient = PatientInfo.synthetic(patient_id, seed, rng, study_description="MRI HIPS (synthetic phantom)")
    specs = _series_specs(rng, pelvis, "at_0.1" in scenarios)
    t1 = next(s for s in specs if s.contrast == "T1" and s.plane == "axial")
    hips = tuple(
        _with_necrosis(t1.grid, hip, scenario, rng) for hip, scenario in zip(pelvis.hips, scenarios, strict=True)
    )
    pelvis = replace(pelvis, hips=hips)
    context = _Context(
        folder=Path(out_dir) / patient_id,
        patient=patient,
        pelvis=pelvis,
        seed=seed,
        gain=float(rng.uniform(0.85, 1.2)),  # so that global intensity says nothing about necrosis
        contrast_jitter=rng.normal(1.0, 0.04, len(TISSUES)),
        noise=float(rng.uniform(20.0, 34.0)),
        field_strength=float(rng.choice([1.5, 3.0])),
    )
    series, t1_truth = [], None
    for spec in specs:
        summary, tissues, heads = _write_series(context, spec, rng)
        series.append(summary)
        if spec is t1:
            t1_truth = (summary, tissues, heads)
    assert t1_truth is not None
    summary, tissues, heads = t1_truth
    necrosis = np.isin(tissues, (TISSUES.index("necrosis"), TISSUES.index("band"))).astype(np.uint8)
    _save_masks(context.folder / MASKS_FILE, {"head": heads, "necrosis": necrosis})
    uids = summary["sop_instance_uids"]
    truth = {
        "kind": "hip-mri",
        "patient_id": patient_id,
        "study_instance_uid": patient.study_uid,
        "t1_series_instance_uid": summary["series_instance_uid"],
        "t1_folder": summary["folder"],
        "slice_order": "superior_to_inferior" if _descending(t1.grid) else "inferior_to_superior",
        "sop_instance_uids": uids,
        "hips": {
            hip.side: _hip_truth(hip, label, scenario, heads, necrosis.astype(bool), uids, t1.grid.pixel_mm)
            for label, (hip, scenario) in enumerate(zip(hips, scenarios, strict=True), start=1)
        },
        "series": [{k: v for k, v in s.items() if k != "sop_instance_uids"} for s in series],
    }
    (context.folder / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _descending(grid: SliceGrid) -> bool:
    return len(grid.corners) > 1 and grid.corners[1][2] < grid.corners[0][2]


def generate_hip_mri_dataset(out_dir: Path, patients: int, seed: int) -> list[dict[str, Any]]:
    """Write `patients` studies (ids HP0000, ...) whose hips cycle through SCENARIOS; returns the ground truths."""
    if patients < 1:
        raise ValueError(f"Expected at least 1 patient, got {patients}")
    rng = np.random.default_rng(seed)
    slots = [SCENARIOS[i % len(SCENARIOS)] for i in range(2 * patients)]
    order = rng.permutation(2 * patients)
    truths = [
        write_hip_mri_study(Path(out_dir), f"HP{i:04d}", seed, (slots[order[2 * i]], slots[order[2 * i + 1]]))
        for i in range(patients)
    ]
    grades = [h["grade_key"] for t in truths for h in t["hips"].values()]
    logger.info("Wrote %d hip MRI phantom studies to %s; key-slice grades %s", patients, out_dir, sorted(grades))
    return truths


def _run(args: argparse.Namespace) -> str:
    truths = generate_hip_mri_dataset(args.out, args.patients, args.seed)
    counts: dict[str, int] = {}
    for truth in truths:
        for hip in truth["hips"].values():
            counts[hip["grade_key"]] = counts.get(hip["grade_key"], 0) + 1
    grades = ", ".join(f"{grade}: {counts.get(grade, 0)}" for grade in GRADE_NAMES)
    return f"wrote {len(truths)} hip MRI studies to {args.out} (hips by grade: {grades})"


def add_subcommand(kinds: argparse._SubParsersAction) -> None:
    """Register the `hip-mri` phantom kind (arguments --out --patients --seed)."""
    parser = kinds.add_parser("hip-mri", help="hip MRI studies, some femoral heads with osteonecrosis")
    add_common_arguments(parser)
    parser.set_defaults(run=_run)
