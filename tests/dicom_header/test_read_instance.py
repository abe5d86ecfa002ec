"""read_instance over pydicom's bundled files and over files broken on purpose, one category each."""

from __future__ import annotations

import io
import json
import zlib
from collections import Counter
from datetime import date

import pydicom
import pytest
from pydicom.encaps import generate_fragments

from medlake.dicom.header import INSTANCE_COLUMNS, HeaderOptions, InstanceRecord, instance_ddl, read_instance

from bundled_dicom import DATA_ROOT, bundled_bytes, every_bundled_file

OPTIONS = HeaderOptions()

# (file, outcome, reason): each category that pydicom's bundled files show, with the file that shows it.
EXPECTED_OUTCOMES = [
    ("CT_small.dcm", "loaded", None),
    ("MR_small_implicit.dcm", "loaded", None),
    ("MR_small_bigendian.dcm", "loaded", None),
    ("ExplVR_BigEndNoMeta.dcm", "loaded", None),  # no preamble, starts with group 0008: forced
    ("ExplVR_LitEndNoMeta.dcm", "loaded", None),
    ("rtstruct.dcm", "loaded", None),
    ("image_dfl.dcm", "loaded", None),  # deflated, inflates cleanly
    ("JPEG2000.dcm", "loaded", None),
    ("badVR.dcm", "loaded", None),  # invalid IS value: kept, reported in warnings
    ("MR_truncated.dcm", "quarantined", "truncated"),  # pixel data ends beyond the file
    ("rtplan_truncated.dcm", "quarantined", "truncated"),  # a sequence ends beyond the file
    ("meta_missing_tsyntax.dcm", "quarantined", "unreadable_file_meta"),
    ("no_meta.dcm", "quarantined", "not_dicom"),  # shifted by one byte: no tag at its start
    ("README.txt", "quarantined", "not_dicom"),
    ("zipMR.gz", "quarantined", "not_dicom"),
    ("test1.json", "quarantined", "not_dicom"),
    ("UN_sequence.dcm", "quarantined", "missing_sop_instance_uid"),
    ("nested_priv_SQ.dcm", "quarantined", "missing_sop_instance_uid"),
    ("JPEGLSNearLossless_08.dcm", "quarantined", "missing_study_instance_uid"),
    ("dicomdirtests/DICOMDIR", "dicomdir", None),
    ("dicomdirtests/DICOMDIR-implicit", "dicomdir", None),
    ("dicomdirtests/TINY_ALPHA/DICOMDIR", "dicomdir", None),
]

# Outcome counts over every bundled file (test_files recursively and charset_files).
EXPECTED_COUNTS = {
    ("loaded", None): 161,
    ("dicomdir", None): 8,
    ("quarantined", "not_dicom"): 11,
    ("quarantined", "missing_sop_instance_uid"): 7,
    ("quarantined", "missing_study_instance_uid"): 4,
    ("quarantined", "truncated"): 2,
    ("quarantined", "unreadable_file_meta"): 1,
}


@pytest.mark.parametrize(("name", "outcome", "reason"), EXPECTED_OUTCOMES)
def test_bundled_file_outcome(name: str, outcome: str, reason: str | None) -> None:
    record = read_instance(bundled_bytes(name), f"file:///in/{name}", OPTIONS)
    assert (record.outcome, record.reason) == (outcome, reason)
    assert (record.detail is None) == (reason is None)


def test_every_bundled_file_gets_one_outcome() -> None:
    counts: Counter[tuple[str, str | None]] = Counter()
    for path in every_bundled_file():
        record = read_instance(path.read_bytes(), path.as_uri(), OPTIONS)
        counts[(record.outcome, record.reason)] += 1
        assert (record.outcome == "loaded") == (record.dicom_json is not None)
    assert dict(counts) == EXPECTED_COUNTS
    assert sum(counts.values()) == len(every_bundled_file())


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, 1)


def _rows_element(data: bytes) -> int:
    return data.index(b"\x28\x00\x10\x00US")


def _deflated_body_start(data: bytes) -> int:
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    return 132 + 12 + meta.FileMetaInformationGroupLength


