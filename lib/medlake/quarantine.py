"""Quarantine: one schema and one set of reasons for every record or file that could not be loaded."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from medlake.config import TableConfig
from medlake.tables import WriteResult, create_table, merge_into

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["PositionKind", "QuarantineReason", "create_quarantine_table", "file_quarantine_rows", "quarantine_schema",
           "write_quarantine"]


class QuarantineReason(StrEnum):
    """Stable reason categories; tests and users filter on these values, not on the wording."""

    # FHIR records
    INVALID_JSON = "invalid_json"
    NOT_A_RESOURCE = "not_a_resource"
    UNKNOWN_RESOURCE_TYPE = "unknown_resource_type"
    MISSING_ID = "missing_id"
    SCHEMA_ROUNDTRIP_MISMATCH = "schema_roundtrip_mismatch"
    VALUE_TOO_LARGE = "value_too_large"
    VALIDATION_FAILED = "validation_failed"
    UNRESOLVED_DELETE = "unresolved_delete"
    NESTING_TOO_DEEP = "nesting_too_deep"
    # Input files, whatever their format
    UNREADABLE_FILE = "unreadable_file"
    DIRECTORY_CYCLE = "directory_cycle"
    TRUNCATED_ARCHIVE = "truncated_archive"
    CORRUPT_ARCHIVE = "corrupt_archive"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    # DICOM files and frames
    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    BAD_VR_OR_LENGTH = "bad_vr_or_length"
    UNREADABLE_FILE_META = "unreadable_file_meta"
    DEFLATE_ERROR = "deflate_error"
    MISSING_SOP_INSTANCE_UID = "missing_sop_instance_uid"
    MISSING_STUDY_INSTANCE_UID = "missing_study_instance_uid"
    MISSING_SERIES_INSTANCE_UID = "missing_series_instance_uid"
    MISSING_SOP_CLASS_UID = "missing_sop_class_uid"
    INVALID_UID = "invalid_uid"
    UNREADABLE_DATASET = "unreadable_dataset"
    CHARSET_DECODE_FAILED = "charset_decode_failed"
    FILE_TOO_LARGE = "file_too_large"
    SOURCE_CHANGED = "source_changed"
    MISSING_TRANSFER_SYNTAX = "missing_transfer_syntax"
    INVALID_PIXEL_ATTRIBUTES = "invalid_pixel_attributes"
    NO_PIXEL_DATA = "no_pixel_data"
    PIXEL_DECODE_FAILED = "pixel_decode_failed"
    ENCODE_FAILED = "encode_failed"
    VERIFICATION_FAILED = "verification_failed"


class PositionKind(StrEnum):
    """What a quarantine row's ``position`` counts."""

    LINE = "line"
    BYTE_OFFSET = "byte_offset"
    BUNDLE_ENTRY = "bundle_entry"
    FILE = "file"
    FRAME = "frame"


def quarantine_schema() -> "StructType":
    """Return the schema shared by ``fhir.quarantine`` and ``dicom.quarantine``."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("source_uri", StringType(), False, {"comment": "The input file"}),
        StructField("position", LongType(), False,
                    {"comment": "Line number, byte offset, Bundle entry index or frame number"}),
        StructField("position_kind", StringType(), False, {"comment": "What position counts"}),
        StructField("reason", StringType(), False, {"comment": "Stable reason category (QuarantineReason)"}),
        StructField("detail", StringType(), True, {"comment": "Why, in words; never patient data"}),
        StructField("raw_text", StringType(), True, {"comment": "The record's exact text (FHIR)"}),
        StructField("content_hash", StringType(), True, {"comment": "SHA-256 of the record or file"}),
        StructField("run_id", StringType(), False, {"comment": "The run that quarantined it"}),
        StructField("quarantined_at", TimestampType(), False),
    ])


def create_quarantine_table(spark: "SparkSession", table: str, settings: TableConfig) -> None:
    """Create the quarantine ``table`` if it does not exist."""
    create_table(spark, table, quarantine_schema(), settings=settings,
                 comment="Inputs that could not be loaded, with the reason")


def write_quarantine(spark: "SparkSession", table: str, rows: "DataFrame", settings: TableConfig) -> WriteResult:
    """Merge quarantine rows into ``table``, keyed by source, position and reason.

    A rerun over the same input finds the same keys with the same content and changes nothing.
    """
    create_quarantine_table(spark, table, settings)
    ordered = rows.select(*quarantine_schema().fieldNames())
    return merge_into(
        spark, table, ordered, ["source_uri", "position", "position_kind", "reason"],
        compare=["detail", "raw_text", "content_hash"],
    )


def file_quarantine_rows(rejected: "DataFrame", run_id: str) -> "DataFrame":
    """Return quarantine rows for whole files the manifest rejected (``FilePlan.rejected``).

    One row per file at position 0 (``file``), with the file's reason and detail and no text.
    """
    from pyspark.sql import functions as F

    return rejected.select(
        F.col("uri").alias("source_uri"), F.lit(0).cast("long").alias("position"),
        F.lit(PositionKind.FILE.value).alias("position_kind"), "reason", "detail",
        F.lit(None).cast("string").alias("raw_text"), "content_hash", F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"))
