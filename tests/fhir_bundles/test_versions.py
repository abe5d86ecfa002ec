"""Version ordering: which of two versions of a resource is newer (the scenario runs in test_bundles_e2e)."""

from __future__ import annotations

from typing import Any

import pytest

from medlake.fhir.versions import version_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

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
