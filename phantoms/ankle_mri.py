"""Synthetic ankle MRI studies: an analytic 3D ankle (tibia, fibula, talus with a dome, calcaneus) sampled
on each series' slice grid, with tissue contrast per weighting and, in some patients, an osteochondral
lesion of the talar dome (dark on T1, bright with a dark rim on T2)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import MRImageStorage

from phantoms.dicom_headers import PatientInfo, new_dataset, phantom_uid, sanitise, set_pixels, write_dataset

__all__ = ["SeriesSpec", "write_ankle_mri_study", "generate_ankle_mri_dataset", "GROUND_TRUTH_FILE"]

logger = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "ground_truth.json"
ORIENTATION = {
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
}
TISSUES = ("background", "soft", "fat", "cortex", "marrow", "cartilage", "fluid", "lesion", "rim")
# Signal per tissue (12-bit scale), in TISSUES order, per contrast.
CONTRAST = {
    "T1": (15, 700, 1900, 90, 1650, 820, 320, 380, 140),
    "T2": (15, 620, 1250, 80, 560, 950, 2500, 2300, 140),
    "T2FS": (15, 650, 260, 80, 260, 980, 2600, 2400, 140),
    "PDFS": (15, 760, 280, 90, 320, 1150, 1900, 1700, 150),
}
SEQUENCE = {  # ScanningSequence, SequenceVariant, TR range, TE range
    "T1": ("SE", "SK", (420.0, 680.0), (10.0, 18.0)),
    "T2": ("SE", "SK\\SP", (3000.0, 4800.0), (62.0, 95.0)),
    "T2FS": ("SE", "SK\\SP", (3000.0, 4800.0), (62.0, 95.0)),
    "PDFS": ("SE", "SK\\SP", (2200.0, 3800.0), (24.0, 38.0)),
}
DESCRIPTIONS = {
    ("T1", "coronal"): ["T1 COR", "COR T1 TSE", "t1_tse_cor", "T1W_SE_COR"],
    ("T1", "sagittal"): ["T1 SAG", "SAG T1 TSE", "t1_tse_sag", "T1W_SE_SAG"],
    ("T2", "coronal"): ["T2 COR", "COR T2 TSE", "t2_tse_cor", "T2W_TSE_COR"],
    ("T2", "sagittal"): ["T2 SAG FS", "SAG T2 FS", "t2_tse_fs_sag", "T2W_SPAIR_SAG"],
    ("PD", "sagittal"): ["PD FS SAG", "SAG PD FS", "pd_tse_fs_sag"],
    ("T1", "axial"): ["T1 AX", "AX T1 TSE", "t1_tse_tra"],
}


@dataclass(frozen=True)
class SeriesSpec:
    """One series to write: contrast, plane, slices, matrix."""

    weighting: str  # "T1", "T2", "PD" (for labels and rules)
    contrast: str  # key of CONTRAST
    plane: str
    number: int
    slices: int = 12
    matrix: tuple[int, int] = (192, 192)
    spacing_mm: float = 3.3
    bits_stored: int = 12
    localizer: bool = False


@dataclass(frozen=True)
class Anatomy:
    """Per-patient anatomy parameters (mm, patient LPS coordinates, talus centre at the origin)."""

    talus: tuple[float, float, float]  # semi-axes x, y, z of the talar body
    tibia_radius: float
    fibula_offset: float
    lesion_center: tuple[float, float, float] | None
    lesion_radius: float
    shift: tuple[float, float, float]


def _ellipsoid(
    p: np.ndarray, center: tuple[float, float, float], axes: tuple[float, float, float]
) -> np.ndarray:
    """Normalised radius: < 1 inside the ellipsoid."""
    q = sum(((p[..., i] - center[i]) / axes[i]) ** 2 for i in range(3))
    return np.sqrt(q)


def _labels(points: np.ndarray, a: Anatomy) -> np.ndarray:
    """Tissue index (into TISSUES) at each point of `points` (..., 3), in mm."""
    p = points - np.asarray(a.shift)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    tx, ty, tz = a.talus
    labels = np.zeros(p.shape[:-1], np.uint8)
    leg = ((x / 42.0) ** 2 + ((y + 2.0) / 38.0) ** 2) < 1.0
    labels[leg] = TISSUES.index("fat")
    muscle = ((x / 36.0) ** 2 + ((y + 2.0) / 32.0) ** 2) < 1.0
    labels[leg & muscle] = TISSUES.index("soft")

    def bone(r: np.ndarray, cortex_frac: float, where: np.ndarray | None = None) -> None:
        inside = r < 1.0 if where is None else (r < 1.0) & where
        labels[inside] = TISSUES.index("cortex")
        labels[inside & (r < 1.0 - cortex_frac)] = TISSUES.index("marrow")

    # Calcaneus below and behind the talus.
    bone(_ellipsoid(p, (0.0, 14.0, -tz - 14.0), (tx * 1.1, 26.0, 12.0)), 0.1)
    # Talus: body ellipsoid whose upper half is the dome, wrapped in cartilage then a thin joint fluid layer.
    talus_r = _ellipsoid(p, (0.0, 0.0, 0.0), (tx, ty, tz))
    fluid = (_ellipsoid(p, (0.0, 0.0, 0.0), (tx + 2.6, ty + 2.6, tz + 2.6)) < 1.0) & (z > 0.0)
    cartilage = (_ellipsoid(p, (0.0, 0.0, 0.0), (tx + 1.6, ty + 1.6, tz + 1.6)) < 1.0) & (z > 0.0)
    labels[fluid] = TISSUES.index("fluid")
    labels[cartilage] = TISSUES.index("cartilage")
    bone(talus_r, 1.2 / tz)
    # Tibia above the joint: a cylinder with a plafond 2.6 mm above the dome.
    plafond = tz + 2.6
    tibia = (x / a.tibia_radius) ** 2 + (y / (a.tibia_radius * 0.9)) ** 2
    in_tibia = (tibia < 1.0) & (z > plafond)
    labels[in_tibia] = TISSUES.index("cortex")
    labels[in_tibia & (tibia < 0.82) & (z > plafond + 1.2)] = TISSUES.index("marrow")
    # Fibula and lateral malleolus beside the talus.
    fib = ((x - a.fibula_offset) / 6.5) ** 2 + ((y - 4.0) / 6.0) ** 2
    in_fib = (fib < 1.0) & (z > -tz * 0.8)
    labels[in_fib] = TISSUES.index("cortex")
    labels[in_fib & (fib < 0.6)] = TISSUES.index("marrow")
    if a.lesion_center is not None:
        r = np.sqrt(sum((p[..., i] - a.lesion_center[i]) ** 2 for i in range(3)))
        in_talus = talus_r < 1.0
        labels[(r < a.lesion_radius + 1.3) & in_talus] = TISSUES.index("rim")
        labels[(r < a.lesion_radius) & (in_talus | cartilage)] = TISSUES.index("lesion")
    return labels


def _anatomy(rng: np.random.Generator, lesion: bool, laterality: str) -> Anatomy:
    talus = (14.0 + rng.normal(0, 1.0), 16.0 + rng.normal(0, 1.0), 11.0 + rng.normal(0, 0.7))
    # The fibula is lateral: patient right is -x, left is +x in LPS.
    fibula = (1 if laterality == "L" else -1) * (talus[0] + 8.0 + rng.normal(0, 0.8))
    center, radius = None, 0.0
    if lesion:
        side = rng.choice([-1.0, 1.0])  # medial or lateral shoulder of the dome
        cx, cy = side * talus[0] * rng.uniform(0.35, 0.55), rng.uniform(-0.3, 0.3) * talus[1]
        cz = talus[2] * np.sqrt(max(0.0, 1.0 - (cx / talus[0]) ** 2 - (cy / talus[1]) ** 2)) - 2.5
        center, radius = (float(cx), float(cy), float(cz)), float(rng.uniform(4.2, 5.5))
    shift = tuple(float(v) for v in rng.normal(0, 2.0, 3))
    return Anatomy(talus, 12.5 + rng.normal(0, 0.8), fibula, center, radius, shift)


def _slice_points(
    spec: SeriesSpec, k: int, pixel_mm: float, origin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(pixel centres (rows, cols, 3), ImagePositionPatient) of slice k."""
    o = np.asarray(ORIENTATION[spec.plane])
    row_dir, col_dir = o[:3], o[3:]
    normal = np.cross(row_dir, col_dir)
    rows, cols = spec.matrix
    offset = (k - (spec.slices - 1) / 2.0) * spec.spacing_mm
    corner = (
        origin + offset * normal - row_dir * pixel_mm * (cols - 1) / 2 - col_dir * pixel_mm * (rows - 1) / 2
    )
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    points = corner + c[..., None] * pixel_mm * row_dir + r[..., None] * pixel_mm * col_dir
    return points, corner


