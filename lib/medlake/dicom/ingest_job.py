"""DICOM ingest: Part 10 files into ``dicom.instance``, ``dicom.series``, ``dicom.study``, ``dicom.image_set``.

Steps of :func:`run_dicom_ingest`:

1. List the inputs and plan them with the manifest (``ops.files``): files unchanged since a processed
   run are skipped, files above ``dicom.max_file_bytes`` are recorded as ``too_large`` unread.
2. Read the bytes on the JVM (``binaryFile``) and parse them on executors with ``mapInPandas``
   calling :func:`medlake.dicom.header.read_instance`; Arrow batches are bounded by bytes.
3. Split duplicates: one file per SOP Instance UID is kept — the file already in ``dicom.instance``,
   else the smallest URI of the run — and every other file names its kept twin and how it differs.
4. MERGE the kept instances, the quarantined files, then the series, studies and image sets of the
   studies the run touched; record one ``ops.files`` row per file and print the counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.dicom.header import HeaderOptions, InstanceRecord, instance_ddl, read_instance
from medlake.dicom.studies import update_studies
from medlake.dicom.tables import (
    DICOM_INSTANCE,
    DICOM_QUARANTINE,
    create_dicom_tables,
    instance_schema,
    merge_dicom_rows,
)
from medlake.listing import list_files
from medlake.manifest import FileOutcome, FilePlan, plan_files, read_contents, record_files
from medlake.quarantine import PositionKind, file_quarantine_rows, write_quarantine
from medlake.spark_session import session_conf
from medlake.runs import Run, RunSummary, start_run

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["ARROW_MAX_BYTES_PER_BATCH", "JOB", "READ_SETTINGS", "read_dicom_files", "run_dicom_ingest"]

LOGGER = logging.getLogger(__name__)

JOB = "dicom_ingest"
#: Upper bound of file bytes in one Arrow batch sent to a Python worker (plus at most one file).
ARROW_MAX_BYTES_PER_BATCH = 64 << 20
#: What opening a file costs, in bytes, when Spark packs files into read tasks (default 4 MiB):
#: lower than the default so that small DICOM files make a few tasks per core, not one per 31 files.
_OPEN_COST_BYTES = 1 << 20
#: The SQL settings :func:`read_dicom_files` runs under (``run_dicom_ingest`` sets them while parsing).
READ_SETTINGS = {
    "spark.sql.execution.arrow.maxBytesPerBatch": str(ARROW_MAX_BYTES_PER_BATCH),
    "spark.sql.files.openCostInBytes": str(_OPEN_COST_BYTES),
}
_RECORD_COLUMNS = [f.name for f in fields(InstanceRecord)]
_DICOMDIR_DETAIL = "A DICOMDIR (file-set index), not an instance"


def _read_batches(batches: Iterator["pd.DataFrame"], options: HeaderOptions) -> Iterator["pd.DataFrame"]:
    """Turn batches of ``uri, content`` into batches of instance records (runs on executors)."""
    import pandas as pd

    for batch in batches:
        rows = [read_instance(content, uri, options).as_row() for uri, content in zip(batch["uri"], batch["content"])]
        yield pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=object) for name in _RECORD_COLUMNS})


def read_dicom_files(spark: "SparkSession", files: "DataFrame", options: HeaderOptions) -> "DataFrame":
    """Return one instance record per file, read by the JVM and parsed on executors (lazy).

    Run the returned DataFrame under :data:`READ_SETTINGS` (``run_dicom_ingest`` sets them while
    parsing) so that no Arrow batch holds more than :data:`ARROW_MAX_BYTES_PER_BATCH` bytes plus one file.

    Parameters
    ----------
    spark
        The session.
    files
        Files to read: columns ``uri`` and ``size``, as :func:`medlake.listing.listing_frame` makes them.
    options
        How to read each header.

    Returns
    -------
    DataFrame
        Columns of :func:`medlake.dicom.header.instance_ddl`.
    """
    return read_contents(spark, files).mapInPandas(partial(_read_batches, options=options), instance_ddl())


def _split_duplicates(spark: "SparkSession", loaded: "DataFrame") -> tuple["DataFrame", "DataFrame"]:
    """Return the records to keep (one per SOP Instance UID) and the duplicates with their detail.

    The kept file is the one ``dicom.instance`` already holds (reread when its file changed), else
    the run's smallest URI; so a rerun, or another order of inputs, keeps the same file.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    table = spark.table(DICOM_INSTANCE).select(
        "sop_instance_uid", F.col("source_uri").alias("_table_uri"),
        F.col("content_sha256").alias("_table_sha256"), F.col("transfer_syntax_uid").alias("_table_syntax"),
        F.col("file_size").alias("_table_size"))
    eligible = F.col("_table_uri").isNull() | (F.col("_table_uri") == F.col("source_uri"))
    window = Window.partitionBy("sop_instance_uid").orderBy(F.col("_eligible").desc(), F.col("source_uri"))
    first_eligible = F.first("_eligible").over(window)

    def twin(column: str, table_column: str) -> "Column":
        return F.when(first_eligible, F.first(column).over(window)).otherwise(F.col(table_column))

    ranked = (loaded.join(table, "sop_instance_uid", "left").withColumn("_eligible", eligible)
              .withColumns({"_rank": F.row_number().over(window),
                            "_twin_uri": twin("source_uri", "_table_uri"),
                            "_twin_sha256": twin("content_sha256", "_table_sha256"),
                            "_twin_syntax": twin("transfer_syntax_uid", "_table_syntax"),
                            "_twin_size": twin("file_size", "_table_size")})
              .localCheckpoint())  # fixed before the MERGE changes dicom.instance
    is_kept = (F.col("_rank") == 1) & F.col("_eligible")
    kept = ranked.where(is_kept).select(*_RECORD_COLUMNS)
    duplicates = ranked.where(~is_kept).select(
        "source_uri", F.lit(str(FileOutcome.DUPLICATE)).alias("outcome"), _duplicate_detail().alias("detail"))
    return kept, duplicates


