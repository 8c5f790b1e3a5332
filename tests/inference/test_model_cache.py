"""A model optimised once is reused by the next process exactly as it was made; a changed file or an unwritable
cache never gives a wrong model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
import torch

from inference import model_cache
from inference.model_store import ModelStore
from tests.app_runner import REPO
from tests.model_fixtures import export_fixture_classifier, export_fixture_fragment_models, export_fixture_segmenter


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("MSK_MAPS_MODEL_CACHE", str(tmp_path / "cache"))
    export_fixture_classifier(tmp_path / "models", "olt_mri_t1", seed=3)
    return tmp_path / "models"


def _outputs(store: ModelStore) -> dict[str, torch.Tensor]:
    model = store.get("olt_mri_t1")
    batch = torch.linspace(-2, 2, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64)
    return model.predict(batch)


def test_the_second_process_gets_the_first_ones_module_and_hash(models, tmp_path):
    first = ModelStore(models, "cpu")
    expected = _outputs(first)
    entries = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert entries == [".json", ".ts"]
    path = models / "olt_mri_t1" / "olt_mri_t1.ts"
    assert first.get("olt_mri_t1").sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # Another process, as a per-study launch is: it loads the cached module, not the file it came from.
    probe = (
        "import sys, torch; from inference import model_cache; from inference.model_store import ModelStore\n"
        "calls = []\n"
        "freeze = torch.jit.freeze\n"
        "torch.jit.freeze = lambda *a, **k: calls.append(1) or freeze(*a, **k)\n"
        f"store = ModelStore(r'{models}', 'cpu')\n"
        "m = store.get('olt_mri_t1')\n"
        "x = torch.linspace(-2, 2, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64)\n"
        "torch.save({'out': m.predict(x), 'sha': m.sha256, 'frozen_here': len(calls)}, sys.argv[1])\n"
    )
    saved = tmp_path / "second.pt"
    env = {**os.environ, "MSK_MAPS_MODEL_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", probe, str(saved)], cwd=REPO, env=env, check=True)
    second = torch.load(saved)
    assert second["frozen_here"] == 0
    assert second["sha"] == first.get("olt_mri_t1").sha256
    for name, value in expected.items():
        assert torch.equal(second["out"][name], value), name


def test_a_changed_model_file_is_optimised_and_hashed_anew(models, tmp_path):
    before = _outputs(ModelStore(models, "cpu"))
    export_fixture_classifier(models, "olt_mri_t1", seed=4)  # same name, other weights
    path = models / "olt_mri_t1" / "olt_mri_t1.ts"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # never the same mtime as before
    store = ModelStore(models, "cpu")
    after = _outputs(store)
    assert store.get("olt_mri_t1").sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not all(torch.equal(after[name], value) for name, value in before.items())
    fresh = ModelStore(models, "cpu", optimize=False)
    for name, value in _outputs(fresh).items():
        assert torch.allclose(after[name], value, atol=1e-4), name


def test_an_unwritable_cache_costs_time_not_results(models, tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MSK_MAPS_MODEL_CACHE", str(blocked / "cache"))
    optimised = _outputs(ModelStore(models, "cpu"))
    plain = _outputs(ModelStore(models, "cpu", optimize=False))
    for name, value in plain.items():
        assert torch.allclose(optimised[name], value, atol=1e-4), name
    assert model_cache.cache_dir() == blocked / "cache" and not (blocked / "cache").exists()


def test_without_the_variable_nothing_is_cached(models, monkeypatch, tmp_path):
    monkeypatch.delenv("MSK_MAPS_MODEL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    store = ModelStore(models, "cpu")
    path = models / "olt_mri_t1" / "olt_mri_t1.ts"
    assert store.get("olt_mri_t1").sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_cache.cache_dir() is None
    assert not (tmp_path / "cache").exists() and not (tmp_path / "home").exists() and not (tmp_path / "xdg").exists()


def test_a_model_replaced_again_and_again_leaves_only_its_newest_entries(models, tmp_path):
    path = models / "olt_mri_t1" / "olt_mri_t1.ts"
    for step in range(model_cache.KEEP_PER_MODEL + 2):
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + (step + 1) * 1_000_000))
        ModelStore(models, "cpu").get("olt_mri_t1")
    entries = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert entries == [".json"] * model_cache.KEEP_PER_MODEL + [".ts"] * model_cache.KEEP_PER_MODEL
    newest = ModelStore(models, "cpu").get("olt_mri_t1")  # the newest entry is one of those kept
    assert newest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_mkldnn_weights_change_no_output_bit(tmp_path, monkeypatch):
    monkeypatch.setenv("MSK_MAPS_MODEL_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "models"
    export_fixture_classifier(models, "olt_mri_t1", seed=5)
    export_fixture_segmenter(models, seed=5)
    export_fixture_fragment_models(models, seed=5)
    inputs = {
        "olt_mri_t1": torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1)),
        "onfh_mri_femoral_head": torch.randn(2, 1, 96, 96, generator=torch.Generator().manual_seed(2)),
        "ankle_xray_detector": torch.randn(2, 1, 128, 128, generator=torch.Generator().manual_seed(3)),
        "ankle_xray_classifier": torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(4)),
    }
    store = ModelStore(models, "cpu")
    before = {name: _tensors(store.get(name).module(x)) for name, x in inputs.items()}
    assert not any(_mkldnn(store.get(name).module) for name in inputs)
    store.convert_to_mkldnn()
    for name, x in inputs.items():
        assert _mkldnn(store.get(name).module), name
        after = _tensors(store.get(name).module(x))
        assert len(after) == len(before[name]) > 0
        assert all(torch.equal(a, b) for a, b in zip(after, before[name], strict=True)), name


def _mkldnn(module: torch.jit.ScriptModule) -> bool:
    """Whether the module's graph runs MKL-DNN convolutions (its constants can't be printed: look at node kinds)."""
    return "prim::mkldnn_convolution" in {node.kind() for node in module.graph.nodes()}


def _tensors(output) -> list[torch.Tensor]:
    """Every tensor of a model's output (tensor, tuple, list or dict, nested), in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    values = output.values() if isinstance(output, dict) else output
    return [t for value in values for t in _tensors(value)]
