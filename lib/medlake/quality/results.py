"""``ops.quality``: one row per expectation per run, from Great Expectations' validation results.

A row holds counts, a percentage and, for the few expectations that observe an aggregate (a
compression ratio, the frame's column names), that value as short text; never a row's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medlake.config import TableConfig
from medlake.errors import JobError
from medlake.tables import OPS_QUALITY, create_table

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

    from medlake.quality.suites import Suite

__all__ = ["Outcome", "outcomes", "quality_schema", "write_outcomes"]

_OBSERVED_CHARS = 200


@dataclass(frozen=True)
class Outcome:
    """One expectation's result in one run (a row of ``ops.quality``)."""

    suite: str
    table: str
    check: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed_value: str | None
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None

    def describe(self) -> str:
        """Return ``suite <s>, check <c> (<expectation> on <column>): <counts>`` for messages (no values)."""
        on = f" on {self.column}" if self.column else ""
        counts = (f"{self.unexpected_count} of {self.element_count} rows unexpected"
                  if self.unexpected_count is not None else f"observed {self.observed_value}")
        return f"suite {self.suite}, check {self.check} ({self.expectation_type}{on}): {counts}"


def quality_schema() -> "StructType":
    """Return the schema of ``ops.quality``."""
    from pyspark.sql.types import (
        BooleanType, DoubleType, LongType, StringType, StructField, StructType, TimestampType,
    )

    return StructType([
        StructField("run_id", StringType(), False, {"comment": "The quality run (ops.runs)"}),
        StructField("checked_at", TimestampType(), False, {"comment": "When the run started"}),
        StructField("suite", StringType(), False, {"comment": "Suite name, e.g. fhir.patient or ops.ledger"}),
        StructField("table", StringType(), False, {"comment": "The table whose rows the expectation counts"}),
        StructField("check", StringType(), False, {"comment": "Check name (a quality.severity key)"}),
        StructField("expectation_type", StringType(), False, {"comment": "Great Expectations expectation type"}),
        StructField("column", StringType(), True, {"comment": "Column of the suite's frame (pairs: A,B)"}),
        StructField("severity", StringType(), False, {"comment": "critical (fails the job) or warning"}),
        StructField("success", BooleanType(), False, {"comment": "Whether the expectation held"}),
        StructField("observed_value", StringType(), True,
                    {"comment": "Observed aggregate (a ratio, column names) as text; never a row's value"}),
        StructField("element_count", LongType(), True, {"comment": "Rows the expectation looked at"}),
        StructField("unexpected_count", LongType(), True, {"comment": "Rows that broke it"}),
        StructField("unexpected_percent", DoubleType(), True, {"comment": "Unexpected % of the non-null rows"}),
    ])


def _column(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _observed(value: Any) -> str | None:
    """An observed aggregate as short text: numbers and lists of names only."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return f"{value:.6g}"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)[:_OBSERVED_CHARS]
    return None


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def outcomes(suite: "Suite", validation: "ExpectationSuiteValidationResult") -> list[Outcome]:
    """Return one :class:`Outcome` per expectation result; check, severity and table come from its meta."""
    rows = []
    for result in validation.results:
        config = result.expectation_config
        if config is None:
            raise JobError("Unable to record a quality result as Great Expectations returned one without "
                           "its expectation")
        meta = config.meta or {}
        details = result.result or {}
        raised = bool((result.exception_info or {}).get("raised_exception"))
        percent = details.get("unexpected_percent")
        rows.append(Outcome(
            suite=suite.name, table=meta["table"] or suite.table, check=meta["check"], expectation_type=config.type,
            column=_column(config.kwargs), severity=meta["severity"], success=bool(result.success),
            observed_value="exception" if raised else _observed(details.get("observed_value")),
            element_count=_count(details.get("element_count")),
            unexpected_count=_count(details.get("unexpected_count")),
            unexpected_percent=None if percent is None else float(percent)))
    return rows


def write_outcomes(spark: "SparkSession", run_id: str, checked_at: datetime, rows: Sequence[Outcome],
                   settings: TableConfig) -> int:
    """Append the run's rows to ``ops.quality`` (created on first use); return the table's new version."""
    from medlake.tables import table_version

    create_table(spark, OPS_QUALITY, quality_schema(), settings=settings,
                 comment="One row per quality expectation per run (counts only, no patient data)")
    data = [(run_id, checked_at, row.suite, row.table, row.check, row.expectation_type, row.column, row.severity,
             row.success, row.observed_value, row.element_count, row.unexpected_count, row.unexpected_percent)
            for row in rows]
    if data:
        spark.createDataFrame(data, quality_schema()).write.format("delta").mode("append").saveAsTable(OPS_QUALITY)
    return table_version(spark, OPS_QUALITY)
