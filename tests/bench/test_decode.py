from __future__ import annotations

from pathlib import Path

from bench.__main__ import _markdown
from bench.decode import decode_by_syntax


def test_decode_by_syntax_times_every_syntax_and_lossless_paths_are_exact(tmp_path: Path) -> None:
    rows = decode_by_syntax(tmp_path, repeats=1, scale=1)
    assert len(rows) == 6 and all(r["dali_path_s"] > 0 and r["pydicom_s"] > 0 for r in rows)
    assert all(r["exact"] for r in rows if r["exact"] is not None) and sum(r["exact"] is None for r in rows) == 1
    table = _markdown(
        {
            "date": "d",
            "machine": "m",
            "models": "x",
            "apps": {},
            "decode_by_syntax": rows,
            "decode": {
                "images": 0,
                "shape": [0, 0],
                "dali_s": 0,
                "pydicom_s": 0,
                "dali_over_pydicom": 0,
                "exact": True,
            },
        }
    )
    assert all(f"| {r['syntax']} |" in table for r in rows)
