"""Helpers for tests that run jobs as whole processes; the session fixtures are in the root conftest.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The test modules that run whole processes (``./spark-submit.sh``, ``demo.sh``, a kernel). They mostly
#: wait for their children, so ``./test.sh`` runs them on one pytest worker while the other runs every
#: in-process test in its Spark session (the root conftest's scheduler; ``test_process_tests_are_listed``
#: keeps this list complete).
PROCESS_TESTS = (
    "tests/demo/",
    "tests/dicom_ingest/test_submit.py",
    "tests/fhir_ingest/test_submit.py",
    "tests/foundation/test_shared_catalogue.py",
    "tests/foundation/test_submit.py",
    "tests/htj2k_job/test_local_cluster.py",
    "tests/quality/test_submit.py",
)


def run_submit(*args: str, home: Path, profile: str = "test", timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``./spark-submit.sh ARGS`` as a user would, with its own MEDLAKE_HOME."""
    env = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": profile}
    return subprocess.run([str(ROOT / "spark-submit.sh"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
