"""Version ordering, and deletes with tombstones on the generator's versions-and-deletes scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from medlake.fhir.bundles import DELETE, read_bundles
from medlake.fhir.references import PARSE_TEXT_COLUMN, resolve_references
from medlake.fhir.versions import (
    apply_tombstones,
    mark_deleted,
    newer_condition,
    newest_first,
    record_deletes,
    split_deletes,
    version_key,
)
from medlake.manifest import list_files
from medlake.synthetic.bundles import version_steps
from medlake.synthetic.roster import roster_patient
from medlake.tables import create_table, merge_into, table_version
from tests.fhir_bundles.conftest import SEED, ndjson_records

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DATABASE = "scratch_versions"
SLIM = "resourceType string, id string, meta struct<versionId: string, lastUpdated: string>"
SLIM_TABLE = StructType([
    StructField("id", StringType(), False),
    StructField("meta", StructType([StructField("versionId", StringType()), StructField("lastUpdated", StringType())])),
    StructField("text_hash", StringType()),
])
TYPES = ("Patient", "Observation")

#: (older lastUpdated, older versionId, newer lastUpdated, newer versionId)
ORDERED_PAIRS = [
    ("2025-03-01T00:00:00Z", "9", "2025-03-01T00:00:00Z", "10"),  # numeric, not text order
    ("2025-03-01T10:00:00+09:00", "3", "2025-03-01T02:00:00Z", "4"),  # 01:00Z before 02:00Z
    ("2025-03-01T02:00:00Z", "5", "2025-03-01T11:30:00+09:00", "1"),  # the instant decides first
    ("2025-03-01T00:00:00.000Z", "009", "2025-03-01T00:00:00Z", "10"),  # same instant, other spelling
    (None, "99", "1999-01-01T00:00:00Z", "1"),  # no lastUpdated is the oldest
    ("2025-03-01T00:00:00Z", "abc", "2025-03-01T00:00:00Z", "2"),  # numeric above non-numeric
    ("2025-03-01T00:00:00Z", None, "2025-03-01T00:00:00Z", "1"),
]


def test_version_key_orders_pairs(spark: Any) -> None:
    from pyspark.sql import functions as F

    rows = spark.createDataFrame(
        ORDERED_PAIRS, "older_updated string, older_version string, newer_updated string, newer_version string")
    pairs = rows.select(
        F.struct(F.struct(F.col("older_updated").alias("lastUpdated"),
                          F.col("older_version").alias("versionId")).alias("meta")).alias("o"),
        F.struct(F.struct(F.col("newer_updated").alias("lastUpdated"),
                          F.col("newer_version").alias("versionId")).alias("meta")).alias("n"),
    )
    verdicts = pairs.select(F.expr(f"{version_key('n.')} > {version_key('o.')}")).collect()
    assert [row[0] for row in verdicts] == [True] * len(ORDERED_PAIRS)


def _ingest(spark: Any, config: Any, records: Any, run_id: str) -> None:
    """Apply one run's records the way run_fhir_ingest does (deletes, tombstones, MERGE per type).

    The scratch tables hold only what the rules read (``id``, ``meta``) and a hash of the text.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    resolved = resolve_references(records).cache()
    tombstones, unresolved = split_deletes(resolved, run_id)
    assert unresolved.count() == 0
    record_deletes(spark, config, tombstones, database=DATABASE)
    upserts = resolved.where(F.coalesce(F.col("request_method") != DELETE, F.lit(True))).select(
        F.from_json(PARSE_TEXT_COLUMN, SLIM).alias("resource"), F.sha2(PARSE_TEXT_COLUMN, 256).alias("text_hash"),
        "source_order", "position")
    for resource_type in TYPES:
        table = f"{DATABASE}.{resource_type.lower()}"
        create_table(spark, table, SLIM_TABLE, settings=config.tables)
        survivors = mark_deleted(spark, upserts.where(F.col("resource.resourceType") == resource_type),
                                 resource_type, "_deleted", prefix="resource.", database=DATABASE) \
            .where(~F.col("_deleted"))
        newest = survivors.withColumn("_rank", F.row_number().over(
            Window.partitionBy("resource.id").orderBy(*newest_first("resource."))))
        rows = newest.where("_rank = 1").select("resource.id", "resource.meta", "text_hash")
        merge_into(spark, table, rows, ["id"], newer=newer_condition())
        apply_tombstones(spark, resource_type, database=DATABASE)
    resolved.unpersist()


def _state(spark: Any) -> tuple[dict[str, str], set[str]]:
    """Return the live resources' versionIds and the tombstoned resources, keyed ``Type/id``."""
    live = {}
    for resource_type in TYPES:
        for row in spark.table(f"{DATABASE}.{resource_type.lower()}").select("id", "meta.versionId").collect():
            live[f"{resource_type}/{row.id}"] = row.versionId
    tombs = {f"{row.resource_type}/{row.id}" for row in spark.table(f"{DATABASE}.tombstone").collect()}
    return live, tombs


def _key(key: str, posted_type: str = "Observation") -> str:
    return f"{posted_type}/{key.removeprefix('urn:uuid:')}" if key.startswith("urn:uuid:") else key


def test_versions_and_deletes_scenario(spark: Any, config: Any, generated: Path, tmp_path: Path) -> None:
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    spark.sql(f"CREATE DATABASE {DATABASE}")
    initial = [ndjson_records(spark, generated / "fhir" / f"{t}.ndjson", order) for order, t in enumerate(TYPES)]
    _ingest(spark, config, initial[0].unionByName(initial[1]), "run-0")
    steps = version_steps(roster_patient(0, seed=SEED), seed=SEED)
    paths = []
    for number, step in enumerate(steps, start=1):
        path = tmp_path / step.name
        path.write_text(step.text, encoding="utf-8")
        paths.append(path)
        if path.suffix == ".json":
            records = read_bundles(spark, list_files(spark, [str(path)]))
        else:
            records = ndjson_records(spark, path, 10 + number)
        _ingest(spark, config, records, f"run-{number}")
        live, tombs = _state(spark)
        for key, state in step.expected.items():
            resource = _key(key)
            assert (live.get(resource), resource in tombs) == (
                state.version_id if state.live else None, state.tombstone), (step.name, state)
    before = _state(spark), table_version(spark, f"{DATABASE}.tombstone")
    _ingest(spark, config, read_bundles(spark, list_files(spark, [str(paths[0])])), "rerun")
    assert (_state(spark), table_version(spark, f"{DATABASE}.tombstone")) == before
    spark.sql(f"DROP DATABASE {DATABASE} CASCADE")
