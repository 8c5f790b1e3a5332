"""The training CLI's pipeline on a tiny phantom set: split, train, evaluate, export with meta (not accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.model_store import ModelStore, read_meta
from phantoms.ankle_mri import generate_ankle_mri_dataset
from training.olt_manifest import OFF_DOME_NEGATIVES, olt_manifest_rows, write_manifest
from training.train_classifier import TrainConfig, read_manifest, train_classifier

pytestmark = pytest.mark.slow


def test_train_export_and_evaluate_on_tiny_phantoms(tmp_path: Path) -> None:
    truths = generate_ankle_mri_dataset(tmp_path / "data", patients=6, seed=5)
    rows = olt_manifest_rows(tmp_path / "data", truths, "T1")
    assert {r["label"] for r in rows} == {"0", "1"}
    assert {r["patient_id"] for r in rows if r["label"] == "1"} == {t["patient_id"] for t in truths if t["lesion"]}
    # Negatives: every lesion-free slice through the talar dome, plus OFF_DOME_NEGATIVES others, per series.
    for truth in truths:
        for series in (s for s in truth["series"] if s["weighting"] == "T1" and s["plane"] != "axial"):
            folder = f"/{truth['patient_id']}/{series['folder']}/"  # series folder names repeat across patients
            chosen = {r["path"] for r in rows if folder in r["path"]}
            dome = set(series["talus_slices"]) - set(series["slices_with_lesion"])
            numbers = {int(Path(path).stem) for path in chosen}
            assert dome <= numbers and len(numbers - dome - set(series["slices_with_lesion"])) == OFF_DOME_NEGATIVES
    manifest = write_manifest(rows, tmp_path / "t1.csv")
    assert read_manifest(manifest) == rows

    config = TrainConfig(name="olt_mri_t1", labels=("no_olt", "olt"), epochs=2, input_size=32, batch_size=8)
    with pytest.raises(ValueError, match="lr_schedule must be 'constant' or 'cosine', got 'step'"):
        train_classifier(manifest, tmp_path / "bad", TrainConfig(name="x", epochs=1, input_size=32, lr_schedule="step"))
    config.lr_schedule = "cosine"
    metrics = train_classifier(manifest, tmp_path / "model", config)

    evaluation = tmp_path / "model" / "evaluation"
    assert json.loads((evaluation / "metrics.json").read_text())["n"] == metrics["n"] > 0
    assert len(json.loads((evaluation / "history.json").read_text())) == 2
    meta = read_meta(tmp_path / "model" / "olt_mri_t1.ts")
    assert meta.input_size == (32, 32) and meta.labels == ("no_olt", "olt")
    assert meta.training["split_images"]["test"] == metrics["n"]
    assert meta.training["lr_schedule"] == "cosine"
    assert len(meta.weights_sha256) == 64
    loaded = ModelStore(tmp_path / "model", device="cpu").get("olt_mri_t1")
    assert loaded.meta == meta
