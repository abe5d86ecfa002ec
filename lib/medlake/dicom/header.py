"""One DICOM Part 10 file's bytes in, one plain instance record out: the per-file core of DICOM ingest.

What counts as readable
-----------------------
pydicom is lenient in four ways that would let broken files through, so :func:`read_instance`
adds its own rules:

* ``force=True`` reads any bytes as a dataset: forced reading is used only for files without the
  ``DICM`` prefix whose first tag lies in group 0002 or 0008; anything else is ``not_dicom``.
* A truncated file can parse without error: an element whose value ends beyond the last byte, or
  pydicom's "End of file reached before delimiter" warning, makes the file ``truncated``.
* Values are parsed lazily: every element of the header (pixel data and bulk values excepted) is
  converted while building the DICOM JSON, so a bad VR or length surfaces here, not later.
* Undecodable text becomes U+FFFD with a warning only: such files are flagged
  (``charset_warning``) and quarantined as ``charset_decode_failed`` when configured.

pydicom runs under ``reading_validation_mode = WARN`` (invalid values such as an IS of ``1A`` are
kept and reported); its warnings are captured per file into ``warnings`` and its logger is muted
while reading, because both can quote element values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from io import BytesIO
from typing import Any, BinaryIO, cast

from pydicom import config, dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.filereader import read_dataset
from pydicom.multival import MultiValue
from pydicom.uid import DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

from medlake.archives import deflate_exceeds
from medlake.config import DicomConfig
from medlake.dicom.charset import REPLACEMENT_CHARACTER, is_charset_error, split_person_name
from medlake.dicom.classify import (
    INVALID_UID,
    MISSING_SOP_CLASS_UID,
    FileOutcome,
    Rejection,
    has_part10_prefix,
    looks_like_raw_dataset,
    rejection_for,
)
from medlake.dicom.dicomjson import bulk_data_uri, dataset_to_dicom_json
from medlake.quarantine import QuarantineReason

__all__ = [
    "INSTANCE_COLUMNS",
    "HeaderOptions",
    "InstanceRecord",
    "instance_ddl",
    "oversized_instance",
    "read_instance",
    "try_to_date",
]

_PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel, Float Pixel, Double Float Pixel Data
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM_HEADER = 8
_PART10_HEADER = 132
_MAX_WARNINGS = 50
_TRUNCATION_WARNING = "End of file reached before delimiter"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_UID_MAX_LENGTH = 64
_REQUIRED_UIDS = (
    ("sop_instance_uid", "SOPInstanceUID", "(0008,0018)", QuarantineReason.MISSING_SOP_INSTANCE_UID),
    ("study_instance_uid", "StudyInstanceUID", "(0020,000D)", QuarantineReason.MISSING_STUDY_INSTANCE_UID),
    ("series_instance_uid", "SeriesInstanceUID", "(0020,000E)", QuarantineReason.MISSING_SERIES_INSTANCE_UID),
    ("sop_class_uid", "SOPClassUID", "(0008,0016)", MISSING_SOP_CLASS_UID),
)


@dataclass(frozen=True)
class HeaderOptions:
    """How :func:`read_instance` reads a file."""

    #: Values above this many bytes are neither read into memory nor inlined: they become BulkDataURIs.
    bulk_data_threshold: int = 1024
    #: Quarantine files whose text could not be decoded; otherwise load them with ``charset_warning``.
    quarantine_charset_errors: bool = True
    #: Files above this size are recorded as ``file_too_large`` without being parsed.
    max_file_bytes: int = 1 << 30

    @classmethod
    def from_config(cls, config: DicomConfig) -> HeaderOptions:
        """Return the options set in the ``dicom`` section of the configuration."""
        return cls(bulk_data_threshold=config.bulk_data_threshold,
                   quarantine_charset_errors=config.quarantine_charset_errors,
                   max_file_bytes=config.max_file_bytes)


def _column(ddl: str) -> Any:
    """Declare a record field holding None until set, with its Spark SQL type."""
    return field(default=None, metadata={"ddl": ddl})


@dataclass(frozen=True)
class InstanceRecord:
    """What one file holds, as a flat row of plain Python values (one per ``dicom.instance`` column)."""

    source_uri: str = field(metadata={"ddl": "string"})
    outcome: str = field(metadata={"ddl": "string"})
    file_size: int = field(metadata={"ddl": "bigint"})
    content_sha256: str | None = _column("string")
    reason: str | None = _column("string")
    detail: str | None = _column("string")
    sop_instance_uid: str | None = _column("string")
    sop_class_uid: str | None = _column("string")
    study_instance_uid: str | None = _column("string")
    series_instance_uid: str | None = _column("string")
    transfer_syntax_uid: str | None = _column("string")
    specific_character_set: str | None = _column("string")
    patient_id: str | None = _column("string")
    issuer_of_patient_id: str | None = _column("string")
    patient_name: str | None = _column("string")
    patient_name_alphabetic: str | None = _column("string")
    patient_name_ideographic: str | None = _column("string")
    patient_name_phonetic: str | None = _column("string")
    patient_birth_date: date | None = _column("date")
    patient_birth_date_raw: str | None = _column("string")
    patient_sex: str | None = _column("string")
    study_date: date | None = _column("date")
    study_date_raw: str | None = _column("string")
    study_time_raw: str | None = _column("string")
    study_description: str | None = _column("string")
    series_description: str | None = _column("string")
    accession_number: str | None = _column("string")
    modality: str | None = _column("string")
    body_part_examined: str | None = _column("string")
    manufacturer: str | None = _column("string")
    manufacturer_model_name: str | None = _column("string")
    series_number: int | None = _column("int")
    instance_number: int | None = _column("int")
    referring_physician_name: str | None = _column("string")
    rows: int | None = _column("int")
    columns: int | None = _column("int")
    number_of_frames: int | None = _column("int")
    bits_allocated: int | None = _column("int")
    bits_stored: int | None = _column("int")
    high_bit: int | None = _column("int")
    pixel_representation: int | None = _column("int")
    photometric_interpretation: str | None = _column("string")
    samples_per_pixel: int | None = _column("int")
    planar_configuration: int | None = _column("int")
    has_pixel_data: bool = field(default=False, metadata={"ddl": "boolean"})
    #: Offsets count in the inflated data set, not the file (Deflated Explicit VR Little Endian).
    pixel_data_in_inflated_stream: bool = field(default=False, metadata={"ddl": "boolean"})
    pixel_data_offset: int | None = _column("bigint")
    pixel_data_length: int | None = _column("bigint")
    pixel_data_encapsulated: bool | None = _column("boolean")
    #: Encapsulated: offset and length of each fragment's bytes (after its item header), BOT excluded.
    pixel_data_fragment_offsets: list[int] | None = _column("array<bigint>")
    pixel_data_fragment_lengths: list[int] | None = _column("array<bigint>")
    #: Encapsulated: the Basic Offset Table, frame offsets from the first fragment's item tag.
    pixel_data_basic_offsets: list[int] | None = _column("array<bigint>")
    charset_warning: bool = field(default=False, metadata={"ddl": "boolean"})
    warnings: list[str] = field(default_factory=list, metadata={"ddl": "array<string>"})
    dicom_json: str | None = _column("string")

    def as_row(self) -> dict[str, Any]:
        """Return the record as a dict keyed by column name, in :data:`INSTANCE_COLUMNS` order."""
        return asdict(self)


#: ``(column name, Spark SQL DDL type)`` of every :class:`InstanceRecord` field, in order.
INSTANCE_COLUMNS: list[tuple[str, str]] = [(f.name, f.metadata["ddl"]) for f in fields(InstanceRecord)]


def instance_ddl() -> str:
    """Return the record's schema as a Spark DDL string (``StructType.fromDDL`` reads it).

    Examples
    --------
    >>> instance_ddl().split(", ")[:3]
    ['source_uri string', 'outcome string', 'file_size bigint']
    """
    return ", ".join(f"{name} {ddl}" for name, ddl in INSTANCE_COLUMNS)


def try_to_date(text: str | None) -> date | None:
    """Return the date of a DA value, or None where it is empty, partial or not a real day.

    Examples
    --------
    >>> try_to_date("20240229")
    datetime.date(2024, 2, 29)
    >>> try_to_date("20230229") is None, try_to_date("2023") is None, try_to_date("1993.07.18")
    (True, True, datetime.date(1993, 7, 18))
    """
    text = (text or "").strip()
    for layout in ("%Y%m%d", "%Y.%m.%d"):  # the second is ACR-NEMA's, still met in old files
        if len(text) == len(datetime(2000, 1, 1).strftime(layout)):
            try:
                return datetime.strptime(text, layout).date()
            except ValueError:
                continue
    return None


def oversized_instance(source_uri: str, file_size: int, options: HeaderOptions) -> InstanceRecord:
    """Return the record of a file too large to be read (for callers that do not load its bytes)."""
    return InstanceRecord(
        source_uri=source_uri, outcome=str(FileOutcome.QUARANTINED), file_size=file_size,
        reason=str(QuarantineReason.FILE_TOO_LARGE),
        detail=f"Unable to read the file as its {file_size} bytes exceed the limit of "
               f"{options.max_file_bytes} bytes",
    )


def read_instance(data: bytes, source_uri: str, options: HeaderOptions | None = None) -> InstanceRecord:
    """Read one file's header into an instance record; never raises for the file's content.

    Parameters
    ----------
    data
        The whole file.
    source_uri
        Where the file was read from; used in BulkDataURIs and copied to the record, never opened.
    options
        Thresholds and the character-set policy; defaults to :class:`HeaderOptions`.

    Returns
    -------
    InstanceRecord
        ``outcome`` is ``loaded``, ``dicomdir`` or ``quarantined`` (then ``reason`` and ``detail``).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm", download=False)
    >>> record = read_instance(open(path, "rb").read(), "file:///data/CT_small.dcm")
    >>> record.outcome, record.modality, record.rows, record.pixel_data_length
    ('loaded', 'CT', 128, 32768)
    """
    options = options or HeaderOptions()
    if len(data) > options.max_file_bytes:
        return oversized_instance(source_uri, len(data), options)
    base: dict[str, Any] = {"source_uri": source_uri, "file_size": len(data),
                            "content_sha256": hashlib.sha256(data).hexdigest()}
    with _pydicom_reading_policy() as caught:
        try:
            values = _read(data, source_uri, options, caught)
        except Exception as error:  # pydicom raises many types for bad input; each becomes a reason
            rejection = rejection_for(error, "parse the data set")
            values = {"outcome": FileOutcome.QUARANTINED, "reason": rejection.reason,
                      "detail": rejection.detail}
        values["outcome"] = str(values["outcome"])  # plain str for Arrow, not the enum
        values["reason"] = str(values["reason"]) if values.get("reason") else None
        base["warnings"] = _warning_texts(caught)
    return InstanceRecord(**base, **values)


@contextmanager
def _pydicom_reading_policy() -> Iterator[list[warnings.WarningMessage]]:
    """Pin pydicom's validation mode, mute its logger and capture its warnings for one file."""
    logger = logging.getLogger("pydicom")
    previous_mode, previous_disabled = config.settings.reading_validation_mode, logger.disabled
    config.settings.reading_validation_mode = config.WARN
    logger.disabled = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        config.settings.reading_validation_mode = previous_mode
        logger.disabled = previous_disabled


