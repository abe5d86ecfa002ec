"""The file manifest ``ops.files``: discover input files, skip what is already loaded, record outcomes.

Every input file of a job run gets exactly one row with its outcome. A file whose URI, size and
modification time match an earlier processed row of the same job is skipped without being read;
a file whose bytes hash to the same SHA-256 as that earlier row is skipped too (it was only touched);
anything else is processed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from medlake.config import TableConfig
from medlake.errors import ConfigError
from medlake.tables import OPS_FILES, create_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["FileOutcome", "FilePlan", "files_schema", "list_files", "plan_files", "read_contents", "record_files",
           "to_uri"]

_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_LISTING_SCHEMA = "uri string, size long, modification_time timestamp"
_PLANNED_SCHEMA = f"{_LISTING_SCHEMA}, content_hash string"
_PASSED_BY_SCHEMA = f"{_PLANNED_SCHEMA}, outcome string, detail string"


class FileOutcome(StrEnum):
    """One outcome per input file and run."""

    LOADED = "loaded"
    SKIPPED = "skipped"  # already loaded with the same content
    DUPLICATE = "duplicate"  # its content is already in the lake under another file
    QUARANTINED = "quarantined"
    DICOMDIR = "dicomdir"
    TOO_LARGE = "too_large"


_PROCESSED = [FileOutcome.LOADED, FileOutcome.DUPLICATE, FileOutcome.QUARANTINED, FileOutcome.DICOMDIR]


def files_schema() -> "StructType":
    """Return the schema of ``ops.files``."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("run_id", StringType(), False),
        StructField("job", StringType(), False),
        StructField("uri", StringType(), False, {"comment": "The input file"}),
        StructField("size", LongType(), False),
        StructField("modification_time", TimestampType(), False),
        StructField("content_hash", StringType(), True, {"comment": "SHA-256 of the file's bytes"}),
        StructField("outcome", StringType(), False, {"comment": "FileOutcome"}),
        StructField("detail", StringType(), True),
        StructField("records_in", LongType(), True),
        StructField("loaded", LongType(), True),
        StructField("duplicates", LongType(), True),
        StructField("quarantined", LongType(), True),
        StructField("recorded_at", TimestampType(), False),
    ])


def to_uri(path: str) -> str:
    """Return ``path`` as a URI Spark reads: URIs unchanged, local paths made absolute.

    Raises
    ------
    ConfigError
        If a local path does not exist.
    """
    if _URI_SCHEME.match(path):
        return path
    local = Path(path).expanduser().resolve()
    if not local.exists():
        raise ConfigError(f"Unable to read input {path!r} as it does not exist")
    return local.as_uri()


def list_files(spark: "SparkSession", paths: Sequence[str], name_pattern: str | None = None) -> "DataFrame":
    """List files under ``paths`` (recursively) without reading them.

    Parameters
    ----------
    spark
        The session.
    paths
        Files or directories, local paths or URIs.
    name_pattern
        A regular expression the file name must match (``None``: every file).

    Returns
    -------
    Columns ``uri``, ``size``, ``modification_time``.
    """
    if not paths:
        raise ConfigError("Unable to list input files as no --input was given")
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load([to_uri(p) for p in paths])
    scanned = [(row[0], int(row[1]), row[2]) for row in
               files.select("path", "length", "modificationTime").collect()]
    rows = scanned + _files_left_out_of_scan(spark, files.inputFiles(), {row[0] for row in scanned})
    if name_pattern:
        matches = re.compile(name_pattern).search
        rows = [row for row in rows if matches(row[0].rsplit("/", 1)[-1])]
    return spark.createDataFrame(rows, _LISTING_SCHEMA)


def _files_left_out_of_scan(
    spark: "SparkSession", listed: Sequence[str], scanned: set[str]
) -> list[tuple[str, int, datetime]]:
    """Return ``uri, size, modification_time`` of listed files the scan leaves out.

    Spark's file scans skip files of 0 bytes, but a job must still give every input file an outcome.
    ``listed`` holds URIs in ``java.net.URI`` form (``file:///a%20b``); the scan's and ours are Hadoop
    ``Path`` strings (``file:/a b``).
    """
    if len(listed) == len(scanned):
        return []
    jvm = spark._jvm
    assert jvm is not None
    hadoop_conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    left_out = []
    for uri in listed:
        path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri))
        if path.toString() not in scanned:
            status = path.getFileSystem(hadoop_conf).getFileStatus(path)
            modified = datetime.fromtimestamp(status.getModificationTime() / 1000, tz=UTC)
            left_out.append((path.toString(), status.getLen(), modified))
    return left_out


def read_contents(spark: "SparkSession", files: "DataFrame") -> "DataFrame":
    """Return ``uri, content`` of ``files`` (columns ``uri``, ``size``), read on the JVM.

    Files of 0 bytes, which Spark's binary reader leaves out, get empty content.
    """
    from pyspark.sql import functions as F

    uris = [row.uri for row in files.where(F.col("size") > 0).select("uri").collect()]
    empty = files.where(F.col("size") == 0).select("uri", F.lit("").cast("binary").alias("content"))
    if not uris:
        return empty
    read = spark.read.format("binaryFile").load(uris).select(F.col("path").alias("uri"), "content")
    return read.unionByName(empty)


