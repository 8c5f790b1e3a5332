from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_in.series_selection import SelectionRules, imaging_plane, mr_weighting, select_series
from dicom_in.study_index import load_study
from tests.dicom_factory import mr_slice, write_mr_series

SELECTION_RULES = Path(__file__).parents[2] / "apps" / "olt_mri" / "selection_rules.json"


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_plane_from_orientation(plane: str) -> None:
    assert imaging_plane(mr_slice("1.2", "1.2.1", plane=plane)) == plane


def test_oblique_and_missing_orientation() -> None:
    ds = mr_slice("1.2", "1.2.1")
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.7071, -0.7071]
    assert imaging_plane(ds) == "oblique"
    del ds.ImageOrientationPatient
    assert imaging_plane(ds) == "unknown"


@pytest.mark.parametrize(
    ("description", "tr", "te", "expected"),
    [
        ("COR T1 TSE", 3000, 90, "T1"),  # the description wins over TR/TE
        ("t2_tse_sag_fs", 500, 15, "T2"),
        ("PD FS SAG", 3000, 30, "PD"),
        ("ankle cor", 550, 12, "T1"),
        ("ankle sag", 4000, 80, "T2"),
        ("ankle sag", 2500, 30, "PD"),
        ("ankle", 1200, 50, "unknown"),
    ],
)
def test_weighting(description: str, tr: float, te: float, expected: str) -> None:
    assert mr_weighting(mr_slice("1.2", "1.2.1", description=description, tr=tr, te=te)) == expected


def _study(tmp_path: Path):
    uid = "1.2.826.0.1"
    series = [
        ("t1cor_small", dict(plane="coronal", description="T1 COR", series_number=3), 3),
        ("t1cor_big", dict(plane="coronal", description="T1 COR", series_number=5), 5),
        ("t2sag", dict(plane="sagittal", description="T2 SAG FS", tr=4000, te=80, series_number=4), 4),
        ("loc", dict(plane="coronal", description="LOCALIZER T1", series_number=1), 3),
        ("t1ax", dict(plane="axial", description="T1 AX", series_number=6), 4),
    ]
    paths = {}
    for name, kwargs, n in series:
        paths[name] = write_mr_series(tmp_path / name, uid, slices=n, **kwargs)
    by_series = {}
    for files in paths.values():
        from pydicom import dcmread

        by_series[str(dcmread(files[0]).SeriesInstanceUID)] = files
    return load_study(uid, by_series)


def test_olt_rules_pick_largest_series_and_skip_distractors(tmp_path: Path) -> None:
    study = _study(tmp_path)
    selected = select_series(study, SelectionRules.from_file(SELECTION_RULES))
    by_rule = {s.rule: s for s in selected}
    assert sorted(by_rule) == ["T1 coronal", "T2 sagittal"]
    assert by_rule["T1 coronal"].series.number == 5
    assert len(by_rule["T1 coronal"].passed_over) == 1
    assert by_rule["T2 sagittal"].model == "olt_mri_t2"


def test_rules_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [{"name": "x"}]}))
    with pytest.raises(ValueError, match="need name, model and conditions"):
        SelectionRules.from_file(bad)
    bad.write_text(json.dumps({"rules": []}))
    with pytest.raises(ValueError, match="define no rule"):
        SelectionRules.from_file(bad)


def test_select_all_takes_every_matching_series(tmp_path: Path) -> None:
    from dicom_in.series_selection import SelectionRule
    from dicom_in.study_index import index_folder

    for number in (1, 2):
        write_mr_series(
            tmp_path / f"s{number}", "1.2.826.0.9", slices=2, series_number=number, series_uid=f"1.2.826.0.9.{number}"
        )
    study = load_study("1.2.826.0.9", index_folder(tmp_path).studies["1.2.826.0.9"])
    rules = SelectionRules([SelectionRule("any MR", "model", {"Modality": "MR"}, select="all")])
    chosen = select_series(study, rules)
    assert sorted(s.series.uid for s in chosen) == ["1.2.826.0.9.1", "1.2.826.0.9.2"]
    best = select_series(study, SelectionRules([SelectionRule("any MR", "model", {"Modality": "MR"})]))
    assert len(best) == 1 and best[0].passed_over


def test_an_unknown_select_mode_is_refused() -> None:
    from dicom_in.series_selection import SelectionRule

    with pytest.raises(ValueError, match="select must be"):
        SelectionRule("r", "m", {}, select="some")
