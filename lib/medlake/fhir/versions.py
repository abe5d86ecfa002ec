"""Which version of a FHIR resource wins, and deletes that leave tombstones.

Ordering of versions of one resource (greater = newer), :func:`version_key`:

1. ``meta.lastUpdated`` as an instant (``2025-03-01T10:00:00+09:00`` is before
   ``2025-03-01T02:00:00Z``); a missing or unreadable value is the oldest;
2. ``meta.versionId`` as a number when it is one of up to 38 digits (``"10"`` after ``"9"``); a
   non-numeric versionId ranks below every numeric one;
3. ``meta.versionId`` as text (a last, arbitrary but stable, tie breaker);
4. input order (``source_order``, then ``position``): the later input wins — within a run by
   :func:`newest_first`, across runs because a MERGE replaces a row on an equal key
   (:func:`newer_condition` is ``>=``).

Deletes (``DELETE`` entries of Bundles) and tombstones (``fhir.tombstone``, one row per deleted
``(resource_type, id)``):

* A delete takes effect at its ``deleted_at``: the Bundle's ``timestamp``, else the file's
  modification time (:func:`medlake.fhir.bundles.read_bundles`' ``request_time``).
* A version *outlives* a tombstone when its ``meta.lastUpdated`` instant is strictly after
  ``deleted_at`` (or, at the same instant, when both carry numeric versionIds and the version's is
  greater). A version without ``lastUpdated`` never outlives one. So a delete wins ties.
* :func:`record_deletes` keeps the latest delete per resource and skips a delete that the live
  row already outlives (the resource was re-created after it), so a late delete changes nothing.
* :func:`mark_deleted` marks incoming versions that do not outlive the resource's tombstone: a
  late-arriving older version does not bring a deleted resource back.
* :func:`apply_tombstones` then deletes live rows that do not outlive their tombstone, and
  removes the tombstones that a live row outlives (a newer version brought the resource back;
  the superseded tombstone stays visible through Delta time travel). A delete of a resource the
  lake never had leaves a tombstone all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.fhir.bundles import DELETE
from medlake.tables import WriteResult, create_table, merge_into, table_version

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "TOMBSTONE_TABLE",
    "UNRESOLVED_DELETE",
    "TombstoneResult",
    "apply_tombstones",
    "mark_deleted",
    "newer_condition",
    "newest_first",
    "record_deletes",
    "split_deletes",
    "tombstone_schema",
    "version_key",
]

LOGGER = logging.getLogger(__name__)

TOMBSTONE_TABLE = "fhir.tombstone"
_DATABASE = "fhir"
# TODO(lead): move to QuarantineReason
#: A DELETE entry whose request.url names no ``Type/id`` (e.g. a conditional delete).
UNRESOLVED_DELETE = "unresolved_delete"

_OLDEST = "TIMESTAMP '0001-01-01 00:00:00'"
#: ``Type/id``, optionally after a base URL, as in a DELETE entry's ``request.url``.
_DELETE_TARGET = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^?#]*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9.-]{1,64})$"
_TOMB_ID, _TOMB_AT, _TOMB_VERSION = "_medlake_tomb_id", "_medlake_tomb_at", "_medlake_tomb_version"


def _instant(last_updated: str) -> str:
    return f"try_to_timestamp({last_updated})"


def _version_number(version_id: str) -> str:
    return f"CASE WHEN {version_id} RLIKE '^[0-9]{{1,38}}$' THEN CAST({version_id} AS DECIMAL(38,0)) END"


def version_key(prefix: str = "") -> str:
    """Return the SQL struct ordering versions of one resource (greater = newer).

    Parameters
    ----------
    prefix
        Qualifier of the ``meta`` column: ``""``, ``"s."`` or ``"t."`` (MERGE aliases), or a
        struct path such as ``"resource."``.

    Examples
    --------
    >>> version_key("s.")[:60]
    "named_struct('updated', coalesce(try_to_timestamp(s.meta.las"
    """
    last_updated, version_id = f"{prefix}meta.lastUpdated", f"{prefix}meta.versionId"
    return (
        f"named_struct('updated', coalesce({_instant(last_updated)}, {_OLDEST}), "
        f"'number', coalesce({_version_number(version_id)}, -1), "
        f"'text', coalesce({version_id}, ''))"
    )


def newest_first(prefix: str = "", input_order: Sequence[str] = ("source_order", "position")) -> list[Column]:
    """Return the ``order_by`` for :func:`medlake.tables.merge_into` that puts the newest version first.

    Examples
    --------
    >>> merge_into(spark, table, rows, ["id"], order_by=newest_first(),
    ...            newer=newer_condition())  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    return [F.expr(version_key(prefix)).desc(), *(F.col(column).desc() for column in input_order)]


