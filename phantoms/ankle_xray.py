"""Synthetic ankle radiographs (CR and DX) with ground truth for perimalleolar fragments.

Each study has an AP or mortise view and, in about half the studies, a lateral view. Bones are implicit shapes
(tapered capsules, ellipses, half-planes) in mm, drawn as marrow plus a bright cortical rim and summed like
X-ray attenuation. Some studies carry a fragment at the tip of the lateral malleolus: a lateral malleolar
avulsion fracture (LMAF: angular, not corticated, with a matching notch cut from the tip) or a subfibular ossicle
(SFO: smooth oval with a cortical rim, tip intact). It is clear on the frontal view and faint on the lateral one,
where it overlaps the talus and calcaneus.

What makes them hard (issue 15): a quarter of the fragments are 2-4 mm; half lie free under the tip, the rest
over the malleolus or displaced over the talus; a third of the SFOs have a faint rim and a third of the LMAFs
smooth, rounded corners; a third of the exposures are low-dose (several times the quantum noise); half the views
are rotated by up to 15 degrees, and every view is off-centre by up to 12 % of the field; and look-alikes appear,
most often on images without a fragment: an accessory ossicle at its own site (os subtibiale under the medial
malleolus, os trigonum behind the talus on the lateral), a calcified vessel, a skin fold.
"""

from __future__ import annotations

import argparse
import json
import logging
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation
from scipy.ndimage import gaussian_filter

from phantoms.cli_arguments import add_common_arguments
from phantoms.dicom_headers import PatientInfo, new_dataset, phantom_uid, set_pixels, write_dataset
from phantoms.pixel_encoding import SUPPORTED_SYNTAXES, SYNTAX_SHORT_NAMES, encode_pixel_data

__all__ = [
    "CLASSES",
    "GROUND_TRUTH_FILE",
    "Fragment",
    "Lookalike",
    "Radiograph",
    "add_subcommand",
    "generate_ankle_xray_dataset",
    "render_ankle_radiograph",
    "write_ankle_xray_study",
]

logger = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "ground_truth.json"
CLASSES = ("SFO", "LMAF")  # index = model class: 0 = ossicle, 1 = avulsion fracture
VIEWS = ("AP", "MORTISE", "LATERAL")
BITS_CHOICES = (10, 12, 12, 14, 15, 16)
FRAGMENT_SIZE_MM = (6.0, 12.0)
_EDGE_MM = 0.35  # width of the soft step at a shape's border (anti-aliasing before the detector blur)


@dataclass(frozen=True)
class Fragment:
    """One fragment's tight box (x0, y0, x1, y1 in pixels, continuous), class ("LMAF" or "SFO") and how it was drawn:
    longest diameter, placement (PLACEMENTS) and appearance ("clear rim"/"faint rim" for an SFO, "sharp edge"/
    "smooth edge" for an LMAF), and its contrast relative to a frontal view's (1, or faint on a lateral view)."""

    box: tuple[int, int, int, int]
    kind: str
    size_mm: float = 0.0
    placement: str = ""
    appearance: str = ""
    visibility: float = 1.0


@dataclass(frozen=True)
class Lookalike:
    """A structure that is not a perimalleolar fragment (accessory ossicle, calcified vessel, skin fold); ossicles
    carry their box, the others run across the image (None)."""

    kind: str
    box: tuple[int, int, int, int] | None


@dataclass
class Radiograph:
    """A rendered radiograph: MONOCHROME2-like image in [0, 1] (bone bright), its fragments and look-alikes."""

    image: np.ndarray
    fragments: list[Fragment] = field(default_factory=list)
    lookalikes: list[Lookalike] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- shapes (mm)
Grid = tuple[np.ndarray, np.ndarray]