def _duplicate_detail() -> "Column":
    """Name the kept twin and what differs: nothing, the transfer syntax, or other bytes."""
    from pyspark.sql import functions as F

    twin = F.col("_twin_uri")
    same_instance = F.concat(F.lit("same SOP Instance UID as kept "), twin)
    return (
        F.when(F.col("content_sha256") == F.col("_twin_sha256"), F.concat(F.lit("byte-identical to kept "), twin))
        .when(~F.col("transfer_syntax_uid").eqNullSafe(F.col("_twin_syntax")),
              F.concat(same_instance, F.lit("; transfer syntax "), F.coalesce("transfer_syntax_uid", F.lit("none")),
                       F.lit(" where the kept file has "), F.coalesce("_twin_syntax", F.lit("none"))))
        .otherwise(F.concat(same_instance, F.lit("; other bytes ("), F.col("file_size").cast("string"),
                            F.lit(" bytes where the kept file has "), F.col("_twin_size").cast("string"),
                            F.lit(")")))
    )


def _quarantine_rows(records: "DataFrame", run_id: str) -> "DataFrame":
    from pyspark.sql import functions as F

    return records.where(F.col("outcome") == str(FileOutcome.QUARANTINED)).select(
        "source_uri", F.lit(0).cast("long").alias("position"),
        F.lit(str(PositionKind.FILE)).alias("position_kind"), "reason", "detail",
        F.lit(None).cast("string").alias("raw_text"), F.col("content_sha256").alias("content_hash"),
        F.lit(run_id).alias("run_id"), F.current_timestamp().alias("quarantined_at"))


def _file_outcomes(records: "DataFrame", duplicates: "DataFrame") -> "DataFrame":
    """Return ``source_uri, outcome, detail, content_hash`` for every parsed file."""
    from pyspark.sql import functions as F

    detail = (F.when(F.col("outcome") == str(FileOutcome.QUARANTINED), F.concat_ws(": ", "reason", "detail"))
              .when(F.col("outcome") == str(FileOutcome.DICOMDIR), F.lit(_DICOMDIR_DETAIL)))
    duplicate_uris = duplicates.select("source_uri", F.col("outcome").alias("_duplicate"),
                                       F.col("detail").alias("_duplicate_detail"))
    return (records.select("source_uri", "outcome", detail.alias("detail"), F.col("content_sha256").alias("content_hash"))
            .join(duplicate_uris, "source_uri", "left")
            .select("source_uri", F.coalesce("_duplicate", "outcome").alias("outcome"),
                    F.coalesce("_duplicate_detail", "detail").alias("detail"), "content_hash"))


def _manifest_rows(planned: "DataFrame", outcomes: "DataFrame") -> "DataFrame":
    """Return one ``ops.files`` row per listed file: planned outcomes, or the parsed file's outcome."""
    from pyspark.sql import functions as F

    parsed = outcomes.select(F.col("source_uri").alias("uri"), F.col("outcome").alias("_outcome"),
                             F.col("detail").alias("_detail"), F.col("content_hash").alias("_hash"))
    rows = (planned.join(parsed, "uri", "left")
            .select("uri", "size", "modification_time", F.coalesce("_hash", "content_hash").alias("content_hash"),
                    F.coalesce("outcome", "_outcome").alias("outcome"), F.coalesce("detail", "_detail").alias("detail")))
    one_record = F.col("outcome").isin(str(FileOutcome.LOADED), str(FileOutcome.DUPLICATE),
                                       str(FileOutcome.QUARANTINED))

    def count_if(outcome: FileOutcome) -> "Column":
        return (F.col("outcome") == str(outcome)).cast("long")

    return rows.withColumns({
        "records_in": one_record.cast("long"), "loaded": count_if(FileOutcome.LOADED),
        "duplicates": count_if(FileOutcome.DUPLICATE), "quarantined": count_if(FileOutcome.QUARANTINED),
    })


