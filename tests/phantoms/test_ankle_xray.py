from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation
from scipy.ndimage import uniform_filter

from phantoms.ankle_xray import (
    GROUND_TRUTH_FILE,
    PLACEMENTS,
    SMALL_FRAGMENT_MM,
    add_subcommand,
    generate_ankle_xray_dataset,
    render_ankle_radiograph,
)
from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, LOSSY_SYNTAXES, SUPPORTED_SYNTAXES
from tests.dicom_validation import dciodvfy_errors

SEED = 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("xray")
    return root, generate_ankle_xray_dataset(root, 12, SEED, syntax_variants=True)


def _images(truths: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(truth, image) for truth in truths for image in truth["images"]]


def _modality_values(ds: pydicom.Dataset) -> np.ndarray:
    """Rescaled values, inverted for MONOCHROME1 so that bone is high, as the app must see them."""
    values = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        values = (1 << ds.BitsStored) - 1 - values
    return values


def test_same_seed_gives_identical_bytes(tmp_path: Path, dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    again = generate_ankle_xray_dataset(tmp_path, 12, SEED, syntax_variants=True)
    assert again == truths
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for relative in files:
        assert (root / relative).read_bytes() == (tmp_path / relative).read_bytes(), relative
    other = generate_ankle_xray_dataset(tmp_path / "other", 1, SEED + 1)
    assert other[0]["study_instance_uid"] != truths[0]["study_instance_uid"]


def test_ground_truth_matches_the_files(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    assert [t["patient_id"] for t in truths[:12]] == [f"AX{i:04d}" for i in range(12)]
    for truth in truths:
        folder = root / truth["patient_id"]
        assert json.loads((folder / GROUND_TRUTH_FILE).read_text()) == truth
        assert truth["kind"] == "ankle-xray" and truth["laterality"] in ("R", "L")
        views = [image["view"] for image in truth["images"]]
        assert views[0] in ("AP", "MORTISE") and views[1:] in ([], ["LATERAL"])
        for image in truth["images"]:
            ds = pydicom.dcmread(folder / image["file"])
            assert ds.PatientID == truth["patient_id"]
            assert ds.StudyInstanceUID == truth["study_instance_uid"]
            assert ds.SOPInstanceUID == image["sop_instance_uid"]
            assert ds.file_meta.TransferSyntaxUID == image["transfer_syntax_uid"]
            assert ds.Modality == image["modality"]
            assert ds.PhotometricInterpretation == image["photometric"]
            assert ds.BitsStored == image["bits_stored"] and 10 <= ds.BitsStored <= 16
            assert (ds.Rows, ds.Columns) == (image["rows"], image["columns"])
            assert 420 <= ds.Rows <= 640 and 420 <= ds.Columns <= 640 and ds.Rows != ds.Columns
            spacing = ds.get("PixelSpacing") or ds.ImagerPixelSpacing
            assert [float(v) for v in spacing] == image["pixel_spacing_mm"]
            assert 0.25 <= image["pixel_spacing_mm"][0] <= 0.35
            assert ds.BodyPartExamined == "ANKLE"
            assert ds.get("ImageLaterality", ds.get("Laterality")) == truth["laterality"]
            assert ds.ViewPosition == ("AP" if image["view"] != "LATERAL" else f"{truth['laterality']}L")
            assert "WindowCenter" in ds and "WindowWidth" in ds
            if image["modality"] == "DX":
                assert ds.SOPClassUID == DigitalXRayImageStorageForPresentation
                assert ds.PresentationIntentType == "FOR PRESENTATION"
                assert ds.ImageLaterality == truth["laterality"]
                assert "ImagerPixelSpacing" in ds
                shape = {"MONOCHROME1": "INVERSE", "MONOCHROME2": "IDENTITY"}[ds.PhotometricInterpretation]
                assert ds.PresentationLUTShape == shape
            else:
                assert ds.SOPClassUID == ComputedRadiographyImageStorage
                assert "PixelSpacing" in ds and "RescaleSlope" in ds
        # One fragment per study at most, seen on each of its views: clearly on the frontal one, faintly laterally.
        fragments = [f for image in truth["images"] for f in image["fragments"]]
        assert len({f["class"] for f in fragments}) <= 1 and len(fragments) in (0, len(truth["images"]))
        for image in truth["images"]:
            for fragment in image["fragments"]:
                lateral = image["view"] == "LATERAL"
                assert (fragment["visibility"] < 0.5) if lateral else (fragment["visibility"] == 1.0)
                assert fragment["placement"] in (("below_tip",) if lateral else PLACEMENTS)


def test_fragment_boxes_are_inside_and_visible(
    dataset: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, truths = dataset
    checked = 0
    for truth, image in _images(truths):
        assert len(image["fragments"]) <= 1
        for fragment in image["fragments"]:
            x0, y0, x1, y1 = fragment["box"]
            assert 0 <= x0 < x1 <= image["columns"] and 0 <= y0 < y1 <= image["rows"]
            size_mm = max(x1 - x0, y1 - y0) * image["pixel_spacing_mm"][0]
            assert SMALL_FRAGMENT_MM[0] - 0.5 <= size_mm <= 13.0, size_mm
            if image["view"] == "LATERAL" or fragment["placement"] != "below_tip" or fragment["size_mm"] < 4.0:
                continue  # faint, superimposed on bone, or a couple of pixels: visible, but not by this measure
            values = _modality_values(pydicom.dcmread(root / truth["patient_id"] / image["file"]))
            inside = values[y0:y1, x0:x1]
            margin = 6
            around = values[max(y0 - margin, 0) : y1 + margin, max(x0 - margin, 0) : x1 + margin]
            ring = (around.sum() - inside.sum()) / (around.size - inside.size)
            assert inside.mean() - ring > 0.03 * ((1 << image["bits_stored"]) - 1), (truth["patient_id"], fragment)
            checked += 1
    assert checked >= 2


def test_the_hard_cases_are_all_there() -> None:
    """Small fragments, every placement and appearance, rotated views and look-alikes, over a few hundred draws."""
    fragments, lookalikes = [], set()
    for seed in range(120):
        kind = ("SFO", "LMAF")[seed % 2] if seed % 3 else None
        view = ("AP", "MORTISE", "LATERAL")[seed % 3 if kind else 0]
        picture = render_ankle_radiograph(
            np.random.default_rng(seed), view=view, rows=480, columns=440, pixel_spacing_mm=0.3, fragment=kind
        )
        fragments += picture.fragments
        lookalikes |= {a.kind for a in picture.lookalikes}
    assert {f.placement for f in fragments if f.visibility == 1.0} == set(PLACEMENTS)
    assert {f.appearance for f in fragments} == {"clear rim", "faint rim", "sharp edge", "smooth edge"}
    small = [f for f in fragments if f.size_mm <= SMALL_FRAGMENT_MM[1]]
    assert 0.1 < len(small) / len(fragments) < 0.45
    assert lookalikes == {"os_subtibiale", "os_trigonum", "vessel_calcification", "skin_fold"}


def test_dataset_mixes_classes_modalities_photometrics_and_syntaxes(
    dataset: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, truths = dataset
    main = [(t, i) for t, i in _images(truths) if t["same_pixels_group"] is None]
    assert {f["class"] for _, i in main for f in i["fragments"]} == {"LMAF", "SFO"}
    assert {i["modality"] for _, i in main} == {"CR", "DX"}
    assert {i["photometric"] for _, i in main} == {"MONOCHROME1", "MONOCHROME2"}
    assert {i["transfer_syntax_uid"] for _, i in main} == set(SUPPORTED_SYNTAXES)
    assert {i["view"] for _, i in main} >= {"LATERAL"}
    assert len({i["bits_stored"] for _, i in main}) >= 2
    with_fragment = sum(bool(t["images"][0]["fragments"]) for t in truths[:12])
    assert with_fragment == round(0.7 * 12)


def test_syntax_variants_share_pixels(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    variants = [t for t in truths if t["same_pixels_group"] is not None]
    assert len(variants) == len(SUPPORTED_SYNTAXES)
    assert len({t["same_pixels_group"] for t in variants}) == 1
    assert len({t["study_instance_uid"] for t in variants}) == len(variants)
    assert all(t["patient_id"].startswith("AXV-") for t in variants)
    pixels = {}
    for truth in variants:
        (image,) = truth["images"]
        assert image["fragments"], "a variant must show a fragment"
        pixels[image["transfer_syntax_uid"]] = pydicom.dcmread(root / truth["patient_id"] / image["file"]).pixel_array
    assert set(pixels) == set(SUPPORTED_SYNTAXES)
    reference = pixels[LOSSLESS_SYNTAXES[0]]
    for syntax in LOSSLESS_SYNTAXES:
        np.testing.assert_array_equal(pixels[syntax], reference, err_msg=syntax)
    for syntax in LOSSY_SYNTAXES:
        error = np.abs(pixels[syntax].astype(np.int64) - reference.astype(np.int64))
        assert 0 < error.mean() < 0.01 * reference.max()


def _rim_contrast(seed: int, kind: str, view: str = "AP") -> tuple[float, Any]:
    """Border-minus-centre brightness of the one fragment on a rendered view (peak along four rays, median)."""
    picture = render_ankle_radiograph(
        np.random.default_rng(seed), view=view, rows=500, columns=440, pixel_spacing_mm=0.3, fragment=kind
    )
    (fragment,) = picture.fragments
    assert fragment.kind == kind
    x0, y0, x1, y1 = fragment.box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    image = uniform_filter(picture.image.astype(np.float64), 3)
    # Peak along the four rays from the centre to the box edges; the median ignores one ray crossing bone.
    rays = [image[cy, x0 : cx + 1], image[cy, cx:x1], image[y0 : cy + 1, cx], image[cy:y1, cx]]
    return float(np.median([ray.max() for ray in rays])) - image[cy, cx], fragment


def test_sfo_is_corticated_and_lmaf_is_not() -> None:
    """The class-defining sign on clear cases: a clear-rimmed SFO's border is brighter than its centre; an LMAF's
    is not. A faint-rimmed SFO keeps a weaker rim: the hard case, still an ossicle."""
    seen = set()
    for seed in range(60):
        for kind in ("SFO", "LMAF"):
            rim, fragment = _rim_contrast(seed, kind)
            if fragment.placement != "below_tip" or fragment.size_mm < 5.0:
                continue
            seen.add(fragment.appearance)
            if fragment.appearance == "clear rim":
                assert rim > 0.1, seed
            elif fragment.appearance == "faint rim":
                assert 0.0 < rim < 0.15, seed
            else:
                assert rim < 0.1, seed
    assert seen == {"clear rim", "faint rim", "sharp edge", "smooth edge"}


def test_the_lateral_view_shows_the_fragment_faintly() -> None:
    for seed in range(6):
        picture = render_ankle_radiograph(
            np.random.default_rng(seed), view="LATERAL", rows=480, columns=520, pixel_spacing_mm=0.3, fragment="SFO"
        )
        (fragment,) = picture.fragments
        assert 0.25 <= fragment.visibility <= 0.45 and fragment.placement == "below_tip"
        assert picture.image.shape == (480, 520) and 0.0 <= picture.image.min() and picture.image.max() <= 1.0
    with pytest.raises(ValueError, match="Unknown fragment class 'OS'"):
        render_ankle_radiograph(
            np.random.default_rng(0), view="LATERAL", rows=480, columns=440, pixel_spacing_mm=0.3, fragment="OS"
        )


def test_cr_and_dx_files_pass_dciodvfy(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    for modality in ("CR", "DX"):
        truth, image = next((t, i) for t, i in _images(truths) if i["modality"] == modality)
        assert dciodvfy_errors(root / truth["patient_id"] / image["file"]) == [], modality


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 patient"):
        generate_ankle_xray_dataset(tmp_path, 0, 0)
    with pytest.raises(ValueError, match="fragment_fraction"):
        generate_ankle_xray_dataset(tmp_path, 2, 0, fragment_fraction=1.5)


def test_cli_subcommand_writes_studies(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_subcommand(parser.add_subparsers(dest="kind", required=True))
    args = parser.parse_args(
        ["ankle-xray", "--out", str(tmp_path), "--patients", "2", "--seed", "3", "--fragment-fraction", "1.0"]
    )
    assert args.syntax_variants is False
    message = args.run(args)
    assert message == f"wrote 2 ankle radiograph studies to {tmp_path}"
    for patient_id in ("AX0000", "AX0001"):
        truth = json.loads((tmp_path / patient_id / GROUND_TRUTH_FILE).read_text())
        assert truth["images"][0]["fragments"]
    args = parser.parse_args(["ankle-xray", "--out", str(tmp_path / "v"), "--patients", "1", "--syntax-variants"])
    assert args.run(args) == f"wrote {1 + len(SUPPORTED_SYNTAXES)} ankle radiograph studies to {tmp_path / 'v'}"
