"""Table names, creation with the Delta properties medlake relies on, and the conditional MERGE."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from medlake.config import TableConfig
from medlake.errors import JobError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "DATABASES",
    "OPS_FILES",
    "OPS_QUALITY",
    "OPS_RUNS",
    "WriteResult",
    "create_table",
    "ensure_databases",
    "merge_into",
    "table_version",
]

LOGGER = logging.getLogger(__name__)

DATABASES = ("fhir", "dicom", "ml", "ops")

OPS_RUNS = "ops.runs"
OPS_FILES = "ops.files"
OPS_QUALITY = "ops.quality"

_MERGE_RETRIES = 3
#: Marks the MERGE source rows that match a target row.
_MATCHED = "_merge_matched"
_PRESENT = "_merge_target_present"


@dataclass(frozen=True)
class WriteResult:
    """What one write did, from Delta's MERGE metrics."""

    table: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    version: int | None = None

    @property
    def changed(self) -> int:
        """Rows inserted, updated or deleted."""
        return self.inserted + self.updated + self.deleted


def ensure_databases(spark: "SparkSession") -> None:
    """Create medlake's databases (``fhir``, ``dicom``, ``ml``, ``ops``) where missing."""
    existing = {row[0] for row in spark.sql("SHOW DATABASES").collect()}
    for database in DATABASES:
        if database not in existing:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")


def _ensure_database(spark: "SparkSession", table: str) -> None:
    database = table.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")


def create_table(
    spark: "SparkSession",
    table: str,
    schema: "StructType",
    *,
    settings: TableConfig,
    comment: str | None = None,
    cluster_by: Sequence[str] = (),
    change_data_feed: bool = False,
) -> bool:
    """Create a managed Delta table if it does not exist yet; return whether it was created (so it is empty).

    The table gets the log and deleted-file retentions of ``settings`` (they bound how far back
    time travel reaches and when VACUUM really erases deleted rows) and, optionally, liquid
    clustering keys and the change data feed. Field metadata ``comment`` becomes column comments.

    Parameters
    ----------
    spark
        The session.
    table
        ``database.table``; the database is created when missing.
    schema
        The table's schema.
    settings
        Retention settings from the profile.
    comment
        The table comment.
    cluster_by
        Liquid clustering columns.
    change_data_feed
        Whether to record row-level changes (``table_changes``).
    """
    from delta.tables import DeltaTable

    if "." not in table:
        raise ValueError(f"'table' must be qualified as database.table, got {table!r}")
    if spark.catalog.tableExists(table):  # one metastore call; Delta's builder would load the table
        return False
    _ensure_database(spark, table)
    _clear_uncommitted_location(spark, table)
    builder = (
        DeltaTable.createIfNotExists(spark)
        .tableName(table)
        .addColumns(schema)
        .property("delta.logRetentionDuration", settings.log_retention)
        .property("delta.deletedFileRetentionDuration", settings.deleted_file_retention)
    )
    if change_data_feed:
        builder = builder.property("delta.enableChangeDataFeed", "true")
    if comment:
        builder = builder.comment(comment)
    if cluster_by:
        builder = builder.clusterBy(*cluster_by)
    builder.execute()
    return True