def _warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    """Return the distinct warning texts in order of first appearance, at most ``_MAX_WARNINGS``."""
    return list(dict.fromkeys(str(w.message) for w in caught))[:_MAX_WARNINGS]


def _read(data: bytes, source_uri: str, options: HeaderOptions,
          caught: list[warnings.WarningMessage]) -> dict[str, Any]:
    """Return the record's values for a file that can be loaded; raise :class:`Rejection` otherwise."""
    prefixed = has_part10_prefix(data)
    if not prefixed and not looks_like_raw_dataset(data):
        raise Rejection(QuarantineReason.NOT_DICOM,
                        "Unable to read the file as DICOM as it has neither the 'DICM' prefix nor a data "
                        "set at its start")
    if prefixed:
        meta, body_offset = _read_file_meta(data)
        if meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
            return {"outcome": FileOutcome.DICOMDIR, "sop_class_uid": MediaStorageDirectoryStorage,
                    "sop_instance_uid": _text(meta, "MediaStorageSOPInstanceUID"),
                    "transfer_syntax_uid": _text(meta, "TransferSyntaxUID")}
        if (meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
                and deflate_exceeds(data[body_offset:], options.max_file_bytes)):  # pydicom inflates it whole
            raise Rejection(QuarantineReason.ARCHIVE_TOO_LARGE,
                            f"Unable to read the deflated data set as it inflates beyond max_file_bytes "
                            f"({options.max_file_bytes} bytes)")
    dataset = dcmread(BytesIO(data), force=not prefixed, defer_size=options.bulk_data_threshold)
    if any(str(w.message).startswith(_TRUNCATION_WARNING) for w in caught):
        raise Rejection(QuarantineReason.TRUNCATED,
                        "Unable to parse the data set as the file ends before a sequence delimiter")
    transfer_syntax = dataset.file_meta.get("TransferSyntaxUID")
    stream = cast(BinaryIO, dataset.buffer)  # the caller's BytesIO, or pydicom's inflated copy
    stream_size = stream.seek(0, 2)
    _reject_unparsed_tail(dataset, stream, stream_size)
    inflated = transfer_syntax == DeflatedExplicitVRLittleEndian
    pixels = _locate_pixel_data(dataset, stream, stream_size)

    def bulk_uri(offset: int, length: int) -> str:
        return bulk_data_uri(source_uri, offset, length, inflated=inflated)

    threshold = options.bulk_data_threshold
    document = dataset_to_dicom_json(dataset.file_meta, bulk_uri=bulk_uri, bulk_data_threshold=threshold,
                                     stream_size=len(data))
    document |= dataset_to_dicom_json(
        dataset, bulk_uri=bulk_uri, bulk_data_threshold=threshold, stream_size=stream_size,
        bulk_locations={tag: (location["pixel_data_offset"], location["pixel_data_length"])
                        for tag, location in pixels.items()},
    )
    dicom_json = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    charset_warning = REPLACEMENT_CHARACTER in dicom_json or any(
        is_charset_error(str(w.message)) for w in caught)
    if charset_warning and options.quarantine_charset_errors:
        raise Rejection(QuarantineReason.CHARSET_DECODE_FAILED,
                        "Unable to decode the header's text as it is not valid in its Specific Character Set")
    uids = _required_uids(dataset)
    pixel_values = next(iter(pixels.values()), {})
    return {
        "outcome": FileOutcome.LOADED, **uids, **_attributes(dataset), **pixel_values,
        "transfer_syntax_uid": str(transfer_syntax) if transfer_syntax else None,
        "has_pixel_data": bool(pixels), "pixel_data_in_inflated_stream": bool(pixels) and inflated,
        "charset_warning": charset_warning, "dicom_json": dicom_json,
    }


