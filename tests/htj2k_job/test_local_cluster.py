"""Work really crosses executor processes: pandas UDFs and HTJ2K encoding on local-cluster[2,1,1024]."""

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_submit

pytestmark = [pytest.mark.slow, pytest.mark.local_cluster]


def test_udfs_and_frames_run_in_two_executor_processes(tmp_path: Path) -> None:
    """One spark-submit on local-cluster (two executor JVMs, each with its Python workers): about 100 s,
    most of it the cluster's start and the executors' first Python workers, paid once for both checks."""
    result = run_submit("--master", "local-cluster[2,1,1024]",
                        "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
                        "tests/htj2k_job/cluster_transcode.py", home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["master"] == "local-cluster[2,1,1024]"
    assert report["frames"] == 21
    assert report["summary"]["tasks"] >= 2
    assert len(report["encoded_by"]) >= 2
    assert len({worker["pid"] for worker in report["workers"]}) >= 2
    assert {worker["python"] for worker in report["workers"]} == {str(ROOT / ".venv" / "bin" / "python")}
