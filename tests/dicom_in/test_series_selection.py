from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from dicom_in.series_selection import SelectionRules, choose_series, imaging_plane, mr_weighting, select_series
from dicom_in.study import Instance, Series, Study
from dicom_in.study_index import load_study
from tests.dicom_factory import mr_slice, write_mr_series

REPO = Path(__file__).parents[2]
SELECTION_RULES = REPO / "apps" / "olt_mri" / "selection_rules.json"


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


# ------------------------------------------------------------------------------------------------------------------
# Real-world header variants and the decision each must get. Each row: id, app, modality, plane, header fields
# (None deletes the attribute; "AnatomicRegionSequence" takes (scheme, value, meaning) codes; "Request" puts a
# RequestedProcedureDescription into RequestAttributesSequence), the rule that must select the series (None: not
# selected) and a phrase the series' outcome must contain.
VARIANTS = [
    # ankle_xray: a real CR of the distal tibia and ankle (pydicom-data RG3) and what archives call an ankle
    (
        "rg3",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": "EXTREMITY", "StudyDescription": "Non-ossifying fibroma of distal tibia"},
        "radiograph",
        "only general terms",
    ),
    ("empty body part", "ankle_xray", "DX", "coronal", {"BodyPartExamined": ""}, "radiograph", "selected by"),
    ("LOW_EXM", "ankle_xray", "DX", "coronal", {"BodyPartExamined": "LOW_EXM"}, "radiograph", "selected by"),
    ("LEG", "ankle_xray", "CR", "coronal", {"BodyPartExamined": "LEG"}, "radiograph", "selected by"),
    ("SPRUNGGELENK", "ankle_xray", "DX", "coronal", {"BodyPartExamined": "SPRUNGGELENK"}, "radiograph", "selected"),
    (
        "OSG in the series",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "SeriesDescription": "OSG ap li"},
        "radiograph",
        "selected",
    ),
    (
        "CHEVILLE",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": None, "StudyDescription": "RX CHEVILLE GAUCHE F+P"},
        "radiograph",
        "selected",
    ),
    (
        "TOBILLO",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "RequestedProcedureDescription": "RX TOBILLO DERECHO"},
        "radiograph",
        "selected",
    ),
    (
        "ENKEL",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "EXTREMITY", "SeriesDescription": "X-enkel links"},
        "radiograph",
        "selected",
    ),
    (
        "Knöchel",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "SeriesDescription": "Knöchel re"},
        "radiograph",
        "selected",
    ),
    ("TORNOZELO", "ankle_xray", "CR", "coronal", {"BodyPartExamined": "TORNOZELO"}, "radiograph", "selected"),
    (
        "CAVIGLIA",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": "", "ProtocolName": "CAVIGLIA DX 2P"},
        "radiograph",
        "selected",
    ),
    ("FOOT", "ankle_xray", "DX", "coronal", {"BodyPartExamined": "FOOT"}, "radiograph", "selected"),
    (
        "Fuss in the protocol",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "ProtocolName": "Fuss dp"},
        "radiograph",
        "selected",
    ),
    (
        "request attributes",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "Request": "Röntgen Sprunggelenk 2 Ebenen"},
        "radiograph",
        "selected",
    ),
    (
        "CR processing menu",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": "EXTREMITY", "AcquisitionDeviceProcessingDescription": "ANKLE AP"},
        "radiograph",
        "selected",
    ),
    (
        "ankle code",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "AnatomicRegionSequence": [("SCT", "70258002", "Ankle joint")]},
        "radiograph",
        "selected",
    ),
    (
        "local code read by meaning",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "AnatomicRegionSequence": [("99LOCAL", "A17", "Ankle joint")]},
        "radiograph",
        "selected",
    ),
    (
        "XR ANKLE study",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "StudyDescription": "XR ANKLE 3+ VIEWS LEFT"},
        "radiograph",
        "selected",
    ),
    (
        "chest tagged EXTREMITY",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": "EXTREMITY", "SeriesDescription": "PA CHEST"},
        None,
        "(chest): not ankle/foot",
    ),
    ("CHEST", "ankle_xray", "DX", "coronal", {"BodyPartExamined": "CHEST"}, None, "not ankle/foot"),
    (
        "ANKLE vs CHEST",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "ANKLE", "SeriesDescription": "CHEST PA"},
        None,
        "contradictory",
    ),
    (
        "knee series in an ankle+knee study",
        "ankle_xray",
        "CR",
        "coronal",
        {"BodyPartExamined": "KNEE", "StudyDescription": "ANKLE AND KNEE LEFT"},
        None,
        "(knee): not ankle/foot",
    ),
    (
        "chest study",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "StudyDescription": "XR CHEST 2 VIEWS"},
        None,
        "not ankle/foot",
    ),
    (
        "thorax code",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "EXTREMITY", "AnatomicRegionSequence": [("SCT", "51185008", "Thorax")]},
        None,
        "chest",
    ),
    (
        "unpaired",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "", "ImageLaterality": "U", "Laterality": None},
        None,
        "unpaired body part",
    ),
    (
        "ANKLE but unpaired",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "ANKLE", "ImageLaterality": "U", "Laterality": None},
        None,
        "contradictory",
    ),
    ("HAND", "ankle_xray", "CR", "coronal", {"BodyPartExamined": "HAND"}, None, "upper_limb"),
    (
        "for processing",
        "ankle_xray",
        "DX",
        "coronal",
        {"BodyPartExamined": "ANKLE", "PresentationIntentType": "FOR PROCESSING"},
        None,
        "PresentationIntentType",
    ),
    ("an ankle MR", "ankle_xray", "MR", "coronal", {"BodyPartExamined": "ANKLE"}, None, "Modality 'MR'"),
    # olt_mri: vendor naming of weighting and plane, anatomy from several fields
    ("t1_tse_cor", "olt_mri", "MR", "coronal", {"SeriesDescription": "t1_tse_cor"}, "T1 coronal", "selected"),
    (
        "COR T1 FSE",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "COR T1 FSE", "BodyPartExamined": "", "StudyDescription": "MRI ANKLE LT"},
        "T1 coronal",
        "selected",
    ),
    (
        "T1W_TSE_COR",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "T1W_TSE_COR", "BodyPartExamined": "LOW_EXM"},
        "T1 coronal",
        "selected",
    ),
    ("sag pd fs", "olt_mri", "MR", "sagittal", {"SeriesDescription": "sag pd fs"}, None, "weighting 'PD'"),
    ("STIR COR", "olt_mri", "MR", "coronal", {"SeriesDescription": "STIR COR"}, "T2 coronal", "selected"),
    ("t2_tirm_cor", "olt_mri", "MR", "coronal", {"SeriesDescription": "t2_tirm_cor"}, "T2 coronal", "selected"),
    ("DP FS COR", "olt_mri", "MR", "coronal", {"SeriesDescription": "DP FS COR"}, None, "weighting 'PD'"),
    ("T2* MEDIC", "olt_mri", "MR", "coronal", {"SeriesDescription": "T2* MEDIC COR"}, None, "weighting 'T2*'"),
    (
        "knee MR",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "T2 TSE COR", "BodyPartExamined": "KNEE"},
        None,
        "(knee): not ankle/foot",
    ),
    (
        "knee code",
        "olt_mri",
        "MR",
        "coronal",
        {
            "SeriesDescription": "t1_tse_cor",
            "BodyPartExamined": "",
            "AnatomicRegionSequence": [("SCT", "72696002", "Knee")],
        },
        None,
        "knee",
    ),
    (
        "series names the ankle, study the knee",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "T1 COR", "BodyPartExamined": "ANKLE", "StudyDescription": "MRT Knie"},
        "T1 coronal",
        "selected",
    ),
    (
        "AcquisitionContrast T1",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "cor", "AcquisitionContrast": "T1", "BodyPartExamined": ""},
        "T1 coronal",
        "selected",
    ),
    (
        "AcquisitionContrast vs description",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "T1 COR", "AcquisitionContrast": "T2"},
        None,
        "weighting 'conflicting'",
    ),
    (
        "timing only",
        "olt_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "", "ProtocolName": "", "BodyPartExamined": "SPRUNGGELENK", "EchoTime": 12},
        "T1 coronal",
        "selected",
    ),
    ("localizer", "olt_mri", "MR", "coronal", {"SeriesDescription": "3-plane LOC"}, None, "localizer true"),
    ("axial T1 ankle", "olt_mri", "MR", "axial", {"SeriesDescription": "T1 AX"}, None, "plane 'axial'"),
    # onfh_mri: the axial T1 of the hips
    (
        "Ax T1 FSE Pelvis",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "Ax T1 FSE Pelvis", "BodyPartExamined": ""},
        "T1 axial",
        "names hip/pelvis",
    ),
    (
        "HIP",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1", "BodyPartExamined": "HIP"},
        "T1 axial",
        "selected",
    ),
    (
        "t1_tse_tra",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "t1_tse_tra", "BodyPartExamined": "PELVIS"},
        "T1 axial",
        "selected",
    ),
    (
        "Hüfte in the study",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1", "BodyPartExamined": "", "StudyDescription": "MRT Hüfte beidseits"},
        "T1 axial",
        "selected",
    ),
    (
        "pelvis is unpaired",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1", "BodyPartExamined": "PELVIS", "ImageLaterality": "U", "Laterality": None},
        "T1 axial",
        "selected",
    ),
    (
        "Ax T1 FS",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "Ax T1 FS", "BodyPartExamined": "PELVIS"},
        None,
        "fat_sat true",
    ),
    (
        "spectral fat suppression",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1", "BodyPartExamined": "HIP", "SpectrallySelectedSuppression": "FAT"},
        None,
        "fat_sat true",
    ),
    (
        "short inversion time",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX", "BodyPartExamined": "HIP", "ScanningSequence": ["IR", "SE"], "InversionTime": 150},
        None,
        "fat_sat true",
    ),
    (
        "AX STIR",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX STIR", "BodyPartExamined": "PELVIS"},
        None,
        "weighting 'T2'",
    ),
    (
        "ankle axial T1",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1", "BodyPartExamined": "ANKLE"},
        None,
        "not hip/pelvis",
    ),
    (
        "abdomen study",
        "onfh_mri",
        "MR",
        "axial",
        {"SeriesDescription": "AX T1 FSE", "BodyPartExamined": "", "StudyDescription": "MRI ABDOMEN"},
        None,
        "not hip/pelvis",
    ),
    (
        "coronal hip",
        "onfh_mri",
        "MR",
        "coronal",
        {"SeriesDescription": "COR T1", "BodyPartExamined": "HIP"},
        None,
        "plane 'coronal'",
    ),
]


