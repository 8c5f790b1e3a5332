from __future__ import annotations

from pathlib import Path

import torch

from bench.timing_models import export_paper_size_models
from inference.model_store import ModelStore


def test_paper_size_models_have_the_papers_inputs_and_say_they_are_untrained(tmp_path: Path) -> None:
    store = ModelStore(export_paper_size_models(tmp_path / "models"), "cpu")
    for name, size, channels in (("olt_mri_t1", 224, 3), ("olt_mri_t2", 224, 3), ("onfh_mri_femoral_head", 256, 1)):
        model = store.get(name)
        assert model.meta.input_size == (size, size) and model.meta.demo is True
        assert "untrained" in model.meta.training["data"]
        outputs = model.predict(torch.zeros(1, channels, size, size))
        assert all(v.shape[0] == 1 for v in outputs.values())
