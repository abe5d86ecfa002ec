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
    from pyspark.sql import functions as F

    if not paths:
        raise ConfigError("Unable to list input files as no --input was given")
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load([to_uri(p) for p in paths])
    listing = files.select(F.col("path").alias("uri"), F.col("length").alias("size"),
                           F.col("modificationTime").alias("modification_time"))
    left_out = _files_left_out_of_scan(spark, files.inputFiles(), listing)
    if left_out:
        listing = listing.unionByName(spark.createDataFrame(left_out, listing.schema))
    if name_pattern:
        listing = listing.where(F.regexp_extract("uri", r"([^/]+)$", 1).rlike(name_pattern))
    return listing


def _files_left_out_of_scan(
    spark: "SparkSession", listed: Sequence[str], listing: "DataFrame"
) -> list[tuple[str, int, datetime]]:
    """Return ``uri, size, modification_time`` of listed files the scan leaves out.

    Spark's file scans skip files of 0 bytes, but a job must still give every input file an outcome.
    ``listed`` holds URIs in ``java.net.URI`` form (``file:///a%20b``); the scan's and ours are Hadoop
    ``Path`` strings (``file:/a b``).
    """
    if len(listed) == listing.count():
        return []
    jvm = spark._jvm
    assert jvm is not None
    hadoop_conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    scanned = {row.uri for row in listing.select("uri").collect()}
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

    prior = _prior_files(spark, job, settings)
    prior_by_stat = prior.dropDuplicates(["uri", "size", "modification_time"])
    unchanged = listing.join(prior_by_stat, ["uri", "size", "modification_time"], "inner")
    changed = listing.join(unchanged.select("uri"), ["uri"], "left_anti")
    too_large = changed.where(F.col("size") > max_bytes).withColumn("content_hash", F.lit(None).cast("string"))
    readable = changed.where(F.col("size") <= max_bytes)
    hashed = (read_contents(spark, readable).select("uri", F.sha2("content", 256).alias("content_hash"))
              .join(readable, "uri").select("uri", "size", "modification_time", "content_hash"))
    touched = hashed.join(prior.select("uri", "content_hash"), ["uri", "content_hash"], "left_semi")
    to_process = hashed.join(touched.select("uri"), ["uri"], "left_anti")
    skipped = unchanged.unionByName(touched).withColumns({
        "outcome": F.lit(str(FileOutcome.SKIPPED)),
        "detail": F.lit("already loaded with the same content"),
    })
    oversized = too_large.withColumns({
        "outcome": F.lit(str(FileOutcome.TOO_LARGE)),
        "detail": F.concat(F.lit(f"Unable to read the file as it is larger than {max_bytes} bytes; "
                                 "raise max_file_bytes or split it")),
    })
    return FilePlan(to_process=to_process, skipped=skipped, too_large=oversized)


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