def _broken(kind: str) -> bytes:
    ct = bundled_bytes("CT_small.dcm")
    rows = _rows_element(ct)
    if kind == "unknown_vr":
        return ct[:rows + 4] + b"ZZ" + ct[rows + 6:]
    if kind == "odd_length_us":
        return ct[:rows + 6] + b"\x03\x00" + ct[rows + 8:]
    if kind == "cut_in_header":
        return ct[:1000]
    if kind == "cut_after_tag":
        return ct[:rows + 4]  # pydicom stops silently when fewer than 8 bytes remain
    if kind == "meta_vr_zero":
        transfer_syntax = ct.index(b"\x02\x00\x10\x00UI")
        return ct[:transfer_syntax + 4] + b"\x00\x00" + ct[transfer_syntax + 6:]
    if kind == "cut_in_meta":
        return ct[:200]
    if kind == "meta_unknown_vr":
        group_length = ct.index(b"\x02\x00\x00\x00UL")
        return ct[:group_length + 4] + b"QQ" + ct[group_length + 6:]
    if kind == "encapsulated_cut":
        return bundled_bytes("JPEG2000.dcm")[:-100]
    if kind == "text":
        return b"PatientName=Doe^John\n" * 20
    if kind == "empty":
        return b""
    dfl = bundled_bytes("image_dfl.dcm")
    start = _deflated_body_start(dfl)
    if kind == "deflate_corrupt":
        return dfl[:start] + b"\xff" * 50 + dfl[start + 50:]
    if kind == "deflate_cut":
        return dfl[:start + 200]
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "reason"), [
    ("unknown_vr", "bad_vr_or_length"),
    ("odd_length_us", "bad_vr_or_length"),
    ("cut_in_header", "truncated"),
    ("cut_in_meta", "truncated"),
    ("cut_after_tag", "truncated"),
    ("meta_vr_zero", "unreadable_file_meta"),
    ("encapsulated_cut", "truncated"),
    ("meta_unknown_vr", "unreadable_file_meta"),
    ("deflate_corrupt", "deflate_error"),
    ("deflate_cut", "deflate_error"),
    ("text", "not_dicom"),
    ("empty", "not_dicom"),
])
def test_broken_file_reason(kind: str, reason: str) -> None:
    record = read_instance(_broken(kind), "file:///in/broken.dcm", OPTIONS)
    assert (record.outcome, record.reason) == ("quarantined", reason)
    assert record.detail.startswith("Unable to ")


def _without_element(data: bytes, keyword: str) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(data))
    delattr(dataset, keyword)
    out = io.BytesIO()
    dataset.save_as(out)
    return out.getvalue()


@pytest.mark.parametrize(("keyword", "reason"), [
    ("SOPInstanceUID", "missing_sop_instance_uid"),
    ("StudyInstanceUID", "missing_study_instance_uid"),
    ("SeriesInstanceUID", "missing_series_instance_uid"),
    ("SOPClassUID", "missing_sop_class_uid"),
])
def test_missing_required_uid(ct_small: bytes, keyword: str, reason: str) -> None:
    record = read_instance(_without_element(ct_small, keyword), "file:///in/x.dcm", OPTIONS)
    assert (record.outcome, record.reason) == ("quarantined", reason)


def test_uid_that_could_be_a_path_is_rejected(ct_small: bytes) -> None:
    dataset = pydicom.dcmread(io.BytesIO(ct_small))
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):
        dataset.SeriesInstanceUID = "../../etc"
    out = io.BytesIO()
    dataset.save_as(out)
    record = read_instance(out.getvalue(), "file:///in/x.dcm", OPTIONS)
    assert (record.outcome, record.reason) == ("quarantined", "invalid_uid")


def test_too_large_file_is_recorded_not_parsed(ct_small: bytes) -> None:
    record = read_instance(ct_small, "file:///in/x.dcm", HeaderOptions(max_file_bytes=1000))
    assert (record.outcome, record.reason, record.file_size) == ("quarantined", "file_too_large", len(ct_small))


