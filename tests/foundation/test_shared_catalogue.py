"""One catalogue for a job, a notebook and the JDBC server at the same time (the local profile's
shared metastore), reached over JDBC by beeline and by a Python DB-API client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medlake.synthetic.__main__ import main as generate
from tests.conftest import ROOT, run_submit

pytestmark = pytest.mark.slow

_SEED_QUERY = ("SELECT name[0].family AS LastName, get_json_object(extension[2], '$.valueString') AS Maiden "
               "FROM fhir.patient ORDER BY LastName")
#: A notebook: builds the session the library's way, then evaluates one expression per line on stdin.
_NOTEBOOK = """
import sys, medlake
spark = medlake.session()
print("ready", flush=True)
for expression in sys.stdin:
    print(eval(expression), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert process.poll() is None, "the JDBC server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the JDBC server did not listen on {port} within {timeout} s")


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A home on the local profile with a JDBC server and a notebook holding its catalogue open."""
    home = tmp_path_factory.mktemp("shared-home")
    data = tmp_path_factory.mktemp("shared-data")
    assert generate(["--out", str(data), "--patients", "2", "--seed", "3"]) == 0
    patients = data / "fhir" / "Patient.ndjson"  # one file, one type: the ingest's fixed cost is the point
    env = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": "local"}
    port = _free_port()
    thrift = subprocess.Popen([str(ROOT / "spark-submit.sh"), "--thrift", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    notebook = subprocess.Popen([sys.executable, "-c", _NOTEBOOK], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert notebook.stdout is not None and notebook.stdout.readline().strip() == "ready"
        first_answer = _wait_for_port(port, thrift)
        ingest = run_submit("jobs/fhir_ingest.py", "--input", str(patients), home=home, profile="local")
        yield {"home": home, "port": port, "notebook": notebook, "ingest": ingest, "thrift_seconds": first_answer}
    finally:
        _stop(notebook)
        _stop(thrift)
        subprocess.run([str(ROOT / "spark-submit.sh"), "--metastore", "stop"], cwd=ROOT, env=env, check=False,
                       capture_output=True)


def _beeline(port: int, query: str) -> list[str]:
    import pyspark

    beeline = Path(pyspark.__file__).parent / "bin" / "beeline"  # PySpark's own, beside its spark-class
    done = subprocess.run([str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{port}", "-n", "medlake",
                           "--silent=true", "--outputformat=csv2", "-e", query],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if line]


def test_an_ingest_runs_while_a_notebook_and_the_jdbc_server_hold_the_catalogue(lake: dict[str, object]) -> None:
    ingest = lake["ingest"]
    assert isinstance(ingest, subprocess.CompletedProcess)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    assert "loaded=" in ingest.stdout


def test_all_three_see_each_others_tables(lake: dict[str, object]) -> None:
    port = lake["port"]
    assert isinstance(port, int)
    assert _beeline(port, "SELECT count(*) AS n FROM fhir.patient;") == ["n", "2"]
    seed = _beeline(port, _SEED_QUERY + ";")
    assert seed[0] == "LastName,Maiden" and len(seed) == 3 and all(row.split(",")[0] for row in seed[1:])
    from pyhive import hive

    cursor = hive.connect(host="127.0.0.1", port=port, username="medlake").cursor()
    cursor.execute("SELECT count(*) FROM fhir.patient")
    assert cursor.fetchall() == [(2,)]
    cursor.execute("CREATE TABLE ops.jdbc_probe (x INT) USING delta")
    notebook = lake["notebook"]
    assert isinstance(notebook, subprocess.Popen) and notebook.stdin and notebook.stdout
    notebook.stdin.write("spark.sql('SELECT count(*) FROM fhir.patient').first()[0]\n")
    notebook.stdin.write("spark.catalog.tableExists('ops.jdbc_probe')\n")
    notebook.stdin.flush()
    assert [notebook.stdout.readline().strip() for _ in range(2)] == ["2", "True"]


def test_a_crashed_holder_leaves_the_catalogue_open(lake: dict[str, object]) -> None:
    notebook = lake["notebook"]
    assert isinstance(notebook, subprocess.Popen)
    os.killpg(notebook.pid, signal.SIGKILL)
    notebook.wait(timeout=60)
    home = lake["home"]
    assert isinstance(home, Path)
    done = run_submit("jobs/sql.py", "SELECT count(*) AS n FROM fhir.patient", "--format", "json",
                      home=home, profile="local")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == '{"n":2}'