def _capsule(p: Grid, a: tuple[float, float], b: tuple[float, float], ra: float, rb: float) -> np.ndarray:
    """Approximate signed distance (mm, < 0 inside) to a segment a-b whose radius tapers from ra to rb."""
    x, y = p
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = np.clip(((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - a[0] - t * dx, y - a[1] - t * dy) - (ra + (rb - ra) * t)


def _ellipse(p: Grid, c: tuple[float, float], axes: tuple[float, float], angle: float = 0.0) -> np.ndarray:
    """Approximate signed distance (mm) to a rotated ellipse, exact on the axes."""
    cos, sin = np.cos(angle), np.sin(angle)
    u = (p[0] - c[0]) * cos + (p[1] - c[1]) * sin
    v = -(p[0] - c[0]) * sin + (p[1] - c[1]) * cos
    return (np.hypot(u / axes[0], v / axes[1]) - 1.0) * min(axes)


def _polygon(p: Grid, c: tuple[float, float], vertices: np.ndarray) -> np.ndarray:
    """Signed radial distance (mm) to a star-shaped polygon around c (vertices relative to c, by angle)."""
    u, v = p[0] - c[0], p[1] - c[1]
    rho = np.hypot(u, v)
    theta = np.arctan2(v, u)
    angles = np.arctan2(vertices[:, 1], vertices[:, 0])
    order = np.argsort(angles)
    verts, angles = vertices[order], angles[order]
    idx = np.searchsorted(angles, theta) % len(verts)
    v0, v1 = verts[idx - 1], verts[idx]
    # The ray from c along theta meets the edge v0-v1 where n . (t * dir) = n . v0.
    nx, ny = v1[..., 1] - v0[..., 1], -(v1[..., 0] - v0[..., 0])
    dots = nx * np.cos(theta) + ny * np.sin(theta)
    reach = (nx * v0[..., 0] + ny * v0[..., 1]) / np.where(np.abs(dots) < 1e-9, 1e-9, dots)
    return rho - reach


def _smin(a: np.ndarray, b: np.ndarray, k: float = 3.0) -> np.ndarray:
    """Smooth union of two signed distances (a fillet of about k mm where they meet)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _inside(f: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - f / (2.0 * _EDGE_MM), 0.0, 1.0)


def _bone(f: np.ndarray, marrow: float, cortex: float, cortex_mm: float, depth_mm: float) -> np.ndarray:
    """Projected density of a bone: marrow thickening towards the middle plus a brighter cortical rim."""
    inside = _inside(f)
    depth = np.clip(-f / depth_mm, 0.0, 1.0)
    rim = np.exp(-(((np.minimum(f, 0.0) + 0.5 * cortex_mm) / (0.6 * cortex_mm)) ** 2))
    return inside * (marrow * (0.75 + 0.25 * np.sqrt(depth)) + cortex * rim)


# ---------------------------------------------------------------------------------------------- rendering
# What makes a radiograph hard, drawn per image (issue 15: the earlier phantoms let every network score AUC 1.000).
SMALL_FRAGMENT_MM = (2.0, 4.0)
SMALL_FRAGMENT_SHARE = 0.25
PLACEMENTS = ("below_tip", "over_malleolus", "over_talus")
PLACEMENT_WEIGHTS = (0.5, 0.25, 0.25)
FAINT_RIM_SHARE = 0.35  # SFOs whose cortical rim is barely brighter than their marrow
SMOOTH_EDGE_SHARE = 0.35  # LMAFs with rounded corners instead of sharp ones
LOW_DOSE_SHARE = 0.3
ROTATED_SHARE = 0.5
ROTATION_DEG = 15.0
OFF_CENTRE = 0.12  # of the field of view, either way
LOOKALIKE_SHARE = {True: 0.4, False: 0.6}  # images with a fragment / without one
LATERAL_FRAGMENT_CONTRAST = (0.25, 0.45)  # of the frontal view's: a fragment barely visible on the lateral


@dataclass(frozen=True)
class _Frame:
    """Where the anatomy lies on the detector: rotation (radians) and shift (mm) about the image centre."""

    angle: float
    shift: tuple[float, float]


def _grid(rows: int, columns: int, s: float, frame: _Frame) -> Grid:
    """Anatomy coordinates (mm) of every pixel centre: the image grid rotated and shifted by `frame`."""
    yy = (np.arange(rows, dtype=np.float32)[:, None] + 0.5) * np.float32(s)
    xx = (np.arange(columns, dtype=np.float32)[None, :] + 0.5) * np.float32(s)
    cx, cy = columns * s / 2.0, rows * s / 2.0
    cos, sin = np.float32(np.cos(frame.angle)), np.float32(np.sin(frame.angle))
    u, v = xx - np.float32(cx + frame.shift[0]), yy - np.float32(cy + frame.shift[1])
    return cos * u - sin * v + np.float32(cx), sin * u + cos * v + np.float32(cy)


def _draw_frame(rng: np.random.Generator, height: float, width: float) -> _Frame:
    limit = ROTATION_DEG if rng.random() < ROTATED_SHARE else 3.0
    angle = float(np.deg2rad(rng.uniform(-limit, limit)))
    shift = (float(rng.uniform(-OFF_CENTRE, OFF_CENTRE) * width), float(rng.uniform(-OFF_CENTRE, OFF_CENTRE) * height))
    return _Frame(angle, shift)


def render_ankle_radiograph(
    rng: np.random.Generator,
    *,
    view: str,
    rows: int,
    columns: int,
    pixel_spacing_mm: float,
    fragment: str | None = None,
    mirror: bool = False,
) -> Radiograph:
    """Render one ankle radiograph (no I/O). A `fragment` ("LMAF"/"SFO") sits at the lateral malleolus: clearly on
    an AP/mortise view, faintly (superimposed on the talus and calcaneus) on a lateral one."""
    if view not in VIEWS:
        raise ValueError(f"Unknown view {view!r}; expected one of {VIEWS}")
    if fragment is not None and fragment not in CLASSES:
        raise ValueError(f"Unknown fragment class {fragment!r}; expected one of {CLASSES}")
    s = float(pixel_spacing_mm)
    height, width = rows * s, columns * s
    p = _grid(rows, columns, s, _draw_frame(rng, height, width))
    size = float(rng.uniform(0.9, 1.1))  # patient scale
    texture = gaussian_filter(rng.standard_normal((rows, columns), dtype=np.float32), 0.8 / s) * np.float32(0.25)
    if view == "LATERAL":
        density, fragments, lookalikes = _lateral(rng, p, size, height, width, fragment, texture)
    else:
        density, fragments, lookalikes = _frontal(rng, p, size, height, width, view == "MORTISE", fragment, texture)
    density = density * (1.0 + texture * (density > 0.3))
    # Heel effect and uneven exposure: a gentle linear gradient.
    yy = np.arange(rows, dtype=np.float32)[:, None]
    xx = np.arange(columns, dtype=np.float32)[None, :]
    tilt_y, tilt_x = float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04))
    density = density * (1.0 + tilt_y * (yy / rows - 0.5) + tilt_x * (xx / columns - 0.5))
    image = gaussian_filter(density, sigma=float(rng.uniform(0.5, 0.9)))
    # Quantum noise: fewer photons behind bone, so more noise there; a low-dose exposure has several times more.
    noise = float(rng.uniform(0.02, 0.035) if rng.random() < LOW_DOSE_SHARE else rng.uniform(0.006, 0.014))
    image = image + noise * (0.7 + 0.6 * np.clip(image, 0, 1)) * rng.standard_normal(image.shape, dtype=np.float32)
    image = np.clip(image / 1.25, 0.0, 1.0).astype(np.float32)
    boxes = [Fragment(_box(mask), kind, **drawn) for mask, kind, drawn in fragments]
    found = [Lookalike(kind, _box(mask) if mask is not None else None) for mask, kind in lookalikes]
    if mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        boxes = [replace(b, box=_mirrored(b.box, columns)) for b in boxes]
        found = [Lookalike(a.kind, _mirrored(a.box, columns) if a.box else None) for a in found]
    return Radiograph(image, boxes, found)


def _mirrored(box: tuple[int, int, int, int], columns: int) -> tuple[int, int, int, int]:
    return (columns - box[2], box[1], columns - box[0], box[3])


def _window(p: Grid, centre: tuple[float, float], radius: float) -> tuple[slice, slice]:
    """Rows and columns of the image whose anatomy coordinates lie within `radius` mm of `centre` (a box)."""
    near = (np.abs(p[0] - centre[0]) <= radius) & (np.abs(p[1] - centre[1]) <= radius)
    rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        raise ValueError(f"A shape at {centre} mm falls outside the image")
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _cut(p: Grid, block: tuple[slice, slice]) -> Grid:
    return p[0][block], p[1][block]


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _soft_tissue(f: np.ndarray, depth_mm: float, level: float) -> np.ndarray:
    """A rounded limb: projected thickness grows like a chord through a cylinder."""
    return level * np.sqrt(np.clip(-f / depth_mm, 0.0, 1.0)) * _inside(f) + 0.02


Shapes = list[tuple[np.ndarray | None, str]]  # look-alikes: mask (None: runs across the image), kind
Drawn = list[tuple[np.ndarray, str, dict[str, Any]]]  # fragments: mask, class, how it was drawn


def _frontal(
    rng: np.random.Generator,
    p: Grid,
    size: float,
    height: float,
    width: float,
    mortise: bool,
    fragment: str | None,
    texture: np.ndarray,
) -> tuple[np.ndarray, Drawn, Shapes]:
    """AP/mortise density in a right-ankle frame (fibula on the image left): density, fragments, look-alikes."""
    x, y = p
    joint = height * rng.uniform(0.42, 0.55)  # tibial plafond
    xc = width * rng.uniform(0.46, 0.54)
    marrow, cortex = rng.uniform(0.22, 0.3), rng.uniform(0.25, 0.4)
    # Soft tissue: the leg, widening into the hindfoot below the joint.
    leg_half = size * rng.uniform(36.0, 44.0)
    widen = np.clip((y - joint) / 40.0, 0.0, 1.0) * size * 10.0
    leg = np.abs(x - xc) - (leg_half + widen)
    density = _soft_tissue(leg, 25.0, rng.uniform(0.22, 0.3))
    # Tibia: shaft, flared metaphysis cut flat at the plafond, medial malleolus.
    xt = xc + size * rng.uniform(4.0, 8.0)
    rt = size * rng.uniform(11.0, 13.5)
    shaft = _capsule(p, (xt + 2.0, -20.0), (xt, joint - 30.0 * size), rt, rt * 1.05)
    flare = _ellipse(p, (xt - 1.0, joint - 14.0 * size), (size * rng.uniform(22.0, 25.0), 18.0 * size))
    tibia = np.maximum(_smin(shaft, flare, 6.0), y - joint)
    medial_tip = (xt + 16.0 * size, joint + 11.0 * size)
    medial = _capsule(p, (xt + 17.0 * size, joint - 8.0), medial_tip, 6.0 * size, 4.5)
    tibia = _smin(tibia, np.maximum(medial, -(y - joint) - 8.0), 2.0)
    density = density + _bone(tibia, marrow, cortex, 2.2, 14.0)
    # Talus under the plafond, with the calcaneus overlapping below it.
    talus_half = size * rng.uniform(18.0, 20.0)
    talus_c = (xt - 1.0, joint + 2.5 + 17.0 * size)
    talus = _ellipse(p, talus_c, (talus_half, 17.0 * size))
    density = density + _bone(talus, marrow * 0.95, cortex * 0.9, 1.4, 10.0)
    calcaneus = _ellipse(p, (xt - 3.0, joint + 50.0 * size), (26.0 * size, 16.0 * size))
    density = density + 0.6 * _bone(calcaneus, marrow, cortex * 0.5, 1.2, 10.0)
    # Fibula: shaft, then the lateral malleolus ending in a rounded tip below the joint.
    gap = rng.uniform(3.0, 5.0) if mortise else rng.uniform(0.0, 2.0)  # mortise view opens the lateral gutter
    rm = size * rng.uniform(8.0, 10.0)
    xm = talus_c[0] - talus_half - rm + 2.0 - gap
    tip_length = size * rng.uniform(16.0, 24.0)
    tip_r = size * rng.uniform(3.5, 5.0)
    tip = (xm - rng.uniform(0.0, 3.0), joint + tip_length)  # the most distal point of the malleolus
    tip_centre = (tip[0], tip[1] - tip_r)
    rf = size * rng.uniform(5.5, 7.0)
    fib_shaft = _capsule(p, (xm + 4.0, -20.0), (xm + 1.0, joint - 30.0 * size), rf, rf)
    malleolus = _capsule(p, (xm + 1.0, joint - 30.0 * size), (xm, joint - 8.0), rf, rm)
    malleolus = _smin(malleolus, _capsule(p, (xm, joint - 8.0), tip_centre, rm, tip_r), 3.0)
    fibula = np.minimum(fib_shaft, malleolus)
    fibula_density = _bone(fibula, marrow * 0.95, cortex, 1.6, 9.0)
    fragments: Drawn = []
    if fragment is not None:
        placement = str(rng.choice(PLACEMENTS, p=PLACEMENT_WEIGHTS))
        frag_density, frag_mask, notch, drawn = _fragment(rng, p, fragment, tip, tip_r, texture, placement, 1.0)
        if notch is not None:
            # The donor defect removes bone without a cortical rim: a fresh fracture surface.
            fibula_density = fibula_density * (1.0 - notch)
        density = density + frag_density
        fragments.append((frag_mask, fragment, drawn))
    lookalikes: Shapes = []
    if rng.random() < LOOKALIKE_SHARE[fragment is not None]:
        # An accessory ossicle under the medial malleolus (os subtibiale) looks like an SFO in the wrong place.
        sites = {"os_subtibiale": (medial_tip, 4.5)}
        density, lookalikes = _lookalikes(rng, p, density, sites, leg_half, xc, joint)
    return density + fibula_density, fragments, lookalikes


def _fragment(
    rng: np.random.Generator,
    p: Grid,
    kind: str,
    tip: tuple[float, float],
    tip_r: float,
    texture: np.ndarray,
    placement: str,
    visibility: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Density, mask, the LMAF's donor notch (0..1) and how the fragment was drawn (Fragment's fields).

    `placement`: "below_tip" (free, 1-3 mm under the tip), "over_malleolus" (superimposed on the tip) or
    "over_talus" (displaced medially, over the talus). `visibility` scales its contrast (the lateral view: faint).
    """
    shape = np.broadcast_shapes(p[0].shape, p[1].shape)
    small = rng.random() < SMALL_FRAGMENT_SHARE
    span = float(rng.uniform(*(SMALL_FRAGMENT_MM if small else FRAGMENT_SIZE_MM)))  # longest diameter
    if placement == "over_talus":
        direction = float(np.deg2rad(90.0 - rng.uniform(35.0, 65.0)))  # down and medial (image right)
        gap = float(rng.uniform(2.0, 6.0))
    else:
        direction = float(np.deg2rad(90.0 + rng.uniform(-35.0, 25.0)))  # mostly straight down
        gap = float(rng.uniform(1.0, 3.0) if placement == "below_tip" else -rng.uniform(0.3, 0.7) * span)
    d = (float(np.cos(direction)), float(np.sin(direction)))
    angle = float(rng.uniform(0.0, np.pi))
    contrast = float(rng.uniform(0.7, 1.25)) * visibility
    density = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    if kind == "SFO":
        axes = (span / 2.0, span / 2.0 * float(rng.uniform(0.6, 0.9)))
        reach = axes[1] + (axes[0] - axes[1]) * abs(np.cos(angle - direction))
        centre = (tip[0] + d[0] * (gap + reach), tip[1] + d[1] * (gap + reach))
        block = _window(p, centre, span)
        f = _ellipse(_cut(p, block), centre, axes, angle)
        cortex_mm = min(float(rng.uniform(0.8, 1.2)), 0.3 * span)
        faint = rng.random() < FAINT_RIM_SHARE
        rim = rng.uniform(0.15, 0.35) if faint else rng.uniform(0.7, 1.1)
        density[block] = _bone(f, 0.17 * contrast, 0.42 * contrast * float(rim), cortex_mm, 3.0)
        mask[block] = f < 0.0
        drawn = {"size_mm": round(span, 2), "placement": placement, "visibility": round(visibility, 3)}
        return density, mask, None, {**drawn, "appearance": "faint rim" if faint else "clear rim"}
    # LMAF: an angular piece pulled off the tip; the notch is the same outline left behind in the bone.
    n = int(rng.integers(5, 8))
    angles = angle + np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) + rng.uniform(-0.35, 0.35, n)
    radii = rng.uniform(0.6, 1.0, n)
    vertices = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    diameter = float(np.max(np.hypot(*(vertices[:, None, :] - vertices[None, :, :]).transpose(2, 0, 1))))
    vertices *= span / diameter  # `span` is the fragment's longest extent, as for the SFO
    # A smooth-edged piece: the outline of a smaller polygon grown by a rounding radius (corners become arcs).
    smooth = rng.random() < SMOOTH_EDGE_SHARE
    rounding = float(rng.uniform(0.2, 0.35)) * span if smooth else 0.0
    core = vertices * (1.0 - 2.0 * rounding / span)
    toward = vertices @ np.array(d)
    # The notch sits in the tip, shifted to one side so that a shoulder of the malleolus is left standing.
    side = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.3, 0.7)) * tip_r
    back = float(toward.min()) * 0.45  # negative: into the bone
    notch_centre = (tip[0] + d[0] * back - d[1] * side, tip[1] + d[1] * back + d[0] * side)
    block = _window(p, notch_centre, span)
    notch = np.zeros(shape, np.float32)
    notch[block] = _inside(_polygon(_cut(p, block), notch_centre, core * 0.9) - rounding * 0.9)
    shift = gap - float(toward.min())
    centre = (tip[0] + d[0] * shift - d[1] * side, tip[1] + d[1] * shift + d[0] * side)
    twist = float(rng.uniform(-0.4, 0.4))  # the piece rotates as it is pulled away
    cos, sin = np.cos(twist), np.sin(twist)
    turned = core @ np.array([[cos, sin], [-sin, cos]])
    block = _window(p, centre, span)
    f = _polygon(_cut(p, block), centre, turned) - rounding
    level = 0.33 * contrast * (1.0 + 1.5 * texture[block])  # mottled, no rim
    density[block] = _inside(f) * level
    mask[block] = f < 0.0
    drawn = {"size_mm": round(span, 2), "placement": placement, "visibility": round(visibility, 3)}
    return density, mask, notch, {**drawn, "appearance": "smooth edge" if smooth else "sharp edge"}


