"""The per-file memory budget: how much one input file may make us hold in memory, checked before we allocate.

A hostile or broken file can claim anything: a header saying 60000x60000 pixels, a 3 MB deflated file that
inflates to 3 GB, a private element of 2 GB before the pixel data. Every reader checks what the file claims
against these limits first and refuses with one line (`MemoryBudgetError`), so a run's peak memory stays
within 2 GB whatever one file says (the apps' own baseline, models loaded, is about 0.85 GB; decoding one
frame of a file within budget adds a few times its pixel bytes).

The limits are constants, the same for every run (no flag or variable changes them):

* PIXEL_BUDGET_BYTES (256 MiB): stored pixel data of one file, Rows x Columns x frames x samples x
  BitsAllocated / 8, or the pixel data element's length, whichever is read. The largest images the apps
  meet are far below it: a 43x35 cm detector radiograph at 0.1 mm is 30 MB, a 300-slice 512x512 Enhanced MR
  object 150 MB.
* HEADER_BUDGET_BYTES (64 MiB): everything before the pixel data (header elements, a DICOMDIR's records).
  Real headers are kilobytes to a few MB (vendor private blocks, per-frame functional groups).
* FILE_BUDGET_BYTES: their sum, the most a whole file (a deflated one inflated) may take.
"""

from __future__ import annotations

__all__ = [
    "PIXEL_BUDGET_BYTES",
    "HEADER_BUDGET_BYTES",
    "FILE_BUDGET_BYTES",
    "MemoryBudgetError",
    "check_pixel_budget",
    "size_text",
]

PIXEL_BUDGET_BYTES = 256 * 2**20
HEADER_BUDGET_BYTES = 64 * 2**20
FILE_BUDGET_BYTES = PIXEL_BUDGET_BYTES + HEADER_BUDGET_BYTES


class MemoryBudgetError(ValueError):
    """A file claims more memory than the per-file budget allows; the message is the one-line reason."""


def size_text(n_bytes: int) -> str:
    """A byte count for a reason line: '256 MiB', '3.2 GiB', '912 bytes'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n_bytes} bytes"


def check_pixel_budget(
    rows: int, columns: int, frames: int = 1, samples: int = 1, bits_allocated: int = 16, *, budget: int | None = None
) -> int:
    """The bytes of stored pixel data a header claims; raises MemoryBudgetError when they pass the budget.

    Call it with the header's (or a codestream's) dimensions before decoding or allocating anything. Values
    that are not positive integers are refused too: they cannot describe an image.
    """
    limit = PIXEL_BUDGET_BYTES if budget is None else budget
    dims = {"Rows": rows, "Columns": columns, "frames": frames, "samples": samples, "BitsAllocated": bits_allocated}
    for name, value in dims.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise MemoryBudgetError(f"{name} {value!r} cannot describe an image (expected a positive integer)")
    claimed = -(-rows * columns * frames * samples * bits_allocated // 8)
    if claimed > limit:
        raise MemoryBudgetError(
            f"header claims {rows}x{columns} pixels x {frames} frame(s) x {samples} sample(s) x {bits_allocated} "
            f"bits = {size_text(claimed)} of pixel data, over the per-file memory budget of {size_text(limit)}"
        )
    return claimed