def _render(
    labels: np.ndarray, contrast: str, rng: np.random.Generator, gain: float, noise: float
) -> np.ndarray:
    table = np.asarray(CONTRAST[contrast], float)
    signal = table[labels] * gain
    rows, cols = labels.shape
    yy, xx = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    bias = 1.0 + 0.12 * (xx - 0.5) - 0.10 * (yy - 0.5)  # smooth coil shading
    signal = signal * bias
    # Rician noise, as magnitude MR images have.
    return np.hypot(signal + rng.normal(0, noise, signal.shape), rng.normal(0, noise, signal.shape))


def _series_list(rng: np.random.Generator, include_t2: bool, include_t1: bool) -> list[SeriesSpec]:
    specs = [
        SeriesSpec("other", "T1", "coronal", 1, slices=3, matrix=(128, 128), spacing_mm=20.0, localizer=True)
    ]
    if include_t1:
        specs += [SeriesSpec("T1", "T1", "coronal", 3), SeriesSpec("T1", "T1", "sagittal", 4)]
    if include_t2:
        bits = int(rng.choice([12, 16]))
        specs += [
            SeriesSpec("T2", "T2", "coronal", 5, bits_stored=bits),
            SeriesSpec("T2", "T2FS", "sagittal", 6),
        ]
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
    rng = np.random.default_rng([seed, int.from_bytes(patient_id.encode(), "little") % (2**32)])
    laterality = str(rng.choice(["R", "L"]))
    anatomy = _anatomy(rng, has_lesion, laterality)
    patient = PatientInfo(
        patient_id=patient_id,
        name=f"Phantom^{patient_id}",
        birth_date=f"19{rng.integers(50, 99)}0{rng.integers(1, 9)}1{rng.integers(0, 9)}",
        sex=str(rng.choice(["F", "M"])),
        study_uid=phantom_uid(seed, patient_id, "study"),
        accession=f"ACC{abs(hash((seed, patient_id))) % 10**8:08d}"
        if False
        else f"ACC{rng.integers(10**7, 10**8)}",
        frame_of_reference_uid=phantom_uid(seed, patient_id, "for"),
    )
    specs = _series_list(rng, include_t2, include_t1)
    if distractors_only:
        specs = [s for s in specs if s.localizer or s.plane == "axial"]
    gain, noise = float(rng.uniform(0.85, 1.2)), float(rng.uniform(22.0, 38.0))
    field_strength = float(rng.choice([1.5, 3.0]))
    truth_series = []
    for spec in specs:
        truth_series.append(
            _write_series(
                out_dir / patient_id,
                patient,
                spec,
                anatomy,
                rng,
                seed,
                laterality,
                gain,
                noise,
                field_strength,
            )
        )
    truth = {
        "patient_id": patient_id,
        "study_instance_uid": patient.study_uid,
        "lesion": bool(has_lesion),
        "laterality": laterality,
        "lesion_center_mm": None
        if anatomy.lesion_center is None
        else [round(c + s, 3) for c, s in zip(anatomy.lesion_center, anatomy.shift, strict=True)],
        "lesion_radius_mm": round(anatomy.lesion_radius, 3),
        "series": truth_series,
    }
    (out_dir / patient_id / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _write_series(
    folder: Path,
    patient: PatientInfo,
    spec: SeriesSpec,
    anatomy: Anatomy,
    rng: np.random.Generator,
    seed: int,
    laterality: str,
    gain: float,
    noise: float,
    field_strength: float,
) -> dict[str, Any]:
    key = (spec.weighting if spec.weighting != "other" else "T1", spec.plane)
    description = "LOCALIZER" if spec.localizer else str(rng.choice(DESCRIPTIONS[key]))
    series_uid = phantom_uid(seed, patient.patient_id, "series", spec.number)
    sequence, variant, tr_range, te_range = SEQUENCE[spec.contrast]
    tr, te = round(float(rng.uniform(*tr_range)), 1), round(float(rng.uniform(*te_range)), 1)
    pixel_mm = round(float(rng.uniform(0.6, 0.75)) * 192 / spec.matrix[1], 4)
    origin = np.asarray(anatomy.shift) + np.array([0.0, 0.0, 4.0])
    max_value = (1 << spec.bits_stored) - 1
    scale = 1.0 if spec.bits_stored == 12 else 12.0  # 16-bit series use more of their range
    lesion_slices, talus_slices = [], []
    series_folder = folder / f"{spec.number:02d}_{sanitise(description)}"
    for k in range(spec.slices):
        plane = spec.plane if not spec.localizer else ("coronal", "sagittal", "axial")[k % 3]
        slice_spec = SeriesSpec(**{**spec.__dict__, "plane": plane})
        points, position = _slice_points(slice_spec, k if not spec.localizer else 1, pixel_mm, origin)
        labels = _labels(points, anatomy)
        image = np.clip(np.round(_render(labels, spec.contrast, rng, gain, noise) * scale), 0, max_value)
        number = k + 1
        if np.any(labels == TISSUES.index("lesion")):
            lesion_slices.append(number)
        talus_area = np.count_nonzero(
            _ellipsoid(points - np.asarray(anatomy.shift), (0.0, 0.0, 0.0), anatomy.talus) < 1.0
        )
        if not spec.localizer and talus_area * pixel_mm**2 > 120.0:  # the slice cuts the talus, not grazes it
            talus_slices.append(number)
        ds = new_dataset(
            MRImageStorage,
            phantom_uid(seed, patient.patient_id, spec.number, number),
            patient,
            modality="MR",
            series_uid=series_uid,
            series_number=spec.number,
            series_description=description,
            instance_number=number,
        )
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if spec.localizer else "M", "NORM"]
        ds.BodyPartExamined = "ANKLE"
        ds.Laterality = laterality
        ds.PatientPosition = "FFS"
        ds.ScanningSequence, ds.SequenceVariant = sequence, variant
        ds.ScanOptions = "FS" if "FS" in spec.contrast else ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = tr, te, 1 if spec.contrast == "T1" else 12
        ds.MagneticFieldStrength = field_strength
        ds.ImagingFrequency = round(42.577 * field_strength, 4)
        ds.ImagedNucleus = "1H"
        ds.SliceThickness = 3.0
        ds.SpacingBetweenSlices = spec.spacing_mm
        ds.ImageOrientationPatient = [float(v) for v in ORIENTATION[plane]]
        ds.ImagePositionPatient = [round(float(v), 4) for v in position]
        ds.SliceLocation = round(
            float(np.dot(position, np.cross(ORIENTATION[plane][:3], ORIENTATION[plane][3:]))), 4
        )
        ds.PixelSpacing = [pixel_mm, pixel_mm]
        set_pixels(ds, image.astype(np.uint16), spec.bits_stored)
        write_dataset(ds, series_folder / f"{number:04d}.dcm")
    return {
        "series_instance_uid": series_uid,
        "series_number": spec.number,
        "description": description,
        "weighting": "other" if spec.localizer else spec.weighting,
        "plane": "localizer" if spec.localizer else spec.plane,
        "slices_with_lesion": lesion_slices,
        "talus_slices": talus_slices,
        "folder": series_folder.name,
    }


def generate_ankle_mri_dataset(
    out_dir: Path,
    patients: int,
    seed: int,
    lesion_fraction: float = 0.5,
    include_t2: bool = True,
    prefix: str = "OLT",
) -> list[dict[str, Any]]:
    """Write `patients` studies (a seeded `lesion_fraction` of them with a lesion); returns ground truths."""
    rng = np.random.default_rng(seed)
    n_lesion = int(round(lesion_fraction * patients))
    lesion_flags = np.zeros(patients, bool)
    lesion_flags[rng.permutation(patients)[:n_lesion]] = True
    truths = []
    for i in range(patients):
        truths.append(
            write_ankle_mri_study(
                Path(out_dir), f"{prefix}{i + 1:04d}", seed, bool(lesion_flags[i]), include_t2=include_t2
            )
        )
    logger.info("Wrote %d ankle MRI phantom studies (%d with OLT) to %s", patients, n_lesion, out_dir)
    return truths
