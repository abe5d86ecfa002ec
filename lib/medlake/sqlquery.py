"""``jobs/sql.py``: run one Spark SQL statement over the catalog and print its rows."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, TextIO

from medlake.config import MedlakeConfig
from medlake.errors import JobError
from medlake.runs import RunSummary, start_run

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["OutputFormat", "run_sql"]


class OutputFormat(StrEnum):
    """How result rows are printed."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def run_sql(
    spark: "SparkSession",
    config: MedlakeConfig,
    statement: str,
    output_format: OutputFormat | str = OutputFormat.TABLE,
    out: TextIO | None = None,
) -> RunSummary:
    """Run ``statement`` and print every result row to ``out`` (stdout by default).

    ``json`` prints exactly one JSON object per row (Spark's ``to_json``, so nested values stay
    JSON) and nothing else; ``csv`` prints a header and one line per row (nested values as JSON);
    ``table`` prints Spark's text table.

    Raises
    ------
    JobError
        If Spark cannot parse, analyse or run the statement; the message is Spark's first line.
    """
    from pyspark.errors import PySparkException

    output_format = OutputFormat(output_format)
    stream = out or sys.stdout
    with start_run(spark, "sql", config.tables) as run:
        try:
            with run.stage("query"):
                result = spark.sql(statement)
                if output_format is OutputFormat.TABLE:
                    rows = result.count()
                    result.show(n=max(rows, 1), truncate=False)  # show() prints to stdout itself
                else:
                    rows = _write_rows(result, output_format, stream)
        except PySparkException as error:
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise JobError(f"Unable to run the statement as Spark reported: {first_line}") from None
        run.summary.add(rows=rows)
        return run.finish()


def _write_rows(result: "DataFrame", output_format: OutputFormat, stream: TextIO) -> int:
    """Stream rows to ``stream`` as JSON lines or CSV; nested values become JSON text."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if output_format is OutputFormat.JSON:
        lines = result.select(F.to_json(F.struct(*[F.col(f"`{name}`") for name in result.columns])))
        rows = ([row[0]] for row in lines.toLocalIterator())
        write = lambda values: stream.write(values[0] + "\n")  # noqa: E731
    else:
        nested = (ArrayType, MapType, StructType, VariantType)
        flat = result.select(*[
            F.to_json(F.col(f"`{f.name}`")).alias(f.name) if isinstance(f.dataType, nested) else F.col(f"`{f.name}`")
            for f in result.schema.fields
        ])
        writer = csv.writer(stream)
        writer.writerow(result.columns)
        rows = (["" if value is None else value for value in row] for row in flat.toLocalIterator())
        write = writer.writerow
    count = 0
    for values in rows:
        write(values)
        count += 1
    return count
