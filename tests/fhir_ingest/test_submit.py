"""jobs/fhir_ingest.py as a scheduler runs it: a run killed midway and its rerun, and a second ingest
started while one runs.

The clean run to compare with loads into the test session's lake, so this module runs after
``test_ingest.py``, whose rebuild test counts the Patient quarantine rows of that lake.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from medlake.fhir.ingest import run_fhir_ingest
from medlake.synthetic.__main__ import main as generate
from tests.conftest import ROOT, run_submit

#: Per table: the columns that identify its content (run ids and load times differ between runs).
_CONTENT = {"raw": ["_source_uri", "_position", "_position_kind", "content_hash"],
            "quarantine": ["source_uri", "position", "position_kind", "reason", "content_hash"]}
_TYPED_CONTENT = ["id", "_content_hash", "_source_uri", "_position"]
_STAGE_AFTER_RAW = "] raw:"


def _start_ingest(inputs: list[str], home: Path) -> tuple[subprocess.Popen[str], "queue.Queue[str]"]:
    env = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": "test"}
    process = subprocess.Popen([str(ROOT / "spark-submit.sh"), "jobs/fhir_ingest.py", *inputs],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def _wait_for(lines: "queue.Queue[str]", text: str, timeout: float = 600) -> None:
    while True:
        line = lines.get(timeout=timeout)  # queue.Empty fails the test if the stage never comes
        if text in line:
            return


def _tables(spark: Any, names: list[str], home: Path | None, data: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The fhir tables under ``home`` (read by path; ``None``: the test session's), their rows of ``data``."""
    tables = {}
    for name in names:
        columns = _CONTENT.get(name, _TYPED_CONTENT)
        table = (spark.read.format("delta").load(str(home / "warehouse" / "fhir.db" / name)) if home
                 else spark.table(f"fhir.{name}"))
        rows = table.select(*columns).where(F.col(columns[0 if name in _CONTENT else 2]).startswith(f"file:{data}/"))
        tables[name] = sorted(tuple(row) for row in rows.collect())
    return tables


@pytest.mark.slow
def test_killed_run_reruns_to_a_clean_runs_tables_and_a_second_ingest_fails_at_once(
        spark: Any, config: Any, tmp_path: Path) -> None:
    """Three ./spark-submit.sh processes, about 2 minutes: an ingest killed (``kill -9`` of its process
    group) once ``fhir.raw`` is written, a second ingest of that lake started meanwhile, and the rerun
    after the kill (its summary line and stage table), compared with a clean in-process run of the same
    files. A crash and a held metastore only exist across processes."""
    assert generate(["--out", str(tmp_path / "data"), "--patients", "1", "--seed", "3"]) == 0
    data = tmp_path / "data"  # its expected/*.json files are the generator's notes, not FHIR
    inputs = ["--input", str(data / "fhir"), "--input", str(data / "bad" / "fhir")]
    home = tmp_path / "home"
    killed, lines = _start_ingest(inputs, home)
    try:
        _wait_for(lines, _STAGE_AFTER_RAW)
        second = run_submit("jobs/fhir_ingest.py", *inputs, home=home)
        assert second.returncode == 1
        assert "another process (an open notebook or a running job) holds it" in second.stderr
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
    rerun = run_submit("jobs/fhir_ingest.py", *inputs, home=home)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    line = rerun.stdout.strip().splitlines()[-1]
    assert line.startswith("medlake fhir_ingest succeeded") and "quarantined=9" in line
    assert "stage " in rerun.stderr and "Patient write" in rerun.stderr
    reference = run_fhir_ingest(spark, config, [str(data / "fhir"), str(data / "bad" / "fhir")])
    assert line.split(": ", 1)[1] == reference.one_line().split(": ", 1)[1]
    written = sorted(d.name for d in (home / "warehouse" / "fhir.db").iterdir() if d.name != "tombstone")
    typed = {f"fhir.{name}" for name in written} - {"fhir.raw", "fhir.quarantine"}
    assert typed == {table for table in reference.table_versions if table not in ("fhir.raw", "fhir.quarantine")}
    after_crash, clean = _tables(spark, written, home, data), _tables(spark, written, None, data)
    assert clean["patient"] and after_crash == clean
