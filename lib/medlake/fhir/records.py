"""FHIR record sources: the one shape every input (bulk NDJSON, Bundles) is turned into.

A *record* is one resource's exact JSON text with where it came from. Every source produces a
DataFrame with exactly :data:`RECORD_COLUMNS` (see :func:`records_schema`), so the ingest treats
them alike and a new source is one ``unionByName`` in :func:`medlake.fhir.ingest_job.run_fhir_ingest`:

``source_uri`` string
    The input file's URI, as :func:`medlake.listing.list_files` lists it.
``position`` long
    Where the record sits in the file: the 1-based line number for NDJSON, the 0-based entry
    index for Bundles.
``position_kind`` string
    What ``position`` counts (:class:`medlake.quarantine.PositionKind`: ``line``, ``bundle_entry``).
``raw_text`` string
    The record's exact text (for NDJSON the line without its line terminator).
``request_method``, ``full_url``, ``request_url`` string
    A Bundle entry's ``request.method``, ``fullUrl`` and ``request.url``; null for NDJSON.
``source_order`` long
    Increases with input order within a run (files in URI order, then positions), the last tie
    breaker when two versions of a resource are otherwise equally new: the later input wins.

:func:`read_ndjson` reads ``*.ndjson`` and ``*.ndjson.gz`` files. Lines are numbered on the JVM:
Spark's text reader splits large plain files into blocks, so each line's number is its index
within its block plus the line count of the file's earlier blocks (one extra pass that counts
lines per block). Blank lines are no records: they are dropped and counted (:class:`NdjsonScan`).
A gzip file cannot be split, so one large ``.gz`` file is read by one task; the records are then
repartitioned so that the work after reading is spread over all cores (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medlake.quarantine import PositionKind

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "RECORD_COLUMNS",
    "SOURCE_ORDER_SHIFT",
    "NdjsonScan",
    "read_ndjson",
    "records_schema",
    "scan_ndjson",
]

LOGGER = logging.getLogger(__name__)

#: The record columns every source produces, in this order.
RECORD_COLUMNS = (
    "source_uri", "position", "position_kind", "raw_text",
    "request_method", "full_url", "request_url", "source_order",
)
#: ``source_order`` is ``file_index << SOURCE_ORDER_SHIFT | position`` (2**40 positions per file).
SOURCE_ORDER_SHIFT = 40
#: Gzip bytes per partition after reading (a rough bound of the text each task then handles).
_GZIP_BYTES_PER_PARTITION = 8 * 1024 * 1024
_GZIP_SUFFIX = ".gz"
_BLANK = r"^\s*$"


def records_schema() -> StructType:
    """Return the schema of the record DataFrame every source produces (see the module notes)."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    types = {"position": LongType(), "source_order": LongType()}
    return StructType([StructField(name, types.get(name, StringType()), name not in
                                   ("source_uri", "position", "position_kind", "raw_text", "source_order"))
                       for name in RECORD_COLUMNS])


@dataclass(frozen=True)
class NdjsonScan:
    """The records of some NDJSON files and the blank lines skipped per file."""

    records: DataFrame
    blank_lines: dict[str, int]
    lines: dict[str, int]


def _listed_uri(file_path: str) -> str:
    """Return the listing's URI of a ``_metadata.file_path``, which Spark percent-encodes.

    Examples
    --------
    >>> _listed_uri("file:/data/sub%20dir/c%7Bt%7D%20100%25%23x.ndjson")
    'file:/data/sub dir/c{t} 100%#x.ndjson'
    """
    from urllib.parse import unquote

    return unquote(file_path)


def _file_order(uris: list[str]) -> dict[str, int]:
    return {uri: index for index, uri in enumerate(sorted(uris))}


def scan_ndjson(spark: SparkSession, files: DataFrame) -> NdjsonScan:
    """Read NDJSON files into records, numbering lines and counting blank ones.

    Parameters
    ----------
    spark
        The session.
    files
        A DataFrame with a ``uri`` column (and ``size`` for the gzip repartitioning), e.g.
        ``FilePlan.to_process`` of :func:`medlake.manifest.plan_files`.

    Returns
    -------
    NdjsonScan
        ``records`` with :data:`RECORD_COLUMNS`, and per file URI the number of lines and of
        blank lines (files without lines are absent).
    """
    from pyspark.sql import functions as F

    listed = files.select("uri", "size").collect()
    if not listed:
        return NdjsonScan(spark.createDataFrame([], records_schema()), {}, {})
    from medlake.listing import reader_path

    order = _file_order([row.uri for row in listed])
    lines = spark.read.text([reader_path(row.uri) for row in listed]).select(
        F.col("_metadata.file_path").alias("source_uri"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.col("value").alias("raw_text"),
    )
    blocks = (
        lines.groupBy("source_uri", "block_start")
        .agg(F.min("row_id").alias("first_row_id"), F.count(F.lit(1)).alias("lines"),
             F.count(F.when(F.col("raw_text").rlike(_BLANK), 1)).alias("blank"))
        .collect()
    )
    offsets, line_counts, blank_counts = [], dict[str, int](), dict[str, int]()
    for block in sorted(blocks, key=lambda b: (_listed_uri(b.source_uri), b.block_start)):
        uri = _listed_uri(block.source_uri)
        before = line_counts.get(uri, 0)
        offsets.append((block.source_uri, block.block_start, uri, block.first_row_id - before,
                        order[uri] << SOURCE_ORDER_SHIFT))
        line_counts[uri] = before + block.lines
        blank_counts[uri] = blank_counts.get(uri, 0) + block.blank
    offset_df = spark.createDataFrame(
        offsets, "source_uri string, block_start long, uri string, row_id_base long, file_order long")
    position = F.col("row_id") - F.col("row_id_base") + 1
    records = (
        lines.where(~F.col("raw_text").rlike(_BLANK))
        .join(F.broadcast(offset_df), ["source_uri", "block_start"])
        .select(
            F.col("uri").alias("source_uri"),
            position.alias("position"),
            F.lit(PositionKind.LINE.value).alias("position_kind"),
            "raw_text",
            F.lit(None).cast("string").alias("request_method"),
            F.lit(None).cast("string").alias("full_url"),
            F.lit(None).cast("string").alias("request_url"),
            (F.col("file_order") + position).alias("source_order"),
        )
    )
    gzip_bytes = sum(row.size for row in listed if row.uri.endswith(_GZIP_SUFFIX))
    if gzip_bytes:
        partitions = max(spark.sparkContext.defaultParallelism,
                         -(-gzip_bytes // _GZIP_BYTES_PER_PARTITION))
        LOGGER.info("%d gzip files (%d bytes) cannot be split when read; records repartitioned "
                    "into %d partitions", sum(row.uri.endswith(_GZIP_SUFFIX) for row in listed),
                    gzip_bytes, partitions)
        records = records.repartition(partitions)
    return NdjsonScan(records, blank_counts, line_counts)


def read_ndjson(spark: SparkSession, files: DataFrame) -> DataFrame:
    """Read NDJSON files (plain or gzip) into records with :data:`RECORD_COLUMNS`.

    Parameters
    ----------
    spark
        The session.
    files
        A DataFrame with ``uri`` and ``size`` columns, e.g. ``FilePlan.to_process``.

    Returns
    -------
    DataFrame
        One row per non-blank line.
    """
    return scan_ndjson(spark, files).records
