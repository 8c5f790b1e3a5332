"""Decode speed: DALI versus pydicom per transfer syntax, the measurement behind `pixel_decode.DECODERS`.

DALI is forced here (`decoder="dali"`) so the comparison shows whatever the apps' table chose; each row also
names the decoder the apps use on the CPU.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.uid import JPEG2000Lossless, SecondaryCaptureImageStorage

from dicom_in.pixel_decode import choose_decoder, decode_stored
from phantoms.dicom_headers import PatientInfo, new_dataset, phantom_uid, set_pixels

__all__ = ["decode_speed", "decode_by_syntax"]

_PATIENT = PatientInfo(
    "BENCH", "Bench^Decode", "19700101", "O", phantom_uid(0, "decode-study"), "ACC0", phantom_uid(0, "decode-for")
)


def _images(folder: Path, count: int, shape: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    for i in range(count):
        path = folder / f"{i:03d}.dcm"
        if not path.exists():
            smooth = (2000 + 1500 * np.sin(xx / 37.0 + i) * np.cos(yy / 53.0)).astype(np.int32)
            pixels = np.clip(smooth + rng.integers(0, 64, shape), 0, 65535).astype(np.uint16)
            ds = new_dataset(
                SecondaryCaptureImageStorage,
                phantom_uid(0, "decode", i),
                _PATIENT,
                modality="OT",
                series_uid=phantom_uid(0, "decode-series"),
                series_number=1,
                series_description="decode benchmark",
                instance_number=i + 1,
            )
            set_pixels(ds, pixels, bits_stored=16)
            ds.compress(JPEG2000Lossless)
            ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def decode_speed(folder: Path, count: int = 12, shape: tuple[int, int] = (1024, 1024)) -> dict[str, Any]:
    """Seconds to decode `count` images with each decoder, and whether both give the same pixels."""
    datasets = [pydicom.dcmread(p) for p in _images(folder, count, shape)]
    decode_stored(datasets[0], decoder="dali")  # build the pipeline outside the timing
    start = time.perf_counter()
    dali = [decode_stored(ds, decoder="dali") for ds in datasets]
    dali_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = [decode_stored(ds, decoder="pydicom") for ds in datasets]
    pydicom_s = time.perf_counter() - start
    exact = all(np.array_equal(a[0], b[0]) for a, b in zip(dali, reference, strict=True))
    gpu: dict[str, Any] = {}
    if _gpu_present():
        decode_stored(datasets[0], decoder="dali", device="cuda")
        start = time.perf_counter()
        on_gpu = [decode_stored(ds, decoder="dali", device="cuda") for ds in datasets]
        gpu_s = time.perf_counter() - start
        gpu = {
            "dali_gpu_s": round(gpu_s, 3),
            "pydicom_over_gpu": round(pydicom_s / gpu_s, 2),
            "gpu_exact": all(np.array_equal(a[0], b[0]) for a, b in zip(on_gpu, reference, strict=True)),
        }
    return {
        "images": count,
        "shape": list(shape),
        "dali_s": round(dali_s, 3),
        "pydicom_s": round(pydicom_s, 3),
        "dali_over_pydicom": round(dali_s / pydicom_s, 3),
        "decoders": sorted({d for _, d in dali}),
        "exact": exact,
        **gpu,
    }


def decode_by_syntax(folder: Path, repeats: int = 5, scale: int = 4) -> list[dict[str, Any]]:
    """DALI path vs pydicom per radiograph transfer syntax, on one phantom radiograph enlarged to a real size.

    "DALI path" forces DALI where it can decode the syntax (else pydicom; the row says which decoder served);
    "apps_decoder" is what the apps use on the CPU (`choose_decoder`). Exactness is checked against pydicom for the
    lossless syntaxes.
    """
    import copy

    from phantoms.ankle_xray import generate_ankle_xray_dataset
    from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, SUPPORTED_SYNTAXES, SYNTAX_SHORT_NAMES, encode_pixel_data

    truths = generate_ankle_xray_dataset(folder / "source", 1, 0)
    base = pydicom.dcmread(folder / "source" / truths[0]["patient_id"] / truths[0]["images"][0]["file"])
    if base.file_meta.TransferSyntaxUID.is_compressed:
        base.decompress()
    big = np.kron(base.pixel_array, np.ones((scale, scale), base.pixel_array.dtype))
    base.Rows, base.Columns, base.PixelData = *big.shape, big.tobytes()
    rows = []
    for syntax in SUPPORTED_SYNTAXES:
        ds = copy.deepcopy(base)
        encode_pixel_data(ds, syntax)
        data = _round_trip(ds, folder / f"{SYNTAX_SHORT_NAMES[syntax]}.dcm").read_bytes()
        decode_stored(pydicom.dcmread(io.BytesIO(data)), decoder="dali")  # warm-up: pipeline build, codec load
        timings = {}
        for name, decoder, device in _decode_paths():
            if device == "cuda":  # warm-up: nvJPEG/nvJPEG2000 pipeline build and GPU context
                decode_stored(pydicom.dcmread(io.BytesIO(data)), decoder=decoder, device=device)
            # A fresh dataset per decode: pydicom caches pixel_array on the dataset it decoded.
            encoded = [pydicom.dcmread(io.BytesIO(data)) for _ in range(repeats)]
            start = time.perf_counter()
            for dataset in encoded:
                stored, used = decode_stored(dataset, decoder=decoder, device=device)
            timings[name] = ((time.perf_counter() - start) / repeats, used, stored)
        exact = bool(np.array_equal(timings["dali"][2], timings["pydicom"][2]))
        gpu = timings.get("dali_gpu")
        rows.append(
            {
                "syntax": SYNTAX_SHORT_NAMES[syntax],
                "shape": list(big.shape),
                "bits_stored": int(base.BitsStored),
                "decoder": timings["dali"][1],
                "apps_decoder": choose_decoder(syntax, "cpu"),
                "dali_path_s": round(timings["dali"][0], 4),
                "pydicom_s": round(timings["pydicom"][0], 4),
                "dali_over_pydicom": round(timings["dali"][0] / timings["pydicom"][0], 3),
                "exact": exact if syntax in LOSSLESS_SYNTAXES else None,
                # With a GPU: the apps' decode on the device (DALI "mixed"), result copied to the host as the
                # apps need it; speed-up is pydicom time over GPU time (the target is >= 10).
                "gpu_decoder": gpu[1] if gpu else None,
                "dali_gpu_s": round(gpu[0], 4) if gpu else None,
                "pydicom_over_gpu": round(timings["pydicom"][0] / gpu[0], 2) if gpu else None,
                "gpu_exact": bool(np.array_equal(gpu[2], timings["pydicom"][2]))
                if gpu and syntax in LOSSLESS_SYNTAXES
                else None,
            }
        )
    return rows


def _gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def _decode_paths() -> list[tuple[str, str, str]]:
    """(name, decoder, device) of each decode path to time: DALI on the CPU, pydicom, and DALI on the GPU if present."""
    paths = [("dali", "dali", "cpu"), ("pydicom", "pydicom", "cpu")]
    return paths + [("dali_gpu", "dali", "cuda")] if _gpu_present() else paths


def _round_trip(ds: pydicom.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
