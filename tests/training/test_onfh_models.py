from __future__ import annotations

from pathlib import Path

import numpy as np

from phantoms.hip_mri import generate_hip_mri_dataset
from training.onfh_models import DEMO_INPUT_SIZE, EMPTY_SLICES_PER_HIP, HEAD_SLICES_PER_HIP, hip_crops


def test_hip_crops_are_normalised_centred_heads_with_their_masks(tmp_path: Path) -> None:
    truth = generate_hip_mri_dataset(tmp_path, 1, 17)[0]
    images, masks = hip_crops(tmp_path / truth["patient_id"], truth, np.random.default_rng(0))
    assert images.shape == masks.shape and images.shape[1:] == (DEMO_INPUT_SIZE, DEMO_INPUT_SIZE)
    assert len(images) <= 2 * (HEAD_SLICES_PER_HIP + EMPTY_SLICES_PER_HIP)
    assert images.min() >= 0.0 and images.max() <= 1.0
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    assert (areas == 0).sum() >= 1, "each hip contributes a slice without its head"
    largest = masks[int(np.argmax(areas))].astype(bool)
    rows, cols = np.nonzero(largest)
    centre = (DEMO_INPUT_SIZE - 1) / 2
    # Centred on the true head up to the training jitter (±4 mm of a 100 mm crop: ±5 px at 128).
    assert abs(rows.mean() - centre) < 8 and abs(cols.mean() - centre) < 8
    assert images[int(np.argmax(areas))][largest].mean() > images[int(np.argmax(areas))][~largest].mean()
