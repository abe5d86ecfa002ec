"""The file manifest ``ops.files``: skip what is already loaded, reject what cannot be read, record outcomes.

The files come from :func:`medlake.listing.list_files`.
Every input file of a job run gets exactly one row with its outcome. A file whose URI, size and
modification time match an earlier processed row of the same job is skipped without being read;
a file whose bytes hash to the same SHA-256 as that earlier row is skipped too (it was only touched);
anything else is processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

from medlake.config import TableConfig
from medlake.tables import OPS_FILES, create_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from medlake.listing import ListedFile

__all__ = ["ALREADY_LOADED", "FileOutcome", "FilePlan", "PassedFile", "PlannedFile", "files_schema", "plan_files", "read_contents",
           "record_files", "rejected_manifest_rows"]

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


def read_contents(spark: "SparkSession", files: Sequence[tuple[Any, ...]]) -> "DataFrame":
    """Return ``uri, content`` of ``files`` (``(uri, size, ...)`` rows, as listed), read on the JVM.

    Files of 0 bytes, which Spark's binary reader leaves out, get empty content.
    """
    from pyspark.sql import functions as F

    from medlake.listing import read_binary

    uris = [row[0] for row in files if row[1] > 0]
    empty = spark.createDataFrame([(row[0], b"") for row in files if row[1] == 0], "uri string, content binary")
    if not uris:
        return empty
    return read_binary(spark, uris).select(F.col("path").alias("uri"), "content").unionByName(empty)


#: The detail of a ``skipped`` file.
ALREADY_LOADED = "already loaded with the same content"
_COUNT_COLUMNS = ("records_in", "loaded", "duplicates", "quarantined")


class PlannedFile(NamedTuple):
    """A file to process: listed, and read once for its SHA-256 unless the job hashes while it reads."""

    uri: str
    size: int
    modification_time: datetime
    content_hash: str | None


class PassedFile(NamedTuple):
    """A file not processed this run (skipped, too large, rejected) with its outcome."""

    uri: str
    size: int
    modification_time: datetime
    content_hash: str | None
    outcome: str
    detail: str | None
    reason: str | None = None  # a QuarantineReason value, for rejected files


@dataclass(frozen=True)
class FilePlan:
    """Which listed files to process and which to record as skipped, too large or rejected.

    The plan is decided on the driver and kept there: the methods make DataFrames of it for the
    stages that read or write them.
    """

    to_process: list[PlannedFile]
    skipped: list[PassedFile]
    too_large: list[PassedFile]
    rejected: list[PassedFile]  # reason set: the listing's problems and what ``inspect`` found
    #: (URI, SHA-256) of earlier processed rows of files to process that were not hashed while planning.
    prior_hashes: frozenset[tuple[str, str]] = frozenset()

    def already_loaded(self, uri: str, content_hash: str | None) -> bool:
        """Return whether a file hashed while processing holds the bytes it held when last processed.

        Such a file was only touched: the job records it as ``skipped`` (:data:`ALREADY_LOADED`).
        """
        return (uri, content_hash) in self.prior_hashes

    def to_process_frame(self, spark: "SparkSession") -> "DataFrame":
        """Return ``uri, size, modification_time, content_hash`` of the files to process."""
        return spark.createDataFrame(self.to_process, _PLANNED_SCHEMA)

    def passed_by_frame(self, spark: "SparkSession") -> "DataFrame":
        """Return the skipped and too large files with ``outcome`` and ``detail``."""
        return spark.createDataFrame([row[:-1] for row in self.skipped + self.too_large], _PASSED_BY_SCHEMA)

    def rejected_frame(self, spark: "SparkSession") -> "DataFrame":
        """Return the rejected files with ``outcome``, ``detail`` and ``reason``."""
        return spark.createDataFrame(self.rejected, f"{_PASSED_BY_SCHEMA}, reason string")


def _prior_files(spark: "SparkSession", job: str, settings: TableConfig) -> list[tuple[Any, ...]]:
    """Return ``uri, size, modification_time, content_hash`` of the files ``job`` processed before."""
    from pyspark.sql import functions as F

    if create_table(spark, OPS_FILES, files_schema(), settings=settings,
                    comment="One row per input file, job and run: the file manifest"):
        return []  # created just now: empty
    rows = (spark.table(OPS_FILES)
            .where((F.col("job") == job) & F.col("outcome").isin([str(o) for o in _PROCESSED]))
            .select("uri", "size", "modification_time", "content_hash").collect())
    return list({tuple(row) for row in rows})


def plan_files(
    spark: "SparkSession", job: str, listing: Sequence["ListedFile"], *, max_bytes: int, settings: TableConfig,
    inspect: Callable[["Column", "Column"], "Column"] | None = None, hash_contents: bool = True,
) -> FilePlan:
    """Split a listing into files to process, already loaded, too large to read, or rejected.

    Decided on the driver from one read of ``ops.files`` and, for new or changed files, one read
    of their bytes (the SHA-256, and ``inspect`` when given): a run whose files are all unchanged
    reads no file.

    Parameters
    ----------
    spark
        The session.
    job
        The job whose manifest rows count.
    listing
        The result of :func:`medlake.listing.list_files`.
    max_bytes
        Files above this size are not read (Spark's binary reader stops at 2 GiB).
    settings
        Table settings for creating ``ops.files`` on first use.
    inspect
        ``(uri, content) -> struct<reason string, detail string>`` (null when the file is fine), a
        check of a file's bytes read together with its hash, e.g.
        :func:`medlake.archives.archive_problem_column`.
    hash_contents
        ``False`` for a job that hashes each file in the same pass as it parses it: new or changed
        files are then not read here (``content_hash`` is None, and not with ``inspect``), and
        :meth:`FilePlan.already_loaded` tells which of them were only touched.

    Returns
    -------
    FilePlan
        ``rejected`` holds the listing's problems (unreadable files, directory cycles) and the
        files ``inspect`` rejected, as ``quarantined`` with ``reason`` and ``detail``.
    """
    from pyspark.sql import functions as F

    listed = [(f.uri, int(f.size), f.modification_time) for f in listing if f.problem is None]
    rejected = [PassedFile(f.uri, int(f.size), f.modification_time, None, str(FileOutcome.QUARANTINED),
                           f.problem_detail, f.problem) for f in listing if f.problem is not None]
    prior = _prior_files(spark, job, settings) if listed else []
    seen_stats = {(uri, size, _utc(modified)): content_hash for uri, size, modified, content_hash in prior}
    seen_hashes = {(uri, content_hash) for uri, _, _, content_hash in prior}
    unchanged = [row for row in listed if (row[0], row[1], _utc(row[2])) in seen_stats]
    changed = [row for row in listed if (row[0], row[1], _utc(row[2])) not in seen_stats]
    readable = [row for row in changed if row[1] <= max_bytes]
    too_large_detail = (f"Unable to read the file as it is larger than {max_bytes} bytes; "
                        "raise max_file_bytes or split it")
    too_large = [PassedFile(*row, None, str(FileOutcome.TOO_LARGE), too_large_detail)
                 for row in changed if row[1] > max_bytes]
    skipped = [PassedFile(*row, seen_stats[(row[0], row[1], _utc(row[2]))], str(FileOutcome.SKIPPED),
                          ALREADY_LOADED) for row in unchanged]
    if not hash_contents:
        uris = {row[0] for row in readable}
        return FilePlan(to_process=[PlannedFile(*row, None) for row in readable], skipped=skipped,
                        too_large=too_large, rejected=rejected,
                        prior_hashes=frozenset(pair for pair in seen_hashes if pair[0] in uris))
    hashes: dict[str, str] = {}
    problems: dict[str, tuple[str, str]] = {}
    if readable:
        contents = read_contents(spark, readable)
        checked = F.lit(None) if inspect is None else inspect(F.col("uri"), F.col("content"))
        for uri, content_hash, problem in contents.select("uri", F.sha2("content", 256), checked).collect():
            hashes[uri] = content_hash
            if problem is not None:
                problems[uri] = (problem["reason"], problem["detail"])
    new = [PlannedFile(*row, hashes[row[0]]) for row in readable if (row[0], hashes[row[0]]) not in seen_hashes]
    rejected += [PassedFile(*row, str(FileOutcome.QUARANTINED), problems[row.uri][1], problems[row.uri][0])
                 for row in new if row.uri in problems]
    skipped += [PassedFile(*row, hashes[row[0]], str(FileOutcome.SKIPPED), ALREADY_LOADED)
                for row in readable if (row[0], hashes[row[0]]) in seen_hashes]
    return FilePlan(to_process=[row for row in new if row.uri not in problems], skipped=skipped,
                    too_large=too_large, rejected=rejected)


def _utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (Spark gives naive local times to Python)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.astimezone().astimezone(UTC)


def rejected_manifest_rows(rejected: "DataFrame") -> "DataFrame":
    """Return manifest rows of rejected files: each is one record in, quarantined."""
    from pyspark.sql import functions as F

    one = F.lit(1).cast("long")
    return rejected.drop("reason").withColumns({"records_in": one, "quarantined": one})


def record_files(
    spark: "SparkSession", job: str, run_id: str, rows: "DataFrame", settings: TableConfig
) -> None:
    """Append one manifest row per file (one Delta commit); missing or null counts are 0.

    ``rows`` has at least ``uri``, ``size``, ``modification_time``, ``content_hash``, ``outcome``;
    optionally ``detail``, ``records_in``, ``loaded``, ``duplicates``, ``quarantined``.
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
    filled = filled.withColumns({name: F.coalesce(name, F.lit(0).cast("long")) for name in _COUNT_COLUMNS})
    ordered = filled.select(*[F.col(f.name).cast(f.dataType) for f in files_schema().fields])
    ordered.write.format("delta").mode("append").saveAsTable(OPS_FILES)