_ALREADY_LOADED = "already loaded with the same content"


@dataclass(frozen=True)
class FilePlan:
    """Which listed files to process and which to record as skipped or too large."""

    to_process: "DataFrame"  # uri, size, modification_time, content_hash
    skipped: "DataFrame"  # uri, size, modification_time, content_hash, outcome, detail
    too_large: "DataFrame"  # same columns as skipped


def _prior_files(spark: "SparkSession", job: str, settings: TableConfig) -> "DataFrame":
    from pyspark.sql import functions as F

    create_table(spark, OPS_FILES, files_schema(), settings=settings,
                 comment="One row per input file, job and run: the file manifest")
    return (
        spark.table(OPS_FILES)
        .where((F.col("job") == job) & F.col("outcome").isin([str(o) for o in _PROCESSED]))
        .select("uri", "size", "modification_time", "content_hash")
        .dropDuplicates(["uri", "size", "modification_time", "content_hash"])
    )


def plan_files(
    spark: "SparkSession", job: str, listing: "DataFrame", *, max_bytes: int, settings: TableConfig
) -> FilePlan:
    """Split a listing into files to process, files already loaded, and files too large to read.

    Parameters
    ----------
    spark
        The session.
    job
        The job whose manifest rows count.
    listing
        The result of :func:`list_files`.
    max_bytes
        Files above this size are not read (Spark's binary reader stops at 2 GiB).
    settings
        Table settings for creating ``ops.files`` on first use.
    """
    from pyspark.sql import functions as F

    listed = [(row.uri, int(row.size), row.modification_time) for row in listing.collect()]
    prior = [tuple(row) for row in _prior_files(spark, job, settings).collect()] if listed else []
    seen_stats = {(uri, size, _utc(modified)): content_hash for uri, size, modified, content_hash in prior}
    seen_hashes = {(uri, content_hash) for uri, _, _, content_hash in prior}
    unchanged = [row for row in listed if (row[0], row[1], _utc(row[2])) in seen_stats]
    changed = [row for row in listed if (row[0], row[1], _utc(row[2])) not in seen_stats]
    readable = [row for row in changed if row[1] <= max_bytes]
    hashes: dict[str, str] = {}
    if readable:
        hashed = read_contents(spark, spark.createDataFrame(readable, _LISTING_SCHEMA))
        hashes = {row[0]: row[1] for row in hashed.select("uri", F.sha2("content", 256)).collect()}
    unchanged_hashed = [(*row, hashes[row[0]]) for row in readable if (row[0], hashes[row[0]]) in seen_hashes]
    to_process = [(*row, hashes[row[0]]) for row in readable if (row[0], hashes[row[0]]) not in seen_hashes]
    skipped = [(*row, seen_stats[(row[0], row[1], _utc(row[2]))], str(FileOutcome.SKIPPED), _ALREADY_LOADED)
               for row in unchanged]
    skipped += [(*row, str(FileOutcome.SKIPPED), _ALREADY_LOADED) for row in unchanged_hashed]
    too_large_detail = (f"Unable to read the file as it is larger than {max_bytes} bytes; "
                        "raise max_file_bytes or split it")
    too_large = [(*row, None, str(FileOutcome.TOO_LARGE), too_large_detail) for row in changed if row[1] > max_bytes]
    return FilePlan(
        to_process=spark.createDataFrame(to_process, _PLANNED_SCHEMA),
        skipped=spark.createDataFrame(skipped, _PASSED_BY_SCHEMA),
        too_large=spark.createDataFrame(too_large, _PASSED_BY_SCHEMA),
    )


def _utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (Spark gives naive local times to Python)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.astimezone().astimezone(UTC)


def record_files(
    spark: "SparkSession", job: str, run_id: str, rows: "DataFrame", settings: TableConfig
) -> int:
    """Append one manifest row per file; missing count columns are filled with 0.

    ``rows`` has at least ``uri``, ``size``, ``modification_time``, ``content_hash``, ``outcome``;
    optionally ``detail``, ``records_in``, ``loaded``, ``duplicates``, ``quarantined``.

    Returns
    -------
    The number of rows recorded.
    """
    from pyspark.sql import functions as F

    create_table(spark, OPS_FILES, files_schema(), settings=settings,
                 comment="One row per input file, job and run: the file manifest")
    defaults = {
        "run_id": F.lit(run_id), "job": F.lit(job), "detail": F.lit(None).cast("string"),
        "records_in": F.lit(0).cast("long"), "loaded": F.lit(0).cast("long"),
        "duplicates": F.lit(0).cast("long"), "quarantined": F.lit(0).cast("long"),
        "recorded_at": F.current_timestamp(),
    }
    filled = rows.withColumns({name: value for name, value in defaults.items() if name not in rows.columns})
    ordered = filled.select(*[F.col(f.name).cast(f.dataType) for f in files_schema().fields]).cache()
    count = ordered.count()
    ordered.write.format("delta").mode("append").saveAsTable(OPS_FILES)
    ordered.unpersist()
    return count
