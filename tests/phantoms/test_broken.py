from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.errors import InvalidDicomError

from phantoms.ankle_mri import GROUND_TRUTH_FILE
from phantoms.broken import MANIFEST_FILE, write_broken_inputs


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("broken")
    return root, write_broken_inputs(root, seed=1, source_file=Path(get_testdata_file("MR_small.dcm")))


def _one(wrong: dict[str, str], predicate) -> Path:
    matches = [Path(p) for p in wrong if predicate(Path(p))]
    assert len(matches) == 1, matches
    return matches[0]


def test_manifest_lists_what_was_returned_relative_to_the_folder(broken: tuple[Path, dict[str, str]]) -> None:
    root, wrong = broken
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    assert {str(root / path): why for path, why in manifest.items()} == wrong
    assert all(why for why in wrong.values())


def test_non_dicom_files_are_rejected_by_pydicom(broken: tuple[Path, dict[str, str]]) -> None:
    _, wrong = broken
    names = {"README.txt", "random_bytes.dcm", "empty.dcm"}
    assert names <= {Path(p).name for p in wrong}
    for path in (Path(p) for p in wrong if Path(p).name in names):
        with pytest.raises(InvalidDicomError, match="DICM"):
            pydicom.dcmread(path)


@pytest.mark.parametrize("prefix", ["trunc_", "lying_"])
def test_damaged_pixel_data_has_a_readable_header_but_no_image(
    broken: tuple[Path, dict[str, str]], prefix: str
) -> None:
    _, wrong = broken
    path = _one(wrong, lambda p: p.name.startswith(prefix) and "BRK0001" in p.parts)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert header.Modality == "MR"
    with pytest.raises(ValueError, match="less than expected"):
        _ = pydicom.dcmread(path).pixel_array


def test_truncated_copy_of_a_given_file(broken: tuple[Path, dict[str, str]]) -> None:
    _, wrong = broken
    path = _one(wrong, lambda p: p.parent.name == "truncated")
    assert path.name == "trunc_MR_small.dcm"
    with pytest.raises(ValueError, match="less than expected"):
        _ = pydicom.dcmread(path).pixel_array


def test_missing_slice_leaves_the_rest_of_its_series(broken: tuple[Path, dict[str, str]]) -> None:
    root, wrong = broken
    missing = _one(wrong, lambda p: "missing" in wrong[str(p)])
    assert not missing.exists() and "BRK0003" in missing.parts
    left = sorted(missing.parent.glob("*.dcm"))
    numbers = [pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber for f in left]
    assert len(numbers) == 11 and int(missing.stem) not in numbers
    truth = json.loads((root / "BRK0003" / GROUND_TRUTH_FILE).read_text())
    assert sum(s["weighting"] == "T1" and s["plane"] == "coronal" for s in truth["series"]) == 1


def test_distractor_only_study_has_no_usable_series(broken: tuple[Path, dict[str, str]]) -> None:
    root, wrong = broken
    assert "no usable series" in wrong[str(root / "BRK0002")]
    truth = json.loads((root / "BRK0002" / GROUND_TRUTH_FILE).read_text())
    assert {s["plane"] for s in truth["series"]} == {"localizer", "axial"}
    study_uids = {
        json.loads((root / name / GROUND_TRUTH_FILE).read_text())["study_instance_uid"]
        for name in ("BRK0001", "BRK0002", "BRK0003")
    }
    assert len(study_uids) == 3
