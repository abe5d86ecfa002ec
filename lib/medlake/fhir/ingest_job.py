"""FHIR ingest: records → ``fhir.raw``, ``fhir.<type>`` and ``fhir.quarantine``, with the manifest.

:func:`run_fhir_ingest` is the job (``jobs/fhir_ingest.py``):

1. list ``*.ndjson`` / ``*.ndjson.gz`` and ``*.json`` under the inputs, skip files the manifest
   has seen with the same content (:func:`medlake.manifest.plan_files`), read the rest into
   records: NDJSON lines (:mod:`medlake.fhir.records`) and Bundle entries or single resources
   (:mod:`medlake.fhir.bundles`), whose ``urn:uuid:`` references are rewritten to ``Type/id``
   and missing ids derived from their fullUrl in ``parse_text`` (:mod:`medlake.fhir.references`;
   ``raw_text`` stays as it came);
2. classify every record on the JVM from a small ``from_json`` head (``resourceType``, ``id``,
   ``meta``) of ``parse_text``: ``invalid_json``, ``not_a_resource``, ``unknown_resource_type``,
   ``missing_id``; ``DELETE`` entries become tombstones in ``fhir.tombstone``
   (:mod:`medlake.fhir.versions`), or ``unresolved_delete`` when their URL names no ``Type/id``;
3. write every record's exact text to ``fhir.raw`` (MERGE keyed by source and position, so a rerun
   adds nothing);
4. pick the newest version per ``(resourceType, id)`` (:func:`version_key`); older versions in the
   same run count as ``duplicates``;
5. find each type's shape in one aggregation (:mod:`medlake.fhir.shape`); per resource type
   present: parse once with the committed schema pruned to that shape
   (:func:`medlake.fhir.parse.parse_resources`: ``value_too_large``, type mismatches), prove the
   typed rows lossless (by each file's shape, :func:`medlake.fhir.shape.proves_lossless`, or
   where the shape does not prove it record by record, :mod:`medlake.fhir.roundtrip`:
   ``schema_roundtrip_mismatch`` with the path), optionally validate
   (:mod:`medlake.fhir.validate`: ``validation_failed``), and write the rest to ``fhir.<type>``
   keyed by ``id``: ids new to the table are appended with only the columns their batch uses; a
   stored row is replaced (MERGE, full width) only when the incoming version is at least as new
   (:func:`version_key`) and its ``_content_hash`` differs; versions that a tombstone outlives
   are not loaded (counted as duplicates), and live rows a tombstone removes are deleted
   (:func:`medlake.fhir.versions.apply_tombstones`);
6. write the quarantine and one ``ops.files`` row per file: ``in = loaded + duplicates +
   quarantined`` per file and per run.

Ordering rule (newest wins): ``meta.lastUpdated`` as an instant (``try_to_timestamp``: any FHIR
instant, ``Z`` or an offset, fractions to microseconds; missing or unparsable = oldest), then
``meta.versionId`` as a number when it is all digits (``"10"`` after ``"9"``; a non-numeric id is
older than any numeric one), then as text, then input order (``source_order``; a later run is later
input). If the newest version of an id is quarantined, nothing of that id loads in that run (the
older ones count as duplicates): an older version never poses as the current one.

:func:`rebuild_typed_tables` re-derives the typed tables from ``fhir.raw`` after a schema change.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.errors import JobError
from medlake.expressions import with_column_evaluated_once
from medlake.fhir.nesting import with_nesting_reason
from medlake.fhir.parse import DEFAULT_MAX_STRING_LENGTH, PARSE_ERROR_COLUMN, RESOURCE_COLUMN, parse_resources
from medlake.fhir.bundles import DELETE, read_bundles
from medlake.fhir.records import RECORD_COLUMNS, SOURCE_ORDER_SHIFT, scan_ndjson
from medlake.fhir.references import (
    PARSE_TEXT_COLUMN,
    UNRESOLVED_COLUMN,
    conditional_reference_types,
    lake_identifiers,
    resolve_references,
)
from medlake.fhir.roundtrip import DECIMAL_TEXT_COLUMN, ROUNDTRIP_COLUMN, find_roundtrip_mismatches
from medlake.fhir.schema import load_schema, resource_types
from medlake.fhir.shape import Shapes, proves_lossless, prune_schema, resource_shapes
from medlake.fhir.tables import (
    QUARANTINE_TABLE,
    add_missing_lineage_columns,
    RAW_TABLE,
    create_raw_table,
    create_typed_table,
    typed_schema,
    typed_table,
)
from medlake.archives import archive_problem_column
from medlake.listing import list_files
from medlake.manifest import FileOutcome, PlannedFile, plan_files, record_files, rejected_manifest_rows
from medlake.fhir.versions import (
    TOMBSTONE_TABLE,
    apply_tombstones,
    mark_deleted,
    record_deletes,
    split_deletes,
    version_key,
)
from medlake.quarantine import (
    PositionKind,
    QuarantineReason,
    create_quarantine_table,
    file_quarantine_rows,
    write_quarantine,
)
from medlake.runs import RunSummary, start_run
from medlake.tables import merge_into

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from medlake.runs import Run

__all__ = [
    "JOB",
    "FHIR_PATTERN",
    "NDJSON_PATTERN",
    "rebuild_typed_tables",
    "run_fhir_ingest",
    "version_key",
]

LOGGER = logging.getLogger(__name__)

JOB = "fhir_ingest"
#: File names the NDJSON source reads.
NDJSON_PATTERN = r"\.ndjson(\.gz)?$"
#: File names the ingest reads: NDJSON, and ``*.json`` Bundles or single resources.
FHIR_PATTERN = r"\.(ndjson(\.gz)?|json)$"
#: Spark's binary reader (which hashes files for the manifest) stops at 2 GiB.
_MAX_FILE_BYTES = 2**31 - 1
_KEYS = ["source_uri", "position", "position_kind"]
_REASON, _DETAIL, _HASH = "_reason", "_detail", "content_hash"
_HEAD, _CORRUPT = "_head", "_corrupt"
_DELETED = "_deleted"
#: Reasons found when typing a record (parse, lossless check, validation): a rebuild revisits them.
_TYPED_REASONS = (QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH.value, QuarantineReason.VALUE_TOO_LARGE.value,
                  QuarantineReason.VALIDATION_FAILED.value)
#: Resource types loaded at the same time (see :func:`_load_typed`).
_TYPE_WORKERS = 3
_HEAD_SCHEMA = (
    f"resourceType string, id string, meta struct<versionId: string, lastUpdated: string>, "
    f"{_CORRUPT} string"
)
_DETAILS = {
    QuarantineReason.INVALID_JSON: "The record is not valid JSON",
    QuarantineReason.NOT_A_RESOURCE: "The record is not a JSON object with a resourceType",
    QuarantineReason.UNKNOWN_RESOURCE_TYPE: "resourceType is not one of the FHIR R4 resource types",
    QuarantineReason.MISSING_ID: "The resource has no id",
    QuarantineReason.VALUE_TOO_LARGE: "A string value is longer than the JSON reader's limit",
    QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH: "The typed row differs from the record at",
    QuarantineReason.UNRESOLVED_DELETE: "The DELETE's request.url names no Type/id",
}


@dataclass
class _Counts:
    """Per-file record counts of one run."""

    records_in: Counter[str] = field(default_factory=Counter)
    loaded: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)

    def add(self, counter: Counter[str], rows: Iterable[tuple[str, int]]) -> None:
        for uri, count in rows:
            counter[uri] += int(count)


def _is_delete() -> Column:
    from pyspark.sql import functions as F

    return F.upper(F.coalesce(F.col("request_method"), F.lit(""))) == DELETE


def _with_parse_text(spark: SparkSession, records: DataFrame) -> DataFrame:
    """Add ``parse_text``: Bundle entries with references resolved and ids derived, else the raw text."""
    from pyspark.sql import functions as F

    in_bundle = F.col("position_kind") == PositionKind.BUNDLE_ENTRY.value
    entries = records.where(in_bundle)
    search_types = conditional_reference_types(entries)
    resolved = resolve_references(entries, search_types=search_types,
                                  lake=lake_identifiers(spark, search_types))
    others = records.where(~in_bundle).withColumns({
        PARSE_TEXT_COLUMN: F.col("raw_text"), UNRESOLVED_COLUMN: F.lit(0)})
    return others.unionByName(resolved)


def _classify(records: DataFrame) -> DataFrame:
    """Add the record's hash, head (type, id, meta) and pre-typing reason on the JVM."""
    from pyspark.sql import functions as F

    head = F.from_json(PARSE_TEXT_COLUMN, _HEAD_SCHEMA, {"mode": "PERMISSIVE",
                                                         "columnNameOfCorruptRecord": _CORRUPT})
    h = F.col(_HEAD)
    known = list(resource_types())
    variant = F.try_parse_json(PARSE_TEXT_COLUMN)
    reason = (
        F.when(_is_delete(), F.lit(None))
        .when(h.isNull() | h[_CORRUPT].isNotNull(),
               F.when(variant.isNull(), QuarantineReason.INVALID_JSON.value)
               .otherwise(QuarantineReason.NOT_A_RESOURCE.value))
        .when(h["resourceType"].isNull(), QuarantineReason.NOT_A_RESOURCE.value)
        .when(~h["resourceType"].isin(known), QuarantineReason.UNKNOWN_RESOURCE_TYPE.value)
        .when(h["id"].isNull() | (h["id"] == ""), QuarantineReason.MISSING_ID.value)
    )
    detail = F.create_map(*[x for r, d in _DETAILS.items() for x in (F.lit(r.value), F.lit(d))])
    return (
        with_column_evaluated_once(records, _HEAD, head)
        .withColumn(_HASH, F.sha2("raw_text", 256))
        .withColumn(_REASON, reason)
        .withColumn(_DETAIL, detail[F.col(_REASON)])
    )


