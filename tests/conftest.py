"""Helpers for tests that run jobs as whole processes; the session fixtures are in the root conftest.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The pytest-xdist group of the tests that run whole processes (``./spark-submit.sh``, ``demo.sh``, a
#: kernel): they mostly wait for their children, so ``./test.sh`` runs them on one worker while the
#: other runs the in-process tests (the ``session`` group) in its Spark session.
PROCESSES = "processes"


def run_submit(*args: str, home: Path, profile: str = "test", timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``./spark-submit.sh ARGS`` as a user would, with its own MEDLAKE_HOME."""
    env = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": profile}
    return subprocess.run([str(ROOT / "spark-submit.sh"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
