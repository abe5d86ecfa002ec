"""The HTJ2K transcoding job: every ingested instance's pixel data to ``dicom.frame``, on executors.

How the work is spread
----------------------
The driver plans from ``dicom.instance`` metadata alone (rows x columns x samples x bytes per
sample x frames): each instance not yet in ``dicom.frame`` (by SOP Instance UID and the source's
SHA-256) is cut into *work units*, groups of consecutive frames holding at most
``dicom.max_task_pixel_bytes`` of decoded pixels (at least one frame), so a 1 000-frame instance
spreads over many tasks. Units are packed into tasks by decoded pixel bytes (longest first onto the
least loaded task) and each unit is sent to exactly its task's partition.

Each byte of a source is read once: a file is read on the JVM (``binaryFile``) by one task, which
hashes it (SHA-256, against the hash recorded at ingest) and cuts from it, per work unit, only
what the unit needs: the data set before Pixel Data and the bytes of the unit's frames (offsets
from ``dicom.instance``; see :meth:`~medlake.dicom.frames.work_units.WorkUnit.source_slice`). Only
these slices cross the shuffle to the units' tasks, so a 1 000-frame file is not shipped to 8 tasks
whole. Deflated data sets, bit-packed or subsampled native pixel data and encapsulated frames
whose fragments cannot be told apart travel whole. A ``mapInPandas`` adapter calls
:func:`process_work_unit` per unit: a changed or missing source is quarantined as
``source_changed``, never transcoded; otherwise
:func:`medlake.dicom.frames.transcode.transcode_frames` decodes, encodes and verifies one frame at a
time. Arrow batches are bounded by ``spark.sql.execution.arrow.maxBytesPerBatch``.

Results
-------
Frames that are transcoded, kept (lossy sources) or passed through (video, float pixel data) are
merged into ``dicom.frame``; frames that fail to decode, encode or verify, and instances that cannot
be interpreted, go to ``dicom.quarantine`` with the reason. With ``output_dicom``, every instance
whose frames are all transcoded is also written as an HTJ2K DICOM file under that directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from medlake.config import MedlakeConfig
from medlake.dicom.frames.table import (
    FRAME_TABLE,
    FrameAction,
    attach_image_sets,
    ensure_frame_table,
    frame_id,
    frame_schema,
    write_frames,
)
from medlake.dicom.frames.transcode import FrameStatus, transcode_frames
from medlake.dicom.studies import update_studies
from medlake.dicom.tables import DICOM_IMAGE_SET, DICOM_INSTANCE, DICOM_QUARANTINE
from medlake.dicom.frames.work_units import PendingInstance, WorkUnit, assign_tasks, plan_work_units, task_count
from medlake.dicom.frames.source import PixelAction, SourceSlice
from medlake.dicom.writer import OffsetTable, save_htj2k_dicom, write_htj2k_dicom
from medlake.quarantine import (
    PositionKind, QuarantineReason, file_quarantine_rows, quarantine_schema, write_quarantine,
)
from medlake.spark_session import session_conf
from medlake.runs import RunSummary, start_run

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "JOB",
    "process_work_unit",
    "run_htj2k_transcode",
    "write_instance_file",
]

LOGGER = logging.getLogger(__name__)

JOB = "htj2k_transcode"

#: Quarantine reasons this job gives for a given source content; such instances are not retried
#: until their content changes. ``source_changed`` is retried: the file may come back.
_TRANSCODE_FAILURES = tuple(str(r) for r in (
    QuarantineReason.NOT_DICOM, QuarantineReason.MISSING_TRANSFER_SYNTAX,
    QuarantineReason.INVALID_PIXEL_ATTRIBUTES, QuarantineReason.NO_PIXEL_DATA,
    QuarantineReason.PIXEL_DECODE_FAILED, QuarantineReason.ENCODE_FAILED,
    QuarantineReason.VERIFICATION_FAILED,
))
_ACTIONS = {FrameStatus.TRANSCODED: FrameAction.TRANSCODED, FrameStatus.KEPT: FrameAction.KEPT_ORIGINAL}
#: Most series named in the stage lines of one run; the rest are only counted.
_MAX_SERIES_LINES = 50
_KIND_FRAME, _KIND_QUARANTINE = "frame", "quarantine"
#: A work unit as :meth:`WorkUnit.as_row` gives it, and the partition key of its task.
_PLAN_DDL = ("sop_instance_uid string, study_instance_uid string, series_instance_uid string, source_uri string, "
             "content_hash string, image_set_id string, frame_start int, frame_end int, pixel_bytes bigint, "
             "header_length bigint, slice_start bigint, slice_end bigint, fragments array<array<bigint>>, "
             "task_key bigint")


def _quarantine_row(unit: Mapping[str, Any], reason: str, position: int, kind: PositionKind,
                    detail: str) -> dict[str, Any]:
    return {"kind": _KIND_QUARANTINE, "sop_instance_uid": unit["sop_instance_uid"],
            "series_instance_uid": unit["series_instance_uid"], "source_uri": unit["source_uri"],
            "source_content_hash": unit["content_hash"], "reason": str(reason), "position": position,
            "position_kind": str(kind), "detail": detail}


def _byte_range(unit: Mapping[str, Any]) -> SourceSlice | None:
    """Return the unit's :class:`SourceSlice`, or None when it holds the whole file."""
    if unit.get("header_length") is None or pd.isna(unit["header_length"]):
        return None
    listed = unit.get("fragments")  # an array of arrays from Arrow, or None
    fragments = () if listed is None else tuple((int(f[0]), int(f[1]), int(f[2])) for f in listed)
    return SourceSlice(int(unit["header_length"]), int(unit["slice_start"]), int(unit["slice_end"]), fragments)


