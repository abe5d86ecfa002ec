"""Character sets: every one of pydicom's 17 bundled charset files decodes as pydicom's own tests expect."""

from __future__ import annotations

import io
import json

import pydicom
import pytest
from bundled_dicom import bundled_bytes

from medlake.dicom.charset import split_person_name
from medlake.dicom.dicomjson import dataset_to_dicom_json
from medlake.dicom.header import HeaderOptions, read_instance

# Expected Patient's Name per file, as in pydicom's tests/test_charset.py (FILE_PATIENT_NAMES).
FILE_PATIENT_NAMES = [
    ("chrArab", "قباني^لنزار"),
    ("chrFren", "Buc^Jérôme"),
    ("chrFrenMulti", "Buc^Jérôme"),
    ("chrGerm", "Äneas^Rüdiger"),
    ("chrGreek", "Διονυσιος"),
    ("chrH31", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ("chrH32", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    ("chrHbrw", "שרון^דבורה"),
    ("chrI2", "Hong^Gildong=洪^吉洞=홍^길동"),
    ("chrJapMulti", "やまだ^たろう"),
    ("chrJapMultiExplicitIR6", "やまだ^たろう"),
    ("chrKoreanMulti", "김희중"),
    ("chrRuss", "Люкceмбypг"),
    ("chrX1", "Wang^XiaoDong=王^小東"),
    ("chrX2", "Wang^XiaoDong=王^小东"),
]
# The two files whose sequence item carries the name, with its own or its parent's character set
# (pydicom's test_nested_character_sets and test_inherited_character_set_in_sequence).
SEQUENCE_ITEM_NAMES = [
    ("chrSQEncoding", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    ("chrSQEncoding1", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
]
STRICT = HeaderOptions(quarantine_charset_errors=True)
LENIENT = HeaderOptions(quarantine_charset_errors=False)


def _pn(groups: dict[str, str]) -> str:
    return "=".join(groups.get(g, "") for g in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("=")


def test_the_table_covers_every_bundled_charset_file() -> None:
    names = {name for name, _ in FILE_PATIENT_NAMES + SEQUENCE_ITEM_NAMES}
    bundled = {path.split("/")[-1].removesuffix(".dcm") for path in pydicom.data.get_charset_files("*.dcm")}
    assert names == bundled and len(names) == 17


@pytest.mark.parametrize(("name", "patient_name"), FILE_PATIENT_NAMES)
def test_patient_name_columns_and_json(name: str, patient_name: str) -> None:
    record = read_instance(bundled_bytes(f"{name}.dcm"), f"file:///in/{name}.dcm", STRICT)
    assert (record.outcome, record.charset_warning, record.warnings) == ("loaded", False, [])
    assert record.patient_name == patient_name
    groups = split_person_name(patient_name)
    assert (record.patient_name_alphabetic, record.patient_name_ideographic,
            record.patient_name_phonetic) == tuple(groups)
    element = json.loads(record.dicom_json)["00100010"]
    assert element["vr"] == "PN" and _pn(element["Value"][0]) == patient_name


def test_person_name_groups_japanese() -> None:
    record = read_instance(bundled_bytes("chrH31.dcm"), "file:///in/chrH31.dcm", STRICT)
    assert (record.patient_name_alphabetic, record.patient_name_ideographic, record.patient_name_phonetic) == (
        "Yamada^Tarou", "山田^太郎", "やまだ^たろう")
    assert json.loads(record.dicom_json)["00100010"]["Value"] == [
        {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}]


@pytest.mark.parametrize(("name", "patient_name"), SEQUENCE_ITEM_NAMES)
def test_sequence_item_character_set(name: str, patient_name: str) -> None:
    dataset = pydicom.dcmread(io.BytesIO(bundled_bytes(f"{name}.dcm")))
    document = dataset_to_dicom_json(dataset, bulk_uri=lambda offset, length: "", bulk_data_threshold=1024,
                                     stream_size=len(bundled_bytes(f"{name}.dcm")))
    item = document["00321064"]["Value"][0]
    assert _pn(item["00100010"]["Value"][0]) == patient_name


def _undecodable_utf8_name() -> bytes:
    """chrFren (Latin-1 'Buc^Jérôme') relabelled as UTF-8: the é and ô bytes cannot be decoded."""
    data = bundled_bytes("chrFren.dcm")
    return data.replace(b"CS\x0a\x00ISO_IR 100", b"CS\x0a\x00ISO_IR 192", 1)


def test_undecodable_text_is_quarantined_when_configured() -> None:
    record = read_instance(_undecodable_utf8_name(), "file:///in/bad.dcm", STRICT)
    assert (record.outcome, record.reason) == ("quarantined", "charset_decode_failed")
    assert record.dicom_json is None
    assert any(w.startswith("Failed to decode byte string") for w in record.warnings)


def test_undecodable_text_is_flagged_when_loaded() -> None:
    record = read_instance(_undecodable_utf8_name(), "file:///in/bad.dcm", LENIENT)
    assert (record.outcome, record.charset_warning) == ("loaded", True)
    assert "\ufffd" in record.patient_name


def test_unknown_character_set_is_a_charset_error() -> None:
    data = bundled_bytes("chrRuss.dcm").replace(b"ISO_IR 144", b"ISO_IR 999", 1)
    record = read_instance(data, "file:///in/bad.dcm", STRICT)
    assert (record.outcome, record.reason) == ("quarantined", "charset_decode_failed")
