"""`python -m bench.index_share [--files 20000] [--parts 8]`: what a shared study index saves the parts of a run.

Without it every part of a K-part run reads every header of the folder (index_folder, as run/batch.py does);
with it one step reads them (python -m run.index) and each part reads the index file (read_index: the JSON
and one stat per entry to check the folder did not change). The folder: `files` DICOM files, 100 per study,
tiny 16x16 images (header reads dominate either way), written once under --work. A part's scan and read are
timed inside a fresh process (what the part pays on top of the imports it needs anyway); the index step is
a whole process (a job of its own). Medians of --repeats.
Writes bench/results/<date>-index.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from bench.measure import REPO

__all__ = ["write_folder", "measure", "main"]

PER_STUDY = 100


def write_folder(root: Path, files: int) -> Path:
    """`files` small MR images, PER_STUDY per study, under root/<study>/ (kept between runs)."""
    done = root / f".complete-{files}"
    if done.exists():
        return root
    pixels = np.zeros((16, 16), np.uint16).tobytes()
    for i in range(files):
        study, index = divmod(i, PER_STUDY)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["sop", str(i)])
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["study", str(study)])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series", str(study)])
        ds.PatientID, ds.Modality, ds.InstanceNumber = f"P{study:05d}", "MR", index + 1
        ds.Rows = ds.Columns = 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels
        folder = root / f"study{study:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(folder / f"{index:04d}.dcm", enforce_file_format=True)
    done.write_text("")
    return root


def _seconds(code: str, *args: str) -> float:
    """Wall seconds of a fresh process, or the seconds it prints last when it times itself."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    printed = done.stdout.split()
    return float(printed[-1]) if printed and "time.perf_counter" in code else wall


SCAN = (
    "import sys, time; from pathlib import Path; from dicom_in.study_index import index_folder, usable_cpus\n"
    "t = time.perf_counter(); index_folder(Path(sys.argv[1]), processes=usable_cpus()); "
    "print(time.perf_counter() - t)"
)
BUILD = "import sys; from run.index import main; sys.exit(main(['-i', sys.argv[1], '--out', sys.argv[2]]))"
READ = (
    "import sys, time; from pathlib import Path; from dicom_in.index_file import read_index\n"
    "t = time.perf_counter(); read_index(Path(sys.argv[2]), Path(sys.argv[1])); print(time.perf_counter() - t)"
)


def measure(root: Path, index_file: Path, parts: int, repeats: int = 3) -> dict[str, Any]:
    """Seconds of one part's own scan, of the shared index step, of one part's index read; K-part totals."""
    scan, build, read = [], [], []
    for _ in range(repeats):
        scan.append(_seconds(SCAN, str(root)))
        build.append(_seconds(BUILD, str(root), str(index_file)))
        read.append(_seconds(READ, str(root), str(index_file)))
    scan_s, build_s, read_s = (float(np.median(v)) for v in (scan, build, read))
    return {
        "files": sum(1 for _ in root.rglob("*.dcm")),
        "index_bytes": index_file.stat().st_size,
        "parts": parts,
        "scan_per_part_s": round(scan_s, 3),
        "index_step_s": round(build_s, 3),
        "read_per_part_s": round(read_s, 3),
        "without_shared_index_s": round(parts * scan_s, 3),
        "with_shared_index_s": round(build_s + parts * read_s, 3),
    }


def main(argv: list[str] | None = None) -> None:
    """Measure and write bench/results/<date>-index.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-index")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    root = write_folder(args.work / f"in_{args.files}", args.files)
    figures = measure(root, args.work / "study_index.json", args.parts, args.repeats)
    figures["date"] = date.today().isoformat()
    figures["command"] = f"python -m bench.index_share --files {args.files} --parts {args.parts}"
    lines = [
        f"# Shared study index, {figures['files']} files ({figures['date']})",
        "",
        f"`{figures['command']}`; a part's scan and read timed inside a fresh process, the index step as a whole "
        f"process; median of {args.repeats}.",
        "",
        "| files | one part's own scan s | index step s | one part's index read s | index file MB | "
        f"{args.parts} parts without s | {args.parts} parts with s |",
        "|---|---|---|---|---|---|---|",
        f"| {figures['files']} | {figures['scan_per_part_s']} | {figures['index_step_s']} | "
        f"{figures['read_per_part_s']} | {figures['index_bytes'] / 1e6:.1f} | {figures['without_shared_index_s']} | "
        f"{figures['with_shared_index_s']} |",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{figures['date']}-index.json").write_text(json.dumps(figures, indent=1))
    (args.out / f"{figures['date']}-index.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