def _reject_unparsed_tail(dataset: Dataset, stream: BinaryIO, stream_size: int) -> None:
    """Reject a file whose last bytes pydicom silently skipped: fewer than an element header (8 bytes).

    Trailing zero bytes are padding; anything else is an element header cut short.
    """
    if not dataset:
        return
    last = dataset.get_item(max(dataset.keys()), keep_deferred=True)
    if not isinstance(last, RawDataElement) or last.length == _UNDEFINED_LENGTH:
        return
    end = last.value_tell + last.length
    stream.seek(end)
    if end < stream_size and stream.read(stream_size - end).strip(b"\x00"):
        raise Rejection(QuarantineReason.TRUNCATED,
                        "Unable to parse the data set as the file ends inside an element header")


def _read_file_meta(data: bytes) -> tuple[FileMetaDataset, int]:
    """Read and check the File Meta Information (Explicit VR Little Endian, PS3.10 7.1); return it and
    the offset of the data set after it."""
    stream = BytesIO(data)
    stream.seek(_PART10_HEADER)
    try:
        meta = FileMetaDataset(read_dataset(stream, is_implicit_VR=False, is_little_endian=True,
                                            stop_when=lambda tag, vr, length: tag >> 16 != 2))
        if any(meta.get_item(tag, keep_deferred=True).VR is None for tag in meta.keys()):
            raise Rejection(QuarantineReason.UNREADABLE_FILE_META,
                            "Unable to read the file meta information as an element has no explicit VR")
        dataset_to_dicom_json(meta, bulk_uri=lambda offset, length: "", bulk_data_threshold=len(data),
                              stream_size=len(data))
    except Rejection:
        raise
    except Exception as error:  # any failure to parse group 0002 means the meta is unreadable
        raise Rejection(QuarantineReason.UNREADABLE_FILE_META,
                        f"Unable to read the file meta information as it is malformed "
                        f"({type(error).__name__})") from error
    if "TransferSyntaxUID" not in meta:
        raise Rejection(QuarantineReason.UNREADABLE_FILE_META,
                        "Unable to read the file meta information as (0002,0010) 'Transfer Syntax UID' "
                        "is missing")
    return meta, stream.tell()


