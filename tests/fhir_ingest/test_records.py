"""Line numbering of NDJSON records, across split blocks and gzip files."""

from __future__ import annotations

import gzip
from pathlib import Path

from pyspark.sql import SparkSession

from medlake.fhir.records import RECORD_COLUMNS, scan_ndjson


def test_lines_are_numbered_across_blocks_and_gzip(spark: SparkSession, tmp_path: Path) -> None:
    lines = [f'{{"resourceType":"Basic","id":"b{i}"}}' if i % 7 else "" for i in range(1, 400)]
    text = "\n".join(lines) + "\n"
    (tmp_path / "plain.ndjson").write_text(text)
    with gzip.open(tmp_path / "packed.ndjson.gz", "wt") as handle:
        handle.write(text)
    files = spark.createDataFrame(
        [(p.resolve().as_uri().replace("file:///", "file:/"), p.stat().st_size)
         for p in sorted(tmp_path.iterdir())], "uri string, size long")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")  # several blocks per plain file
    try:
        scan = scan_ndjson(spark, files)
        rows = scan.records.collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert tuple(scan.records.columns) == RECORD_COLUMNS
    expected = {(n, line) for n, line in enumerate(lines, start=1) if line}
    for suffix in ("plain.ndjson", "packed.ndjson.gz"):
        got = {(r.position, r.raw_text) for r in rows if r.source_uri.endswith(suffix)}
        assert got == expected, suffix
    assert set(scan.blank_lines.values()) == {sum(not line for line in lines)}
    orders = [r.source_order for r in sorted(rows, key=lambda r: (r.source_uri, r.position))]
    assert orders == sorted(orders)
