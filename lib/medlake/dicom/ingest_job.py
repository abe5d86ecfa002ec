"""DICOM ingest: Part 10 files into ``dicom.instance``, ``dicom.series``, ``dicom.study``, ``dicom.image_set``.

Steps of :func:`run_dicom_ingest`:

1. List the inputs and plan them with the manifest (``ops.files``): files unchanged since a processed
   run are skipped unread, files above ``dicom.max_file_bytes`` are recorded as ``too_large`` unread.
2. Read the bytes on the JVM (``binaryFile``) and parse them on executors with ``mapInPandas``
   calling :func:`medlake.dicom.header.read_instance`, which also hashes them: each byte is read
   once. A file whose bytes hash as when it was last processed is ``skipped`` (only touched).
3. Bring each file's outcome to the driver (a few columns per file, as the listing already is) and
   split duplicates there (:mod:`medlake.dicom.duplicates`).
4. MERGE the kept instances, the quarantined files, then the series, studies and image sets of the
   studies the run touched (:mod:`medlake.dicom.studies`); append one ``ops.files`` row per file.
   Nothing is written to a table that the run does not change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from medlake.config import MedlakeConfig
from medlake.dicom.duplicates import FileIdentity, split_duplicates
from medlake.dicom.header import HeaderOptions, InstanceRecord, instance_ddl, read_instance
from medlake.dicom.studies import update_studies
from medlake.dicom.tables import (
    DICOM_INSTANCE, DICOM_QUARANTINE, create_dicom_tables, instance_schema, merge_dicom_rows,
)
from medlake.listing import list_files
from medlake.manifest import ALREADY_LOADED, FileOutcome, plan_files, read_contents, record_files
from medlake.quarantine import PositionKind, quarantine_schema, write_quarantine
from medlake.runs import RunSummary, start_run
from medlake.spark_session import session_conf

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, Row, SparkSession

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
#: The record columns the driver needs to decide each file's outcome.
_IDENTITY_COLUMNS = ("source_uri", "sop_instance_uid", "content_sha256", "transfer_syntax_uid", "file_size")
_OUTCOME_COLUMNS = (*_IDENTITY_COLUMNS, "outcome", "reason", "detail", "study_instance_uid")
_DICOMDIR_DETAIL = "A DICOMDIR (file-set index), not an instance"
_MANIFEST_SCHEMA = ("uri string, size long, modification_time timestamp, content_hash string, outcome string, "
                    "detail string, records_in long, loaded long, duplicates long, quarantined long")
#: Outcomes that count as one record in.
_ONE_RECORD = frozenset({str(FileOutcome.LOADED), str(FileOutcome.DUPLICATE), str(FileOutcome.QUARANTINED)})


def _read_batches(batches: Iterator["pd.DataFrame"], options: HeaderOptions) -> Iterator["pd.DataFrame"]:
    """Turn batches of ``uri, content`` into batches of instance records (runs on executors)."""
    import pandas as pd

    for batch in batches:
        rows = [read_instance(content, uri, options).as_row() for uri, content in zip(batch["uri"], batch["content"])]
        yield pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=object) for name in _RECORD_COLUMNS})


def read_dicom_files(spark: "SparkSession", files: Sequence[tuple[Any, ...]], options: HeaderOptions) -> "DataFrame":
    """Return one instance record per file, read by the JVM and parsed on executors (lazy).

    Run the returned DataFrame under :data:`READ_SETTINGS` (``run_dicom_ingest`` sets them while
    parsing) so that no Arrow batch holds more than :data:`ARROW_MAX_BYTES_PER_BATCH` bytes plus one file.

    Parameters
    ----------
    spark
        The session.
    files
        Files to read: ``(uri, size, ...)`` rows such as :class:`medlake.manifest.PlannedFile`.
    options
        How to read each header.

    Returns
    -------
    DataFrame
        Columns of :func:`medlake.dicom.header.instance_ddl`.
    """
    return read_contents(spark, files).mapInPandas(partial(_read_batches, options=options), instance_ddl())


def _identity(row: "Row") -> FileIdentity:
    return FileIdentity(row.source_uri, row.sop_instance_uid, row.content_sha256, row.transfer_syntax_uid,
                        row.file_size)


def _held_instances(spark: "SparkSession", sop_uids: Sequence[str]) -> dict[str, FileIdentity]:
    """Return what ``dicom.instance`` holds for these SOP Instance UIDs (one small job)."""
    from pyspark.sql import functions as F

    if not sop_uids:
        return {}
    wanted = spark.createDataFrame([(uid,) for uid in sop_uids], "sop_instance_uid string")
    rows = (spark.table(DICOM_INSTANCE).join(F.broadcast(wanted), "sop_instance_uid")
            .select(*_IDENTITY_COLUMNS).collect())
    return {row.sop_instance_uid: _identity(row) for row in rows}


def _outcome(row: "Row", duplicates: Mapping[str, str]) -> tuple[str, str | None]:
    """Return a parsed file's manifest outcome and detail."""
    if row.outcome == str(FileOutcome.QUARANTINED):
        return row.outcome, _detail(row.reason, row.detail)
    if row.outcome == str(FileOutcome.DICOMDIR):
        return row.outcome, _DICOMDIR_DETAIL
    if row.source_uri in duplicates:
        return str(FileOutcome.DUPLICATE), duplicates[row.source_uri]
    return row.outcome, None


