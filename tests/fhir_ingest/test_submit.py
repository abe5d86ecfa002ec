"""jobs/fhir_ingest.py as a scheduler runs it: a run killed midway and its rerun, and a second ingest
started while one runs.
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

from medlake.synthetic.__main__ import main as generate
from tests.conftest import ROOT, run_submit

pytestmark = pytest.mark.slow

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


def _tables(spark: Any, home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every fhir table of the lake under ``home`` but the tombstones, read by path: its content, sorted."""
    tables = {}
    for directory in sorted((home / "warehouse" / "fhir.db").iterdir()):
        if directory.name != "tombstone":
            columns = _CONTENT.get(directory.name, _TYPED_CONTENT)
            rows = spark.read.format("delta").load(str(directory)).select(*columns).collect()
            tables[directory.name] = sorted(tuple(row) for row in rows)
    return tables


def test_killed_run_reruns_to_a_clean_runs_tables_and_a_second_ingest_fails_at_once(
        spark: Any, tmp_path: Path) -> None:
    """Four ./spark-submit.sh processes, about 3 minutes: an ingest killed (``kill -9`` of its process
    group) once ``fhir.raw`` is written, a second ingest of that lake started meanwhile, the rerun after
    the kill (its summary line and stage table), and a clean run into a lake of its own to compare with.
    A crash and a held metastore only exist across processes."""
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
    reference = run_submit("jobs/fhir_ingest.py", *inputs, home=tmp_path / "clean")
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert line.split(": ", 1)[1] == reference.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    after_crash, clean = _tables(spark, home), _tables(spark, tmp_path / "clean")
    assert set(after_crash) == set(clean) and clean["patient"]
    assert after_crash == clean
