"""What the feature job reads: lake tables (empty where missing), FHIR times and the as-of cut-off.

A fact counts when its time is before the end of the as-of day (UTC). A FHIR date or dateTime
counts at the *last* instant it may denote, so a partial date never leaks: ``2015-05`` counts from
the end of May 2015, ``2015`` from the end of 2015; a dateTime without offset is read in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from medlake.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["SNOMED", "LOINC", "fact_time", "patient_reference", "parse_as_of", "read_dicom", "read_fhir",
           "start_time"]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def parse_as_of(as_of: date | str | None) -> date:
    """Return the as-of date: the given date (``YYYY-MM-DD``) or today in UTC.

    Raises
    ------
    ConfigError
        If ``as_of`` is text that is not a date.

    Examples
    --------
    >>> parse_as_of("2024-03-01"), parse_as_of(date(2020, 1, 2))
    (datetime.date(2024, 3, 1), datetime.date(2020, 1, 2))
    """
    if as_of is None:
        return datetime.now(timezone.utc).date()
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise ConfigError(f"Unable to build features as --as-of must be a date YYYY-MM-DD, not {as_of!r}") from None


def start_time(text: "Column") -> "Column":
    """Return the first instant of a FHIR date/dateTime column (null where it is not one)."""
    return text.try_cast("timestamp")


def fact_time(text: "Column") -> "Column":
    """Return the last instant a FHIR date/dateTime column may denote (see the module docstring)."""
    from pyspark.sql import functions as F

    start = start_time(text)
    length = F.length(text)
    return (F.when(length == 4, start + F.expr("INTERVAL 1 YEAR") - F.expr("INTERVAL 1 MICROSECOND"))
            .when(length == 7, start + F.expr("INTERVAL 1 MONTH") - F.expr("INTERVAL 1 MICROSECOND"))
            .when(length == 10, start + F.expr("INTERVAL 1 DAY") - F.expr("INTERVAL 1 MICROSECOND"))
            .otherwise(start))


def patient_reference(reference: "Column") -> "Column":
    """Return the Patient id of a reference (``Patient/<id>``, also after a base URL), else null."""
    from pyspark.sql import functions as F

    found = F.regexp_extract(reference, r"(?:^|/)Patient/([^/]+)$", 1)
    return F.when(found != "", found)


def _read(spark: "SparkSession", table: str, schema: "StructType") -> "DataFrame":
    if spark.catalog.tableExists(table):
        return spark.table(table)
    return spark.createDataFrame([], schema)


def read_fhir(spark: "SparkSession", resource_type: str) -> "DataFrame":
    """Return ``fhir.<type>``, or an empty frame of its schema if the lake has none of that type."""
    from medlake.fhir.tables import typed_schema, typed_table

    return _read(spark, typed_table(resource_type), typed_schema(resource_type))


def read_dicom(spark: "SparkSession", table: str) -> "DataFrame":
    """Return a ``dicom`` table, or an empty frame of its schema if it does not exist yet."""
    from medlake.dicom import tables
    from medlake.dicom.frames.table import FRAME_TABLE, frame_schema

    schemas = {tables.DICOM_INSTANCE: tables.instance_schema, tables.DICOM_SERIES: tables.series_schema,
               tables.DICOM_STUDY: tables.study_schema, FRAME_TABLE: frame_schema}
    return _read(spark, table, schemas[table]())
