"""Frames are really encoded in more than one executor process."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_submit

pytestmark = [pytest.mark.slow, pytest.mark.local_cluster]


def test_frames_are_encoded_in_two_executor_processes(tmp_path: Path) -> None:
    result = run_submit("--master", "local-cluster[2,1,1024]",
                        "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
                        "tests/htj2k_job/cluster_transcode.py", home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["master"] == "local-cluster[2,1,1024]"
    assert report["frames"] == 21
    assert report["summary"]["tasks"] >= 2
    assert len(report["encoded_by"]) >= 2