def _write_raw(spark: SparkSession, classified: DataFrame, run_id: str, config: MedlakeConfig) -> int:
    from pyspark.sql import functions as F

    create_raw_table(spark, config.tables)
    rows = classified.select(
        F.col("source_uri").alias("_source_uri"), F.col("position").alias("_position"),
        F.col("position_kind").alias("_position_kind"),
        F.col(f"{_HEAD}.resourceType").alias("resource_type"), F.col(f"{_HEAD}.id").alias("id"),
        _HASH, "raw_text", "request_method", "full_url", "request_url",
        F.lit(run_id).alias("_run_id"), F.current_timestamp().alias("_loaded_at"),
    )
    result = merge_into(spark, RAW_TABLE, rows, ["_source_uri", "_position", "_position_kind"],
                        compare=[_HASH, "request_method", "full_url", "request_url"])
    return result.version or 0


def _latest_versions(candidates: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split valid records into the newest per (type, id) and the superseded ones (narrow keys)."""
    from pyspark.sql import functions as F

    ranked = candidates.select(
        *_KEYS, F.col(f"{_HEAD}.resourceType").alias("_type"), F.col(f"{_HEAD}.id").alias("_id"),
        F.struct(F.expr(version_key(f"{_HEAD}.")).alias("v"), F.col("source_order").alias("o"))
        .alias("_rank"),
    )
    newest = ranked.groupBy("_type", "_id").agg(
        F.max_by(F.struct(*_KEYS), "_rank").alias("_newest"), F.count(F.lit(1)).alias("_n"))
    superseded = (
        ranked.join(newest.where("_n > 1"), ["_type", "_id"])
        .where(~((F.col("source_uri") == F.col("_newest.source_uri"))
                 & (F.col("position") == F.col("_newest.position"))
                 & (F.col("position_kind") == F.col("_newest.position_kind"))))
        .select(*_KEYS)
    )
    return candidates.join(superseded, _KEYS, "left_anti"), superseded


def _typed_rows(
    typed_input: DataFrame, resource_type: str, shapes: Shapes, *, validate: bool,
    max_string_length: int,
) -> DataFrame:
    """Parse one type's records, prove them lossless and optionally validate: reason and detail.

    The records are parsed with the committed schema pruned to their shape, so the typed struct
    holds only the columns they use. Files whose shape proves them lossless
    (:func:`medlake.fhir.shape.proves_lossless`) need no record-by-record comparison.
    """
    from pyspark.sql import functions as F

    from medlake.fhir.validate import VALIDATION_COLUMN, find_validation_errors

    schema = prune_schema(load_schema(resource_type), shapes.overall)
    parsed = parse_resources(typed_input, resource_type, PARSE_TEXT_COLUMN, schema=schema,
                             max_string_length=max_string_length)
    unproven = sorted(uri for uri, shape in shapes.by_file.items() if not proves_lossless(schema, shape))
    LOGGER.info("%s: %d files proven lossless by their shape, %d compared record by record",
                typed_table(resource_type), len(shapes.by_file) - len(unproven), len(unproven))
    checked = (
        find_roundtrip_mismatches(parsed, resource_type, PARSE_TEXT_COLUMN, RESOURCE_COLUMN,
                                  where=F.col("source_uri").isin(unproven))
        if unproven else parsed.withColumns({ROUNDTRIP_COLUMN: F.lit(None).cast("string"),
                                             DECIMAL_TEXT_COLUMN: F.lit(None).cast("map<string,string>")})
    )
    mismatch = QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH
    # The reader fails a record whose decimal is beyond decimal(38,19) and leaves that field null;
    # when the comparison finds nothing else, the record loads with the number's text beside it.
    decimals_only = ((F.col(PARSE_ERROR_COLUMN) == mismatch.value) & F.col(ROUNDTRIP_COLUMN).isNull()
                     & F.col(DECIMAL_TEXT_COLUMN).isNotNull())
    checked = checked.withColumn(PARSE_ERROR_COLUMN, F.when(~decimals_only, F.col(PARSE_ERROR_COLUMN)))
    reason = F.coalesce(
        F.col(PARSE_ERROR_COLUMN),
        F.when(F.col(ROUNDTRIP_COLUMN).isNotNull(), F.lit(mismatch.value)))
    detail = (
        F.when(F.col(PARSE_ERROR_COLUMN).isNotNull(),
               F.concat(F.lit("Unable to parse the record into the schema of "), F.lit(resource_type),
                        F.lit(": "), F.col(PARSE_ERROR_COLUMN)))
        .when(F.col(ROUNDTRIP_COLUMN).isNotNull(),
              F.concat(F.lit(_DETAILS[mismatch] + " "), F.col(ROUNDTRIP_COLUMN)))
    )
    if validate:
        checked = find_validation_errors(checked, resource_type, PARSE_TEXT_COLUMN)
        failed = QuarantineReason.VALIDATION_FAILED.value
        reason = F.coalesce(reason, F.when(F.col(VALIDATION_COLUMN).isNotNull(), F.lit(failed)))
        detail = F.coalesce(detail, F.col(VALIDATION_COLUMN))
    return checked.withColumns({_REASON: reason, _DETAIL: detail})


def _with_lineage(rows: DataFrame, run_id: str) -> DataFrame:
    from pyspark.sql import functions as F

    return rows.select(
        f"{RESOURCE_COLUMN}.*",
        F.col(_HASH).alias("_content_hash"), F.col("source_uri").alias("_source_uri"),
        F.col("position").alias("_position"), F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("_loaded_at"), DECIMAL_TEXT_COLUMN,
    )


def _merge_typed(
    spark: SparkSession, loadable: DataFrame, resource_type: str, run_id: str, config: MedlakeConfig,
    *, max_string_length: int,
) -> int:
    """Write one type's loadable rows: new ids are appended, known ids go through the MERGE.

    The appended rows carry only the columns their batch uses (Delta reads the others as null).
    A MERGE replaces whole rows, so the rows of known ids are parsed again with the full schema;
    a MERGE over thousands of leaves costs tens of seconds of planning even for a few rows, and
    most rows of a bulk load are new ids.
    """
    from pyspark.sql import functions as F

    from medlake.tables import table_version

    table = typed_table(resource_type)
    if not spark.catalog.tableExists(table):
        create_typed_table(spark, resource_type, config.tables)
        _with_lineage(loadable, run_id).write.format("delta").mode("append").saveAsTable(table)
        return table_version(spark, table)
    stored = spark.table(table)
    add_missing_lineage_columns(spark, table, stored.columns)
    known = stored.select(F.col("id").alias("_known_id"))
    same_id = loadable[f"{RESOURCE_COLUMN}.id"] == known["_known_id"]
    matched = loadable.join(known, same_id, "left").groupBy(F.col("_known_id").isNotNull()).count().collect()
    new_ids, known_ids = (sum(row[1] for row in matched if bool(row[0]) is flag) for flag in (False, True))
    if new_ids:
        _with_lineage(loadable.join(known, same_id, "left_anti"), run_id) \
            .write.format("delta").mode("append").saveAsTable(table)
    if not known_ids:
        return table_version(spark, table)
    existing = loadable.join(known, same_id, "left_semi")
    full_width = parse_resources(existing.drop(RESOURCE_COLUMN, PARSE_ERROR_COLUMN), resource_type,
                                 PARSE_TEXT_COLUMN, max_string_length=max_string_length)
    result = merge_into(spark, table, _with_lineage(full_width, run_id), ["id"],
                        newer=f"{version_key('s.')} >= {version_key('t.')}",
                        compare=["_content_hash"])
    return result.version or 0


def _quarantine_rows(rows: DataFrame, run_id: str) -> DataFrame:
    from pyspark.sql import functions as F

    return rows.select(
        "source_uri", "position", "position_kind", F.col(_REASON).alias("reason"),
        F.col(_DETAIL).alias("detail"), "raw_text", _HASH, F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"))


def _per_file(df: DataFrame) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in df.groupBy("source_uri").count().collect()]


@dataclass
class _TypeResult:
    """What loading one type's records did: per-file verdicts, table version, quarantine rows."""

    resource_type: str
    verdicts: list[tuple[str, int, int, int]]  # (uri, loaded, quarantined, deleted)
    version: int | None
    rejected: DataFrame | None


def _load_type(
    spark: SparkSession, config: MedlakeConfig, newest: DataFrame, resource_type: str,
    shapes: Shapes, run: Run, *, validate: bool, max_string_length: int,
) -> _TypeResult:
    from pyspark.sql import functions as F

    with run.stage(f"{resource_type} verdicts") as logged:
        typed_input = newest.where(F.col(f"{_HEAD}.resourceType") == resource_type)
        typed = _typed_rows(typed_input, resource_type, shapes, validate=validate,
                            max_string_length=max_string_length)
        # Versions that a tombstone outlives are not loaded: counted as duplicates (superseded).
        # Not cached: parsing again for the write costs less than caching the typed rows.
        checked = mark_deleted(spark, typed, resource_type, _DELETED, prefix=f"{_HEAD}.") \
            .withColumn(_DELETED, F.col(_REASON).isNull() & F.col(_DELETED))
        verdicts = [(row[0], row[1], row[2], row[3]) for row in checked.groupBy("source_uri").agg(
            F.count(F.when(F.col(_REASON).isNull() & ~F.col(_DELETED), 1)), F.count(F.col(_REASON)),
            F.count(F.when(F.col(_DELETED), 1))).collect()]
        logged.update(loaded=sum(row[1] for row in verdicts), quarantined=sum(row[2] for row in verdicts))
    version = None
    if any(row[1] for row in verdicts):
        with run.stage(f"{resource_type} write"):
            loadable = checked.where(F.col(_REASON).isNull() & ~F.col(_DELETED))
            version = _merge_typed(spark, loadable, resource_type, run.run_id, config,
                                   max_string_length=max_string_length)
    rejected = None
    if any(row[2] for row in verdicts):  # cached by _load_typed
        rejected = _quarantine_rows(checked.where(F.col(_REASON).isNotNull()), run.run_id)
    return _TypeResult(resource_type, verdicts, version, rejected)


def _load_typed(
    spark: SparkSession, config: MedlakeConfig, classified: DataFrame, run: Run, counts: _Counts,
    *, validate: bool, max_string_length: int, types: Sequence[str] | None = None,
) -> tuple[DataFrame, dict[str, int], list[DataFrame]]:
    """Load the valid records into their typed tables, a few types at a time.

    Types load concurrently (:data:`_TYPE_WORKERS` threads, each running its own Spark jobs),
    largest first: one type's driver work (planning, Delta commits) overlaps another's tasks, and
    a small type's one-task stages do not leave the other cores idle.

    Returns the quarantine rows, the typed tables' versions and the cached frames the quarantine
    rows read from (unpersist them once the quarantine is written).
    """
    from pyspark.sql import functions as F

    with run.stage("versions") as logged:
        candidates = classified.where(F.col(_REASON).isNull() & ~_is_delete())
        if types is not None:
            candidates = candidates.where(F.col(f"{_HEAD}.resourceType").isin(list(types)))
        newest, superseded = _latest_versions(candidates)
        superseded = superseded.cache()
        superseded_per_file = _per_file(superseded)
        counts.add(counts.duplicates, superseded_per_file)
        logged.update(superseded=sum(n for _, n in superseded_per_file))
    with run.stage("shape") as logged:
        shapes = resource_shapes(newest, F.col(f"{_HEAD}.resourceType"), F.col(PARSE_TEXT_COLUMN),
                                 F.col("source_uri"))
        logged.update(types=len(shapes))

    def load(resource_type: str) -> _TypeResult:
        return _load_type(spark, config, newest, resource_type, shapes[resource_type], run,
                          validate=validate, max_string_length=max_string_length)

    largest_first = sorted(shapes, key=lambda name: (-shapes[name].records, name))
    with ThreadPoolExecutor(max_workers=_TYPE_WORKERS, thread_name_prefix="medlake-type") as pool:
        results = list(pool.map(load, largest_first))
    superseded.unpersist()
    versions: dict[str, int] = {}
    rejected: list[DataFrame] = []
    for result in results:
        counts.add(counts.loaded, ((row[0], row[1]) for row in result.verdicts))
        counts.add(counts.quarantined, ((row[0], row[2]) for row in result.verdicts))
        counts.add(counts.duplicates, ((row[0], row[3]) for row in result.verdicts))
        if result.version is not None:
            versions[typed_table(result.resource_type)] = result.version
        if result.rejected is not None:
            with run.stage(f"{result.resource_type} rejected"):
                rejected.append(result.rejected.cache())
                rejected[-1].count()
    quarantined = with_nesting_reason(_quarantine_rows(classified.where(F.col(_REASON).isNotNull()), run.run_id))
    for bad in rejected:
        quarantined = quarantined.unionByName(bad)
    return quarantined, versions, rejected


def _manifest_rows(spark: SparkSession, files: Sequence[PlannedFile], counts: _Counts, blank: dict[str, int]) -> DataFrame:
    rows = []
    for file in files:
        uri = file.uri
        loaded, dup, quarantined = counts.loaded[uri], counts.duplicates[uri], counts.quarantined[uri]
        outcome = FileOutcome.QUARANTINED if quarantined and not (loaded or dup) else FileOutcome.LOADED
        detail = f"{blank[uri]} blank lines skipped" if blank.get(uri) else None
        rows.append((uri, file.size, file.modification_time, file.content_hash, outcome.value, detail,
                     counts.records_in[uri], loaded, dup, quarantined))
    return spark.createDataFrame(rows, (
        "uri string, size long, modification_time timestamp, content_hash string, outcome string, "
        "detail string, records_in long, loaded long, duplicates long, quarantined long"))


def run_fhir_ingest(
    spark: SparkSession,
    config: MedlakeConfig,
    inputs: Sequence[str],
    *,
    validate: bool = False,
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH,
) -> RunSummary:
    """Load FHIR bulk NDJSON files into ``fhir.raw``, ``fhir.<type>`` and ``fhir.quarantine``.

    Parameters
    ----------
    spark
        The session.
    config
        The profile (table settings, ``fhir.validate``, ``fhir.max_quarantined_fraction``).
    inputs
        Files or directories (searched recursively), local paths or URIs.
    validate
        Also validate with the fhir.resources R4B models (also on when ``fhir.validate`` is).
    max_string_length
        Longest JSON string value accepted; longer ones quarantine the record (``value_too_large``).

    Returns
    -------
    RunSummary
        Counts: ``files``, ``files_skipped``, ``files_too_large``, ``records_in``, ``loaded``,
        ``duplicates``, ``quarantined``, ``blank_lines``; Delta versions of the tables written.

    Raises
    ------
    JobError
        If the quarantined fraction of the records exceeds ``fhir.max_quarantined_fraction``.
    """
    from pyspark.sql import functions as F

    with start_run(spark, JOB, config.tables) as run:
        with run.stage("list"):
            listing = list_files(spark, list(inputs), FHIR_PATTERN)
        with run.stage("hash") as logged:
            plan = plan_files(spark, JOB, listing, max_bytes=_MAX_FILE_BYTES, settings=config.tables,
                              inspect=archive_problem_column)
            files, passed_by, rejected = plan.to_process, plan.skipped + plan.too_large, plan.rejected
            logged.update(files=len(files), passed_by=len(passed_by), rejected=len(rejected))
        counts = _Counts()
        blank_lines: dict[str, int] = {}
        quarantined = file_quarantine_rows(plan.rejected_frame(spark), run.run_id)
        counts.add(counts.records_in, ((row.uri, 1) for row in rejected))
        counts.add(counts.quarantined, ((row.uri, 1) for row in rejected))
        if files:
            with run.stage("classify") as logged:
                classified, blank_lines = _read_and_classify(spark, plan.to_process_frame(spark), files)
                per_file = classified.groupBy("source_uri").agg(
                    F.count(F.lit(1)), F.count(_REASON), F.sum(UNRESOLVED_COLUMN)).collect()
                counts.add(counts.records_in, ((row[0], row[1]) for row in per_file))
                counts.add(counts.quarantined, ((row[0], row[2]) for row in per_file))
                run.summary.add(unresolved_references=sum(int(row[3] or 0) for row in per_file))
                logged.update(files=len(files), records=sum(counts.records_in.values()))
            with run.stage("raw"):
                run.summary.table_versions[RAW_TABLE] = _write_raw(spark, classified, run.run_id, config)
            with run.stage("tombstones"):
                tombstones, unresolved = split_deletes(classified.where(_is_delete()), run.run_id)
                counts.add(counts.loaded, _per_file(tombstones))
                counts.add(counts.quarantined, _per_file(unresolved))
                deleted_types = {row[0] for row in tombstones.select("resource_type").distinct().collect()}
                if deleted_types:
                    run.summary.table_versions[TOMBSTONE_TABLE] = record_deletes(
                        spark, config, tombstones).version or 0
            typed_quarantine, versions, cached = _load_typed(
                spark, config, classified, run, counts,
                validate=validate or config.fhir.validate, max_string_length=max_string_length)
            quarantined = quarantined.unionByName(typed_quarantine).unionByName(_quarantine_rows(
                unresolved.withColumns({
                    _REASON: F.lit(QuarantineReason.UNRESOLVED_DELETE.value),
                    _DETAIL: F.lit(_DETAILS[QuarantineReason.UNRESOLVED_DELETE])}), run.run_id))
            run.summary.table_versions.update(versions)
            with run.stage("apply tombstones"):
                typed_types = {table.split(".", 1)[1] for table in versions}
                for resource_type in sorted(t for t in resource_types()
                                            if t.lower() in typed_types or t in deleted_types):
                    applied = apply_tombstones(spark, resource_type)
                    if applied.deleted or applied.cleared:
                        run.summary.add(deleted=applied.deleted)
                        run.summary.table_versions[typed_table(resource_type)] = applied.table_version or 0
        cached_frames = [classified, *cached] if files else []
        if sum(counts.quarantined.values()):  # the per-file counts hold every quarantined record
            with run.stage("quarantine"):
                result = write_quarantine(spark, QUARANTINE_TABLE, quarantined, config.tables)
                run.summary.table_versions[QUARANTINE_TABLE] = result.version or 0
        elif files:
            create_quarantine_table(spark, QUARANTINE_TABLE, config.tables)
        for frame in cached_frames:
            frame.unpersist()
        with run.stage("manifest"):
            manifest = _manifest_rows(spark, files, counts, blank_lines)
            if passed_by:
                manifest = manifest.unionByName(plan.passed_by_frame(spark), allowMissingColumns=True)
            if rejected:
                manifest = manifest.unionByName(rejected_manifest_rows(plan.rejected_frame(spark)),
                                                allowMissingColumns=True)
            record_files(spark, JOB, run.run_id, manifest, config.tables)
        totals = {name: sum(getattr(counts, name).values())
                  for name in ("records_in", "loaded", "duplicates", "quarantined")}
        run.summary.add(files=len(files), files_skipped=len(passed_by), files_rejected=len(rejected), **totals,
                        blank_lines=sum(blank_lines.values()))
        limit = config.fhir.max_quarantined_fraction
        if totals["records_in"] and totals["quarantined"] / totals["records_in"] > limit:
            raise JobError(f"Unable to finish the FHIR ingest as {totals['quarantined']} of "
                           f"{totals['records_in']} records were quarantined, above the "
                           f"configured fraction {limit}")
        return run.finish()


def _read_and_classify(
    spark: SparkSession, files_df: DataFrame, files: Sequence[PlannedFile],
) -> tuple[DataFrame, dict[str, int]]:
    """Read the planned files' records (NDJSON lines, Bundle entries) and classify them, cached.

    Returns the classified records and the blank lines per NDJSON file.
    """
    from pyspark.sql import functions as F

    is_bundle_file = F.col("uri").endswith(".json")
    scan = scan_ndjson(spark, files_df.where(~is_bundle_file))
    bundle_records = read_bundles(spark, files_df.where(is_bundle_file),
                                  first_file_index=sum(not f.uri.endswith(".json") for f in files))
    # RECORD SOURCES: NDJSON lines and Bundle entries, one record shape (medlake.fhir.records).
    records = _with_parse_text(spark, scan.records.withColumn(
        "request_time", F.lit(None).cast("timestamp")).unionByName(bundle_records))
    return _classify(records).cache(), scan.blank_lines


def _raw_records(spark: SparkSession) -> DataFrame:
    """Return ``fhir.raw`` as records, in input order (files by URI, then positions)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    raw = spark.table(RAW_TABLE)
    file_order = F.dense_rank().over(Window.orderBy("_source_uri")) - 1
    return raw.select(
        F.col("_source_uri").alias("source_uri"), F.col("_position").alias("position"),
        F.col("_position_kind").alias("position_kind"), "raw_text", "request_method", "full_url",
        "request_url",
        (F.shiftleft(file_order.cast("long"), SOURCE_ORDER_SHIFT) + F.col("_position"))
        .alias("source_order"),
    ).select(*RECORD_COLUMNS)


def _evolve_schema(spark: SparkSession, resource_type: str, config: MedlakeConfig) -> str:
    """Bring an existing typed table to the committed schema: add columns, or replace the table.

    Returns ``"added"`` (Delta schema evolution: only columns were added), ``"replaced"`` (a
    column changed type, e.g. a new recursion depth: the table is emptied with the new schema,
    keeping its history) or ``"unchanged"``.
    """
    table = typed_table(resource_type)
    target = typed_schema(resource_type)
    if not spark.catalog.tableExists(table):
        create_typed_table(spark, resource_type, config.tables)
        return "unchanged"
    current = spark.table(table).schema
    if current == target:
        return "unchanged"
    empty = spark.createDataFrame([], target).write.format("delta").mode("append")
    try:
        empty.option("mergeSchema", "true").saveAsTable(table)
        return "added"
    except Exception:  # a changed type cannot be merged: replace (history is kept)
        LOGGER.warning("%s: the schema changed incompatibly; the table is rebuilt from %s",
                       table, RAW_TABLE)
        (spark.createDataFrame([], target).write.format("delta").mode("overwrite")
         .option("overwriteSchema", "true").saveAsTable(table))
        return "replaced"


def _clear_resolved_quarantine(spark: SparkSession, types: Sequence[str], still_quarantined: DataFrame) -> int:
    """Delete the typed-stage quarantine rows of ``types`` whose records load now; return how many."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    keys = ["source_uri", "position", "position_kind", "reason"]
    resolved = (
        spark.table(QUARANTINE_TABLE)
        .where(F.col("reason").isin(*_TYPED_REASONS)
               & F.get_json_object("raw_text", "$.resourceType").isin(*types))
        .select(*keys)
        .join(still_quarantined.select(*keys), keys, "left_anti")
        .cache()
    )
    count = resolved.count()
    if count:
        on = " AND ".join(f"t.{key} = s.{key}" for key in keys)
        DeltaTable.forName(spark, QUARANTINE_TABLE).alias("t").merge(resolved.alias("s"), on) \
            .whenMatchedDelete().execute()
    resolved.unpersist()
    return count


def rebuild_typed_tables(
    spark: SparkSession, config: MedlakeConfig, types: Sequence[str] | None = None, *,
    validate: bool = False,
) -> RunSummary:
    """Re-derive typed tables from ``fhir.raw`` after the committed schemas changed.

    Each table is first brought to the committed schema (:func:`_evolve_schema`: Delta schema
    evolution when columns were only added, otherwise replaced), then every record of ``fhir.raw``
    goes through the same typed path as an ingest: rows whose content is unchanged are not
    rewritten; records that now fit the schema load and leave the quarantine; the quarantine gains
    rows for records that no longer do.

    Parameters
    ----------
    spark
        The session.
    config
        The profile.
    types
        Resource types to rebuild (default: every type in ``fhir.raw``).
    validate
        Also validate with fhir.resources.
    """
    from pyspark.sql import functions as F

    with start_run(spark, f"{JOB}_rebuild", config.tables) as run:
        with run.stage("classify"):
            create_raw_table(spark, config.tables)
            classified = _classify(_with_parse_text(spark, _raw_records(spark))).cache()
            present = [row[0] for row in classified.where(F.col(_REASON).isNull())
                       .select(f"{_HEAD}.resourceType").distinct().collect()]
            chosen = sorted(set(present) & set(types)) if types is not None else sorted(present)
        with run.stage("evolve schemas"):
            changes = Counter(_evolve_schema(spark, t, config) for t in chosen)
        counts = _Counts()
        quarantined, versions, cached = _load_typed(
            spark, config, classified, run, counts, validate=validate or config.fhir.validate,
            max_string_length=DEFAULT_MAX_STRING_LENGTH, types=chosen)
        with run.stage("quarantine"):
            typed_quarantine = quarantined.where(F.col("reason").isin(*_TYPED_REASONS))
            write_quarantine(spark, QUARANTINE_TABLE, typed_quarantine, config.tables)
            resolved = _clear_resolved_quarantine(spark, chosen, typed_quarantine)
        for frame in [classified, *cached]:
            frame.unpersist()
        run.summary.table_versions.update(versions)
        run.summary.add(types=len(chosen), columns_added=changes["added"], quarantine_resolved=resolved,
                        tables_replaced=changes["replaced"],
                        loaded=sum(counts.loaded.values()),
                        duplicates=sum(counts.duplicates.values()),
                        quarantined=sum(counts.quarantined.values()))
        return run.finish()

