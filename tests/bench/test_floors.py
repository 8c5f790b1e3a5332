from __future__ import annotations

from pathlib import Path

from bench.floors import median_pass_seconds, model_floor
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset
from tests.model_fixtures import export_fixture_fragment_models, export_fixture_segmenter


def test_fragment_floor_runs_the_detector_on_every_radiograph(tmp_path: Path) -> None:
    truths = generate_ankle_xray_dataset(tmp_path / "in", 2, 3)
    export_fixture_fragment_models(tmp_path / "models")
    floor = model_floor("ankle_xray", tmp_path / "in", tmp_path / "models")
    assert floor["images"] == sum(len(t["images"]) for t in truths)
    assert floor["seconds"] > 0


def test_segmenter_floor_runs_every_slice_of_every_hip(tmp_path: Path) -> None:
    truths = generate_hip_mri_dataset(tmp_path / "in", 1, 3)
    export_fixture_segmenter(tmp_path / "models")
    floor = model_floor("onfh_mri", tmp_path / "in", tmp_path / "models")
    assert floor["images"] == 2 * len(truths[0]["sop_instance_uids"])
    assert floor["seconds"] > 0


def test_a_floor_is_the_median_pass_after_a_warm_up() -> None:
    calls: list[int] = []
    seconds = median_pass_seconds([lambda: calls.append(1), lambda: calls.append(2)], repeats=3)
    assert calls == [1, 2] + [1, 2] * 3  # two warm-up calls, then three whole passes
    assert 0 <= seconds < 0.1
