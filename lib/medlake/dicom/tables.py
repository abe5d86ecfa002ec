"""Names and schemas of the ``dicom`` tables written by DICOM ingest, their creation and their MERGE."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from medlake.config import TableConfig
from medlake.dicom.header import instance_ddl
from medlake.tables import WriteResult, create_table, merge_into

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "DICOM_IMAGE_SET",
    "DICOM_INSTANCE",
    "DICOM_QUARANTINE",
    "DICOM_SERIES",
    "DICOM_STUDY",
    "RECORD_ONLY_COLUMNS",
    "UNCOMPARED_COLUMNS",
    "create_dicom_tables",
    "merge_dicom_rows",
    "image_set_schema",
    "instance_schema",
    "series_schema",
    "study_schema",
]

DICOM_INSTANCE = "dicom.instance"
DICOM_SERIES = "dicom.series"
DICOM_STUDY = "dicom.study"
DICOM_IMAGE_SET = "dicom.image_set"
DICOM_QUARANTINE = "dicom.quarantine"

#: Columns of a read record that say what happened to the file; every ``dicom.instance`` row is loaded.
RECORD_ONLY_COLUMNS = ("outcome", "reason", "detail")
#: Bookkeeping columns a MERGE does not compare, so that a rerun leaves rows untouched.
UNCOMPARED_COLUMNS = ("run_id", "updated_at")

_INSTANCE_COMMENTS = {
    "sop_instance_uid": "(0008,0018) SOP Instance UID: the key",
    "source_uri": "The file the row was read from (the kept one where several files hold the instance)",
    "content_sha256": "SHA-256 of the file's bytes",
    "patient_name": "(0010,0010) as decoded text, groups separated by '='",
    "patient_name_ideographic": "Ideographic group of the patient name (e.g. kanji)",
    "patient_name_phonetic": "Phonetic group of the patient name (e.g. hiragana)",
    "patient_birth_date": "(0010,0030) as a date where valid; the text is in patient_birth_date_raw",
    "study_date": "(0008,0020) as a date where valid; the text is in study_date_raw",
    "charset_warning": "Some text could not be decoded by its Specific Character Set",
    "warnings": "pydicom's warnings while reading the file",
    "dicom_json": "The whole header as PS3.18 DICOM JSON; bulk data as BulkDataURI",
}


def _with_comments(schema: "StructType", comments: dict[str, str]) -> "StructType":
    from pyspark.sql.types import StructField, StructType

    return StructType([
        StructField(f.name, f.dataType, f.nullable, {"comment": comments[f.name]} if f.name in comments else {})
        for f in schema.fields
    ])


def _table_schema(ddl: str, comments: dict[str, str]) -> "StructType":
    """Return the columns of ``ddl`` with their comments, then the bookkeeping columns."""
    from pyspark.sql.types import StringType, StructType, TimestampType

    columns = StructType.fromDDL(ddl)
    if not isinstance(columns, StructType):
        raise TypeError(f"'ddl' must declare columns, not one {columns.simpleString()} type")
    return (_with_comments(columns, comments)
            .add("run_id", StringType(), False, {"comment": "The run that last wrote the row"})
            .add("updated_at", TimestampType(), False, {"comment": "When the row was last written"}))


def instance_schema() -> "StructType":
    """Return the schema of ``dicom.instance``: the read record's columns, without its outcome, plus bookkeeping."""
    ddl = ", ".join(column for column in instance_ddl().split(", ")
                    if column.split(" ")[0] not in RECORD_ONLY_COLUMNS)
    return _table_schema(ddl, _INSTANCE_COMMENTS)


