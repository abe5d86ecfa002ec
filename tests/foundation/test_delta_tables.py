"""Delta round trip through medlake.tables: create, conditional MERGE, history, time travel."""

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from medlake.tables import WriteResult, create_table, merge_into, table_version

SCHEMA = "id string, version int, value string"


@pytest.fixture(scope="module")
def people(spark, config):
    from pyspark.sql.types import _parse_datatype_string

    create_table(spark, "ops.test_people", _parse_datatype_string(SCHEMA), settings=config.tables,
                 comment="test table")
    return "ops.test_people"


def _merge(spark, table, rows):
    source = spark.createDataFrame(rows, SCHEMA)
    return merge_into(spark, table, source, ["id"], order_by=[F.col("version").desc()],
                      newer="s.version >= t.version", compare=["version", "value"])


def test_merge_inserts_updates_and_reruns_unchanged(spark, people) -> None:
    first = _merge(spark, people, [("a", 1, "x"), ("b", 1, "y"), ("b", 2, "y2")])
    assert (first.inserted, first.updated, first.deleted) == (2, 0, 0)
    version_after_first = table_version(spark, people)

    rerun = _merge(spark, people, [("a", 1, "x"), ("b", 1, "y"), ("b", 2, "y2")])
    assert rerun.changed == 0
    assert table_version(spark, people) == version_after_first == rerun.version
    assert_df_equality(spark.table(people), spark.createDataFrame([("a", 1, "x"), ("b", 2, "y2")], SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)

    older_and_newer = _merge(spark, people, [("a", 0, "old"), ("b", 3, "y3")])
    assert (older_and_newer.inserted, older_and_newer.updated) == (0, 1)
    assert_df_equality(spark.table(people), spark.createDataFrame([("a", 1, "x"), ("b", 3, "y3")], SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)

    history = spark.sql(f"DESCRIBE HISTORY {people}").select("version", "operation").collect()
    assert history[0].operation == "MERGE"
    as_of_first = spark.sql(f"SELECT * FROM {people} VERSION AS OF {version_after_first}")
    assert_df_equality(as_of_first, spark.createDataFrame([("a", 1, "x"), ("b", 2, "y2")], SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)


def test_table_has_retention_properties_and_comments(spark, people, config) -> None:
    properties = dict(spark.sql(f"SHOW TBLPROPERTIES {people}").collect())
    assert properties["delta.deletedFileRetentionDuration"] == config.tables.deleted_file_retention
    assert properties["delta.logRetentionDuration"] == config.tables.log_retention
    detail = spark.sql(f"DESCRIBE DETAIL {people}").first()
    assert detail.format == "delta"
    assert detail.description == "test table"


def test_merge_rejects_missing_keys(spark, people) -> None:
    with pytest.raises(ValueError, match="'keys' in merge_into name columns the source lacks: \\['nope'\\]"):
        merge_into(spark, people, spark.createDataFrame([("a", 1, "x")], SCHEMA), ["nope"])


def test_merge_delete_condition(spark, config) -> None:
    from pyspark.sql.types import _parse_datatype_string

    create_table(spark, "ops.test_tombstones", _parse_datatype_string("id string, deleted boolean"),
                 settings=config.tables)
    merge_into(spark, "ops.test_tombstones", spark.createDataFrame([("a", False), ("b", False)], "id string, deleted boolean"), ["id"])
    result = merge_into(spark, "ops.test_tombstones", spark.createDataFrame([("a", True)], "id string, deleted boolean"),
                        ["id"], delete_when="s.deleted")
    assert result == WriteResult(table="ops.test_tombstones", inserted=0, updated=0, deleted=1, version=result.version)
    assert [row.id for row in spark.table("ops.test_tombstones").collect()] == ["b"]
    # An unmatched row marked for deletion is not inserted, also when the rows are only appended.
    appended = merge_into(spark, "ops.test_tombstones",
                          spark.createDataFrame([("c", True), ("d", False)], "id string, deleted boolean"),
                          ["id"], delete_when="s.deleted")
    assert appended.inserted == 1
    assert sorted(row.id for row in spark.table("ops.test_tombstones").collect()) == ["b", "d"]


def test_merge_with_a_null_key_matches_its_row_on_rerun(spark, config) -> None:
    """Keys compare null-safely: a stored row whose first key is null is matched, not inserted again."""
    from pyspark.sql.types import _parse_datatype_string

    schema = "study string, patient string, n int"
    create_table(spark, "ops.test_null_keys", _parse_datatype_string(schema), settings=config.tables)
    rows = [(None, "p1", 1), ("s2", None, 2)]
    first = merge_into(spark, "ops.test_null_keys", spark.createDataFrame(rows, schema), ["study", "patient"])
    rerun = merge_into(spark, "ops.test_null_keys", spark.createDataFrame(rows, schema), ["study", "patient"])
    assert (first.inserted, rerun.changed, rerun.version) == (2, 0, first.version)
    assert spark.table("ops.test_null_keys").count() == 2


def test_a_killed_first_write_leaves_no_table_and_the_rerun_creates_it(spark, config) -> None:
    """A run killed after writing a new table's files and before its first commit: the rerun creates it."""
    from pyspark.sql.types import LongType, StructField, StructType

    spark.sql("CREATE DATABASE IF NOT EXISTS ops")
    location = f"{spark.catalog.getDatabase('ops').locationUri.rstrip('/')}/crashed_first_write"
    spark.range(3).write.parquet(location)  # files where the table goes, no _delta_log
    create_table(spark, "ops.crashed_first_write", StructType([StructField("id", LongType())]),
                 settings=config.tables)
    assert spark.table("ops.crashed_first_write").count() == 0
    assert table_version(spark, "ops.crashed_first_write") == 0