def _plan(spark: "SparkSession", config: MedlakeConfig, inputs: Sequence[str]) -> tuple["DataFrame", FilePlan]:
    """Return every listed file with its planned outcome (null: to be parsed), and the plan."""
    from pyspark.sql import functions as F

    plan = plan_files(spark, JOB, list_files(spark, inputs), max_bytes=config.dicom.max_file_bytes,
                      settings=config.tables)
    to_parse = plan.to_process_frame(spark).withColumns({"outcome": F.lit(None).cast("string"),
                                                         "detail": F.lit(None).cast("string")})
    columns = ["uri", "size", "modification_time", "content_hash", "outcome", "detail"]
    rejected = plan.rejected_frame(spark).withColumn("detail", F.concat_ws(": ", "reason", "detail"))
    planned = to_parse.select(*columns).unionByName(plan.passed_by_frame(spark).select(*columns)).unionByName(
        rejected.select(*columns))
    return planned, plan


def _load(spark: "SparkSession", config: MedlakeConfig, run: Run, records: "DataFrame") -> tuple["DataFrame", int]:
    """Write the parsed records to the tables; return each parsed file's outcome and the image set count."""
    from pyspark.sql import functions as F

    with run.stage("instances") as logged:
        kept, duplicates = _split_duplicates(spark, records.where(F.col("outcome") == str(FileOutcome.LOADED)))
        instance_result = merge_dicom_rows(spark, DICOM_INSTANCE, kept, instance_schema(), "sop_instance_uid",
                                           run.run_id)
        run.summary.table_versions[DICOM_INSTANCE] = instance_result.version or 0
        touched = kept.select("study_instance_uid").distinct().persist()
        logged.update(inserted=instance_result.inserted, updated=instance_result.updated, studies=touched.count())
    image_sets = update_studies(spark, config, run, touched) if not touched.isEmpty() else 0
    touched.unpersist()
    return _file_outcomes(records, duplicates), image_sets


def run_dicom_ingest(spark: "SparkSession", config: MedlakeConfig, inputs: Sequence[str]) -> RunSummary:
    """Ingest DICOM Part 10 files (any name, recursively under ``inputs``) into the ``dicom`` tables.

    Every listed file gets one ``ops.files`` row: ``loaded``, ``duplicate`` (naming its kept twin),
    ``dicomdir``, ``quarantined`` (with a ``dicom.quarantine`` row), ``too_large`` or ``skipped``
    (unchanged since a processed run). Running it again on the same inputs changes no ``dicom`` table.

    Parameters
    ----------
    spark
        The session.
    config
        The configuration (``dicom`` and ``tables`` sections).
    inputs
        Files or directories, local paths or URIs.

    Returns
    -------
    RunSummary
        Counts ``files = loaded + duplicates + dicomdir + quarantined + too_large + skipped``, and
        ``image_sets`` built for the studies the run touched.

    Raises
    ------
    ConfigError
        If no input is given or a local input does not exist.

    Examples
    --------
    >>> run_dicom_ingest(spark, config, ["/data/dicom"]).one_line()  # doctest: +SKIP
    'medlake dicom_ingest succeeded run=…: files=96, loaded=82, duplicates=2, dicomdir=1, quarantined=11, …'
    """
    from pyspark.sql import functions as F

    with start_run(spark, JOB, config.tables) as run:
        with run.stage("create tables"):
            create_dicom_tables(spark, config.tables)
        with run.stage("plan") as logged:
            planned, plan = _plan(spark, config, inputs)
            to_parse = planned.where(F.col("outcome").isNull())
            to_parse_count = len(plan.to_process)
            logged.update(files=to_parse_count + len(plan.skipped) + len(plan.too_large) + len(plan.rejected),
                          to_parse=to_parse_count)
        outcomes = spark.createDataFrame([], "source_uri string, outcome string, detail string, content_hash string")
        records, image_sets = None, 0
        if to_parse_count:
            with run.stage("parse") as logged, session_conf(spark, READ_SETTINGS):
                records = read_dicom_files(spark, to_parse, HeaderOptions.from_config(config.dicom)).persist()
                logged.update(files=records.count())
            outcomes, image_sets = _load(spark, config, run, records)
        with run.stage("quarantine"):
            quarantine = file_quarantine_rows(plan.rejected_frame(spark), run.run_id)
            if records is not None:
                quarantine = quarantine.unionByName(_quarantine_rows(records, run.run_id))
            if not quarantine.isEmpty():
                result = write_quarantine(spark, DICOM_QUARANTINE, quarantine, config.tables)
                run.summary.table_versions[DICOM_QUARANTINE] = result.version or 0
        with run.stage("manifest"):
            manifest = _manifest_rows(planned, outcomes).persist()
            counts = {row.outcome: row["count"] for row in manifest.groupBy("outcome").count().collect()}
            record_files(spark, JOB, run.run_id, manifest, config.tables)
        run.summary.add(files=sum(counts.values()), **{
            name: counts.get(str(outcome), 0) for name, outcome in (
                ("loaded", FileOutcome.LOADED), ("duplicates", FileOutcome.DUPLICATE),
                ("dicomdir", FileOutcome.DICOMDIR), ("quarantined", FileOutcome.QUARANTINED),
                ("too_large", FileOutcome.TOO_LARGE), ("skipped", FileOutcome.SKIPPED))})
        run.summary.add(image_sets=image_sets)
        for frame in (manifest, records):
            if frame is not None:
                frame.unpersist()
        return run.finish()