def _lookalikes(
    rng: np.random.Generator,
    p: Grid,
    density: np.ndarray,
    ossicle_sites: dict[str, tuple[tuple[float, float], float]],
    leg_half: float,
    xc: float,
    joint: float,
) -> tuple[np.ndarray, Shapes]:
    """Add one or two structures that are not perimalleolar fragments: an accessory ossicle at its own site,
    a calcified vessel (tram-track lines) or a skin fold (a faint edge across the soft tissue)."""
    kinds = ["ossicle", "vessel", "skin_fold"]
    chosen = [kinds[i] for i in rng.permutation(3)[: int(rng.integers(1, 3))]]
    found: Shapes = []
    x, y = p
    for kind in chosen:
        if kind == "ossicle":
            name, (site, reach) = next(iter(ossicle_sites.items()))
            span = float(rng.uniform(3.0, 9.0))
            angle = float(rng.uniform(0.0, np.pi))
            axes = (span / 2.0, span / 2.0 * float(rng.uniform(0.6, 0.9)))
            centre = (site[0] + rng.uniform(-2.0, 2.0), site[1] + reach + rng.uniform(1.0, 3.0) + axes[1])
            block = _window(p, centre, span)
            f = _ellipse(_cut(p, block), centre, axes, angle)
            contrast = float(rng.uniform(0.8, 1.2))
            density[block] += _bone(f, 0.17 * contrast, 0.42 * contrast, min(1.0, 0.3 * span), 3.0)
            mask = np.zeros(density.shape, bool)
            mask[block] = f < 0.0
            found.append((mask, name))
        elif kind == "vessel":
            # Two thin parallel calcified walls along a gently curving artery, in segments.
            x0 = xc + float(rng.uniform(-0.8, 0.8)) * leg_half
            bend, wavelength = float(rng.uniform(2.0, 8.0)), float(rng.uniform(40.0, 90.0))
            centre_x = x0 + bend * np.sin(y / wavelength * 2.0 * np.pi + float(rng.uniform(0, 6.3)))
            half_gap, wall = float(rng.uniform(1.0, 1.8)), float(rng.uniform(0.25, 0.45))
            walls = np.minimum(np.abs(np.abs(x - centre_x) - half_gap), 10.0)
            segments = np.sin(y / float(rng.uniform(4.0, 9.0)) + float(rng.uniform(0, 6.3))) > -0.3
            density += float(rng.uniform(0.05, 0.12)) * np.exp(-((walls / wall) ** 2)) * segments
            found.append((None, "vessel_calcification"))
        else:
            # A skin fold: a faint step in soft-tissue thickness along a long, gently curved line.
            slope = float(np.tan(np.deg2rad(rng.uniform(-60.0, 60.0))))
            offset = joint + float(rng.uniform(-30.0, 40.0))
            curve = y - (offset + slope * (x - xc) + 4.0 * np.sin(x / 25.0))
            step = float(rng.uniform(0.02, 0.05))
            density += step * np.clip(curve / 0.8, 0.0, 1.0) * np.exp(-np.clip(curve, 0.0, None) / 12.0)
            found.append((None, "skin_fold"))
    return density, found