def newer_condition(source: str = "s", target: str = "t") -> str:
    """Return the MERGE condition under which an incoming version replaces the stored one.

    Examples
    --------
    >>> newer_condition().count(">=")
    1
    """
    return f"{version_key(source + '.')} >= {version_key(target + '.')}"


def _outlives(last_updated: str, version_id: str, deleted_at: str, tomb_version: str) -> str:
    """SQL: the version (``last_updated``, ``version_id``) is newer than the tombstone."""
    updated = _instant(last_updated)
    return (
        f"(coalesce({updated} > {deleted_at}, false) OR coalesce({updated} = {deleted_at} "
        f"AND {_version_number(version_id)} > {_version_number(tomb_version)}, false))"
    )


def tombstone_schema() -> StructType:
    """Return the schema of ``fhir.tombstone``."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("resource_type", StringType(), False, {"comment": "The deleted resource's type"}),
        StructField("id", StringType(), False, {"comment": "The deleted resource's id"}),
        StructField("deleted_at", TimestampType(), False,
                    {"comment": "When the delete took effect (Bundle timestamp, else file modification time)"}),
        StructField("version_id", StringType(), True,
                    {"comment": "The version the delete created, when the source states it"}),
        StructField("source_uri", StringType(), False, {"comment": "The file holding the delete"}),
        StructField("position", LongType(), False, {"comment": "The delete's Bundle entry index"}),
        StructField("run_id", StringType(), False, {"comment": "The run that recorded the delete"}),
    ])


def split_deletes(records: DataFrame, run_id: str) -> tuple[DataFrame, DataFrame]:
    """Turn the ``DELETE`` records into tombstone rows; return those and the unresolvable ones.

    Parameters
    ----------
    records
        Ingest records with ``request_time`` (:func:`medlake.fhir.bundles.read_bundles`); rows
        other than ``DELETE`` are ignored.
    run_id
        The run recording the deletes.

    Returns
    -------
    tuple[DataFrame, DataFrame]
        Tombstone rows (:func:`tombstone_schema` plus ``source_order``) for DELETEs whose
        ``request.url`` is ``Type/id`` (optionally after a base URL), and the other DELETE
        records, unchanged (conditional deletes such as ``Patient?identifier=…``), to quarantine
        as :data:`UNRESOLVED_DELETE`. A record without ``request_time`` is dated by the run.
    """
    from pyspark.sql import functions as F

    deletes = records.where(F.upper(F.col("request_method")) == DELETE)
    resolvable = F.coalesce(F.col("request_url").rlike(_DELETE_TARGET), F.lit(False))
    tombstones = deletes.where(resolvable).select(
        F.regexp_extract("request_url", _DELETE_TARGET, 1).alias("resource_type"),
        F.regexp_extract("request_url", _DELETE_TARGET, 2).alias("id"),
        F.coalesce(F.col("request_time"), F.current_timestamp()).alias("deleted_at"),
        F.lit(None).cast("string").alias("version_id"),
        "source_uri", "position", F.lit(run_id).alias("run_id"), "source_order",
    )
    return tombstones, deletes.where(~resolvable)


def _in(database: str, table: str) -> str:
    """Return ``table`` (``fhir.x``) moved to ``database``."""
    return f"{database}.{table.split('.', 1)[1]}"


def _typed(database: str, resource_type: str) -> str:
    from medlake.fhir.tables import typed_table

    return _in(database, typed_table(resource_type))


def _live_versions(spark: SparkSession, resource_types: Sequence[str], database: str) -> DataFrame | None:
    """Return ``resource_type, _id, _last_updated, _version_id`` of the live rows of existing tables."""
    from pyspark.sql import functions as F

    frames = [
        spark.table(_typed(database, resource_type)).select(
            F.lit(resource_type).alias("resource_type"), F.col("id").alias("_id"),
            F.col("meta.lastUpdated").alias("_last_updated"), F.col("meta.versionId").alias("_version_id"))
        for resource_type in resource_types
        if spark.catalog.tableExists(_typed(database, resource_type))
    ]
    if not frames:
        return None
    live = frames[0]
    for frame in frames[1:]:
        live = live.unionByName(frame)
    return live


def record_deletes(
    spark: SparkSession, config: MedlakeConfig, deletes: DataFrame, *, database: str = _DATABASE
) -> WriteResult:
    """Merge tombstone rows into ``fhir.tombstone``: the latest delete per resource is kept.

    A delete that the resource's live row already outlives (it was re-created after the delete)
    is skipped, and so is one no later than the recorded tombstone: replaying deletes leaves the
    table at its version.

    Parameters
    ----------
    spark
        The session.
    config
        Table settings come from ``config.tables``.
    deletes
        Tombstone rows from :func:`split_deletes`.
    database
        Where the typed tables and the tombstones live (another database only in tests).

    Returns
    -------
    WriteResult
        The MERGE metrics of ``fhir.tombstone``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tombstone_table = _in(database, TOMBSTONE_TABLE)
    create_table(spark, tombstone_table, tombstone_schema(), settings=config.tables,
                 comment="Deleted FHIR resources: a late, older version does not bring them back")
    types = sorted(row[0] for row in deletes.select("resource_type").distinct().collect())
    if not types:
        return WriteResult(tombstone_table, version=table_version(spark, tombstone_table))
    live = _live_versions(spark, types, database)
    if live is not None:
        deletes = deletes.alias("d").join(
            live.alias("l"),
            (F.col("l.resource_type") == F.col("d.resource_type")) & (F.col("l._id") == F.col("d.id"))
            & F.expr(_outlives("l._last_updated", "l._version_id", "d.deleted_at", "d.version_id")),
            "left_anti",
        )
    ranked = deletes.withColumn("_medlake_rank", F.row_number().over(
        Window.partitionBy("resource_type", "id")
        .orderBy(F.col("deleted_at").desc(), F.col("source_order").desc(), F.col("position").desc())))
    latest = ranked.where("_medlake_rank = 1").select(*tombstone_schema().fieldNames())
    # Only deletes later than the recorded ones reach the MERGE: Delta rewrites every file a MERGE
    # matches, even when no row changes, and a replay must leave the table at its version.
    stored = spark.table(tombstone_table).select("resource_type", "id", F.col("deleted_at").alias("_stored_at"))
    changes = latest.join(stored, ["resource_type", "id"], "left").where(
        F.col("_stored_at").isNull() | (F.col("deleted_at") > F.col("_stored_at"))).drop("_stored_at").cache()
    try:
        if changes.isEmpty():
            return WriteResult(tombstone_table, version=table_version(spark, tombstone_table))
        return merge_into(
            spark, tombstone_table, changes, ["resource_type", "id"],
            newer="s.deleted_at > t.deleted_at", compare=["deleted_at", "version_id", "source_uri", "position"],
        )
    finally:
        changes.unpersist()