def series_schema() -> "StructType":
    """Return the schema of ``dicom.series``, one row per Series Instance UID."""
    return _table_schema(
        "series_instance_uid string, study_instance_uid string, modality string, series_number int, "
        "series_description string, body_part_examined string, manufacturer string, "
        "manufacturer_model_name string, disagreeing_attributes array<string>, instance_count bigint, "
        "frame_count bigint, total_bytes bigint, first_content_time timestamp, last_content_time timestamp", {
        "disagreeing_attributes": "Columns whose instances hold different values (those columns are null)",
        "frame_count": "Frames of the instances with pixel data (Number of Frames, or 1)",
        "total_bytes": "Sum of the instances' file sizes",
        "first_content_time": "Earliest (0008,0023) Content Date with (0008,0033) Content Time",
    })


def study_schema() -> "StructType":
    """Return the schema of ``dicom.study``, one row per Study Instance UID."""
    return _table_schema(
        "study_instance_uid string, patient_id string, issuer_of_patient_id string, patient_name string, "
        "patient_birth_date date, patient_sex string, study_date date, study_time_raw string, "
        "accession_number string, study_description string, referring_physician_name string, "
        "modalities_in_study array<string>, disagreeing_attributes array<string>, series_count bigint, "
        "instance_count bigint, frame_count bigint, total_bytes bigint, first_content_time timestamp, "
        "last_content_time timestamp", {
        "modalities_in_study": "Distinct modalities of the study's series, sorted",
        "disagreeing_attributes": "Columns whose instances hold different values (those columns are null); "
                                  "see dicom.image_set for the split",
    })


def image_set_schema() -> "StructType":
    """Return the schema of ``dicom.image_set``, one AWS HealthImaging-style document per image set."""
    return _table_schema(
        "image_set_id string, study_instance_uid string, is_primary boolean, "
        "conflicting_attributes array<string>, document string", {
        "image_set_id": "Deterministic 32 hex digits",
        "is_primary": "Whether the image set holds the study's majority of Patient- and Study-level values",
        "conflicting_attributes": "Keywords whose values differ from the primary image set's",
        "document": "The metadata document as JSON text (SchemaVersion, DatastoreID, ImageSetID, Patient, "
                    "Study)",
    })


def create_dicom_tables(spark: "SparkSession", settings: TableConfig) -> set[str]:
    """Create ``dicom.instance``, ``dicom.series``, ``dicom.study`` and ``dicom.image_set`` where missing.

    The missing ones are created at the same time (each creation waits mostly on the metastore and
    its first Delta commit); their names are returned (they are empty). ``dicom.quarantine`` is
    created by :func:`medlake.quarantine.write_quarantine` on first use.
    """
    tables = [
        (DICOM_INSTANCE, instance_schema(), "One row per SOP Instance UID: typed header columns and the DICOM JSON"),
        (DICOM_SERIES, series_schema(), "One row per series, aggregated from dicom.instance"),
        (DICOM_STUDY, study_schema(), "One row per study, aggregated from dicom.instance"),
        (DICOM_IMAGE_SET, image_set_schema(),
         "One image set metadata document per image set (AWS HealthImaging layout)"),
    ]
    missing = [table for table in tables if not spark.catalog.tableExists(table[0])]
    if not missing:
        return set()
    spark.sql("CREATE DATABASE IF NOT EXISTS `dicom`")
    with ThreadPoolExecutor(max_workers=len(missing)) as pool:
        for done in [pool.submit(create_table, spark, name, schema, settings=settings, comment=comment)
                     for name, schema, comment in missing]:
            done.result()
    return {name for name, _, _ in missing}


def _with_bookkeeping(rows: "DataFrame", schema: "StructType", run_id: str) -> "DataFrame":
    from pyspark.sql import functions as F

    return rows.withColumns({"run_id": F.lit(run_id), "updated_at": F.current_timestamp()}).select(
        *schema.fieldNames())


def merge_dicom_rows(spark: "SparkSession", table: str, rows: "DataFrame", schema: "StructType", key: str,
                     run_id: str) -> WriteResult:
    """MERGE rows keyed by ``key``, updating only where a data column differs (not bookkeeping)."""
    compare = [name for name in schema.fieldNames() if name != key and name not in UNCOMPARED_COLUMNS]
    return merge_into(spark, table, _with_bookkeeping(rows, schema, run_id), [key], compare=compare)
