"""The DALI pipeline equals the numpy reference; the reference equals torch's bilinear resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.dali_preprocess import DaliPreprocessor
from inference.model_meta import parse_model_meta
from inference.preprocess import PreprocessSpec, intensity_window, preprocess_reference
from inference.preprocessor import make_preprocessor

IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _images(shapes: list[tuple[int, int]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4096, shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize(
    ("size", "shapes"),
    [
        ((224, 224), [(192, 192)]),
        ((224, 224), [(176, 192), (192, 160)]),
        ((224, 224), [(512, 512)]),
        ((64, 64), [(192, 192), (160, 160), (128, 96)]),
    ],
)
def test_dali_matches_reference(size: tuple[int, int], shapes: list[tuple[int, int]]) -> None:
    spec = PreprocessSpec(size=size, **IMAGENET)
    images = _images(shapes)
    dali = DaliPreprocessor(spec, batch_size=2)(images).numpy()
    reference = preprocess_reference(images, spec)
    assert dali.shape == reference.shape == (len(images), 3, *size)
    np.testing.assert_allclose(dali, reference, atol=2e-4)


def test_reference_resize_matches_torch_bilinear() -> None:
    spec = PreprocessSpec(size=(224, 224), **IMAGENET)
    image = _images([(192, 176)])[0]
    low, high = intensity_window(image)
    scaled = torch.from_numpy(np.clip((image - low) / (high - low), 0, 1))[None, None]
    resized = torch.nn.functional.interpolate(scaled, size=(224, 224), mode="bilinear", align_corners=False)[0, 0]
    expected = (resized.numpy() - 0.485) / 0.229
    np.testing.assert_allclose(preprocess_reference([image], spec)[0, 0], expected, atol=1e-4)


def test_percentile_scaling_clips_outliers() -> None:
    spec = PreprocessSpec(size=(8, 8), mean=(0.0,), std=(1.0,), channels=1)
    image = np.tile(np.linspace(0, 100, 8, dtype=np.float32), (8, 1))
    image[0, 0] = 1e6  # one hot pixel must not squash the rest
    out = preprocess_reference([image], spec)
    assert out.min() == 0.0 and out.max() == 1.0 and out[0, 0, 4, 4] < 0.9


def test_spec_from_meta_and_validation() -> None:
    meta = {
        "name": "m",
        "version": "1",
        "task": "classification",
        "labels": ["a", "b"],
        "outputs": ["probabilities", "cam"],
        "threshold": 0.5,
        "input_size": [64, 48],
        "channels": 3,
        **{k: list(v) for k, v in IMAGENET.items()},
    }
    spec = PreprocessSpec.from_meta(parse_model_meta(meta))
    assert spec.size == (64, 48) and spec.intensity == "percentile"
    with pytest.raises(ValueError, match="intensity scaling 'zscore' is not supported"):
        PreprocessSpec(size=(8, 8), intensity="zscore", **IMAGENET)
    with pytest.raises(ValueError, match="mean/std need 1 values"):
        PreprocessSpec(size=(8, 8), channels=1, **IMAGENET)


def test_reference_fallback_without_dali(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSK_MAPS_NO_DALI", "1")
    spec = PreprocessSpec(size=(32, 32), **IMAGENET)
    images = _images([(40, 40)])
    np.testing.assert_array_equal(make_preprocessor(spec)(images).numpy(), preprocess_reference(images, spec))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_pipeline_matches_reference() -> None:
    spec = PreprocessSpec(size=(224, 224), **IMAGENET)
    images = _images([(192, 192), (512, 512)])
    gpu = DaliPreprocessor(spec, device="cuda")(images)
    assert gpu.is_cuda
    np.testing.assert_allclose(gpu.cpu().numpy(), preprocess_reference(images, spec), atol=2e-4)
