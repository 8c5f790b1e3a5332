"""Pictures for people: window a modality image to 8 bits, overlay a heat map, boxes, contours, a caption."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

from operators.preprocess import resize_bilinear

__all__ = ["window_to_uint8", "enlarge", "heatmap_overlay", "draw_boxes", "caption", "png_bytes"]


def window_to_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Map the [low_pct, high_pct] percentile window of a modality image to 0..255."""
    low, high = np.percentile(image, [low_pct, high_pct])
    scaled = (image.astype(np.float32) - low) / max(float(high - low), 1e-6)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def heatmap_overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map (any size, resized bilinearly, normalised to 0..1) over a grey uint8 image → RGB."""
    heat = resize_bilinear(np.asarray(heat, np.float32), gray.shape)
    heat = heat - heat.min()
    heat = heat / heat.max() if heat.max() > 0 else heat
    colours = matplotlib.colormaps[cmap](heat)[..., :3]
    base = np.repeat(gray[..., None].astype(np.float32) / 255.0, 3, axis=2)
    blended = (1 - alpha * heat[..., None]) * base + alpha * heat[..., None] * colours
    return (np.clip(blended, 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_boxes(rgb: np.ndarray, boxes: np.ndarray, labels: list[str], colour=(255, 255, 0)) -> np.ndarray:
    """Rectangles (x0, y0, x1, y1 in pixels) with a label above each."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for (x0, y0, x1, y1), label in zip(np.asarray(boxes, float), labels, strict=True):
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        draw.text((x0, max(0.0, y0 - 12)), label, fill=colour)
    return np.asarray(image)


def caption(rgb: np.ndarray, text: str, line_height: int = 14) -> np.ndarray:
    """The image with a black banner of text on top; text wraps at " | " and at the image width."""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for part in text.split(" | "):
        words, line = part.split(" "), ""
        for word in words:
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
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
