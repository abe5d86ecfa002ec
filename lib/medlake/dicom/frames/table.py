"""``dicom.frame``: one row per frame of every instance with pixel data, as the transcoding job stores it.

A row holds what is stored for the frame (the lossless HTJ2K codestream, the original encoded
bytes of a lossy source, or nothing for pixel data that passes through), its sizes, the CRC32 of
its decoded pixels (as AWS HealthImaging computes its frame checksums) and how it was verified.
Rows are merged by (SOP Instance UID, frame number), so a rerun over the same instances changes
nothing.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING

from medlake.config import TableConfig
from medlake.tables import WriteResult, create_table, merge_into, table_version

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "FRAME_KEYS",
    "FRAME_TABLE",
    "FrameAction",
    "attach_image_sets",
    "ensure_frame_table",
    "frame_id",
    "frame_schema",
    "write_frames",
]

FRAME_TABLE = "dicom.frame"
FRAME_KEYS = ("sop_instance_uid", "frame_number")
#: Columns that describe the run that wrote a row, not its content: a rerun does not update them.
_LINEAGE_COLUMNS = ("encoded_by", "run_id")


class FrameAction(StrEnum):
    """What was stored for a frame."""

    TRANSCODED = "transcoded"
    """Lossless HTJ2K, verified bit for bit against the decoded original."""
    KEPT_ORIGINAL = "kept_original"
    """The original encoded bytes of a lossy source, with the CRC32 of their decoded pixels."""
    PASS_THROUGH = "pass_through"
    """Nothing stored (video, float pixel data, unsupported layouts): the source file stays authoritative."""


def frame_id(sop_instance_uid: str, frame_number: int) -> str:
    """Return the deterministic 32-hex-digit ID of a frame (the ``ImageFrames`` ``ID``).

    Examples
    --------
    >>> frame_id("1.2.3", 1) == frame_id("1.2.3", 1), len(frame_id("1.2.3", 1))
    (True, 32)
    >>> frame_id("1.2.3", 1) != frame_id("1.2.3", 2)
    True
    """
    return hashlib.sha256(f"{sop_instance_uid}\x00{frame_number}".encode("ascii")).hexdigest()[:32]


def frame_schema() -> "StructType":
    """Return the schema of ``dicom.frame``."""
    from pyspark.sql.types import (
        BinaryType, BooleanType, IntegerType, LongType, StringType, StructField, StructType,
    )

    def column(name: str, kind: object, nullable: bool, comment: str) -> StructField:
        return StructField(name, kind, nullable, {"comment": comment})  # type: ignore[arg-type]

    return StructType([
        column("image_set_id", StringType(), True, "Image set of the instance (dicom.image_set), if known"),
        column("frame_id", StringType(), False, "32 hex digits, deterministic from SOP Instance UID and frame number"),
        column("study_instance_uid", StringType(), False, "(0020,000D)"),
        column("series_instance_uid", StringType(), False, "(0020,000E)"),
        column("sop_instance_uid", StringType(), False, "(0008,0018)"),
        column("frame_number", IntegerType(), False, "1-based, as in DICOM"),
        column("rows", IntegerType(), True, "(0028,0010)"),
        column("columns", IntegerType(), True, "(0028,0011)"),
        column("samples_per_pixel", IntegerType(), True, "(0028,0002)"),
        column("bits_allocated", IntegerType(), True, "(0028,0100): the decoded container size"),
        column("bits_stored", IntegerType(), True, "(0028,0101): the codestream precision"),
        column("signed", BooleanType(), True, "(0028,0103) 'Pixel Representation' is 1"),
        column("photometric_interpretation", StringType(), True, "Of the stored bytes (YBR_RCT for HTJ2K with RCT)"),
        column("transfer_syntax_uid", StringType(), True, "Of the stored bytes"),
        column("source_transfer_syntax_uid", StringType(), True, "Of the source file"),
        column("action", StringType(), False, "FrameAction: transcoded, kept_original or pass_through"),
        column("reason", StringType(), False, "PolicyReason: why this action"),
        column("data", BinaryType(), True, "The stored codestream or encoded frame; null for pass_through"),
        column("encoded_size", LongType(), False, "Bytes stored"),
        column("raw_size", LongType(), False, "Bytes of the decoded frame (one container per sample)"),
        column("crc32", LongType(), True, "CRC32 of the decoded original pixels (little endian, C order)"),
        column("verification", StringType(), True, "Verification: openjpeg (independent) or openjph_only"),
        column("source_uri", StringType(), False, "The file the frame was read from"),
        column("source_content_hash", StringType(), False, "SHA-256 of the source, as recorded at ingest"),
        column("encoded_by", StringType(), True, "host:pid of the executor process that processed it"),
        column("run_id", StringType(), False, "The run that wrote the row"),
    ])


def ensure_frame_table(spark: "SparkSession", settings: TableConfig) -> None:
    """Create ``dicom.frame`` if it does not exist yet."""
    create_table(spark, FRAME_TABLE, frame_schema(), settings=settings, cluster_by=("series_instance_uid",),
                 comment="One row per frame: lossless HTJ2K codestream or kept original, checksum, verification")


def attach_image_sets(spark: "SparkSession", image_sets: "DataFrame") -> int:
    """Set ``image_set_id`` on frames whose instance now belongs to another (or a first) image set.

    Parameters
    ----------
    spark
        The session.
    image_sets
        Columns ``sop_instance_uid`` and ``image_set_id``, one row per instance.

    Returns
    -------
    int
        The number of frame rows updated (0 on a rerun).
    """
    from delta.tables import DeltaTable

    metrics = (
        DeltaTable.forName(spark, FRAME_TABLE).alias("t")
        .merge(image_sets.alias("s"), "t.sop_instance_uid = s.sop_instance_uid")
        .whenMatchedUpdate(condition="NOT (t.image_set_id <=> s.image_set_id)",
                           set={"image_set_id": "s.image_set_id"})
        .execute().first()
    )
    return int(metrics["num_updated_rows"]) if metrics else 0


def write_frames(spark: "SparkSession", rows: "DataFrame", settings: TableConfig) -> WriteResult:
    """Merge frame rows into ``dicom.frame`` by (SOP Instance UID, frame number).

    A row is updated only when its content differs (the lineage columns ``encoded_by`` and
    ``run_id`` do not count), so a rerun with the same frames leaves the table unchanged. ``rows``
    holds one row per key; when none of its keys is in the table yet, it is appended.

    Parameters
    ----------
    spark
        The session.
    rows
        Rows with at least the columns of :func:`frame_schema`.
    settings
        Table settings for creating the table on first use.

    Returns
    -------
    WriteResult
        The MERGE metrics.
    """
    schema = frame_schema()
    ensure_frame_table(spark, settings)
    ordered = rows.select(*schema.fieldNames())
    keys = list(FRAME_KEYS)
    if spark.table(FRAME_TABLE).select(*keys).join(ordered.select(*keys), keys).isEmpty():
        # Only new frames (one row each, as the job makes them): an append, without the MERGE's
        # deduplication, join and checkpoint, each of which would copy every codestream again.
        ordered.write.format("delta").mode("append").saveAsTable(FRAME_TABLE)
        return WriteResult(table=FRAME_TABLE, inserted=ordered.count(), version=table_version(spark, FRAME_TABLE))
    compare = [name for name in schema.fieldNames() if name not in FRAME_KEYS and name not in _LINEAGE_COLUMNS]
    return merge_into(spark, FRAME_TABLE, ordered, keys, compare=compare)
