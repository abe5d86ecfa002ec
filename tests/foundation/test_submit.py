"""./spark-submit.sh as users and schedulers call it, each run a separate process."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_submit

pytestmark = pytest.mark.slow


def test_catalog_persists_across_processes_and_runs_are_ledgered(tmp_path: Path) -> None:
    """Two ./spark-submit.sh processes on one MEDLAKE_HOME: about 30 s, each a JVM start."""
    created = run_submit("jobs/sql.py", "CREATE TABLE ops.persisted USING DELTA AS SELECT 1 AS x", home=tmp_path)
    assert created.returncode == 0, created.stderr
    query = ("SELECT (SELECT max(x) FROM ops.persisted) AS x, "
             "(SELECT count(*) FROM ops.runs WHERE job = 'sql' AND status = 'succeeded') AS runs")
    result = run_submit("jobs/sql.py", query, "--format", "json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"x": 1, "runs": 1}]
    assert "medlake sql succeeded" in result.stderr and "rows=1" in result.stderr
    assert not (Path.cwd() / "derby.log").exists() and (tmp_path / "metastore_db").is_dir()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    result = run_submit("jobs/sql.py", "SELECT 1", "--format", "xml", home=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'xml'" in result.stderr
    assert result.stdout == ""


def test_failing_statement_exits_1_with_the_reason_on_stderr(tmp_path: Path) -> None:
    result = run_submit("jobs/sql.py", "SELECT * FROM fhir.no_such_table", "--format", "json", home=tmp_path)
    assert result.returncode == 1
    assert "Unable to run the statement" in result.stderr and "TABLE_OR_VIEW_NOT_FOUND" in result.stderr
    assert result.stdout == ""


def test_locked_metastore_fails_at_once_with_a_clear_message(spark, config) -> None:
    spark.sql("SHOW DATABASES").collect()  # the test session holds the embedded metastore
    result = run_submit("jobs/sql.py", "SELECT 1", home=Path(config.home))
    assert result.returncode == 1
    assert "another process (an open notebook or a running job) holds it" in result.stderr
    assert "Traceback" not in result.stderr
