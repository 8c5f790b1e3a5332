"""Pictures for people: window a modality image to 8 bits, overlay a heat map, boxes, contours, a caption.

Pure functions on numpy arrays: grey images are (H, W) uint8, pictures (H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import io
import logging

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

from inference.preprocess import resize_bilinear

__all__ = [
    "window_to_uint8",
    "enlarge",
    "heatmap_overlay",
    "draw_boxes",
    "draw_contours",
    "caption",
    "png_bytes",
]

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 picture, got {rgb.shape} {rgb.dtype}")


def window_to_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Map the [low_pct, high_pct] percentile window of a modality image to 0..255."""
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"expected 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    low, high = np.percentile(image, [low_pct, high_pct])
    scaled = (image.astype(np.float32) - low) / max(float(high - low), 1e-6)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def heatmap_overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map (any size, resized bilinearly, normalised to 0..1) over a grey uint8 image → RGB.

    The colour is weighted by the heat itself, so where the heat is 0 the grey image shows unchanged.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 grey image, got {gray.shape} {gray.dtype}")
    if np.asarray(heat).ndim != 2:
        raise ValueError(f"expected a 2D heat map, got shape {np.shape(heat)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected alpha in [0, 1], got {alpha}")
    heat = resize_bilinear(np.asarray(heat, np.float32), gray.shape)
    heat -= heat.min()
    peak = float(heat.max())
    if peak > 0:
        heat /= peak
    # 8-bit colours from the colour map's table and float32 blending: half the time of float64 RGBA, and the
    # picture differs from that by at most one grey level.
    colours = matplotlib.colormaps[cmap](heat, bytes=True)[..., :3].astype(np.float32)
    base = gray[..., None].astype(np.float32)
    weight = (np.float32(alpha) * heat)[..., None]
    return (base + weight * (colours - base) + 0.5).astype(np.uint8)


def draw_boxes(rgb: np.ndarray, boxes: np.ndarray, labels: list[str], color: Color = (255, 255, 0)) -> np.ndarray:
    """A copy of the picture with rectangles (x0, y0, x1, y1 in pixels) and a label above each."""
    _check_rgb(rgb)
    boxes = np.asarray(boxes, float).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    if len(boxes) != len(labels):
        raise ValueError(f"expected one label per box, got {len(boxes)} boxes and {len(labels)} labels")
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for (x0, y0, x1, y1), label in zip(boxes, labels, strict=True):
        draw.rectangle([x0, y0, x1, y1], outline=color, width=2)
        draw.text((x0, max(0.0, y0 - 12)), label, fill=color)
    return np.asarray(image)


def draw_contours(rgb: np.ndarray, mask: np.ndarray, color: Color = (0, 255, 0)) -> np.ndarray:
    """A copy of the picture with the outline (1 pixel, inside the mask) of each region of `mask` painted."""
    _check_rgb(rgb)
    mask = np.asarray(mask, bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"expected a mask of the picture's shape {rgb.shape[:2]}, got {mask.shape}")
    # Imported here: only contour pictures (onfh_mri) need scipy.ndimage, ~0.2 s of every other app's start-up.
    from scipy import ndimage

    # border_value=0 makes a region touching the image edge get an outline along that edge too.
    outline = mask & ~ndimage.binary_erosion(mask, border_value=0)
    out = rgb.copy()
    out[outline] = color
    return out


def caption(rgb: np.ndarray, text: str, line_height: int = 14) -> np.ndarray:
    """The image with a black banner of text on top; text wraps at " | " and at the image width."""
    _check_rgb(rgb)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for part in text.split(" | "):
        line = ""
        for word in part.split(" "):
            candidate = f"{line} {word}".strip()
            if line and probe.textlength(candidate) > rgb.shape[1] - 4:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    banner = Image.new("RGB", (rgb.shape[1], line_height * len(lines)), (0, 0, 0))
    draw = ImageDraw.Draw(banner)
    for i, line in enumerate(lines):
        draw.text((2, 1 + i * line_height), line, fill=(255, 255, 255))
    return np.concatenate([np.asarray(banner), rgb], axis=0)


def enlarge(gray: np.ndarray, min_size: int = 384) -> np.ndarray:
    """A small grey image scaled up (bilinear) so its shorter side is at least `min_size`, for display."""
    factor = min_size / min(gray.shape)
    if factor <= 1:
        return gray
    size = (round(gray.shape[0] * factor), round(gray.shape[1] * factor))
    return np.clip(resize_bilinear(gray.astype(np.float32), size) + 0.5, 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an RGB uint8 image."""
    _check_rgb(rgb)
    buffer = io.BytesIO()
    # zlib level 1: four times faster than the default 6 for 16 % more bytes; these are review images, not archives.
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
