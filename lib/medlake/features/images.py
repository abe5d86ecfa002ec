"""``ml.image_features``: pixel statistics of every ``dicom.frame`` row, decoded on executors.

The stored frames (HTJ2K codestreams, kept lossy originals) are decoded with
:func:`medlake.dicom.frames.stored.decode_stored_row` in a ``mapInPandas`` adapter around the pure
:func:`medlake.features.statistics.frame_statistics`, one frame at a time. Arrow batches are bounded
by :data:`ARROW_MAX_BYTES_PER_BATCH` of stored bytes, so a task holds one batch of codestreams plus
one decoded frame. Statistics already in the table are kept for frames whose pixels (CRC32) and
rescale attributes are unchanged: a rerun decodes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from medlake.dicom.frames.stored import DECODE_COLUMNS, decode_stored_row
from medlake.dicom.frames.table import FRAME_TABLE
from medlake.dicom.tables import DICOM_INSTANCE
from medlake.features.facts import read_dicom
from medlake.features.statistics import STATISTICS, frame_statistics, modality_unit
from medlake.features.tables import IMAGE_FEATURES, IMAGE_FEATURES_KEYS, image_features_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["ARROW_MAX_BYTES_PER_BATCH", "PixelStatus", "build_image_features", "frame_rows"]

#: Upper bound of stored frame bytes in one Arrow batch sent to a Python worker (plus one frame).
ARROW_MAX_BYTES_PER_BATCH = 16 << 20
#: Stored bytes per decoding task, to spread a few large Delta files over every core.
_TASK_BYTES = 32 << 20
#: A frame's statistics are reused while these columns are unchanged.
_REUSE_COLUMNS = ("crc32", "rescale_slope", "rescale_intercept", "rescale_type", "modality")
_STATUS_COLUMNS = ("unit", "pixel_status", *STATISTICS)
_RESULT_DDL = ", ".join(["sop_instance_uid string", "frame_number int", "unit string", "pixel_status string",
                         *[f"{name} double" for name in STATISTICS]])


class PixelStatus(StrEnum):
    """Values of ``ml.image_features.pixel_status``."""

    OK = "ok"
    NOT_STORED = "not_stored"
    DECODE_FAILED = "decode_failed"


def _optional(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _statistics_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Decode each frame of each batch and return its statistics (runs on executors)."""
    for batch in batches:
        out = []
        for record in batch.to_dict("records"):
            slope, intercept = _optional(record["rescale_slope"]), _optional(record["rescale_intercept"])
            row: dict[str, object] = {
                "sop_instance_uid": record["sop_instance_uid"], "frame_number": record["frame_number"],
                "unit": modality_unit(record["modality"], record["rescale_type"],
                                      slope is not None or intercept is not None)}
            try:
                pixels = decode_stored_row([record[name] for name in DECODE_COLUMNS])
            except ValueError:
                pixels = None
            row["pixel_status"] = str(PixelStatus.OK) if pixels is not None else str(PixelStatus.DECODE_FAILED)
            row.update(frame_statistics(pixels, slope, intercept) if pixels is not None else {})
            out.append(row)
        yield pd.DataFrame(out, columns=[column.split(" ")[0] for column in _RESULT_DDL.split(", ")])


def frame_rows(spark: "SparkSession") -> "DataFrame":
    """Return ``dicom.frame`` rows with their instance's modality, body part, study date and rescale
    attributes ((0028,1053), (0028,1052), (0028,1054) from the DICOM JSON)."""
    from pyspark.sql import functions as F

    def value(tag: str) -> "Column":
        return F.get_json_object("dicom_json", f"$.{tag}.Value[0]")

    instances = read_dicom(spark, DICOM_INSTANCE).select(
        "sop_instance_uid", "modality", "body_part_examined", "study_date",
        value("00281053").cast("double").alias("rescale_slope"),
        value("00281052").cast("double").alias("rescale_intercept"), value("00281054").alias("rescale_type"))
    return read_dicom(spark, FRAME_TABLE).join(instances, "sop_instance_uid", "left")


def _decode(spark: "SparkSession", todo: "DataFrame") -> tuple["DataFrame", int]:
    """Return the statistics of the frames in ``todo`` (checkpointed) and how many were decoded."""
    from pyspark.sql import functions as F

    from medlake.spark_session import session_conf

    row = todo.agg(F.count("*").alias("frames"), F.sum("encoded_size").alias("bytes")).first()
    frames, stored = (int(row.frames), int(row.bytes or 0)) if row else (0, 0)
    if not frames:
        return spark.createDataFrame([], _RESULT_DDL), 0
    tasks = max(spark.sparkContext.defaultParallelism, math.ceil(stored / _TASK_BYTES))
    inputs = todo.select(*IMAGE_FEATURES_KEYS, *DECODE_COLUMNS, *_REUSE_COLUMNS[1:])
    with session_conf(spark, {"spark.sql.execution.arrow.maxBytesPerBatch": str(ARROW_MAX_BYTES_PER_BATCH)}):
        decoded = (inputs.repartition(tasks, *IMAGE_FEATURES_KEYS)
                   .mapInPandas(cast(Any, _statistics_batches), _RESULT_DDL).localCheckpoint())
    return decoded, frames


def build_image_features(spark: "SparkSession", keys: "DataFrame", link: "DataFrame") -> tuple["DataFrame", dict[str, int]]:
    """Return the rows of ``ml.image_features`` (checkpointed) and counts of what was decoded.

    Parameters
    ----------
    spark
        The session.
    keys
        ``patient_key``, ``patient_id`` (``ml.patient_key``).
    link
        The rows of ``ml.imaging_link``: a frame gets the key of its study's patient.

    Returns
    -------
    The rows, and ``frames``, ``frames_decoded``, ``frames_reused``, ``frames_not_stored``,
    ``frames_decode_failed``.
    """
    from pyspark.sql import functions as F

    frames = frame_rows(spark)
    owners = (link.where("status = 'linked'").join(keys, "patient_id")
              .groupBy("study_instance_uid").agg(F.min("patient_key").alias("patient_key")))
    stored = frames.where(F.col("data").isNotNull())
    existing = spark.table(IMAGE_FEATURES).where(F.col("pixel_status") != PixelStatus.NOT_STORED)
    same = [stored[name].eqNullSafe(existing[name]) for name in (*IMAGE_FEATURES_KEYS, *_REUSE_COLUMNS)]
    condition = same[0]
    for clause in same[1:]:
        condition = condition & clause
    reused = existing.join(stored, condition, "left_semi").select(*IMAGE_FEATURES_KEYS, *_STATUS_COLUMNS)
    decoded, decoded_count = _decode(spark, stored.join(existing, condition, "left_anti"))
    statistics = reused.unionByName(decoded)
    rows = (frames.drop("data").join(statistics, list(IMAGE_FEATURES_KEYS), "left")
            .join(owners, "study_instance_uid", "left")
            .withColumn("pixel_status", F.coalesce("pixel_status", F.lit(PixelStatus.NOT_STORED))))
    schema = image_features_schema()
    result = rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields]).localCheckpoint()
    summary = result.groupBy("pixel_status").count().collect()
    by_status = {row.pixel_status: int(row["count"]) for row in summary}
    return result, {"frames": sum(by_status.values()), "frames_decoded": decoded_count,
                    "frames_reused": sum(by_status.values()) - decoded_count - by_status.get(PixelStatus.NOT_STORED, 0),
                    "frames_not_stored": by_status.get(PixelStatus.NOT_STORED, 0),
                    "frames_decode_failed": by_status.get(PixelStatus.DECODE_FAILED, 0)}
