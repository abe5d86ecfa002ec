"""The ``fhir`` database's tables: names, schemas (with column comments) and creation.

* ``fhir.raw``: every record's exact text with its lineage, keyed by ``(_source_uri, _position,
  _position_kind)``; the source of truth for :func:`medlake.fhir.ingest_job.rebuild_typed_tables`.
* ``fhir.<type>``: one per resource type (lower case), the committed schema of
  :func:`medlake.fhir.schema.load_schema` followed by :data:`LINEAGE_COLUMNS`.
* ``fhir.quarantine``: :func:`medlake.quarantine.quarantine_schema`.

Lineage columns start with an underscore and use snake case; FHIR's own underscore columns are
``_`` + a camel-case element name (``_birthDate``), so they cannot collide (a test checks all 146
schemas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medlake.config import TableConfig
from medlake.fhir.schema import load_schema
from medlake.tables import create_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "LINEAGE_COLUMNS",
    "add_missing_lineage_columns",
    "QUARANTINE_TABLE",
    "RAW_TABLE",
    "create_raw_table",
    "create_typed_table",
    "raw_schema",
    "typed_schema",
    "typed_table",
]

RAW_TABLE = "fhir.raw"
QUARANTINE_TABLE = "fhir.quarantine"
_DATABASE = "fhir"

#: Columns appended to every typed table, with their comments.
LINEAGE_COLUMNS = {
    "_content_hash": "SHA-256 of the record's exact text in fhir.raw",
    "_source_uri": "The input file the row's version came from",
    "_position": "Line number or Bundle entry index of the row's version in its file",
    "_run_id": "The run that wrote the row's version (ops.runs)",
    "_loaded_at": "When that run wrote it",
    "_decimal_text": ("Exact text of decimals beyond decimal(38,19), whose typed column is null, "
                      "by path (valueQuantity.value, component[1].valueQuantity.value)"),
}


def typed_table(resource_type: str) -> str:
    """Return the table of ``resource_type``.

    Examples
    --------
    >>> typed_table("MedicationRequest")
    'fhir.medicationrequest'
    """
    return f"{_DATABASE}.{resource_type.lower()}"


def _lineage_fields() -> list:  # type: ignore[type-arg]
    from pyspark.sql.types import LongType, MapType, StringType, StructField, TimestampType

    types = {"_position": LongType(), "_loaded_at": TimestampType(), "_decimal_text": MapType(StringType(), StringType())}
    return [StructField(name, types.get(name, StringType()), True, {"comment": comment})
            for name, comment in LINEAGE_COLUMNS.items()]


def add_missing_lineage_columns(spark: SparkSession, table: str, columns: list[str]) -> None:
    """Add the :data:`LINEAGE_COLUMNS` that ``table`` (with ``columns``) lacks, e.g. from an older release."""
    missing = [field for field in _lineage_fields() if field.name not in columns]
    if missing:
        added = ", ".join(f"`{f.name}` {f.dataType.simpleString()} COMMENT '{f.metadata['comment']}'" for f in missing)
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS ({added})")


def typed_schema(resource_type: str) -> StructType:
    """Return the committed schema of ``resource_type`` followed by :data:`LINEAGE_COLUMNS`."""
    from pyspark.sql.types import StructType

    return StructType([*load_schema(resource_type).fields, *_lineage_fields()])


def raw_schema() -> StructType:
    """Return the schema of ``fhir.raw``."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    def field(name: str, data_type: object, comment: str, nullable: bool = True) -> StructField:
        return StructField(name, data_type, nullable, {"comment": comment})  # type: ignore[arg-type]

    return StructType([
        field("_source_uri", StringType(), "The input file", False),
        field("_position", LongType(), "Line number (NDJSON) or entry index (Bundle)", False),
        field("_position_kind", StringType(), "What _position counts: line or bundle_entry", False),
        field("resource_type", StringType(), "The record's resourceType, when it has one"),
        field("id", StringType(), "The record's id, when it has one"),
        field("content_hash", StringType(), "SHA-256 of raw_text"),
        field("raw_text", StringType(), "The record's exact text as received", False),
        field("request_method", StringType(), "Bundle entry request.method (null for NDJSON)"),
        field("full_url", StringType(), "Bundle entry fullUrl (null for NDJSON)"),
        field("request_url", StringType(), "Bundle entry request.url (null for NDJSON)"),
        field("_run_id", StringType(), "The run that loaded this text", False),
        field("_loaded_at", TimestampType(), "When that run loaded it", False),
    ])


def create_raw_table(spark: SparkSession, settings: TableConfig) -> None:
    """Create ``fhir.raw`` if missing."""
    create_table(spark, RAW_TABLE, raw_schema(), settings=settings,
                 comment="Every FHIR input record's exact text with its lineage")


def create_typed_table(spark: SparkSession, resource_type: str, settings: TableConfig) -> str:
    """Create ``fhir.<type>`` from the full committed schema if missing; return its name."""
    table = typed_table(resource_type)
    create_table(spark, table, typed_schema(resource_type), settings=settings,
                 comment=f"FHIR {resource_type} resources, latest version per id")
    return table
