"""The file manifest: files seen before are skipped, changed files are reprocessed."""

import hashlib
import os
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from medlake.listing import list_files
from medlake.manifest import FileOutcome, plan_files, record_files


def _plan(spark, config, directory: Path, max_bytes: int = 1 << 20):
    listing = list_files(spark, [str(directory)], r"\.ndjson$")
    return plan_files(spark, "test_manifest", listing, max_bytes=max_bytes, settings=config.tables)


def _record_loaded(spark, config, plan, run_id: str) -> None:
    record_files(spark, "test_manifest", run_id, plan.to_process_frame(spark).withColumn("outcome", F.lit("loaded")),
                 config.tables)


def test_seen_file_is_skipped_and_changed_file_reprocessed(spark, config, tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_text('{"a": 1}\n')
    (tmp_path / "b.ndjson").write_text('{"b": 1}\n')
    (tmp_path / "ignored.txt").write_text("not matched\n")

    first = _plan(spark, config, tmp_path)
    assert sorted(Path(r.uri).name for r in first.to_process) == ["a.ndjson", "b.ndjson"]
    _record_loaded(spark, config, first, "run1")

    second = _plan(spark, config, tmp_path)
    assert second.to_process == []
    assert sorted(r.outcome for r in second.skipped) == [FileOutcome.SKIPPED] * 2

    (tmp_path / "b.ndjson").write_text('{"b": 2}\n')  # same size, new content
    os.utime(tmp_path / "b.ndjson", (1_900_000_000, 1_900_000_000))
    os.utime(tmp_path / "a.ndjson", (1_900_000_000, 1_900_000_000))  # touched only
    third = _plan(spark, config, tmp_path)
    assert [Path(r.uri).name for r in third.to_process] == ["b.ndjson"]
    assert [Path(r.uri).name for r in third.skipped] == ["a.ndjson"]


def test_files_above_the_limit_are_not_read(spark, config, tmp_path: Path) -> None:
    (tmp_path / "big.ndjson").write_text("x" * 100)
    plan = _plan(spark, config, tmp_path, max_bytes=10)
    assert plan.to_process == []
    row = plan.too_large[0]
    assert (row.outcome, row.content_hash) == (FileOutcome.TOO_LARGE, None)


def test_files_of_0_bytes_are_listed_and_hashed(spark, config, tmp_path: Path) -> None:
    """Spark's file scans skip empty files; the manifest must still give them an outcome."""
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "empty 100%.ndjson").write_bytes(b"")
    (tmp_path / "a.ndjson").write_text('{"a": 1}\n')
    plan = _plan(spark, config, tmp_path)
    rows = {Path(r.uri.removeprefix("file:")).name: r for r in plan.to_process}
    assert sorted(rows) == ["a.ndjson", "empty 100%.ndjson"]
    empty = rows["empty 100%.ndjson"]
    assert (empty.size, empty.content_hash) == (0, hashlib.sha256(b"").hexdigest())
    assert empty.uri == rows["a.ndjson"].uri.replace("a.ndjson", "sub dir/empty 100%.ndjson")
    modified = (tmp_path / "sub dir" / "empty 100%.ndjson").stat().st_mtime
    assert empty.modification_time.timestamp() == pytest.approx(modified, abs=1)