def _detail(reason: str | None, detail: str | None) -> str | None:
    """Return a manifest detail: ``<reason>: <message>`` for a quarantined file, else the message."""
    return ": ".join(part for part in (reason, detail) if part) or None


def _manifest_row(uri: str, size: int, modified: datetime, content_hash: str | None, outcome: str,
                  detail: str | None) -> tuple[Any, ...]:
    counted = [int(outcome == str(o)) for o in (FileOutcome.LOADED, FileOutcome.DUPLICATE, FileOutcome.QUARANTINED)]
    return (uri, size, modified, content_hash, outcome, detail, int(outcome in _ONE_RECORD), *counted)


def _quarantine_row(uri: str, reason: str, detail: str | None, content_hash: str | None, run_id: str,
                    now: datetime) -> tuple[Any, ...]:
    return (uri, 0, str(PositionKind.FILE), reason, detail, None, content_hash, run_id, now)


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
        now = datetime.now(UTC)
        with run.stage("create tables"):
            created = create_dicom_tables(spark, config.tables)
        with run.stage("plan") as logged:
            plan = plan_files(spark, JOB, list_files(spark, inputs), max_bytes=config.dicom.max_file_bytes,
                              settings=config.tables, hash_contents=False)
            logged.update(files=len(plan.to_process) + len(plan.skipped) + len(plan.too_large) + len(plan.rejected),
                          to_parse=len(plan.to_process))
        manifest = [_manifest_row(f.uri, f.size, f.modification_time, f.content_hash, f.outcome,
                                  _detail(f.reason, f.detail)) for f in plan.skipped + plan.too_large + plan.rejected]
        quarantine = [_quarantine_row(f.uri, f.reason, f.detail, f.content_hash, run.run_id, now)
                      for f in plan.rejected if f.reason is not None]
        records, image_sets = None, 0
        if plan.to_process:
            with run.stage("parse") as logged, session_conf(spark, READ_SETTINGS):
                records = read_dicom_files(spark, plan.to_process, HeaderOptions.from_config(config.dicom)).persist()
                parsed = records.select(*_OUTCOME_COLUMNS).collect()  # fills the cache, one job
                logged.update(files=len(parsed))
            listed = {f.uri: f for f in plan.to_process}
            fresh = [row for row in parsed if not plan.already_loaded(row.source_uri, row.content_sha256)]
            manifest += [_manifest_row(row.source_uri, listed[row.source_uri].size,
                                       listed[row.source_uri].modification_time, row.content_sha256,
                                       str(FileOutcome.SKIPPED), ALREADY_LOADED)
                         for row in parsed if plan.already_loaded(row.source_uri, row.content_sha256)]
            with run.stage("instances") as logged:
                loaded = [_identity(row) for row in fresh if row.outcome == str(FileOutcome.LOADED)]
                held = {} if DICOM_INSTANCE in created else _held_instances(
                    spark, sorted({f.sop_instance_uid for f in loaded}))
                kept, duplicates = split_duplicates(loaded, held)
                kept_uris = {f.source_uri for f in kept}
                touched = sorted({row.study_instance_uid for row in fresh if row.source_uri in kept_uris})
                if kept:
                    uris = spark.createDataFrame([(uri,) for uri in sorted(kept_uris)], "source_uri string")
                    result = merge_dicom_rows(spark, DICOM_INSTANCE, records.join(F.broadcast(uris), "source_uri"),
                                              instance_schema(), "sop_instance_uid", run.run_id)
                    if result.changed:
                        run.summary.table_versions[DICOM_INSTANCE] = result.version or 0
                    logged.update(inserted=result.inserted, updated=result.updated)
                logged.update(kept=len(kept), duplicates=len(duplicates), studies=len(touched))
            for row in fresh:
                outcome, detail = _outcome(row, duplicates)
                manifest.append(_manifest_row(row.source_uri, listed[row.source_uri].size,
                                              listed[row.source_uri].modification_time, row.content_sha256,
                                              outcome, detail))
                if outcome == str(FileOutcome.QUARANTINED):
                    quarantine.append(_quarantine_row(row.source_uri, row.reason, row.detail, row.content_sha256,
                                                      run.run_id, now))
            if touched:
                image_sets = update_studies(spark, config, run, spark.createDataFrame(
                    [(uid,) for uid in touched], "study_instance_uid string"))
        if quarantine:
            with run.stage("quarantine") as logged:
                result = write_quarantine(spark, DICOM_QUARANTINE,
                                          spark.createDataFrame(quarantine, quarantine_schema()), config.tables)
                if result.changed:
                    run.summary.table_versions[DICOM_QUARANTINE] = result.version or 0
                logged.update(inserted=result.inserted, updated=result.updated)
        with run.stage("manifest"):
            record_files(spark, JOB, run.run_id, spark.createDataFrame(manifest, _MANIFEST_SCHEMA), config.tables)
        if records is not None:
            records.unpersist()
        counts = {str(outcome): 0 for outcome in FileOutcome}
        for entry in manifest:
            counts[entry[4]] += 1
        run.summary.add(files=len(manifest), **{
            name: counts[str(outcome)] for name, outcome in (
                ("loaded", FileOutcome.LOADED), ("duplicates", FileOutcome.DUPLICATE),
                ("dicomdir", FileOutcome.DICOMDIR), ("quarantined", FileOutcome.QUARANTINED),
                ("too_large", FileOutcome.TOO_LARGE), ("skipped", FileOutcome.SKIPPED))})
        run.summary.add(image_sets=image_sets)
        return run.finish()