def _lateral(
    rng: np.random.Generator,
    p: Grid,
    size: float,
    height: float,
    width: float,
    fragment: str | None,
    texture: np.ndarray,
) -> tuple[np.ndarray, Drawn, Shapes]:
    """Lateral view: tibia, overlapping fibula, talar dome and neck, calcaneus (anterior to the right); a fragment
    under the fibular tip is superimposed on the talus and calcaneus and drawn faint."""
    x, y = p
    joint = height * rng.uniform(0.38, 0.5)
    xt = width * rng.uniform(0.4, 0.5)
    marrow, cortex = rng.uniform(0.22, 0.3), rng.uniform(0.25, 0.4)
    leg_half = size * rng.uniform(36.0, 42.0)
    leg = np.abs(x - xt) - leg_half
    foot = _ellipse(p, (xt + 25.0 * size, joint + 45.0 * size), (75.0 * size, 35.0 * size), -0.1)
    limb = _smin(np.where(y < joint + 30.0, leg, leg + (y - joint - 30.0)), foot, 10.0)
    density = _soft_tissue(limb, 25.0, rng.uniform(0.22, 0.3))
    rt = size * rng.uniform(11.0, 13.5)
    shaft = _capsule(p, (xt, -20.0), (xt, joint - 28.0 * size), rt, rt)
    flare = _ellipse(p, (xt + 2.0, joint - 14.0 * size), (24.0 * size, 17.0 * size))
    dome = _ellipse(p, (xt + 2.0, joint + 20.0 * size), (24.0 * size, 20.0 * size))
    tibia = np.maximum(_smin(shaft, flare, 6.0), -(dome - 2.0))
    density = density + _bone(tibia, marrow, cortex, 2.2, 14.0)
    talus = _smin(dome, _ellipse(p, (xt + 30.0 * size, joint + 26.0 * size), (15.0 * size, 10.0 * size), 0.3), 4.0)
    talus = np.maximum(talus, y - joint - 40.0 * size)
    density = density + _bone(talus, marrow * 0.95, cortex * 0.9, 1.4, 10.0)
    calcaneus = _ellipse(p, (xt - 8.0 * size, joint + 50.0 * size), (34.0 * size, 16.0 * size), -0.25)
    density = density + _bone(calcaneus, marrow, cortex * 0.8, 1.4, 10.0)
    tip_r = 6.0 * size
    tip_centre = (xt - 9.0 * size, joint + 14.0 * size)
    fibula = _capsule(p, (xt - 8.0 * size, -20.0), tip_centre, 7.0 * size, tip_r)
    density = density + 0.7 * _bone(fibula, marrow, cortex, 1.6, 8.0)
    fragments: Drawn = []
    if fragment is not None:
        tip = (tip_centre[0], tip_centre[1] + tip_r)
        visibility = float(rng.uniform(*LATERAL_FRAGMENT_CONTRAST))
        frag_density, frag_mask, _, drawn = _fragment(rng, p, fragment, tip, tip_r, texture, "below_tip", visibility)
        density = density + frag_density
        fragments.append((frag_mask, fragment, drawn))
    lookalikes: Shapes = []
    if rng.random() < LOOKALIKE_SHARE[fragment is not None]:
        # The os trigonum sits behind the talus's posterior process (image left of the dome).
        sites = {"os_trigonum": ((xt - 22.0 * size, joint + 24.0 * size), 2.0)}
        density, lookalikes = _lookalikes(rng, p, density, sites, leg_half, xt, joint)
    return density, fragments, lookalikes


