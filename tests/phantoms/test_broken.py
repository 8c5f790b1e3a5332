from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from operators.pixel_decode import PixelDataError, decode_image
from phantoms.broken import MANIFEST_FILE, write_broken_inputs


def test_broken_inputs_are_really_broken(tmp_path: Path) -> None:
    wrong = write_broken_inputs(tmp_path, seed=1)
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == wrong
    by_name = {Path(p).name: p for p in wrong}
    for name in ("README.txt", "random.bin"):
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(by_name[name])
    truncated = next(p for n, p in by_name.items() if n.startswith("trunc_"))
    with pytest.raises(PixelDataError, match="PixelData holds"):
        decode_image(truncated)
    lying = next(p for n, p in by_name.items() if n.startswith("lying_"))
    with pytest.raises(PixelDataError, match="header promises"):
        decode_image(lying)
    missing = next(p for p, why in wrong.items() if "missing" in why)
    assert not Path(missing).exists()