def process_work_unit(unit: Mapping[str, Any], content: bytes | None, source_sha256: str | None, run_id: str,
                      encoded_by: str) -> list[dict[str, Any]]:
    """Transcode one work unit from its source bytes; return ``dicom.frame`` and quarantine rows.

    Parameters
    ----------
    unit
        A :meth:`WorkUnit.as_row` row.
    content
        The unit's bytes of its source as read now: the whole file, or (``header_length`` set) the
        :class:`~medlake.dicom.frames.source.SourceSlice` the row names; ``None`` if the file is missing.
    source_sha256
        The SHA-256 of the whole source file as read now (hashed once per file, by the task that read it).
    run_id
        The run's id, stored with each frame.
    encoded_by
        ``host:pid`` of the process, stored with each frame.

    Returns
    -------
    list of dict
        Rows with ``kind`` ``frame`` (the :func:`~medlake.dicom.frames.table.frame_schema` columns)
        or ``quarantine`` (reason, position, position kind, detail). Nothing is raised for the
        data's sake.
    """
    if content is None:
        return [_quarantine_row(unit, QuarantineReason.SOURCE_CHANGED, 0, PositionKind.FILE,
                                "Unable to transcode the instance as its source file is missing")]
    if source_sha256 != unit["content_hash"]:
        return [_quarantine_row(unit, QuarantineReason.SOURCE_CHANGED, 0, PositionKind.FILE,
                                "Unable to transcode the instance as its source file's SHA-256 differs "
                                "from the one recorded at ingest; ingest it again")]
    indices = range(int(unit["frame_start"]), int(unit["frame_end"]))
    result = transcode_frames(content, indices, _byte_range(unit))
    if result.failure is not None or result.attributes is None or result.decision is None:
        return [_quarantine_row(unit, result.failure or QuarantineReason.PIXEL_DECODE_FAILED, 0,
                                PositionKind.FILE, result.detail)]
    attrs = result.attributes
    common = {
        "kind": _KIND_FRAME, "image_set_id": unit.get("image_set_id"),
        "study_instance_uid": unit["study_instance_uid"], "series_instance_uid": unit["series_instance_uid"],
        "sop_instance_uid": unit["sop_instance_uid"], "rows": attrs.rows, "columns": attrs.columns,
        "samples_per_pixel": attrs.samples_per_pixel, "bits_allocated": attrs.bits_allocated,
        "bits_stored": attrs.bits_stored, "signed": attrs.signed,
        "source_transfer_syntax_uid": str(result.transfer_syntax), "source_uri": unit["source_uri"],
        "source_content_hash": unit["content_hash"], "encoded_by": encoded_by, "run_id": run_id,
    }
    if result.decision.action is PixelAction.PASS_THROUGH:
        raw_size = attrs.rows * attrs.columns * attrs.samples_per_pixel * max(1, attrs.bits_allocated // 8)
        return [{**common, "frame_id": frame_id(unit["sop_instance_uid"], i + 1), "frame_number": i + 1,
                 "photometric_interpretation": attrs.photometric_interpretation,
                 "transfer_syntax_uid": str(result.transfer_syntax), "action": str(FrameAction.PASS_THROUGH),
                 "reason": str(result.decision.reason), "data": None, "encoded_size": 0,
                 "raw_size": raw_size, "crc32": None, "verification": None}
                for i in indices]
    rows = []
    for frame in result.frames:
        if frame.status is FrameStatus.FAILED:
            rows.append(_quarantine_row(unit, frame.reason, frame.index + 1, PositionKind.FRAME, frame.detail))
            continue
        rows.append({
            **common, "frame_id": frame_id(unit["sop_instance_uid"], frame.index + 1),
            "frame_number": frame.index + 1, "photometric_interpretation": frame.photometric_interpretation,
            "transfer_syntax_uid": frame.transfer_syntax, "action": str(_ACTIONS[frame.status]),
            "reason": str(frame.reason), "data": frame.data, "encoded_size": frame.encoded_size,
            "raw_size": frame.raw_size, "crc32": frame.crc32,
            "verification": str(frame.verification) if frame.verification else None,
        })
    return rows


def write_instance_file(output_dir: str, content: bytes, expected_hash: str, study_uid: str, series_uid: str,
                        sop_instance_uid: str, frames: Sequence[bytes], transfer_syntaxes: Sequence[str],
                        photometric_interpretation: str) -> str:
    """Write one instance's HTJ2K DICOM file under ``output_dir``; return the outcome.

    Returns
    -------
    str
        ``written``, or ``source_changed`` when ``content`` no longer has the hash the frames were
        made from (nothing is written then).

    Raises
    ------
    ValueError
        If the UIDs do not make a safe path or the frames do not fit the dataset.
    OSError
        If the file cannot be written.
    """
    if hashlib.sha256(content).hexdigest() != expected_hash:
        return str(QuarantineReason.SOURCE_CHANGED)
    # .202 only when every frame qualifies; the weakest label wins.
    syntax = min(transfer_syntaxes, key=lambda uid: (len(uid), uid))
    try:
        data = write_htj2k_dicom(content, frames, syntax, photometric_interpretation)
    except ValueError:
        data = write_htj2k_dicom(content, frames, syntax, photometric_interpretation, OffsetTable.EXTENDED)
    save_htj2k_dicom(output_dir, study_uid, series_uid, sop_instance_uid, data)
    return "written"


# --- Spark adapters -------------------------------------------------------------------------------

def _result_ddl() -> str:
    fields = [f"{field.name} {field.dataType.simpleString()}" for field in frame_schema().fields]
    return ", ".join(["kind string", *fields, "position bigint", "position_kind string", "detail string"])


def _to_pandas(rows: list[dict[str, Any]], ddl: str) -> pd.DataFrame:
    """Build a batch with nullable dtypes, so integer columns with nulls stay integers."""
    columns: dict[str, Any] = {}
    for column in ddl.split(", "):
        name, kind = column.split(" ", 1)
        values = [row.get(name) for row in rows]
        dtype = "Int64" if kind in ("int", "bigint") else "boolean" if kind == "boolean" else object
        columns[name] = pd.array(values, dtype=dtype) if dtype != object else values
    return pd.DataFrame(columns)


def _transcode_batches(batches: Iterator[pd.DataFrame], run_id: str, ddl: str) -> Iterator[pd.DataFrame]:
    encoded_by = f"{socket.gethostname()}:{os.getpid()}"
    for batch in batches:
        for unit in batch.to_dict("records"):
            content, source_sha256 = unit.pop("content"), unit.pop("source_sha256")
            yield _to_pandas(process_work_unit(unit, None if content is None else bytes(content), source_sha256,
                                               run_id, encoded_by), ddl)


def _write_file_batches(batches: Iterator[pd.DataFrame], output_dir: str) -> Iterator[pd.DataFrame]:
    for batch in batches:
        outcomes = []
        for row in batch.to_dict("records"):
            frames = sorted(row["frames"], key=lambda f: f["frame_number"])
            try:
                outcome = write_instance_file(
                    output_dir, bytes(row["content"]), row["source_content_hash"], row["study_instance_uid"],
                    row["series_instance_uid"], row["sop_instance_uid"], [bytes(f["data"]) for f in frames],
                    [f["transfer_syntax_uid"] for f in frames], frames[0]["photometric_interpretation"])
            except (ValueError, OSError) as error:
                outcome = f"failed: {type(error).__name__}"
            outcomes.append({"sop_instance_uid": row["sop_instance_uid"], "outcome": outcome})
        yield pd.DataFrame(outcomes, columns=["sop_instance_uid", "outcome"])


def _uri_key(column: Any) -> Any:
    """Normalise ``file:///x`` to ``file:/x`` (binaryFile's spelling) for joins on file URIs."""
    from pyspark.sql import functions as F

    return F.regexp_replace(column, r"^file:///", "file:/")


def _existing_files(spark: "SparkSession", uris: Sequence[str]) -> list[str]:
    """Return the URIs that exist now, asking the Hadoop file system on the driver."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    existing = []
    for uri in uris:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        if path.getFileSystem(conf).exists(path):
            existing.append(uri)
    return existing


def _read_sources(spark: "SparkSession", uris: Sequence[str]) -> "DataFrame":
    """Return ``uri_key``, ``content``, ``source_sha256`` of files that exist (read on the JVM, hashed once each)."""
    from pyspark.sql import functions as F

    from medlake.listing import read_binary

    return (read_binary(spark, sorted(set(uris)), ignore_missing=True)
            .select(_uri_key(F.col("path")).alias("uri_key"), "content",
                    F.sha2("content", 256).alias("source_sha256")))


def _task_keys(spark: "SparkSession", tasks: int) -> dict[int, int]:
    """Return, per task, a key that ``repartition(tasks, key)`` sends to exactly that partition.

    Spark's hash partitioning puts a row in ``pmod(hash(key), tasks)``; the smallest non-negative
    long landing in each partition is found with that same expression.
    """
    from pyspark.sql import functions as F

    candidates = spark.range(0, 64 * tasks).select(
        "id", F.expr(f"pmod(hash(id), {tasks})").alias("task"))
    keys = {row.task: row.key for row in candidates.groupBy("task").agg(F.min("id").alias("key")).collect()}
    if len(keys) != tasks:
        missing = sorted(set(range(tasks)) - set(keys))
        raise RuntimeError(f"Unable to find partition keys for tasks {missing[:5]}")
    return keys


def _loaded_instances(spark: "SparkSession") -> "DataFrame":
    """Return ``dicom.instance`` rows of loaded files (tables that keep only loaded rows have no ``outcome``)."""
    table = spark.table(DICOM_INSTANCE)
    return table.where("outcome = 'loaded'") if "outcome" in table.columns else table


def _image_sets(spark: "SparkSession") -> "DataFrame | None":
    """Return (sop_instance_uid, image_set_id) from ``dicom.image_set``, or None if there is none.

    The instances of an image set are read from its document (``Study.Series.*.Instances`` keys),
    or from a ``sop_instance_uids`` column where the table has one.
    """
    from pyspark.sql import functions as F

    if not spark.catalog.tableExists(DICOM_IMAGE_SET):
        return None
    table = spark.table(DICOM_IMAGE_SET)
    if "sop_instance_uids" in table.columns:
        members = table.select("image_set_id", F.explode("sop_instance_uids").alias("sop_instance_uid"))
    elif "document" in table.columns:
        layout = "struct<Study: struct<Series: map<string, struct<Instances: map<string, string>>>>>"
        series = table.select("image_set_id", F.explode(
            F.from_json("document", layout)["Study"]["Series"]).alias("series_uid", "series"))
        members = series.select("image_set_id", F.explode(F.map_keys("series.Instances")).alias("sop_instance_uid"))
    else:
        return None
    return members.dropDuplicates(["sop_instance_uid"])


def _pending_instances(spark: "SparkSession", image_sets: "DataFrame | None") -> list[PendingInstance]:
    """Return the ingested instances with pixel data whose current content is not processed yet."""
    from pyspark.sql import functions as F

    instances = (
        _loaded_instances(spark)
        .where("has_pixel_data AND sop_instance_uid IS NOT NULL AND content_sha256 IS NOT NULL")
        .select("sop_instance_uid", "study_instance_uid", "series_instance_uid", "source_uri",
                F.col("content_sha256").alias("content_hash"), "number_of_frames", "rows", "columns",
                "samples_per_pixel", "bits_allocated", "pixel_data_length", "pixel_data_encapsulated",
                "transfer_syntax_uid", "photometric_interpretation", "pixel_data_offset",
                "pixel_data_in_inflated_stream", "pixel_data_fragment_offsets", "pixel_data_fragment_lengths",
                "pixel_data_basic_offsets")
    )
    done = spark.table(FRAME_TABLE).select(
        "sop_instance_uid", F.col("source_content_hash").alias("content_hash")).distinct()
    pending = instances.join(done, ["sop_instance_uid", "content_hash"], "left_anti")
    if spark.catalog.tableExists(DICOM_QUARANTINE):
        failed = (spark.table(DICOM_QUARANTINE).where(F.col("reason").isin(*_TRANSCODE_FAILURES))
                  .select("source_uri", F.col("content_hash")).distinct())
        pending = pending.join(failed, ["source_uri", "content_hash"], "left_anti")
    if image_sets is not None:
        pending = pending.join(image_sets, ["sop_instance_uid"], "left")
    else:
        pending = pending.withColumn("image_set_id", F.lit(None).cast("string"))
    rows = pending.orderBy("series_instance_uid", "sop_instance_uid").collect()
    return [PendingInstance(**row.asDict()) for row in rows]


def _transcode(spark: "SparkSession", config: MedlakeConfig, units: Sequence[WorkUnit], run_id: str) -> "DataFrame":
    """Run the units on executors; return the persisted result rows (frames and quarantine)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    tasks = task_count(units, config.dicom.max_task_pixel_bytes, spark.sparkContext.defaultParallelism)
    keys = _task_keys(spark, tasks)
    plan_rows = [{**unit.as_row(), "task_key": keys[task]} for unit, task in zip(units, assign_tasks(units, tasks))]
    names = [column.split(" ", 1)[0] for column in _PLAN_DDL.split(", ")]
    existing = set(_existing_files(spark, sorted({unit.instance.source_uri for unit in units})))
    plan = spark.createDataFrame(
        [tuple(row[name] for name in names) for row in plan_rows if row["source_uri"] in existing], _PLAN_DDL)
    missing = spark.createDataFrame(
        [tuple(row[name] for name in names) for row in plan_rows if row["source_uri"] not in existing], _PLAN_DDL)
    # Each file is read and hashed once, on the task that reads it; only each unit's slice of it
    # (the data set before Pixel Data and the unit's frames) is shuffled to the unit's task.
    sliced = F.when(F.col("header_length").isNull(), F.col("content")).otherwise(F.concat(
        F.expr("substring(content, 1, CAST(header_length AS INT))"),
        F.expr("substring(content, CAST(slice_start AS INT) + 1, CAST(slice_end - slice_start AS INT))")))
    sources = _read_sources(spark, sorted(existing)) if existing else None
    found = (sources.join(F.broadcast(plan.withColumn("uri_key", _uri_key(F.col("source_uri")))), "uri_key")
             .select(*names, sliced.alias("content"), "source_sha256") if sources is not None else None)
    absent = missing.withColumns({"content": F.lit(None).cast("binary"), "source_sha256": F.lit(None).cast("string")})
    work = (absent if found is None else found.unionByName(absent)).repartition(tasks, "task_key").drop("task_key")
    ddl = _result_ddl()
    results = work.mapInPandas(partial(_transcode_batches, run_id=run_id, ddl=ddl), ddl)
    bound = str(max(1 << 20, min(config.dicom.max_task_pixel_bytes, (1 << 31) - 1)))
    with session_conf(spark, {"spark.sql.execution.arrow.maxBytesPerBatch": bound}):
        results = results.persist(StorageLevel.MEMORY_AND_DISK)
        results.count()
    return results


def _stage_lines(run: Any, results: "DataFrame") -> dict[str, int]:
    """Log per-series and overall frame counts, bytes and ratios; return the overall counts."""
    from pyspark.sql import functions as F

    def counted(condition: Any) -> Any:
        return F.sum(F.when(condition, 1).otherwise(0)).cast("long")

    frame = F.col("kind") == _KIND_FRAME
    aggregates = [
        counted(frame).alias("frames"),
        counted(F.col("action") == str(FrameAction.TRANSCODED)).alias("transcoded"),
        counted(F.col("action") == str(FrameAction.KEPT_ORIGINAL)).alias("kept"),
        counted(F.col("action") == str(FrameAction.PASS_THROUGH)).alias("passed_through"),
        counted(F.col("kind") == _KIND_QUARANTINE).alias("failures"),
        F.coalesce(F.sum(F.when(frame, F.col("raw_size"))), F.lit(0)).cast("long").alias("raw_bytes"),
        F.coalesce(F.sum(F.when(frame, F.col("encoded_size"))), F.lit(0)).cast("long").alias("stored_bytes"),
    ]
    per_series = results.groupBy("series_instance_uid").agg(*aggregates).orderBy("series_instance_uid").collect()
    for row in per_series[:_MAX_SERIES_LINES]:
        _log_counts(run, f"series {row.series_instance_uid}", row.asDict())
    if len(per_series) > _MAX_SERIES_LINES:
        LOGGER.info("[%s %s] %d more series not listed", JOB, run.run_id[:8], len(per_series) - _MAX_SERIES_LINES)
    overall = {name: sum(row[name] for row in per_series) for name in
               ("frames", "transcoded", "kept", "passed_through", "failures", "raw_bytes", "stored_bytes")}
    _log_counts(run, "overall", overall)
    return overall


def _log_counts(run: Any, label: str, counts: Mapping[str, Any]) -> None:
    stored, raw = counts["stored_bytes"], counts["raw_bytes"]
    ratio = f"{raw / stored:.2f}" if stored else "n/a"
    LOGGER.info("[%s %s] %s: frames=%d, raw_bytes=%d, stored_bytes=%d, ratio=%s, kept=%d, "
                "passed_through=%d, failures=%d", JOB, run.run_id[:8], label, counts["frames"], raw, stored,
                ratio, counts["kept"], counts["passed_through"], counts["failures"])


def _write_output_files(spark: "SparkSession", output_dir: str, fresh: set[str]) -> dict[str, int]:
    """Write an HTJ2K DICOM file for every fully transcoded instance whose source is unchanged.

    Instances transcoded in this run are always written; earlier ones only where the file is missing.
    """
    from pyspark.sql import functions as F

    current = _loaded_instances(spark).select(
        "sop_instance_uid", F.col("content_sha256").alias("source_content_hash"), "number_of_frames")
    stored = spark.table(FRAME_TABLE).join(current, ["sop_instance_uid", "source_content_hash"])
    instance_keys = ["sop_instance_uid", "study_instance_uid", "series_instance_uid", "source_uri",
                     "source_content_hash"]
    complete = (
        stored.groupBy(*instance_keys)
        .agg(F.min(F.col("action") == str(FrameAction.TRANSCODED)).alias("all_transcoded"),
             F.count("*").alias("count"), F.max(F.coalesce("number_of_frames", F.lit(1))).alias("expected"))
        .where("all_transcoded AND count = expected")
        .select("sop_instance_uid", "study_instance_uid", "series_instance_uid", "source_uri")
        .collect()
    )
    candidates = [row for row in complete
                  if row.sop_instance_uid in fresh
                  or not _output_exists(output_dir, row.study_instance_uid, row.series_instance_uid,
                                        row.sop_instance_uid)]
    if not candidates:
        return {"files_written": 0, "files_not_written": 0}
    existing = _existing_files(spark, sorted({row.source_uri for row in candidates}))
    if not existing:
        return {"files_written": 0, "files_not_written": len(candidates)}
    wanted = spark.createDataFrame([(row.sop_instance_uid,) for row in candidates], "sop_instance_uid string")
    work = (
        stored.join(wanted, ["sop_instance_uid"])
        .groupBy(*instance_keys)
        .agg(F.collect_list(F.struct("frame_number", "data", "transfer_syntax_uid",
                                     "photometric_interpretation")).alias("frames"))
        .withColumn("uri_key", _uri_key(F.col("source_uri")))
        .join(_read_sources(spark, existing), ["uri_key"])
        .repartition(min(len(candidates), spark.sparkContext.defaultParallelism))
    )
    outcomes = work.mapInPandas(partial(_write_file_batches, output_dir=output_dir),
                                "sop_instance_uid string, outcome string").groupBy("outcome").count().collect()
    written = sum(int(row["count"]) for row in outcomes if row.outcome == "written")
    # Not written: the source changed or vanished since transcoding, or the file could not be written.
    return {"files_written": written, "files_not_written": len(candidates) - written}


def _output_exists(output_dir: str, study_uid: str, series_uid: str, sop_uid: str) -> bool:
    from medlake.dicom.writer import htj2k_output_path

    try:
        return htj2k_output_path(output_dir, study_uid, series_uid, sop_uid).exists()
    except ValueError:
        return False


def _short_pixel_rows(spark: "SparkSession", short: Sequence[PendingInstance], run_id: str) -> "DataFrame":
    """Quarantine rows of instances whose native Pixel Data is shorter than their header declares."""
    rejected = [(i.source_uri, str(QuarantineReason.INVALID_PIXEL_ATTRIBUTES),
                 f"Unable to transcode as (7FE0,0010) 'Pixel Data' holds {i.pixel_data_length} bytes, "
                 f"{i.missing_pixel_bytes()} fewer than {i.frames} frames of (0028,0010) 'Rows' x (0028,0011) "
                 "'Columns' need", i.content_hash) for i in short]
    return file_quarantine_rows(
        spark.createDataFrame(rejected, "uri string, reason string, detail string, content_hash string"), run_id)


def _new_quarantine_rows(spark: "SparkSession", rows: "DataFrame") -> "DataFrame":
    """Drop rows ``dicom.quarantine`` already holds unchanged, so a rerun does not even commit a no-op MERGE."""
    from pyspark.sql import functions as F

    ordered = rows.select(*quarantine_schema().fieldNames())
    if not spark.catalog.tableExists(DICOM_QUARANTINE):
        return ordered
    existing = spark.table(DICOM_QUARANTINE)
    same = [ordered[name].eqNullSafe(existing[name]) for name in
            ("source_uri", "position", "position_kind", "reason", "detail", "content_hash")]
    condition = same[0]
    for clause in same[1:]:
        condition = condition & clause
    return ordered.join(existing, condition, "left_anti")


def run_htj2k_transcode(spark: "SparkSession", config: MedlakeConfig,
                        output_dicom: str | None = None) -> RunSummary:
    """Transcode the pixel data of every ingested instance not yet in ``dicom.frame``.

    Parameters
    ----------
    spark
        The session.
    config
        The configuration (``dicom.max_task_pixel_bytes`` bounds each work unit's pixels).
    output_dicom
        A directory to write HTJ2K DICOM files to (``<study>/<series>/<sop>.dcm``), or ``None``.

    Returns
    -------
    RunSummary
        Counts: ``instances``, ``work_units``, ``tasks``, ``frames``, ``transcoded``, ``kept``,
        ``passed_through``, ``quarantined``, ``raw_bytes``, ``stored_bytes`` and, with
        ``output_dicom``, ``files_written`` and ``files_not_written``.

    Examples
    --------
    >>> summary = run_htj2k_transcode(spark, config, output_dicom="/data/htj2k")  # doctest: +SKIP
    >>> summary.one_line()  # doctest: +SKIP
    'medlake htj2k_transcode succeeded run=...: instances=3, work_units=3, tasks=2, frames=17, ...'
    """
    from pyspark.sql import functions as F

    with start_run(spark, JOB, config.tables) as run:
        with run.stage("plan") as logged:
            ensure_frame_table(spark, config.tables)
            image_sets = _image_sets(spark)
            pending = _pending_instances(spark, image_sets)
            short = [instance for instance in pending if instance.missing_pixel_bytes()]
            units = plan_work_units([i for i in pending if not i.missing_pixel_bytes()],
                                    config.dicom.max_task_pixel_bytes)
            tasks = task_count(units, config.dicom.max_task_pixel_bytes, spark.sparkContext.defaultParallelism)
            logged.update(instances=len(pending), work_units=len(units), tasks=tasks,
                          pixel_bytes=sum(unit.pixel_bytes for unit in units))
        run.summary.add(instances=len(pending), work_units=len(units), tasks=tasks)
        overall = {"frames": 0, "transcoded": 0, "kept": 0, "passed_through": 0, "failures": 0,
                   "raw_bytes": 0, "stored_bytes": 0}
        if short:
            with run.stage("short pixel data"):
                result = write_quarantine(spark, DICOM_QUARANTINE,
                                          _new_quarantine_rows(spark, _short_pixel_rows(spark, short, run.run_id)),
                                          config.tables)
                run.summary.table_versions[DICOM_QUARANTINE] = result.version or 0
                run.summary.add(quarantined=len(short))
        if units:
            with run.stage("transcode"):
                results = _transcode(spark, config, units, run.run_id)
            with run.stage("write") as logged:
                frames = results.where(F.col("kind") == _KIND_FRAME)
                written = write_frames(spark, frames, config.tables)
                run.summary.table_versions[FRAME_TABLE] = written.version or 0
                quarantine = results.where(F.col("kind") == _KIND_QUARANTINE).select(
                    "source_uri", "position", "position_kind", "reason", "detail",
                    F.lit(None).cast("string").alias("raw_text"), F.col("source_content_hash").alias("content_hash"),
                    F.lit(run.run_id).alias("run_id"), F.current_timestamp().alias("quarantined_at"))
                quarantined = write_quarantine(spark, DICOM_QUARANTINE, _new_quarantine_rows(spark, quarantine),
                                               config.tables)
                run.summary.table_versions[DICOM_QUARANTINE] = quarantined.version or 0
                overall = _stage_lines(run, results)
                results.unpersist()
                logged.update(frames_inserted=written.inserted, frames_updated=written.updated,
                              quarantine_inserted=quarantined.inserted)
            touched = spark.createDataFrame(sorted({(unit.instance.study_instance_uid,) for unit in units}),
                                            "study_instance_uid string")
            update_studies(spark, config, run, touched, image_sets_only=True)  # fills ImageFrames in dicom.image_set
        if image_sets is not None:
            with run.stage("image_sets") as logged:
                logged.update(frames_updated=attach_image_sets(spark, image_sets))
        run.summary.add(frames=overall["frames"], transcoded=overall["transcoded"],
                        kept=overall["kept"], passed_through=overall["passed_through"],
                        quarantined=overall["failures"], raw_bytes=overall["raw_bytes"],
                        stored_bytes=overall["stored_bytes"])
        if output_dicom is not None:
            with run.stage("output_dicom") as logged:
                files = _write_output_files(spark, str(Path(output_dicom).resolve()),
                                            {unit.instance.sop_instance_uid for unit in units})
                logged.update(files)
            run.summary.add(**files)
        return run.finish()