def test_ct_small_columns(ct_small: bytes) -> None:
    record = read_instance(ct_small, "file:///in/CT_small.dcm", OPTIONS)
    dataset = pydicom.dcmread(io.BytesIO(ct_small))
    assert record.sop_instance_uid == dataset.SOPInstanceUID
    assert record.study_instance_uid == dataset.StudyInstanceUID
    assert record.series_instance_uid == dataset.SeriesInstanceUID
    assert record.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert record.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert record.patient_name == "CompressedSamples^CT1"
    assert record.patient_name_alphabetic == "CompressedSamples^CT1"
    assert record.patient_name_ideographic is None
    assert record.patient_id == "1CT1"
    assert (record.study_date, record.study_date_raw) == (date(2004, 1, 19), "20040119")
    assert (record.modality, record.manufacturer) == ("CT", "GE MEDICAL SYSTEMS")
    assert (record.rows, record.columns, record.bits_allocated, record.bits_stored) == (128, 128, 16, 16)
    assert (record.pixel_representation, record.samples_per_pixel) == (1, 1)
    assert record.photometric_interpretation == "MONOCHROME2"
    assert record.specific_character_set == "ISO_IR 100"
    assert record.file_size == len(ct_small)
    assert record.content_sha256 == __import__("hashlib").sha256(ct_small).hexdigest()
    assert (record.charset_warning, record.warnings) == (False, [])


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                                  "SC_rgb_small_odd.dcm"])
def test_native_pixel_data_location(name: str) -> None:
    data = bundled_bytes(name)
    record = read_instance(data, "file:///in/x.dcm", OPTIONS)
    assert record.has_pixel_data and record.pixel_data_encapsulated is False
    start = record.pixel_data_offset
    assert data[start:start + record.pixel_data_length] == pydicom.dcmread(io.BytesIO(data)).PixelData


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "SC_rgb_rle_2frame.dcm", "MR_small_jp2klossless.dcm",
                                  "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_encapsulated_fragments_location(name: str) -> None:
    data = bundled_bytes(name)
    record = read_instance(data, "file:///in/x.dcm", OPTIONS)
    dataset = pydicom.dcmread(io.BytesIO(data))
    expected = list(generate_fragments(dataset.PixelData[8 + _bot_length(dataset.PixelData):]))
    found = [data[offset:offset + length] for offset, length in
             zip(record.pixel_data_fragment_offsets, record.pixel_data_fragment_lengths, strict=True)]
    assert record.pixel_data_encapsulated is True
    assert found == expected
    assert data[record.pixel_data_offset:record.pixel_data_offset + record.pixel_data_length + 8] == \
        dataset.PixelData + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _bot_length(value: bytes) -> int:
    return int.from_bytes(value[4:8], "little")


def test_deflated_offsets_count_in_the_inflated_stream() -> None:
    data = bundled_bytes("image_dfl.dcm")
    record = read_instance(data, "file:///in/dfl.dcm", OPTIONS)
    inflated = zlib.decompress(data[_deflated_body_start(data):], -zlib.MAX_WBITS)
    start = record.pixel_data_offset
    assert record.pixel_data_in_inflated_stream
    assert inflated[start:start + record.pixel_data_length] == pydicom.dcmread(io.BytesIO(data)).PixelData
    assert "stream=inflated" in json.loads(record.dicom_json)["7FE00010"]["BulkDataURI"]


def test_invalid_values_are_kept_and_reported() -> None:
    record = read_instance(bundled_bytes("badVR.dcm"), "file:///in/badVR.dcm", OPTIONS)
    assert record.outcome == "loaded" and not record.charset_warning
    assert any(w.startswith("Invalid value for VR IS") for w in record.warnings)


def test_details_carry_no_header_values() -> None:
    dataset = pydicom.dcmread(io.BytesIO(bundled_bytes("CT_small.dcm")))
    del dataset.SOPInstanceUID
    out = io.BytesIO()
    dataset.save_as(out)
    record = read_instance(out.getvalue(), "file:///in/x.dcm", OPTIONS)
    for value in (str(dataset.PatientName), dataset.PatientID, "CompressedSamples"):
        assert value not in record.detail


def test_column_specification_matches_the_record() -> None:
    record = read_instance(bundled_bytes("CT_small.dcm"), "file:///in/x.dcm", OPTIONS)
    assert [name for name, _ in INSTANCE_COLUMNS] == list(record.as_row())
    assert {ddl for _, ddl in INSTANCE_COLUMNS} <= {"string", "bigint", "int", "boolean", "date",
                                                   "array<bigint>", "array<string>"}
    assert instance_ddl().startswith("source_uri string, outcome string, file_size bigint")
    assert isinstance(record, InstanceRecord) and type(record.outcome) is str


def test_pydicom_settings_are_restored() -> None:
    pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE
    try:
        read_instance(bundled_bytes("badVR.dcm"), "file:///in/badVR.dcm", OPTIONS)
        assert pydicom.config.settings.reading_validation_mode == pydicom.config.RAISE
    finally:
        pydicom.config.settings.reading_validation_mode = pydicom.config.WARN
    assert DATA_ROOT.is_dir()


def test_a_deflated_data_set_that_inflates_beyond_max_file_bytes_is_not_inflated() -> None:
    """pydicom inflates a deflated data set whole, so a deflate bomb is refused before it reads it."""
    from pydicom.data import get_testdata_file

    from medlake.dicom.header import HeaderOptions, read_instance

    path = get_testdata_file("image_dfl.dcm", download=False)
    assert path is not None
    with open(path, "rb") as handle:
        data = handle.read()
    assert read_instance(data, "file:/image_dfl.dcm", HeaderOptions()).outcome == "loaded"
    bombed = read_instance(data, "file:/image_dfl.dcm", HeaderOptions(max_file_bytes=len(data)))
    assert (bombed.outcome, bombed.reason) == ("quarantined", "archive_too_large")