def _clear_uncommitted_location(spark: "SparkSession", table: str) -> None:
    """Remove what a killed run left at a missing table's managed location: files, no Delta commit.

    A run killed after writing a new table's first files and before its first commit leaves the
    directory behind, and Delta refuses to create a managed table over a non-empty location
    (``DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION``), so every rerun would fail. Nothing there was
    committed, so nothing is lost. A location that holds a Delta table is left alone.
    """
    from delta.tables import DeltaTable

    database, name = table.split(".", 1)
    location = f"{spark.catalog.getDatabase(database).locationUri.rstrip('/')}/{name}"
    jvm = spark._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(location))
    filesystem = path.getFileSystem(spark._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if filesystem.exists(path) and not DeltaTable.isDeltaTable(spark, location):
        LOGGER.warning("Removing the uncommitted files a killed run left at %s before creating %s", location, table)
        filesystem.delete(path, True)


def table_version(spark: "SparkSession", table: str) -> int:
    """Return the table's current Delta version."""
    from delta.tables import DeltaTable

    row = DeltaTable.forName(spark, table).history(1).select("version").first()
    return int(row[0]) if row else 0


def _latest_per_key(source: "DataFrame", keys: Sequence[str], order_by: Sequence["Column"]) -> "DataFrame":
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not order_by:
        return source.dropDuplicates(list(keys))
    window = Window.partitionBy(*keys).orderBy(*order_by)
    return source.withColumn("_merge_rank", F.row_number().over(window)).where("_merge_rank = 1").drop("_merge_rank")


def _is_concurrency_error(error: Exception) -> bool:
    from delta.exceptions import DeltaConcurrentModificationException

    return isinstance(error, DeltaConcurrentModificationException)


def merge_into(
    spark: "SparkSession",
    table: str,
    source: "DataFrame",
    keys: Sequence[str],
    *,
    order_by: Sequence["Column"] = (),
    newer: str | None = None,
    compare: Sequence[str] | None = None,
    delete_when: str | None = None,
) -> WriteResult:
    """Upsert ``source`` into ``table``: one row per key, updated only when newer and different.

    The source is first reduced to one row per key (the first by ``order_by``, i.e. order it
    newest first). A matching target row is replaced only when ``newer`` holds (an SQL condition
    over aliases ``s`` and ``t``) and at least one ``compare`` column differs (null-safe), so a
    rerun with the same input leaves the table unchanged: no new version, no rewritten files (rows
    that would change nothing are filtered out first, and an empty MERGE is not run).

    Parameters
    ----------
    spark
        The session.
    table
        The target Delta table.
    source
        Rows with the target's columns.
    keys
        Key columns.
    order_by
        Ordering that puts the row to keep first within a key.
    newer
        Extra condition for updates, e.g. ``"s.version > t.version"``.
    compare
        Columns whose difference triggers an update; default: every non-key column.
    delete_when
        Condition under which a matched target row is deleted instead.

    Returns
    -------
    The MERGE metrics and the table version afterwards.

    Raises
    ------
    ValueError
        If ``keys`` is empty or names a column that ``source`` lacks.
    JobError
        If the MERGE keeps conflicting with concurrent writers.

    Examples
    --------
    >>> merge_into(spark, "ops.example", df, ["id"], order_by=[F.col("updated").desc()],
    ...            newer="s.updated >= t.updated")  # doctest: +SKIP
    WriteResult(table='ops.example', inserted=2, updated=0, deleted=0, version=1)
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not keys:
        raise ValueError("'keys' in merge_into must name at least one column")
    if missing := [key for key in keys if key not in source.columns]:
        raise ValueError(f"'keys' in merge_into name columns the source lacks: {missing}")
    columns = list(compare) if compare is not None else [c for c in source.columns if c not in keys]
    on = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
    differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in columns) or "false"
    update_condition = f"({newer}) AND ({differs})" if newer else differs
    deduplicated = _latest_per_key(source, keys, order_by)
    # Delta commits a new version (and rewrites the matched files) even when a MERGE changes no
    # row, so rows that would change nothing are dropped first and an empty MERGE is skipped;
    # what is left of the unmatched rows is exactly what the MERGE (or the append) inserts.
    insert_condition = f"NOT ({delete_when})" if delete_when else None
    matched_acts = f"({update_condition}) OR ({delete_when})" if delete_when else update_condition
    # A target row matched when the join found one; not "its first key is not null": keys may be null.
    acts = (f"(t.`{_PRESENT}` IS NULL AND {insert_condition or 'true'}) "
            f"OR (t.`{_PRESENT}` IS NOT NULL AND ({matched_acts}))")
    target = spark.table(table).withColumn(_PRESENT, F.lit(True)).alias("t")
    changes = (deduplicated.alias("s").join(target, F.expr(on), "left")
               .where(acts).select("s.*", F.col(f"t.`{_PRESENT}`").isNotNull().alias(_MATCHED))
               .localCheckpoint())
    planned = {bool(row[0]): int(row[1]) for row in changes.groupBy(_MATCHED).count().collect()}
    if not planned:
        return WriteResult(table=table, version=table_version(spark, table))
    changes = changes.drop(_MATCHED)
    if not planned.get(True):  # only new keys: a plain append, much cheaper than a MERGE
        changes.write.format("delta").mode("append").saveAsTable(table)
        LOGGER.info("%s: %d inserted", table, planned[False])
        return WriteResult(table=table, inserted=planned[False], version=table_version(spark, table))
    for attempt in range(1, _MERGE_RETRIES + 1):
        builder = DeltaTable.forName(spark, table).alias("t").merge(changes.alias("s"), on)
        if delete_when:
            builder = builder.whenMatchedDelete(condition=delete_when)
        builder = builder.whenMatchedUpdateAll(condition=update_condition)
        builder = builder.whenNotMatchedInsertAll(condition=insert_condition)
        try:
            metrics = builder.execute().first()
            break
        except Exception as error:
            if not _is_concurrency_error(error) or attempt == _MERGE_RETRIES:
                if _is_concurrency_error(error):
                    raise JobError(f"Unable to merge into {table} as concurrent writers kept conflicting") from error
                raise
            LOGGER.warning("MERGE into %s conflicted with a concurrent write; retry %d", table, attempt)
            time.sleep(attempt)
    result = WriteResult(
        table=table,
        inserted=int(metrics["num_inserted_rows"]) if metrics else 0,
        updated=int(metrics["num_updated_rows"]) if metrics else 0,
        deleted=int(metrics["num_deleted_rows"]) if metrics else 0,
        version=table_version(spark, table),
    )
    LOGGER.info("%s: %d inserted, %d updated, %d deleted", table, result.inserted, result.updated, result.deleted)
    return result