def _locate_pixel_data(dataset: Dataset, stream: BinaryIO, stream_size: int) -> dict[int, dict[str, Any]]:
    """Return where each top-level pixel data element's value lies, keyed by tag."""
    found: dict[int, dict[str, Any]] = {}
    for tag in _PIXEL_DATA_TAGS:
        raw = dataset.get_item(tag, keep_deferred=True) if tag in dataset else None
        if not isinstance(raw, RawDataElement):
            continue
        if raw.length != _UNDEFINED_LENGTH:
            if raw.value_tell + raw.length > stream_size:
                raise Rejection(QuarantineReason.TRUNCATED,
                                f"Unable to locate the pixel data as element {raw.tag} ends beyond the end "
                                "of the file")
            found[tag] = {"pixel_data_offset": raw.value_tell, "pixel_data_length": raw.length,
                          "pixel_data_encapsulated": False}
            continue
        stream.seek(raw.value_tell)
        basic_offsets = parse_basic_offsets(stream)
        _, item_offsets = parse_fragments(stream)
        lengths = []
        for item_offset in item_offsets:
            stream.seek(item_offset + 4)
            lengths.append(struct.unpack("<L", stream.read(4))[0])
        end = item_offsets[-1] + _ITEM_HEADER + lengths[-1] if item_offsets else stream.tell()
        if end > stream_size:
            raise Rejection(QuarantineReason.TRUNCATED,
                            "Unable to locate the pixel data fragments as they end beyond the end of the file")
        found[tag] = {"pixel_data_offset": raw.value_tell, "pixel_data_length": end - raw.value_tell,
                      "pixel_data_encapsulated": True, "pixel_data_basic_offsets": basic_offsets,
                      "pixel_data_fragment_offsets": [offset + _ITEM_HEADER for offset in item_offsets],
                      "pixel_data_fragment_lengths": lengths}
    return found