def _tombstones_of(spark: SparkSession, resource_type: str, database: str) -> DataFrame | None:
    from pyspark.sql import functions as F

    table = _in(database, TOMBSTONE_TABLE)
    if not spark.catalog.tableExists(table):
        return None
    return spark.table(table).where(F.col("resource_type") == resource_type).select(
        F.col("id").alias(_TOMB_ID), F.col("deleted_at").alias(_TOMB_AT),
        F.col("version_id").alias(_TOMB_VERSION))


def mark_deleted(
    spark: SparkSession, rows: DataFrame, resource_type: str, column: str, *, prefix: str = "",
    database: str = _DATABASE,
) -> DataFrame:
    """Add ``column``: true for the incoming versions that do not outlive their resource's tombstone.

    Parameters
    ----------
    spark
        The session.
    rows
        Incoming rows of one type, with ``id`` and ``meta`` under ``prefix``.
    resource_type
        Their type.
    column
        Name of the added boolean column.
    prefix
        Path of the struct holding ``id`` and ``meta``: ``""`` for typed rows, e.g.
        ``"resource."`` for :func:`medlake.fhir.parse.parse_resources`' output.
    database
        Where the tombstones live (another database only in tests).

    Returns
    -------
    DataFrame
        ``rows`` with ``column`` (false everywhere when there are no tombstones).

    Examples
    --------
    >>> marked = mark_deleted(spark, typed_rows, "Observation", "deleted")  # doctest: +SKIP
    >>> survivors = marked.where(~F.col("deleted"))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    tombstones = _tombstones_of(spark, resource_type, database)
    if tombstones is None:
        return rows.withColumn(column, F.lit(False))
    outlives = F.expr(_outlives(f"{prefix}meta.lastUpdated", f"{prefix}meta.versionId", _TOMB_AT, _TOMB_VERSION))
    joined = rows.join(tombstones, F.col(f"{prefix}id") == F.col(_TOMB_ID), "left")
    return joined.withColumn(column, F.col(_TOMB_ID).isNotNull() & ~outlives).drop(_TOMB_ID, _TOMB_AT, _TOMB_VERSION)


@dataclass(frozen=True)
class TombstoneResult:
    """What :func:`apply_tombstones` changed for one type."""

    deleted: int
    cleared: int
    table_version: int | None
    tombstone_version: int | None


def _delete_matching(spark: SparkSession, table: str, doomed: DataFrame, on: str) -> int:
    """Delete the rows of ``table`` that ``doomed`` (aliased ``s``) matches; no commit when none."""
    from delta.tables import DeltaTable

    doomed = doomed.cache()
    try:
        count = doomed.count()
        if count:
            DeltaTable.forName(spark, table).alias("t").merge(doomed.alias("s"), on).whenMatchedDelete().execute()
    finally:
        doomed.unpersist()
    return count


def apply_tombstones(spark: SparkSession, resource_type: str, *, database: str = _DATABASE) -> TombstoneResult:
    """Delete live rows of ``resource_type`` that a tombstone removes; clear outlived tombstones.

    Run it after merging the type's incoming versions (without those :func:`mark_deleted` marks) and
    after :func:`record_deletes`. With nothing to change, neither table gets a new version.

    Parameters
    ----------
    spark
        The session.
    resource_type
        The type whose typed table (:func:`medlake.fhir.tables.typed_table`) is checked.
    database
        Where the typed tables and the tombstones live (another database only in tests).

    Returns
    -------
    TombstoneResult
        Live rows deleted, tombstones cleared, and both tables' versions afterwards.
    """
    from pyspark.sql import functions as F

    table, tombstone_table = _typed(database, resource_type), _in(database, TOMBSTONE_TABLE)
    tombstones = _tombstones_of(spark, resource_type, database)
    if tombstones is None or not spark.catalog.tableExists(table):
        return TombstoneResult(0, 0, None, None)
    live = spark.table(table).select(
        "id", F.col("meta.lastUpdated").alias("_last_updated"), F.col("meta.versionId").alias("_version_id"))
    outlives = F.expr(_outlives("_last_updated", "_version_id", _TOMB_AT, _TOMB_VERSION))
    matched = live.join(tombstones, F.col("id") == F.col(_TOMB_ID))
    deleted = _delete_matching(spark, table, matched.where(~outlives).select("id"), "t.id = s.id")
    cleared = _delete_matching(
        spark, tombstone_table, matched.where(outlives).select(F.col("id").alias("_id")),
        f"t.resource_type = '{resource_type}' AND t.id = s._id")
    LOGGER.info("%s: %d deleted by tombstones, %d tombstones cleared by newer versions", table, deleted, cleared)
    return TombstoneResult(deleted, cleared, table_version(spark, table), table_version(spark, tombstone_table))
