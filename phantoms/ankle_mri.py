"""Synthetic ankle MRI studies with ground truth.

An analytic 3D ankle (leg and foot, tibia with a concave plafond and medial malleolus, fibula, talus with a
convex dome under cartilage and joint fluid, navicular, calcaneus) is evaluated on each series' slice grid,
so every series is a consistent view of the same patient. Some patients carry an osteochondral lesion of the
talar dome: dark on T1, bright with a dark rim on T2/PD. Coordinates are DICOM patient LPS in mm.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import MRImageStorage

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
    "ORIENTATION",
    "TISSUES",
    "SeriesSpec",
    "generate_ankle_mri_dataset",
    "write_ankle_mri_study",
]

logger = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "ground_truth.json"
LOCALIZER_PLANES = ("coronal", "sagittal", "axial")
TISSUES = ("background", "soft", "fat", "cortex", "marrow", "cartilage", "fluid", "lesion", "rim")
# Signal per tissue on a 12-bit scale, in TISSUES order, per contrast.
CONTRAST: dict[str, tuple[float, ...]] = {
    "T1": (15, 700, 1900, 90, 1650, 820, 320, 380, 140),
    "T2": (15, 620, 1250, 80, 560, 950, 2500, 2300, 140),
    "T2FS": (15, 650, 260, 80, 260, 980, 2600, 2400, 140),
    "PDFS": (15, 760, 280, 90, 320, 1150, 1900, 1700, 150),
    "LOC": (15, 900, 1500, 90, 1300, 900, 600, 620, 200),
}
# Per contrast (see AcquisitionRow).
ACQUISITION: dict[str, AcquisitionRow] = {
    "T1": ("SE", "SK\\SP", (420.0, 680.0), (10.0, 18.0), 3, 90.0),
    "T2": ("SE", "SK\\SP\\OSP", (3000.0, 4800.0), (62.0, 95.0), 12, 150.0),
    "T2FS": ("SE", "SK\\SP\\OSP", (3000.0, 4800.0), (62.0, 95.0), 12, 150.0),
    "PDFS": ("SE", "SK\\SP\\OSP", (2200.0, 3800.0), (24.0, 38.0), 8, 150.0),
    "LOC": ("GR", "SP", (7.0, 10.0), (3.0, 5.0), 1, 20.0),
}
DESCRIPTIONS: dict[tuple[str, str], list[str]] = {
    ("T1", "coronal"): ["T1 COR", "COR T1 TSE", "t1_tse_cor", "T1W_SE_COR"],
    ("T1", "sagittal"): ["T1 SAG", "SAG T1 TSE", "t1_tse_sag", "T1W_SE_SAG"],
    ("T2", "coronal"): ["T2 TSE COR", "COR T2 TSE", "t2_tse_cor", "T2W_TSE_COR"],
    ("T2", "sagittal"): ["T2 SAG FS", "SAG T2 FS", "t2_tse_fs_sag", "T2W_SPAIR_SAG"],
    ("PD", "sagittal"): ["PD FS SAG", "SAG PD FS", "pd_tse_fs_sag"],
    ("T1", "axial"): ["T1 AX", "AX T1 TSE", "t1_tse_tra"],
    ("other", "localizer"): ["LOC", "3-plane LOC", "localizer", "Survey"],
}
MIN_LESION_AREA_MM2 = 7.0  # a smaller cut through the lesion's cap is not something a reader would call
MIN_DOME_AREA_MM2 = 60.0  # a slice "cuts the talar dome" when the talus above its centre shows this much


@dataclass(frozen=True)
class SeriesSpec:
    """One series to write: labels for the ground truth, contrast, plane and grid."""

    weighting: str  # ground-truth label: "T1", "T2", "PD" or "other"
    contrast: str  # key of CONTRAST and ACQUISITION
    plane: str  # "coronal", "sagittal", "axial" or "localizer" (one slice per plane)
    number: int
    slices: int = 12
    matrix: tuple[int, int] = (192, 192)  # rows, columns
    spacing_mm: float = 3.3
    thickness_mm: float = 3.0
    bits_stored: int = 12


@dataclass(frozen=True)
class _Anatomy:
    """Per-patient shape parameters (mm, talus centre at the origin before `shift`)."""

    talus: tuple[float, float, float]  # semi-axes x, y, z of the talar body
    tibia_radius: float
    leg: tuple[float, float]  # semi-axes of the leg's cross-section
    lateral: float  # +1 when patient left (+x) is lateral (left ankle), -1 for a right ankle
    lesion_center: tuple[float, float, float] | None
    lesion_radius: float
    shift: tuple[float, float, float]


@dataclass(frozen=True)
class _Context:
    """What every series of one study shares."""

    folder: Path
    patient: PatientInfo
    anatomy: _Anatomy
    seed: int
    laterality: str
    gain: float
    contrast_jitter: np.ndarray
    noise: float
    field_strength: float


Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


def _radius(xyz: Coords, center: tuple[float, float, float], axes: tuple[float, float, float]) -> np.ndarray:
    """Squared normalised ellipsoid radius: < 1 inside."""
    x, y, z = ((xyz[i] - center[i]) / axes[i] for i in range(3))
    return x * x + y * y + z * z


def _grown(axes: tuple[float, float, float], mm: float) -> tuple[float, float, float]:
    return (axes[0] + mm, axes[1] + mm, axes[2] + mm)


def _labels(xyz: Coords, a: _Anatomy) -> np.ndarray:
    """Tissue index (into TISSUES) at each point; x, y, z may be any arrays that broadcast together."""
    x, y, z = (xyz[i] - a.shift[i] for i in range(3))
    p = (x, y, z)
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    tx, ty, tz = a.talus
    t = TISSUES.index
    labels = np.zeros(shape, np.uint8)

    def put(mask: np.ndarray, tissue: str) -> None:
        labels[np.broadcast_to(mask, shape)] = t(tissue)

    def bone(inside: np.ndarray, marrow: np.ndarray) -> None:
        put(inside, "cortex")
        put(inside & marrow, "marrow")

    # Skin envelope: vertical leg, horizontal foot along y, rounded heel; muscle and tendon inside the fat.
    leg = np.where(z > -30.0, (x / a.leg[0]) ** 2 + ((y + 2.0) / a.leg[1]) ** 2, np.inf)
    foot = np.where(y < 24.0, (x / (a.leg[0] - 2.0)) ** 2 + ((z + 30.0) / 22.0) ** 2, np.inf)
    heel = _radius(p, (0.0, 24.0, -30.0), (a.leg[0] - 2.0, 22.0, 22.0))
    envelope = np.minimum(np.minimum(leg, foot), heel)
    put(envelope < 1.0, "fat")
    put(envelope < 0.72, "soft")

    calcaneus = _radius(p, (0.0, 14.0, -tz - 13.0), (tx * 1.05, 24.0, 12.0))
    bone(calcaneus < 1.0, calcaneus < 0.8)
    navicular = _radius(p, (0.0, -ty - 9.0, -2.0), (tx * 0.85, 7.0, 9.0))
    bone(navicular < 1.0, navicular < 0.7)

    # Talus; over its upper half (the dome): cartilage, a thin joint-fluid line, then tibial cartilage.
    origin = (0.0, 0.0, 0.0)
    talus = _radius(p, origin, a.talus)
    upper = z > 0.0
    joint = _radius(p, origin, _grown(a.talus, 3.2)) < 1.0
    talar_cartilage = (_radius(p, origin, _grown(a.talus, 1.4)) < 1.0) & upper
    put(joint & upper, "cartilage")
    put((_radius(p, origin, _grown(a.talus, 2.0)) < 1.0) & upper, "fluid")
    put(talar_cartilage, "cartilage")
    bone(talus < 1.0, _radius(p, origin, _grown(a.talus, -1.2)) < 1.0)

    # Tibia: a cylinder whose plafond follows the dome (concave), plus the medial malleolus.
    above_joint = ~joint & (z > 0.25 * tz)
    shaft = (x / a.tibia_radius) ** 2 + (y / (0.9 * a.tibia_radius)) ** 2
    deep = _radius(p, origin, _grown(a.talus, 4.4)) >= 1.0
    bone((shaft < 1.0) & above_joint, (shaft < 0.78) & deep)
    medial_x = -a.lateral * (tx + 5.5)
    malleolus = np.where(z > -0.45 * tz, ((x - medial_x) / 5.0) ** 2 + (y / 9.0) ** 2, np.inf)
    outside_bone = (labels != t("cortex")) & (labels != t("marrow"))
    bone((malleolus < 1.0) & outside_bone, malleolus < 0.5)
    # Fibula and lateral malleolus, slightly posterior.
    fibula_x = a.lateral * (tx + 8.0)
    fibula = np.where(z > -0.8 * tz, ((x - fibula_x) / 6.5) ** 2 + ((y - 4.0) / 6.0) ** 2, np.inf)
    bone(fibula < 1.0, fibula < 0.55)

    if a.lesion_center is not None:
        distance = np.sqrt(_radius(p, a.lesion_center, (1.0, 1.0, 1.0)))
        in_talus = talus < 1.0
        put((distance < a.lesion_radius + 1.3) & in_talus, "rim")
        # The defect breaks through the subchondral plate into the cartilage above it.
        put((distance < a.lesion_radius) & (in_talus | talar_cartilage), "lesion")
    return labels


def _anatomy(rng: np.random.Generator, lesion: bool, laterality: str) -> _Anatomy:
    talus = (14.0 + rng.normal(0, 1.0), 16.0 + rng.normal(0, 1.0), 11.0 + rng.normal(0, 0.7))
    # LPS: patient left is +x, so the fibula (lateral) of a left ankle lies at +x.
    lateral = 1.0 if laterality == "L" else -1.0
    leg = (42.0 + rng.normal(0, 2.0), 38.0 + rng.normal(0, 2.0))
    center, radius = None, 0.0
    if lesion:
        side = rng.choice([-1.0, 1.0])  # medial or lateral shoulder of the dome
        cx, cy = side * talus[0] * rng.uniform(0.35, 0.55), rng.uniform(-0.3, 0.3) * talus[1]
        surface = talus[2] * np.sqrt(1.0 - (cx / talus[0]) ** 2 - (cy / talus[1]) ** 2)
        center = (float(cx), float(cy), float(surface - 2.5))  # subchondral: just under the dome
        radius = float(rng.uniform(4.0, 5.0))  # 8-10 mm across: still a few pixels after a 64x64 resize
    shift = tuple(float(v) for v in rng.normal(0, 2.0, 3))
    return _Anatomy(talus, 12.5 + rng.normal(0, 0.8), leg, lateral, center, radius, shift)


def _directions(plane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = np.asarray(ORIENTATION[plane])
    return o[:3], o[3:], np.cross(o[:3], o[3:])


def _slice_corner(spec: SeriesSpec, plane: str, k: int, pixel_mm: float, center: np.ndarray) -> np.ndarray:
    """ImagePositionPatient (centre of the first pixel) of slice k of a slab centred on `center`."""
    row_dir, col_dir, normal = _directions(plane)
    rows, cols = spec.matrix
    offset = 0.0 if spec.plane == "localizer" else (k - (spec.slices - 1) / 2.0) * spec.spacing_mm
    return center + offset * normal - row_dir * pixel_mm * (cols - 1) / 2 - col_dir * pixel_mm * (rows - 1) / 2


def _pixel_points(spec: SeriesSpec, plane: str, corner: np.ndarray, pixel_mm: float) -> Coords:
    """x, y, z of the pixel centres as broadcastable float32 arrays (rows, 1) and (1, cols) where possible."""
    row_dir, col_dir, _ = _directions(plane)
    r = np.arange(spec.matrix[0], dtype=np.float32)[:, None] * np.float32(pixel_mm)
    c = np.arange(spec.matrix[1], dtype=np.float32)[None, :] * np.float32(pixel_mm)
    coords = []
    for i in range(3):
        value = np.full((1, 1), corner[i], np.float32)
        if row_dir[i]:
            value = value + c * np.float32(row_dir[i])
        if col_dir[i]:
            value = value + r * np.float32(col_dir[i])
        coords.append(value)
    return coords[0], coords[1], coords[2]


def _series_list(rng: np.random.Generator, include_t1: bool, include_t2: bool) -> list[SeriesSpec]:
    def grid() -> dict[str, Any]:
        return {"matrix": (int(rng.choice([176, 192])), 192), "bits_stored": int(rng.choice([12, 12, 12, 16]))}

    specs = [SeriesSpec("other", "LOC", "localizer", 1, slices=3, matrix=(128, 128), thickness_mm=6.0)]
    if include_t1:
        specs += [SeriesSpec("T1", "T1", "coronal", 3, **grid()), SeriesSpec("T1", "T1", "sagittal", 4, **grid())]
    if include_t2:
        specs += [SeriesSpec("T2", "T2", "coronal", 5, **grid()), SeriesSpec("T2", "T2FS", "sagittal", 6, **grid())]
    specs += [
        SeriesSpec("PD", "PDFS", "sagittal", 7, matrix=(160, 160)),
        SeriesSpec("T1", "T1", "axial", 8, slices=10),
    ]
    return specs


def write_ankle_mri_study(
    out_dir: Path,
    patient_id: str,
    seed: int,
    has_lesion: bool,
    *,
    include_t1: bool = True,
    include_t2: bool = True,
    distractors_only: bool = False,
) -> dict[str, Any]:
    """Write one patient's study under out_dir/<patient_id>/ and return (and save) its ground truth."""
    rng = np.random.default_rng([seed, zlib.crc32(patient_id.encode())])
    laterality = str(rng.choice(["R", "L"]))
    anatomy = _anatomy(rng, has_lesion, laterality)
    patient = PatientInfo.synthetic(patient_id, seed, rng, study_description="MRI ANKLE (synthetic phantom)")
    specs = _series_list(rng, include_t1, include_t2)
    if distractors_only:
        specs = [s for s in specs if s.plane in ("localizer", "axial")]
    context = _Context(
        folder=Path(out_dir) / patient_id,
        patient=patient,
        anatomy=anatomy,
        seed=seed,
        laterality=laterality,
        gain=float(rng.uniform(0.85, 1.2)),  # so that global intensity says nothing about the lesion
        contrast_jitter=rng.normal(1.0, 0.04, len(TISSUES)),
        noise=float(rng.uniform(22.0, 38.0)),
        field_strength=float(rng.choice([1.5, 3.0])),
    )
    series = [_write_series(context, spec, rng) for spec in specs]
    lesion_center = None
    if anatomy.lesion_center is not None:
        lesion_center = [round(c + s, 3) for c, s in zip(anatomy.lesion_center, anatomy.shift, strict=True)]
    truth = {
        "kind": "ankle-mri",
        "patient_id": patient_id,
        "study_instance_uid": patient.study_uid,
        "lesion": bool(has_lesion),
        "laterality": laterality,
        "lesion_center_mm": lesion_center,
        "lesion_radius_mm": round(anatomy.lesion_radius, 3) if has_lesion else None,
        "lesion_side": _lesion_side(anatomy),
        "series": series,
    }
    (context.folder / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _lesion_side(anatomy: _Anatomy) -> str | None:
    if anatomy.lesion_center is None:
        return None
    return "lateral" if anatomy.lesion_center[0] * anatomy.lateral > 0 else "medial"


def _write_series(context: _Context, spec: SeriesSpec, rng: np.random.Generator) -> dict[str, Any]:
    anatomy, patient = context.anatomy, context.patient
    description = str(rng.choice(DESCRIPTIONS[(spec.weighting, spec.plane)]))
    series_uid = phantom_uid(context.seed, patient.patient_id, "series", spec.number)
    acquisition = mr_acquisition(
        ACQUISITION[spec.contrast], spec.contrast, spec.plane == "localizer", rng, context.field_strength
    )
    localizer = spec.plane == "localizer"
    # Rounded as written to PixelSpacing, so the header describes exactly the grid that was sampled.
    pixel_mm = round(float(rng.uniform(1.0, 1.2) if localizer else rng.uniform(0.6, 0.78)), 4)
    first_plane = LOCALIZER_PLANES[0] if localizer else spec.plane
    # Slab centred a little above the talus centre, planned with a few mm of jitter along the normal.
    center = (
        np.asarray(anatomy.shift) + np.array([0.0, 0.0, 4.0]) + _directions(first_plane)[2] * rng.uniform(-1.5, 1.5)
    )
    scale = 1.0 if spec.bits_stored == 12 else 12.0  # 16-bit series use more of their range
    table = np.asarray(CONTRAST[spec.contrast], float) * context.contrast_jitter * context.gain * scale
    noise = context.noise * scale * float(rng.uniform(0.9, 1.1))
    max_value = (1 << spec.bits_stored) - 1
    folder = context.folder / f"{spec.number:02d}_{sanitise(description)}"
    lesion_slices, dome_slices = [], []
    for k in range(spec.slices):
        plane = LOCALIZER_PLANES[k % 3] if localizer else spec.plane
        corner = _slice_corner(spec, plane, k, pixel_mm, center)
        points = _pixel_points(spec, plane, corner, pixel_mm)
        labels = _labels(points, anatomy)
        image = np.clip(np.round(render_magnitude(labels, table, rng, noise)), 0, max_value).astype(np.uint16)
        number = k + 1
        pixel_area = pixel_mm**2
        lesion_area = np.count_nonzero(labels == TISSUES.index("lesion")) * pixel_area
        if not localizer and lesion_area >= MIN_LESION_AREA_MM2:
            lesion_slices.append(number)
        if not localizer and _dome_area(points, anatomy, pixel_area) >= MIN_DOME_AREA_MM2:
            dome_slices.append(number)
        ds = new_dataset(
            MRImageStorage,
            phantom_uid(context.seed, patient.patient_id, spec.number, number),
            patient,
            modality="MR",
            series_uid=series_uid,
            series_number=spec.number,
            series_description=description,
            instance_number=number,
        )
        ds.BodyPartExamined = "ANKLE"
        ds.Laterality = context.laterality
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        set_mr_image(ds, acquisition)
        set_image_plane(
            ds, ORIENTATION[plane], corner, pixel_mm, spec.thickness_mm, None if localizer else spec.spacing_mm
        )
        set_pixels(ds, image, spec.bits_stored)
        write_dataset(ds, folder / f"{number:04d}.dcm")
    return {
        "series_instance_uid": series_uid,
        "series_number": spec.number,
        "description": description,
        "weighting": spec.weighting,
        "plane": spec.plane,
        "folder": folder.name,
        "slices": spec.slices,
        "rows": spec.matrix[0],
        "columns": spec.matrix[1],
        "slices_with_lesion": lesion_slices,
        "talus_slices": dome_slices,
        "lesion_center_voxel": None if localizer else _lesion_voxel(spec, anatomy, pixel_mm, center),
    }


def _dome_area(xyz: Coords, anatomy: _Anatomy, pixel_area: float) -> float:
    """mm² of the talus's upper half (the dome) in one slice."""
    x, y, z = (xyz[i] - anatomy.shift[i] for i in range(3))
    dome = (_radius((x, y, z), (0.0, 0.0, 0.0), anatomy.talus) < 1.0) & (z > 0.0)
    return float(np.count_nonzero(dome) * pixel_area)


def _lesion_voxel(spec: SeriesSpec, anatomy: _Anatomy, pixel_mm: float, center: np.ndarray) -> list[float] | None:
    """Lesion centre as [column, row, slice index from 0] in this series' grid."""
    if anatomy.lesion_center is None:
        return None
    row_dir, col_dir, normal = _directions(spec.plane)
    v = (
        np.asarray(anatomy.lesion_center)
        + np.asarray(anatomy.shift)
        - _slice_corner(spec, spec.plane, 0, pixel_mm, center)
    )
    return [
        round(float(v @ row_dir) / pixel_mm, 2),
        round(float(v @ col_dir) / pixel_mm, 2),
        round(float(v @ normal) / spec.spacing_mm, 2),
    ]


def generate_ankle_mri_dataset(
    out_dir: Path,
    patients: int,
    seed: int,
    lesion_fraction: float = 0.5,
    include_t2: bool = True,
    prefix: str = "OLT",
) -> list[dict[str, Any]]:
    """Write `patients` studies (a seeded `lesion_fraction` of them with a lesion); returns the ground truths."""
    if patients < 1:
        raise ValueError(f"Expected at least 1 patient, got {patients}")
    if not 0.0 <= lesion_fraction <= 1.0:
        raise ValueError(f"Expected lesion_fraction in [0, 1], got {lesion_fraction}")
    rng = np.random.default_rng(seed)
    n_lesion = int(round(lesion_fraction * patients))
    lesion_flags = np.zeros(patients, bool)
    lesion_flags[rng.permutation(patients)[:n_lesion]] = True
    truths = [
        write_ankle_mri_study(Path(out_dir), f"{prefix}{i + 1:04d}", seed, bool(flag), include_t2=include_t2)
        for i, flag in enumerate(lesion_flags)
    ]
    logger.info("Wrote %d ankle MRI phantom studies (%d with OLT) to %s", patients, n_lesion, out_dir)
    return truths
