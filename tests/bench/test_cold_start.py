"""What a fresh one-study process imports: not MONAI, for any app (the SDK's classes are Holoscan's; ankle_xray's
box selection is inference.retinanet_boxes), and the bench's cold-start row reports it."""

from __future__ import annotations

import holoscan.conditions
import holoscan.core
import monai.deploy.conditions
import monai.deploy.core
import pytest

from bench.__main__ import _markdown
from bench.cold_start import TARGET_RATIO, import_breakdown


def test_the_app_sdks_classes_are_holoscans_own():
    # The apps import these from holoscan.*: the same objects, without `import monai` running MONAI's __init__.
    for name in ("Application", "Fragment", "Operator", "OperatorSpec"):
        assert getattr(monai.deploy.core, name) is getattr(holoscan.core, name)
    assert monai.deploy.conditions.BooleanCondition is holoscan.conditions.BooleanCondition


@pytest.mark.parametrize("app", ["olt_mri", "onfh_mri", "ankle_xray"])
def test_no_app_imports_monai_at_start(app):
    breakdown = import_breakdown(app)
    assert breakdown["monai_imported"] is False
    assert breakdown["total_s"] > 0 and "torch" in breakdown["top_s"]


def test_the_bench_table_shows_the_ratio_against_its_target():
    cold = {
        "wall_s": 9.0,
        "stage_s": 3.0,
        "start_up_overhead_s": 6.0,
        "bare_torch_import_s": 2.5,
        "overhead_over_torch_import": 2.4,
        "target": TARGET_RATIO,
        "imports": {"total_s": 4.0, "top_s": {"torch": 2.0, "pydicom": 0.5}, "monai_imported": False},
    }
    table = _markdown({"date": "d", "machine": "m", "models": "x", "apps": {"olt_mri": {"cold_one_study": cold}}})
    assert "| olt_mri | 9.0 | 3.0 | 6.0 | 2.5 | **2.4** | 4.0 | torch 2.0, pydicom 0.5 | False |" in table
    assert "target <= 2" in table and "| app | N |" not in table