# ---------------------------------------------------------------------------------------------- DICOM
@dataclass(frozen=True)
class _ImageSpec:
    """What one image file is: view, modality, storage and geometry."""

    view: str
    modality: str
    photometric: str
    bits_stored: int
    rows: int
    columns: int
    pixel_spacing_mm: float
    transfer_syntax_uid: str
    fragment: str | None


def _stored_values(image: np.ndarray, bits_stored: int, photometric: str) -> np.ndarray:
    """Quantise a [0, 1] bone-bright image; MONOCHROME1 stores it inverted (bone dark in stored values)."""
    max_value = (1 << bits_stored) - 1
    values = np.round((0.04 + 0.92 * image) * max_value).astype(np.int64)
    values = np.clip(values, 0, max_value)
    if photometric == "MONOCHROME1":
        values = max_value - values
    return values.astype(np.uint16)


def _build_dataset(
    spec: _ImageSpec,
    patient: PatientInfo,
    laterality: str,
    seed: int,
    number: int,
    values: np.ndarray,
    rng: np.random.Generator,
) -> Dataset:
    """A CR or DX (for presentation) dataset holding `values` natively; encoded later."""
    pid = patient.patient_id
    sop_class = ComputedRadiographyImageStorage if spec.modality == "CR" else DigitalXRayImageStorageForPresentation
    view_name = {"AP": "AP", "MORTISE": "MORTISE", "LATERAL": "LAT"}[spec.view]
    description = f"ANKLE {view_name} {laterality}" if rng.random() < 0.5 else f"{view_name} {laterality} ANKLE"
    ds = new_dataset(
        sop_class,
        phantom_uid(seed, pid, "image", number),
        patient,
        modality=spec.modality,
        series_uid=phantom_uid(seed, pid, "series", number),
        series_number=number,
        series_description=description,
        instance_number=1,
    )
    # Projection radiographs have no Frame of Reference module in their IODs.
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator
    ds.BodyPartExamined = "ANKLE"
    if spec.modality == "DX" or rng.random() < 0.5:
        ds.ImageLaterality = laterality  # Type 1 for DX
    else:
        ds.Laterality = laterality  # series-level laterality only: allowed when ImageLaterality is absent
    if spec.view == "LATERAL":
        ds.ViewPosition = "RL" if laterality == "R" else "LL"
        # Right ankle: anterior drawn to the right; the mirrored left ankle has posterior to the right.
        ds.PatientOrientation = ["A", "F"] if laterality == "R" else ["P", "F"]
    else:
        ds.ViewPosition = "AP"
        ds.PatientOrientation = ["L", "F"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.KVP = round(float(rng.uniform(52.0, 62.0)), 1)
    ds.Exposure = int(rng.integers(3, 9))
    ds.ExposureTime = int(rng.integers(8, 40))
    ds.XRayTubeCurrent = int(rng.integers(160, 400))
    ds.DistanceSourceToDetector = 1000.0
    set_pixels(ds, values, spec.bits_stored, spec.photometric)
    spacing = [round(spec.pixel_spacing_mm, 4)] * 2
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    if spec.modality == "CR":
        ds.PixelSpacing = spacing
        if rng.random() < 0.5:
            ds.ImagerPixelSpacing = spacing
        ds.PlateType = "IP"
        ds.RescaleType = "US"
    else:
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImagerPixelSpacing = spacing
        if rng.random() < 0.5:  # calibrated at the detector plane: some vendors send both
            ds.PixelSpacing = spacing
            ds.PixelSpacingCalibrationType = "GEOMETRY"
            ds.PixelSpacingCalibrationDescription = "Object at detector plane, magnification 1.0"
        ds.RescaleType = "US"
        ds.PixelIntensityRelationship = "LOG"
        # +1: higher stored values mean more X-ray intensity (dark bone): MONOCHROME1-stored images here.
        ds.PixelIntensityRelationshipSign = 1 if spec.photometric == "MONOCHROME1" else -1
        ds.PresentationLUTShape = "INVERSE" if spec.photometric == "MONOCHROME1" else "IDENTITY"
        ds.DetectorType = "SCINTILLATOR"
        ds.AnatomicRegionSequence = Sequence([_code("70258002", "SCT", "Ankle joint")])
        ds.AcquisitionContextSequence = Sequence([])
        ds.PositionerType = "COLUMN"
    low, high = np.percentile(values, [1.0, 99.5])
    ds.WindowCenter = round(float(low + high) / 2.0, 1)
    ds.WindowWidth = round(max(float(high - low), 2.0), 1)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _write_image(
    folder: Path,
    spec: _ImageSpec,
    patient: PatientInfo,
    laterality: str,
    seed: int,
    number: int,
    rendered: Radiograph,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Write one radiograph file and return its ground-truth entry."""
    values = _stored_values(rendered.image, spec.bits_stored, spec.photometric)
    ds = _build_dataset(spec, patient, laterality, seed, number, values, rng)
    encode_pixel_data(ds, spec.transfer_syntax_uid)
    relative = f"{spec.view}/IM{number:04d}.dcm"
    write_dataset(ds, folder / relative)
    return {
        "file": relative,
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "view": spec.view,
        "modality": spec.modality,
        "transfer_syntax_uid": spec.transfer_syntax_uid,
        "photometric": spec.photometric,
        "bits_stored": spec.bits_stored,
        "rows": spec.rows,
        "columns": spec.columns,
        "pixel_spacing_mm": [round(spec.pixel_spacing_mm, 4)] * 2,
        "fragments": [
            {"box": list(f.box), "class": f.kind, **{k: v for k, v in asdict(f).items() if k not in ("box", "kind")}}
            for f in rendered.fragments
        ],
        "lookalikes": [{"kind": a.kind, "box": list(a.box) if a.box else None} for a in rendered.lookalikes],
    }


def _geometry(rng: np.random.Generator, view: str) -> tuple[int, int, float]:
    """Rows, columns (420..640, never square) and pixel spacing of one image."""
    rows = int(rng.integers(470, 641))
    columns = int(rng.integers(420, rows - 29))
    if view == "LATERAL" and rng.random() < 0.5:
        rows, columns = columns, rows  # landscape laterals show more of the foot
    return rows, columns, round(float(rng.uniform(0.25, 0.35)), 3)


def write_ankle_xray_study(
    out_dir: Path,
    patient_id: str,
    seed: int,
    *,
    fragment: str | None,
    modality: str,
    photometric: str,
    lateral: bool,
    syntaxes: list[str],
    same_pixels_group: str | None = None,
    render_key: str | None = None,
) -> dict[str, Any]:
    """Write one study (frontal view, optional lateral) and its ground_truth.json; returns the ground truth.

    `syntaxes` gives one transfer syntax per image in order. Studies sharing `render_key` get identical pixels.
    """
    rng = np.random.default_rng([seed, zlib.crc32((render_key or patient_id).encode())])
    laterality = str(rng.choice(["R", "L"]))
    frontal = str(rng.choice(["AP", "MORTISE"]))
    bits_stored = int(rng.choice(BITS_CHOICES))
    views = [frontal, "LATERAL"] if lateral else [frontal]
    if len(syntaxes) != len(views):
        raise ValueError(f"Expected {len(views)} transfer syntaxes, got {len(syntaxes)}")
    rendered: list[tuple[_ImageSpec, Radiograph]] = []
    for view, syntax in zip(views, syntaxes, strict=True):
        rows, columns, spacing = _geometry(rng, view)
        kind = fragment
        spec = _ImageSpec(view, modality, photometric, bits_stored, rows, columns, spacing, syntax, kind)
        mirror = laterality == "L"
        image = render_ankle_radiograph(
            rng, view=view, rows=rows, columns=columns, pixel_spacing_mm=spacing, fragment=kind, mirror=mirror
        )
        rendered.append((spec, image))
    # Identity comes from its own stream so that studies sharing pixels can still differ in who they are.
    id_rng = np.random.default_rng([seed, zlib.crc32(patient_id.encode()), 1])
    patient = PatientInfo.synthetic(patient_id, seed, id_rng, study_description="XR ANKLE (synthetic phantom)")
    folder = Path(out_dir) / patient_id
    images = [
        _write_image(folder, spec, patient, laterality, seed, number, image, id_rng)
        for number, (spec, image) in enumerate(rendered, start=1)
    ]
    truth = {
        "kind": "ankle-xray",
        "patient_id": patient_id,
        "study_instance_uid": patient.study_uid,
        "laterality": laterality,
        "images": images,
        "same_pixels_group": same_pixels_group,
    }
    (folder / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _balanced(rng: np.random.Generator, n: int, options: list[Any], weights: list[float]) -> list[Any]:
    """`n` picks in about the given proportions (each present once n allows), in a seeded order."""
    counts = [int(round(w * n)) for w in weights]
    counts[0] = n - sum(counts[1:])
    picks = [opt for opt, c in zip(options, counts, strict=True) for _ in range(max(c, 0))]
    return [picks[i] for i in rng.permutation(n)]


def generate_ankle_xray_dataset(
    out_dir: Path,
    patients: int,
    seed: int,
    fragment_fraction: float = 0.7,
    syntax_variants: bool = False,
) -> list[dict[str, Any]]:
    """Write `patients` ankle radiograph studies (plus the six syntax variants if asked); returns ground truths."""
    if patients < 1:
        raise ValueError(f"Expected at least 1 patient, got {patients}")
    if not 0.0 <= fragment_fraction <= 1.0:
        raise ValueError(f"Expected fragment_fraction in [0, 1], got {fragment_fraction}")
    rng = np.random.default_rng([seed, 7])
    n_fragment = int(round(fragment_fraction * patients))
    fragments: list[str | None] = [None] * patients
    for rank, index in enumerate(rng.permutation(patients)[:n_fragment]):
        fragments[int(index)] = CLASSES[rank % 2]
    modalities = _balanced(rng, patients, ["CR", "DX"], [0.5, 0.5])
    photometrics = _balanced(rng, patients, ["MONOCHROME2", "MONOCHROME1"], [0.65, 0.35])
    laterals = _balanced(rng, patients, [True, False], [0.5, 0.5])
    truths: list[dict[str, Any]] = []
    counter = 0  # images so far: cycling over it puts every syntax in any dataset of six images or more
    for i in range(patients):
        n_images = 2 if laterals[i] else 1
        syntaxes = [SUPPORTED_SYNTAXES[(counter + k) % len(SUPPORTED_SYNTAXES)] for k in range(n_images)]
        counter += n_images
        truths.append(
            write_ankle_xray_study(
                Path(out_dir),
                f"AX{i:04d}",
                seed,
                fragment=fragments[i],
                modality=modalities[i],
                photometric=photometrics[i],
                lateral=laterals[i],
                syntaxes=syntaxes,
            )
        )
    if syntax_variants:
        truths.extend(_syntax_variants(Path(out_dir), seed))
    logger.info("Wrote %d ankle radiograph phantom studies to %s", len(truths), out_dir)
    return truths


def _syntax_variants(out_dir: Path, seed: int) -> list[dict[str, Any]]:
    """One fragment radiograph stored once per transfer syntax, each as its own study with the same pixels."""
    group = f"AXV-{seed}"
    kind = CLASSES[seed % 2]
    return [
        write_ankle_xray_study(
            out_dir,
            f"AXV-{SYNTAX_SHORT_NAMES[syntax]}",
            seed,
            fragment=kind,
            modality="DX",
            photometric="MONOCHROME2",
            lateral=False,
            syntaxes=[syntax],
            same_pixels_group=group,
            render_key=group,
        )
        for syntax in SUPPORTED_SYNTAXES
    ]


# ---------------------------------------------------------------------------------------------- CLI
def _run(args: argparse.Namespace) -> str:
    truths = generate_ankle_xray_dataset(
        args.out, args.patients, args.seed, args.fragment_fraction, syntax_variants=args.syntax_variants
    )
    return f"wrote {len(truths)} ankle radiograph studies to {args.out}"


def add_subcommand(kinds: argparse._SubParsersAction) -> None:
    """Register the `ankle-xray` phantom kind on a `python -m phantoms` subparser set."""
    parser = kinds.add_parser("ankle-xray", help="ankle radiographs (CR/DX), some with an LMAF or SFO fragment")
    add_common_arguments(parser)
    parser.add_argument("--fragment-fraction", type=float, default=0.7, help="share of studies with a fragment")
    parser.add_argument(
        "--syntax-variants", action="store_true", help="also write one radiograph in every transfer syntax"
    )
    parser.set_defaults(run=_run)