def _required_uids(dataset: Dataset) -> dict[str, str]:
    """Return the four identifying UIDs, rejecting a file where one is missing or not a UID."""
    uids = {}
    for column, keyword, tag, reason in _REQUIRED_UIDS:
        value = _text(dataset, keyword)
        if not value:
            raise Rejection(reason, f"Unable to load the instance as {tag} '{keyword}' is missing or empty")
        if len(value) > _UID_MAX_LENGTH or not _UID.fullmatch(value):
            raise Rejection(INVALID_UID, f"Unable to load the instance as {tag} '{keyword}' is not a valid UID")
        uids[column] = value
    return uids


def _attributes(dataset: Dataset) -> dict[str, Any]:
    """Return the typed columns users filter and join on."""
    patient_name = _text(dataset, "PatientName")
    birth_date_raw = _text(dataset, "PatientBirthDate")
    study_date_raw = _text(dataset, "StudyDate")
    charset = dataset.get("SpecificCharacterSet")
    return {
        "specific_character_set": "\\".join(charset) if isinstance(charset, list | MultiValue)
        else _text(dataset, "SpecificCharacterSet"),
        "patient_id": _text(dataset, "PatientID"),
        "issuer_of_patient_id": _text(dataset, "IssuerOfPatientID"),
        "patient_name": patient_name,
        **dict(zip(("patient_name_alphabetic", "patient_name_ideographic", "patient_name_phonetic"),
                   split_person_name(patient_name))),
        "patient_birth_date": try_to_date(birth_date_raw),
        "patient_birth_date_raw": birth_date_raw,
        "patient_sex": _text(dataset, "PatientSex"),
        "study_date": try_to_date(study_date_raw),
        "study_date_raw": study_date_raw,
        "study_time_raw": _text(dataset, "StudyTime"),
        "study_description": _text(dataset, "StudyDescription"),
        "series_description": _text(dataset, "SeriesDescription"),
        "accession_number": _text(dataset, "AccessionNumber"),
        "modality": _text(dataset, "Modality"),
        "body_part_examined": _text(dataset, "BodyPartExamined"),
        "manufacturer": _text(dataset, "Manufacturer"),
        "manufacturer_model_name": _text(dataset, "ManufacturerModelName"),
        "series_number": _integer(dataset, "SeriesNumber"),
        "instance_number": _integer(dataset, "InstanceNumber"),
        "referring_physician_name": _text(dataset, "ReferringPhysicianName"),
        "rows": _integer(dataset, "Rows"),
        "columns": _integer(dataset, "Columns"),
        "number_of_frames": _integer(dataset, "NumberOfFrames"),
        "bits_allocated": _integer(dataset, "BitsAllocated"),
        "bits_stored": _integer(dataset, "BitsStored"),
        "high_bit": _integer(dataset, "HighBit"),
        "pixel_representation": _integer(dataset, "PixelRepresentation"),
        "photometric_interpretation": _text(dataset, "PhotometricInterpretation"),
        "samples_per_pixel": _integer(dataset, "SamplesPerPixel"),
        "planar_configuration": _integer(dataset, "PlanarConfiguration"),
    }


def _text(dataset: Dataset, keyword: str) -> str | None:
    """Return a single-valued element as text without DICOM padding, None where absent or empty."""
    value = dataset.get(keyword)
    text = "" if value is None else str(value).strip(" \x00")
    return text or None


def _integer(dataset: Dataset, keyword: str) -> int | None:
    """Return a single-valued number as int, None where absent, empty or not an integer."""
    text = _text(dataset, keyword)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
