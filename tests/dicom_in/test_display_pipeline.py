"""The radiograph display and geometry pipeline against pydicom's own functions: Modality LUT, VOI LUT, padding,
pixel spacing, and the real RG3 radiograph (pydicom-data) in all its syntaxes."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence

from dicom_in.pixel_decode import decode_image, modality_values, padding_mask, pixel_spacing, presentation_values
from inference.preprocess import PreprocessSpec, intensity_window, preprocess_reference, scale_to_unit
from tests.dicom_factory import mr_slice
from tests.pydicom_data import data_file


def _radiograph(bits: int = 12, photometric: str = "MONOCHROME2") -> Dataset:
    rng = np.random.default_rng(bits)
    pixels = rng.integers(0, 1 << bits, (40, 48), dtype=np.uint16)
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=pixels)
    ds.Modality, ds.BitsStored, ds.HighBit, ds.PhotometricInterpretation = "DX", bits, bits - 1, photometric
    return ds


def _lut_item(first: int, bits: int, data: np.ndarray) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(data), first, bits]
    item.LUTData = [int(v) for v in data]
    return item


def _mirrored(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """MONOCHROME1 reference: pydicom's modality values of the stored range's extremes, mirrored."""
    bits = int(ds.BitsStored)
    extremes = apply_modality_lut(np.array([0, (1 << bits) - 1]), ds).astype(np.float64)
    return extremes.min() + extremes.max() - values


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("variant", ["none", "rescale", "lut_sequence"])
def test_modality_values_are_pydicoms_modality_lut(variant: str, photometric: str) -> None:
    ds = _radiograph(12, photometric)
    if variant == "rescale":
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 0.5, -100, "US"
    elif variant == "lut_sequence":
        ds.ModalityLUTSequence = Sequence([_lut_item(0, 16, (np.arange(4096) ** 1.2).astype(np.uint16) % 65535)])
    stored = ds.pixel_array
    expected = np.asarray(apply_modality_lut(stored, ds), np.float64)
    if photometric == "MONOCHROME1":
        expected = _mirrored(expected, ds)
    np.testing.assert_array_equal(modality_values(stored, ds), expected.astype(np.float32))
    np.testing.assert_array_equal(decode_image(ds).pixels, expected.astype(np.float32))


def test_a_real_modality_lut_sequence_matches_pydicom() -> None:
    ds = pydicom.dcmread(data_file("mlut_18.dcm"))
    assert "ModalityLUTSequence" in ds
    expected = np.asarray(apply_modality_lut(ds.pixel_array, ds), np.float32)
    np.testing.assert_array_equal(decode_image(ds).pixels, expected)


def _expected_presentation(ds: Dataset, low: float, high: float) -> np.ndarray:
    modality = apply_modality_lut(ds.pixel_array, ds)
    unit = (np.asarray(apply_voi_lut(modality, ds, index=0), np.float64) - low) / (high - low)
    return (1.0 - unit if ds.PhotometricInterpretation == "MONOCHROME1" else unit).astype(np.float32)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_window_presentation_is_pydicoms_voi_lut(function: str, photometric: str) -> None:
    ds = _radiograph(12, photometric)
    ds.WindowCenter, ds.WindowWidth = [1800, 500], [1200, 100]  # two windows: the first is the default
    ds.VOILUTFunction = function
    decoded = decode_image(ds)
    presented = presentation_values(decoded.pixels, ds)
    # pydicom's window output range for unsigned 12-bit data without rescale is 0..4095.
    np.testing.assert_allclose(presented, _expected_presentation(ds, 0.0, 4095.0), atol=1e-6)
    assert presented.min() >= 0.0 and presented.max() <= 1.0


def test_voi_lut_sequence_presentation_is_pydicoms_and_no_voi_gives_none() -> None:
    ds = _radiograph(12)
    ramp = np.clip((np.arange(4096) - 1000) // 8, 0, 255).astype(np.uint16)
    ds.VOILUTSequence = Sequence([_lut_item(0, 8, ramp)])
    ds.WindowCenter, ds.WindowWidth = 100, 10  # the LUT is preferred, as pydicom does by default
    presented = presentation_values(decode_image(ds).pixels, ds)
    np.testing.assert_allclose(presented, _expected_presentation(ds, 0.0, 255.0), atol=1e-6)
    real = pydicom.dcmread(data_file("vlut_04.dcm"))
    descriptor_max = float((1 << int(real.VOILUTSequence[0].LUTDescriptor[2])) - 1)
    np.testing.assert_allclose(
        presentation_values(decode_image(real).pixels, real),
        _expected_presentation(real, 0.0, descriptor_max),
        atol=1e-6,
    )
    assert presentation_values(decode_image(_radiograph()).pixels, _radiograph()) is None


def test_padding_value_and_range_are_masked_and_left_out_of_the_window() -> None:
    ds = _radiograph(12)
    pixels = np.minimum(ds.pixel_array, 3999)
    pixels[:, :10] = 4095  # a bright collimator border, the padding
    pixels[:5, 10:] = 4090
    ds.PixelData = pixels.tobytes()
    ds.PixelPaddingValue = 4095
    assert padding_mask(ds.pixel_array, ds).sum() == 40 * 10
    ds.PixelPaddingRangeLimit = 4090  # a range, in either order
    decoded = decode_image(ds)
    mask = (pixels >= 4090) & (pixels <= 4095)
    np.testing.assert_array_equal(decoded.padding, mask)
    low, high = np.percentile(decoded.pixels[~mask], [0.5, 99.5])
    assert intensity_window(decoded.pixels, decoded.padding) == (float(low), float(high))
    assert intensity_window(decoded.pixels)[1] == 4095  # without the mask the border sets the window
    unit = scale_to_unit(decoded.pixels, decoded.padding)
    assert np.all(unit[mask] == 0.0) and unit[~mask].max() == 1.0
    presented = presentation_values(decoded.pixels, _with_window(ds), decoded.padding)
    assert np.all(presented[mask] == 0.0)
    assert padding_mask(_radiograph().pixel_array, _radiograph()) is None


def _with_window(ds: Dataset) -> Dataset:
    out = copy.deepcopy(ds)
    out.WindowCenter, out.WindowWidth = 2000, 4000
    return out


def test_dali_and_reference_preprocessing_agree_with_padding() -> None:
    from inference.dali_preprocess import DaliPreprocessor

    ds = _radiograph(12)
    pixels = ds.pixel_array.copy()
    pixels[:, :12] = 0
    ds.PixelData, ds.PixelPaddingValue = pixels.tobytes(), 0
    decoded = decode_image(ds)
    spec = PreprocessSpec(size=(32, 32), mean=(0.5,), std=(0.25,), channels=1)
    reference = preprocess_reference([decoded.pixels], spec, [decoded.padding])
    dali = DaliPreprocessor(spec)([decoded.pixels], [decoded.padding])
    np.testing.assert_allclose(dali.numpy(), reference, atol=2e-5)
    assert not np.allclose(reference, preprocess_reference([decoded.pixels], spec))
    assert torch.is_tensor(dali)


def test_pixel_spacing_is_at_the_patient_where_the_header_allows() -> None:
    ds = _radiograph()
    del ds.PixelSpacing
    assert pixel_spacing(ds) is None
    ds.ImagerPixelSpacing = [0.2, 0.2]
    detector = pixel_spacing(ds)
    assert (detector.row, detector.column, detector.basis) == (0.2, 0.2, "detector")
    ds.EstimatedRadiographicMagnificationFactor = 1.25
    patient = pixel_spacing(ds)
    assert (patient.row, patient.column) == pytest.approx((0.16, 0.16)) and patient.basis == "patient"
    ds.PixelSpacing = [0.15, 0.15]  # calibrated by the modality: taken as given
    assert pixel_spacing(ds) == type(patient)(0.15, 0.15, "patient")
    assert decode_image(ds).pixel_spacing == (0.15, 0.15)


RG3 = ["RG3_UNCR.dcm", "RG3_UNCI.dcm", "RG3_J2KR.dcm", "RG3_J2KI.dcm"]


@pytest.mark.parametrize("name", RG3)
def test_the_real_rg3_radiograph_decodes_as_pydicom_in_every_syntax(name: str) -> None:
    ds = pydicom.dcmread(data_file(name))
    decoded = decode_image(ds)
    np.testing.assert_array_equal(decoded.stored, ds.pixel_array)
    assert decoded.photometric == "MONOCHROME1" and decoded.spacing is None
    # MONOCHROME1, 10 bits, no rescale: bone bright means 1023 - stored.
    np.testing.assert_array_equal(decoded.pixels, (1023 - ds.pixel_array.astype(np.float64)).astype(np.float32))
    expected = _expected_presentation(ds, 0.0, 1023.0)
    np.testing.assert_allclose(presentation_values(decoded.pixels, ds), expected, atol=1e-6)


def test_rg3_lossless_copies_are_identical_pixels() -> None:
    uncompressed = decode_image(pydicom.dcmread(data_file("RG3_UNCR.dcm"))).stored
    np.testing.assert_array_equal(decode_image(pydicom.dcmread(data_file("RG3_J2KR.dcm"))).stored, uncompressed)
    lossy = decode_image(pydicom.dcmread(data_file("RG3_J2KI.dcm"))).stored
    assert not np.array_equal(lossy, uncompressed)


def test_a_model_defined_on_presentation_values_gets_the_voi_and_ours_do_not() -> None:
    from dicom_in.series_decode import DecodedSeries, presentation_images
    from dicom_in.study import ImageSlice, Instance
    from inference.dali_preprocess import DaliPreprocessor

    windowed, plain = _radiograph(12), _radiograph(10)
    windowed.WindowCenter, windowed.WindowWidth, windowed.VOILUTFunction = 1500, 800, "SIGMOID"
    series = DecodedSeries(selected=None)
    for ds in (windowed, plain):
        decoded = decode_image(ds)
        series.slices.append(ImageSlice(Instance(path=None, header=ds), ds))
        series.pixels.append(decoded.pixels)
        series.padding.append(decoded.padding)
    presented = presentation_images(series)
    np.testing.assert_array_equal(presented[0], presentation_values(series.pixels[0], windowed))
    np.testing.assert_array_equal(presented[1], scale_to_unit(series.pixels[1]))  # no VOI: the percentile window
    voi = PreprocessSpec(size=(16, 16), mean=(0.0,), std=(1.0,), channels=1, intensity="voi")
    percentile = PreprocessSpec(size=(16, 16), mean=(0.0,), std=(1.0,), channels=1)
    reference = preprocess_reference(presented, voi)
    np.testing.assert_allclose(DaliPreprocessor(voi)(presented).numpy(), reference, atol=2e-5)
    # Our models read the percentile window of modality values: the header's VOI changes nothing for them.
    np.testing.assert_array_equal(
        preprocess_reference(series.pixels, percentile),
        preprocess_reference([decode_image(_radiograph(12)).pixels, series.pixels[1]], percentile),
    )
    assert not np.allclose(reference, preprocess_reference(series.pixels, percentile), atol=1e-3)


def test_a_crop_classifier_cannot_claim_presentation_values() -> None:
    from inference.model_meta import ModelMetaError, parse_model_meta

    meta = {
        "name": "crops",
        "version": "1",
        "task": "classification",
        "labels": ["SFO", "LMAF"],
        "threshold": 0.5,
        "input_size": [32, 32],
        "channels": 1,
        "mean": [0.5],
        "std": [0.25],
        "intensity": "voi",
        "outputs": ["probabilities", "cam"],
        "crop": {"margin": 0.5},
    }
    with pytest.raises(ModelMetaError, match="crop classifier reads crops of the percentile window"):
        parse_model_meta(meta, "test")
    del meta["crop"]
    assert parse_model_meta(meta, "test").normalisation.intensity == "voi"
