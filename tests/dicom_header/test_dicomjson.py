"""DICOM JSON (PS3.18 F.2): shape, person names, inline and bulk values that point at the right bytes."""

from __future__ import annotations

import base64
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pydicom
import pytest
from bundled_dicom import bundled_bytes

from medlake.dicom.header import HeaderOptions, read_instance

_TAG_KEY = re.compile(r"[0-9A-F]{8}")
_VALUE_KEYS = {"Value", "InlineBinary", "BulkDataURI"}


def _document(name: str, threshold: int = 1024) -> dict:
    record = read_instance(bundled_bytes(name), f"s3a://bucket/in/{name}", HeaderOptions(bulk_data_threshold=threshold))
    assert record.outcome == "loaded"
    return json.loads(record.dicom_json)


def _bulk_bytes(data: bytes, uri: str, name: str) -> bytes:
    parts = urlsplit(uri)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"s3a://bucket/in/{name}"
    query = {key: int(values[0]) for key, values in parse_qs(parts.query).items()}
    return data[query["offset"]:query["offset"] + query["length"]]


def _check_shape(document: dict) -> None:
    assert list(document) == sorted(document)
    for key, element in document.items():
        assert _TAG_KEY.fullmatch(key)
        assert len(_VALUE_KEYS & set(element)) <= 1 and "vr" in element
        if element["vr"] == "SQ":
            for item in element.get("Value", []):
                _check_shape(item)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtstruct.dcm", "test-SR.dcm", "waveform_ecg.dcm",
                                  "chrH31.dcm", "MR_small_bigendian.dcm"])
def test_shape(name: str) -> None:
    _check_shape(_document(name))


def test_ct_small_values() -> None:
    document = _document("CT_small.dcm")
    assert document["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]}
    assert document["00280010"] == {"vr": "US", "Value": [128]}
    assert document["00080008"] == {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]}
    assert document["00280030"] == {"vr": "DS", "Value": [0.661468, 0.661468]}
    assert document["00200013"] == {"vr": "IS", "Value": [1]}
    assert document["00020010"] == {"vr": "UI", "Value": ["1.2.840.10008.1.2.1"]}
    assert document["00020001"] == {"vr": "OB", "InlineBinary": base64.b64encode(b"\x00\x01").decode()}


def test_pixel_data_is_a_bulk_data_uri_to_its_bytes() -> None:
    document = _document("CT_small.dcm")
    data = bundled_bytes("CT_small.dcm")
    assert set(document["7FE00010"]) == {"vr", "BulkDataURI"}
    assert _bulk_bytes(data, document["7FE00010"]["BulkDataURI"], "CT_small.dcm") == \
        pydicom.dcmread(io.BytesIO(data)).PixelData


def test_large_ds_values_in_sequences_become_bulk_data() -> None:
    """RT ContourData (DS, nested two sequences deep) above the threshold is never converted."""
    data = bundled_bytes("rtstruct.dcm")
    document = _document("rtstruct.dcm", threshold=64)
    contour = document["30060039"]["Value"][0]["30060040"]["Value"][0]["30060050"]
    dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    raw_text = dataset.ROIContourSequence[0].ContourSequence[0]["ContourData"]
    assert set(contour) == {"vr", "BulkDataURI"} and contour["vr"] == "DS"
    values = [float(v) for v in _bulk_bytes(data, contour["BulkDataURI"], "rtstruct.dcm").decode().split("\\")]
    assert values == [float(v) for v in raw_text.value]
    small = _document("rtstruct.dcm", threshold=1 << 20)["30060039"]["Value"][0]["30060040"]["Value"][0]["30060050"]
    assert small["Value"] == values


def test_undefined_length_pixel_data_reaches_the_delimiter() -> None:
    data = bundled_bytes("JPEG2000.dcm")
    uri = _document("JPEG2000.dcm")["7FE00010"]["BulkDataURI"]
    assert _bulk_bytes(data, uri, "JPEG2000.dcm") == pydicom.dcmread(io.BytesIO(data)).PixelData
