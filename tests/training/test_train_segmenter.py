"""A few training steps on small synthetic discs lower the loss for both variants; seeding; export contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.model_store import ModelStore
from training.train_segmenter import SegmenterConfig, export_segmenter, synthetic_head_crops, train_segmenter

SIZE = 64


def _discs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    masks = np.zeros((n, SIZE, SIZE), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(20, 44, 2)
        masks[i] = np.hypot(yy - cy, xx - cx) <= rng.uniform(8, 14)
    images = masks * 1.5 + rng.normal(0, 0.5, masks.shape)
    return ((images - images.mean()) / images.std()).astype(np.float32), masks


def _config(variant: str, epochs: int = 4) -> SegmenterConfig:
    return SegmenterConfig(
        variant=variant, input_size=SIZE, channels=(4, 8, 16), epochs=epochs, batch_size=4, lr=1e-2, val_fraction=0.25
    )


@pytest.mark.parametrize("variant", ["plain", "geo-pixel"])
@pytest.mark.usefixtures("one_torch_thread")
def test_training_lowers_the_loss(variant: str) -> None:
    images, masks = _discs(16, seed=1)
    model, report = train_segmenter(images, masks, _config(variant))
    history = report["history"]
    assert history[-1]["train_total"] < history[0]["train_total"]
    assert history[-1]["train_main"] < history[0]["train_main"]
    assert ("train_geometric" in history[0]) == (variant == "geo-pixel")
    assert ("train_pixel" in history[0]) == (variant == "geo-pixel")
    assert report["n_train"] == 12 and report["n_val"] == 4
    assert 1 <= report["best_epoch"] <= 4 and 0.0 <= report["val_dice"] <= 1.0
    assert not model.training


@pytest.mark.usefixtures("one_torch_thread")
def test_seeded_training_is_deterministic() -> None:
    images, masks = _discs(8, seed=2)
    first, _ = train_segmenter(images, masks, _config("geo-pixel", epochs=1))
    second, _ = train_segmenter(images, masks, _config("geo-pixel", epochs=1))
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


@pytest.mark.usefixtures("one_torch_thread")
def test_export_carries_the_config_and_loads_in_the_app_store(tmp_path: Path) -> None:
    images, masks = _discs(8, seed=3)
    config = _config("geo-pixel", epochs=1)
    model, report = train_segmenter(images, masks, config)
    export_segmenter(model, config, report, tmp_path)
    loaded = ModelStore(tmp_path).get(config.name)
    meta = loaded.meta
    assert meta.input_size == (SIZE, SIZE) and meta.threshold == config.threshold
    assert meta.outputs == ("logits",) and meta.labels == tuple(config.labels)
    assert meta.training["config"]["channels"] == list(config.channels)
    assert meta.training["config"]["variant"] == "geo-pixel"
    assert meta.normalisation_method == config.normalisation and meta.crop_mm == config.crop_mm
    x = torch.from_numpy(images[:2])[:, None]
    with torch.no_grad():
        assert torch.allclose(loaded.predict(x)["logits"], model(x), atol=1e-4)


def test_rejects_wrong_shapes_and_variants() -> None:
    images, masks = _discs(4, seed=4)
    with pytest.raises(ValueError):
        train_segmenter(images, masks, SegmenterConfig())  # 64x64 crops, config expects 256x256
    with pytest.raises(ValueError):
        train_segmenter(images, masks, _config("unet++"))


def test_synthetic_head_crops() -> None:
    images, masks = synthetic_head_crops(3, seed=0, size=256)
    assert images.shape == masks.shape == (3, 256, 256) and images.dtype == np.float32
    areas = masks.reshape(3, -1).sum(1)
    assert np.all(areas > np.pi * 29**2) and np.all(areas < np.pi * 46**2)
    assert np.allclose(images.reshape(3, -1).mean(1), 0, atol=1e-4)
