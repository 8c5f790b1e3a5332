from __future__ import annotations

import pytest

from dicom_in.memory_budget import PIXEL_BUDGET_BYTES, MemoryBudgetError, check_pixel_budget, size_text


def test_a_claim_within_the_budget_returns_its_bytes() -> None:
    assert check_pixel_budget(4300, 3500, 1, 1, 16) == 4300 * 3500 * 2  # a large detector radiograph
    assert check_pixel_budget(512, 512, 300, 1, 16) == 512 * 512 * 300 * 2  # a 300-frame Enhanced MR
    assert check_pixel_budget(8, 8, 1, 1, 1) == 8  # 1-bit data: bits, not bytes, per pixel
    assert check_pixel_budget(16384, 8192, 1, 1, 16) == PIXEL_BUDGET_BYTES  # the budget itself is allowed


def test_a_claim_over_the_budget_is_refused_in_one_line() -> None:
    with pytest.raises(MemoryBudgetError) as refused:
        check_pixel_budget(60000, 60000, 1, 1, 16)
    assert str(refused.value) == (
        "header claims 60000x60000 pixels x 1 frame(s) x 1 sample(s) x 16 bits = 6.7 GiB of pixel data, "
        "over the per-file memory budget of 256 MiB"
    )
    with pytest.raises(MemoryBudgetError, match=r"= 1 MiB of pixel data, over the per-file memory budget of 512 KiB"):
        check_pixel_budget(512, 1024, budget=512 * 1024)


@pytest.mark.parametrize("rows", [0, -1, 2.5, True, None])
def test_dimensions_that_cannot_describe_an_image_are_refused(rows: object) -> None:
    with pytest.raises(MemoryBudgetError, match=r"^Rows .* cannot describe an image \(expected a positive integer\)$"):
        check_pixel_budget(rows, 10)  # type: ignore[arg-type]


def test_size_text() -> None:
    assert [size_text(n) for n in (912, 2048, 3 * 2**20, int(3.2 * 2**30))] == [
        "912 bytes",
        "2 KiB",
        "3 MiB",
        "3.2 GiB",
    ]