def _code(scheme: str, value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator, item.CodeValue, item.CodeMeaning = scheme, value, meaning
    return item


def _variant_study(modality: str, plane: str, fields: dict) -> Study:
    series_uid = generate_uid(entropy_srcs=[modality, plane, repr(sorted(fields.items()))])
    instances = []
    for index in range(3):
        ds = mr_slice("1.2.826.0.2", series_uid, plane=plane, index=index, description="")
        ds.Modality = modality
        for keyword, value in fields.items():
            if keyword == "AnatomicRegionSequence":
                ds.AnatomicRegionSequence = DicomSequence([_code(*code) for code in value])
            elif keyword == "Request":
                item = Dataset()
                item.RequestedProcedureDescription = value
                ds.RequestAttributesSequence = DicomSequence([item])
            elif value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        instances.append(Instance(path=Path(f"{index}.dcm"), header=ds))
    return Study("1.2.826.0.2", [Series(series_uid, instances)])


@pytest.mark.parametrize(
    ("app", "modality", "plane", "fields", "rule", "phrase"),
    [pytest.param(*row[1:], id=row[0]) for row in VARIANTS],
)
def test_real_world_header_variants_get_the_expected_decision(
    app: str, modality: str, plane: str, fields: dict, rule: str | None, phrase: str
) -> None:
    rules = SelectionRules.from_file(REPO / "apps" / app / "selection_rules.json")
    selection = choose_series(_variant_study(modality, plane, fields), rules)
    assert [s.rule for s in selection.selected] == ([rule] if rule else [])
    outcome = selection.outcomes[0]
    text = f"{outcome.reason()} | {outcome.anatomy.reason}"
    assert phrase in text, text
    if rule is None:
        reason = selection.no_match_reason()
        assert reason.startswith("no series selected: #1") and "\n" not in reason


def test_the_variant_table_is_large_and_covers_every_app() -> None:
    assert len(VARIANTS) >= 30
    assert {row[1] for row in VARIANTS} == {"ankle_xray", "olt_mri", "onfh_mri"}
    assert sum(row[5] is None for row in VARIANTS) >= 10  # skips as well as reads


def test_the_selection_record_says_per_series_what_happened(tmp_path: Path) -> None:
    study = _study(tmp_path)
    selection = choose_series(study, SelectionRules.from_file(SELECTION_RULES))
    record = {entry["series_description"]: entry for entry in selection.to_json()}
    assert record["T1 COR"]["outcome"] in (
        "selected by T1 coronal",
        "matched, but series #5 preferred (more images, lower number)",
    )
    assert record["LOCALIZER T1"]["rules"]["T1 coronal"] == "localizer true, needs false"
    assert record["T1 AX"]["outcome"] == "plane 'axial', needs 'coronal'"
    assert record["T2 SAG FS"]["derived"]["weighting_evidence"] == "description 'T2 SAG FS'"
    assert record["T1 AX"]["anatomy"]["evidence"][0] == {
        "level": "series",
        "field": "BodyPartExamined",
        "value": "ANKLE",
        "regions": ["ankle"],
    }
    json.dumps(selection.to_json())  # result.json can hold it


def _site(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "site_rules.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_site_rules_extend_regions_override_anatomy_and_replace_disable_or_add_rules(tmp_path: Path) -> None:
    app = REPO / "apps" / "olt_mri" / "selection_rules.json"
    site = _site(
        tmp_path,
        {
            "regions": {"ankle": {"terms": ["BOKA"]}, "hindfoot_local": {"terms": ["HF"], "paired": True}},
            "anatomy": {"consistent": ["lower_leg", "hindfoot_local"], "unnamed": "skip"},
            "rules": [
                {"name": "T1 sagittal", "disabled": True},
                {
                    "name": "T1 coronal",
                    "model": "olt_mri_t1",
                    "conditions": {
                        "Modality": "MR",
                        "plane": ["coronal", "oblique"],
                        "weighting": "T1",
                        "min_images": 3,
                    },
                },
                {
                    "name": "PD sagittal",
                    "model": "olt_mri_t2",
                    "conditions": {"Modality": "MR", "plane": "sagittal", "weighting": "PD", "min_images": 3},
                },
            ],
        },
    )
    rules = SelectionRules.load(app, site)
    assert [r.name for r in rules.rules] == ["T1 coronal", "T2 coronal", "T2 sagittal", "PD sagittal"]
    assert rules.anatomy.unnamed == "skip" and rules.anatomy.read == ("ankle", "foot")
    assert rules.vocabulary.regions_in_text("MR BOKA LEVA") == ("ankle",)
    assert rules.vocabulary.regions_in_text("ANKLE") == ("ankle",)  # extended, not replaced
    pd = choose_series(_variant_study("MR", "sagittal", {"SeriesDescription": "sag pd fs"}), rules)
    assert [s.rule for s in pd.selected] == ["PD sagittal"]
    unnamed = choose_series(_variant_study("MR", "coronal", {"SeriesDescription": "T1", "BodyPartExamined": ""}), rules)
    assert unnamed.selected == [] and "anatomy 'unnamed': skip" in unnamed.no_match_reason()
    own = SelectionRules.from_file(app)  # the app's own file is untouched by the site's
    assert [r.name for r in own.rules][:2] == ["T1 coronal", "T1 sagittal"] and own.anatomy.unnamed == "read"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rules": [{"name": "x", "model": "other_model", "conditions": {}}]}, "names model 'other_model'"),
        ({"regions": {"ankle": {"terms": ["(unclosed"]}}}, "is not a regex"),
        ({"anatomy": {"read": ["elbowish"]}}, r"unknown: \['elbowish'\]"),
        ({"anatomy": {"unnamed": "maybe"}}, "'unnamed' one of"),
        (
            {
                "rules": [
                    {"name": "T1 coronal", "disabled": True},
                    {"name": "T1 sagittal", "disabled": True},
                    {"name": "T2 coronal", "disabled": True},
                    {"name": "T2 sagittal", "disabled": True},
                ]
            },
            "disables every rule",
        ),
    ],
)
def test_a_bad_site_rules_file_is_refused_with_the_reason(tmp_path: Path, spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelectionRules.load(REPO / "apps" / "olt_mri" / "selection_rules.json", _site(tmp_path, spec))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="unreadable"):
        SelectionRules.load(REPO / "apps" / "olt_mri" / "selection_rules.json", tmp_path / "broken.json")


def test_the_rules_flag_reaches_the_batch_options(tmp_path: Path) -> None:
    from run.batch import parse_batch_args

    options = parse_batch_args(["-i", str(tmp_path), "-o", str(tmp_path / "out"), "--rules", "site.json"], "x")
    assert options.rules == Path("site.json")
    assert parse_batch_args(["-i", str(tmp_path), "-o", str(tmp_path / "out")], "x").rules is None
