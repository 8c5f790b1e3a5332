"""ankle_xray end to end: radiographs in every transfer syntax, broken files and an MRI study, fixture models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.broken import write_broken_inputs
from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, SUPPORTED_SYNTAXES
from tests.app_runner import read_rows, run_app
from tests.dicom_validation import dciodvfy_errors
from tests.model_fixtures import export_fixture_fragment_models
from training.evaluate_fragments import evaluate_fragment_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ankle_xray")
    input_dir, models, output = root / "input", root / "models", root / "out"
    truths = generate_ankle_xray_dataset(input_dir / "xray", patients=3, seed=8, syntax_variants=True)
    mri = generate_ankle_mri_dataset(input_dir / "mri", patients=1, seed=8)
    broken = write_broken_inputs(input_dir / "broken", seed=8)
    export_fixture_fragment_models(models)
    returncode, stderr = run_app("ankle_xray", input_dir, output, models)
    results = {}
    for truth in truths:
        path = output / truth["study_instance_uid"] / "result.json"
        results[truth["study_instance_uid"]] = json.loads(path.read_text()) if path.is_file() else None
    return {
        "input": input_dir,
        "output": output,
        "truths": truths,
        "mri": mri,
        "broken": broken,
        "returncode": returncode,
        "stderr": stderr,
        "results": results,
    }


def test_every_radiograph_in_every_syntax_is_analysed(batch: dict) -> None:
    assert batch["returncode"] == 0, batch["stderr"][-3000:]
    syntaxes = set()
    for truth in batch["truths"]:
        result = batch["results"][truth["study_instance_uid"]]
        assert result is not None and result["status"] == "ok", truth["patient_id"]
        analysed = {r["sop_instance_uid"] for r in result["details"]["radiographs"]}
        assert analysed == {i["sop_instance_uid"] for i in truth["images"]}
        syntaxes |= {i["transfer_syntax_uid"] for i in truth["images"]}
    assert syntaxes == set(SUPPORTED_SYNTAXES)
    rows = {r["study_instance_uid"]: r for r in read_rows(batch["output"] / "results.csv")}
    assert rows[batch["mri"][0]["study_instance_uid"]]["status"] == "no_matching_series"
    failed = {Path(f["item"]).name for f in read_rows(batch["output"] / "failures.csv")}
    unreadable = [Path(p).name for p in batch["broken"] if Path(p).suffix == ".bin" or "random" in p]
    assert unreadable and set(unreadable) <= failed
    # The README.txt beside them is a companion file: skipped and counted in run.json, not a failure.
    assert json.loads((batch["output"] / "run.json").read_text())["skipped_files"]["text"] == 1


def test_same_pixels_in_lossless_syntaxes_give_identical_findings(batch: dict) -> None:
    variants = [t for t in batch["truths"] if t.get("same_pixels_group")]
    lossless = [t for t in variants if t["images"][0]["transfer_syntax_uid"] in LOSSLESS_SYNTAXES]
    assert len(lossless) == len(LOSSLESS_SYNTAXES) >= 4
    fragments = [batch["results"][t["study_instance_uid"]]["details"]["fragments"] for t in lossless]
    strip = [[{k: v for k, v in f.items() if k != "sop_instance_uid"} for f in found] for found in fragments]
    assert strip[0], "the fixture detector (score threshold 0) must report boxes for this comparison to bite"
    assert all(s == strip[0] for s in strip[1:])


def test_sr_boxes_read_back_and_match_result_json(batch: dict) -> None:
    truth = next(t for t in batch["truths"] if t["images"] and not t.get("same_pixels_group"))
    study_dir = batch["output"] / truth["study_instance_uid"]
    result = batch["results"][truth["study_instance_uid"]]
    for name in result["files"]:
        if name.endswith(".dcm"):
            assert dciodvfy_errors(study_dir / name) == [], name
    sr = hd.sr.srread(study_dir / "report_sr.dcm")
    groups = {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    fragments = result["details"]["fragments"]
    assert sorted(groups) == sorted(f["tracking_id"] for f in fragments)
    for fragment in fragments:
        region = groups[fragment["tracking_id"]].roi
        points = np.asarray(region.value)
        x0, y0, x1, y1 = fragment["box"]
        assert np.allclose(points.min(axis=0), [x0, y0], atol=0.01)
        assert np.allclose(points.max(axis=0), [x1, y1], atol=0.01)
        source = region.ContentSequence[0].ReferencedSOPSequence[0]
        assert source.ReferencedSOPInstanceUID == fragment["sop_instance_uid"]
    pngs = [f for f in result["files"] if f.endswith(".png")]
    assert len(pngs) == len(truth["images"])


def test_evaluation_cli_counts_every_true_fragment(batch: dict, tmp_path: Path) -> None:
    metrics = evaluate_fragment_run(batch["input"] / "xray", batch["output"], tmp_path)
    expected = sum(len(i["fragments"]) for t in batch["truths"] for i in t["images"])
    assert metrics["detection"]["num_gt"] == expected
    assert 0.0 <= metrics["detection"]["ap"] <= 1.0


def _odd_radiographs(source: Path, folder: Path) -> dict[str, Path]:
    """One phantom radiograph rewritten as awkward-but-legal (and one illegal) variants, each its own study."""
    base = pydicom.dcmread(source)
    if base.file_meta.TransferSyntaxUID.is_compressed:
        base.decompress()
    pixels = base.pixel_array.astype(np.int64)
    variants: dict[str, Path] = {}

    def write(name: str, ds: pydicom.Dataset) -> None:
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["odd", name, "study"])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["odd", name, "series"])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["odd", name])
        path = folder / f"{name}.dcm"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        variants[name] = path

    eight = copy.deepcopy(base)
    eight.BitsAllocated, eight.BitsStored, eight.HighBit = 8, 8, 7
    eight.PixelData = (pixels * 255 // max(int(pixels.max()), 1)).astype(np.uint8).tobytes()
    write("8bit", eight)
    signed = copy.deepcopy(base)
    signed.BitsStored, signed.HighBit, signed.PixelRepresentation = 16, 15, 1
    signed.PixelData = (pixels - int(pixels.mean())).astype(np.int16).tobytes()
    write("signed16", signed)
    large = copy.deepcopy(base)
    big = np.kron(pixels, np.ones((4, 4), np.int64)).astype(np.uint16)
    large.Rows, large.Columns, large.PixelData = *big.shape, big.tobytes()
    write("large", large)
    tiny = copy.deepcopy(base)
    tiny.Rows, tiny.Columns, tiny.PixelData = 4, 4, pixels[:4, :4].astype(np.uint16).tobytes()
    write("tiny", tiny)
    rgb = copy.deepcopy(base)
    colour = np.repeat((pixels * 255 // max(int(pixels.max()), 1)).astype(np.uint8)[..., None], 3, axis=2)
    rgb.SamplesPerPixel, rgb.PhotometricInterpretation, rgb.PlanarConfiguration = 3, "RGB", 0
    rgb.BitsAllocated, rgb.BitsStored, rgb.HighBit = 8, 8, 7
    rgb.PixelData = colour.tobytes()
    write("rgb", rgb)
    lying = copy.deepcopy(base)
    lying.Rows = int(base.Rows) * 2  # the header promises twice the pixels the file holds
    write("lying", lying)
    return variants


def test_any_decodable_radiograph_is_analysed_or_refused_with_one_line(tmp_path: Path, batch: dict) -> None:
    source = next(
        batch["input"] / "xray" / t["patient_id"] / i["file"]
        for t in batch["truths"]
        for i in t["images"]
        if i["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    )
    variants = _odd_radiographs(source, tmp_path / "odd")
    returncode, stderr = run_app("ankle_xray", tmp_path / "odd", tmp_path / "out", batch["output"].parent / "models")
    assert returncode == 0, stderr[-3000:]
    failures = {Path(f["item"]).stem: f["reason"] for f in read_rows(tmp_path / "out" / "failures.csv")}
    analysed = {}
    for folder in (tmp_path / "out").iterdir():
        if (folder / "result.json").is_file():
            result = json.loads((folder / "result.json").read_text())
            analysed |= {r["sop_instance_uid"]: result for r in result["details"].get("radiographs", [])}
    for name, path in variants.items():
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert (uid in analysed) != (name in failures), name
        if name in failures:
            assert failures[name] and "\n" not in failures[name]
    assert {"8bit", "signed16", "large"} <= {n for n, p in variants.items() if n not in failures}
    assert "colour image" in failures["rgb"] and "too small" in failures["tiny"]
    assert "PixelData holds" in failures["lying"]


def test_one_scheduler_thread_gives_exactly_the_pipelined_results(batch: dict, tmp_path: Path) -> None:
    returncode, stderr = run_app(
        "ankle_xray", batch["input"], tmp_path / "serial", batch["output"].parent / "models", "--workers", "1"
    )
    assert returncode == 0, stderr[-3000:]
    for uid, pipelined in batch["results"].items():
        serial = json.loads((tmp_path / "serial" / uid / "result.json").read_text())
        assert serial["details"] == pipelined["details"], uid
    assert read_rows(tmp_path / "serial" / "failures.csv") == read_rows(batch["output"] / "failures.csv")
