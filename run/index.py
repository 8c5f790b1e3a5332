"""`python -m run.index -i IN --out INDEX`: scan a folder's headers once and store its study index.

Every part of a sharded run (`--num-parts`, a Slurm array, a Kubernetes Indexed Job) then reads it with
`--index INDEX` instead of scanning the whole folder again; each part still takes only its own studies.
The folder is fingerprinted before the scan, so a folder that changes while (or after) it is indexed makes
the parts refuse the index rather than miss or invent files.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from time import perf_counter

from dicom_in.index_file import IndexFileError, folder_fingerprint, index_payload
from dicom_in.study_index import index_folder, usable_cpus
from run.atomic_io import atomic_write_json

__all__ = ["build_index_file", "main"]

logger = logging.getLogger(__name__)


def build_index_file(input_root: Path, out: Path, processes: int | None = None) -> dict:
    """Index `input_root` and write the index to `out` atomically; returns the stored payload."""
    fingerprint = folder_fingerprint(input_root)
    index = index_folder(input_root, processes=processes or usable_cpus())
    payload = index_payload(index, input_root, fingerprint)
    atomic_write_json(out, payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """CLI: build the index file; exit 2 with one line when the input can't be indexed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM studies")
    parser.add_argument("--out", type=Path, required=True, help="index file to write (JSON)")
    parser.add_argument("--processes", type=int, help="header-reading processes (default: usable CPUs)")
    parser.add_argument("-l", "--log-level", default="WARNING", type=str.upper)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start = perf_counter()
    try:
        payload = build_index_file(args.input, args.out, args.processes)
    except IndexFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = sum(len(paths) for series in payload["studies"].values() for paths in series.values())
    print(
        f"indexed {payload['fingerprint']['files']} entries of {args.input} in {perf_counter() - start:.2f} s: "
        f"{len(payload['studies'])} studies, {files} image files, {len(payload['failures'])} unusable -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
