"""A job's no-op rerun against ``jobs/sql.py "SELECT 1"``, as whole ``./spark-submit.sh`` processes.

Shared by the ingest benchmarks (``from whole_processes import rerun_against_select_1``: the
benchmarks directory is the first entry of ``sys.path`` when one of them runs).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def submit_seconds(home: Path, *args: str) -> float:
    """Wall seconds of one ``./spark-submit.sh ARGS`` with ``MEDLAKE_HOME=home``; fails loudly."""
    started = time.perf_counter()
    done = subprocess.run([str(ROOT / "spark-submit.sh"), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MEDLAKE_HOME": str(home)}, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def rerun_against_select_1(home: Path, job: tuple[str, ...], pairs: int) -> tuple[float, float, float]:
    """Run ``job`` once, then ``pairs`` times its no-op rerun and ``SELECT 1`` in turn; stop the
    home's metastore server. Return the first run's seconds and the two medians."""
    first = submit_seconds(home, *job)
    rerun, select = [], []
    for _ in range(pairs):
        rerun.append(submit_seconds(home, *job))
        select.append(submit_seconds(home, "jobs/sql.py", "SELECT 1"))
    subprocess.run([str(ROOT / "spark-submit.sh"), "--metastore", "stop"], cwd=ROOT, capture_output=True,
                   env={**os.environ, "MEDLAKE_HOME": str(home)}, check=False)
    return first, statistics.median(rerun), statistics.median(select)
